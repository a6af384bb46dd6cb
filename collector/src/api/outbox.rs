//! The delivery outbox: entries by state, target or incident; retrying a
//! dead letter (operator); and one incident's deliveries per target with
//! the external reference each target gave it.

use std::collections::BTreeMap;

use axum::Json;
use axum::extract::{Path, State as AxumState};
use axum::response::Response;
use serde::Deserialize;
use serde_json::{Value, json};

use super::Shared;
use super::auth::{Caller, Operator};
use super::extract::Query;
use super::list::{list_response, next_cursor, page_limit};
use super::openapi;
use super::schemas;
use crate::error::{Error, Result};
use crate::store::outbox::{OutboxEntry, OutboxFilter};

/// Query parameters of `GET /api/v1/outbox`.
#[derive(Debug, Deserialize, Default, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct OutboxQuery {
    /// `pending`, `delivered` or `dead`.
    #[param(inline, value_type = Option<super::schemas::OutboxState>)]
    state: Option<String>,
    /// Target name.
    target: Option<String>,
    /// Incident id.
    incident: Option<String>,
    /// Page size, default 100, at most 1000.
    #[param(minimum = 1, maximum = 1000)]
    limit: Option<i64>,
    /// Entries after this id.
    cursor: Option<i64>,
}

fn outbox_row(entry: &OutboxEntry) -> Value {
    json!({
        "id": entry.id,
        "event_id": entry.event_id,
        "incident_id": entry.incident_id,
        "target": entry.target,
        "transition": entry.transition,
        "dedup_key": entry.dedup_key,
        "state": entry.state,
        "attempts": entry.attempts,
        "next_attempt_at": entry.next_attempt_at,
        "last_error": entry.last_error,
        "created_at": entry.created_at,
        "delivered_at": entry.delivered_at,
    })
}

/// `GET /api/v1/outbox`.
#[utoipa::path(
    get,
    path = "/api/v1/outbox",
    operation_id = "list_outbox",
    tag = "integrations",
    security(("bearer" = ["viewer"])),
    params(OutboxQuery),
    responses(
        (status = 200, description = "Outbox entries", body = schemas::OutboxPage),
    ),
)]
pub(super) async fn list(
    _caller: Caller,
    AxumState(state): AxumState<Shared>,
    Query(params): Query<OutboxQuery>,
) -> Result<Response> {
    if let Some(wanted) = &params.state
        && !["pending", "delivered", "dead"].contains(&wanted.as_str())
    {
        return Err(Error::InvalidInput(format!(
            "state must be pending, delivered or dead, got {wanted:?}"
        )));
    }
    let limit = page_limit(params.limit, 100, 1000)?;
    let entries = state
        .store
        .outbox_entries(&OutboxFilter {
            state: params.state,
            incident_id: params.incident,
            target: params.target,
            after_id: params.cursor,
            limit,
        })
        .await?;
    let next = next_cursor(&entries, limit, |entry| entry.id.to_string());
    Ok(list_response(
        entries.iter().map(outbox_row).collect(),
        next,
        false,
    ))
}

/// `POST /api/v1/outbox/{id}/retry`: a dead entry is queued again and its
/// target woken; any other state is a conflict.
#[utoipa::path(
    post,
    path = "/api/v1/outbox/{id}/retry",
    operation_id = "retry_outbox_entry",
    tag = "integrations",
    security(("bearer" = ["operator"])),
    params(("id" = i64, Path, description = "Outbox entry id")),
    responses(
        (status = 200, description = "Queued again", body = schemas::Retried),
        (status = 409, description = "The entry is not dead", body = openapi::ErrorBody),
    ),
)]
pub(super) async fn retry(
    Operator(caller): Operator,
    AxumState(state): AxumState<Shared>,
    Path(id): Path<String>,
) -> Result<Json<Value>> {
    let id: i64 = id
        .parse()
        .map_err(|_| Error::InvalidInput(format!("outbox id {id:?} is not a number")))?;
    let entry = state
        .store
        .outbox_entry(id)
        .await?
        .ok_or_else(|| Error::NotFound(format!("outbox entry {id}")))?;
    if !state.store.retry_dead(id, rollcall_proto::now_ms()).await? {
        return Err(Error::Conflict(format!(
            "outbox entry {id} is {}, only dead entries can be retried",
            entry.state
        )));
    }
    if let Some(target) = state.integrations.target(&entry.target) {
        target.wake.notify_one();
    }
    tracing::info!(outbox_id = id, target_name = %entry.target, token = %caller.token_id, "dead letter queued again");
    Ok(Json(json!({ "retried": id, "target": entry.target })))
}

/// `GET /api/v1/incidents/{id}/deliveries`: per target, the latest state,
/// last error, external reference and every delivery.
#[utoipa::path(
    get,
    path = "/api/v1/incidents/{id}/deliveries",
    operation_id = "incident_deliveries",
    tag = "incidents",
    security(("bearer" = ["viewer"])),
    params(("id" = String, Path, description = "Incident id")),
    responses(
        (status = 200, description = "Per target, its deliveries", body = schemas::IncidentDeliveries),
    ),
)]
pub(super) async fn incident_deliveries(
    _caller: Caller,
    AxumState(state): AxumState<Shared>,
    Path(id): Path<String>,
) -> Result<Json<Value>> {
    let entries = state
        .store
        .outbox_entries(&OutboxFilter {
            incident_id: Some(id.clone()),
            limit: 1000,
            ..Default::default()
        })
        .await?;
    let refs = state.store.external_refs(&id).await?;
    let mut targets: BTreeMap<String, Value> = BTreeMap::new();
    for entry in &entries {
        let slot = targets.entry(entry.target.clone()).or_insert_with(
            || json!({ "target": entry.target, "external_ref": Value::Null, "deliveries": [] }),
        );
        slot["state"] = json!(entry.state);
        slot["last_error"] = json!(entry.last_error);
        if let Some(list) = slot["deliveries"].as_array_mut() {
            list.push(outbox_row(entry));
        }
    }
    for external in refs {
        let slot = targets
            .entry(external.target.clone())
            .or_insert_with(|| json!({ "target": external.target, "deliveries": [] }));
        slot["external_ref"] = json!(external.external_ref);
    }
    Ok(Json(
        json!({ "incident_id": id, "targets": targets.into_values().collect::<Vec<_>>() }),
    ))
}
