//! `/api/v1/availability`: the report.

use axum::http::{Method, StatusCode};
use serde_json::json;

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
        ("window=30d&since=1", "give either window=30d or since"),
        ("since=2000&until=1000", "until must be after since"),
        ("format=pdf", "format must be json or csv"),
        ("period=1d", "unknown field `period`"),
    ] {
        let reply = app
            .get(&format!("/api/v1/availability?{query}"), &app.viewer)
            .await;
        App::assert_bad_request(&reply, needle);
    }
}
