//! The change history: one host's (`/hosts/{id}/changes`) or the whole
//! fleet's (`/changes`), oldest first (`order=desc`: newest first), paged
//! by change id; `since` and `until` within the bounds of
//! `availability::bounds`; by CI (`class`, `key`), attribute (`field`) and
//! kind of record (`change`).

use axum::extract::{Path, State as AxumState};
use axum::response::Response;

use super::Shared;
use super::auth::Caller;
use super::extract::Query;
use super::host_query::MAX_VALUE_BYTES;
use super::list::{ListQuery, list_response, next_cursor, to_values};
use super::schemas;
use crate::availability::bounds::check_times;
use crate::error::{Error, Result};
use crate::state::State;
use crate::store::ChangeFilter;

async fn changes(state: &State, host_id: Option<String>, params: ListQuery) -> Result<Response> {
    let limit = params.limit()?;
    let (since, until) = check_times(params.since, params.until)?;
    let newest_first = match params.order.as_deref() {
        None | Some("asc") => false,
        Some("desc") => true,
        Some(other) => {
            return Err(Error::InvalidInput(format!(
                "order must be asc or desc, got {other:?}"
            )));
        }
    };
    if let Some(change) = params.change.as_deref()
        && !["discovered", "added", "removed", "changed"].contains(&change)
    {
        return Err(Error::InvalidInput(format!(
            "change must be discovered, added, removed or changed, got {change:?}"
        )));
    }
    for (name, value) in [
        ("class", &params.class),
        ("key", &params.key),
        ("field", &params.field),
    ] {
        if value
            .as_ref()
            .is_some_and(|value| value.len() > MAX_VALUE_BYTES)
        {
            return Err(Error::InvalidInput(format!(
                "{name} is longer than {MAX_VALUE_BYTES} bytes"
            )));
        }
    }
    let filter = ChangeFilter {
        host_id,
        since,
        until,
        class: params.class.clone(),
        item_key: params.key.clone(),
        field: params.field.clone(),
        change: params.change.clone(),
        after_id: params.numeric_cursor()?,
        newest_first,
        limit,
    };
    let rows = state.store.changes(&filter).await?;
    let next = next_cursor(&rows, limit, |row| row.id.to_string());
    Ok(list_response(to_values(&rows)?, next, params.csv()?))
}

/// `GET /api/v1/hosts/{id}/changes`. An unknown host is a 404 even when
/// the query is bad too, so the query is checked after the host.
#[utoipa::path(
    get,
    path = "/api/v1/hosts/{id}/changes",
    operation_id = "host_changes",
    tag = "changes",
    security(("bearer" = ["viewer"])),
    params(("id" = String, Path, description = "Host id"), ListQuery),
    responses(
        (status = 200, description = "A page of the host's history", content((schemas::ChangePage = "application/json"), (String = "text/csv"))),
    ),
)]
pub(super) async fn of_host(
    _caller: Caller,
    AxumState(state): AxumState<Shared>,
    Path(id): Path<String>,
    params: Result<Query<ListQuery>>,
) -> Result<Response> {
    super::extract::known_host(&state, &id).await?;
    let Query(params) = params?;
    changes(&state, Some(id), params).await
}

/// `GET /api/v1/changes`: the fleet-wide change feed.
#[utoipa::path(
    get,
    path = "/api/v1/changes",
    operation_id = "fleet_changes",
    tag = "changes",
    security(("bearer" = ["viewer"])),
    params(ListQuery),
    responses(
        (status = 200, description = "A page of the fleet's history", content((schemas::ChangePage = "application/json"), (String = "text/csv"))),
    ),
)]
pub(super) async fn fleet(
    _caller: Caller,
    AxumState(state): AxumState<Shared>,
    Query(params): Query<ListQuery>,
) -> Result<Response> {
    changes(&state, None, params).await
}
