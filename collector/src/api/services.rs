//! Business services (CIs whose members are hosts, up when `min_up` of
//! them are): the list with members, creating, deleting and adding a
//! member (operator).

use axum::extract::{Path, State as AxumState};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};

use super::Shared;
use super::auth::{Caller, Operator};
use super::extract::Json;
use super::openapi;
use super::schemas;
use crate::auth;
use crate::error::{Error, Result};
use crate::store::{BusinessService, MEMBER_OF, Relationship};

/// `GET /api/v1/services`: each service with its member host ids.
#[utoipa::path(
    get,
    path = "/api/v1/services",
    operation_id = "list_services",
    tag = "services",
    security(("bearer" = ["viewer"])),
    responses(
        (status = 200, description = "Every business service", body = schemas::ServiceList),
    ),
)]
pub(super) async fn list(
    _caller: Caller,
    AxumState(state): AxumState<Shared>,
) -> Result<axum::Json<Value>> {
    let services = state.store.services().await?;
    let relationships = state.store.relationships(None).await?;
    let items: Vec<Value> = services
        .iter()
        .map(|service| {
            let members: Vec<&String> = relationships
                .iter()
                .filter(|r| r.kind == MEMBER_OF && r.parent_id == service.id)
                .map(|r| &r.child_id)
                .collect();
            let mut value = json!(service);
            value["members"] = json!(members);
            value
        })
        .collect();
    Ok(axum::Json(json!({ "items": items })))
}

/// Body of a new business service.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ServiceRequest {
    /// 1 to 128 bytes.
    #[schema(min_length = 1, max_length = 128)]
    name: String,
    /// Members that must be up for the service to be up (at least 1).
    #[schema(minimum = 1)]
    min_up: i64,
    /// Availability objective in percent; default 99.9.
    #[schema(minimum = 0, maximum = 100)]
    sla_target: Option<f64>,
    /// Host ids, each a known host.
    #[serde(default)]
    members: Vec<String>,
}

/// `POST /api/v1/services`: 201 with the service.
#[utoipa::path(
    post,
    path = "/api/v1/services",
    operation_id = "create_service",
    tag = "services",
    security(("bearer" = ["operator"])),
    request_body = ServiceRequest,
    responses(
        (status = 201, description = "The service", body = BusinessService),
        (status = 409, description = "It exists already", body = openapi::ErrorBody),
    ),
)]
pub(super) async fn create(
    _operator: Operator,
    AxumState(state): AxumState<Shared>,
    Json(request): Json<ServiceRequest>,
) -> Result<Response> {
    if request.name.trim().is_empty() || request.name.len() > 128 {
        return Err(Error::InvalidInput("name must be 1 to 128 bytes".into()));
    }
    if request.min_up < 1 {
        return Err(Error::InvalidInput("min_up must be at least 1".into()));
    }
    let sla_target = request.sla_target.unwrap_or(99.9);
    if !(0.0..=100.0).contains(&sla_target) {
        return Err(Error::InvalidInput(
            "sla_target must be a percentage".into(),
        ));
    }
    for member in &request.members {
        state
            .store
            .host(member)
            .await?
            .ok_or_else(|| Error::InvalidInput(format!("member {member} is not a known host")))?;
    }
    let now = rollcall_proto::now_ms();
    let service = BusinessService {
        id: auth::new_id(),
        name: request.name,
        min_up: request.min_up,
        sla_target,
        created_at: now,
    };
    state.store.create_service(&service).await?;
    for member in request.members {
        state
            .store
            .add_relationship(&Relationship {
                parent_id: service.id.clone(),
                child_id: member,
                kind: MEMBER_OF.into(),
                created_at: now,
            })
            .await?;
    }
    Ok((StatusCode::CREATED, axum::Json(json!(service))).into_response())
}

/// `DELETE /api/v1/services/{id}`.
#[utoipa::path(
    delete,
    path = "/api/v1/services/{id}",
    operation_id = "delete_service",
    tag = "services",
    security(("bearer" = ["operator"])),
    params(("id" = String, Path, description = "Business service id")),
    responses(
        (status = 200, description = "Deleted", body = schemas::Deleted),
    ),
)]
pub(super) async fn remove(
    _operator: Operator,
    AxumState(state): AxumState<Shared>,
    Path(id): Path<String>,
) -> Result<axum::Json<Value>> {
    if !state.store.delete_service(&id).await? {
        return Err(Error::NotFound(format!("business service {id}")));
    }
    Ok(axum::Json(json!({ "deleted": id })))
}

/// Body adding a member.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MemberRequest {
    /// A known host.
    host_id: String,
}

/// `POST /api/v1/services/{id}/members`.
#[utoipa::path(
    post,
    path = "/api/v1/services/{id}/members",
    operation_id = "add_service_member",
    tag = "services",
    security(("bearer" = ["operator"])),
    params(("id" = String, Path, description = "Business service id")),
    request_body = MemberRequest,
    responses(
        (status = 200, description = "The membership", body = Relationship),
        (status = 409, description = "It exists already", body = openapi::ErrorBody),
    ),
)]
pub(super) async fn add_member(
    _operator: Operator,
    AxumState(state): AxumState<Shared>,
    Path(id): Path<String>,
    Json(request): Json<MemberRequest>,
) -> Result<axum::Json<Value>> {
    if !state
        .store
        .services()
        .await?
        .iter()
        .any(|service| service.id == id)
    {
        return Err(Error::NotFound(format!("business service {id}")));
    }
    state
        .store
        .host(&request.host_id)
        .await?
        .ok_or_else(|| Error::InvalidInput(format!("{} is not a known host", request.host_id)))?;
    let relationship = Relationship {
        parent_id: id,
        child_id: request.host_id,
        kind: MEMBER_OF.into(),
        created_at: rollcall_proto::now_ms(),
    };
    state.store.add_relationship(&relationship).await?;
    Ok(axum::Json(json!(relationship)))
}
