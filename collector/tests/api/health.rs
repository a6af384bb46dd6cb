//! `/api/v1/hosts/{id}/health`: raw samples, series from raw samples and
//! rollups (the retention job run at explicit times), CSV, the token
//! check, every bound refused with a 400 naming it, and 404.

use axum::http::{Method, StatusCode};
use rollcall_collector::cmdb::retention;
use rollcall_collector::cmdb::rollup::{DAY_MS, FIVE_MINUTES_MS, HOUR_MS, encode_sample};
use rollcall_collector::config::HealthConfig;
use rollcall_collector::store::ApplyContext;
use rollcall_proto::v1::HealthReport;
use tokio_util::sync::CancellationToken;

use crate::support::App;

/// A day boundary in 2027, inside the API's time bounds.
const DAY: i64 = 1_800_000_000_000 - 1_800_000_000_000 % DAY_MS;

/// A host with three samples rolled into the 5-minute bucket at `DAY`
/// (cpu 10, 20, 30) and one raw sample three days later (cpu 50).
async fn host_with_health(app: &App) -> String {
    let id = app.host("web", &[]).await;
    let samples = [
        (DAY, 10.0),
        (DAY + 60_000, 20.0),
        (DAY + 120_000, 30.0),
        (DAY + 3 * DAY_MS, 50.0),
    ];
    for (seq, (at, cpu)) in samples.into_iter().enumerate() {
        let report = HealthReport {
            sampled_at_ms: at,
            cpu_percent: cpu,
            ..Default::default()
        };
        let context = ApplyContext {
            agent_id: "agent-web".into(),
            host_id: id.clone(),
            seq: seq as i64 + 2,
            at,
        };
        app.state
            .store
            .record_health(&context, at, &encode_sample(&report))
            .await
            .expect("record health");
    }
    let done = retention::pass(
        app.state.store.as_ref(),
        &HealthConfig::default(),
        DAY + 3 * DAY_MS + HOUR_MS,
        &CancellationToken::new(),
    )
    .await
    .expect("retention pass");
    assert_eq!(done.raw, 3, "{done:?}");
    id
}

#[tokio::test]
async fn samples_and_series_come_from_raw_samples_and_rollups() {
    let app = App::new().await;
    let id = host_with_health(&app).await;
    let raw = app
        .get(&format!("/api/v1/hosts/{id}/health"), &app.viewer)
        .await;
    assert_eq!(raw.status, StatusCode::OK, "{raw:?}");
    let items = raw.body["items"].as_array().expect("items");
    assert_eq!(
        items.len(),
        1,
        "rolled-up samples are no longer raw: {raw:?}"
    );
    assert_eq!(items[0]["sampled_at"], DAY + 3 * DAY_MS);
    assert_eq!(items[0]["sample"]["cpu_percent"], 50.0);
    let detail = app.get(&format!("/api/v1/hosts/{id}"), &app.viewer).await;
    assert_eq!(detail.body["health"]["cpu_percent"], 50.0, "{detail:?}");

    let until = DAY + 3 * DAY_MS + HOUR_MS;
    let series = app
        .get(
            &format!("/api/v1/hosts/{id}/health?since={DAY}&until={until}&step=60"),
            &app.viewer,
        )
        .await;
    assert_eq!(series.status, StatusCode::OK, "{series:?}");
    let body = &series.body;
    assert_eq!(body["requested_step"], 60);
    assert_eq!(body["step"], 300, "raised to the 5-minute buckets read");
    assert_eq!(body["read"]["raw"], 1);
    assert_eq!(body["read"]["five_minute"], 1);
    assert_eq!(body["read"]["hourly"], 0);
    let points = body["items"].as_array().expect("points");
    assert_eq!(points.len(), 2, "{body}");
    assert_eq!(points[0]["start"], DAY);
    assert_eq!(points[0]["count"], 3);
    assert_eq!(points[0]["cpu_percent_min"], 10.0);
    assert_eq!(points[0]["cpu_percent_avg"], 20.0);
    assert_eq!(points[0]["cpu_percent_max"], 30.0);
    assert_eq!(
        points[1]["start"],
        DAY + 3 * DAY_MS - (DAY + 3 * DAY_MS) % FIVE_MINUTES_MS
    );
    assert_eq!(points[1]["cpu_percent_max"], 50.0);

    let daily = app
        .get(
            &format!("/api/v1/hosts/{id}/health?since={DAY}&until={until}&step=86400"),
            &app.viewer,
        )
        .await;
    let points = daily.body["items"].as_array().expect("points");
    assert_eq!(daily.body["step"], 86_400);
    assert_eq!(points.len(), 2, "{daily:?}");
    let csv = app
        .get(
            &format!("/api/v1/hosts/{id}/health?since={DAY}&until={until}&step=3600&format=csv"),
            &app.viewer,
        )
        .await;
    assert_eq!(csv.status, StatusCode::OK);
    let header = csv.text().lines().next().unwrap_or_default().to_string();
    assert!(
        header.contains("cpu_percent_avg") && header.contains("start"),
        "{header}"
    );
    assert_eq!(csv.text().lines().count(), 3, "{}", csv.text());
}

#[tokio::test]
async fn health_needs_a_token() {
    let app = App::new().await;
    let id = app.host("h", &[]).await;
    for uri in [
        format!("/api/v1/hosts/{id}/health"),
        format!("/api/v1/hosts/{id}/health?step=300"),
    ] {
        app.assert_needs_token(Method::GET, &uri, None).await;
    }
}

#[tokio::test]
async fn health_refuses_bad_windows_and_steps_by_name() {
    let app = App::new().await;
    let id = app.host("h", &[]).await;
    let base = format!("/api/v1/hosts/{id}/health");
    let month = DAY + 30 * DAY_MS;
    let cases = [
        (
            format!("{base}?step=1"),
            "step must be between 60 and 2678400 seconds",
        ),
        (format!("{base}?step=many"), "step"),
        (
            format!("{base}?step=300&since=5&until={DAY}"),
            "since 5 is out of range",
        ),
        (
            format!("{base}?step=300&until=-1"),
            "until -1 is out of range",
        ),
        (
            format!("{base}?step=300&since={DAY}&until={DAY}"),
            "until must be after since",
        ),
        (
            format!("{base}?step=86400&since=946684800000&until=7258118400000"),
            "at most 3660 days",
        ),
        (
            format!("{base}?step=60&since={DAY}&until={month}"),
            "is 43200 points: at most 10000",
        ),
        (format!("{base}?since=1"), "since 1 is out of range"),
        (
            format!("{base}?limit=5000"),
            "limit must be between 1 and 1000",
        ),
        (format!("{base}?format=xml"), "format must be json or csv"),
        (format!("{base}?bogus=1"), "unknown field `bogus`"),
    ];
    for (uri, needle) in cases {
        App::assert_bad_request(&app.get(&uri, &app.viewer).await, needle);
    }
    let missing = app
        .get("/api/v1/hosts/nope/health?step=1", &app.viewer)
        .await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND, "{missing:?}");
    assert_eq!(missing.error(), "not found: host nope");
}
