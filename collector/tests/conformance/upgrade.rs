//! The upgrade path: a copy of `tests/fixtures/upgrade-0006.db`, written by
//! the code before migration 0008 (software in `ci_items`, one `added`
//! record per item of a first inventory), opened by this code. SQLite only:
//! the fixture is a SQLite file.
#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;

use rollcall_collector::store::sql::SqlStore;
use rollcall_collector::store::{
    ChangeFilter, ChangeStore, HostFilter, HostStore, IncidentFilter, IncidentStore, OutageFilter,
    PresenceStore, Store,
};
use sqlx::{Connection, Row};

type Items = BTreeMap<(String, String), String>;

/// The fixture's first inventories were applied at this time (ms).
const FIRST_INVENTORY: i64 = 1_790_000_001_000;

struct Before {
    items: BTreeMap<String, Items>,
    first: BTreeMap<String, Items>,
    later_changes: usize,
}

/// What the old schema holds, read with plain SQL before any migration.
async fn before(url: &str) -> Before {
    sqlx::any::install_default_drivers();
    let mut connection = sqlx::AnyConnection::connect(url).await.unwrap();
    let mut items: BTreeMap<String, Items> = BTreeMap::new();
    for row in sqlx::query("SELECT host_id, class, item_key, attrs FROM ci_items")
        .fetch_all(&mut connection)
        .await
        .unwrap()
    {
        items
            .entry(row.get("host_id"))
            .or_default()
            .insert((row.get("class"), row.get("item_key")), row.get("attrs"));
    }
    let mut first: BTreeMap<String, Items> = BTreeMap::new();
    for row in sqlx::query(
        "SELECT host_id, class, item_key, new_value FROM changes WHERE change = 'added' AND at = $1",
    )
    .bind(FIRST_INVENTORY)
    .fetch_all(&mut connection)
    .await
    .unwrap()
    {
        first
            .entry(row.get("host_id"))
            .or_default()
            .insert((row.get("class"), row.get("item_key")), row.get("new_value"));
    }
    let later: i64 = sqlx::query("SELECT COUNT(*) AS n FROM changes WHERE at <> $1")
        .bind(FIRST_INVENTORY)
        .fetch_one(&mut connection)
        .await
        .unwrap()
        .get("n");
    connection.close().await.unwrap();
    Before {
        items,
        first,
        later_changes: usize::try_from(later).unwrap(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_of_migration_0006_upgrades_keeping_everything() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("upgrade.db");
    std::fs::copy(
        concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/upgrade-0006.db"
        ),
        &path,
    )
    .unwrap();
    let url = format!("sqlite://{}?mode=rwc", path.display());
    let old = before(&url).await;
    assert_eq!(old.items.len(), 3, "the fixture has three hosts with items");
    let store = SqlStore::connect(&url).await.unwrap();
    // Software left ci_items for the catalogue.
    let (in_ci_items, catalogue): (i64, i64) = {
        let pool = store.pool();
        let row = sqlx::query(
            "SELECT (SELECT COUNT(*) FROM ci_items WHERE class = 'software') AS a, (SELECT COUNT(*) FROM packages) AS b",
        )
        .fetch_one(pool)
        .await
        .unwrap();
        (row.get("a"), row.get("b"))
    };
    assert_eq!(in_ci_items, 0);
    assert!(catalogue >= 40, "{catalogue}");
    let hosts = store
        .hosts(&HostFilter {
            limit: 100,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(hosts.len(), 3);
    for host in &hosts {
        // Every item, exactly as it was.
        let now: Items = store
            .host_items(&host.id)
            .await
            .unwrap()
            .into_iter()
            .map(|item| ((item.class, item.item_key), item.attrs))
            .collect();
        assert_eq!(now, old.items[&host.id], "items of {}", host.hostname);
        let software = now.keys().filter(|(class, _)| class == "software").count();
        assert_eq!(host.package_count, i64::try_from(software).unwrap());
        // Migration 0009 filled the hardware summary from the stored `system` item.
        let system: serde_json::Value =
            serde_json::from_str(&now[&("system".to_string(), String::new())]).unwrap();
        assert_eq!(host.virtualization, system["hypervisor"].as_str().unwrap());
        assert_eq!(host.vendor, system["vendor"].as_str().unwrap());
        // The first inventory folded into one record that rebuilds it exactly.
        let changes = store
            .changes(&ChangeFilter {
                host_id: Some(host.id.clone()),
                limit: 1000,
                ..Default::default()
            })
            .await
            .unwrap();
        let discovered: Vec<_> = changes
            .iter()
            .filter(|c| c.change == "discovered")
            .collect();
        assert_eq!(discovered.len(), 1, "{}", host.hostname);
        assert_eq!(discovered[0].at, FIRST_INVENTORY);
        assert!(
            !changes
                .iter()
                .any(|c| c.change == "added" && c.at == FIRST_INVENTORY)
        );
        assert_eq!(
            store.items_as_of(&host.id, FIRST_INVENTORY).await.unwrap(),
            old.first[&host.id],
            "first inventory of {}",
            host.hostname
        );
        assert_eq!(store.items_as_of(&host.id, i64::MAX).await.unwrap(), now);
    }
    // Every later record is kept: identification, the delta, the new kernel.
    let all = store
        .changes(&ChangeFilter {
            limit: 1000,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(all.len(), old.later_changes + 3);
    let web1 = hosts.iter().find(|h| h.hostname == "web-1").unwrap();
    let upgraded = all
        .iter()
        .find(|c| c.host_id == web1.id && c.change == "changed" && c.class == "software")
        .unwrap();
    assert_eq!(upgraded.field, "version");
    assert!(
        upgraded
            .new_value
            .as_deref()
            .unwrap()
            .ends_with("+fixture1\"")
    );
    let web2 = hosts.iter().find(|h| h.hostname == "web-2").unwrap();
    assert!(
        all.iter()
            .any(|c| c.host_id == web2.id && c.field == "kernel")
    );
    // Outages and incidents untouched.
    let outages = store
        .outages(&OutageFilter {
            limit: 10,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(outages.len(), 2);
    assert!(
        outages
            .iter()
            .any(|o| o.id == "outage-db-1" && o.ended_at == Some(1_790_000_260_000))
    );
    let incidents = store
        .incidents(&IncidentFilter {
            state: Some("all".into()),
            limit: 10,
            ..Default::default()
        })
        .await
        .unwrap();
    let states: BTreeMap<&str, &str> = incidents
        .iter()
        .map(|i| (i.id.as_str(), i.state.as_str()))
        .collect();
    assert_eq!(
        states,
        BTreeMap::from([
            ("incident-outage-db-1", "resolved"),
            ("incident-outage-web-2", "open")
        ])
    );
    // A version filter works on the upgraded catalogue.
    let any_package = old.items[&web1.id]
        .keys()
        .find(|(class, _)| class == "software")
        .map(|(_, key)| key.split(':').next().unwrap().to_string())
        .unwrap();
    let running = rollcall_collector::cmdb::software::hosts_running(
        &store,
        &HostFilter {
            limit: 10,
            ..Default::default()
        },
        &any_package,
        &[],
    )
    .await
    .unwrap();
    assert!(running.iter().any(|h| h.id == web1.id));
    store.close().await;
    // Opening it again changes nothing.
    let again = SqlStore::connect(&url).await.unwrap();
    assert_eq!(
        again
            .changes(&ChangeFilter {
                limit: 1000,
                ..Default::default()
            })
            .await
            .unwrap()
            .len(),
        all.len()
    );
    again.close().await;
}
