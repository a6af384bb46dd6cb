//! The audit log (admin): who revoked which agent or token, and when,
//! newest first, paged by entry id.

use axum::extract::State as AxumState;
use axum::response::Response;
use serde::Deserialize;
use serde_json::json;

use super::Shared;
use super::auth::Admin;
use super::extract::Query;
use super::list::{list_response, next_cursor, page_limit};
use super::schemas;
use crate::error::Result;

/// Query parameters of `GET /api/v1/audit`.
#[derive(Debug, Deserialize, Default, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct AuditQuery {
    /// Page size, default 100, at most 1000.
    #[param(minimum = 1, maximum = 1000)]
    limit: Option<i64>,
    /// Entries older than this id (the previous page's `next_cursor`).
    cursor: Option<i64>,
}

/// `GET /api/v1/audit`.
#[utoipa::path(
    get,
    path = "/api/v1/audit",
    operation_id = "audit_log",
    tag = "tokens",
    security(("bearer" = ["admin"])),
    params(AuditQuery),
    responses(
        (status = 200, description = "A page of the audit log", body = schemas::AuditPage),
    ),
)]
pub(super) async fn list(
    _admin: Admin,
    AxumState(state): AxumState<Shared>,
    Query(params): Query<AuditQuery>,
) -> Result<Response> {
    let limit = page_limit(params.limit, 100, 1000)?;
    let entries = state.store.audit_log(params.cursor, limit).await?;
    let next = next_cursor(&entries, limit, |entry| entry.id.to_string());
    Ok(list_response(
        entries.iter().map(|entry| json!(entry)).collect(),
        next,
        false,
    ))
}
