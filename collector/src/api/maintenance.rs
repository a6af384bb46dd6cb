//! Maintenance windows (host, tag or service scope; once, daily or weekly):
//! the list, creating and deleting (operator). A new window's times are
//! checked against `availability::bounds` before anything is written.

use axum::extract::{Path, State as AxumState};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};

use super::Shared;
use super::auth::{Caller, Operator};
use super::extract::Json;
use crate::auth;
use crate::availability::bounds;
use crate::error::{Error, Result};
use crate::store::MaintenanceWindow;

/// `GET /api/v1/maintenance`.
pub(super) async fn list(
    _caller: Caller,
    AxumState(state): AxumState<Shared>,
) -> Result<axum::Json<Value>> {
    Ok(axum::Json(
        json!({ "items": state.store.maintenance_windows().await? }),
    ))
}

/// Body of a new maintenance window.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MaintenanceRequest {
    /// `host`, `tag` or `service`.
    pub scope: String,
    /// The host id, tag or service id.
    pub target: String,
    /// Start (ms since the epoch), within 2000..2200.
    pub starts_at: i64,
    /// End (ms since the epoch), after the start: at most 366 days later,
    /// or one period for a recurring window.
    pub ends_at: i64,
    /// Empty (once), `daily` or `weekly`.
    #[serde(default)]
    pub recurrence: String,
    /// Why, for people reading the list.
    #[serde(default)]
    pub reason: String,
}

/// `POST /api/v1/maintenance`: 201 with the window; 400, with the store
/// unchanged, when a field is out of bounds.
pub(super) async fn create(
    _operator: Operator,
    AxumState(state): AxumState<Shared>,
    Json(request): Json<MaintenanceRequest>,
) -> Result<Response> {
    let window = new_window(request)?;
    state.store.create_maintenance(&window).await?;
    Ok((StatusCode::CREATED, axum::Json(json!(window))).into_response())
}

/// A new window from `request`, every field checked (the API and the
/// console both create windows through this).
pub(crate) fn new_window(request: MaintenanceRequest) -> Result<MaintenanceWindow> {
    if !["host", "tag", "service"].contains(&request.scope.as_str()) {
        return Err(Error::InvalidInput(
            "scope must be host, tag or service".into(),
        ));
    }
    if request.target.is_empty() || request.target.len() > 256 || request.reason.len() > 1024 {
        return Err(Error::InvalidInput(
            "target must be 1 to 256 bytes and reason at most 1024".into(),
        ));
    }
    let window = MaintenanceWindow {
        id: auth::new_id(),
        scope: request.scope,
        target: request.target,
        starts_at: request.starts_at,
        ends_at: request.ends_at,
        recurrence: request.recurrence,
        reason: request.reason,
        created_at: rollcall_proto::now_ms(),
    };
    bounds::check_maintenance(&window)?;
    Ok(window)
}

/// `DELETE /api/v1/maintenance/{id}`.
pub(super) async fn remove(
    _operator: Operator,
    AxumState(state): AxumState<Shared>,
    Path(id): Path<String>,
) -> Result<axum::Json<Value>> {
    if !state.store.delete_maintenance(&id).await? {
        return Err(Error::NotFound(format!("maintenance window {id}")));
    }
    Ok(axum::Json(json!({ "deleted": id })))
}
