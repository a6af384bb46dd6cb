//! The software catalogue: package names with host counts, or one
//! package's versions with host counts (`software=NAME` or `name=NAME`).

use axum::extract::State as AxumState;
use axum::response::Response;
use serde_json::{Value, json};

use super::Shared;
use super::auth::Caller;
use super::extract::Query;
use super::list::{ListQuery, list_response};
use crate::cmdb::software;
use crate::error::Result;

/// `GET /api/v1/software`.
pub(super) async fn catalogue(
    _caller: Caller,
    AxumState(state): AxumState<Shared>,
    Query(params): Query<ListQuery>,
) -> Result<Response> {
    let name = params.software.as_deref().or(params.name.as_deref());
    let entries = software::catalogue(state.store.as_ref(), name).await?;
    let rows: Vec<Value> = entries
        .into_iter()
        .map(|entry| match (entry.version, entry.manager) {
            (Some(version), Some(manager)) => json!({
                "name": entry.name, "version": version, "manager": manager, "hosts": entry.hosts,
            }),
            _ => json!({ "name": entry.name, "hosts": entry.hosts }),
        })
        .collect();
    Ok(list_response(rows, None, params.csv()?))
}
