//! Integration targets: their configuration, circuit state and outbox
//! counts, and a test delivery (trigger then resolve) to one of them.

use axum::Json;
use axum::extract::{Path, State as AxumState};
use serde_json::{Value, json};

use super::Shared;
use super::auth::{Caller, Operator};
use super::schemas;
use crate::error::Result;
use crate::integrations::Outcome;

/// `GET /api/v1/integrations`.
#[utoipa::path(
    get,
    path = "/api/v1/integrations",
    operation_id = "list_integrations",
    tag = "integrations",
    security(("bearer" = ["viewer"])),
    responses(
        (status = 200, description = "Every target", body = schemas::IntegrationList),
    ),
)]
pub(super) async fn list(
    _caller: Caller,
    AxumState(state): AxumState<Shared>,
) -> Result<Json<Value>> {
    let counts = state.store.outbox_counts().await?;
    let items: Vec<Value> = state
        .integrations
        .status()
        .into_iter()
        .map(|target| {
            let mut by_state = serde_json::Map::new();
            for count in counts.iter().filter(|count| count.target == target.name) {
                by_state.insert(count.state.clone(), json!(count.count));
            }
            json!({
                "name": target.name,
                "kind": target.kind,
                "url": target.url,
                "enabled": target.enabled,
                "circuit": target.circuit.state,
                "consecutive_failures": target.circuit.consecutive_failures,
                "circuit_open_until": target.circuit.open_until_ms,
                "counts": by_state,
            })
        })
        .collect();
    Ok(Json(json!({ "items": items })))
}

/// `POST /api/v1/integrations/{name}/test` (operator): `ok` when both the
/// trigger and the resolve were delivered.
#[utoipa::path(
    post,
    path = "/api/v1/integrations/{name}/test",
    operation_id = "test_integration",
    tag = "integrations",
    security(("bearer" = ["operator"])),
    params(("name" = String, Path, description = "Target name")),
    responses(
        (status = 200, description = "What the target made of a trigger and a resolve", body = schemas::IntegrationTest),
    ),
)]
pub(super) async fn test(
    _operator: Operator,
    AxumState(state): AxumState<Shared>,
    Path(name): Path<String>,
) -> Result<Json<Value>> {
    let (trigger, resolve) = state.integrations.test(&name).await?;
    let ok = matches!(trigger, Outcome::Delivered { .. })
        && matches!(resolve, Some(Outcome::Delivered { .. }));
    Ok(Json(
        json!({ "target": name, "ok": ok, "trigger": trigger, "resolve": resolve }),
    ))
}
