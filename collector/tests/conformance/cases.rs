//! Shared helpers of the conformance cases, and the token and agent cases;
//! the other cases are grouped by area beside it (identify, history, writes,
//! conflicts, lists, monitor).
#![allow(clippy::unwrap_used)]

use std::collections::BTreeSet;
use std::sync::Arc;

use rollcall_collector::cmdb::diff::CiItem;
use rollcall_collector::cmdb::reconcile::HostIdentity;
use rollcall_collector::store::{ApplyContext, EnrollRefusal, NewAgent, NewEnrollmentToken, Store};

pub(crate) const NOW: i64 = 1_800_000_000_000;
pub(crate) const DAY: i64 = 86_400_000;

pub(crate) async fn token(store: &Arc<dyn Store>, hash: &str, max_uses: i64, expires_at: i64) {
    store
        .create_enrollment_token(&NewEnrollmentToken {
            id: format!("id-{hash}"),
            token_hash: hash.into(),
            description: "conformance".into(),
            max_uses,
            expires_at,
            created_at: NOW,
        })
        .await
        .unwrap();
}

pub(crate) fn new_agent(id: &str) -> NewAgent {
    NewAgent {
        id: id.into(),
        cert_fingerprint: format!("fp-{id}"),
        hostname: "h".into(),
        version: "t".into(),
        enrolled_at: NOW,
    }
}

/// Enrolls an agent with a fresh single-use token.
pub(crate) async fn agent(store: &Arc<dyn Store>, id: &str) {
    token(store, &format!("token-{id}"), 1, NOW + DAY).await;
    store
        .enroll_agent(&format!("token-{id}"), &new_agent(id))
        .await
        .unwrap()
        .unwrap();
}

pub(crate) fn identity(
    machine_id: &str,
    uuid: &str,
    serial: &str,
    macs: &[&str],
    hostname: &str,
) -> HostIdentity {
    HostIdentity {
        machine_id: machine_id.into(),
        dmi_uuid: uuid.into(),
        dmi_serial: serial.into(),
        macs: macs
            .iter()
            .map(|mac| mac.to_string())
            .collect::<BTreeSet<_>>(),
        hostname: hostname.into(),
    }
}

pub(crate) fn package(name: &str, version: &str) -> CiItem {
    CiItem {
        class: "software".into(),
        key: format!("{name}:amd64"),
        name: name.into(),
        attrs: serde_json::json!({ "name": name, "version": version, "arch": "amd64" }).to_string(),
    }
}

pub(crate) fn context(agent_id: &str, host_id: &str, seq: i64, at: i64) -> ApplyContext {
    ApplyContext {
        agent_id: agent_id.into(),
        host_id: host_id.into(),
        seq,
        at,
    }
}

/// An enrolled agent attached to a new host; returns the host id.
pub async fn attached_host(store: &Arc<dyn Store>, agent_id: &str) -> String {
    attached(store, agent_id).await
}

pub(crate) async fn attached(store: &Arc<dyn Store>, agent_id: &str) -> String {
    agent(store, agent_id).await;
    store
        .attach_host(
            agent_id,
            &identity(&format!("mid-{agent_id}"), "", "", &[], agent_id),
            agent_id,
            NOW,
        )
        .await
        .unwrap()
        .host_id
}

pub async fn enrollment_tokens_count_uses_and_expire(store: Arc<dyn Store>) {
    token(&store, "two-uses", 2, NOW + DAY).await;
    assert_eq!(
        store
            .enroll_agent("two-uses", &new_agent("a1"))
            .await
            .unwrap(),
        Ok(())
    );
    assert_eq!(
        store
            .enroll_agent("two-uses", &new_agent("a2"))
            .await
            .unwrap(),
        Ok(())
    );
    assert_eq!(
        store
            .enroll_agent("two-uses", &new_agent("a3"))
            .await
            .unwrap(),
        Err(EnrollRefusal::UsedUp(2))
    );
    assert!(
        store.agent("a3").await.unwrap().is_none(),
        "a refused agent is not recorded"
    );
    token(&store, "expired", 5, NOW - 1).await;
    assert_eq!(
        store
            .enroll_agent("expired", &new_agent("a4"))
            .await
            .unwrap(),
        Err(EnrollRefusal::Expired)
    );
    assert_eq!(
        store
            .enroll_agent("unknown", &new_agent("a5"))
            .await
            .unwrap(),
        Err(EnrollRefusal::Unknown)
    );
    let tokens = store.enrollment_tokens().await.unwrap();
    let two = tokens
        .iter()
        .find(|token| token.id == "id-two-uses")
        .unwrap();
    assert_eq!(two.uses, 2);
    let agent = store.agent_by_fingerprint("fp-a1").await.unwrap().unwrap();
    assert_eq!(agent.id, "a1");
}

pub async fn api_tokens_are_found_by_hash_only(store: Arc<dyn Store>) {
    assert_eq!(store.api_token_count().await.unwrap(), 0);
    store
        .create_api_token("t1", "ops", "operator", "hash-1", NOW)
        .await
        .unwrap();
    let found = store.api_token_by_hash("hash-1").await.unwrap().unwrap();
    assert_eq!((found.id.as_str(), found.role.as_str()), ("t1", "operator"));
    assert!(store.api_token_by_hash("hash-2").await.unwrap().is_none());
    assert_eq!(store.api_token_count().await.unwrap(), 1);
}

pub async fn revoked_agents_are_marked(store: Arc<dyn Store>) {
    agent(&store, "rv").await;
    assert!(store.revoke_agent("rv", NOW).await.unwrap());
    assert!(!store.revoke_agent("rv", NOW).await.unwrap());
    assert!(
        store
            .agent("rv")
            .await
            .unwrap()
            .unwrap()
            .revoked_at
            .is_some()
    );
    assert!(!store.revoke_agent("nobody", NOW).await.unwrap());
}
