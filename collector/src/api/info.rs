//! `/healthz` (is the store reachable; no token) and `/api/v1/info`
//! (version, CA fingerprint, backend, open sessions).

use std::sync::atomic::Ordering;

use axum::Json;
use axum::extract::State as AxumState;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::Shared;
use super::auth::Caller;
use super::schemas;

/// `GET /healthz`: 200 `{"status":"ok"}`, or 503 when the store does not answer.
pub(super) async fn healthz(AxumState(state): AxumState<Shared>) -> Response {
    match state.store.api_token_count().await {
        Ok(_) => Json(json!({ "status": "ok" })).into_response(),
        Err(error) => {
            tracing::error!(error = %error, "health check: store unavailable");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                Json(json!({ "status": "store unavailable" })),
            )
                .into_response()
        }
    }
}

/// `GET /api/v1/info`.
#[utoipa::path(
    get,
    path = "/api/v1/info",
    operation_id = "info",
    tag = "meta",
    security(("bearer" = ["viewer"])),
    responses(
        (status = 200, description = "Version, CA fingerprint, backend and open sessions", body = schemas::Info),
    ),
)]
pub(super) async fn info(_caller: Caller, AxumState(state): AxumState<Shared>) -> Json<Value> {
    Json(json!({
        "version": env!("CARGO_PKG_VERSION"),
        "ca_fingerprint": state.pki.ca_fingerprint,
        "backend": state.store.backend(),
        "open_sessions": state.open_sessions.load(Ordering::Relaxed),
    }))
}
