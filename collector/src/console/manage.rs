//! The console's catalogue and planning pages: software (the catalogue and
//! one package's version spread), business services (availability, SLA,
//! error budget and burn rate over 30 days), maintenance windows (list,
//! create and delete, operator).

use axum::Form;
use axum::extract::{Path, Query, State as AxumState};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use maud::html;
use serde::Deserialize;

use super::pages::{CsrfForm, PageResult, bad, duration, field, parse_moment, when};
use super::{Page, Shared, Viewer, csrf_field, frame, svg};
use crate::auth::Role;
use crate::availability::bounds::DAY_MS;
use crate::availability::fleet::{Scope, fleet_report};
use crate::availability::maintenance::new_window;
use crate::cmdb::rollout;
use crate::cmdb::software::catalogue;
use crate::error::Error;
use crate::integrations::encode_component;

/// Most catalogue lines a page shows.
const CATALOGUE_ROWS: usize = 2000;

/// `GET /software?q=`: package names with their host counts.
#[derive(Debug, Deserialize, Default)]
pub(super) struct SoftwareSearch {
    q: Option<String>,
}

pub(super) async fn software(
    AxumState(console): AxumState<Shared>,
    viewer: Viewer,
    Query(search): Query<SoftwareSearch>,
) -> PageResult {
    let q = field("q", search.q.as_deref())?;
    let entries = catalogue(console.state.store.as_ref(), None).await?;
    let shown: Vec<_> = entries
        .iter()
        .filter(|entry| q.as_deref().is_none_or(|q| entry.name.contains(q)))
        .collect();
    let body = html! {
        h1 { "Software" }
        form method="get" action="/software" class="search" {
            label for="q" { "Package" }
            input type="search" id="q" name="q" value=[q.as_deref()];
            button type="submit" id="search" { "Search" }
        }
        p { (shown.len()) " packages" @if shown.len() > CATALOGUE_ROWS { " (the first " (CATALOGUE_ROWS) " shown)" } }
        table id="software" {
            thead { tr { th { "Package" } th { "Hosts" } } }
            tbody { @for entry in shown.iter().take(CATALOGUE_ROWS) {
                tr {
                    td { a href={ "/software/" (encode_component(&entry.name)) } { (entry.name) } }
                    td class="num" { (entry.hosts) }
                }
            } }
        }
    };
    Ok(Page::ok(frame("Software", Some(&viewer), body)))
}

/// The rollout form of a package page: a target version (default the
/// newest installed) and a window in days (7, 30, 90 or 365).
#[derive(Debug, Deserialize, Default)]
pub(super) struct RolloutForm {
    target: Option<String>,
    days: Option<i64>,
}

/// `GET /software/{name}?target=&days=`: the versions of one package,
/// newest first, with their hosts, as bars; and its rollout to `target`
/// over the window (`cmdb::rollout`), as stacked bars per step with the
/// time-to-remediate figures.
pub(super) async fn package(
    AxumState(console): AxumState<Shared>,
    viewer: Viewer,
    Path(name): Path<String>,
    Query(form): Query<RolloutForm>,
) -> PageResult {
    let name = field("name", Some(&name))?.ok_or_else(|| bad("a package name is needed"))?;
    let versions = catalogue(console.state.store.as_ref(), Some(&name)).await?;
    if versions.is_empty() {
        return Err(Page::from(Error::NotFound(format!("package {name}"))));
    }
    let days = form.days.unwrap_or(30);
    let step = match days {
        7 | 30 | 90 => DAY_MS,
        365 => 7 * DAY_MS,
        _ => return Err(bad("days must be 7, 30, 90 or 365")),
    };
    // The newest version (the catalogue lists it first) and its manager.
    let newest = versions.first();
    let manager = newest.and_then(|entry| entry.manager.clone());
    let target = match field("target", form.target.as_deref())? {
        Some(target) => crate::api::host_query::version_bound(&target).map_err(Page::from)?,
        None => newest
            .and_then(|entry| entry.version.clone())
            .unwrap_or_default(),
    };
    let now = rollcall_proto::now_ms();
    let request = rollout::Request {
        name: name.clone(),
        manager,
        target: target.clone(),
        since: now - days * DAY_MS,
        until: now,
        step,
        within: 7 * DAY_MS,
    };
    let plan = rollout::rollout(console.state.store.as_ref(), &request).await?;
    let remediation = &plan.remediation;
    let hours = |ms: Option<i64>| ms.map_or_else(|| "–".to_string(), duration);
    let most = versions
        .iter()
        .map(|entry| entry.hosts)
        .max()
        .unwrap_or(1)
        .max(1);
    let total: usize = versions.iter().map(|entry| entry.hosts).sum();
    let body = html! {
        h1 { (name) }
        p { (total) " installations on " (versions.len()) " versions" }
        table id="versions" {
            thead { tr { th { "Version" } th { "Manager" } th { "Hosts" } th { "Spread" } } }
            tbody { @for entry in &versions {
                @let width = entry.hosts as f64 / most as f64 * 300.0;
                tr {
                    td { (entry.version.as_deref().unwrap_or("")) }
                    td { (entry.manager.as_deref().unwrap_or("")) }
                    td class="num" { a href={ "/hosts?package=" (encode_component(&name)) } { (entry.hosts) } }
                    td {
                        svg width="300" height="14" viewBox="0 0 300 14" role="img" aria-label="hosts" xmlns="http://www.w3.org/2000/svg" {
                            rect x="0" y="2" width=(format!("{width:.1}")) height="10" fill="#2d6cdf" {}
                        }
                    }
                }
            } }
        }
        h2 { "Rollout" }
        form method="get" action={ "/software/" (encode_component(&name)) } class="search" {
            label for="target" { "Version at least" }
            input type="text" id="target" name="target" value=(target);
            label for="days" { "over" }
            select id="days" name="days" {
                @for choice in [7, 30, 90, 365] {
                    option value=(choice) selected[choice == days] { (choice) " days" }
                }
            }
            button type="submit" id="show-rollout" { "Show" }
        }
        p class="hint" { "Per " @if step == DAY_MS { "day" } @else { "week" } ": hosts at " (target)
            " or newer (green), older (red), without the package (grey). Compared by " (plan.manager) "'s order." }
        (svg::rollout(&plan.steps, &target))
        table id="remediation" {
            tr { th { "Exposed (older at some moment)" } td class="num" id="exposed" { (remediation.exposed) } }
            tr { th { "Remediated" } td class="num" id="remediated" { (remediation.remediated) } }
            tr { th { "Removed the package" } td class="num" id="removed" { (remediation.removed) } }
            tr { th { "Still older" } td class="num" id="still-below" { (remediation.still_below) } }
            tr { th { "Time to remediate, median" } td class="num" { (hours(remediation.p50)) } }
            tr { th { "Time to remediate, 90th percentile" } td class="num" { (hours(remediation.p90)) } }
            tr { th { "Remediated within 7 days" } td class="num" {
                @match remediation.share_within { Some(share) => (format!("{:.0} %", share * 100.0)), None => "–" }
            } }
        }
    };
    Ok(Page::ok(frame(&name, Some(&viewer), body)))
}

/// `GET /services`: every business service over the last 30 days.
pub(super) async fn services(AxumState(console): AxumState<Shared>, viewer: Viewer) -> PageResult {
    let now = rollcall_proto::now_ms();
    let report = fleet_report(
        console.state.store.as_ref(),
        (now - 30 * DAY_MS, now),
        Scope {
            host_id: None,
            service_id: None,
        },
    )
    .await?;
    let body = html! {
        h1 { "Business services" }
        p class="hint" { "Over the last 30 days. A service is up while at least its k of n members are up." }
        @if report.services.is_empty() { p { "None defined (POST /api/v1/services)." } } @else {
            table id="services" {
                thead { tr {
                    th { "Service" } th { "k of n" } th { "Availability" } th { "SLA target" }
                    th { "Met" } th { "Error budget" } th { "Left" } th { "Burn rate" }
                } }
                tbody { @for service in &report.services {
                    tr {
                        td { (service.name) }
                        td { (service.min_up) " of " (service.members) }
                        td class="num" { (format!("{:.3} %", service.availability.availability_percent)) }
                        td class="num" { (format!("{} %", service.sla_target_percent)) }
                        td class=(if service.sla_met { "ok" } else { "error" }) { (if service.sla_met { "yes" } else { "no" }) }
                        td { (duration(service.error_budget_ms)) }
                        td { @if service.error_budget_left_ms < 0 { "overspent by " (duration(-service.error_budget_left_ms)) } @else { (duration(service.error_budget_left_ms)) } }
                        td class="num" { @match service.burn_rate { Some(rate) => (format!("{rate:.2}")), None => "–" } }
                    }
                } }
            }
        }
    };
    Ok(Page::ok(frame("Services", Some(&viewer), body)))
}

/// `GET /maintenance`: the windows, and (operator) the form for a new one.
pub(super) async fn maintenance(
    AxumState(console): AxumState<Shared>,
    viewer: Viewer,
) -> PageResult {
    let windows = console.state.store.maintenance_windows().await?;
    let operator = viewer.role >= Role::Operator;
    let body = html! {
        h1 { "Maintenance windows" }
        @if windows.is_empty() { p { "None." } } @else {
            table id="windows" {
                thead { tr { th { "Scope" } th { "Target" } th { "Starts (UTC)" } th { "Ends (UTC)" } th { "Repeats" } th { "Reason" } @if operator { th {} } } }
                tbody { @for window in &windows {
                    tr {
                        td { (window.scope) }
                        td { (window.target) }
                        td { (when(window.starts_at)) }
                        td { (when(window.ends_at)) }
                        td { @if window.recurrence.is_empty() { "once" } @else { (window.recurrence) } }
                        td { (window.reason) }
                        @if operator { td {
                            form method="post" action={ "/maintenance/" (window.id) "/delete" } {
                                (csrf_field(&viewer))
                                button type="submit" class="delete" { "Delete" }
                            }
                        } }
                    }
                } }
            }
        }
        @if operator {
            h2 { "New window" }
            form method="post" action="/maintenance" class="window" id="new-window" {
                (csrf_field(&viewer))
                label for="scope" { "Scope" }
                select id="scope" name="scope" {
                    option value="host" { "host (id)" }
                    option value="tag" { "tag" }
                    option value="service" { "service (id)" }
                }
                label for="target" { "Target" }
                input id="target" name="target" required maxlength="256";
                label for="starts" { "Starts (UTC)" }
                input type="datetime-local" step="1" id="starts" name="starts" required;
                label for="ends" { "Ends (UTC)" }
                input type="datetime-local" step="1" id="ends" name="ends" required;
                label for="recurrence" { "Repeats" }
                select id="recurrence" name="recurrence" {
                    option value="" { "once" }
                    option value="daily" { "daily" }
                    option value="weekly" { "weekly" }
                }
                label for="reason" { "Reason" }
                input id="reason" name="reason" maxlength="1024";
                button type="submit" id="create-window" { "Create" }
            }
        }
    };
    Ok(Page::ok(frame("Maintenance", Some(&viewer), body)))
}

/// The new-window form.
#[derive(Debug, Deserialize)]
pub(super) struct WindowForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    scope: String,
    #[serde(default)]
    target: String,
    #[serde(default)]
    starts: String,
    #[serde(default)]
    ends: String,
    #[serde(default)]
    recurrence: String,
    #[serde(default)]
    reason: String,
}

/// `POST /maintenance` (operator).
pub(super) async fn create_window(
    AxumState(console): AxumState<Shared>,
    viewer: Viewer,
    Form(form): Form<WindowForm>,
) -> Result<Response, Page> {
    viewer.check_csrf(&form.csrf)?;
    viewer.require(Role::Operator)?;
    let window = new_window(
        form.scope,
        form.target.trim().to_string(),
        (
            parse_moment("starts", form.starts.trim())?,
            parse_moment("ends", form.ends.trim())?,
        ),
        form.recurrence,
        form.reason.trim().to_string(),
    )?;
    console.state.store.create_maintenance(&window).await?;
    Ok(Redirect::to("/maintenance").into_response())
}

/// `POST /maintenance/{id}/delete` (operator).
pub(super) async fn delete_window(
    AxumState(console): AxumState<Shared>,
    viewer: Viewer,
    Path(id): Path<String>,
    Form(form): Form<CsrfForm>,
) -> Result<Response, Page> {
    viewer.check_csrf(&form.csrf)?;
    viewer.require(Role::Operator)?;
    if !console.state.store.delete_maintenance(&id).await? {
        return Err(Page::error(
            StatusCode::NOT_FOUND,
            "no such maintenance window",
        ));
    }
    Ok(Redirect::to("/maintenance").into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn path_segments_are_percent_encoded() {
        assert_eq!(encode_component("libstdc++6"), "libstdc%2B%2B6");
        assert_eq!(encode_component("a/b c?<x>"), "a%2Fb%20c%3F%3Cx%3E");
    }
}
