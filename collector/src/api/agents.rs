//! Agents: one agent's record, and revoking it (admin; audited; its live
//! sessions end within a second, its certificate is refused from then on and
//! it cannot renew).

use axum::Json;
use axum::extract::{Path, State as AxumState};
use serde_json::{Value, json};

use super::Shared;
use super::auth::{Admin, Caller};
use crate::error::{Error, Result};
use crate::store::{Revocable, Revocation};

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

/// `POST /api/v1/agents/{id}/revoke`: stored (and audited) first, then the
/// agent's open sessions are told, so a session that opens in between finds
/// the revocation in the store.
pub(super) async fn revoke(
    Admin(caller): Admin,
    AxumState(state): AxumState<Shared>,
    Path(id): Path<String>,
) -> Result<Json<Value>> {
    let revocation = Revocation {
        what: Revocable::Agent,
        id: id.clone(),
        by: caller.token_id,
        at: rollcall_proto::now_ms(),
    };
    if !state.store.revoke(&revocation).await? {
        return Err(Error::NotFound(format!("agent {id} (or already revoked)")));
    }
    let sessions = state.revocations.revoke(&id);
    tracing::warn!(agent_id = %id, sessions, "agent revoked");
    Ok(Json(json!({ "revoked": id, "sessions_ended": sessions })))
}
