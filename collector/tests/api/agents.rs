//! `/api/v1/agents/{id}` and `/api/v1/agents/{id}/revoke` (admin). These
//! routes take no query or body, so there is no 400 case.

use axum::http::{Method, StatusCode};
use rollcall_collector::auth::Role;
use serde_json::json;

use crate::support::App;

#[tokio::test]
async fn agents_are_shown_and_revoked() {
    let app = App::new().await;
    app.host("db-07", &[]).await;
    let shown = app.get("/api/v1/agents/agent-db-07", &app.viewer).await;
    assert_eq!(shown.status, StatusCode::OK, "{shown:?}");
    assert_eq!(shown.body["hostname"], "db-07");
    assert!(shown.body["revoked_at"].is_null());

    let revoke = "/api/v1/agents/agent-db-07/revoke";
    let revoked = app.send(Method::POST, revoke, Some(&app.admin), None).await;
    assert_eq!(
        revoked.body,
        json!({ "revoked": "agent-db-07", "sessions_ended": 0 })
    );
    let shown = app.get("/api/v1/agents/agent-db-07", &app.viewer).await;
    assert!(shown.body["revoked_at"].is_i64(), "{shown:?}");
    let again = app.send(Method::POST, revoke, Some(&app.admin), None).await;
    assert_eq!(again.status, StatusCode::NOT_FOUND);

    let missing = app.get("/api/v1/agents/nope", &app.viewer).await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
    assert_eq!(missing.error(), "not found: agent nope");
}

#[tokio::test]
async fn agents_need_a_token() {
    let app = App::new().await;
    app.host("h", &[]).await;
    app.assert_needs_token(Method::GET, "/api/v1/agents/agent-h", None)
        .await;
    app.assert_needs_token(Method::POST, "/api/v1/agents/agent-h/revoke", None)
        .await;
}

#[tokio::test]
async fn only_admins_revoke_agents() {
    let app = App::new().await;
    app.host("h", &[]).await;
    for token in [&app.operator, &app.viewer] {
        app.assert_forbidden(
            Method::POST,
            "/api/v1/agents/agent-h/revoke",
            token,
            None,
            Role::Admin,
        )
        .await;
    }
    let shown = app.get("/api/v1/agents/agent-h", &app.viewer).await;
    assert!(shown.body["revoked_at"].is_null(), "still trusted");
}
