//! Host CI ownership at `Hello` (DESIGN §5 Ownership): an identity matching a
//! CI owned by another agent that is recently heard gets its own CI, flagged,
//! with a `conflict` event; a revoked or silent owner's CI is taken over, with
//! a `takeover` event.
#![allow(clippy::unwrap_used)]

use std::sync::Arc;

use rollcall_collector::store::{IdentityEventFilter, Seen, Store};

use super::cases::{DAY, NOW, agent, identity};

const WINDOW: Option<i64> = Some(DAY);

async fn owned_host(store: &Arc<dyn Store>, owner: &str, machine_id: &str) -> String {
    agent(store, owner).await;
    let attachment = store
        .claim_host(
            owner,
            &identity(machine_id, "", "", &["aa:00:00:00:00:01"], owner),
            owner,
            NOW,
            WINDOW,
        )
        .await
        .unwrap();
    assert!(attachment.created);
    attachment.host_id
}

async fn events(store: &Arc<dyn Store>, host_id: &str) -> Vec<serde_json::Value> {
    store
        .identity_events(&IdentityEventFilter {
            host_id: Some(host_id.into()),
            limit: 100,
            ..Default::default()
        })
        .await
        .unwrap()
        .iter()
        .map(|event| serde_json::to_value(event).unwrap())
        .collect()
}

pub async fn claim_on_a_recently_heard_owners_ci_gets_a_new_flagged_ci(store: Arc<dyn Store>) {
    let host_a = owned_host(&store, "owner", "machine-a").await;
    // The owner keeps heartbeating: heard 20 h after its Hello.
    store
        .record_seen(&[Seen {
            agent_id: "owner".into(),
            host_id: host_a.clone(),
            seq: 1,
            at: NOW + 20 * 3_600_000,
        }])
        .await
        .unwrap();
    agent(&store, "intruder").await;
    // 25 h after the Hello, 5 h after the last heartbeat.
    let at = NOW + DAY + 3_600_000;
    let claimed = identity("machine-a", "", "", &[], "pwned");
    let claim = store
        .claim_host("intruder", &claimed, "pwned", at, WINDOW)
        .await
        .unwrap();
    assert!(claim.created, "{claim:?}");
    assert_ne!(claim.host_id, host_a);
    assert_eq!(claim.rule, "conflict:machine_id");
    assert_eq!(
        claim.possible_duplicate_of.as_deref(),
        Some(host_a.as_str())
    );

    let a = store.host(&host_a).await.unwrap().unwrap();
    assert_eq!(a.agent_id.as_deref(), Some("owner"));
    assert_eq!(a.hostname, "owner");
    assert_eq!(a.macs, "aa:00:00:00:00:01");
    let duplicate = store.host(&claim.host_id).await.unwrap().unwrap();
    assert_eq!(duplicate.agent_id.as_deref(), Some("intruder"));
    assert_eq!(
        duplicate.possible_duplicate_of.as_deref(),
        Some(host_a.as_str())
    );

    let recorded = events(&store, &host_a).await;
    assert_eq!(recorded.len(), 1, "{recorded:?}");
    assert_eq!(recorded[0]["kind"], "conflict");
    assert_eq!(recorded[0]["reason"], "owner_recent");
    assert_eq!(recorded[0]["rule"], "machine_id");
    assert_eq!(recorded[0]["old_agent_id"], "owner");
    assert_eq!(recorded[0]["new_agent_id"], "intruder");
    assert_eq!(recorded[0]["new_host_id"], claim.host_id.as_str());
    let identifiers: serde_json::Value =
        serde_json::from_str(recorded[0]["identifiers"].as_str().unwrap()).unwrap();
    assert_eq!(identifiers["machine_id"], "machine-a");

    // Both keep their own CI on their next Hello.
    let again = store
        .claim_host("intruder", &claimed, "pwned", at + 1, WINDOW)
        .await
        .unwrap();
    assert_eq!(
        (again.host_id.as_str(), again.rule.as_str()),
        (claim.host_id.as_str(), "agent")
    );
    let owner = store
        .claim_host(
            "owner",
            &identity("machine-a", "", "", &[], "owner"),
            "owner",
            at + 2,
            WINDOW,
        )
        .await
        .unwrap();
    assert_eq!(
        (owner.host_id.as_str(), owner.rule.as_str()),
        (host_a.as_str(), "agent")
    );
    assert_eq!(events(&store, &host_a).await.len(), 1);
}

pub async fn claim_on_a_revoked_owners_ci_takes_it_over_and_is_recorded(store: Arc<dyn Store>) {
    let host_a = owned_host(&store, "old", "machine-r").await;
    assert!(store.revoke_agent("old", NOW + 10).await.unwrap());
    agent(&store, "new").await;
    let claim = store
        .claim_host(
            "new",
            &identity("machine-r", "", "", &[], "old"),
            "old",
            NOW + 20,
            WINDOW,
        )
        .await
        .unwrap();
    assert_eq!(
        (claim.host_id.as_str(), claim.created),
        (host_a.as_str(), false)
    );
    assert_eq!(claim.rule, "machine_id");
    let a = store.host(&host_a).await.unwrap().unwrap();
    assert_eq!(a.agent_id.as_deref(), Some("new"));
    assert_eq!(store.agent("old").await.unwrap().unwrap().host_id, None);
    let recorded = events(&store, &host_a).await;
    assert_eq!(recorded.len(), 1, "{recorded:?}");
    assert_eq!(recorded[0]["kind"], "takeover");
    assert_eq!(recorded[0]["reason"], "owner_revoked");
    assert_eq!(recorded[0]["old_agent_id"], "old");
    assert_eq!(recorded[0]["new_agent_id"], "new");
    assert!(recorded[0]["new_host_id"].is_null());
}

pub async fn claim_on_a_silent_owners_ci_takes_it_over_and_the_old_owner_cannot_return(
    store: Arc<dyn Store>,
) {
    let host_a = owned_host(&store, "before", "machine-s").await;
    agent(&store, "after").await;
    // Reinstalled: the old agent was last heard at its Hello, a day and a second ago.
    let at = NOW + DAY + 1000;
    let claim = store
        .claim_host(
            "after",
            &identity("machine-s", "", "", &["aa:00:00:00:00:01"], "before"),
            "before",
            at,
            WINDOW,
        )
        .await
        .unwrap();
    assert_eq!(
        (claim.host_id.as_str(), claim.created),
        (host_a.as_str(), false)
    );
    let a = store.host(&host_a).await.unwrap().unwrap();
    assert_eq!(a.agent_id.as_deref(), Some("after"));
    let recorded = events(&store, &host_a).await;
    assert_eq!(recorded.len(), 1, "{recorded:?}");
    assert_eq!(recorded[0]["kind"], "takeover");
    assert_eq!(recorded[0]["reason"], "owner_silent");
    assert_eq!(recorded[0]["old_agent_id"], "before");

    // The old agent comes back while the new owner is live: it may not take the CI back.
    let back = store
        .claim_host(
            "before",
            &identity("machine-s", "", "", &["aa:00:00:00:00:01"], "before"),
            "before",
            at + 1000,
            WINDOW,
        )
        .await
        .unwrap();
    assert!(back.created, "{back:?}");
    assert_eq!(back.possible_duplicate_of.as_deref(), Some(host_a.as_str()));
    let a = store.host(&host_a).await.unwrap().unwrap();
    assert_eq!(a.agent_id.as_deref(), Some("after"));
    let recorded = events(&store, &host_a).await;
    assert_eq!(recorded.len(), 2, "{recorded:?}");
    assert_eq!(recorded[1]["kind"], "conflict");
    assert_eq!(recorded[1]["old_agent_id"], "after");
    assert_eq!(recorded[1]["new_agent_id"], "before");
}
