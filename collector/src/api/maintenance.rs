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
use super::schemas;
use crate::availability::maintenance;
use crate::error::{Error, Result};

/// `GET /api/v1/maintenance`.
#[utoipa::path(
    get,
    path = "/api/v1/maintenance",
    operation_id = "list_maintenance",
    tag = "maintenance",
    security(("bearer" = ["viewer"])),
    responses(
        (status = 200, description = "Every maintenance window", body = schemas::MaintenanceList),
    ),
)]
pub(super) async fn list(
    _caller: Caller,
    AxumState(state): AxumState<Shared>,
) -> Result<axum::Json<Value>> {
    Ok(axum::Json(
        json!({ "items": state.store.maintenance_windows().await? }),
    ))
}

/// Body of a new maintenance window.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MaintenanceRequest {
    /// `host`, `tag` or `service`.
    #[schema(value_type = super::schemas::WindowScope)]
    scope: String,
    /// The host id, tag or service id.
    target: String,
    /// Start (ms since the epoch), within 2000..2200.
    #[schema(minimum = 946684800000.0, maximum = 7258118400000.0)]
    starts_at: i64,
    /// End (ms since the epoch), after the start: at most 366 days later,
    /// or one period for a recurring window.
    #[schema(minimum = 946684800000.0, maximum = 7258118400000.0)]
    ends_at: i64,
    /// Empty (once), `daily` or `weekly`.
    #[serde(default)]
    #[schema(value_type = super::schemas::Recurrence)]
    recurrence: String,
    /// Why, for people reading the list.
    #[serde(default)]
    reason: String,
}

/// `POST /api/v1/maintenance`: 201 with the window; 400, with the store
/// unchanged, when a field is out of bounds.
#[utoipa::path(
    post,
    path = "/api/v1/maintenance",
    operation_id = "create_maintenance",
    tag = "maintenance",
    security(("bearer" = ["operator"])),
    request_body = MaintenanceRequest,
    responses(
        (status = 201, description = "The window", body = crate::store::MaintenanceWindow),
    ),
)]
pub(super) async fn create(
    _operator: Operator,
    AxumState(state): AxumState<Shared>,
    Json(request): Json<MaintenanceRequest>,
) -> Result<Response> {
    let window = maintenance::new_window(
        request.scope,
        request.target,
        (request.starts_at, request.ends_at),
        request.recurrence,
        request.reason,
    )?;
    state.store.create_maintenance(&window).await?;
    Ok((StatusCode::CREATED, axum::Json(json!(window))).into_response())
}

/// `DELETE /api/v1/maintenance/{id}`.
#[utoipa::path(
    delete,
    path = "/api/v1/maintenance/{id}",
    operation_id = "delete_maintenance",
    tag = "maintenance",
    security(("bearer" = ["operator"])),
    params(("id" = String, Path, description = "Maintenance window id")),
    responses(
        (status = 200, description = "Deleted", body = schemas::Deleted),
    ),
)]
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
