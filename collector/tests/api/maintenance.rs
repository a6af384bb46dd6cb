//! `/api/v1/maintenance`.

use axum::http::{Method, StatusCode};
use rollcall_collector::auth::Role;
use serde_json::{Value, json};

use crate::support::App;

/// 2027-01-15T00:00:00Z (ms).
const START: i64 = 1_800_000_000_000;

fn window(scope: &str) -> Value {
    json!({
        "scope": scope, "target": "web", "starts_at": START, "ends_at": START + 3_600_000,
        "recurrence": "weekly", "reason": "patching",
    })
}

#[tokio::test]
async fn maintenance_windows_are_created_listed_and_deleted() {
    let app = App::new().await;
    let created = app
        .send(
            Method::POST,
            "/api/v1/maintenance",
            Some(&app.operator),
            Some(window("tag")),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{created:?}");
    let id = created.body["id"].as_str().expect("id").to_string();
    assert_eq!(created.body["recurrence"], "weekly");

    let list = app.get("/api/v1/maintenance", &app.viewer).await;
    assert_eq!(list.status, StatusCode::OK);
    assert_eq!(list.body["items"][0]["id"], id.as_str());
    assert_eq!(list.body["items"][0]["reason"], "patching");

    let uri = format!("/api/v1/maintenance/{id}");
    let deleted = app
        .send(Method::DELETE, &uri, Some(&app.operator), None)
        .await;
    assert_eq!(deleted.body, json!({ "deleted": id }));
    let again = app
        .send(Method::DELETE, &uri, Some(&app.operator), None)
        .await;
    assert_eq!(again.status, StatusCode::NOT_FOUND);
    let list = app.get("/api/v1/maintenance", &app.viewer).await;
    assert_eq!(list.body["items"], json!([]));
}

#[tokio::test]
async fn maintenance_needs_a_token() {
    let app = App::new().await;
    app.assert_needs_token(Method::GET, "/api/v1/maintenance", None)
        .await;
    app.assert_needs_token(Method::POST, "/api/v1/maintenance", Some(window("host")))
        .await;
    app.assert_needs_token(Method::DELETE, "/api/v1/maintenance/x", None)
        .await;
}

#[tokio::test]
async fn viewers_may_not_change_maintenance() {
    let app = App::new().await;
    let created = app
        .send(
            Method::POST,
            "/api/v1/maintenance",
            Some(&app.operator),
            Some(window("host")),
        )
        .await;
    let id = created.body["id"].as_str().expect("id");
    app.assert_forbidden(
        Method::POST,
        "/api/v1/maintenance",
        &app.viewer,
        Some(window("host")),
        Role::Operator,
    )
    .await;
    app.assert_forbidden(
        Method::DELETE,
        &format!("/api/v1/maintenance/{id}"),
        &app.viewer,
        None,
        Role::Operator,
    )
    .await;
    let list = app.get("/api/v1/maintenance", &app.viewer).await;
    assert_eq!(
        list.body["items"].as_array().map(Vec::len),
        Some(1),
        "still there"
    );
}

#[tokio::test]
async fn maintenance_rejects_bad_bodies() {
    let app = App::new().await;
    let mut backwards = window("host");
    backwards["ends_at"] = json!(START - 1);
    let mut monthly = window("host");
    monthly["recurrence"] = json!("monthly");
    let mut untargeted = window("host");
    untargeted["target"] = json!("");
    for (body, needle) in [
        (window("rack"), "scope must be host, tag or service"),
        (backwards, "ends_at must be after starts_at"),
        (monthly, "recurrence must be empty, daily or weekly"),
        (untargeted, "target must be 1 to 256 bytes"),
        (json!({ "scope": "host" }), "missing field"),
        (json!({ "starts_at": "noon" }), "starts_at"),
    ] {
        let reply = app
            .send(
                Method::POST,
                "/api/v1/maintenance",
                Some(&app.operator),
                Some(body),
            )
            .await;
        App::assert_bad_request(&reply, needle);
    }
}

/// The probe's poison windows and other extremes: each is a 400 naming the
/// limit, and nothing is written.
#[tokio::test]
async fn out_of_range_windows_are_refused_and_nothing_is_written() {
    let app = App::new().await;
    let day: i64 = 86_400_000;
    let with = |changes: Value| {
        let mut body = window("service");
        for (key, value) in changes.as_object().into_iter().flatten() {
            body[key] = value.clone();
        }
        body
    };
    for (body, needle) in [
        (
            with(json!({ "starts_at": i64::MIN, "recurrence": "daily" })),
            "starts_at -9223372036854775808 is out of range",
        ),
        (
            with(json!({ "ends_at": i64::MAX, "recurrence": "" })),
            "ends_at 9223372036854775807 is out of range",
        ),
        (
            with(json!({ "starts_at": i64::MIN, "ends_at": i64::MAX })),
            "between 946684800000 (2000-01-01) and 7258118400000 (2200-01-01)",
        ),
        (with(json!({ "starts_at": 0, "ends_at": 1 })), "starts_at 0"),
        (
            with(json!({ "ends_at": START + 2 * day, "recurrence": "daily" })),
            "a daily window lasts at most 1 days",
        ),
        (
            with(json!({ "ends_at": START + 30 * day, "recurrence": "weekly" })),
            "a weekly window lasts at most 7 days",
        ),
        (
            with(json!({ "ends_at": START + 400 * day, "recurrence": "" })),
            "a one-off window lasts at most 366 days",
        ),
        (
            with(json!({ "recurrence": "daily".repeat(100_000) })),
            "recurrence must be empty, daily or weekly",
        ),
    ] {
        let reply = app
            .send(
                Method::POST,
                "/api/v1/maintenance",
                Some(&app.operator),
                Some(body),
            )
            .await;
        App::assert_bad_request(&reply, needle);
    }
    assert!(
        app.state
            .store
            .maintenance_windows()
            .await
            .expect("windows")
            .is_empty(),
        "nothing was written"
    );
    let report = app.get("/api/v1/availability?window=1d", &app.viewer).await;
    assert_eq!(report.status, StatusCode::OK, "{report:?}");
}

/// 2026-11-10T00:00:00Z (ms): the report below covers this day and the six after it.
const D0: i64 = 1_794_268_800_000;
const H: i64 = 3_600_000;
const DAY: i64 = 24 * H;

/// A maintenance window created through the API.
async fn maintain(app: &App, body: Value) {
    let created = app
        .send(
            Method::POST,
            "/api/v1/maintenance",
            Some(&app.operator),
            Some(body),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{created:?}");
}

/// Host-, tag- and service-scoped, one-off and daily and weekly recurring
/// windows, each excluding exactly its time from availability over the
/// week from `D0`, with outages written into the store at explicit instants.
#[tokio::test]
async fn scoped_and_recurring_windows_exclude_exactly_their_time() {
    let app = App::new().await;
    let by_host = app.host("by-host", &[]).await;
    let tagged = app.host("tagged", &[]).await;
    let untagged = app.host("untagged", &[]).await;
    let member = app.host("member", &[]).await;
    let daily = app.host("daily", &[]).await;
    let weekly = app.host("weekly", &[]).await;
    let tags = app
        .send(
            Method::PUT,
            &format!("/api/v1/hosts/{tagged}/tags"),
            Some(&app.operator),
            Some(json!({ "tags": ["db", "berlin"] })),
        )
        .await;
    assert_eq!(tags.status, StatusCode::OK, "{tags:?}");
    let service = app
        .send(
            Method::POST,
            "/api/v1/services",
            Some(&app.operator),
            Some(json!({ "name": "shop", "min_up": 1, "members": [member] })),
        )
        .await;
    assert_eq!(service.status, StatusCode::CREATED, "{service:?}");
    let shop = service.body["id"].as_str().expect("id").to_string();

    // Every host but the weekly one is down 10:00–12:00 on D0.
    for host in [&by_host, &tagged, &untagged, &member] {
        app.outage_between(host, D0 + 10 * H, D0 + 12 * H).await;
    }
    // The daily one on D0 + 1, 02:30–04:00.
    app.outage_between(&daily, D0 + DAY + 5 * H / 2, D0 + DAY + 4 * H)
        .await;
    let one_off = |scope: &str, target: &str, from: i64, to: i64| {
        json!({ "scope": scope, "target": target, "starts_at": from, "ends_at": to,
                "recurrence": "", "reason": "test" })
    };
    // 11:00–14:00: the outage's second hour is planned.
    maintain(&app, one_off("host", &by_host, D0 + 11 * H, D0 + 14 * H)).await;
    // 09:00–12:00 on every host tagged db: all of the tagged host's outage.
    maintain(&app, one_off("tag", "db", D0 + 9 * H, D0 + 12 * H)).await;
    // 10:00–11:00 on the members of shop.
    maintain(&app, one_off("service", &shop, D0 + 10 * H, D0 + 11 * H)).await;
    // 02:00–03:00 every day, begun ten days before the report.
    maintain(
        &app,
        json!({ "scope": "host", "target": daily, "starts_at": D0 - 10 * DAY + 2 * H,
                "ends_at": D0 - 10 * DAY + 3 * H, "recurrence": "daily", "reason": "backup" }),
    )
    .await;
    // 05:00–06:00 once a week, begun a week before: once in the report, on D0.
    maintain(
        &app,
        json!({ "scope": "host", "target": weekly, "starts_at": D0 - 7 * DAY + 5 * H,
                "ends_at": D0 - 7 * DAY + 6 * H, "recurrence": "weekly", "reason": "patching" }),
    )
    .await;

    let until = D0 + 7 * DAY;
    let report = app
        .get(
            &format!("/api/v1/availability?since={D0}&until={until}"),
            &app.viewer,
        )
        .await;
    assert_eq!(report.status, StatusCode::OK, "{report:?}");
    let row = |id: &str| {
        report.body["hosts"]
            .as_array()
            .and_then(|rows| rows.iter().find(|row| row["host_id"] == id))
            .map(|row| row["availability"].clone())
            .expect("a row per host")
    };
    let week = 7 * DAY;
    // (host, scheduled, unplanned, failures)
    for (name, host, scheduled, unplanned, failures) in [
        ("by host", &by_host, week - 3 * H, H, 1),
        ("by tag", &tagged, week - 3 * H, 0, 0),
        ("tag elsewhere", &untagged, week, 2 * H, 1),
        ("by service", &member, week - H, H, 0),
        // Seven occurrences of one hour; 02:30–03:00 of the outage planned.
        ("daily", &daily, week - 7 * H, 3 * H / 2 - H / 2, 0),
        ("weekly", &weekly, week - H, 0, 0),
    ] {
        let figures = row(host);
        assert_eq!(
            figures["scheduled_ms"].as_i64(),
            Some(scheduled),
            "{name}: {figures}"
        );
        assert_eq!(
            figures["unplanned_downtime_ms"].as_i64(),
            Some(unplanned),
            "{name}: {figures}"
        );
        assert_eq!(
            figures["failures"].as_u64(),
            Some(failures),
            "{name}: {figures}"
        );
    }
    // The service: its member's 10:00–11:00 is planned, 11:00–12:00 is not.
    let services = report.body["services"].as_array().expect("services");
    assert_eq!(services.len(), 1);
    let figures = &services[0]["availability"];
    assert_eq!(figures["scheduled_ms"].as_i64(), Some(week - H));
    assert_eq!(figures["unplanned_downtime_ms"].as_i64(), Some(H));

    // Untagging takes the host out of the tag's window.
    let untag = app
        .send(
            Method::PUT,
            &format!("/api/v1/hosts/{tagged}/tags"),
            Some(&app.operator),
            Some(json!({ "tags": [] })),
        )
        .await;
    assert_eq!(untag.status, StatusCode::OK, "{untag:?}");
    let report = app
        .get(
            &format!("/api/v1/availability?host_id={tagged}&since={D0}&until={until}"),
            &app.viewer,
        )
        .await;
    let figures = &report.body["hosts"][0]["availability"];
    assert_eq!(figures["scheduled_ms"].as_i64(), Some(week));
    assert_eq!(figures["unplanned_downtime_ms"].as_i64(), Some(2 * H));
}
