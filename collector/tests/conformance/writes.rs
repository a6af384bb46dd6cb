//! The ingest writes under load: health samples, large snapshots, and group
//! commit with a failing write among many.
#![allow(clippy::unwrap_used)]

use std::collections::BTreeSet;
use std::sync::Arc;

use rollcall_collector::cmdb::diff::CiItem;
use rollcall_collector::store::{ChangeFilter, InventoryChange, Seen, Store};

use super::cases::{NOW, attached, context, package};

pub async fn health_samples_are_stored_once(store: Arc<dyn Store>) {
    let host = attached(&store, "h1").await;
    assert!(
        store
            .record_health(&context("h1", &host, 1, NOW), NOW, b"\x15\x00\x00\x80\x3f")
            .await
            .unwrap()
    );
    assert!(
        !store
            .record_health(&context("h1", &host, 1, NOW), NOW, b"\x15\x00\x00\x80\x3f")
            .await
            .unwrap()
    );
    assert!(
        store
            .record_health(
                &context("h1", &host, 2, NOW + 60_000),
                NOW + 60_000,
                b"\x15\x00\x00\x00\x40"
            )
            .await
            .unwrap()
    );
    let samples = store.health_raw(&host, 0, i64::MAX, 10).await.unwrap();
    assert_eq!(
        samples
            .iter()
            .map(|sample| sample.sampled_at)
            .collect::<Vec<_>>(),
        vec![NOW + 60_000, NOW]
    );
    assert_eq!(samples[1].data, b"\x15\x00\x00\x80\x3f");
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
    // The first inventory is one `discovered` record (DESIGN §5) that holds
    // every item: the state rebuilt from history has all 250 packages.
    let discovered: Vec<_> = changes
        .iter()
        .filter(|c| c.change == "discovered" && c.source == "big" && c.at == NOW)
        .collect();
    assert_eq!(discovered.len(), 1, "{changes:?}");
    assert!(
        changes
            .iter()
            .all(|c| c.change != "added" || c.field == "identification"),
        "no per-item records beside the host's identification"
    );
    let rebuilt = store.items_as_of(&host, NOW).await.unwrap();
    let added: BTreeSet<&str> = rebuilt
        .keys()
        .filter(|(class, _)| class == "software")
        .map(|(_, key)| key.as_str())
        .collect();
    assert_eq!(added.len(), 250);
    assert!(added.contains("pkg000:amd64") && added.contains("pkg249:amd64"));
}

/// Many agents' writes at once share transactions (group commit); a write
/// that fails — here an agent the store does not know — fails alone, and
/// every other write lands exactly once, with its history and counts.
/// The liveness writer and the ingest writers update batches of the same
/// agents rows at once, in different orders: they wait for each other but
/// never deadlock (on PostgreSQL a deadlock failed one of them after 1 s).
pub async fn liveness_and_ingest_batches_of_the_same_agents_never_deadlock(store: Arc<dyn Store>) {
    // Enough rows that PostgreSQL finds them through the index, in the
    // order each statement lists them (a handful it scans in one order).
    const AGENTS: usize = 400;
    const ROUNDS: i64 = 6;
    let mut hosts = Vec::new();
    for n in 0..AGENTS {
        let id = format!("live{n:02}");
        hosts.push((id.clone(), attached(&store, &id).await));
    }
    let mut tasks = tokio::task::JoinSet::new();
    for (agent_id, host_id) in hosts.clone() {
        let store = store.clone();
        tasks.spawn(async move {
            for seq in 1..=ROUNDS {
                let change = InventoryChange {
                    full: seq == 1,
                    items: vec![package("demo", &seq.to_string())],
                    removed: vec![],
                };
                store
                    .apply_inventory(&context(&agent_id, &host_id, seq * 2, NOW + seq), change)
                    .await
                    .map(|_| ())?;
            }
            Ok::<(), rollcall_collector::error::Error>(())
        });
    }
    for round in 0..ROUNDS {
        let store = store.clone();
        // Each batch lists the agents in another order (rotated, reversed).
        let mut batch: Vec<Seen> = hosts
            .iter()
            .map(|(agent_id, host_id)| Seen::new(agent_id, host_id, round * 2 + 1, NOW + round))
            .collect();
        batch.rotate_left(round as usize % AGENTS);
        if round % 2 == 1 {
            batch.reverse();
        }
        tasks.spawn(async move { store.record_seen(&batch).await });
    }
    while let Some(done) = tasks.join_next().await {
        done.unwrap().unwrap();
    }
    for (_, host_id) in &hosts {
        let items = store.host_items(host_id).await.unwrap();
        assert_eq!(items.len(), 1, "{host_id}");
    }
}

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
    // The health sample comes from an agent of its own: a sample from one
    // of the agents above (seq 2) could be applied before that agent's
    // snapshot (seq 1), which would then rightly count as already applied.
    let sampler = attached(&store, "sampler").await;
    let health = {
        let store = store.clone();
        let context = context("sampler", &sampler, 2, NOW);
        tokio::spawn(async move { store.record_health(&context, NOW, b"").await })
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

/// Closing the store (at shutdown) keeps the writes made before it and
/// refuses later ones with a clear store error instead of leaving them
/// waiting for a writer that has stopped.
pub async fn closing_refuses_later_writes_without_hanging(store: Arc<dyn Store>) {
    let host = attached(&store, "closing").await;
    for seq in 1..=5 {
        let stored = store
            .record_health(
                &context("closing", &host, seq, NOW + seq),
                NOW + seq,
                b"\x15\x00\x00\x80\x3f",
            )
            .await
            .unwrap();
        assert!(stored, "a write before close is applied");
    }
    let later = store.clone();
    let closed = tokio::time::timeout(std::time::Duration::from_secs(10), store.close()).await;
    assert!(closed.is_ok(), "close waits only for the writer tasks");
    let error = tokio::time::timeout(
        std::time::Duration::from_secs(10),
        later.record_health(&context("closing", &host, 99, NOW + 99), NOW + 99, b""),
    )
    .await
    .expect("a write after close is answered")
    .unwrap_err();
    assert!(error.to_string().contains("closed"), "{error}");
}

fn item(class: &str, key: &str, attrs: serde_json::Value) -> CiItem {
    CiItem {
        class: class.into(),
        key: key.into(),
        name: key.into(),
        attrs: attrs.to_string(),
    }
}

/// The change sets of host `n` in [`batched_writes_match_writes_applied_one_by_one`]:
/// a first snapshot, then deltas of several shapes (summary columns or
/// not, software in and out, items added, changed and removed).
fn changes_of(n: usize) -> Vec<InventoryChange> {
    let os = |version: &str| {
        item(
            "os",
            "os",
            serde_json::json!({ "name": "Debian", "version": version, "kernel": "6.1", "arch": "x86_64" }),
        )
    };
    let service = |name: &str, state: &str| {
        item(
            "service",
            name,
            serde_json::json!({ "name": name, "state": state }),
        )
    };
    let mut first = vec![
        os("12"),
        service("sshd", "running"),
        service("cron", "running"),
    ];
    first.extend((0..10).map(|i| package(&format!("p{i}"), "1")));
    let mut second = vec![service(&format!("extra{n}"), "running"), package("p1", "2")];
    if n.is_multiple_of(2) {
        second.push(os("13"));
    }
    let mut removed = vec![("software".to_string(), "p2:amd64".to_string())];
    if n.is_multiple_of(3) {
        removed.push(("service".to_string(), "cron".to_string()));
    }
    vec![
        InventoryChange {
            full: true,
            items: first,
            removed: vec![],
        },
        InventoryChange {
            full: false,
            items: second,
            removed,
        },
        InventoryChange {
            full: false,
            items: vec![service(
                "sshd",
                if n.is_multiple_of(2) {
                    "failed"
                } else {
                    "running"
                },
            )],
            removed: vec![],
        },
    ]
}

/// What a host looks like after its writes, without its ids and agent:
/// summary columns, items, and history.
async fn state_of(
    store: &Arc<dyn Store>,
    (agent_id, host_id): &(String, String),
) -> serde_json::Value {
    let host = store.host(host_id).await.unwrap().unwrap();
    let mut items: Vec<_> = store
        .host_items(host_id)
        .await
        .unwrap()
        .into_iter()
        .map(|row| {
            (
                row.class,
                row.item_key,
                row.name,
                row.attrs,
                row.first_seen_at,
                row.updated_at,
            )
        })
        .collect();
    items.sort();
    let mut history: Vec<_> = store
        .changes(&ChangeFilter {
            host_id: Some(host_id.to_string()),
            limit: 1_000,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_iter()
        .map(|c| {
            let ours = format!("\"agent_id\":\"{agent_id}\"");
            let new_value = c
                .new_value
                .map(|value| value.replace(&ours, "\"agent_id\":\"A\""));
            (
                c.at,
                c.class,
                c.item_key,
                c.change,
                c.field,
                c.old_value,
                new_value,
            )
        })
        .collect();
    history.sort();
    serde_json::json!({
        "os": [host.os_name, host.os_version, host.kernel, host.arch],
        "packages": host.package_count,
        "items": items,
        "history": history,
    })
}

/// Deltas of many agents applied at once (group commit: one statement per
/// table for the batch) leave exactly what the same deltas leave applied
/// one at a time; replays in a batch write nothing.
pub async fn batched_writes_match_writes_applied_one_by_one(store: Arc<dyn Store>) {
    const HOSTS: usize = 30;
    let mut together = Vec::new();
    let mut alone = Vec::new();
    for n in 0..HOSTS {
        together.push((format!("t{n}"), attached(&store, &format!("t{n}")).await));
        alone.push((format!("a{n}"), attached(&store, &format!("a{n}")).await));
    }
    // One at a time: each write waits for the one before.
    for (n, (agent_id, host_id)) in alone.iter().enumerate() {
        for (seq, change) in changes_of(n).into_iter().enumerate() {
            let seq = seq as i64 + 1;
            store
                .apply_inventory(&context(agent_id, host_id, seq, NOW + seq), change)
                .await
                .unwrap();
        }
    }
    // Together: every agent's write of one step at once, a health sample
    // and a replay of the step before among them.
    for step in 0..3 {
        let mut writes = Vec::new();
        for (n, (agent_id, host_id)) in together.iter().enumerate() {
            let seq = step as i64 + 1;
            let change = changes_of(n).swap_remove(step);
            let shared = store.clone();
            let context = context(agent_id, host_id, seq, NOW + seq);
            writes.push(tokio::spawn(async move {
                shared.apply_inventory(&context, change).await
            }));
            if step > 0 && n.is_multiple_of(5) {
                let store = store.clone();
                let replay = changes_of(n).swap_remove(step - 1);
                let context = crate::cases::context(agent_id, host_id, seq - 1, NOW + 99);
                writes.push(tokio::spawn(async move {
                    store.apply_inventory(&context, replay).await
                }));
            }
        }
        for write in writes {
            write.await.unwrap().unwrap();
        }
    }
    for n in 0..HOSTS {
        assert_eq!(
            state_of(&store, &together[n]).await,
            state_of(&store, &alone[n]).await,
            "host {n}"
        );
    }
    let sample = state_of(&store, &together[0]).await;
    assert_eq!(sample["os"][1], "13", "{sample}");
    assert_eq!(sample["packages"], 9, "{sample}");
    let odd = state_of(&store, &together[1]).await;
    assert_eq!(odd["os"][1], "12", "{odd}");
}
