//! API tests without a socket: `api::router(state)` driven with
//! `tower::ServiceExt::oneshot`, over a `State` built from a real SQLite
//! store and PKI in a temp dir. One module per resource; each checks a
//! happy path, 401 without a valid token, 403 where a role is needed, and
//! 400 for a bad query or body.

mod support;

mod agents;
mod attributes;
mod availability;
mod changes;
mod export;
mod filters;
mod health;
mod history;
mod hostile;
mod hosts;
mod identity;
mod incidents;
mod info;
mod integrations;
mod maintenance;
mod openapi;
mod outages;
mod outbox;
mod periods;
mod relationships;
mod revocation;
mod roles;
mod rollout;
mod services;
mod software;
mod tokens;
mod version;
