//! Revocation and expiry (issue 12): `GET /api/v1/api-tokens`, `POST
//! /api/v1/api-tokens/{id}/revoke`, `POST /api/v1/enrollment-tokens/{id}/revoke`,
//! API token expiry, `GET /api/v1/audit`, and an agent's revocation reaching
//! its live sessions. Happy paths, 401, 403 and 400 for each.

use axum::http::{Method, StatusCode};
use rollcall_collector::auth::{self, Role};
use rollcall_collector::store::{EnrollRefusal, NewAgent};
use serde_json::json;

use crate::support::App;

/// The id of the token whose secret is `secret`.
async fn token_id(app: &App, secret: &str) -> String {
    app.state
        .store
        .api_token_by_hash(&auth::hash_secret(secret))
        .await
        .expect("store")
        .expect("token exists")
        .id
}

#[tokio::test]
async fn api_tokens_are_listed_without_secrets_and_revoked_with_an_audit_entry() {
    let app = App::new().await;
    let created = app
        .send(
            Method::POST,
            "/api/v1/api-tokens",
            Some(&app.admin),
            Some(json!({ "name": "grafana", "role": "viewer", "expires_in_s": 3600 })),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{created:?}");
    let secret = created.body["token"].as_str().expect("secret").to_string();
    let id = created.body["id"].as_str().expect("id").to_string();
    let expires_at = created.body["expires_at"].as_i64().expect("an expiry");
    let now = rollcall_proto::now_ms();
    assert!((now + 3_590_000..=now + 3_600_000).contains(&expires_at));

    let list = app.get("/api/v1/api-tokens", &app.admin).await;
    assert_eq!(list.status, StatusCode::OK, "{list:?}");
    let items = list.body["items"].as_array().expect("items");
    let listed = items
        .iter()
        .find(|token| token["id"] == id.as_str())
        .expect("listed");
    assert_eq!(listed["name"], "grafana");
    assert_eq!(listed["role"], "viewer");
    assert_eq!(listed["expires_at"], expires_at);
    assert!(listed["revoked_at"].is_null());
    let text = list.body.to_string();
    assert!(!text.contains("rcapi_"), "no secret is listed: {text}");
    assert!(
        !text.contains(&auth::hash_secret(&secret)) && !text.contains("token_hash"),
        "no hash is listed: {text}"
    );

    assert_eq!(
        app.get("/api/v1/info", &secret).await.status,
        StatusCode::OK
    );
    let revoke = format!("/api/v1/api-tokens/{id}/revoke");
    let revoked = app
        .send(Method::POST, &revoke, Some(&app.admin), None)
        .await;
    assert_eq!(revoked.status, StatusCode::OK, "{revoked:?}");
    assert_eq!(revoked.body, json!({ "revoked": id }));
    let refused = app.get("/api/v1/info", &secret).await;
    assert_eq!(refused.status, StatusCode::UNAUTHORIZED, "{refused:?}");
    assert!(refused.error().contains("revoked"), "{refused:?}");
    let again = app
        .send(Method::POST, &revoke, Some(&app.admin), None)
        .await;
    assert_eq!(again.status, StatusCode::NOT_FOUND, "{again:?}");
    let list = app.get("/api/v1/api-tokens", &app.admin).await;
    let items = list.body["items"].as_array().expect("items");
    assert!(
        items
            .iter()
            .any(|token| token["id"] == id.as_str() && token["revoked_at"].is_i64()),
        "{list:?}"
    );

    let audit = app.get("/api/v1/audit", &app.admin).await;
    assert_eq!(audit.status, StatusCode::OK, "{audit:?}");
    let entries = audit.body["items"].as_array().expect("items");
    assert_eq!(
        entries.len(),
        2,
        "the creation and the revocation: {audit:?}"
    );
    let admin_id = token_id(&app, &app.admin).await;
    assert_eq!(entries[0]["action"], "revoke_api_token");
    assert_eq!(entries[0]["target"], id.as_str());
    assert_eq!(entries[0]["actor"], admin_id.as_str());
    assert!(entries[0]["at"].as_i64().is_some_and(|at| at >= now));
    assert_eq!(entries[1]["action"], "create_api_token", "newest first");
    assert_eq!(entries[1]["target"], id.as_str());
    assert_eq!(entries[1]["actor"], admin_id.as_str());
    assert!(
        entries[1]["detail"].as_str().is_some_and(
            |detail| detail.contains("role viewer") && detail.contains(&expires_at.to_string())
        ),
        "{audit:?}"
    );
}

#[tokio::test]
async fn an_expired_api_token_is_refused() {
    let app = App::new().await;
    let secret = auth::generate_secret("rcapi");
    let now = rollcall_proto::now_ms();
    app.state
        .store
        .create_expiring_api_token(
            "expired",
            "old",
            Role::Admin.as_str(),
            &auth::hash_secret(&secret),
            now - 7_200_000,
            Some(now - 1),
        )
        .await
        .expect("token");
    let refused = app.get("/api/v1/info", &secret).await;
    assert_eq!(refused.status, StatusCode::UNAUTHORIZED, "{refused:?}");
    assert_eq!(refused.error(), "unauthenticated: API token expired");
    let refused = app.get("/api/v1/api-tokens", &secret).await;
    assert_eq!(refused.status, StatusCode::UNAUTHORIZED, "{refused:?}");
}

#[tokio::test]
async fn api_token_expiry_is_bounded() {
    let app = App::new().await;
    let now = rollcall_proto::now_ms();
    for (body, needle) in [
        (
            json!({ "name": "x", "role": "viewer", "expires_in_s": 0 }),
            "expires_in_s must be between 1 and",
        ),
        (
            json!({ "name": "x", "role": "viewer", "expires_in_s": i64::MAX }),
            "expires_in_s must be between 1 and",
        ),
        (
            json!({ "name": "x", "role": "viewer", "expires_at": now - 1000 }),
            "expires_at must be in the future",
        ),
        (
            json!({ "name": "x", "role": "viewer", "expires_at": i64::MAX }),
            "at most ten years away",
        ),
        (
            json!({ "name": "x", "role": "viewer", "expires_in_s": 60, "expires_at": now + 60_000 }),
            "not both",
        ),
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
    let audit = app
        .send(Method::GET, "/api/v1/audit?limit=0", Some(&app.admin), None)
        .await;
    App::assert_bad_request(&audit, "limit");
    let audit = app
        .send(
            Method::GET,
            "/api/v1/audit?cursor=x",
            Some(&app.admin),
            None,
        )
        .await;
    App::assert_bad_request(&audit, "cursor");
}

#[tokio::test]
async fn a_revoked_enrollment_token_cannot_enroll() {
    let app = App::new().await;
    let created = app
        .send(
            Method::POST,
            "/api/v1/enrollment-tokens",
            Some(&app.admin),
            Some(json!({ "max_uses": 10 })),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{created:?}");
    let id = created.body["id"].as_str().expect("id").to_string();
    let secret = created.body["token"].as_str().expect("secret").to_string();
    let revoke = format!("/api/v1/enrollment-tokens/{id}/revoke");
    let revoked = app
        .send(Method::POST, &revoke, Some(&app.admin), None)
        .await;
    assert_eq!(revoked.status, StatusCode::OK, "{revoked:?}");
    let again = app
        .send(Method::POST, &revoke, Some(&app.admin), None)
        .await;
    assert_eq!(again.status, StatusCode::NOT_FOUND, "{again:?}");
    let list = app.get("/api/v1/enrollment-tokens", &app.admin).await;
    assert!(list.body["items"][0]["revoked_at"].is_i64(), "{list:?}");
    let refusal = app
        .state
        .store
        .enroll_agent(
            &auth::hash_secret(&secret),
            &NewAgent {
                id: "late".into(),
                cert_fingerprint: "fp-late".into(),
                hostname: "late".into(),
                version: "test".into(),
                enrolled_at: rollcall_proto::now_ms(),
            },
        )
        .await
        .expect("store");
    assert_eq!(refusal, Err(EnrollRefusal::Revoked));
    let audit = app.get("/api/v1/audit", &app.admin).await;
    assert_eq!(audit.body["items"][0]["action"], "revoke_enrollment_token");
    assert_eq!(audit.body["items"][0]["target"], id.as_str());
    assert_eq!(audit.body["items"][1]["action"], "create_enrollment_token");
    assert_eq!(audit.body["items"][1]["target"], id.as_str());
    assert!(
        audit.body["items"][1]["detail"]
            .as_str()
            .is_some_and(|detail| detail.contains("max_uses 10")),
        "{audit:?}"
    );
}

#[tokio::test]
async fn revoking_an_agent_ends_its_live_sessions_and_is_audited() {
    let app = App::new().await;
    app.host("db-07", &[]).await;
    app.host("db-08", &[]).await;
    let session = app.state.revocations.register("agent-db-07");
    let other = app.state.revocations.register("agent-db-08");
    let revoked = app
        .send(
            Method::POST,
            "/api/v1/agents/agent-db-07/revoke",
            Some(&app.admin),
            None,
        )
        .await;
    assert_eq!(revoked.status, StatusCode::OK, "{revoked:?}");
    assert_eq!(revoked.body["sessions_ended"], 1);
    assert!(session.token().is_cancelled(), "the live session is told");
    assert!(!other.token().is_cancelled());
    let audit = app.get("/api/v1/audit", &app.admin).await;
    let entries = audit.body["items"].as_array().expect("items");
    assert_eq!(entries.len(), 1, "{audit:?}");
    assert_eq!(entries[0]["action"], "revoke_agent");
    assert_eq!(entries[0]["target"], "agent-db-07");
    assert_eq!(
        entries[0]["actor"],
        token_id(&app, &app.admin).await.as_str()
    );
}

#[tokio::test]
async fn revocation_routes_need_a_token() {
    let app = App::new().await;
    app.assert_needs_token(Method::GET, "/api/v1/api-tokens", None)
        .await;
    app.assert_needs_token(Method::POST, "/api/v1/api-tokens/x/revoke", None)
        .await;
    app.assert_needs_token(Method::POST, "/api/v1/enrollment-tokens/x/revoke", None)
        .await;
    app.assert_needs_token(Method::GET, "/api/v1/audit", None)
        .await;
}

#[tokio::test]
async fn only_admins_list_and_revoke_tokens_and_read_the_audit_log() {
    let app = App::new().await;
    let operator_id = token_id(&app, &app.operator).await;
    for token in [&app.operator, &app.viewer] {
        for (method, uri) in [
            (Method::GET, "/api/v1/api-tokens".to_string()),
            (
                Method::POST,
                format!("/api/v1/api-tokens/{operator_id}/revoke"),
            ),
            (
                Method::POST,
                "/api/v1/enrollment-tokens/x/revoke".to_string(),
            ),
            (Method::GET, "/api/v1/audit".to_string()),
        ] {
            app.assert_forbidden(method, &uri, token, None, Role::Admin)
                .await;
        }
    }
    assert_eq!(
        app.get("/api/v1/info", &app.operator).await.status,
        StatusCode::OK,
        "not revoked"
    );
    let audit = app.get("/api/v1/audit", &app.admin).await;
    assert_eq!(audit.body["items"], json!([]), "nothing was revoked");
}
