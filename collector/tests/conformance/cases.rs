//! The conformance cases, each a function over `Arc<dyn Store>`.
#![allow(clippy::unwrap_used)]

use std::collections::BTreeSet;
use std::sync::Arc;

use rollcall_collector::cmdb::diff::CiItem;
use rollcall_collector::cmdb::reconcile::HostIdentity;
use rollcall_collector::store::{
    ApplyContext, ChangeFilter, EnrollRefusal, HostFilter, InventoryChange, NewAgent,
    NewEnrollmentToken, Seen, Store,
};

const NOW: i64 = 1_800_000_000_000;
const DAY: i64 = 86_400_000;

async fn token(store: &Arc<dyn Store>, hash: &str, max_uses: i64, expires_at: i64) {
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

fn new_agent(id: &str) -> NewAgent {
    NewAgent {
        id: id.into(),
        cert_fingerprint: format!("fp-{id}"),
        hostname: "h".into(),
        version: "t".into(),
        enrolled_at: NOW,
    }
}

/// Enrolls an agent with a fresh single-use token.
async fn agent(store: &Arc<dyn Store>, id: &str) {
    token(store, &format!("token-{id}"), 1, NOW + DAY).await;
    store
        .enroll_agent(&format!("token-{id}"), &new_agent(id))
        .await
        .unwrap()
        .unwrap();
}

fn identity(
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

fn package(name: &str, version: &str) -> CiItem {
    CiItem {
        class: "software".into(),
        key: format!("{name}:amd64"),
        name: name.into(),
        attrs: serde_json::json!({ "name": name, "version": version, "arch": "amd64" }).to_string(),
    }
}

fn context(agent_id: &str, host_id: &str, seq: i64, at: i64) -> ApplyContext {
    ApplyContext {
        agent_id: agent_id.into(),
        host_id: host_id.into(),
        seq,
        at,
    }
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

pub async fn reinstalled_host_lands_on_its_old_ci(store: Arc<dyn Store>) {
    agent(&store, "old").await;
    agent(&store, "new").await;
    let before = identity(
        "machine-old",
        "4C4C4544-0042",
        "CZJ123",
        &["aa:bb:cc:00:00:01"],
        "db-07",
    );
    let first = store
        .attach_host("old", &before, "db-07", NOW)
        .await
        .unwrap();
    assert!(first.created);
    // Re-installed: new machine-id, new agent, same hardware.
    let after = identity(
        "machine-new",
        "4C4C4544-0042",
        "CZJ123",
        &["aa:bb:cc:00:00:01"],
        "db-07",
    );
    let second = store
        .attach_host("new", &after, "db-07", NOW + 1000)
        .await
        .unwrap();
    assert_eq!(second.host_id, first.host_id);
    assert_eq!(second.rule, "dmi_uuid+serial");
    assert!(!second.created);
    let host = store.host(&first.host_id).await.unwrap().unwrap();
    assert_eq!(host.agent_id.as_deref(), Some("new"));
    assert_eq!(host.machine_id, "machine-new");
    assert_eq!(
        store
            .hosts(&HostFilter {
                limit: 10,
                ..Default::default()
            })
            .await
            .unwrap()
            .len(),
        1
    );
    let changes = store
        .changes(&ChangeFilter {
            host_id: Some(first.host_id.clone()),
            limit: 100,
            ..Default::default()
        })
        .await
        .unwrap();
    assert!(changes.iter().any(|change| {
        change.field == "identification"
            && change
                .new_value
                .as_deref()
                .unwrap_or("")
                .contains("dmi_uuid+serial")
    }));
    assert!(
        changes
            .iter()
            .any(|change| change.field == "machine_id" && change.source == "new")
    );
}

pub async fn cloned_vms_do_not_merge(store: Arc<dyn Store>) {
    agent(&store, "vm1").await;
    agent(&store, "vm2").await;
    let one = store
        .attach_host(
            "vm1",
            &identity(
                "golden-image",
                "uuid-1",
                "",
                &["52:54:00:00:00:01"],
                "web-1",
            ),
            "web-1",
            NOW,
        )
        .await
        .unwrap();
    let two = store
        .attach_host(
            "vm2",
            &identity(
                "golden-image",
                "uuid-2",
                "",
                &["52:54:00:00:00:02"],
                "web-2",
            ),
            "web-2",
            NOW,
        )
        .await
        .unwrap();
    assert_ne!(one.host_id, two.host_id);
    assert!(two.created);
    assert_eq!(two.possible_duplicate_of, None);
}

pub async fn placeholder_serials_are_ignored(store: Arc<dyn Store>) {
    agent(&store, "p1").await;
    agent(&store, "p2").await;
    let one = store
        .attach_host(
            "p1",
            &identity(
                "m-1",
                "FFFFFFFF-FFFF-FFFF-FFFF-FFFFFFFFFFFF",
                "To Be Filled By O.E.M.",
                &["00:00:00:00:00:00"],
                "a",
            ),
            "a",
            NOW,
        )
        .await
        .unwrap();
    let two = store
        .attach_host(
            "p2",
            &identity(
                "m-2",
                "03000200-0400-0500-0006-000700080009",
                "To Be Filled By O.E.M.",
                &["00:00:00:00:00:00"],
                "b",
            ),
            "b",
            NOW,
        )
        .await
        .unwrap();
    assert_ne!(
        one.host_id, two.host_id,
        "placeholder serials and UUIDs must not merge hosts"
    );
    let host = store.host(&one.host_id).await.unwrap().unwrap();
    assert_eq!(
        (
            host.dmi_serial.as_str(),
            host.dmi_uuid.as_str(),
            host.macs.as_str()
        ),
        ("", "", "")
    );
}

pub async fn one_nic_changed_still_matches(store: Arc<dyn Store>) {
    agent(&store, "n1").await;
    agent(&store, "n2").await;
    let one = store
        .attach_host(
            "n1",
            &identity(
                "",
                "",
                "",
                &["aa:00:00:00:00:01", "aa:00:00:00:00:02"],
                "nic",
            ),
            "nic",
            NOW,
        )
        .await
        .unwrap();
    let two = store
        .attach_host(
            "n2",
            &identity(
                "",
                "",
                "",
                &["aa:00:00:00:00:01", "aa:00:00:00:00:03"],
                "nic-renamed",
            ),
            "nic-renamed",
            NOW,
        )
        .await
        .unwrap();
    assert_eq!(one.host_id, two.host_id);
    assert_eq!(two.rule, "mac_set");
    let host = store.host(&one.host_id).await.unwrap().unwrap();
    assert_eq!(host.macs, "aa:00:00:00:00:01,aa:00:00:00:00:03");
}

pub async fn hostname_rename_keeps_the_ci(store: Arc<dyn Store>) {
    agent(&store, "r1").await;
    let first = store
        .attach_host(
            "r1",
            &identity("mid-1", "", "", &[], "old-name"),
            "old-name",
            NOW,
        )
        .await
        .unwrap();
    let again = store
        .attach_host(
            "r1",
            &identity("mid-1", "", "", &[], "new-name"),
            "new-name",
            NOW + 10,
        )
        .await
        .unwrap();
    assert_eq!(first.host_id, again.host_id);
    assert_eq!(
        store.host(&first.host_id).await.unwrap().unwrap().hostname,
        "new-name"
    );
    // A re-enrolled agent on the renamed host matches by machine-id.
    agent(&store, "r2").await;
    let third = store
        .attach_host(
            "r2",
            &identity("mid-1", "", "", &[], "newest-name"),
            "newest-name",
            NOW + 20,
        )
        .await
        .unwrap();
    assert_eq!(
        (third.host_id.as_str(), third.rule.as_str()),
        (first.host_id.as_str(), "machine_id")
    );
    let changes = store
        .changes(&ChangeFilter {
            host_id: Some(first.host_id.clone()),
            class: Some("host".into()),
            limit: 100,
            ..Default::default()
        })
        .await
        .unwrap();
    assert!(
        changes.iter().any(|change| change.field == "hostname"
            && change.old_value.as_deref() == Some("\"old-name\""))
    );
}

pub async fn ambiguous_match_is_flagged_not_merged(store: Arc<dyn Store>) {
    for id in ["x1", "x2", "x3"] {
        agent(&store, id).await;
    }
    let one = store
        .attach_host("x1", &identity("", "uuid-a", "", &[], "web"), "web", NOW)
        .await
        .unwrap();
    let two = store
        .attach_host("x2", &identity("", "uuid-b", "", &[], "web"), "web", NOW)
        .await
        .unwrap();
    assert_ne!(
        one.host_id, two.host_id,
        "different DMI UUIDs veto the hostname match"
    );
    let third = store
        .attach_host("x3", &identity("", "", "", &[], "web"), "web", NOW)
        .await
        .unwrap();
    assert!(third.created);
    assert_eq!(third.rule, "ambiguous:hostname");
    assert!(third.possible_duplicate_of.is_some());
    let host = store.host(&third.host_id).await.unwrap().unwrap();
    assert!(host.possible_duplicate_of.is_some());
    assert_eq!(
        store
            .hosts(&HostFilter {
                limit: 10,
                ..Default::default()
            })
            .await
            .unwrap()
            .len(),
        3
    );
}

/// An enrolled agent attached to a new host; returns the host id.
pub async fn attached_host(store: &Arc<dyn Store>, agent_id: &str) -> String {
    attached(store, agent_id).await
}

async fn attached(store: &Arc<dyn Store>, agent_id: &str) -> String {
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

pub async fn snapshot_history_records_every_change(store: Arc<dyn Store>) {
    let host = attached(&store, "s1").await;
    let first = InventoryChange {
        full: true,
        items: vec![
            package("bash", "5.1"),
            package("curl", "7.0"),
            package("zsh", "5.9"),
        ],
        removed: vec![],
    };
    let outcome = store
        .apply_inventory(&context("s1", &host, 1, NOW), first)
        .await
        .unwrap();
    assert_eq!((outcome.added, outcome.changed, outcome.removed), (3, 0, 0));
    assert_eq!(store.host(&host).await.unwrap().unwrap().package_count, 3);
    let second = InventoryChange {
        full: true,
        items: vec![
            package("bash", "5.2"),
            package("curl", "7.0"),
            package("vim", "9.0"),
        ],
        removed: vec![],
    };
    let outcome = store
        .apply_inventory(&context("s1", &host, 2, NOW + 1000), second)
        .await
        .unwrap();
    assert_eq!((outcome.added, outcome.changed, outcome.removed), (1, 1, 1));
    let changes = store
        .changes(&ChangeFilter {
            host_id: Some(host.clone()),
            class: Some("software".into()),
            since: Some(NOW + 1000),
            limit: 100,
            ..Default::default()
        })
        .await
        .unwrap();
    let summary: BTreeSet<(String, String, String)> = changes
        .iter()
        .map(|c| (c.change.clone(), c.item_key.clone(), c.field.clone()))
        .collect();
    assert_eq!(
        summary,
        BTreeSet::from([
            ("added".into(), "vim:amd64".into(), String::new()),
            ("changed".into(), "bash:amd64".into(), "version".into()),
            ("removed".into(), "zsh:amd64".into(), String::new()),
        ])
    );
    let bash = changes.iter().find(|c| c.item_key == "bash:amd64").unwrap();
    assert_eq!(
        (
            bash.old_value.as_deref(),
            bash.new_value.as_deref(),
            bash.source.as_str()
        ),
        (Some("\"5.1\""), Some("\"5.2\""), "s1")
    );
    let items = store.host_items(&host).await.unwrap();
    let keys: Vec<&str> = items.iter().map(|item| item.item_key.as_str()).collect();
    assert_eq!(keys, vec!["bash:amd64", "curl:amd64", "vim:amd64"]);
}

pub async fn deltas_apply_and_are_recorded(store: Arc<dyn Store>) {
    let host = attached(&store, "d1").await;
    let base = InventoryChange {
        full: true,
        items: vec![package("a", "1"), package("b", "1")],
        removed: vec![],
    };
    store
        .apply_inventory(&context("d1", &host, 1, NOW), base)
        .await
        .unwrap();
    let delta = InventoryChange {
        full: false,
        items: vec![package("c", "1")],
        removed: vec![("software".into(), "a:amd64".into())],
    };
    let outcome = store
        .apply_inventory(&context("d1", &host, 2, NOW + 5), delta)
        .await
        .unwrap();
    assert_eq!((outcome.added, outcome.changed, outcome.removed), (1, 0, 1));
    let keys: Vec<String> = store
        .host_items(&host)
        .await
        .unwrap()
        .into_iter()
        .map(|item| item.item_key)
        .collect();
    assert_eq!(
        keys,
        vec!["b:amd64", "c:amd64"],
        "a delta leaves unnamed items alone"
    );
}

pub async fn applying_is_idempotent_by_sequence(store: Arc<dyn Store>) {
    let host = attached(&store, "i1").await;
    let change = InventoryChange {
        full: true,
        items: vec![package("a", "1")],
        removed: vec![],
    };
    assert!(
        !store
            .apply_inventory(&context("i1", &host, 5, NOW), change.clone())
            .await
            .unwrap()
            .duplicate
    );
    let replay = InventoryChange {
        full: true,
        items: vec![package("a", "2")],
        removed: vec![],
    };
    assert!(
        store
            .apply_inventory(&context("i1", &host, 5, NOW + 1), replay.clone())
            .await
            .unwrap()
            .duplicate
    );
    assert!(
        store
            .apply_inventory(&context("i1", &host, 3, NOW + 1), replay)
            .await
            .unwrap()
            .duplicate
    );
    let items = store.host_items(&host).await.unwrap();
    assert!(
        items[0].attrs.contains("\"1\""),
        "a replayed or older message changes nothing"
    );
    assert_eq!(store.agent("i1").await.unwrap().unwrap().last_seq, 5);
    // Heartbeats never move the sequence backwards.
    store
        .record_seen(&[rollcall_collector::store::Seen {
            agent_id: "i1".into(),
            host_id: host.clone(),
            seq: 2,
            at: NOW + 9,
        }])
        .await
        .unwrap();
    assert_eq!(store.agent("i1").await.unwrap().unwrap().last_seq, 5);
}

pub async fn history_queries_by_time_range_and_ci(store: Arc<dyn Store>) {
    let one = attached(&store, "q1").await;
    let two = attached(&store, "q2").await;
    for (seq, at) in [(1, NOW), (2, NOW + DAY), (3, NOW + 2 * DAY)] {
        for (agent_id, host) in [("q1", &one), ("q2", &two)] {
            let change = InventoryChange {
                full: true,
                items: vec![package("app", &format!("{seq}.0"))],
                removed: vec![],
            };
            store
                .apply_inventory(&context(agent_id, host, seq, at), change)
                .await
                .unwrap();
        }
    }
    let fleet_day_two = store
        .changes(&ChangeFilter {
            since: Some(NOW + DAY),
            until: Some(NOW + 2 * DAY),
            class: Some("software".into()),
            limit: 100,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(
        fleet_day_two.len(),
        2,
        "one version change per host on day two"
    );
    assert!(fleet_day_two.iter().all(|change| change.at == NOW + DAY));
    let one_ci = store
        .changes(&ChangeFilter {
            host_id: Some(one.clone()),
            class: Some("software".into()),
            item_key: Some("app:amd64".into()),
            limit: 100,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(one_ci.len(), 3);
    // Cursor pagination walks the fleet history without repeats.
    let mut seen = Vec::new();
    let mut cursor = None;
    loop {
        let page = store
            .changes(&ChangeFilter {
                after_id: cursor,
                limit: 2,
                ..Default::default()
            })
            .await
            .unwrap();
        if page.is_empty() {
            break;
        }
        cursor = page.last().map(|change| change.id);
        seen.extend(page.into_iter().map(|change| change.id));
    }
    let unique: BTreeSet<i64> = seen.iter().copied().collect();
    assert_eq!(unique.len(), seen.len());
}

pub async fn lifecycle_goes_stale_then_retired_and_comes_back(store: Arc<dyn Store>) {
    let host = attached(&store, "l1").await;
    let fresh = attached(&store, "l2").await;
    store
        .record_seen(&[rollcall_collector::store::Seen {
            agent_id: "l2".into(),
            host_id: fresh.clone(),
            seq: 1,
            at: NOW + 8 * DAY,
        }])
        .await
        .unwrap();
    let (stale, retired) = store
        .update_lifecycle(NOW + 8 * DAY, 7 * DAY, 60 * DAY)
        .await
        .unwrap();
    assert_eq!((stale, retired), (1, 0));
    assert_eq!(store.host(&host).await.unwrap().unwrap().lifecycle, "stale");
    assert_eq!(
        store.host(&fresh).await.unwrap().unwrap().lifecycle,
        "active"
    );
    let (stale, retired) = store
        .update_lifecycle(NOW + 61 * DAY, 7 * DAY, 60 * DAY)
        .await
        .unwrap();
    assert_eq!(
        (stale, retired),
        (1, 1),
        "the fresh host goes stale, the old one retires"
    );
    let retired_host = store.host(&host).await.unwrap().unwrap();
    assert_eq!(retired_host.lifecycle, "retired");
    let listed = store
        .hosts(&HostFilter {
            lifecycle: Some("retired".into()),
            limit: 10,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(listed.len(), 1);
    // It comes back: re-activated, history kept.
    let back = store
        .attach_host(
            "l1",
            &identity("mid-l1", "", "", &[], "l1"),
            "l1",
            NOW + 62 * DAY,
        )
        .await
        .unwrap();
    assert_eq!(back.host_id, host);
    assert_eq!(
        store.host(&host).await.unwrap().unwrap().lifecycle,
        "active"
    );
    let history = store
        .changes(&ChangeFilter {
            host_id: Some(host.clone()),
            class: Some("host".into()),
            limit: 100,
            ..Default::default()
        })
        .await
        .unwrap();
    let lifecycle: Vec<(Option<String>, Option<String>)> = history
        .iter()
        .filter(|change| change.field == "lifecycle")
        .map(|change| (change.old_value.clone(), change.new_value.clone()))
        .collect();
    assert_eq!(
        lifecycle,
        vec![
            (Some("\"active\"".into()), Some("\"stale\"".into())),
            (Some("\"stale\"".into()), Some("\"retired\"".into())),
            (Some("\"retired\"".into()), Some("\"active\"".into())),
        ]
    );
}

pub async fn health_samples_are_stored_once(store: Arc<dyn Store>) {
    let host = attached(&store, "h1").await;
    assert!(
        store
            .record_health(&context("h1", &host, 1, NOW), NOW, "{\"cpu_percent\":1}")
            .await
            .unwrap()
    );
    assert!(
        !store
            .record_health(&context("h1", &host, 1, NOW), NOW, "{\"cpu_percent\":1}")
            .await
            .unwrap()
    );
    assert!(
        store
            .record_health(
                &context("h1", &host, 2, NOW + 60_000),
                NOW + 60_000,
                "{\"cpu_percent\":2}"
            )
            .await
            .unwrap()
    );
    let samples = store.health_samples(&host, 10).await.unwrap();
    assert_eq!(
        samples.iter().map(|(at, _)| *at).collect::<Vec<_>>(),
        vec![NOW + 60_000, NOW]
    );
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

/// A snapshot larger than one multi-row INSERT (100 rows) lands whole, with
/// one history record per item, and its items keep their own attributes.
pub async fn large_snapshots_are_written_in_full(store: Arc<dyn Store>) {
    let host = attached(&store, "big").await;
    let items: Vec<CiItem> = (0..250)
        .map(|i| package(&format!("pkg{i:03}"), &format!("1.{i}")))
        .collect();
    let outcome = store
        .apply_inventory(
            &context("big", &host, 1, NOW),
            InventoryChange {
                full: true,
                items,
                removed: vec![],
            },
        )
        .await
        .unwrap();
    assert_eq!(
        (outcome.added, outcome.changed, outcome.removed),
        (250, 0, 0)
    );
    assert_eq!(store.host(&host).await.unwrap().unwrap().package_count, 250);
    let stored = store.host_items(&host).await.unwrap();
    assert_eq!(stored.len(), 250);
    let pkg199 = stored
        .iter()
        .find(|item| item.item_key == "pkg199:amd64")
        .unwrap();
    assert_eq!(pkg199.name, "pkg199");
    assert!(pkg199.attrs.contains("\"1.199\""), "{}", pkg199.attrs);
    assert_eq!(pkg199.first_seen_at, NOW);
    let changes = store
        .changes(&ChangeFilter {
            host_id: Some(host.clone()),
            limit: 1000,
            ..Default::default()
        })
        .await
        .unwrap();
    let added: BTreeSet<&str> = changes
        .iter()
        .filter(|c| {
            c.class == "software" && c.change == "added" && c.source == "big" && c.at == NOW
        })
        .map(|c| c.item_key.as_str())
        .collect();
    assert_eq!(added.len(), 250);
    assert!(added.contains("pkg000:amd64") && added.contains("pkg249:amd64"));
}

/// Many agents' writes at once share transactions (group commit); a write
/// that fails — here an agent the store does not know — fails alone, and
/// every other write lands exactly once, with its history and counts.
pub async fn concurrent_writes_fail_alone(store: Arc<dyn Store>) {
    let mut hosts = Vec::new();
    for n in 0..24 {
        let id = format!("c{n}");
        hosts.push((id.clone(), attached(&store, &id).await));
    }
    let mut writes = Vec::new();
    for (n, (agent_id, host_id)) in hosts.iter().enumerate() {
        let store = store.clone();
        let context = context(agent_id, host_id, 1, NOW);
        let change = InventoryChange {
            full: true,
            items: (0..=n).map(|i| package(&format!("p{i}"), "1")).collect(),
            removed: vec![],
        };
        writes.push(tokio::spawn(async move {
            store.apply_inventory(&context, change).await
        }));
    }
    let unknown = {
        let store = store.clone();
        let context = context("nobody", &hosts[0].1, 1, NOW);
        tokio::spawn(async move {
            store
                .apply_inventory(
                    &context,
                    InventoryChange {
                        full: true,
                        items: vec![package("evil", "1")],
                        removed: vec![],
                    },
                )
                .await
        })
    };
    let health = {
        let store = store.clone();
        let context = context(&hosts[1].0, &hosts[1].1, 2, NOW);
        tokio::spawn(async move { store.record_health(&context, NOW, "{}").await })
    };
    for (n, write) in writes.into_iter().enumerate() {
        let outcome = write.await.unwrap().unwrap();
        assert_eq!((outcome.duplicate, outcome.added), (false, n + 1));
    }
    let error = unknown.await.unwrap().unwrap_err().to_string();
    assert!(error.contains("nobody"), "{error}");
    assert!(health.await.unwrap().unwrap());
    for (n, (_, host_id)) in hosts.iter().enumerate() {
        let host = store.host(host_id).await.unwrap().unwrap();
        assert_eq!(host.package_count, n as i64 + 1);
        assert_eq!(store.host_items(host_id).await.unwrap().len(), n + 1);
    }
    let evil = store.software(Some("evil")).await.unwrap();
    assert!(evil.is_empty(), "the failed write left nothing: {evil:?}");
    // A delta adding and removing packages keeps the count right, and a
    // replay of it (same sequence number) changes nothing.
    let (agent_id, host_id) = &hosts[3];
    let delta = InventoryChange {
        full: false,
        items: vec![package("new", "1"), package("p0", "2")],
        removed: vec![
            ("software".into(), "p1:amd64".into()),
            ("software".into(), "p2:amd64".into()),
        ],
    };
    let outcome = store
        .apply_inventory(&context(agent_id, host_id, 2, NOW + 1), delta.clone())
        .await
        .unwrap();
    assert_eq!((outcome.added, outcome.changed, outcome.removed), (1, 1, 2));
    assert_eq!(store.host(host_id).await.unwrap().unwrap().package_count, 3);
    let replay = store
        .apply_inventory(&context(agent_id, host_id, 2, NOW + 2), delta)
        .await
        .unwrap();
    assert!(replay.duplicate);
    assert_eq!(store.host(host_id).await.unwrap().unwrap().package_count, 3);
    // Batched liveness moves sequence numbers forward only.
    store
        .record_seen(&[
            Seen::new(agent_id, host_id, 1, NOW + 10),
            Seen::new(&hosts[4].0, &hosts[4].1, 7, NOW + 10),
        ])
        .await
        .unwrap();
    assert_eq!(store.agent(agent_id).await.unwrap().unwrap().last_seq, 2);
    let moved = store.agent(&hosts[4].0).await.unwrap().unwrap();
    assert_eq!((moved.last_seq, moved.last_seen_at), (7, Some(NOW + 10)));
    assert_eq!(
        store.host(&hosts[4].1).await.unwrap().unwrap().last_seen_at,
        NOW + 10
    );
}
