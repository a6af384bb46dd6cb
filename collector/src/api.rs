//! The REST API under `/api/v1` (JSON, CSV where a list is returned, cursor
//! pagination, bearer tokens with roles), `/healthz` and `/metrics`.
//!
//! This file is the route table only. Beside it: `auth` (who is calling and
//! role checks), `extract` (query and JSON extractors that answer with our
//! error body), `list` (paging, cursors, CSV), `export` (a whole list as
//! CSV, streamed page by page), `metrics` (the Prometheus
//! text), and one file per resource holding its handlers.

use std::sync::Arc;

use axum::Router;
use axum::routing::{delete, get, post, put};

pub mod auth;
pub mod extract;
pub mod list;
pub mod metrics;
pub mod serve;

mod agents;
mod attributes;
mod audit;
pub mod availability;
mod changes;
mod export;
mod health;
pub mod host_query;
mod hosts;
mod identity;
mod incidents;
mod info;
mod integrations;
mod maintenance;
mod outages;
mod outbox;
mod relationships;
mod services;
mod software;
pub mod tokens;

pub use auth::Caller;

use crate::error::Error;
use crate::state::State;

/// The state every handler receives.
pub(crate) type Shared = Arc<State>;

/// The API's routes.
pub fn router(state: Shared) -> Router {
    export::stream_csv_lists(routes(state))
}

/// The routes, each answering one request (a list one page).
fn routes(state: Shared) -> Router {
    Router::new()
        .route("/healthz", get(info::healthz))
        .route("/metrics", get(metrics::serve))
        .route("/api/v1/info", get(info::info))
        .route("/api/v1/hosts", get(hosts::list))
        .route("/api/v1/hosts/{id}", get(hosts::show))
        .route("/api/v1/hosts/{id}/diff", get(hosts::diff))
        .route("/api/v1/hosts/{id}/changes", get(changes::of_host))
        .route("/api/v1/hosts/{id}/health", get(health::of_host))
        .route("/api/v1/hosts/{id}/identity-events", get(identity::of_host))
        .route("/api/v1/identity-events", get(identity::fleet))
        .route("/api/v1/hosts/{id}/tags", put(relationships::set_tags))
        .route(
            "/api/v1/hosts/{id}/attributes",
            get(attributes::show)
                .put(attributes::replace)
                .patch(attributes::change),
        )
        .route("/api/v1/changes", get(changes::fleet))
        .route("/api/v1/software", get(software::catalogue))
        .route("/api/v1/software/{name}/hosts", get(software::hosts))
        .route("/api/v1/software/{name}/rollout", get(software::rollout))
        .route(
            "/api/v1/enrollment-tokens",
            post(tokens::create_enrollment_token).get(tokens::list_enrollment_tokens),
        )
        .route(
            "/api/v1/enrollment-tokens/{id}/revoke",
            post(tokens::revoke_enrollment_token),
        )
        .route(
            "/api/v1/api-tokens",
            post(tokens::create_api_token).get(tokens::list_api_tokens),
        )
        .route(
            "/api/v1/api-tokens/{id}/revoke",
            post(tokens::revoke_api_token),
        )
        .route("/api/v1/audit", get(audit::list))
        .route("/api/v1/agents", get(agents::list))
        .route("/api/v1/agents/{id}", get(agents::show))
        .route("/api/v1/agents/{id}/revoke", post(agents::revoke))
        .route("/api/v1/outages", get(outages::list))
        .route("/api/v1/availability", get(availability::report))
        .route("/api/v1/incidents", get(incidents::list))
        .route("/api/v1/incidents/{id}", get(incidents::show))
        .route(
            "/api/v1/incidents/{id}/acknowledge",
            post(incidents::acknowledge),
        )
        .route("/api/v1/incidents/{id}/comments", post(incidents::comment))
        .route(
            "/api/v1/incidents/{id}/deliveries",
            get(outbox::incident_deliveries),
        )
        .route(
            "/api/v1/maintenance",
            get(maintenance::list).post(maintenance::create),
        )
        .route("/api/v1/maintenance/{id}", delete(maintenance::remove))
        .route(
            "/api/v1/services",
            get(services::list).post(services::create),
        )
        .route("/api/v1/services/{id}", delete(services::remove))
        .route("/api/v1/services/{id}/members", post(services::add_member))
        .route(
            "/api/v1/relationships",
            get(relationships::list)
                .post(relationships::create)
                .delete(relationships::remove),
        )
        .route("/api/v1/integrations", get(integrations::list))
        .route("/api/v1/integrations/{name}/test", post(integrations::test))
        .route("/api/v1/outbox", get(outbox::list))
        .route("/api/v1/outbox/{id}/retry", post(outbox::retry))
        .fallback(|| async { Error::NotFound("no such API route".into()) })
        .layer(axum::middleware::map_response(extract::json_errors))
        .layer(axum::middleware::map_request(list::accept_csv))
        .with_state(state)
}
