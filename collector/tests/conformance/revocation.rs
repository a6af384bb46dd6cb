//! Revocation, expiry, the audit log and certificate renewal (issue 12):
//! each revocation is made and audited in one transaction, revoked tokens
//! stop working, and a renewed certificate replaces the old one.
#![allow(clippy::unwrap_used)]

use std::sync::Arc;

use rollcall_collector::store::{EnrollRefusal, NewAuditEntry, Revocable, Revocation, Store};

use crate::cases::{DAY, NOW, agent, new_agent, token};

fn revocation(what: Revocable, id: &str, at: i64) -> Revocation {
    Revocation {
        what,
        id: id.into(),
        by: "admin-token".into(),
        at,
    }
}

pub async fn api_tokens_expire_list_and_revoke_with_an_audit_entry(store: Arc<dyn Store>) {
    store
        .create_expiring_api_token("t1", "grafana", "viewer", "hash-1", NOW, Some(NOW + DAY))
        .await
        .unwrap();
    store
        .create_api_token("t2", "ops", "operator", "hash-2", NOW + 1)
        .await
        .unwrap();
    let listed = store.api_tokens().await.unwrap();
    let ids: Vec<&str> = listed.iter().map(|token| token.id.as_str()).collect();
    assert_eq!(ids, ["t1", "t2"], "oldest first");
    assert_eq!(listed[0].expires_at, Some(NOW + DAY));
    assert!(!listed[0].expired(NOW + DAY - 1) && listed[0].expired(NOW + DAY));
    assert_eq!(listed[1].expires_at, None, "no expiry unless asked");
    assert!(!listed[1].expired(i64::MAX));

    assert!(
        store
            .revoke(&revocation(Revocable::ApiToken, "t1", NOW + 5))
            .await
            .unwrap()
    );
    assert!(
        store.api_token_by_hash("hash-1").await.unwrap().is_none(),
        "a revoked token is not found"
    );
    assert!(store.api_token_by_hash("hash-2").await.unwrap().is_some());
    assert!(
        !store
            .revoke(&revocation(Revocable::ApiToken, "t1", NOW + 6))
            .await
            .unwrap(),
        "already revoked"
    );
    assert!(
        !store
            .revoke(&revocation(Revocable::ApiToken, "nobody", NOW + 6))
            .await
            .unwrap()
    );
    let listed = store.api_tokens().await.unwrap();
    assert_eq!(listed[0].revoked_at, Some(NOW + 5));
    let audit = store.audit_log(None, 100).await.unwrap();
    assert_eq!(
        audit.len(),
        1,
        "only the revocation that happened: {audit:?}"
    );
    assert_eq!(
        (
            audit[0].actor.as_str(),
            audit[0].action.as_str(),
            audit[0].target.as_str(),
            audit[0].at
        ),
        ("admin-token", "revoke_api_token", "t1", NOW + 5)
    );
}

pub async fn revoked_enrollment_tokens_and_agents_are_audited(store: Arc<dyn Store>) {
    token(&store, "enroll-hash", 5, NOW + DAY).await;
    assert!(
        store
            .revoke(&revocation(
                Revocable::EnrollmentToken,
                "id-enroll-hash",
                NOW + 1
            ))
            .await
            .unwrap()
    );
    assert_eq!(
        store
            .enroll_agent("enroll-hash", &new_agent("late"))
            .await
            .unwrap(),
        Err(EnrollRefusal::Revoked)
    );
    agent(&store, "rv").await;
    assert!(
        store
            .revoke(&revocation(Revocable::Agent, "rv", NOW + 2))
            .await
            .unwrap()
    );
    assert_eq!(
        store.agent("rv").await.unwrap().unwrap().revoked_at,
        Some(NOW + 2)
    );
    assert!(
        !store
            .revoke(&revocation(Revocable::Agent, "rv", NOW + 3))
            .await
            .unwrap()
    );
    let audit = store.audit_log(None, 100).await.unwrap();
    let actions: Vec<(&str, &str)> = audit
        .iter()
        .map(|entry| (entry.action.as_str(), entry.target.as_str()))
        .collect();
    assert_eq!(
        actions,
        [
            ("revoke_agent", "rv"),
            ("revoke_enrollment_token", "id-enroll-hash")
        ],
        "newest first"
    );
    let older = store.audit_log(Some(audit[0].id), 1).await.unwrap();
    assert_eq!(older.len(), 1);
    assert_eq!(older[0].id, audit[1].id, "paged by id");
}

pub async fn audit_entries_are_read_on_from_an_id_oldest_first(store: Arc<dyn Store>) {
    for (at, target) in [(NOW, "t-a"), (NOW + 1, "t-b")] {
        store
            .audit(&NewAuditEntry {
                at,
                actor: "admin-token".into(),
                action: "create_api_token",
                target: target.into(),
                detail: "role viewer".into(),
            })
            .await
            .unwrap();
    }
    agent(&store, "rw").await;
    assert!(
        store
            .revoke(&revocation(Revocable::Agent, "rw", NOW + 2))
            .await
            .unwrap()
    );
    let all = store.audit_after(0, 100).await.unwrap();
    let read: Vec<(&str, &str, &str)> = all
        .iter()
        .map(|entry| {
            (
                entry.action.as_str(),
                entry.target.as_str(),
                entry.detail.as_str(),
            )
        })
        .collect();
    assert_eq!(
        read,
        [
            ("create_api_token", "t-a", "role viewer"),
            ("create_api_token", "t-b", "role viewer"),
            ("revoke_agent", "rw", "")
        ],
        "oldest first"
    );
    let after_first = store.audit_after(all[0].id, 1).await.unwrap();
    assert_eq!(after_first.len(), 1, "bounded by the limit");
    assert_eq!(after_first[0].id, all[1].id);
    assert!(
        store.audit_after(all[2].id, 100).await.unwrap().is_empty(),
        "nothing after the newest"
    );
}

pub async fn a_renewed_certificate_replaces_the_old_one(store: Arc<dyn Store>) {
    agent(&store, "rn").await;
    assert!(
        store
            .renew_agent_certificate("rn", "fp-rn", "fp-rn-2")
            .await
            .unwrap()
    );
    let renewed = store
        .agent_by_fingerprint("fp-rn-2")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(renewed.id, "rn");
    assert_eq!(renewed.cert_fingerprint, "fp-rn-2");
    assert_eq!(renewed.previous_fingerprint.as_deref(), Some("fp-rn"));
    let old = store.agent_by_fingerprint("fp-rn").await.unwrap().unwrap();
    assert_eq!(
        old.id, "rn",
        "the old certificate works until the new one is used"
    );
    assert!(
        !store
            .renew_agent_certificate("rn", "fp-unknown", "fp-x")
            .await
            .unwrap(),
        "only a certificate of the agent renews it"
    );
    store
        .retire_previous_certificate("rn", "fp-rn-2")
        .await
        .unwrap();
    assert!(store.agent_by_fingerprint("fp-rn").await.unwrap().is_none());
    assert!(
        store
            .agent_by_fingerprint("fp-rn-2")
            .await
            .unwrap()
            .is_some()
    );
    assert!(store.revoke_agent("rn", NOW + 1).await.unwrap());
    assert!(
        !store
            .renew_agent_certificate("rn", "fp-rn-2", "fp-rn-3")
            .await
            .unwrap(),
        "a revoked agent cannot renew"
    );
    assert_eq!(
        store.agent("rn").await.unwrap().unwrap().cert_fingerprint,
        "fp-rn-2"
    );
}
