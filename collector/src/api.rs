//! The REST API under `/api/v1` (JSON, CSV where a list is returned, cursor
//! pagination, bearer tokens with roles), `/healthz` and `/metrics`.
//!
//! This file is the route table only, built with `utoipa-axum` from the
//! handlers' `#[utoipa::path]` annotations, so the OpenAPI document
//! (`openapi`, served at `/api/v1/openapi.json`) is the route set. Beside
//! it: `auth` (who is calling and role checks), `extract` (query and JSON
//! extractors that answer with our error body), `list` (paging, cursors,
//! CSV), `export` (a whole list as CSV, streamed page by page), `metrics`
//! (the Prometheus text), `schemas` (the shapes of answers assembled with
//! `json!`), and one file per resource holding its handlers.

use std::sync::Arc;

use axum::Router;
use axum::routing::get;
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub mod auth;
pub mod extract;
pub mod list;
pub mod metrics;
pub mod openapi;
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
mod schemas;
mod services;
mod software;
pub mod tokens;

pub use auth::Caller;

use crate::error::Error;
use crate::state::State;

/// The state every handler receives.
pub(crate) type Shared = Arc<State>;

/// The `/api/v1` routes, each from its handler's `#[utoipa::path]`: the
/// route table and the OpenAPI document are built from the same list, so
/// they cannot drift. Handlers of one path share a `routes!`.
pub(crate) fn routes() -> OpenApiRouter<Shared> {
    OpenApiRouter::with_openapi(openapi::ApiDoc::openapi())
        .routes(routes!(openapi::serve))
        .routes(routes!(info::info))
        .routes(routes!(hosts::list))
        .routes(routes!(hosts::show))
        .routes(routes!(hosts::diff))
        .routes(routes!(changes::of_host))
        .routes(routes!(health::of_host))
        .routes(routes!(identity::of_host))
        .routes(routes!(identity::fleet))
        .routes(routes!(relationships::set_tags))
        .routes(routes!(
            attributes::show,
            attributes::replace,
            attributes::change
        ))
        .routes(routes!(changes::fleet))
        .routes(routes!(software::catalogue))
        .routes(routes!(software::hosts))
        .routes(routes!(software::rollout))
        .routes(routes!(
            tokens::create_enrollment_token,
            tokens::list_enrollment_tokens
        ))
        .routes(routes!(tokens::revoke_enrollment_token))
        .routes(routes!(tokens::create_api_token, tokens::list_api_tokens))
        .routes(routes!(tokens::revoke_api_token))
        .routes(routes!(audit::list))
        .routes(routes!(agents::list))
        .routes(routes!(agents::show))
        .routes(routes!(agents::revoke))
        .routes(routes!(outages::list))
        .routes(routes!(availability::report))
        .routes(routes!(incidents::list))
        .routes(routes!(incidents::show))
        .routes(routes!(incidents::acknowledge))
        .routes(routes!(incidents::comment))
        .routes(routes!(outbox::incident_deliveries))
        .routes(routes!(maintenance::list, maintenance::create))
        .routes(routes!(maintenance::remove))
        .routes(routes!(services::list, services::create))
        .routes(routes!(services::remove))
        .routes(routes!(services::add_member))
        .routes(routes!(
            relationships::list,
            relationships::create,
            relationships::remove
        ))
        .routes(routes!(integrations::list))
        .routes(routes!(integrations::test))
        .routes(routes!(outbox::list))
        .routes(routes!(outbox::retry))
}

/// The API's routes: [`routes`], plus `/healthz` and `/metrics`, which are
/// not `/api/v1` (no token, not JSON resources) and so not in the document
/// (the only routes added here by hand, checked by a test); a whole CSV
/// list is streamed (`export`).
pub fn router(state: Shared) -> Router {
    export::stream_csv_lists(single_pages(state))
}

/// The routes, each answering one request (a list one page). `Accept:
/// text/csv` is read by the layer around them (`export`), which every
/// request passes first.
fn single_pages(state: Shared) -> Router {
    let (api, _document) = routes().split_for_parts();
    api.route("/healthz", get(info::healthz))
        .route("/metrics", get(metrics::serve))
        .fallback(|| async { Error::NotFound("no such API route".into()) })
        .layer(axum::middleware::map_response(extract::json_errors))
        .with_state(state)
}

/// The OpenAPI document of `/api/v1` (what `GET /api/v1/openapi.json` serves).
pub fn openapi_document() -> &'static utoipa::openapi::OpenApi {
    openapi::document()
}
