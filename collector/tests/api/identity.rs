//! `/api/v1/identity-events` and `/api/v1/hosts/{id}/identity-events`.

use axum::http::{Method, StatusCode};
use rollcall_collector::auth;
use rollcall_collector::cmdb::reconcile::HostIdentity;
use rollcall_collector::store::{NewAgent, NewEnrollmentToken};

use crate::support::App;

const DAY_MS: i64 = 86_400_000;

/// A second agent claims `hostname`'s machine-id while its owner was just
/// heard: a conflict. Returns the claimant's new host id.
async fn claim(app: &App, hostname: &str, claimant: &str) -> String {
    let store = &app.state.store;
    let now = rollcall_proto::now_ms();
    let token_hash = format!("enroll-{claimant}");
    store
        .create_enrollment_token(&NewEnrollmentToken {
            id: auth::new_id(),
            token_hash: token_hash.clone(),
            description: "api test".into(),
            max_uses: 1,
            expires_at: now + DAY_MS,
            created_at: now,
        })
        .await
        .expect("enrollment token");
    store
        .enroll_agent(
            &token_hash,
            &NewAgent {
                id: claimant.into(),
                cert_fingerprint: format!("fp-{claimant}"),
                hostname: claimant.into(),
                version: "test".into(),
                enrolled_at: now,
            },
        )
        .await
        .expect("enroll")
        .expect("enrollment accepted");
    let identity = HostIdentity {
        machine_id: format!("mid-{hostname}"),
        hostname: claimant.into(),
        ..HostIdentity::default()
    };
    let attachment = store
        .claim_host(claimant, &identity, claimant, now, Some(DAY_MS))
        .await
        .expect("claim");
    assert!(attachment.created, "{attachment:?}");
    attachment.host_id
}

#[tokio::test]
async fn identity_events_are_listed_per_host_and_fleet_wide_with_cursors() {
    let app = App::new().await;
    let a = app.host("a", &[("bash", "5.2")]).await;
    let b = app.host("b", &[]).await;
    let intruder = claim(&app, "a", "intruder-1").await;
    claim(&app, "b", "intruder-2").await;

    let host = app
        .get(&format!("/api/v1/hosts/{a}/identity-events"), &app.viewer)
        .await;
    assert_eq!(host.status, StatusCode::OK, "{host:?}");
    let items = host.body["items"].as_array().expect("items");
    assert_eq!(items.len(), 1, "{items:?}");
    assert_eq!(items[0]["kind"], "conflict");
    assert_eq!(items[0]["reason"], "owner_recent");
    assert_eq!(items[0]["rule"], "machine_id");
    assert_eq!(items[0]["old_agent_id"], "agent-a");
    assert_eq!(items[0]["new_agent_id"], "intruder-1");
    assert_eq!(items[0]["new_host_id"], intruder.as_str());
    // The claimant's CI lists the same event.
    let other = app
        .get(
            &format!("/api/v1/hosts/{intruder}/identity-events"),
            &app.viewer,
        )
        .await;
    assert_eq!(other.body["items"][0]["id"], items[0]["id"]);

    let fleet = app
        .get("/api/v1/identity-events?kind=conflict", &app.viewer)
        .await;
    assert_eq!(fleet.status, StatusCode::OK, "{fleet:?}");
    assert_eq!(fleet.body["items"].as_array().map(Vec::len), Some(2));
    let only_b = app
        .get(&format!("/api/v1/identity-events?host_id={b}"), &app.viewer)
        .await;
    assert_eq!(only_b.body["items"][0]["host_id"], b.as_str());

    let page = app
        .get("/api/v1/identity-events?limit=1", &app.viewer)
        .await;
    assert_eq!(page.body["items"].as_array().map(Vec::len), Some(1));
    let cursor = page.body["next_cursor"].as_str().expect("cursor");
    let next = app
        .get(
            &format!("/api/v1/identity-events?limit=1&cursor={cursor}"),
            &app.viewer,
        )
        .await;
    assert_eq!(next.status, StatusCode::OK);
    assert_ne!(next.body["items"][0]["id"], page.body["items"][0]["id"]);

    let csv = app
        .get("/api/v1/identity-events?format=csv", &app.viewer)
        .await;
    assert_eq!(csv.status, StatusCode::OK);
    assert!(csv.text().contains("intruder-1"), "{csv:?}");
}

#[tokio::test]
async fn identity_events_need_a_token() {
    let app = App::new().await;
    let a = app.host("a", &[]).await;
    app.assert_needs_token(Method::GET, "/api/v1/identity-events", None)
        .await;
    app.assert_needs_token(
        Method::GET,
        &format!("/api/v1/hosts/{a}/identity-events"),
        None,
    )
    .await;
}

#[tokio::test]
async fn identity_events_reject_bad_queries() {
    let app = App::new().await;
    let a = app.host("a", &[]).await;
    App::assert_bad_request(
        &app.get("/api/v1/identity-events?cursor=abc", &app.viewer)
            .await,
        "cursor \"abc\" is not valid",
    );
    App::assert_bad_request(
        &app.get("/api/v1/identity-events?kind=hijack", &app.viewer)
            .await,
        "kind must be one of conflict, takeover, ambiguous",
    );
    App::assert_bad_request(
        &app.get(
            &format!("/api/v1/hosts/{a}/identity-events?limit=0"),
            &app.viewer,
        )
        .await,
        "limit must be between 1 and 1000",
    );
    let unknown = app
        .get("/api/v1/identity-events?since=1", &app.viewer)
        .await;
    assert_eq!(unknown.status, StatusCode::BAD_REQUEST, "{unknown:?}");
    let missing = app
        .get("/api/v1/hosts/nope/identity-events", &app.viewer)
        .await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND, "{missing:?}");
}
