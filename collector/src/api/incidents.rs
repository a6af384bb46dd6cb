//! Incidents: the list, one incident with its details, comments and
//! children, acknowledging (operator) and commenting (operator).

use axum::extract::{Path, State as AxumState};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};

use super::Shared;
use super::auth::{Caller, Operator};
use super::extract::{Json, Query};
use super::list::{Filters, list_response, to_values};
use super::openapi;
use super::schemas;
use crate::auth;
use crate::error::{Error, Result};
use crate::store::{Comment, IncidentFilter};

/// `GET /api/v1/incidents`: by state, CI (`ci_id` or `host_id`) and rule prefix.
#[utoipa::path(
    get,
    path = "/api/v1/incidents",
    operation_id = "list_incidents",
    tag = "incidents",
    security(("bearer" = ["viewer"])),
    params(Filters),
    responses(
        (status = 200, description = "Incidents", content((schemas::IncidentPage = "application/json"), (String = "text/csv"))),
    ),
)]
pub(super) async fn list(
    _caller: Caller,
    AxumState(state): AxumState<Shared>,
    Query(params): Query<Filters>,
) -> Result<Response> {
    params.refuse_period()?;
    let filter = IncidentFilter {
        state: params.state.clone(),
        ci_id: params.ci_id.clone().or(params.host_id.clone()),
        rule_prefix: params.rule.clone(),
        parent_id: None,
        limit: params.limit()?,
    };
    let incidents = state.store.incidents(&filter).await?;
    Ok(list_response(to_values(&incidents)?, None, params.csv()?))
}

/// `GET /api/v1/incidents/{id}`.
#[utoipa::path(
    get,
    path = "/api/v1/incidents/{id}",
    operation_id = "show_incident",
    tag = "incidents",
    security(("bearer" = ["viewer"])),
    params(("id" = String, Path, description = "Incident id")),
    responses(
        (status = 200, description = "The incident", body = schemas::IncidentDetail),
    ),
)]
pub(super) async fn show(
    _caller: Caller,
    AxumState(state): AxumState<Shared>,
    Path(id): Path<String>,
) -> Result<axum::Json<Value>> {
    let incident = state
        .store
        .incident(&id)
        .await?
        .ok_or_else(|| Error::NotFound(format!("incident {id}")))?;
    let comments = state.store.comments(&id).await?;
    let children = state
        .store
        .incidents(&IncidentFilter {
            parent_id: Some(id.clone()),
            limit: 10_000,
            ..Default::default()
        })
        .await?;
    let details: Value = serde_json::from_str(&incident.details).unwrap_or(Value::Null);
    Ok(axum::Json(
        json!({ "incident": incident, "details": details, "comments": comments, "children": children }),
    ))
}

/// `POST /api/v1/incidents/{id}/acknowledge`: only an open incident.
#[utoipa::path(
    post,
    path = "/api/v1/incidents/{id}/acknowledge",
    operation_id = "acknowledge_incident",
    tag = "incidents",
    security(("bearer" = ["operator"])),
    params(("id" = String, Path, description = "Incident id")),
    responses(
        (status = 200, description = "Acknowledged", body = schemas::Acknowledged),
        (status = 409, description = "The incident is not open", body = openapi::ErrorBody),
    ),
)]
pub(super) async fn acknowledge(
    Operator(caller): Operator,
    AxumState(state): AxumState<Shared>,
    Path(id): Path<String>,
) -> Result<axum::Json<Value>> {
    let incident = state
        .store
        .incident(&id)
        .await?
        .ok_or_else(|| Error::NotFound(format!("incident {id}")))?;
    if !state
        .engine
        .acknowledge(&id, &caller.token_name, rollcall_proto::now_ms())
        .await?
    {
        return Err(Error::Conflict(format!(
            "incident {id} is {}, not open",
            incident.state
        )));
    }
    Ok(axum::Json(json!({ "acknowledged": id })))
}

/// Body of a comment.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CommentRequest {
    /// The text, 1 to 16384 bytes.
    #[schema(min_length = 1, max_length = 16384)]
    body: String,
}

/// `POST /api/v1/incidents/{id}/comments`: 201 with the comment, authored
/// by the token's name.
#[utoipa::path(
    post,
    path = "/api/v1/incidents/{id}/comments",
    operation_id = "comment_incident",
    tag = "incidents",
    security(("bearer" = ["operator"])),
    params(("id" = String, Path, description = "Incident id")),
    request_body = CommentRequest,
    responses(
        (status = 201, description = "The comment", body = Comment),
    ),
)]
pub(super) async fn comment(
    Operator(caller): Operator,
    AxumState(state): AxumState<Shared>,
    Path(id): Path<String>,
    Json(request): Json<CommentRequest>,
) -> Result<Response> {
    if request.body.trim().is_empty() || request.body.len() > 16_384 {
        return Err(Error::InvalidInput(
            "comment body must be 1 to 16384 bytes".into(),
        ));
    }
    state
        .store
        .incident(&id)
        .await?
        .ok_or_else(|| Error::NotFound(format!("incident {id}")))?;
    let comment = Comment {
        id: auth::new_id(),
        incident_id: id,
        author: caller.token_name.clone(),
        body: request.body,
        at: rollcall_proto::now_ms(),
    };
    state.store.add_comment(&comment).await?;
    Ok((StatusCode::CREATED, axum::Json(json!(comment))).into_response())
}
