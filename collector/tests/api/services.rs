//! `/api/v1/services`: business services and their members.

use axum::http::{Method, StatusCode};
use rollcall_collector::auth::Role;
use serde_json::json;

use crate::support::App;

#[tokio::test]
async fn services_are_created_listed_grown_and_deleted() {
    let app = App::new().await;
    let a = app.host("a", &[]).await;
    let b = app.host("b", &[]).await;
    let created = app
        .send(
            Method::POST,
            "/api/v1/services",
            Some(&app.operator),
            Some(json!({ "name": "shop", "min_up": 1, "members": [a] })),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{created:?}");
    assert_eq!(created.body["sla_target"], 99.9, "the default objective");
    let id = created.body["id"].as_str().expect("id").to_string();

    let added = app
        .send(
            Method::POST,
            &format!("/api/v1/services/{id}/members"),
            Some(&app.operator),
            Some(json!({ "host_id": b })),
        )
        .await;
    assert_eq!(added.status, StatusCode::OK, "{added:?}");
    assert_eq!(added.body["kind"], "Members::Member of");

    let list = app.get("/api/v1/services", &app.viewer).await;
    let mut members: Vec<String> = list.body["items"][0]["members"]
        .as_array()
        .expect("members")
        .iter()
        .map(|member| member.as_str().expect("id").to_string())
        .collect();
    members.sort();
    let mut expected = vec![a, b];
    expected.sort();
    assert_eq!(members, expected);

    let uri = format!("/api/v1/services/{id}");
    let deleted = app
        .send(Method::DELETE, &uri, Some(&app.operator), None)
        .await;
    assert_eq!(deleted.body, json!({ "deleted": id }));
    let again = app
        .send(Method::DELETE, &uri, Some(&app.operator), None)
        .await;
    assert_eq!(again.status, StatusCode::NOT_FOUND);
    let gone = app
        .send(
            Method::POST,
            &format!("/api/v1/services/{id}/members"),
            Some(&app.operator),
            Some(json!({ "host_id": "x" })),
        )
        .await;
    assert_eq!(gone.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn services_need_a_token() {
    let app = App::new().await;
    app.assert_needs_token(Method::GET, "/api/v1/services", None)
        .await;
    let body = json!({ "name": "shop", "min_up": 1 });
    app.assert_needs_token(Method::POST, "/api/v1/services", Some(body))
        .await;
    app.assert_needs_token(Method::DELETE, "/api/v1/services/x", None)
        .await;
    app.assert_needs_token(
        Method::POST,
        "/api/v1/services/x/members",
        Some(json!({ "host_id": "h" })),
    )
    .await;
}

#[tokio::test]
async fn viewers_may_not_change_services() {
    let app = App::new().await;
    let host = app.host("a", &[]).await;
    let body = json!({ "name": "shop", "min_up": 1 });
    app.assert_forbidden(
        Method::POST,
        "/api/v1/services",
        &app.viewer,
        Some(body.clone()),
        Role::Operator,
    )
    .await;
    let created = app
        .send(
            Method::POST,
            "/api/v1/services",
            Some(&app.operator),
            Some(body),
        )
        .await;
    let id = created.body["id"].as_str().expect("id");
    app.assert_forbidden(
        Method::DELETE,
        &format!("/api/v1/services/{id}"),
        &app.viewer,
        None,
        Role::Operator,
    )
    .await;
    app.assert_forbidden(
        Method::POST,
        &format!("/api/v1/services/{id}/members"),
        &app.viewer,
        Some(json!({ "host_id": host })),
        Role::Operator,
    )
    .await;
    let list = app.get("/api/v1/services", &app.viewer).await;
    assert_eq!(list.body["items"][0]["members"], json!([]));
}

#[tokio::test]
async fn services_reject_bad_bodies() {
    let app = App::new().await;
    for (body, needle) in [
        (
            json!({ "name": "shop", "min_up": 0 }),
            "min_up must be at least 1",
        ),
        (
            json!({ "name": " ", "min_up": 1 }),
            "name must be 1 to 128 bytes",
        ),
        (
            json!({ "name": "shop", "min_up": 1, "sla_target": 101.0 }),
            "sla_target must be a percentage",
        ),
        (
            json!({ "name": "shop", "min_up": 1, "members": ["ghost"] }),
            "member ghost is not a known host",
        ),
        (json!({ "name": "shop" }), "missing field `min_up`"),
    ] {
        let reply = app
            .send(
                Method::POST,
                "/api/v1/services",
                Some(&app.operator),
                Some(body),
            )
            .await;
        App::assert_bad_request(&reply, needle);
    }
    let created = app
        .send(
            Method::POST,
            "/api/v1/services",
            Some(&app.operator),
            Some(json!({ "name": "s", "min_up": 1 })),
        )
        .await;
    let id = created.body["id"].as_str().expect("id");
    let reply = app
        .send(
            Method::POST,
            &format!("/api/v1/services/{id}/members"),
            Some(&app.operator),
            Some(json!({ "host_id": "ghost" })),
        )
        .await;
    App::assert_bad_request(&reply, "ghost is not a known host");
}
