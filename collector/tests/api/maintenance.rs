//! `/api/v1/maintenance`.

use axum::http::{Method, StatusCode};
use rollcall_collector::auth::Role;
use serde_json::{Value, json};

use crate::support::App;

fn window(scope: &str) -> Value {
    json!({
        "scope": scope, "target": "web", "starts_at": 1_000, "ends_at": 2_000,
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
    backwards["ends_at"] = json!(500);
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
