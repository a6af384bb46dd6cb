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
use crate::auth;
use crate::error::{Error, Result};
use crate::store::{Comment, IncidentFilter};

/// `GET /api/v1/incidents`: by state, CI (`ci_id` or `host_id`) and rule prefix.
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
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CommentRequest {
    /// The text, 1 to 16384 bytes.
    body: String,
}

/// `POST /api/v1/incidents/{id}/comments`: 201 with the comment, authored
/// by the token's name.
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
