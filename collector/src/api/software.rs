//! The software catalogue: package names with host counts, or one
//! package's versions with host counts (`software=NAME` or `name=NAME`),
//! optionally only the versions satisfying a version condition; and the
//! hosts running a package (`/software/{name}/hosts`, every host filter).

use axum::extract::{Path, State as AxumState};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};

use super::Shared;
use super::auth::Caller;
use super::extract::Query;
use super::host_query::{comparison, version_bound};
use super::list::{list_response, wants_csv};
use super::schemas;
use crate::cmdb::rollout;
use crate::cmdb::software::{self, Comparison, VersionCondition};
use crate::error::{Error, Result};

/// Query parameters of `GET /api/v1/software`.
#[derive(Debug, Deserialize, Default, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct SoftwareQuery {
    #[param(min_length = 1, max_length = 256)]
    name: Option<String>,
    #[param(min_length = 1, max_length = 256)]
    software: Option<String>,
    version: Option<String>,
    #[param(inline, value_type = Option<super::schemas::VersionOp>)]
    op: Option<String>,
    version_lt: Option<String>,
    version_le: Option<String>,
    version_eq: Option<String>,
    version_ge: Option<String>,
    version_gt: Option<String>,
    #[param(inline, value_type = Option<super::schemas::Format>)]
    format: Option<String>,
}

impl SoftwareQuery {
    /// The version conditions given, each checked.
    fn conditions(&self) -> Result<Vec<VersionCondition>> {
        let mut out = Vec::new();
        for (comparison, bound) in [
            (Comparison::Lt, &self.version_lt),
            (Comparison::Le, &self.version_le),
            (Comparison::Eq, &self.version_eq),
            (Comparison::Ge, &self.version_ge),
            (Comparison::Gt, &self.version_gt),
        ] {
            if let Some(bound) = bound {
                out.push(VersionCondition {
                    comparison,
                    bound: version_bound(bound)?,
                });
            }
        }
        match (&self.version, &self.op) {
            (Some(bound), op) => out.push(VersionCondition {
                comparison: op
                    .as_deref()
                    .map(comparison)
                    .transpose()?
                    .unwrap_or(Comparison::Eq),
                bound: version_bound(bound)?,
            }),
            (None, Some(_)) => return Err(Error::InvalidInput("op needs version=".into())),
            (None, None) => {}
        }
        Ok(out)
    }
}

/// `GET /api/v1/software`.
#[utoipa::path(
    get,
    path = "/api/v1/software",
    operation_id = "software_catalogue",
    tag = "software",
    security(("bearer" = ["viewer"])),
    params(SoftwareQuery),
    responses(
        (status = 200, description = "Packages with host counts, or one package's versions", content((schemas::SoftwarePage = "application/json"), (String = "text/csv"))),
    ),
)]
pub(super) async fn catalogue(
    _caller: Caller,
    AxumState(state): AxumState<Shared>,
    Query(params): Query<SoftwareQuery>,
) -> Result<Response> {
    let csv = wants_csv(params.format.as_deref())?;
    let conditions = params.conditions()?;
    let name = params.software.as_deref().or(params.name.as_deref());
    if let Some(name) = name
        && (name.is_empty() || name.len() > super::host_query::MAX_VALUE_BYTES)
    {
        return Err(Error::InvalidInput(
            "the package name must be 1 to 256 bytes".into(),
        ));
    }
    if name.is_none() && !conditions.is_empty() {
        return Err(Error::InvalidInput(
            "version (and version_lt/le/eq/ge/gt) need software=NAME".into(),
        ));
    }
    let entries = software::catalogue(state.store.as_ref(), name).await?;
    let rows: Vec<Value> = entries
        .into_iter()
        .filter_map(|entry| match (entry.version, entry.manager) {
            (Some(version), Some(manager)) => software::satisfies(&manager, &version, &conditions)
                .then(|| json!({
                    "name": entry.name, "version": version, "manager": manager, "hosts": entry.hosts,
                })),
            _ => Some(json!({ "name": entry.name, "hosts": entry.hosts })),
        })
        .collect();
    Ok(list_response(rows, None, csv))
}

/// `GET /api/v1/software/{name}/hosts`: the host list of the hosts running
/// package `name` (with `version`/`op` at a matching version), taking every
/// host list parameter but `software`.
#[utoipa::path(
    get,
    path = "/api/v1/software/{name}/hosts",
    operation_id = "software_hosts",
    tag = "software",
    security(("bearer" = ["viewer"])),
    params(("name" = String, Path, description = "Package name"), schemas::HostListParams),
    responses(
        (status = 200, description = "A page of the hosts running the package", content((schemas::HostPage = "application/json"), (String = "text/csv"))),
    ),
)]
pub(super) async fn hosts(
    _caller: Caller,
    AxumState(state): AxumState<Shared>,
    Path(name): Path<String>,
    Query(mut pairs): Query<Vec<(String, String)>>,
) -> Result<Response> {
    if pairs.iter().any(|(key, _)| key == "software") {
        return Err(Error::InvalidInput(
            "software is given by the path here".into(),
        ));
    }
    pairs.push(("software".into(), name));
    super::hosts::host_page(&state, &pairs).await
}

/// Query parameters of `GET /api/v1/software/{name}/rollout`.
#[derive(Debug, Deserialize, Default, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct RolloutQuery {
    version_ge: Option<String>,
    #[param(inline, value_type = Option<super::schemas::Manager>)]
    manager: Option<String>,
    since: Option<String>,
    until: Option<String>,
    step: Option<String>,
    #[param(minimum = 1, maximum = 3660)]
    within_days: Option<i64>,
    #[param(minimum = 1, maximum = 10000)]
    limit: Option<i64>,
    #[param(inline, value_type = Option<super::schemas::Format>)]
    format: Option<String>,
}

/// Default window of a rollout: the 30 days before `until`.
const ROLLOUT_WINDOW_MS: i64 = 30 * 86_400_000;

/// A step: seconds, or a number with `s`, `m`, `h` or `d` (`1d`, `6h`).
pub fn step_ms(text: &str) -> Result<i64> {
    let bad = || {
        Error::InvalidInput(format!(
            "step must be seconds or a number with s, m, h or d (for example 1d, 6h), got {text:?}"
        ))
    };
    let (number, unit_ms) = match text.char_indices().last() {
        Some((at, 's')) => (&text[..at], 1_000),
        Some((at, 'm')) => (&text[..at], 60_000),
        Some((at, 'h')) => (&text[..at], 3_600_000),
        Some((at, 'd')) => (&text[..at], 86_400_000),
        _ => (text, 1_000),
    };
    if number.is_empty() || number.len() > 7 || !number.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad());
    }
    let number: i64 = number.parse().map_err(|_| bad())?;
    number.checked_mul(unit_ms).ok_or_else(bad)
}

impl RolloutQuery {
    /// The checked request for package `name`.
    pub fn request(&self, name: &str, now: i64) -> Result<rollout::Request> {
        if name.is_empty() || name.len() > super::host_query::MAX_VALUE_BYTES {
            return Err(Error::InvalidInput(
                "the package name must be 1 to 256 bytes".into(),
            ));
        }
        let target = self.version_ge.as_deref().ok_or_else(|| {
            Error::InvalidInput("version_ge=X (the target version) is required".into())
        })?;
        let target = version_bound(target)?;
        let manager = match self.manager.as_deref() {
            None => None,
            Some(manager @ ("dpkg" | "rpm" | "apk")) => Some(manager.to_string()),
            Some(other) => {
                return Err(Error::InvalidInput(format!(
                    "manager must be dpkg, rpm or apk, got {other:?}"
                )));
            }
        };
        let until = match self.until.as_deref() {
            Some(text) => super::hosts::moment("until", text)?,
            None => now,
        };
        let since = match self.since.as_deref() {
            Some(text) => super::hosts::moment("since", text)?,
            None => until.saturating_sub(ROLLOUT_WINDOW_MS),
        };
        let within_days = self.within_days.unwrap_or(7);
        if !(1..=3_660).contains(&within_days) {
            return Err(Error::InvalidInput(format!(
                "within_days must be between 1 and 3660, got {within_days}"
            )));
        }
        let request = rollout::Request {
            name: name.to_string(),
            manager,
            target,
            since,
            until,
            step: step_ms(self.step.as_deref().unwrap_or("1d"))?,
            within: within_days * 86_400_000,
        };
        request.check()?;
        Ok(request)
    }
}

/// `GET /api/v1/software/{name}/rollout?version_ge=X`: per step of
/// `since..until` the hosts at X or newer, older, or without the package;
/// the exposed hosts with their time to remediate and its distribution
/// (`cmdb::rollout`). CSV: the steps.
#[utoipa::path(
    get,
    path = "/api/v1/software/{name}/rollout",
    operation_id = "software_rollout",
    tag = "software",
    security(("bearer" = ["viewer"])),
    params(("name" = String, Path, description = "Package name"), RolloutQuery),
    responses(
        (status = 200, description = "The rollout (CSV: its steps)", content((schemas::Rollout = "application/json"), (String = "text/csv"))),
    ),
)]
pub(super) async fn rollout(
    _caller: Caller,
    AxumState(state): AxumState<Shared>,
    Path(name): Path<String>,
    Query(params): Query<RolloutQuery>,
) -> Result<Response> {
    let csv = wants_csv(params.format.as_deref())?;
    let limit = super::list::page_limit(params.limit, 1_000, 10_000)?;
    let request = params.request(&name, rollcall_proto::now_ms())?;
    let answer = rollout::rollout(state.store.as_ref(), &request).await?;
    let steps: Vec<Value> = answer
        .steps
        .iter()
        .map(|step| {
            json!({
                "at": step.at, "at_or_above": step.at_or_above,
                "below": step.below, "without": step.without,
            })
        })
        .collect();
    if csv {
        return Ok(list_response(steps, None, true));
    }
    let seconds = |ms: Option<i64>| ms.map(|ms| ms / 1000);
    let remediation = &answer.remediation;
    let hosts: Vec<Value> = answer
        .hosts
        .iter()
        .take(usize::try_from(limit).unwrap_or(usize::MAX))
        .map(|host| {
            json!({
                "host_id": host.host_id,
                "hostname": host.hostname,
                "exposed_from": host.exposed_from,
                "remediated_at": host.remediated_at,
                "seconds_to_remediate": seconds(host.remediated_at.map(|at| at - host.exposed_from)),
                "removed": host.removed,
                "version_at_until": host.version_at_until,
            })
        })
        .collect();
    Ok(axum::Json(json!({
        "name": request.name,
        "manager": answer.manager,
        "version_ge": request.target,
        "since": request.since,
        "until": request.until,
        "step_s": request.step / 1000,
        "within_days": request.within / 86_400_000,
        "steps": steps,
        "remediation": {
            "exposed": remediation.exposed,
            "remediated": remediation.remediated,
            "removed": remediation.removed,
            "still_below": remediation.still_below,
            "p50_s": seconds(remediation.p50),
            "p90_s": seconds(remediation.p90),
            "within": remediation.within,
            "share_within": remediation.share_within,
        },
        "hosts_total": answer.hosts.len(),
        "hosts": hosts,
    }))
    .into_response())
}
