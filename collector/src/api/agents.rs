//! Agents: one agent's record, and revoking it (admin; its certificate is
//! refused from then on and it cannot renew).

use axum::Json;
use axum::extract::{Path, State as AxumState};
use serde_json::{Value, json};

use super::Shared;
use super::auth::{Admin, Caller};
use crate::error::{Error, Result};

/// `GET /api/v1/agents/{id}`.
pub(super) async fn show(
    _caller: Caller,
    AxumState(state): AxumState<Shared>,
    Path(id): Path<String>,
) -> Result<Json<Value>> {
    let agent = state
        .store
        .agent(&id)
        .await?
        .ok_or_else(|| Error::NotFound(format!("agent {id}")))?;
    Ok(Json(json!(agent)))
}

/// `POST /api/v1/agents/{id}/revoke`.
pub(super) async fn revoke(
    _admin: Admin,
    AxumState(state): AxumState<Shared>,
    Path(id): Path<String>,
) -> Result<Json<Value>> {
    if !state
        .store
        .revoke_agent(&id, rollcall_proto::now_ms())
        .await?
    {
        return Err(Error::NotFound(format!("agent {id} (or already revoked)")));
    }
    Ok(Json(json!({ "revoked": id })))
}
