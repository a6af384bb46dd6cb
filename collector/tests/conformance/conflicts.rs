//! Unique violations: whatever the backend says, the store answers
//! `Error::Conflict` (HTTP 409) without naming tables or constraints, and a
//! transaction that hit one leaves nothing behind.
#![allow(clippy::unwrap_used)]

use std::sync::Arc;

use rollcall_collector::error::Error;
use rollcall_collector::store::{
    BusinessService, MaintenanceWindow, NewAgent, NewEnrollmentToken, NewOutage, Store,
};

const NOW: i64 = 1_800_000_000_000;
const DAY: i64 = 86_400_000;

fn assert_conflict<T: std::fmt::Debug>(result: Result<T, Error>, what: &str) {
    match result {
        Err(error @ Error::Conflict(_)) => {
            assert_eq!(error.http_status(), 409, "{what}");
            let message = error.public_message();
            for internal in ["UNIQUE", "constraint", "_pkey", "duplicate key"] {
                assert!(
                    !message.contains(internal),
                    "{what}: {message:?} leaks {internal:?}"
                );
            }
        }
        other => panic!("{what}: expected a conflict, got {other:?}"),
    }
}

fn enrollment_token(id: &str, hash: &str, max_uses: i64) -> NewEnrollmentToken {
    NewEnrollmentToken {
        id: id.into(),
        token_hash: hash.into(),
        description: "conflicts".into(),
        max_uses,
        expires_at: NOW + DAY,
        created_at: NOW,
    }
}

fn new_agent(id: &str, fingerprint: &str) -> NewAgent {
    NewAgent {
        id: id.into(),
        cert_fingerprint: fingerprint.into(),
        hostname: "h".into(),
        version: "t".into(),
        enrolled_at: NOW,
    }
}

/// A second row with the key of an existing one is a `Conflict`, on every
/// table that has a unique key a caller can choose, and the first row stays.
pub async fn unique_violations_are_conflicts(store: Arc<dyn Store>) {
    store
        .create_api_token("t1", "ops", "operator", "hash-1", NOW)
        .await
        .unwrap();
    assert_conflict(
        store
            .create_api_token("t1", "other", "viewer", "hash-2", NOW)
            .await,
        "api token id",
    );
    assert_conflict(
        store
            .create_api_token("t2", "other", "viewer", "hash-1", NOW)
            .await,
        "api token hash",
    );
    assert_eq!(store.api_token_count().await.unwrap(), 1);
    let kept = store.api_token_by_hash("hash-1").await.unwrap().unwrap();
    assert_eq!((kept.id.as_str(), kept.name.as_str()), ("t1", "ops"));

    store
        .create_enrollment_token(&enrollment_token("e1", "enroll-1", 2))
        .await
        .unwrap();
    assert_conflict(
        store
            .create_enrollment_token(&enrollment_token("e1", "enroll-2", 2))
            .await,
        "enrollment token id",
    );
    assert_conflict(
        store
            .create_enrollment_token(&enrollment_token("e2", "enroll-1", 2))
            .await,
        "enrollment token hash",
    );
    assert_eq!(store.enrollment_tokens().await.unwrap().len(), 1);

    let window = MaintenanceWindow {
        id: "m1".into(),
        scope: "host".into(),
        target: "h1".into(),
        starts_at: NOW,
        ends_at: NOW + DAY,
        recurrence: String::new(),
        reason: "patching".into(),
        created_at: NOW,
    };
    store.create_maintenance(&window).await.unwrap();
    assert_conflict(
        store
            .create_maintenance(&MaintenanceWindow {
                reason: "again".into(),
                ..window.clone()
            })
            .await,
        "maintenance window id",
    );
    let windows = store.maintenance_windows().await.unwrap();
    assert_eq!(windows.len(), 1);
    assert_eq!(windows[0].reason, "patching");

    let service = BusinessService {
        id: "s1".into(),
        name: "shop".into(),
        min_up: 1,
        sla_target: 99.9,
        created_at: NOW,
    };
    store.create_service(&service).await.unwrap();
    assert_conflict(
        store
            .create_service(&BusinessService {
                name: "shop-2".into(),
                ..service.clone()
            })
            .await,
        "business service id",
    );
    assert_conflict(
        store
            .create_service(&BusinessService {
                id: "s2".into(),
                ..service.clone()
            })
            .await,
        "business service name",
    );
    assert_eq!(store.services().await.unwrap().len(), 1);

    let outage = NewOutage {
        id: "o1".into(),
        host_id: "h1".into(),
        kind: "unplanned".into(),
        cause: "silent".into(),
        began_at: NOW,
        detected_at: NOW,
    };
    store.open_outage(&outage).await.unwrap();
    assert_conflict(store.open_outage(&outage).await, "outage id");
}

/// A unique violation inside a transaction rolls all of it back: enrolling
/// an agent id twice fails the second enrollment without using the token.
pub async fn a_conflict_rolls_its_transaction_back(store: Arc<dyn Store>) {
    store
        .create_enrollment_token(&enrollment_token("e1", "enroll-1", 3))
        .await
        .unwrap();
    store
        .enroll_agent("enroll-1", &new_agent("a1", "fp-1"))
        .await
        .unwrap()
        .unwrap();
    assert_conflict(
        store
            .enroll_agent("enroll-1", &new_agent("a1", "fp-2"))
            .await,
        "agent id",
    );
    assert_conflict(
        store
            .enroll_agent("enroll-1", &new_agent("a2", "fp-1"))
            .await,
        "agent certificate",
    );
    let tokens = store.enrollment_tokens().await.unwrap();
    assert_eq!(tokens[0].uses, 1, "failed enrollments used no token");
    assert!(store.agent("a2").await.unwrap().is_none());
    assert_eq!(
        store
            .agent_by_fingerprint("fp-1")
            .await
            .unwrap()
            .unwrap()
            .id,
        "a1"
    );
    // The token still enrolls a new agent.
    store
        .enroll_agent("enroll-1", &new_agent("a3", "fp-3"))
        .await
        .unwrap()
        .unwrap();
}
