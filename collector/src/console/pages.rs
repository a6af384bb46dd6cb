//! The console's pages: login and logout, the fleet overview, incidents
//! (list, detail, acknowledge, comment), and the helpers every page shares.
//! The host pages are `hosts.rs`.

use std::collections::BTreeMap;

use axum::Form;
use axum::extract::{Path, Query, State as AxumState};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use maud::{Markup, html};
use serde::Deserialize;

use super::{Page, Shared, Viewer, csrf_field, frame, session, set_cookie, token_hash};
use crate::auth::Role;
use crate::availability::bounds::{DAY_MS, MAX_TIME_MS, MIN_TIME_MS};
use crate::availability::fleet::{Scope, fleet_reports};
use crate::error::Error;
use crate::store::{ChangeFilter, Comment, HostFilter, IncidentFilter, OutageFilter};

/// Longest search text, package name or API token accepted by a form.
const MAX_FIELD: usize = 256;
/// Longest comment (as the API).
const MAX_COMMENT: usize = 16_384;
/// Rows of a list page.
pub(super) const PAGE_ROWS: i64 = 200;

pub(super) type PageResult = Result<Page, Page>;

pub(super) fn bad(message: &str) -> Page {
    Page::error(StatusCode::BAD_REQUEST, message)
}

/// `text` if it is at most [`MAX_FIELD`] bytes, trimmed; `None` when empty.
pub(super) fn field(name: &str, text: Option<&str>) -> Result<Option<String>, Page> {
    let Some(text) = text.map(str::trim).filter(|text| !text.is_empty()) else {
        return Ok(None);
    };
    if text.len() > MAX_FIELD {
        return Err(bad(&format!("{name} is longer than {MAX_FIELD} bytes")));
    }
    Ok(Some(text.to_string()))
}

/// A time (ms) as `2026-12-02 10:30:05 UTC`.
pub(super) fn when(ms: i64) -> String {
    jiff::Timestamp::from_millisecond(ms)
        .map(|at| at.strftime("%Y-%m-%d %H:%M:%S UTC").to_string())
        .unwrap_or_else(|_| ms.to_string())
}

/// A time (ms) as a `datetime-local` input value (UTC, seconds).
pub(super) fn input_value(ms: i64) -> String {
    jiff::Timestamp::from_millisecond(ms)
        .map(|at| at.strftime("%Y-%m-%dT%H:%M:%S").to_string())
        .unwrap_or_default()
}

/// A `datetime-local` value (`2026-12-02T10:30` or with seconds) or a date,
/// read as UTC, within the API's time bounds.
pub(super) fn parse_moment(name: &str, text: &str) -> Result<i64, Page> {
    let civil = text
        .parse::<jiff::civil::DateTime>()
        .or_else(|_| {
            text.parse::<jiff::civil::Date>()
                .map(|date| date.at(0, 0, 0, 0))
        })
        .map_err(|_| {
            bad(&format!(
                "{name} must be a date and time such as 2026-11-30T14:05:00 (UTC)"
            ))
        })?;
    let ms = civil
        .to_zoned(jiff::tz::TimeZone::UTC)
        .map_err(|_| bad(&format!("{name} is out of range")))?
        .timestamp()
        .as_millisecond();
    if !(MIN_TIME_MS..=MAX_TIME_MS).contains(&ms) {
        return Err(bad(&format!("{name} is out of range")));
    }
    Ok(ms)
}

/// A duration (ms) as `3 h 5 min` or `42 s`.
pub(super) fn duration(ms: i64) -> String {
    let seconds = ms.max(0) / 1000;
    match seconds {
        0..60 => format!("{seconds} s"),
        60..3600 => format!("{} min", seconds / 60),
        3600..86_400 => format!("{} h {} min", seconds / 3600, seconds % 3600 / 60),
        _ => format!("{} d {} h", seconds / 86_400, seconds % 86_400 / 3600),
    }
}

// ---- login and logout ----

/// `GET /login`: the form, with a fresh double-submit CSRF value.
pub(super) async fn login_form(AxumState(console): AxumState<Shared>) -> Response {
    login_page(&console, StatusCode::OK, None)
}

fn login_page(console: &super::Console, status: StatusCode, message: Option<&str>) -> Response {
    let nonce = session::random_token();
    let body = frame(
        "Log in",
        None,
        html! {
            h1 { "Log in" }
            @if let Some(message) = message { p class="error" { (message) } }
            form method="post" action="/login" class="login" {
                input type="hidden" name="csrf" value=(nonce);
                label for="token" { "API token" }
                input type="password" id="token" name="token" autocomplete="off" required;
                button type="submit" id="login" { "Log in" }
            }
            p class="hint" { "Any API token works; its role (viewer, operator, admin) decides what you may do." }
        },
    );
    (
        status,
        [
            (
                header::SET_COOKIE,
                set_cookie(console, session::LOGIN_COOKIE, &nonce),
            ),
            (header::CONTENT_TYPE, "text/html; charset=utf-8".to_string()),
        ],
        body.into_string(),
    )
        .into_response()
}

/// The login form.
#[derive(Debug, Deserialize)]
pub(super) struct LoginForm {
    #[serde(default)]
    token: String,
    #[serde(default)]
    csrf: String,
}

/// `POST /login`: a valid API token starts a session.
pub(super) async fn login(
    AxumState(console): AxumState<Shared>,
    headers: axum::http::HeaderMap,
    Form(form): Form<LoginForm>,
) -> Response {
    let cookie = headers
        .get(header::COOKIE)
        .and_then(|value| value.to_str().ok())
        .and_then(|cookies| session::cookie(cookies, session::LOGIN_COOKIE))
        .unwrap_or_default();
    if form.csrf.is_empty() || !session::same(&form.csrf, cookie) {
        return login_page(
            &console,
            StatusCode::FORBIDDEN,
            Some("The login form expired or was not sent from this page; try again."),
        );
    }
    // A refused token answers 200 with the form and the reason, as login
    // forms do: a 401 would make the browser log an error for a typo.
    let token = form.token.trim();
    if token.is_empty() || token.len() > MAX_FIELD {
        return login_page(&console, StatusCode::OK, Some("That token is not valid."));
    }
    let hash = token_hash(token);
    let now = rollcall_proto::now_ms();
    match console.state.store.api_token_by_hash(&hash).await {
        Ok(Some(stored)) if !stored.expired(now) => {}
        Ok(_) => {
            return login_page(
                &console,
                StatusCode::OK,
                Some("That token is not valid, expired or was revoked."),
            );
        }
        Err(error) => return Page::from(error).into_response(),
    }
    let Some((id, _csrf)) = console.sessions.create(&hash, now) else {
        return Page::error(
            StatusCode::SERVICE_UNAVAILABLE,
            "too many console sessions; try again later",
        )
        .into_response();
    };
    let mut response = Redirect::to("/").into_response();
    let headers = response.headers_mut();
    for cookie in [
        set_cookie(&console, session::COOKIE, &id),
        set_cookie(&console, session::LOGIN_COOKIE, ""),
    ] {
        if let Ok(value) = cookie.parse() {
            headers.append(header::SET_COOKIE, value);
        }
    }
    response
}

/// A form that carries only the CSRF token.
#[derive(Debug, Deserialize)]
pub(super) struct CsrfForm {
    #[serde(default)]
    pub(super) csrf: String,
}

/// `POST /logout`.
pub(super) async fn logout(
    AxumState(console): AxumState<Shared>,
    viewer: Viewer,
    Form(form): Form<CsrfForm>,
) -> Result<Response, Page> {
    viewer.check_csrf(&form.csrf)?;
    console.sessions.remove(&viewer.session);
    Ok((
        [(
            header::SET_COOKIE,
            set_cookie(&console, session::COOKIE, ""),
        )],
        Redirect::to("/login"),
    )
        .into_response())
}

// ---- overview ----

/// The console's availability windows: (label, length in ms).
const WINDOWS: [(&str, i64); 3] = [("24 h", DAY_MS), ("7 d", 7 * DAY_MS), ("30 d", 30 * DAY_MS)];

/// Availability over each of [`WINDOWS`] up to `now`, for `host_id` or the
/// whole fleet (scheduled time minus unplanned downtime over scheduled time,
/// summed over the hosts), read in one pass over the store.
pub(super) async fn availabilities(
    console: &Shared,
    host_id: Option<&str>,
    now: i64,
) -> Result<Vec<(&'static str, Option<f64>)>, Page> {
    let spans: Vec<(i64, i64)> = WINDOWS
        .iter()
        .map(|(_, length)| (now - length, now))
        .collect();
    let reports = fleet_reports(
        console.state.store.as_ref(),
        &spans,
        Scope {
            host_id,
            service_id: None,
        },
    )
    .await?;
    Ok(WINDOWS
        .iter()
        .zip(reports)
        .map(|((label, _), report)| {
            let (scheduled, down) = report.hosts.iter().fold((0i64, 0i64), |(s, d), host| {
                (
                    s.saturating_add(host.availability.scheduled_ms),
                    d.saturating_add(host.availability.unplanned_downtime_ms),
                )
            });
            let percent =
                (scheduled > 0).then(|| 100.0 * (scheduled - down) as f64 / scheduled as f64);
            (*label, percent)
        })
        .collect())
}

/// `GET /`: the fleet at a glance.
pub(super) async fn overview(AxumState(console): AxumState<Shared>, viewer: Viewer) -> PageResult {
    let store = console.state.store.as_ref();
    let now = rollcall_proto::now_ms();
    let counts = store.host_counts().await?;
    let mut by_presence: BTreeMap<&str, i64> = BTreeMap::new();
    let mut by_lifecycle: BTreeMap<&str, i64> = BTreeMap::new();
    for count in &counts {
        *by_presence.entry(&count.presence).or_default() += count.count;
        *by_lifecycle.entry(&count.lifecycle).or_default() += count.count;
    }
    let open = store
        .incidents(&IncidentFilter {
            state: Some("open".into()),
            limit: 20,
            ..Default::default()
        })
        .await?;
    let availability = availabilities(&console, None, now).await?;
    let offline: Vec<_> = store
        .outages(&OutageFilter {
            since: Some(now - 400 * DAY_MS),
            limit: 10_000,
            ..Default::default()
        })
        .await?
        .into_iter()
        .filter(|outage| outage.ended_at.is_none() && outage.kind != "degraded")
        .collect();
    let mut offline_rows = Vec::new();
    for outage in offline.iter().take(50) {
        let name = store
            .host(&outage.host_id)
            .await?
            .map(|host| host.hostname)
            .unwrap_or_else(|| outage.host_id.clone());
        offline_rows.push((name, outage));
    }
    let recent = store
        .changes(&ChangeFilter {
            since: Some(now - DAY_MS),
            newest_first: true,
            limit: 20,
            ..Default::default()
        })
        .await?;
    // Hosts first seen in the last 7 days, newest first.
    let new_hosts: Vec<_> = store
        .find_hosts(&crate::store::HostQuery {
            sort: crate::store::HostSort::FirstSeenAt,
            descending: true,
            limit: 50,
            ..Default::default()
        })
        .await?
        .into_iter()
        .take_while(|host| host.first_seen_at >= now - 7 * DAY_MS)
        .collect();
    let stale = store
        .hosts(&HostFilter {
            lifecycle: Some("stale".into()),
            limit: 50,
            ..Default::default()
        })
        .await?;
    let body = html! {
        h1 { "Fleet overview" }
        section class="cards" {
            div class="card" {
                h2 { "Hosts by presence" }
                table { @for (presence, count) in &by_presence {
                    tr { th { (presence) } td class="num" { (count) } }
                } }
            }
            div class="card" {
                h2 { "Hosts by lifecycle" }
                table { @for (lifecycle, count) in &by_lifecycle {
                    tr { th { (lifecycle) } td class="num" { (count) } }
                } }
            }
            div class="card" {
                h2 { "Fleet availability" }
                table { @for (label, value) in &availability {
                    tr { th { (label) } td class="num" {
                        @match value { Some(value) => (format!("{value:.3} %")), None => "–" }
                    } }
                } }
            }
        }
        h2 { "Offline hosts" }
        @if offline_rows.is_empty() { p { "None." } } @else {
            table id="offline" {
                thead { tr { th { "Host" } th { "Since" } th { "For" } th { "Kind" } th { "Cause" } } }
                tbody { @for (name, outage) in &offline_rows {
                    tr {
                        td { a href={ "/hosts/" (outage.host_id) } { (name) } }
                        td { (when(outage.began_at)) }
                        td { (duration(now - outage.began_at)) }
                        td { (outage.kind) }
                        td { (outage.cause) }
                    }
                } }
            }
        }
        h2 { "Open incidents" }
        (incident_table(&open))
        h2 { "New hosts (first seen in the last 7 days)" }
        @if new_hosts.is_empty() { p { "None." } } @else {
            ul id="new-hosts" { @for host in &new_hosts {
                li { a href={ "/hosts/" (host.id) } { (host.hostname) } " first seen " (when(host.first_seen_at)) }
            } }
        }
        h2 { "Stale hosts" }
        @if stale.is_empty() { p { "None." } } @else {
            ul { @for host in &stale {
                li { a href={ "/hosts/" (host.id) } { (host.hostname) } " last seen " (when(host.last_seen_at)) }
            } }
        }
        h2 { "Latest changes (last 24 hours)" }
        (change_table(recent.iter()))
    };
    Ok(Page::ok(frame("Overview", Some(&viewer), body)))
}

fn incident_table(incidents: &[crate::store::Incident]) -> Markup {
    html! {
        @if incidents.is_empty() { p { "None." } } @else {
            table class="incidents" {
                thead { tr { th { "Incident" } th { "Rule" } th { "Severity" } th { "State" } th { "Opened" } } }
                tbody { @for incident in incidents {
                    tr {
                        td { a href={ "/incidents/" (incident.id) } { (incident.summary) } }
                        td { (incident.rule) }
                        td class={ "severity " (incident.severity) } { (incident.severity) }
                        td { (incident.state) }
                        td { (when(incident.opened_at)) }
                    }
                } }
            }
        }
    }
}

pub(super) fn change_table<'a>(changes: impl Iterator<Item = &'a crate::store::Change>) -> Markup {
    html! {
        table class="changes" {
            thead { tr { th { "When" } th { "Class" } th { "Item" } th { "Change" } th { "Field" } th { "Old" } th { "New" } } }
            tbody { @for change in changes {
                tr {
                    td { (when(change.at)) }
                    td { (change.class) }
                    td { (change.item_key) }
                    td { (change.change) }
                    td { (change.field) }
                    td class="value" { (short(change.old_value.as_deref().unwrap_or(""))) }
                    td class="value" { (short(change.new_value.as_deref().unwrap_or(""))) }
                }
            } }
        }
    }
}

/// At most 120 characters of `text`.
pub(super) fn short(text: &str) -> String {
    if text.chars().count() <= 120 {
        text.to_string()
    } else {
        format!("{}…", text.chars().take(120).collect::<String>())
    }
}

// ---- incidents ----

/// The incident list's filter.
#[derive(Debug, Deserialize, Default)]
pub(super) struct IncidentSearch {
    state: Option<String>,
}

/// `GET /incidents?state=`.
pub(super) async fn incidents(
    AxumState(console): AxumState<Shared>,
    viewer: Viewer,
    Query(search): Query<IncidentSearch>,
) -> PageResult {
    let state = field("state", search.state.as_deref())?.unwrap_or_else(|| "open".into());
    if !["open", "acknowledged", "resolved", "all"].contains(&state.as_str()) {
        return Err(bad("state must be open, acknowledged, resolved or all"));
    }
    let list = console
        .state
        .store
        .incidents(&IncidentFilter {
            state: Some(state.clone()),
            limit: PAGE_ROWS,
            ..Default::default()
        })
        .await?;
    let body = html! {
        h1 { "Incidents" }
        nav class="tabs" {
            @for name in ["open", "acknowledged", "resolved", "all"] {
                a href={ "/incidents?state=" (name) } class=[(name == state).then_some("current")] { (name) }
            }
        }
        (incident_table(&list))
    };
    Ok(Page::ok(frame("Incidents", Some(&viewer), body)))
}

/// `GET /incidents/{id}`.
pub(super) async fn incident(
    AxumState(console): AxumState<Shared>,
    viewer: Viewer,
    Path(id): Path<String>,
) -> PageResult {
    let store = console.state.store.as_ref();
    let incident = store
        .incident(&id)
        .await?
        .ok_or_else(|| Page::from(Error::NotFound(format!("incident {id}"))))?;
    let comments = store.comments(&id).await?;
    let refs = store.external_refs(&id).await?;
    let host = store.host(&incident.ci_id).await?;
    let operator = viewer.role >= Role::Operator;
    let body = html! {
        h1 { (incident.summary) }
        dl {
            dt { "State" } dd id="state" { (incident.state) }
            dt { "Rule" } dd { (incident.rule) }
            dt { "Severity" } dd { (incident.severity) }
            dt { "CI" } dd { @match &host {
                Some(host) => a href={ "/hosts/" (host.id) } { (host.hostname) },
                None => (incident.ci_id),
            } }
            dt { "Opened" } dd { (when(incident.opened_at)) }
            @if let Some(at) = incident.acknowledged_at {
                dt { "Acknowledged" } dd { (when(at)) " by " (incident.acknowledged_by.as_deref().unwrap_or("")) }
            }
            @if let Some(at) = incident.resolved_at { dt { "Resolved" } dd { (when(at)) } }
            dt { "Tickets" } dd { @for reference in &refs { (super::hosts::ticket(&console, reference)) " " } }
            dt { "Details" } dd class="value" { (short(&incident.details)) }
        }
        @if operator && incident.state == "open" {
            form method="post" action={ "/incidents/" (incident.id) "/acknowledge" } {
                (csrf_field(&viewer))
                button type="submit" id="acknowledge" { "Acknowledge" }
            }
        }
        h2 { "Comments" }
        @if comments.is_empty() { p { "None." } }
        @for comment in &comments {
            div class="comment" {
                p class="meta" { (comment.author) ", " (when(comment.at)) }
                p { (comment.body) }
            }
        }
        @if operator {
            form method="post" action={ "/incidents/" (incident.id) "/comments" } class="comment-form" {
                (csrf_field(&viewer))
                label for="body" { "Comment" }
                textarea id="body" name="body" maxlength="16384" required {}
                button type="submit" id="comment" { "Add comment" }
            }
        }
    };
    Ok(Page::ok(frame("Incident", Some(&viewer), body)))
}

/// `POST /incidents/{id}/acknowledge` (operator).
pub(super) async fn acknowledge(
    AxumState(console): AxumState<Shared>,
    viewer: Viewer,
    Path(id): Path<String>,
    Form(form): Form<CsrfForm>,
) -> Result<Response, Page> {
    viewer.check_csrf(&form.csrf)?;
    viewer.require(Role::Operator)?;
    let incident = console
        .state
        .store
        .incident(&id)
        .await?
        .ok_or_else(|| Page::from(Error::NotFound(format!("incident {id}"))))?;
    let acknowledged = console
        .state
        .engine
        .acknowledge(&id, &viewer.name, rollcall_proto::now_ms())
        .await?;
    if !acknowledged {
        return Err(Page::error(
            StatusCode::CONFLICT,
            &format!("the incident is {}, not open", incident.state),
        ));
    }
    Ok(Redirect::to(&format!("/incidents/{}", incident.id)).into_response())
}

/// The comment form.
#[derive(Debug, Deserialize)]
pub(super) struct CommentForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    body: String,
}

/// `POST /incidents/{id}/comments` (operator).
pub(super) async fn comment(
    AxumState(console): AxumState<Shared>,
    viewer: Viewer,
    Path(id): Path<String>,
    Form(form): Form<CommentForm>,
) -> Result<Response, Page> {
    viewer.check_csrf(&form.csrf)?;
    viewer.require(Role::Operator)?;
    let body = form.body.trim();
    if body.is_empty() || body.len() > MAX_COMMENT {
        return Err(bad(&format!("a comment is 1 to {MAX_COMMENT} bytes")));
    }
    let store = console.state.store.as_ref();
    let incident = store
        .incident(&id)
        .await?
        .ok_or_else(|| Page::from(Error::NotFound(format!("incident {id}"))))?;
    store
        .add_comment(&Comment {
            id: crate::auth::new_id(),
            incident_id: incident.id.clone(),
            author: viewer.name.clone(),
            body: body.to_string(),
            at: rollcall_proto::now_ms(),
        })
        .await?;
    Ok(Redirect::to(&format!("/incidents/{}", incident.id)).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn moments_parse_as_utc_and_bad_ones_are_refused() {
        assert_eq!(
            parse_moment("as_of", "2026-11-30T14:05:00").ok(),
            Some(1_796_047_500_000)
        );
        assert_eq!(
            parse_moment("as_of", "2026-11-30T14:05").ok(),
            Some(1_796_047_500_000)
        );
        assert_eq!(
            parse_moment("as_of", "2026-11-30").ok(),
            Some(1_795_996_800_000)
        );
        for bad in ["yesterday", "2026-13-01", "<script>", "1796047500000"] {
            assert!(parse_moment("as_of", bad).is_err(), "{bad}");
        }
        assert_eq!(input_value(1_796_047_500_000), "2026-11-30T14:05:00");
        assert_eq!(when(1_796_047_500_000), "2026-11-30 14:05:00 UTC");
    }

    #[test]
    fn fields_are_trimmed_and_bounded() {
        assert_eq!(field("q", Some("  web ")).ok(), Some(Some("web".into())));
        assert_eq!(field("q", Some("   ")).ok(), Some(None));
        assert!(field("q", Some(&"x".repeat(MAX_FIELD + 1))).is_err());
        assert_eq!(duration(59_000), "59 s");
        assert_eq!(duration(3_660_000), "1 h 1 min");
        assert_eq!(duration(90_000_000), "1 d 1 h");
    }
}
