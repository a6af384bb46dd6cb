//! Benchmarks of the software catalogue on SQLite, printed as numbers:
//!
//! 1. database bytes per host after first inventories: `FIRST` hosts
//!    (default 200) each apply this machine's real inventory (its ~800
//!    packages, with a host name and machine-id of their own) through the
//!    `Store` trait; the file is checkpointed and its size divided by the
//!    hosts; the process CPU time of the applies divided by the hosts;
//! 2. `openssl < X` at `HOSTS` hosts (default 10,000): the first hosts'
//!    software rows are copied in SQL to reach `HOSTS` hosts (a store-level
//!    fill, not applies), with openssl at one of five versions, then 200
//!    queries through `HostStore::hosts_running` (page of 100), p50/p99.
//!
//! `HOSTS` 0 skips part 2, so that under callgrind two runs with different
//! `FIRST` differ only by applies (and their set-up).
//!
//! `cargo run --release -p rollcall-collector --example catalogue_bench -- DIR [FIRST] [HOSTS]`
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)]

mod support;

use std::time::Instant;

use rollcall_collector::cmdb::software::{Comparison, VersionCondition};
use rollcall_collector::ingest::validate;
use rollcall_collector::store::sql::SqlStore;
use rollcall_collector::store::{ApplyContext, HostFilter, HostStore, InventoryStore, Store};
use sqlx::Row;

const T0: i64 = 1_790_000_000_000;
const OPENSSL: [&str; 5] = [
    "3.0.9-1",
    "3.0.11-1~deb12u1",
    "3.0.11-1~deb12u2",
    "3.0.13-1~deb12u1",
    "3.0.15-1~deb12u1",
];

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let mut args = std::env::args().skip(1);
    let dir = std::path::PathBuf::from(args.next().expect("DIR"));
    let first: usize = args.next().map_or(200, |a| a.parse().unwrap());
    let total: usize = args.next().map_or(10_000, |a| a.parse().unwrap());
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("catalogue-bench.db");
    let _ = std::fs::remove_file(&path);
    let store = SqlStore::connect(&format!("sqlite://{}?mode=rwc", path.display()))
        .await
        .unwrap();
    let mut real = rollcall_agent::discovery::collect_inventory(std::path::Path::new("/"));
    real.collected_at_ms = T0;
    println!("packages per host: {}", real.packages.len());
    let mut contexts = Vec::new();
    for index in 0..first {
        contexts.push(support::enrolled_host(&store, index, T0).await);
    }
    let (cpu, wall) = (support::cpu_ms(), Instant::now());
    for (index, (agent, host)) in contexts.iter().enumerate() {
        let mut inventory = real.clone();
        if let Some(identity) = inventory.identity.as_mut() {
            identity.hostname = format!("host-{index}");
            identity.machine_id = format!("{index:032x}");
        }
        for package in inventory
            .packages
            .iter_mut()
            .filter(|p| p.name == "openssl")
        {
            package.version = OPENSSL[index % OPENSSL.len()].into();
        }
        let change = validate::snapshot_change(&inventory, T0).unwrap();
        store
            .apply_inventory(
                &ApplyContext {
                    agent_id: agent.clone(),
                    host_id: host.clone(),
                    seq: 1,
                    at: T0,
                },
                change,
            )
            .await
            .unwrap();
    }
    let (cpu, wall) = (support::cpu_ms() - cpu, wall.elapsed());
    println!(
        "first inventories: {first} hosts in {:.1} s wall, {:.2} ms process CPU each (store-level: validation, diff, SQL, SQLite)",
        wall.as_secs_f64(),
        cpu / first as f64
    );
    let pool = store.pool().clone();
    sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)")
        .execute(&pool)
        .await
        .unwrap();
    let bytes = std::fs::metadata(&path).unwrap().len();
    println!(
        "database: {bytes} bytes after {first} first inventories: {:.1} KB per host",
        bytes as f64 / first as f64 / 1000.0
    );
    for table in ["host_software", "ci_items", "changes", "packages"] {
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT COUNT(*) AS n FROM {table}"
        )))
        .fetch_one(&pool)
        .await
        .unwrap();
        println!("  {table}: {} rows", row.get::<i64, _>("n"));
    }
    if total == 0 {
        store.close().await;
        return;
    }
    // Fill to `total` hosts: copies of the first hosts' rows in SQL.
    let mut tx = pool.begin().await.unwrap();
    for index in first..total {
        let source = format!("{}", index % first);
        let id = format!("bench-{index:06}");
        sqlx::query(
            "INSERT INTO hosts (id, hostname, machine_id, first_seen_at, last_seen_at, package_count) \
             SELECT $1, $2, $3, first_seen_at, last_seen_at, package_count FROM hosts WHERE hostname = $4",
        )
        .bind(&id)
        .bind(format!("host-{index}"))
        .bind(format!("{index:032x}"))
        .bind(format!("host-{source}"))
        .execute(&mut *tx)
        .await
        .unwrap();
        let key: i64 =
            sqlx::query("INSERT INTO host_keys (host_id) VALUES ($1) RETURNING host_key")
                .bind(&id)
                .fetch_one(&mut *tx)
                .await
                .unwrap()
                .get("host_key");
        sqlx::query(
            "INSERT INTO host_software (host_key, package_id, installed_at_s, first_seen_at, updated_at) \
             SELECT $1, hs.package_id, hs.installed_at_s, hs.first_seen_at, hs.updated_at FROM host_software hs \
             JOIN host_keys hk ON hk.host_key = hs.host_key JOIN hosts h ON h.id = hk.host_id WHERE h.hostname = $2",
        )
        .bind(key)
        .bind(format!("host-{}", index % first))
        .execute(&mut *tx)
        .await
        .unwrap();
    }
    tx.commit().await.unwrap();
    sqlx::query("ANALYZE").execute(&pool).await.unwrap();
    let rows: i64 = sqlx::query("SELECT COUNT(*) AS n FROM host_software")
        .fetch_one(&pool)
        .await
        .unwrap()
        .get("n");
    println!("filled to {total} hosts, {rows} software rows");
    let mut times = Vec::new();
    let mut matched = 0;
    for round in 0..200 {
        let bound = OPENSSL[1 + round % (OPENSSL.len() - 1)];
        let started = Instant::now();
        let hosts = store
            .hosts_running(
                &HostFilter {
                    limit: 100,
                    ..Default::default()
                },
                "openssl",
                &[VersionCondition {
                    comparison: Comparison::Lt,
                    bound: bound.into(),
                }],
            )
            .await
            .unwrap();
        times.push(started.elapsed().as_secs_f64() * 1000.0);
        matched += hosts.len();
    }
    times.sort_by(f64::total_cmp);
    println!(
        "openssl < X at {total} hosts, page of 100: p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms ({} hosts returned in all)",
        times[times.len() / 2],
        times[times.len() * 99 / 100],
        times[times.len() - 1],
        matched
    );
    store.close().await;
}
