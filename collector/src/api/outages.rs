//! Outages: the recorded down (and away) spans of hosts, with durations;
//! `since` and `until` within the bounds of `availability::bounds`.

use axum::extract::State as AxumState;
use axum::response::Response;
use serde_json::{Value, json};

use super::Shared;
use super::auth::Caller;
use super::extract::Query;
use super::list::{Filters, list_response};
use super::schemas;
use crate::availability::bounds::check_times;
use crate::error::Result;
use crate::store::OutageFilter;

/// `GET /api/v1/outages`: by host, time and kind; `duration_ms` is null
/// while an outage lasts.
#[utoipa::path(
    get,
    path = "/api/v1/outages",
    operation_id = "list_outages",
    tag = "availability",
    security(("bearer" = ["viewer"])),
    params(Filters),
    responses(
        (status = 200, description = "Outages", content((schemas::OutagePage = "application/json"), (String = "text/csv"))),
    ),
)]
pub(super) async fn list(
    _caller: Caller,
    AxumState(state): AxumState<Shared>,
    Query(params): Query<Filters>,
) -> Result<Response> {
    params.refuse_period()?;
    let (since, until) = check_times(params.since, params.until)?;
    let filter = OutageFilter {
        host_id: params.host_id.clone(),
        since,
        until,
        kind: params.kind.clone(),
        limit: params.limit()?,
    };
    let outages = state.store.outages(&filter).await?;
    let rows: Vec<Value> = outages
        .iter()
        .map(|outage| {
            let mut value = json!(outage);
            value["duration_ms"] = json!(
                outage
                    .ended_at
                    .and_then(|end| end.checked_sub(outage.began_at))
            );
            value
        })
        .collect();
    Ok(list_response(rows, None, params.csv()?))
}
