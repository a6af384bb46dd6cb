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
