//! `GET /api/v1/hosts/{id}/health`: a host's health samples, or with
//! `step=` a series of min/avg/max buckets.
//!
//! - Without `step`: the raw samples taken in `since..until` (optional,
//!   each within the bounds of `availability::bounds`), newest first, at
//!   most `limit` (default 100, at most 1000), each with its full sample.
//!   Raw samples are kept `health.raw_retention_s` (default 48 h).
//! - With `step` (seconds, 60 to 2,678,400 = 31 days): points of `step`
//!   over `since..until` (default: the 24 h before `until`, `until`
//!   default now; the window within `availability::bounds`, at most
//!   `MAX_POINTS` points). Every tier holding data in the window is read
//!   (raw samples, 5-minute buckets, hourly buckets; a sample lives in
//!   exactly one of them at any time) and merged into points aligned to
//!   multiples of the step since the epoch. When the window reaches data
//!   held only at a coarser resolution than `step`, the step is raised to
//!   a multiple of that resolution (5 minutes or 1 hour) so that no stored
//!   bucket is split; the answer says which `step` it used and what it
//!   read.

use axum::Json;
use axum::extract::{Path, State as AxumState};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Map, Value, json};

use super::Shared;
use super::auth::Caller;
use super::extract::Query;
use super::list::{list_response, page_limit, wants_csv};
use super::schemas;
use crate::availability::bounds::{
    DAY_MS, MAX_TIME_MS, MIN_TIME_MS, check_time, check_times, check_window,
};
use crate::cmdb::rollup::{Bucket, METRICS, decode_sample};
use crate::cmdb::series;
use crate::error::{Error, Result};

/// Shortest step (s).
pub const MIN_STEP_S: i64 = 60;
/// Longest step (s): 31 days.
pub const MAX_STEP_S: i64 = 31 * 86_400;
/// Most points one series answers (400 days of hourly points fit).
pub const MAX_POINTS: i64 = 10_000;
/// Most raw samples one series reads: 69 days at the default 60 s, more
/// than the longest raw retention keeps at that interval.
pub const MAX_RAW_SAMPLES: i64 = 100_000;

/// The query of `/hosts/{id}/health`.
#[derive(Debug, Deserialize, Default, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(super) struct HealthQuery {
    #[param(minimum = 946684800000.0, maximum = 7258118400000.0)]
    since: Option<i64>,
    #[param(minimum = 946684800000.0, maximum = 7258118400000.0)]
    until: Option<i64>,
    #[param(minimum = 60, maximum = 2678400)]
    step: Option<i64>,
    #[param(minimum = 1, maximum = 1000)]
    limit: Option<i64>,
    #[param(inline, value_type = Option<super::schemas::Format>)]
    format: Option<String>,
}

/// `GET /api/v1/hosts/{id}/health`. An unknown host is a 404 even when the
/// query is bad too, so the query is checked after the host.
#[utoipa::path(
    get,
    path = "/api/v1/hosts/{id}/health",
    operation_id = "host_health",
    tag = "hosts",
    security(("bearer" = ["viewer"])),
    params(("id" = String, Path, description = "Host id"), HealthQuery),
    responses(
        (status = 200, description = "Raw samples, or with `step` a series (CSV: the rows or the points)", content((schemas::HealthAnswer = "application/json"), (String = "text/csv"))),
    ),
)]
pub(super) async fn of_host(
    _caller: Caller,
    AxumState(state): AxumState<Shared>,
    Path(id): Path<String>,
    params: Result<Query<HealthQuery>>,
) -> Result<Response> {
    super::extract::known_host(&state, &id).await?;
    let Query(params) = params?;
    let csv = wants_csv(params.format.as_deref())?;
    match params.step {
        None => samples(&state, &id, &params, csv).await,
        Some(step) => series(&state, &id, &params, step, csv).await,
    }
}

/// A stored sample as the API shows it (the report's JSON).
pub(super) fn sample_json(data: &[u8]) -> Value {
    decode_sample(data)
        .and_then(|report| serde_json::to_value(report).ok())
        .unwrap_or(Value::Null)
}

async fn samples(state: &Shared, id: &str, params: &HealthQuery, csv: bool) -> Result<Response> {
    let limit = page_limit(params.limit, 100, 1000)?;
    let (since, until) = check_times(params.since, params.until)?;
    let (since, until) = (since.unwrap_or(MIN_TIME_MS), until.unwrap_or(MAX_TIME_MS));
    let rows: Vec<Value> = state
        .store
        .health_raw(id, since, until, limit)
        .await?
        .into_iter()
        .map(|sample| json!({ "sampled_at": sample.sampled_at, "sample": sample_json(&sample.data) }))
        .collect();
    Ok(list_response(rows, None, csv))
}

/// The checked window and step (ms) of a series.
fn series_window(params: &HealthQuery, step_s: i64) -> Result<(i64, i64, i64)> {
    if !(MIN_STEP_S..=MAX_STEP_S).contains(&step_s) {
        return Err(Error::InvalidInput(format!(
            "step must be between {MIN_STEP_S} and {MAX_STEP_S} seconds, got {step_s}"
        )));
    }
    let until = match params.until {
        Some(until) => check_time("until", until)?,
        None => rollcall_proto::now_ms().clamp(MIN_TIME_MS, MAX_TIME_MS),
    };
    let since = match params.since {
        Some(since) => since,
        None => until.saturating_sub(DAY_MS),
    };
    let (since, until) = check_window(since, until)?;
    let step_ms = step_s * 1000;
    let points = (until - since + step_ms - 1) / step_ms;
    if points > MAX_POINTS {
        return Err(Error::InvalidInput(format!(
            "since..until at step {step_s} s is {points} points: at most {MAX_POINTS}; use a longer step or a shorter window"
        )));
    }
    Ok((since, until, step_ms))
}

async fn series(
    state: &Shared,
    id: &str,
    params: &HealthQuery,
    step_s: i64,
    csv: bool,
) -> Result<Response> {
    let (since, until, step_ms) = series_window(params, step_s)?;
    let (step_ms, points, read) = series::points(
        state.store.as_ref(),
        id,
        since,
        until,
        step_ms,
        MAX_RAW_SAMPLES,
    )
    .await?;
    let items: Vec<Value> = points
        .iter()
        .map(|(start, bucket)| point_json(*start, bucket))
        .collect();
    if csv {
        return Ok(list_response(items, None, true));
    }
    Ok(Json(json!({
        "host_id": id,
        "since": since,
        "until": until,
        "step": step_ms / 1000,
        "requested_step": step_s,
        "metrics": METRICS,
        "read": read,
        "items": items,
    }))
    .into_response())
}

/// One point, flat (`cpu_percent_min`, `cpu_percent_avg`, …) so the same
/// rows serve JSON and CSV.
fn point_json(start: i64, bucket: &Bucket) -> Value {
    let mut point = Map::new();
    point.insert("start".into(), json!(start));
    point.insert("count".into(), json!(bucket.count));
    for (name, stat) in METRICS.iter().zip(bucket.stats.iter()) {
        point.insert(format!("{name}_min"), json!(stat.min));
        point.insert(format!("{name}_avg"), json!(stat.avg));
        point.insert(format!("{name}_max"), json!(stat.max));
    }
    Value::Object(point)
}
