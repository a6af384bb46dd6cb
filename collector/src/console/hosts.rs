//! The console's host pages: the list (search by name or installed
//! package) and one host (identity, hardware, OS, availability and health
//! charts, incidents with their tickets, the inventory now or as of a
//! moment, what changed since, history).

use std::collections::BTreeMap;

use axum::extract::{Path, Query, State as AxumState};
use maud::{Markup, html};
use serde::Deserialize;
use serde_json::Value;

use super::pages::{
    PAGE_ROWS, PageResult, availabilities, bad, change_table, field, input_value, parse_moment,
    short, when,
};
use super::{Page, Shared, Viewer, frame, svg};
use crate::availability::bounds::DAY_MS;
use crate::cmdb::rollup::METRICS;
use crate::error::Error;
use crate::integrations::encode_component;
use crate::store::{ChangeFilter, IncidentFilter, OutageFilter};

/// Most raw samples the day's per-filesystem charts read (a day at 20 s).
const FILESYSTEM_SAMPLES: i64 = 4_320;
/// Most filesystems charted on a host page.
const FILESYSTEM_CHARTS: usize = 20;

/// The console's own names for two API filters: `q` is a name substring
/// (the API's `name` is a glob), `package` the API's `software`. The form always sends its comparison; without a version it means nothing.
fn api_pairs(pairs: Vec<(String, String)>) -> Vec<(String, String)> {
    let versioned = pairs
        .iter()
        .any(|(key, value)| key == "version" && !value.trim().is_empty());
    pairs
        .into_iter()
        .filter(|(_, value)| !value.trim().is_empty())
        .filter(|(key, _)| versioned || key != "op")
        .filter(|(key, _)| key != "format" && key != "fields")
        .map(|(key, value)| match key.as_str() {
            "q" if !value.contains(['*', '?']) => {
                ("name".to_string(), format!("*{}*", value.trim()))
            }
            "q" => ("name".to_string(), value),
            "package" => ("software".to_string(), value),
            _ => (key, value),
        })
        .collect()
}

/// The value of `key` in the query, for the form.
fn value<'a>(pairs: &'a [(String, String)], key: &str) -> Option<&'a str> {
    pairs
        .iter()
        .find(|(name, value)| name == key && !value.is_empty())
        .map(|(_, value)| value.as_str())
}

/// `GET /hosts?…`: the host list with every filter of `GET /api/v1/hosts`
/// (parsed by the API's own parser, so a bad filter is the same clear 400),
/// plus `q` (name contains) and `package` (installed package); a page of
/// `PAGE_ROWS` with a link to the next.
pub(super) async fn list(
    AxumState(console): AxumState<Shared>,
    viewer: Viewer,
    Query(pairs): Query<Vec<(String, String)>>,
) -> PageResult {
    let mut api = api_pairs(pairs.clone());
    if !api.iter().any(|(key, _)| key == "limit") {
        api.push(("limit".into(), PAGE_ROWS.to_string()));
    }
    let request = crate::api::host_query::parse(&api)?;
    let hosts = console.state.store.find_hosts(&request.query).await?;
    let next = (hosts.len() as i64 >= request.query.limit)
        .then(|| hosts.last())
        .flatten()
        .map(|last| crate::api::host_query::encode_cursor(&request.query, last));
    let next_link = next.map(|cursor| {
        let mut query: Vec<String> = pairs
            .iter()
            .filter(|(key, value)| key != "cursor" && !value.is_empty())
            .map(|(key, value)| format!("{}={}", encode_component(key), encode_component(value)))
            .collect();
        query.push(format!("cursor={}", encode_component(&cursor)));
        format!("/hosts?{}", query.join("&"))
    });
    let op = value(&pairs, "op").unwrap_or("<");
    let presence = value(&pairs, "presence").unwrap_or("");
    let body = html! {
        h1 { "Hosts" }
        form method="get" action="/hosts" class="search" {
            label for="q" { "Name" }
            input type="search" id="q" name="q" value=[value(&pairs, "q")];
            label for="package" { "Package" }
            input type="search" id="package" name="package" value=[value(&pairs, "package")];
            select id="op" name="op" aria-label="version comparison" {
                @for choice in ["<", "<=", "=", ">=", ">"] {
                    option value=(choice) selected[choice == op] { (choice) }
                }
            }
            input type="text" id="version" name="version" placeholder="version" value=[value(&pairs, "version")];
            label for="presence" { "Presence" }
            select id="presence" name="presence" {
                option value="" { "any" }
                @for choice in ["up", "suspect", "down", "away", "maintenance", "retired", "unknown"] {
                    option value=(choice) selected[choice == presence] { (choice) }
                }
            }
            label for="tag" { "Tag" }
            input type="search" id="tag" name="tag" value=[value(&pairs, "tag")];
            label for="os" { "OS" }
            input type="search" id="os" name="os" value=[value(&pairs, "os")];
            button type="submit" id="search" { "Search" }
        }
        p class="hint" { "Any filter of GET /api/v1/hosts works in this page's address too (kernel, cpu_model, attr.owner, service, port, failed_unit, last_seen_before, sort …)." }
        @if hosts.is_empty() { p { "No host matches." } } @else {
            table id="hosts" {
                thead { tr { th { "Host" } th { "Presence" } th { "Lifecycle" } th { "OS" } th { "Kernel" } th { "Packages" } th { "Last seen" } } }
                tbody { @for host in &hosts {
                    tr {
                        td { a href={ "/hosts/" (host.id) } { (host.hostname) } }
                        td class={ "presence " (host.presence) } { (host.presence) }
                        td { (host.lifecycle) }
                        td { (host.os_name) " " (host.os_version) }
                        td { (host.kernel) }
                        td class="num" { (host.package_count) }
                        td { (when(host.last_seen_at)) }
                    }
                } }
            }
            @if let Some(link) = &next_link { p { a id="next" href=(link) { "Next page" } } }
        }
    };
    Ok(Page::ok(frame("Hosts", Some(&viewer), body)))
}

/// The host page's options.
#[derive(Debug, Deserialize, Default)]
pub(super) struct HostView {
    /// Show the inventory as it was then (UTC).
    as_of: Option<String>,
    /// Only packages whose name contains this.
    pkg: Option<String>,
    /// The health charts' range: `day` (default), `week` or `month`.
    range: Option<String>,
}

/// One inventory item for display: class, key, attributes.
struct Item {
    class: String,
    key: String,
    attrs: Value,
}

/// A scalar attribute as text; anything else as JSON.
fn scalar(value: &Value) -> String {
    match value {
        Value::String(text) => text.clone(),
        Value::Null => String::new(),
        other => short(&other.to_string()),
    }
}

/// The sections of an inventory, in a fixed order, singletons as
/// definition lists, the others as tables of their attributes.
fn inventory(items: &[Item], pkg: Option<&str>) -> Markup {
    let mut classes: BTreeMap<&str, Vec<&Item>> = BTreeMap::new();
    for item in items {
        classes.entry(&item.class).or_default().push(item);
    }
    html! {
        @for (class, items) in &classes {
            @let singleton = rollcall_proto::inventory::section_for_class(class)
                .is_some_and(rollcall_proto::inventory::is_singleton);
            section class={ "inventory " (class) } id={ "section-" (class) } {
                h3 { (class) " (" (items.len()) ")" }
                @if singleton {
                    dl { @if let Some(Value::Object(map)) = items.first().map(|item| &item.attrs) {
                        @for (key, value) in map { dt { (key) } dd { (scalar(value)) } }
                    } }
                } @else {
                    @let shown: Vec<&&Item> = items.iter().filter(|item| {
                        *class != "software" || pkg.is_none_or(|pkg| item.key.contains(pkg))
                    }).collect();
                    @let columns: Vec<String> = shown.iter()
                        .filter_map(|item| item.attrs.as_object())
                        .flat_map(|map| map.keys().cloned())
                        .collect::<std::collections::BTreeSet<_>>()
                        .into_iter().take(8).collect();
                    table {
                        thead { tr { th { "key" } @for column in &columns { th { (column) } } } }
                        tbody { @for item in shown.iter().take(5000) {
                            tr {
                                td { (item.key) }
                                @for column in &columns { td { (scalar(&item.attrs[column.as_str()])) } }
                            }
                        } }
                    }
                }
            }
        }
    }
}

/// `GET /hosts/{id}?as_of=&pkg=`: one host.
pub(super) async fn host(
    AxumState(console): AxumState<Shared>,
    viewer: Viewer,
    Path(id): Path<String>,
    Query(view): Query<HostView>,
) -> PageResult {
    let store = console.state.store.as_ref();
    let host = store
        .host(&id)
        .await?
        .ok_or_else(|| Page::from(Error::NotFound(format!("host {id}"))))?;
    let now = rollcall_proto::now_ms();
    let as_of = match field("as_of", view.as_of.as_deref())? {
        Some(text) => Some(parse_moment("as_of", &text)?),
        None => None,
    };
    let pkg = field("pkg", view.pkg.as_deref())?;
    let items: Vec<Item> = match as_of {
        Some(at) => store
            .items_as_of(&id, at)
            .await?
            .into_iter()
            .map(|((class, key), attrs)| Item {
                class,
                key,
                attrs: serde_json::from_str(&attrs).unwrap_or(Value::Null),
            })
            .collect(),
        None => store
            .host_items(&id)
            .await?
            .into_iter()
            .map(|row| Item {
                class: row.class,
                key: row.item_key,
                attrs: serde_json::from_str(&row.attrs).unwrap_or(Value::Null),
            })
            .collect(),
    };
    let since_then = match as_of {
        Some(at) => Some(
            store
                .changes(&ChangeFilter {
                    host_id: Some(id.clone()),
                    since: Some(at.saturating_add(1)),
                    limit: 500,
                    ..Default::default()
                })
                .await?,
        ),
        None => None,
    };
    let history = store
        .changes(&ChangeFilter {
            host_id: Some(id.clone()),
            since: Some(now - 30 * DAY_MS),
            limit: 1000,
            ..Default::default()
        })
        .await?;
    let week = (now - 7 * DAY_MS, now);
    let outages = store
        .outages(&OutageFilter {
            host_id: Some(id.clone()),
            since: Some(week.0),
            until: Some(week.1),
            limit: 1000,
            ..Default::default()
        })
        .await?;
    let availability = availabilities(&console, Some(&id), now).await?;
    let (range, span, step) = match view.range.as_deref().unwrap_or("day") {
        "day" => ("day", DAY_MS, 300_000),
        "week" => ("week", 7 * DAY_MS, 3_600_000),
        "month" => ("month", 30 * DAY_MS, 6 * 3_600_000),
        _ => return Err(bad("range must be day, week or month")),
    };
    let (step, points, _) =
        crate::cmdb::series::points(store, &id, now - span, now, step, 100_000).await?;
    let metric = |name: &str| METRICS.iter().position(|metric| *metric == name);
    let series = |name: &str| -> Vec<(i64, f64)> {
        metric(name).map_or_else(Vec::new, |index| {
            points
                .iter()
                .map(|(start, bucket)| (*start + step / 2, bucket.stats[index].avg))
                .collect()
        })
    };
    // Per filesystem: from the raw samples (kept 48 h), so over a day only;
    // the rollups keep the fullest filesystem for the week and the month.
    let mut filesystems: BTreeMap<String, Vec<(i64, f64)>> = BTreeMap::new();
    if range == "day" {
        let samples = store
            .health_raw(&id, now - DAY_MS, now, FILESYSTEM_SAMPLES)
            .await?;
        for sample in samples.iter().rev() {
            let Some(report) = crate::cmdb::rollup::decode_sample(&sample.data) else {
                continue;
            };
            for filesystem in &report.filesystems {
                let known = filesystems.contains_key(&filesystem.mount_point);
                if known || filesystems.len() < FILESYSTEM_CHARTS {
                    filesystems
                        .entry(filesystem.mount_point.clone())
                        .or_default()
                        .push((sample.sampled_at, f64::from(filesystem.used_percent)));
                }
            }
        }
    }
    let incidents = store
        .incidents(&IncidentFilter {
            state: Some("open".into()),
            ci_id: Some(id.clone()),
            limit: 100,
            ..Default::default()
        })
        .await?;
    let mut tickets = Vec::new();
    for incident in &incidents {
        tickets.push((incident, store.external_refs(&incident.id).await?));
    }
    let body = html! {
        h1 id="hostname" { (host.hostname) }
        section class="cards" {
            div class="card" {
                h2 { "Identity" }
                dl {
                    dt { "CI id" } dd { (host.id) }
                    dt { "FQDN" } dd { (host.fqdn) }
                    dt { "Identified by" } dd { (host.match_rule) }
                    dt { "Machine id" } dd { (host.machine_id) }
                    dt { "DMI UUID / serial" } dd { (host.dmi_uuid) " / " (host.dmi_serial) }
                    dt { "Presence" } dd class={ "presence " (host.presence) } { (host.presence) }
                    dt { "Lifecycle" } dd { (host.lifecycle) }
                    dt { "Tags" } dd { (host.tags) }
                    dt { "First seen" } dd { (when(host.first_seen_at)) }
                    dt { "Last seen" } dd { (when(host.last_seen_at)) }
                }
            }
            div class="card" {
                h2 { "Hardware and OS" }
                dl {
                    dt { "OS" } dd { (host.os_name) " " (host.os_version) }
                    dt { "Kernel" } dd { (host.kernel) " " (host.arch) }
                    dt { "CPU" } dd { (host.cpu_model) " (" (host.cpu_threads) " threads)" }
                    dt { "Memory" } dd { (host.memory_bytes / 1_048_576) " MiB" }
                    dt { "Packages" } dd { (host.package_count) }
                }
            }
            div class="card" {
                h2 { "Availability" }
                table { @for (label, value) in &availability {
                    tr { th { (label) } td class="num" {
                        @match value { Some(value) => (format!("{value:.3} %")), None => "–" }
                    } }
                } }
            }
        }
        h2 { "Availability, last 7 days" }
        (svg::availability(&outages, week.0, week.1, now))
        @if !outages.is_empty() {
            table class="outages" {
                thead { tr { th { "Kind" } th { "Cause" } th { "Began" } th { "Ended" } } }
                tbody { @for outage in &outages {
                    tr { td { (outage.kind) } td { (outage.cause) } td { (when(outage.began_at)) }
                         td { @match outage.ended_at { Some(end) => (when(end)), None => "ongoing" } } }
                } }
            }
        }
        h2 { "Health, last " (range) }
        nav class="tabs" id="ranges" {
            @for name in ["day", "week", "month"] {
                a href={ "/hosts/" (host.id) "?range=" (name) } class=[(name == range).then_some("current")] { (name) }
            }
        }
        h3 { "CPU %" }
        (svg::line(&series("cpu_percent"), now - span, now, 100.0, "CPU percent"))
        h3 { "Memory used (bytes)" }
        (svg::line(&series("memory_used_bytes"), now - span, now, 1.0, "memory used"))
        h3 { "Fullest filesystem, % used" }
        (svg::line(&series("filesystem_max_used_percent"), now - span, now, 100.0, "fullest filesystem percent used"))
        @if range == "day" {
            @for (mount, points) in &filesystems {
                h3 class="filesystem" { "Filesystem " (mount) ", % used" }
                (svg::line(points, now - span, now, 100.0, &format!("filesystem {mount} percent used")))
            }
        } @else {
            p class="hint" { "Each filesystem is charted over the last day (from raw samples, kept 48 h); over a week or a month the rollups keep the fullest." }
        }
        h2 { "Open incidents" }
        @if tickets.is_empty() { p { "None." } } @else {
            table class="incidents" {
                thead { tr { th { "Incident" } th { "Severity" } th { "Opened" } th { "Tickets" } } }
                tbody { @for (incident, refs) in &tickets {
                    tr {
                        td { a href={ "/incidents/" (incident.id) } { (incident.summary) } }
                        td { (incident.severity) }
                        td { (when(incident.opened_at)) }
                        td { @for reference in refs { (ticket(&console, reference)) " " } }
                    }
                } }
            }
        }
        h2 { "Inventory" }
        form method="get" action={ "/hosts/" (host.id) } class="as-of" {
            label for="as_of" { "As of (UTC)" }
            input type="datetime-local" step="1" id="as_of" name="as_of"
                value=[as_of.map(input_value)];
            label for="pkg" { "Package" }
            input type="search" id="pkg" name="pkg" value=[pkg.as_deref()];
            button type="submit" id="show" { "Show" }
            @if as_of.is_some() { a href={ "/hosts/" (host.id) } { "now" } }
        }
        @if let Some(at) = as_of {
            p class="as-of-note" { "The inventory as it was at " (when(at)) "." }
        }
        (inventory(&items, pkg.as_deref()))
        @if let Some(changes) = &since_then {
            h2 { "Changed since then" }
            @if changes.is_empty() { p { "Nothing." } } @else { (change_table(changes.iter())) }
        }
        h2 { "Change history, last 30 days" }
        (change_table(history.iter().rev().take(200)))
    };
    Ok(Page::ok(frame(&host.hostname, Some(&viewer), body)))
}

/// A ticket reference: a link to the vendor's page of it when the target
/// has one (ServiceNow, Jira, Zendesk), else its id.
pub(super) fn ticket(console: &super::Console, reference: &crate::store::ExternalRef) -> Markup {
    let url = console
        .state
        .integrations
        .ticket_url(&reference.target, &reference.external_ref);
    html! {
        span class="ticket" {
            (reference.target) ": "
            @match url {
                Some(url) => a href=(url) rel="noreferrer" target="_blank" { (reference.external_ref) },
                None => (reference.external_ref),
            }
        }
    }
}
