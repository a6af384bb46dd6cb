//! A host's custom attributes (owner, cost centre, location, …): read
//! (viewer), replaced with PUT or changed with PATCH (operator), bounded in
//! count and size, each change recorded in the host's history.

use std::collections::BTreeMap;

use axum::extract::{Path, State as AxumState};
use serde::Deserialize;
use serde_json::{Value, json};

use super::Shared;
use super::auth::{Caller, Operator};
use super::extract::{Json, known_host};
use super::host_query::attribute_name;
use super::schemas;
use crate::error::{Error, Result};
use crate::store::MAX_HOST_ATTRIBUTES;

/// Longest attribute value (bytes).
pub const MAX_ATTRIBUTE_VALUE_BYTES: usize = 256;

/// Body of `PUT /hosts/{id}/attributes`: the complete set.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReplaceAttributes {
    /// Name → value.
    attributes: BTreeMap<String, String>,
}

/// Body of `PATCH /hosts/{id}/attributes`: a value sets, `null` removes.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChangeAttributes {
    /// Name → value or `null`.
    attributes: BTreeMap<String, Option<String>>,
}

/// Checks names and values; the change set as the store takes it.
fn checked(changes: BTreeMap<String, Option<String>>) -> Result<BTreeMap<String, Option<String>>> {
    if changes.len() > MAX_HOST_ATTRIBUTES {
        return Err(Error::InvalidInput(format!(
            "at most {MAX_HOST_ATTRIBUTES} attributes, got {}",
            changes.len()
        )));
    }
    for (name, value) in &changes {
        attribute_name(name)?;
        if let Some(value) = value
            && (value.is_empty()
                || value.len() > MAX_ATTRIBUTE_VALUE_BYTES
                || value.chars().any(char::is_control))
        {
            return Err(Error::InvalidInput(format!(
                "attribute {name}: the value must be 1 to {MAX_ATTRIBUTE_VALUE_BYTES} bytes without control characters (PATCH null removes it)"
            )));
        }
    }
    Ok(changes)
}

async fn apply(
    state: &Shared,
    caller: &Caller,
    id: &str,
    changes: BTreeMap<String, Option<String>>,
    replace: bool,
) -> Result<axum::Json<Value>> {
    let changes = checked(changes)?;
    let source = format!("api:{}", caller.token_name);
    let attributes = state
        .store
        .update_host_attributes(id, &changes, replace, rollcall_proto::now_ms(), &source)
        .await?
        .ok_or_else(|| Error::NotFound(format!("host {id}")))?;
    Ok(axum::Json(
        json!({ "host_id": id, "attributes": attributes }),
    ))
}

/// `GET /api/v1/hosts/{id}/attributes`.
#[utoipa::path(
    get,
    path = "/api/v1/hosts/{id}/attributes",
    operation_id = "host_attributes",
    tag = "hosts",
    security(("bearer" = ["viewer"])),
    params(("id" = String, Path, description = "Host id")),
    responses(
        (status = 200, description = "The host's custom attributes", body = schemas::HostAttributes),
    ),
)]
pub(super) async fn show(
    _caller: Caller,
    AxumState(state): AxumState<Shared>,
    Path(id): Path<String>,
) -> Result<axum::Json<Value>> {
    known_host(&state, &id).await?;
    let attributes = state.store.host_attributes(&id).await?;
    Ok(axum::Json(
        json!({ "host_id": id, "attributes": attributes }),
    ))
}

/// `PUT /api/v1/hosts/{id}/attributes`: the host's attributes become
/// exactly these.
#[utoipa::path(
    put,
    path = "/api/v1/hosts/{id}/attributes",
    operation_id = "replace_host_attributes",
    tag = "hosts",
    security(("bearer" = ["operator"])),
    params(("id" = String, Path, description = "Host id")),
    request_body = ReplaceAttributes,
    responses(
        (status = 200, description = "The host's custom attributes now", body = schemas::HostAttributes),
    ),
)]
pub(super) async fn replace(
    Operator(caller): Operator,
    AxumState(state): AxumState<Shared>,
    Path(id): Path<String>,
    Json(request): Json<ReplaceAttributes>,
) -> Result<axum::Json<Value>> {
    let changes = request
        .attributes
        .into_iter()
        .map(|(name, value)| (name, Some(value)))
        .collect();
    apply(&state, &caller, &id, changes, true).await
}

/// `PATCH /api/v1/hosts/{id}/attributes`: sets the given values, removes
/// those given as `null`, keeps the rest.
#[utoipa::path(
    patch,
    path = "/api/v1/hosts/{id}/attributes",
    operation_id = "change_host_attributes",
    tag = "hosts",
    security(("bearer" = ["operator"])),
    params(("id" = String, Path, description = "Host id")),
    request_body = ChangeAttributes,
    responses(
        (status = 200, description = "The host's custom attributes now", body = schemas::HostAttributes),
    ),
)]
pub(super) async fn change(
    Operator(caller): Operator,
    AxumState(state): AxumState<Shared>,
    Path(id): Path<String>,
    Json(request): Json<ChangeAttributes>,
) -> Result<axum::Json<Value>> {
    apply(&state, &caller, &id, request.attributes, false).await
}
