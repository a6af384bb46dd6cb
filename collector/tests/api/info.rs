//! `/healthz`, `/api/v1/info`, `/metrics` and unknown routes. These take no
//! query or body, so there is no 400 case.

use axum::http::{Method, StatusCode};
use serde_json::json;

use crate::support::App;

#[tokio::test]
async fn health_needs_no_token_and_info_names_the_collector() {
    let app = App::new().await;
    let health = app.send(Method::GET, "/healthz", None, None).await;
    assert_eq!(health.status, StatusCode::OK);
    assert_eq!(health.body, json!({ "status": "ok" }));

    let info = app.get("/api/v1/info", &app.viewer).await;
    assert_eq!(info.status, StatusCode::OK, "{info:?}");
    assert_eq!(info.body["version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(info.body["backend"], "sqlite");
    assert_eq!(
        info.body["ca_fingerprint"],
        app.state.pki.ca_fingerprint.as_str()
    );
    assert_eq!(info.body["open_sessions"], 0);
}

#[tokio::test]
async fn info_needs_a_token() {
    let app = App::new().await;
    app.assert_needs_token(Method::GET, "/api/v1/info", None)
        .await;
}

#[tokio::test]
async fn metrics_are_prometheus_text() {
    let app = App::new().await;
    let host = app.host("web", &[]).await;
    app.incident(&host).await;
    let metrics = app.send(Method::GET, "/metrics", None, None).await;
    assert_eq!(metrics.status, StatusCode::OK);
    assert_eq!(
        metrics.headers["content-type"].to_str().ok(),
        Some("text/plain; version=0.0.4")
    );
    let text = metrics.text();
    for line in [
        "# TYPE rollcall_hosts gauge",
        "rollcall_hosts{presence=\"up\"} 0",
        "rollcall_hosts{presence=\"maintenance\"} 0",
        "rollcall_sessions_open 0",
        "rollcall_messages_total{type=\"heartbeat\"} 0",
        "rollcall_inventory_apply_seconds_count 0",
        "rollcall_sessions_total{encoding=\"gzip\"} 0",
        "# TYPE rollcall_incidents_open gauge",
        "rollcall_incidents_open{rule=\"host_down\",severity=\"critical\"} 1",
        "# TYPE rollcall_hosts_by_class gauge",
        "rollcall_hosts_by_class{class=\"linux_server\",lifecycle=\"active\",presence=\"unknown\"} 1",
        "# TYPE rollcall_ingest_seconds histogram",
        "rollcall_ingest_seconds_count{type=\"snapshot\"} 0",
        "# TYPE rollcall_store_seconds histogram",
        "rollcall_enroll_attempts_total 0",
        "# TYPE rollcall_outbox_entries gauge",
    ] {
        assert!(
            text.lines().any(|l| l == line),
            "{line:?} missing from\n{text}"
        );
    }
}

#[tokio::test]
async fn unknown_routes_are_json_404s() {
    let app = App::new().await;
    let reply = app.get("/api/v1/nothing-here", &app.viewer).await;
    assert_eq!(reply.status, StatusCode::NOT_FOUND);
    assert_eq!(
        reply.body,
        json!({ "error": "not found: no such API route" })
    );
}
