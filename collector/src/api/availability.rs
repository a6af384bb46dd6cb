//! Availability reports: per host and per business service over a window
//! (`window=30d`, or `since`/`until` within the bounds of
//! `availability::bounds`) or a calendar period in a time zone
//! (`period=2026-11&tz=Europe/Berlin`, `availability::period`): unplanned
//! downtime with maintenance excluded, degraded time apart, MTBF and MTRS,
//! and each service's SLA, error budget and burn rate.

use axum::Json;
use axum::extract::State as AxumState;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::Shared;
use super::auth::Caller;
use super::extract::Query;
use super::list::{Filters, list_response, to_values};
use super::openapi;
use super::schemas;
use crate::availability::bounds::{self, DAY_MS, MAX_WINDOW_MS};
use crate::availability::fleet::{Scope, fleet_report};
use crate::availability::period::{self, PeriodReport};
use crate::availability::report::Span;
use crate::error::{Error, Result};

/// Parses `30d`, `12h`, `90m`, `3600s` or plain seconds into milliseconds,
/// at most [`MAX_WINDOW_MS`].
pub fn parse_window(text: &str) -> Result<i64> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let value: i64 = number
        .parse()
        .map_err(|_| Error::InvalidInput(format!("window {text:?} is not like 30d, 12h or 90m")))?;
    let unit_ms = match unit {
        "" | "s" => 1_000,
        "m" => 60_000,
        "h" => 3_600_000,
        "d" => DAY_MS,
        "w" => bounds::WEEK_MS,
        _ => {
            return Err(Error::InvalidInput(format!(
                "window {text:?}: unit must be s, m, h, d or w"
            )));
        }
    };
    if value <= 0 || value > MAX_WINDOW_MS / unit_ms {
        return Err(Error::InvalidInput(format!(
            "window {text:?} must be positive and at most {} days",
            MAX_WINDOW_MS / DAY_MS
        )));
    }
    Ok(value * unit_ms)
}

/// The window (from, to) of an availability query: both ends within
/// 2000..2200, at most [`MAX_WINDOW_MS`] long (a 400 naming the limit
/// otherwise), so the report's work is bounded whatever the caller asks.
/// A calendar period (`period=2026-11`, `tz=Europe/Berlin`) also says what
/// it resolved to and whether it is still running.
fn window_of(params: &Filters, now: i64) -> Result<(Span, Option<PeriodReport>)> {
    const EITHER: &str = "give one of window=30d, since (and until), or period=2026-11 \
                          (a month), 2026-Q4 (a quarter) or 2026 (a year) with an optional tz";
    if params.tz.is_some() && params.period.is_none() {
        return Err(Error::InvalidInput(
            "tz applies to period only: give period=2026-11 (or 2026-Q4, 2026) with tz".into(),
        ));
    }
    match (params.since, params.until, &params.window, &params.period) {
        (None, None, None, Some(period)) => {
            let period = period::resolve(period, params.tz.as_deref())?;
            let (window, report) = period.as_of(now)?;
            Ok((bounds::check_window(window.0, window.1)?, Some(report)))
        }
        (Some(since), until, None, None) => {
            Ok((bounds::check_window(since, until.unwrap_or(now))?, None))
        }
        (None, None, window, None) => {
            let length = parse_window(window.as_deref().unwrap_or("30d"))?;
            Ok((bounds::check_window(now.saturating_sub(length), now)?, None))
        }
        _ => Err(Error::InvalidInput(EITHER.into())),
    }
}

/// `GET /api/v1/availability`: JSON `{from, to, period, hosts, services}`
/// (`period` null for a duration window), or the host rows as CSV.
#[utoipa::path(
    get,
    path = "/api/v1/availability",
    operation_id = "availability_report",
    tag = "availability",
    security(("bearer" = ["viewer"])),
    params(Filters),
    responses(
        (status = 200, description = "The report (CSV: the host rows)", content((schemas::AvailabilityReport = "application/json"), (String = "text/csv"))),
        (status = 404, description = "`host_id` or `service_id` names no host or service", body = openapi::ErrorBody),
    ),
)]
pub(super) async fn report(
    _caller: Caller,
    AxumState(state): AxumState<Shared>,
    Query(params): Query<Filters>,
) -> Result<Response> {
    let now = rollcall_proto::now_ms();
    let (window, period) = window_of(&params, now)?;
    let csv = params.csv()?;
    let scope = Scope {
        host_id: params.host_id.as_deref(),
        service_id: params.service_id.as_deref(),
    };
    let fleet = fleet_report(state.store.as_ref(), window, scope).await?;
    let host_rows = to_values(&fleet.hosts)?;
    let service_rows = to_values(&fleet.services)?;
    if csv {
        let rows: Vec<Value> = host_rows
            .iter()
            .map(|row| {
                json!({
                    "host_id": row["host_id"], "hostname": row["hostname"],
                    "availability_percent": row["availability"]["availability_percent"],
                    "unplanned_downtime_ms": row["availability"]["unplanned_downtime_ms"],
                    "failures": row["availability"]["failures"],
                    "mtbf_ms": row["availability"]["mtbf_ms"], "mtrs_ms": row["availability"]["mtrs_ms"],
                })
            })
            .collect();
        return Ok(list_response(rows, None, true));
    }
    Ok(Json(json!({
        "from": window.0, "to": window.1, "period": period,
        "hosts": host_rows, "services": service_rows,
    }))
    .into_response())
}

#[cfg(test)]
mod tests {
    use super::parse_window;

    #[test]
    fn windows_parse() {
        assert_eq!(parse_window("30d").ok(), Some(30 * 86_400_000));
        assert_eq!(parse_window("90m").ok(), Some(90 * 60_000));
        assert_eq!(parse_window("3600").ok(), Some(3_600_000));
        assert!(parse_window("0d").is_err());
        assert!(parse_window("5y").is_err());
        assert!(parse_window("99999999999d").is_err());
    }
}
