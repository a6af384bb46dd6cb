//! The availability report of the fleet over a window: each host's, and
//! each business service's with its SLA and error budget. Reads outages,
//! maintenance windows and service membership from the store and computes
//! with `report`; the API only parses the window and renders the rows.

use serde::Serialize;

use super::maintenance::{self, applies};
use super::report::{self, Availability, OutageSpan, Span};
use crate::error::{Error, Result};
use crate::store::{Host, HostFilter, MEMBER_OF, MaintenanceWindow, OutageFilter, Store};

/// Most hosts one report covers.
const MAX_HOSTS: i64 = 100_000;
/// Most outages one report reads.
const MAX_OUTAGES: i64 = 1_000_000;

/// One host's availability over the window.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct HostAvailability {
    /// The host.
    pub host_id: String,
    /// Its hostname.
    pub hostname: String,
    /// The figures.
    pub availability: Availability,
}

/// One business service's availability over the window.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ServiceAvailability {
    /// The service.
    pub service_id: String,
    /// Its name.
    pub name: String,
    /// How many hosts are members.
    pub members: usize,
    /// How many members must be up for the service to be up.
    pub min_up: i64,
    /// The SLA target, in percent.
    pub sla_target_percent: f64,
    /// Whether the availability met the target.
    pub sla_met: bool,
    /// Downtime the SLA allows over the window's scheduled time.
    pub error_budget_ms: i64,
    /// What is left of it after the unplanned downtime (negative once
    /// the budget is overspent).
    pub error_budget_left_ms: i64,
    /// How fast the budget is being spent: unplanned downtime over the
    /// budget of the same scheduled time (1.0 spends exactly the budget by
    /// the end of the window, 2.0 twice as fast); `None` when the target is
    /// 100 % and there was downtime (no budget to spend).
    pub burn_rate: Option<f64>,
    /// The figures.
    pub availability: Availability,
}

/// What a report covers.
#[derive(Debug, Clone, Default)]
pub struct Scope<'a> {
    /// Only this host (and no services are listed then unless `service_id`).
    pub host_id: Option<&'a str>,
    /// Only this service, and no host rows.
    pub service_id: Option<&'a str>,
}

/// The report: host rows (none when a service is asked for) and service rows.
#[derive(Debug, Clone, Default)]
pub struct FleetReport {
    /// Per host.
    pub hosts: Vec<HostAvailability>,
    /// Per business service.
    pub services: Vec<ServiceAvailability>,
}

/// Computes the availability report over `window` for `scope`. The window
/// is expected within `bounds` (the API checks it); any other still
/// computes without overflow, with each window's occurrences clamped.
pub async fn fleet_report(
    store: &dyn Store,
    window: Span,
    scope: Scope<'_>,
) -> Result<FleetReport> {
    let mut reports = fleet_reports(store, &[window], scope).await?;
    Ok(reports.pop().unwrap_or_default())
}

/// What every window of a report reads from the store, read once.
struct Loaded {
    single: Option<Host>,
    all_hosts: Vec<Host>,
    services: Vec<crate::store::BusinessService>,
    outages: Vec<crate::store::Outage>,
    windows: Vec<MaintenanceWindow>,
    relationships: Vec<crate::store::Relationship>,
}

/// The reports over each of `windows` for `scope`, reading the store once
/// for all of them (the console's 24 h / 7 d / 30 d).
pub async fn fleet_reports(
    store: &dyn Store,
    windows: &[Span],
    scope: Scope<'_>,
) -> Result<Vec<FleetReport>> {
    let (Some(since), Some(until)) = (
        windows.iter().map(|window| window.0).min(),
        windows.iter().map(|window| window.1).max(),
    ) else {
        return Ok(Vec::new());
    };
    let single = match scope.host_id {
        Some(id) => Some(
            store
                .host(id)
                .await?
                .ok_or_else(|| Error::NotFound(format!("host {id}")))?,
        ),
        None => None,
    };
    let services = store.services().await?;
    let all_hosts = if single.is_none() || !services.is_empty() {
        store
            .hosts(&HostFilter {
                limit: MAX_HOSTS,
                ..Default::default()
            })
            .await?
    } else {
        Vec::new()
    };
    let outages = store
        .outages(&OutageFilter {
            since: Some(since),
            until: Some(until),
            limit: MAX_OUTAGES,
            ..Default::default()
        })
        .await?;
    let loaded = Loaded {
        single,
        all_hosts,
        services,
        outages,
        windows: maintenance::usable(store.maintenance_windows().await?),
        relationships: store.relationships(None).await?,
    };
    Ok(windows
        .iter()
        .map(|window| one_window(&loaded, *window, &scope))
        .collect())
}

/// The report over `window` from what was loaded.
fn one_window(loaded: &Loaded, window: Span, scope: &Scope<'_>) -> FleetReport {
    let Loaded {
        single,
        all_hosts,
        services,
        outages,
        windows,
        relationships,
    } = loaded;
    let hosts = match single {
        Some(host) => std::slice::from_ref(host),
        None => all_hosts.as_slice(),
    };
    let mut by_host: std::collections::HashMap<&str, Vec<&crate::store::Outage>> =
        std::collections::HashMap::new();
    for outage in outages.iter().filter(|outage| {
        outage.began_at < window.1 && outage.ended_at.is_none_or(|end| end > window.0)
    }) {
        by_host
            .entry(outage.host_id.as_str())
            .or_default()
            .push(outage);
    }
    // Each window is expanded once per report, not once per host; windows
    // with no occurrence in the report window drop out here.
    let expanded: Vec<(&MaintenanceWindow, Vec<Span>)> = windows
        .iter()
        .map(|w| {
            let spans = report::expand_recurring(w.starts_at, w.ends_at, &w.recurrence, window);
            (w, spans)
        })
        .filter(|(_, spans)| !spans.is_empty())
        .collect();
    let members_of = |service_id: &str| -> Vec<String> {
        relationships
            .iter()
            .filter(|relationship| {
                relationship.kind == MEMBER_OF && relationship.parent_id == service_id
            })
            .map(|relationship| relationship.child_id.clone())
            .collect()
    };
    let maintenance_for = |host: &Host| -> Vec<Span> {
        let tags = host.tags_list();
        let memberships: Vec<String> = relationships
            .iter()
            .filter(|relationship| {
                relationship.kind == MEMBER_OF && relationship.child_id == host.id
            })
            .map(|relationship| relationship.parent_id.clone())
            .collect();
        expanded
            .iter()
            .filter(|(w, _)| applies(w, &host.id, &tags, &memberships))
            .flat_map(|(_, spans)| spans.iter().copied())
            .collect()
    };
    let spans_for = |host_id: &str| -> Vec<OutageSpan> {
        by_host
            .get(host_id)
            .into_iter()
            .flatten()
            .map(|outage| OutageSpan {
                start: outage.began_at,
                end: outage.ended_at,
                kind: outage.kind.clone(),
            })
            .collect()
    };
    let mut out = FleetReport::default();
    if scope.service_id.is_none() {
        for host in hosts {
            out.hosts.push(HostAvailability {
                host_id: host.id.clone(),
                hostname: host.hostname.clone(),
                availability: report::availability(
                    window,
                    &spans_for(&host.id),
                    &maintenance_for(host),
                ),
            });
        }
    }
    for service in services
        .iter()
        .filter(|service| scope.service_id.is_none_or(|id| id == service.id))
    {
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
        let service_maintenance: Vec<Span> = expanded
            .iter()
            .filter(|(w, _)| w.scope == "service" && w.target == service.id)
            .flat_map(|(_, spans)| spans.iter().copied())
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
        let (allowed_downtime, burn_rate) = error_budget(
            result.scheduled_ms,
            result.unplanned_downtime_ms,
            service.sla_target,
        );
        out.services.push(ServiceAvailability {
            service_id: service.id.clone(),
            name: service.name.clone(),
            members: members.len(),
            min_up: service.min_up,
            sla_target_percent: service.sla_target,
            sla_met: result.availability_percent >= service.sla_target,
            error_budget_ms: allowed_downtime,
            error_budget_left_ms: allowed_downtime.saturating_sub(result.unplanned_downtime_ms),
            burn_rate,
            availability: result,
        });
    }
    out
}

/// The error budget (ms) of `scheduled_ms` under `sla_target` percent,
/// rounded to the nearest ms (99.9 % of 30 days allows 2,592,000 ms, not
/// the 2,591,999 that truncating 100 − 99.9 in floating point gives), and
/// the burn rate of `downtime_ms` against it.
pub fn error_budget(scheduled_ms: i64, downtime_ms: i64, sla_target: f64) -> (i64, Option<f64>) {
    let allowed = (scheduled_ms.max(0) as f64 * (100.0 - sla_target) / 100.0).round();
    let burn_rate = if allowed > 0.0 {
        Some(downtime_ms as f64 / allowed)
    } else if downtime_ms == 0 {
        Some(0.0)
    } else {
        None
    };
    (allowed as i64, burn_rate)
}

#[cfg(test)]
mod tests {
    use super::error_budget;

    const DAY: i64 = 86_400_000;

    #[test]
    fn the_budget_is_exact_and_the_burn_rate_relative_to_it() {
        assert_eq!(error_budget(30 * DAY, 0, 99.9), (2_592_000, Some(0.0)));
        assert_eq!(
            error_budget(30 * DAY, 1_296_000, 99.9),
            (2_592_000, Some(0.5))
        );
        assert_eq!(
            error_budget(30 * DAY, 5_184_000, 99.9),
            (2_592_000, Some(2.0))
        );
        assert_eq!(error_budget(DAY, 864_000, 99.0), (864_000, Some(1.0)));
        assert_eq!(error_budget(DAY, 0, 100.0), (0, Some(0.0)));
        assert_eq!(error_budget(DAY, 1, 100.0), (0, None), "no budget to burn");
        assert_eq!(
            error_budget(0, 0, 99.9),
            (0, Some(0.0)),
            "nothing scheduled"
        );
        assert_eq!(error_budget(DAY, DAY, 0.0), (DAY, Some(1.0)));
    }
}
