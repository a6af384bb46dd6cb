//! `/api/v1/outages`.

use axum::http::{Method, StatusCode};

use crate::support::App;

#[tokio::test]
async fn outages_are_listed_with_their_duration() {
    let app = App::new().await;
    let down = app.host("down", &[]).await;
    let up = app.host("up", &[]).await;
    let id = app.outage(&down, 60_000).await;

    let all = app.get("/api/v1/outages", &app.viewer).await;
    assert_eq!(all.status, StatusCode::OK, "{all:?}");
    let items = all.body["items"].as_array().expect("items");
    assert_eq!(items.len(), 1);
    assert_eq!(items[0]["id"], id.as_str());
    assert_eq!(items[0]["kind"], "unplanned");
    assert!(items[0]["duration_ms"].is_null(), "still open");

    let other = app
        .get(&format!("/api/v1/outages?host_id={up}"), &app.viewer)
        .await;
    assert_eq!(other.body["items"].as_array().map(Vec::len), Some(0));
    let csv = app.get("/api/v1/outages?format=csv", &app.viewer).await;
    assert!(csv.text().starts_with("began_at,"), "{}", csv.text());
    assert!(csv.text().contains(&id));
}

#[tokio::test]
async fn outages_need_a_token() {
    let app = App::new().await;
    app.assert_needs_token(Method::GET, "/api/v1/outages", None)
        .await;
}

#[tokio::test]
async fn outages_reject_bad_queries() {
    let app = App::new().await;
    App::assert_bad_request(
        &app.get("/api/v1/outages?limit=0", &app.viewer).await,
        "limit must be between 1 and 10000",
    );
    App::assert_bad_request(
        &app.get("/api/v1/outages?since=soon", &app.viewer).await,
        "since",
    );
    App::assert_bad_request(
        &app.get("/api/v1/outages?host=x", &app.viewer).await,
        "unknown field `host`",
    );
}

#[tokio::test]
async fn outage_lists_refuse_times_out_of_range() {
    let app = App::new().await;
    App::assert_bad_request(
        &app.get(&format!("/api/v1/outages?since={}", i64::MIN), &app.viewer)
            .await,
        "since -9223372036854775808 is out of range",
    );
    App::assert_bad_request(
        &app.get(&format!("/api/v1/outages?until={}", i64::MAX), &app.viewer)
            .await,
        "until 9223372036854775807 is out of range",
    );
}
