//! `/api/v1/outbox`, `/api/v1/outbox/{id}/retry` (operator) and
//! `/api/v1/incidents/{id}/deliveries`.

use axum::http::{Method, StatusCode};
use rollcall_collector::auth::Role;
use serde_json::json;

use crate::support::{App, TARGET};

#[tokio::test]
async fn dead_letters_are_listed_shown_per_incident_and_retried() {
    let app = App::new().await;
    let host = app.host("web", &[]).await;
    let incident = app.incident(&host).await;
    let id = app.dead_letter(&incident).await;

    let dead = app.get("/api/v1/outbox?state=dead", &app.viewer).await;
    assert_eq!(dead.status, StatusCode::OK, "{dead:?}");
    assert_eq!(dead.body["items"][0]["id"], id);
    assert_eq!(dead.body["items"][0]["last_error"], "connection refused");
    let pending = app.get("/api/v1/outbox?state=pending", &app.viewer).await;
    assert_eq!(pending.body["items"], json!([]));
    let by_target = app
        .get(
            &format!("/api/v1/outbox?target={TARGET}&incident={incident}&limit=1"),
            &app.viewer,
        )
        .await;
    assert_eq!(
        by_target.body["next_cursor"],
        id.to_string(),
        "a full page has a cursor"
    );

    let deliveries = app
        .get(
            &format!("/api/v1/incidents/{incident}/deliveries"),
            &app.viewer,
        )
        .await;
    assert_eq!(deliveries.body["incident_id"], incident.as_str());
    let target = &deliveries.body["targets"][0];
    assert_eq!(target["target"], TARGET);
    assert_eq!(target["state"], "dead");
    assert!(target["external_ref"].is_null());
    assert_eq!(target["deliveries"].as_array().map(Vec::len), Some(1));

    let uri = format!("/api/v1/outbox/{id}/retry");
    let retried = app
        .send(Method::POST, &uri, Some(&app.operator), None)
        .await;
    assert_eq!(retried.body, json!({ "retried": id, "target": TARGET }));
    let pending = app.get("/api/v1/outbox?state=pending", &app.viewer).await;
    assert_eq!(pending.body["items"][0]["id"], id);
    let again = app
        .send(Method::POST, &uri, Some(&app.operator), None)
        .await;
    assert_eq!(again.status, StatusCode::CONFLICT, "{again:?}");
    let missing = app
        .send(
            Method::POST,
            "/api/v1/outbox/999999/retry",
            Some(&app.operator),
            None,
        )
        .await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn the_outbox_needs_a_token() {
    let app = App::new().await;
    app.assert_needs_token(Method::GET, "/api/v1/outbox", None)
        .await;
    app.assert_needs_token(Method::POST, "/api/v1/outbox/1/retry", None)
        .await;
    app.assert_needs_token(Method::GET, "/api/v1/incidents/x/deliveries", None)
        .await;
}

#[tokio::test]
async fn viewers_may_not_retry() {
    let app = App::new().await;
    let host = app.host("web", &[]).await;
    let incident = app.incident(&host).await;
    let id = app.dead_letter(&incident).await;
    app.assert_forbidden(
        Method::POST,
        &format!("/api/v1/outbox/{id}/retry"),
        &app.viewer,
        None,
        Role::Operator,
    )
    .await;
    let dead = app.get("/api/v1/outbox?state=dead", &app.viewer).await;
    assert_eq!(dead.body["items"][0]["id"], id, "still dead");
}

#[tokio::test]
async fn the_outbox_rejects_bad_queries() {
    let app = App::new().await;
    for (query, needle) in [
        ("state=lost", "state must be pending, delivered or dead"),
        ("limit=0", "limit must be between 1 and 1000"),
        ("cursor=abc", "cursor"),
        ("page=2", "unknown field `page`"),
    ] {
        let reply = app
            .get(&format!("/api/v1/outbox?{query}"), &app.viewer)
            .await;
        App::assert_bad_request(&reply, needle);
    }
    let reply = app
        .send(
            Method::POST,
            "/api/v1/outbox/abc/retry",
            Some(&app.operator),
            None,
        )
        .await;
    App::assert_bad_request(&reply, "outbox id \"abc\" is not a number");
}
