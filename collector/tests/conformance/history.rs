//! Inventory snapshots and deltas, their change history, and host lifecycle.
#![allow(clippy::unwrap_used)]

use std::collections::BTreeSet;
use std::sync::Arc;

use rollcall_collector::store::{ChangeFilter, HostFilter, InventoryChange, Store};

use super::cases::{DAY, NOW, attached, context, identity, package};

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
    // The first version is in the host's `discovered` record; the two
    // upgrades are field-level records of the CI.
    assert_eq!(one_ci.len(), 2);
    assert!(one_ci.iter().all(|change| change.change == "changed"));
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
    assert_eq!((stale, retired.len()), (1, 0));
    assert_eq!(store.host(&host).await.unwrap().unwrap().lifecycle, "stale");
    assert_eq!(
        store.host(&fresh).await.unwrap().unwrap().lifecycle,
        "active"
    );
    let (stale, retired) = store
        .update_lifecycle(NOW + 61 * DAY, 7 * DAY, 60 * DAY)
        .await
        .unwrap();
    assert_eq!(retired, std::slice::from_ref(&host), "the old host retires");
    assert_eq!(
        (stale, retired.len()),
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
