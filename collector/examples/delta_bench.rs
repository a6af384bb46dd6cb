//! Store-level benchmark of inventory deltas through the group commit,
//! printed as numbers: `HOSTS` hosts (default 1,000) each apply a first
//! snapshot of 100 packages, then `ROUNDS` rounds (default 10) in which
//! every host sends one delta at once (one package version toggled), as a
//! fleet's deltas reach the writer together. Reported: deltas a second
//! (wall) and process CPU per delta (validation-free: diff, SQL, the
//! SQLite engine in-process; on PostgreSQL the server's CPU is not in it).
//!
//! `cargo run --release -p rollcall-collector --example delta_bench -- DIR [HOSTS] [ROUNDS] [DATABASE_URL]`
//! (default database: a new SQLite file in DIR; a PostgreSQL URL must name
//! an empty database or schema).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)]

mod support;

use std::sync::Arc;
use std::time::Instant;

use rollcall_collector::cmdb::diff::CiItem;
use rollcall_collector::store::sql::SqlStore;
use rollcall_collector::store::{ApplyContext, InventoryChange, Store};

const T0: i64 = 1_790_000_000_000;
const PACKAGES: usize = 100;

fn package(index: usize, version: &str) -> CiItem {
    let name = format!("package-{index:03}");
    CiItem {
        class: "software".into(),
        key: format!("{name}:amd64"),
        name: name.clone(),
        attrs: serde_json::json!({ "name": name, "version": version, "arch": "amd64", "manager": "dpkg" })
            .to_string(),
    }
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let mut args = std::env::args().skip(1);
    let dir = std::path::PathBuf::from(args.next().expect("DIR"));
    let hosts: usize = args.next().map_or(1_000, |a| a.parse().unwrap());
    let rounds: usize = args.next().map_or(10, |a| a.parse().unwrap());
    std::fs::create_dir_all(&dir).unwrap();
    let url = args.next().unwrap_or_else(|| {
        let path = dir.join("delta-bench.db");
        let _ = std::fs::remove_file(&path);
        format!("sqlite://{}?mode=rwc", path.display())
    });
    let store: Arc<dyn Store> = Arc::new(SqlStore::connect(&url).await.unwrap());
    println!(
        "backend: {}, hosts: {hosts}, rounds: {rounds}",
        store.backend()
    );
    let mut contexts = Vec::new();
    for index in 0..hosts {
        contexts.push(support::enrolled_host(&*store, index, T0).await);
    }
    let contexts = Arc::new(contexts);
    let apply_all = |round: usize| {
        let store = store.clone();
        let contexts = contexts.clone();
        async move {
            let mut writes = Vec::with_capacity(contexts.len());
            for (agent, host) in contexts.iter() {
                let change = if round == 0 {
                    InventoryChange {
                        full: true,
                        items: (0..PACKAGES).map(|i| package(i, "1.0")).collect(),
                        removed: Vec::new(),
                    }
                } else {
                    let version = if round % 2 == 1 { "1.1" } else { "1.0" };
                    InventoryChange {
                        full: false,
                        items: vec![package(round % PACKAGES, version)],
                        removed: Vec::new(),
                    }
                };
                let context = ApplyContext {
                    agent_id: agent.clone(),
                    host_id: host.clone(),
                    seq: round as i64 + 1,
                    at: T0 + round as i64 * 1_000,
                };
                let store = store.clone();
                writes.push(tokio::spawn(async move {
                    store.apply_inventory(&context, change).await
                }));
            }
            for write in writes {
                write.await.unwrap().unwrap();
            }
        }
    };
    let (cpu, wall) = (support::cpu_ms(), Instant::now());
    apply_all(0).await;
    let (cpu, wall) = (support::cpu_ms() - cpu, wall.elapsed());
    println!(
        "first snapshots ({PACKAGES} packages): {:.0}/s, {:.2} ms process CPU each",
        hosts as f64 / wall.as_secs_f64(),
        cpu / hosts as f64
    );
    let (cpu, wall) = (support::cpu_ms(), Instant::now());
    for round in 1..=rounds {
        apply_all(round).await;
    }
    let (cpu, wall) = (support::cpu_ms() - cpu, wall.elapsed());
    let deltas = (hosts * rounds) as f64;
    println!(
        "deltas: {deltas:.0} in {:.2} s: {:.0}/s, {:.3} ms process CPU each",
        wall.as_secs_f64(),
        deltas / wall.as_secs_f64(),
        cpu / deltas
    );
    store.close().await;
}
