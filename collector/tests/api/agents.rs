//! `/api/v1/agents` (viewer+, `?outdated=true`), `/api/v1/agents/{id}` and
//! `/api/v1/agents/{id}/revoke` (admin).

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

#[tokio::test]
async fn outdated_agents_are_listed() {
    use rollcall_collector::store::{Revocable, Revocation};
    let app = App::new().await;
    let current = env!("CARGO_PKG_VERSION");
    let store = &app.state.store;
    for (host, version) in [
        ("old", "0.0.1"),
        ("same", current),
        ("newer", "999.0.0"),
        ("garbled", "not-semver"),
        ("gone", "0.0.1"),
    ] {
        app.host(host, &[]).await;
        store
            .set_agent_version(&format!("agent-{host}"), version)
            .await
            .unwrap();
    }
    let revocation = Revocation {
        what: Revocable::Agent,
        id: "agent-gone".into(),
        by: "test".into(),
        at: rollcall_proto::now_ms(),
    };
    assert!(store.revoke(&revocation).await.unwrap());

    let ids = |body: &serde_json::Value| -> Vec<String> {
        body["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|agent| agent["id"].as_str().unwrap().to_string())
            .collect()
    };
    let all = app.get("/api/v1/agents", &app.viewer).await;
    assert_eq!(all.status, StatusCode::OK, "{all:?}");
    assert_eq!(
        ids(&all.body),
        [
            "agent-garbled",
            "agent-gone",
            "agent-newer",
            "agent-old",
            "agent-same"
        ]
    );
    let same = &all.body["items"][4];
    assert_eq!(same["version"], current);
    assert_eq!(same["outdated"], false);
    assert_eq!(same["collector_version"], current);

    let outdated = app.get("/api/v1/agents?outdated=true", &app.viewer).await;
    assert_eq!(outdated.status, StatusCode::OK, "{outdated:?}");
    // Revoked agents are not waiting for an upgrade; unparseable versions are.
    assert_eq!(ids(&outdated.body), ["agent-garbled", "agent-old"]);
    assert!(outdated.body["items"][1]["outdated"] == true);
    let explicit = app.get("/api/v1/agents?outdated=false", &app.viewer).await;
    assert_eq!(ids(&explicit.body).len(), 5);

    for bad in ["outdated=maybe", "outdated=", "outdate=true", "limit=1"] {
        let refused = app.get(&format!("/api/v1/agents?{bad}"), &app.viewer).await;
        assert_eq!(
            refused.status,
            StatusCode::BAD_REQUEST,
            "{bad}: {refused:?}"
        );
        assert!(!refused.error().is_empty(), "{bad}: {refused:?}");
    }
    app.assert_needs_token(Method::GET, "/api/v1/agents?outdated=true", None)
        .await;
}
