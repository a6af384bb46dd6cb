//! Availability reports: per host and per business service over a window
//! (`window=30d`, or `since`/`until`), unplanned downtime with maintenance
//! excluded, MTBF and MTRS, and each service's SLA and error budget.

use axum::Json;
use axum::extract::State as AxumState;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::Shared;
use super::auth::Caller;
use super::extract::Query;
use super::list::{Filters, list_response};
use crate::availability::report::{self, OutageSpan, Span};
use crate::error::{Error, Result};
use crate::store::HostFilter;
use crate::store::{MEMBER_OF, OutageFilter};

/// Parses `30d`, `12h`, `90m`, `3600s` or plain seconds into milliseconds.
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
        "d" => 86_400_000,
        "w" => 7 * 86_400_000,
        _ => {
            return Err(Error::InvalidInput(format!(
                "window {text:?}: unit must be s, m, h, d or w"
            )));
        }
    };
    if value <= 0 || value > 3660 * 86_400_000 / unit_ms {
        return Err(Error::InvalidInput(format!(
            "window {text:?} must be positive and at most 10 years"
        )));
    }
    Ok(value * unit_ms)
}

/// The window (from, to) of an availability query.
fn window_of(params: &Filters, now: i64) -> Result<Span> {
    match (params.since, params.until, &params.window) {
        (Some(since), until, None) => {
            let to = until.unwrap_or(now);
            if to <= since {
                return Err(Error::InvalidInput("until must be after since".into()));
            }
            Ok((since, to))
        }
        (None, None, window) => {
            let length = parse_window(window.as_deref().unwrap_or("30d"))?;
            Ok((now - length, now))
        }
        _ => Err(Error::InvalidInput(
            "give either window=30d or since (and until)".into(),
        )),
    }
}

/// `GET /api/v1/availability`: JSON `{from, to, hosts, services}`, or the
/// host rows as CSV.
pub(super) async fn report(
    _caller: Caller,
    AxumState(state): AxumState<Shared>,
    Query(params): Query<Filters>,
) -> Result<Response> {
    let now = rollcall_proto::now_ms();
    let window = window_of(&params, now)?;
    let single = match &params.host_id {
        Some(id) => Some(
            state
                .store
                .host(id)
                .await?
                .ok_or_else(|| Error::NotFound(format!("host {id}")))?,
        ),
        None => None,
    };
    let services = state.store.services().await?;
    // Every host once: the host rows without a host_id, and the maintenance
    // of service members (not once per service).
    let all_hosts = if single.is_none() || !services.is_empty() {
        state
            .store
            .hosts(&HostFilter {
                limit: 100_000,
                ..Default::default()
            })
            .await?
    } else {
        Vec::new()
    };
    let hosts = match &single {
        Some(host) => std::slice::from_ref(host),
        None => all_hosts.as_slice(),
    };
    let outages = state
        .store
        .outages(&OutageFilter {
            since: Some(window.0),
            until: Some(window.1),
            limit: 1_000_000,
            ..Default::default()
        })
        .await?;
    let windows = state.store.maintenance_windows().await?;
    let relationships = state.store.relationships(None).await?;
    let members_of = |service_id: &str| -> Vec<String> {
        relationships
            .iter()
            .filter(|relationship| {
                relationship.kind == MEMBER_OF && relationship.parent_id == service_id
            })
            .map(|relationship| relationship.child_id.clone())
            .collect()
    };
    let maintenance_for = |host: &crate::store::Host| -> Vec<Span> {
        let tags = host.tags_list();
        windows
            .iter()
            .filter(|w| match w.scope.as_str() {
                "host" => w.target == host.id,
                "tag" => tags.contains(&w.target),
                "service" => members_of(&w.target).contains(&host.id),
                _ => false,
            })
            .flat_map(|w| report::expand_recurring(w.starts_at, w.ends_at, &w.recurrence, window))
            .collect()
    };
    let spans_for = |host_id: &str| -> Vec<OutageSpan> {
        outages
            .iter()
            .filter(|outage| outage.host_id == host_id)
            .map(|outage| OutageSpan {
                start: outage.began_at,
                end: outage.ended_at,
                kind: outage.kind.clone(),
            })
            .collect()
    };
    let mut host_rows = Vec::new();
    if params.service_id.is_none() {
        for host in hosts {
            let result = report::availability(window, &spans_for(&host.id), &maintenance_for(host));
            host_rows.push(
                json!({ "host_id": host.id, "hostname": host.hostname, "availability": result }),
            );
        }
    }
    let mut service_rows = Vec::new();
    for service in services.iter().filter(|service| {
        params
            .service_id
            .as_ref()
            .is_none_or(|id| *id == service.id)
    }) {
        let members = members_of(&service.id);
        let member_downs: Vec<Vec<Span>> = members
            .iter()
            .map(|member| {
                let maintenance = all_hosts
                    .iter()
                    .find(|host| host.id == *member)
                    .map(&maintenance_for)
                    .unwrap_or_default();
                let unplanned = report::merge(
                    spans_for(member)
                        .into_iter()
                        .filter(|span| span.kind == "unplanned")
                        .map(|span| (span.start, span.end.unwrap_or(window.1))),
                    window,
                );
                report::subtract(&unplanned, &report::merge(maintenance, window))
            })
            .collect();
        let down =
            report::service_down_spans(&member_downs, service.min_up.max(0) as usize, window);
        let service_maintenance: Vec<Span> = windows
            .iter()
            .filter(|w| w.scope == "service" && w.target == service.id)
            .flat_map(|w| report::expand_recurring(w.starts_at, w.ends_at, &w.recurrence, window))
            .collect();
        let spans: Vec<OutageSpan> = down
            .iter()
            .map(|(start, end)| OutageSpan {
                start: *start,
                end: Some(*end),
                kind: "unplanned".into(),
            })
            .collect();
        let result = report::availability(window, &spans, &service_maintenance);
        let allowed_downtime =
            (result.scheduled_ms as f64 * (100.0 - service.sla_target) / 100.0) as i64;
        service_rows.push(json!({
            "service_id": service.id,
            "name": service.name,
            "members": members.len(),
            "min_up": service.min_up,
            "sla_target_percent": service.sla_target,
            "sla_met": result.availability_percent >= service.sla_target,
            "error_budget_ms": allowed_downtime,
            "error_budget_left_ms": allowed_downtime - result.unplanned_downtime_ms,
            "availability": result,
        }));
    }
    if params.csv()? {
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
    Ok(Json(
        json!({ "from": window.0, "to": window.1, "hosts": host_rows, "services": service_rows }),
    )
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
