//! `/api/v1/enrollment-tokens` and `/api/v1/api-tokens` (admin only).

use axum::http::{Method, StatusCode};
use rollcall_collector::auth::Role;
use serde_json::json;

use crate::support::App;

#[tokio::test]
async fn admins_create_and_list_enrollment_tokens() {
    let app = App::new().await;
    let created = app
        .send(
            Method::POST,
            "/api/v1/enrollment-tokens",
            Some(&app.admin),
            Some(json!({ "description": "rack 4", "max_uses": 5, "ttl_s": 3600 })),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{created:?}");
    assert!(
        created.body["token"]
            .as_str()
            .is_some_and(|t| t.starts_with("rcenr_"))
    );
    assert_eq!(created.body["max_uses"], 5);
    assert_eq!(
        created.body["ca_fingerprint"],
        app.state.pki.ca_fingerprint.as_str()
    );
    let defaults = app
        .send(
            Method::POST,
            "/api/v1/enrollment-tokens",
            Some(&app.admin),
            Some(json!({})),
        )
        .await;
    assert_eq!(defaults.status, StatusCode::CREATED, "{defaults:?}");
    assert_eq!(defaults.body["max_uses"], 1);

    let list = app.get("/api/v1/enrollment-tokens", &app.admin).await;
    assert_eq!(list.status, StatusCode::OK);
    let items = list.body["items"].as_array().expect("items");
    assert_eq!(items.len(), 2);
    assert!(items.iter().any(|token| token["description"] == "rack 4"));
    assert!(
        !list.body.to_string().contains("rcenr_"),
        "secrets are never listed"
    );
}

#[tokio::test]
async fn admins_create_api_tokens_that_work_with_their_role() {
    let app = App::new().await;
    let created = app
        .send(
            Method::POST,
            "/api/v1/api-tokens",
            Some(&app.admin),
            Some(json!({ "name": "grafana", "role": "viewer" })),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{created:?}");
    assert_eq!(created.body["role"], "viewer");
    let secret = created.body["token"].as_str().expect("token");
    assert!(secret.starts_with("rcapi_"));
    let info = app.get("/api/v1/info", secret).await;
    assert_eq!(info.status, StatusCode::OK, "the new token authenticates");
    app.assert_forbidden(
        Method::GET,
        "/api/v1/enrollment-tokens",
        secret,
        None,
        Role::Admin,
    )
    .await;
}

#[tokio::test]
async fn tokens_need_a_token() {
    let app = App::new().await;
    app.assert_needs_token(Method::POST, "/api/v1/enrollment-tokens", Some(json!({})))
        .await;
    app.assert_needs_token(Method::GET, "/api/v1/enrollment-tokens", None)
        .await;
    app.assert_needs_token(
        Method::POST,
        "/api/v1/api-tokens",
        Some(json!({ "name": "x", "role": "viewer" })),
    )
    .await;
}

#[tokio::test]
async fn only_admins_manage_tokens() {
    let app = App::new().await;
    for token in [&app.operator, &app.viewer] {
        app.assert_forbidden(
            Method::POST,
            "/api/v1/enrollment-tokens",
            token,
            Some(json!({})),
            Role::Admin,
        )
        .await;
        app.assert_forbidden(
            Method::GET,
            "/api/v1/enrollment-tokens",
            token,
            None,
            Role::Admin,
        )
        .await;
        app.assert_forbidden(
            Method::POST,
            "/api/v1/api-tokens",
            token,
            Some(json!({ "name": "x", "role": "admin" })),
            Role::Admin,
        )
        .await;
        // The role is checked before the body is read.
        app.assert_forbidden(
            Method::POST,
            "/api/v1/api-tokens",
            token,
            Some(json!({ "x": 1 })),
            Role::Admin,
        )
        .await;
    }
    let list = app.get("/api/v1/enrollment-tokens", &app.admin).await;
    assert_eq!(list.body["items"], json!([]), "nothing was created");
}

#[tokio::test]
async fn tokens_reject_bad_bodies() {
    let app = App::new().await;
    for (body, needle) in [
        (
            json!({ "max_uses": 0 }),
            "max_uses must be between 1 and 1000000",
        ),
        (
            json!({ "ttl_s": 367 * 86_400 }),
            "ttl_s must be between 1 second and 366 days",
        ),
        (
            json!({ "description": "x".repeat(257) }),
            "description is longer than 256 bytes",
        ),
        (json!({ "uses": 1 }), "unknown field `uses`"),
    ] {
        let reply = app
            .send(
                Method::POST,
                "/api/v1/enrollment-tokens",
                Some(&app.admin),
                Some(body),
            )
            .await;
        App::assert_bad_request(&reply, needle);
    }
    for (body, needle) in [
        (
            json!({ "name": "x", "role": "root" }),
            "role must be viewer, operator or admin",
        ),
        (
            json!({ "name": " ", "role": "viewer" }),
            "name must be 1 to 128 bytes",
        ),
        (json!({ "name": "x" }), "missing field `role`"),
    ] {
        let reply = app
            .send(
                Method::POST,
                "/api/v1/api-tokens",
                Some(&app.admin),
                Some(body),
            )
            .await;
        App::assert_bad_request(&reply, needle);
    }
    let malformed = app
        .send_raw(
            Method::POST,
            "/api/v1/api-tokens",
            Some(&app.admin),
            Some("[1,"),
        )
        .await;
    App::assert_bad_request(&malformed, "");
}
