//! `/api/v1/availability`: the report.

use axum::http::{Method, StatusCode};
use serde_json::json;

use rollcall_collector::store::MaintenanceWindow;

use crate::support::App;

#[tokio::test]
async fn availability_reports_hosts_and_services() {
    let app = App::new().await;
    let down = app.host("down", &[]).await;
    let fine = app.host("fine", &[]).await;
    app.outage(&down, 3_600_000).await;
    let service = app
        .send(
            Method::POST,
            "/api/v1/services",
            Some(&app.operator),
            Some(json!({ "name": "shop", "min_up": 2, "members": [down, fine] })),
        )
        .await;
    assert_eq!(service.status, StatusCode::CREATED, "{service:?}");

    let report = app.get("/api/v1/availability?window=1d", &app.viewer).await;
    assert_eq!(report.status, StatusCode::OK, "{report:?}");
    let from = report.body["from"].as_i64().expect("from");
    let to = report.body["to"].as_i64().expect("to");
    assert_eq!(to - from, 86_400_000);
    let hosts = report.body["hosts"].as_array().expect("hosts");
    assert_eq!(hosts.len(), 2);
    let percent = |id: &str| {
        hosts
            .iter()
            .find(|row| row["host_id"] == id)
            .and_then(|row| row["availability"]["availability_percent"].as_f64())
            .expect("a row per host")
    };
    assert!(percent(&down) < 100.0, "an hour down");
    assert!((percent(&fine) - 100.0).abs() < 1e-9);
    let services = report.body["services"].as_array().expect("services");
    assert_eq!(services[0]["name"], "shop");
    assert_eq!(services[0]["members"], 2);
    assert_eq!(
        services[0]["sla_met"], false,
        "both of two must be up; one was down"
    );

    let one = app
        .get(&format!("/api/v1/availability?host_id={fine}"), &app.viewer)
        .await;
    assert_eq!(one.body["hosts"].as_array().map(Vec::len), Some(1));
    let csv = app
        .get("/api/v1/availability?format=csv", &app.viewer)
        .await;
    assert!(
        csv.text()
            .starts_with("availability_percent,failures,host_id,hostname,"),
        "{}",
        csv.text()
    );
    let missing = app
        .get("/api/v1/availability?host_id=nope", &app.viewer)
        .await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn availability_needs_a_token() {
    let app = App::new().await;
    app.assert_needs_token(Method::GET, "/api/v1/availability", None)
        .await;
}

#[tokio::test]
async fn availability_rejects_bad_windows() {
    let app = App::new().await;
    for (query, needle) in [
        ("window=5y", "unit must be s, m, h, d or w"),
        ("window=0d", "must be positive"),
        (
            "window=30d&since=1",
            "give one of window=30d, since (and until), or period=2026-11",
        ),
        (
            "since=1800000002000&until=1800000001000",
            "until must be after since",
        ),
        ("format=pdf", "format must be json or csv"),
        ("period=1d", "period \"1d\" is not YYYY-MM"),
        ("zone=UTC", "unknown field `zone`"),
    ] {
        let reply = app
            .get(&format!("/api/v1/availability?{query}"), &app.viewer)
            .await;
        App::assert_bad_request(&reply, needle);
    }
}

/// Finding 1 of issue 12: a daily window on a business service and a
/// viewer asking up to `i64::MAX` made the expansion allocate one span per
/// day until the process died. Now: a 400 naming the limit, and the API
/// keeps answering.
#[tokio::test]
async fn an_endless_window_is_a_400_and_the_api_keeps_serving() {
    let app = App::new().await;
    let member = app.host("member", &[]).await;
    let service = app
        .send(
            Method::POST,
            "/api/v1/services",
            Some(&app.operator),
            Some(json!({ "name": "shop", "min_up": 1, "members": [member] })),
        )
        .await;
    assert_eq!(service.status, StatusCode::CREATED, "{service:?}");
    let service_id = service.body["id"].as_str().expect("id").to_string();
    let now = rollcall_proto::now_ms();
    let window = app
        .send(
            Method::POST,
            "/api/v1/maintenance",
            Some(&app.operator),
            Some(json!({
                "scope": "service", "target": service_id, "starts_at": now - 3_600_000,
                "ends_at": now, "recurrence": "daily", "reason": "nightly backup",
            })),
        )
        .await;
    assert_eq!(window.status, StatusCode::CREATED, "{window:?}");

    let max = i64::MAX;
    let min = i64::MIN;
    let eleven_years = now + 11 * 366 * 86_400_000;
    for (query, needle) in [
        (
            format!("since={now}&until={max}"),
            "until 9223372036854775807 is out of range",
        ),
        (
            format!("since={min}&until={now}"),
            "since -9223372036854775808",
        ),
        (format!("since={min}"), "since -9223372036854775808"),
        (format!("since=0&until={now}"), "since 0 is out of range"),
        (
            format!("since={now}&until={eleven_years}"),
            "at most 3660 days (316224000000 ms)",
        ),
        (
            format!("since={now}&until={now}"),
            "until must be after since",
        ),
        ("window=3661d".to_string(), "at most 3660 days"),
    ] {
        let reply = app
            .get(&format!("/api/v1/availability?{query}"), &app.viewer)
            .await;
        App::assert_bad_request(&reply, needle);
    }

    let health = app.send(Method::GET, "/healthz", None, None).await;
    assert_eq!(health.status, StatusCode::OK, "{health:?}");
    let ten_years = app
        .get("/api/v1/availability?window=3660d", &app.viewer)
        .await;
    assert_eq!(ten_years.status, StatusCode::OK, "{ten_years:?}");
    assert_eq!(ten_years.body["services"][0]["name"], "shop");
    let planned = ten_years.body["services"][0]["availability"]["scheduled_ms"]
        .as_i64()
        .expect("scheduled_ms");
    assert!(
        planned < 3_660 * 86_400_000,
        "the nightly window is excluded"
    );
}

/// A window written before the bounds existed (straight into the store
/// here) is skipped with a warning: it neither crashes nor poisons later
/// reports, and a good window beside it still counts.
#[tokio::test]
async fn a_stored_poison_window_is_skipped_and_does_not_poison_reports() {
    let app = App::new().await;
    let host = app.host("poisoned", &[]).await;
    app.outage(&host, 3_600_000).await;
    let now = rollcall_proto::now_ms();
    let poison = |id: &str, starts_at: i64, ends_at: i64, recurrence: &str| MaintenanceWindow {
        id: id.into(),
        scope: "host".into(),
        target: host.clone(),
        starts_at,
        ends_at,
        recurrence: recurrence.into(),
        reason: "poison".into(),
        created_at: now,
    };
    for window in [
        poison("min", i64::MIN, now, "daily"),
        poison("max", now - 1, i64::MAX, "weekly"),
        poison("both", i64::MIN, i64::MAX, ""),
        poison("good", now - 1_800_000, now, ""),
    ] {
        app.state
            .store
            .create_maintenance(&window)
            .await
            .expect("a pre-fix row");
    }
    for _ in 0..2 {
        let report = app
            .get(
                &format!("/api/v1/availability?host_id={host}&window=1d"),
                &app.viewer,
            )
            .await;
        assert_eq!(report.status, StatusCode::OK, "{report:?}");
        let figures = &report.body["hosts"][0]["availability"];
        assert_eq!(
            figures["scheduled_ms"].as_i64(),
            Some(86_400_000 - 1_800_000),
            "only the good window is excluded: {figures}"
        );
        let down = figures["unplanned_downtime_ms"].as_i64().expect("downtime");
        assert!(
            (1_700_000..=1_900_000).contains(&down),
            "an hour down, half of it in the good window: {down}"
        );
    }
    let listed = app.get("/api/v1/maintenance", &app.viewer).await;
    assert_eq!(
        listed.body["items"].as_array().map(Vec::len),
        Some(4),
        "still listed, so an operator can delete them"
    );
}

/// Degraded time from critical incidents opened and resolved through the
/// engine at explicit instants: listed as a `degraded` outage and reported
/// apart from downtime, without lowering availability.
#[tokio::test]
async fn degraded_time_is_recorded_and_reported_apart_from_downtime() {
    use rollcall_collector::incidents::engine::IncidentSpec;
    use rollcall_collector::incidents::event::Severity;

    let app = App::new().await;
    let host = app.host("degraded", &[]).await;
    // 2026-11-10T10:00Z; critical 10:00–13:00, down 12:00–12:30.
    let t0: i64 = 1_794_304_800_000;
    let h: i64 = 3_600_000;
    let spec = |rule: &str, severity: Severity| IncidentSpec {
        ci_id: host.clone(),
        rule: rule.into(),
        severity,
        summary: format!("{rule} on degraded"),
        description: String::new(),
        details: json!({}),
        suppressed: false,
        parent_id: None,
    };
    let engine = &app.state.engine;
    engine
        .open(spec("filesystem_usage", Severity::Critical), t0)
        .await
        .expect("open");
    engine
        .open(spec("memory_pressure", Severity::Warning), t0 + h)
        .await
        .expect("open");
    app.outage_between(&host, t0 + 2 * h, t0 + 2 * h + h / 2)
        .await;
    engine
        .resolve(&host, "filesystem_usage", t0 + 3 * h)
        .await
        .expect("resolve");
    engine
        .resolve(&host, "memory_pressure", t0 + 4 * h)
        .await
        .expect("resolve");

    let outages = app
        .get(
            &format!("/api/v1/outages?host_id={host}&kind=degraded"),
            &app.viewer,
        )
        .await;
    assert_eq!(outages.status, StatusCode::OK, "{outages:?}");
    let items = outages.body["items"].as_array().expect("items");
    assert_eq!(items.len(), 1, "{items:?}");
    assert_eq!(items[0]["began_at"].as_i64(), Some(t0));
    assert_eq!(items[0]["ended_at"].as_i64(), Some(t0 + 3 * h));

    let since = t0 - h;
    let until = t0 + 9 * h;
    let report = app
        .get(
            &format!("/api/v1/availability?host_id={host}&since={since}&until={until}"),
            &app.viewer,
        )
        .await;
    assert_eq!(report.status, StatusCode::OK, "{report:?}");
    let figures = &report.body["hosts"][0]["availability"];
    assert_eq!(figures["unplanned_downtime_ms"].as_i64(), Some(h / 2));
    assert_eq!(
        figures["degraded_ms"].as_i64(),
        Some(3 * h - h / 2),
        "10:00–13:00 less the half hour down: {figures}"
    );
    let percent = figures["availability_percent"].as_f64().expect("percent");
    let expected = (10 * h - h / 2) as f64 * 100.0 / (10 * h) as f64;
    assert!(
        (percent - expected).abs() < 1e-9,
        "degraded is up: {percent}"
    );
}
