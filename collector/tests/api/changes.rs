//! `/api/v1/changes` and `/api/v1/hosts/{id}/changes`.

use axum::http::{Method, StatusCode};

use crate::support::App;

#[tokio::test]
async fn changes_are_listed_per_host_and_fleet_wide_with_cursors() {
    let app = App::new().await;
    let a = app.host("a", &[("bash", "5.2")]).await;
    app.host("b", &[("bash", "5.2")]).await;

    let host = app
        .get(&format!("/api/v1/hosts/{a}/changes"), &app.viewer)
        .await;
    assert_eq!(host.status, StatusCode::OK, "{host:?}");
    let items = host.body["items"].as_array().expect("items");
    assert!(!items.is_empty(), "the first inventory is recorded");
    assert!(
        items.iter().all(|change| change["host_id"] == a.as_str()),
        "{items:?}"
    );

    let fleet = app.get("/api/v1/changes", &app.viewer).await;
    let fleet_items = fleet.body["items"].as_array().expect("items");
    assert!(
        fleet_items.len() > items.len(),
        "both hosts: {fleet_items:?}"
    );

    let page = app.get("/api/v1/changes?limit=1", &app.viewer).await;
    assert_eq!(page.body["items"].as_array().map(Vec::len), Some(1));
    let cursor = page.body["next_cursor"].as_str().expect("cursor");
    assert!(
        cursor.parse::<i64>().is_ok(),
        "change cursors are ids: {cursor}"
    );
    let next = app
        .get(
            &format!("/api/v1/changes?limit=1&cursor={cursor}"),
            &app.viewer,
        )
        .await;
    assert_eq!(next.status, StatusCode::OK);
    assert_ne!(next.body["items"][0]["id"], page.body["items"][0]["id"]);
}

#[tokio::test]
async fn changes_need_a_token() {
    let app = App::new().await;
    let a = app.host("a", &[]).await;
    app.assert_needs_token(Method::GET, "/api/v1/changes", None)
        .await;
    app.assert_needs_token(Method::GET, &format!("/api/v1/hosts/{a}/changes"), None)
        .await;
}

#[tokio::test]
async fn changes_reject_bad_queries() {
    let app = App::new().await;
    let a = app.host("a", &[]).await;
    App::assert_bad_request(
        &app.get("/api/v1/changes?cursor=abc", &app.viewer).await,
        "cursor \"abc\" is not valid",
    );
    App::assert_bad_request(
        &app.get("/api/v1/changes?since=yesterday", &app.viewer)
            .await,
        "since",
    );
    App::assert_bad_request(
        &app.get(&format!("/api/v1/hosts/{a}/changes?limit=0"), &app.viewer)
            .await,
        "limit must be between 1 and 1000",
    );
    // An unknown host is reported before a bad query, as before.
    let missing = app
        .get("/api/v1/hosts/nope/changes?cursor=abc", &app.viewer)
        .await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND, "{missing:?}");
}

#[tokio::test]
async fn change_history_refuses_times_out_of_range() {
    let app = App::new().await;
    let a = app.host("a", &[]).await;
    App::assert_bad_request(
        &app.get("/api/v1/changes?until=9223372036854775807", &app.viewer)
            .await,
        "until 9223372036854775807 is out of range",
    );
    App::assert_bad_request(
        &app.get(
            &format!("/api/v1/hosts/{a}/changes?since=-9223372036854775808"),
            &app.viewer,
        )
        .await,
        "since -9223372036854775808 is out of range",
    );
    let fine = app
        .get(
            "/api/v1/changes?since=946684800000&until=7258118400000",
            &app.viewer,
        )
        .await;
    assert_eq!(fine.status, StatusCode::OK, "{fine:?}");
}
