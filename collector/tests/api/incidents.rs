//! `/api/v1/incidents`: list, detail, acknowledge, comments.

use axum::http::{Method, StatusCode};
use rollcall_collector::auth::Role;
use serde_json::json;

use crate::support::App;

#[tokio::test]
async fn incidents_are_listed_shown_acknowledged_and_commented() {
    let app = App::new().await;
    let host = app.host("web-1", &[]).await;
    let id = app.incident(&host).await;

    let list = app.get("/api/v1/incidents?state=open", &app.viewer).await;
    assert_eq!(list.status, StatusCode::OK, "{list:?}");
    assert_eq!(list.body["items"][0]["id"], id.as_str());
    let by_host = app
        .get(&format!("/api/v1/incidents?host_id={host}"), &app.viewer)
        .await;
    assert_eq!(by_host.body["items"].as_array().map(Vec::len), Some(1));
    let other = app
        .get("/api/v1/incidents?rule=filesystem", &app.viewer)
        .await;
    assert_eq!(other.body["items"].as_array().map(Vec::len), Some(0));

    let detail = app
        .get(&format!("/api/v1/incidents/{id}"), &app.viewer)
        .await;
    assert_eq!(detail.body["incident"]["rule"], "host_down");
    assert_eq!(detail.body["details"]["test"], true);
    assert_eq!(detail.body["comments"], json!([]));

    let ack = app
        .send(
            Method::POST,
            &format!("/api/v1/incidents/{id}/acknowledge"),
            Some(&app.operator),
            None,
        )
        .await;
    assert_eq!(ack.status, StatusCode::OK, "{ack:?}");
    assert_eq!(ack.body, json!({ "acknowledged": id }));
    let again = app
        .send(
            Method::POST,
            &format!("/api/v1/incidents/{id}/acknowledge"),
            Some(&app.operator),
            None,
        )
        .await;
    assert_eq!(again.status, StatusCode::CONFLICT, "{again:?}");

    let comment = app
        .send(
            Method::POST,
            &format!("/api/v1/incidents/{id}/comments"),
            Some(&app.operator),
            Some(json!({ "body": "looking" })),
        )
        .await;
    assert_eq!(comment.status, StatusCode::CREATED, "{comment:?}");
    assert_eq!(comment.body["author"], "operator token");
    let detail = app
        .get(&format!("/api/v1/incidents/{id}"), &app.viewer)
        .await;
    assert_eq!(detail.body["comments"][0]["body"], "looking");

    let missing = app.get("/api/v1/incidents/nope", &app.viewer).await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn incidents_need_a_token() {
    let app = App::new().await;
    let host = app.host("web-1", &[]).await;
    let id = app.incident(&host).await;
    app.assert_needs_token(Method::GET, "/api/v1/incidents", None)
        .await;
    app.assert_needs_token(Method::GET, &format!("/api/v1/incidents/{id}"), None)
        .await;
    app.assert_needs_token(
        Method::POST,
        &format!("/api/v1/incidents/{id}/acknowledge"),
        None,
    )
    .await;
    app.assert_needs_token(
        Method::POST,
        &format!("/api/v1/incidents/{id}/comments"),
        Some(json!({ "body": "x" })),
    )
    .await;
}

#[tokio::test]
async fn viewers_may_not_acknowledge_or_comment() {
    let app = App::new().await;
    let host = app.host("web-1", &[]).await;
    let id = app.incident(&host).await;
    let ack = format!("/api/v1/incidents/{id}/acknowledge");
    app.assert_forbidden(Method::POST, &ack, &app.viewer, None, Role::Operator)
        .await;
    let comments = format!("/api/v1/incidents/{id}/comments");
    app.assert_forbidden(
        Method::POST,
        &comments,
        &app.viewer,
        Some(json!({ "body": "x" })),
        Role::Operator,
    )
    .await;
    // The role is checked before the body is read.
    app.assert_forbidden(
        Method::POST,
        &comments,
        &app.viewer,
        Some(json!({ "nope": 1 })),
        Role::Operator,
    )
    .await;
    let detail = app
        .get(&format!("/api/v1/incidents/{id}"), &app.viewer)
        .await;
    assert_eq!(detail.body["incident"]["state"], "open", "nothing changed");
    assert_eq!(detail.body["comments"], json!([]));
}

#[tokio::test]
async fn incidents_reject_bad_queries_and_bodies() {
    let app = App::new().await;
    let host = app.host("web-1", &[]).await;
    let id = app.incident(&host).await;
    App::assert_bad_request(
        &app.get("/api/v1/incidents?limit=10001", &app.viewer).await,
        "limit must be between 1 and 10000",
    );
    App::assert_bad_request(
        &app.get("/api/v1/incidents?severity=critical", &app.viewer)
            .await,
        "unknown field `severity`",
    );
    let uri = format!("/api/v1/incidents/{id}/comments");
    for (body, needle) in [
        (
            json!({ "body": "  " }),
            "comment body must be 1 to 16384 bytes",
        ),
        (json!({ "text": "x" }), "unknown field `text`"),
        (json!({}), "missing field `body`"),
    ] {
        let reply = app
            .send(Method::POST, &uri, Some(&app.operator), Some(body))
            .await;
        App::assert_bad_request(&reply, needle);
    }
    let malformed = app
        .send_raw(Method::POST, &uri, Some(&app.operator), Some("{not json"))
        .await;
    App::assert_bad_request(&malformed, "");
}

/// The open `failed_check:` incidents of a host: (summary, listed checks).
async fn failed_checks(app: &App, host: &str) -> Vec<(String, serde_json::Value)> {
    let list = app
        .get(
            &format!("/api/v1/incidents?state=open&host_id={host}&rule=failed_check:"),
            &app.viewer,
        )
        .await;
    list.body["items"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .into_iter()
        .map(|incident| {
            let details: serde_json::Value = match &incident["details"] {
                serde_json::Value::String(text) => serde_json::from_str(text).unwrap_or_default(),
                other => other.clone(),
            };
            (
                incident["summary"].as_str().unwrap_or_default().to_string(),
                details["checks"].clone(),
            )
        })
        .collect()
}

#[tokio::test]
async fn failed_checks_keep_one_incident_per_host_across_partial_reports() {
    use rollcall_proto::v1::CheckResult;
    let app = App::new().await;
    let host = app.host("web-1", &[]).await;
    let result = |name: &str, ok: bool| CheckResult {
        name: name.into(),
        kind: "tcp".into(),
        ok,
        message: if ok {
            "ok".into()
        } else {
            "connection refused".into()
        },
        checked_at_ms: 1,
        duration_ms: 1,
    };
    let report = |results: Vec<CheckResult>, at: i64| {
        let (app, host) = (&app, host.clone());
        async move {
            app.state
                .engine
                .evaluate_checks(&host, "web-1", &results, at)
                .await
                .expect("evaluate checks");
        }
    };
    report(vec![result("db", false)], 10).await;
    assert_eq!(
        failed_checks(&app, &host).await,
        [("web-1: check failed: db".to_string(), json!(["db"]))]
    );
    // A later message reports only another check: both are named, in one incident.
    report(vec![result("cache", false)], 20).await;
    assert_eq!(
        failed_checks(&app, &host).await,
        [(
            "web-1: 2 checks failed: cache, db".to_string(),
            json!(["cache", "db"])
        )]
    );
    report(vec![result("db", true)], 30).await;
    assert_eq!(
        failed_checks(&app, &host).await,
        [("web-1: check failed: cache".to_string(), json!(["cache"]))]
    );
    report(vec![result("cache", true), result("db", true)], 40).await;
    assert!(failed_checks(&app, &host).await.is_empty());
}
