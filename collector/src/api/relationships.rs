//! Relationships between CIs (`Depends on::Used by` and the other ITIL
//! kinds): the list, creating and removing (operator); and a host's tags
//! (operator), which maintenance windows and routing select by.

use axum::extract::{Path, State as AxumState};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};

use super::Shared;
use super::auth::{Caller, Operator};
use super::extract::{Json, Query};
use super::list::Filters;
use super::openapi;
use super::schemas;
use crate::error::{Error, Result};
use crate::store::{RELATIONSHIP_KINDS, Relationship};

/// `GET /api/v1/relationships`: all, or those of one CI (`ci_id`).
#[utoipa::path(
    get,
    path = "/api/v1/relationships",
    operation_id = "list_relationships",
    tag = "relationships",
    security(("bearer" = ["viewer"])),
    params(Filters),
    responses(
        (status = 200, description = "The relationships (of one CI with `ci_id`)", body = schemas::RelationshipList),
    ),
)]
pub(super) async fn list(
    _caller: Caller,
    AxumState(state): AxumState<Shared>,
    Query(params): Query<Filters>,
) -> Result<axum::Json<Value>> {
    params.refuse_period()?;
    Ok(axum::Json(
        json!({ "items": state.store.relationships(params.ci_id.as_deref()).await? }),
    ))
}

/// Body of a relationship.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RelationshipRequest {
    /// The parent CI (host or business service).
    parent_id: String,
    /// The child CI (host or business service).
    child_id: String,
    /// One of the relationship kinds.
    #[schema(value_type = super::schemas::RelationshipKind)]
    kind: String,
}

/// `POST /api/v1/relationships`: 201 with the relationship.
#[utoipa::path(
    post,
    path = "/api/v1/relationships",
    operation_id = "create_relationship",
    tag = "relationships",
    security(("bearer" = ["operator"])),
    request_body = RelationshipRequest,
    responses(
        (status = 201, description = "The relationship", body = Relationship),
        (status = 409, description = "It exists already", body = openapi::ErrorBody),
    ),
)]
pub(super) async fn create(
    _operator: Operator,
    AxumState(state): AxumState<Shared>,
    Json(request): Json<RelationshipRequest>,
) -> Result<Response> {
    if !RELATIONSHIP_KINDS.contains(&request.kind.as_str()) {
        return Err(Error::InvalidInput(format!(
            "kind must be one of {}",
            RELATIONSHIP_KINDS.join(", ")
        )));
    }
    if request.parent_id == request.child_id {
        return Err(Error::InvalidInput("a CI cannot relate to itself".into()));
    }
    for id in [&request.parent_id, &request.child_id] {
        let known = state.store.host(id).await?.is_some()
            || state
                .store
                .services()
                .await?
                .iter()
                .any(|service| service.id == *id);
        if !known {
            return Err(Error::InvalidInput(format!(
                "{id} is not a known host or business service"
            )));
        }
    }
    let relationship = Relationship {
        parent_id: request.parent_id,
        child_id: request.child_id,
        kind: request.kind,
        created_at: rollcall_proto::now_ms(),
    };
    state.store.add_relationship(&relationship).await?;
    Ok((StatusCode::CREATED, axum::Json(json!(relationship))).into_response())
}

/// `DELETE /api/v1/relationships` with the relationship as the body.
#[utoipa::path(
    delete,
    path = "/api/v1/relationships",
    operation_id = "remove_relationship",
    tag = "relationships",
    security(("bearer" = ["operator"])),
    request_body = RelationshipRequest,
    responses(
        (status = 200, description = "Removed", body = schemas::Removed),
        (status = 404, description = "No such relationship", body = openapi::ErrorBody),
    ),
)]
pub(super) async fn remove(
    _operator: Operator,
    AxumState(state): AxumState<Shared>,
    Json(request): Json<RelationshipRequest>,
) -> Result<axum::Json<Value>> {
    if !state
        .store
        .remove_relationship(&request.parent_id, &request.child_id, &request.kind)
        .await?
    {
        return Err(Error::NotFound("no such relationship".into()));
    }
    Ok(axum::Json(json!({ "removed": true })))
}

/// Body of a tag update.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TagsRequest {
    /// The host's tags (replacing the old ones): up to 64, 1 to 64 bytes, no commas.
    #[schema(max_items = 64)]
    tags: Vec<String>,
}

/// `PUT /api/v1/hosts/{id}/tags`.
#[utoipa::path(
    put,
    path = "/api/v1/hosts/{id}/tags",
    operation_id = "set_host_tags",
    tag = "hosts",
    security(("bearer" = ["operator"])),
    params(("id" = String, Path, description = "Host id")),
    request_body = TagsRequest,
    responses(
        (status = 200, description = "The host's tags now", body = schemas::HostTags),
    ),
)]
pub(super) async fn set_tags(
    Operator(caller): Operator,
    AxumState(state): AxumState<Shared>,
    Path(id): Path<String>,
    Json(request): Json<TagsRequest>,
) -> Result<axum::Json<Value>> {
    if request.tags.len() > 64
        || request
            .tags
            .iter()
            .any(|tag| tag.is_empty() || tag.len() > 64 || tag.contains(','))
    {
        return Err(Error::InvalidInput(
            "up to 64 tags of 1 to 64 bytes, without commas".into(),
        ));
    }
    if !state
        .store
        .set_host_tags(
            &id,
            &request.tags.join(","),
            rollcall_proto::now_ms(),
            &format!("api:{}", caller.token_name),
        )
        .await?
    {
        return Err(Error::NotFound(format!("host {id}")));
    }
    Ok(axum::Json(json!({ "host_id": id, "tags": request.tags })))
}
