//! Writes the database of `collector/tests/fixtures/upgrade-0006.db`: three
//! hosts with this machine's real inventory (packages cut to a few dozen
//! each, so the file stays small), deltas, and one host that went down
//! (an outage and a host-down incident, by the real presence monitor on a
//! manual clock), all through the `Store` trait.
//!
//! It was run at commit f0d4c15 (migrations up to 0006, software in
//! `ci_items`, one `added` record per item) to produce the fixture the
//! upgrade test opens: `cargo run -p rollcall-collector --example
//! upgrade_fixture -- PATH`. Run with later code it writes a database of
//! that code's schema instead.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeSet;
use std::sync::Arc;

use rollcall_collector::cmdb::reconcile::HostIdentity;
use rollcall_collector::ingest::validate;
use rollcall_collector::store::sql::SqlStore;
use rollcall_collector::store::{
    ApplyContext, Incident, InventoryChange, NewAgent, NewEnrollmentToken, NewOutage, Store,
};

/// The fixture's clock: 2026-09-20.
const T0: i64 = 1_790_000_000_000;

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let path = std::env::args()
        .nth(1)
        .expect("usage: upgrade_fixture PATH");
    let _ = std::fs::remove_file(&path);
    let store: Arc<dyn Store> = Arc::new(
        SqlStore::connect(&format!("sqlite://{path}?mode=rwc"))
            .await
            .expect("store"),
    );
    let mut real = rollcall_agent::discovery::collect_inventory(std::path::Path::new("/"));
    real.packages.sort_by(|a, b| a.name.cmp(&b.name));
    let mut hosts = Vec::new();
    for (index, name) in ["web-1", "web-2", "db-1"].into_iter().enumerate() {
        let agent = format!("agent-{name}");
        store
            .create_enrollment_token(&NewEnrollmentToken {
                id: format!("tok-{name}"),
                token_hash: format!("hash-{name}"),
                description: "fixture".into(),
                max_uses: 1,
                expires_at: T0 + 86_400_000,
                created_at: T0,
            })
            .await
            .unwrap();
        store
            .enroll_agent(
                &format!("hash-{name}"),
                &NewAgent {
                    id: agent.clone(),
                    cert_fingerprint: format!("fp-{name}"),
                    hostname: name.into(),
                    version: "0.1.0".into(),
                    enrolled_at: T0,
                },
            )
            .await
            .unwrap()
            .unwrap();
        let identity = HostIdentity {
            machine_id: format!("{index:032x}"),
            dmi_uuid: String::new(),
            dmi_serial: String::new(),
            macs: BTreeSet::from([format!("52:54:00:00:00:0{index}")]),
            hostname: name.into(),
        };
        let host = store
            .attach_host(&agent, &identity, name, T0)
            .await
            .unwrap()
            .host_id;
        // Real items of this machine, with this host's name and a share of its packages.
        let mut inventory = real.clone();
        inventory.collected_at_ms = T0 + 1_000;
        if let Some(found) = inventory.identity.as_mut() {
            found.hostname = name.into();
            found.fqdn = format!("{name}.example.net");
            found.machine_id = identity.machine_id.clone();
        }
        inventory.packages = real
            .packages
            .iter()
            .skip(index * 10)
            .take(40)
            .cloned()
            .collect();
        let change = validate::snapshot_change(&inventory, T0 + 1_000).unwrap();
        store
            .apply_inventory(&context(&agent, &host, 1, T0 + 1_000), change)
            .await
            .unwrap();
        hosts.push((agent, host, inventory));
    }
    // Deltas: one package upgraded, one removed, one installed on web-1;
    // web-2 gets a new kernel (a singleton field change).
    let (agent, host, inventory) = &hosts[0];
    let mut upgraded = inventory.packages[3].clone();
    upgraded.version = format!("{}+fixture1", upgraded.version);
    let mut installed = real.packages[200].clone();
    installed.installed_at_s = (T0 + 60_000) / 1000;
    let removed = inventory.packages[5].clone();
    let delta = InventoryChange {
        full: false,
        items: validate::snapshot_change(
            &rollcall_proto::v1::Inventory {
                collected_at_ms: T0 + 60_000,
                packages: vec![upgraded, installed],
                ..Default::default()
            },
            T0 + 60_000,
        )
        .unwrap()
        .items,
        removed: vec![(
            "software".into(),
            rollcall_proto::inventory::package_key(&removed),
        )],
    };
    store
        .apply_inventory(&context(agent, host, 2, T0 + 60_000), delta)
        .await
        .unwrap();
    let (agent, host, inventory) = &hosts[1];
    let mut rebooted = inventory.clone();
    rebooted.collected_at_ms = T0 + 120_000;
    if let Some(os) = rebooted.os.as_mut() {
        os.kernel = format!("{}-fixture", os.kernel);
    }
    let change = validate::snapshot_change(&rebooted, T0 + 120_000).unwrap();
    store
        .apply_inventory(&context(agent, host, 2, T0 + 120_000), change)
        .await
        .unwrap();
    // db-1 went silent: an outage from its last heartbeat, the host_down
    // incident linked to it, both closed when it came back; a second,
    // still open outage on web-2 with its open incident.
    let db = &hosts[2].1;
    for (id, host, began, ended) in [
        ("outage-db-1", db, T0 + 200_000, Some(T0 + 260_000)),
        ("outage-web-2", &hosts[1].1, T0 + 300_000, None),
    ] {
        store
            .open_outage(&NewOutage {
                id: id.into(),
                host_id: host.clone(),
                kind: "unplanned".into(),
                cause: "no heartbeat for 3 intervals".into(),
                began_at: began,
                detected_at: began + 3_000,
            })
            .await
            .unwrap();
        let incident = Incident {
            id: format!("incident-{id}"),
            dedup_key: format!("{host}:host_down"),
            ci_id: host.clone(),
            rule: "host_down".into(),
            severity: "critical".into(),
            state: "open".into(),
            summary: "host down".into(),
            details: "{}".into(),
            parent_id: None,
            suppressed: 0,
            flaps: 0,
            opened_at: began + 3_000,
            acknowledged_at: None,
            acknowledged_by: None,
            resolved_at: None,
            updated_at: began + 3_000,
        };
        assert!(
            store
                .insert_incident(&incident, Some("opened"))
                .await
                .unwrap()
        );
        store.link_outage(id, &incident.id).await.unwrap();
        if let Some(ended) = ended {
            store.close_outages(host, ended).await.unwrap();
            assert!(
                store
                    .resolve_incident(&incident.id, ended, Some("resolved"))
                    .await
                    .unwrap()
            );
        }
    }
    let outages = store
        .outages(&rollcall_collector::store::OutageFilter {
            limit: 10,
            ..Default::default()
        })
        .await
        .unwrap();
    let incidents = store
        .incidents(&rollcall_collector::store::IncidentFilter {
            state: Some("all".into()),
            limit: 10,
            ..Default::default()
        })
        .await
        .unwrap();
    println!(
        "{} hosts, {} outages, {} incidents",
        hosts.len(),
        outages.len(),
        incidents.len()
    );
    store.close().await;
}

fn context(agent: &str, host: &str, seq: i64, at: i64) -> ApplyContext {
    ApplyContext {
        agent_id: agent.into(),
        host_id: host.into(),
        seq,
        at,
    }
}
