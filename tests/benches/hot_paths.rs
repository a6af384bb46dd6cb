//! Criterion micro-benchmarks of the hot paths (DESIGN §9): dpkg parsing,
//! delta computation, flatten + section digests, ingest conversion, dpkg
//! version comparison, the SQLite store applying a 750-package snapshot
//! (changed, unchanged, new host), and ingest batching (many sessions'
//! snapshots and deltas through the store's group commit at once).
//! Short measurement times so `cargo bench` finishes in a few minutes.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::collections::BTreeSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use rollcall_agent::discovery::packages::parse_dpkg_status;
use rollcall_collector::cmdb::diff::CiItem;
use rollcall_collector::cmdb::reconcile::HostIdentity;
use rollcall_collector::store::sql::SqlStore;
use rollcall_collector::store::{
    ApplyContext, InventoryChange, NewAgent, NewEnrollmentToken, Store,
};
use rollcall_proto::inventory;
use rollcall_proto::v1::Inventory;
use rollcall_tests::loadgen::fleet;

/// This machine's dpkg database, or a synthetic one of 750 packages.
fn dpkg_status() -> String {
    std::fs::read_to_string("/var/lib/dpkg/status").unwrap_or_else(|_| {
        (0..750)
            .map(|i| {
                format!(
                    "Package: pkg{i}\nStatus: install ok installed\nArchitecture: amd64\nVersion: 1.{i}-1\nSource: src{i}\n\n"
                )
            })
            .collect()
    })
}

/// A host inventory with this machine's packages.
fn host_inventory() -> Inventory {
    let mut base = rollcall_agent::discovery::collect_inventory(std::path::Path::new("/"));
    if base.packages.len() < 100 {
        base.packages = parse_dpkg_status(&dpkg_status());
    }
    let mut inventory = fleet::inventory(&base, 1, 0.1, usize::MAX);
    inventory.collected_at_ms = rollcall_proto::now_ms();
    inventory
}

fn short(c: &mut Criterion) -> criterion::BenchmarkGroup<'_, criterion::measurement::WallTime> {
    let mut group = c.benchmark_group("hot_paths");
    group
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
        .sample_size(20);
    group
}

fn agent_side(c: &mut Criterion) {
    let status = dpkg_status();
    let inventory = host_inventory();
    let mut changed = fleet::changed(&inventory, 3);
    changed.packages.pop();
    changed.packages.push(rollcall_proto::v1::Package {
        name: "newly-installed".into(),
        version: "1.0".into(),
        arch: "amd64".into(),
        manager: "dpkg".into(),
        ..Default::default()
    });
    let mut group = short(c);
    group.bench_function("dpkg_parse_status", |b| {
        b.iter(|| parse_dpkg_status(&status))
    });
    group.bench_function("delta_diff_3_packages", |b| {
        b.iter(|| rollcall_agent::delta::diff(&inventory, &changed))
    });
    group.bench_function("flatten_and_digests", |b| {
        b.iter(|| inventory::digests(&inventory::flatten(&inventory)))
    });
    group.bench_function("ingest_snapshot_change", |b| {
        b.iter(|| {
            rollcall_collector::ingest::validate::snapshot_change(
                &inventory,
                rollcall_proto::now_ms(),
            )
        })
    });
    // Every installed version against its successor in the list: what the
    // software catalogue does when it orders versions (dpkg rules).
    let versions: Vec<&str> = inventory
        .packages
        .iter()
        .map(|p| p.version.as_str())
        .collect();
    group.throughput(Throughput::Elements(versions.len() as u64));
    group.bench_function("dpkg_version_compare_all_packages", |b| {
        b.iter(|| {
            versions
                .windows(2)
                .filter(|pair| {
                    rollcall_collector::cmdb::version::dpkg_compare(pair[0], pair[1])
                        == std::cmp::Ordering::Less
                })
                .count()
        })
    });
    group.finish();
}

fn store_apply(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let url = format!(
        "sqlite://{}?mode=rwc",
        dir.path().join("bench.db").display()
    );
    let store: Arc<dyn Store> =
        runtime.block_on(async { Arc::new(SqlStore::connect(&url).await.unwrap()) });
    let inventory = host_inventory();
    let changed = fleet::changed(&inventory, 5);
    let seq = AtomicI64::new(0);
    let counter = AtomicI64::new(0);
    let (agent_id, host_id) = runtime.block_on(async {
        store
            .create_enrollment_token(&NewEnrollmentToken {
                id: "bench".into(),
                token_hash: "bench".into(),
                description: "bench".into(),
                max_uses: 1_000_000,
                expires_at: i64::MAX / 2,
                created_at: 0,
            })
            .await
            .unwrap();
        new_host(store.as_ref(), counter.fetch_add(1, Ordering::Relaxed)).await
    });
    let apply = |inventory: &Inventory| {
        let seq = seq.fetch_add(1, Ordering::Relaxed) + 1;
        runtime
            .block_on(store.apply_inventory(
                &context(agent_id.clone(), host_id.clone(), seq),
                snapshot(inventory),
            ))
            .unwrap()
    };
    // A first snapshot so the re-apply below finds everything unchanged.
    apply(&inventory);
    let mut group = short(c);
    group.bench_function("sqlite_apply_snapshot_unchanged", |b| {
        b.iter(|| apply(&inventory))
    });
    // Each iteration alternates the package version: one update and its change record.
    let mut toggle = false;
    group.bench_function("sqlite_apply_snapshot_one_changed", |b| {
        b.iter(|| {
            toggle = !toggle;
            apply(if toggle { &changed } else { &inventory })
        })
    });
    // A new host every iteration: 750+ inserts.
    group.bench_function("sqlite_apply_snapshot_new_host", |b| {
        b.iter_batched(
            || {
                runtime.block_on(new_host(
                    store.as_ref(),
                    counter.fetch_add(1, Ordering::Relaxed),
                ))
            },
            |(agent_id, host_id)| {
                runtime
                    .block_on(
                        store.apply_inventory(&context(agent_id, host_id, 1), snapshot(&inventory)),
                    )
                    .unwrap()
            },
            BatchSize::PerIteration,
        )
    });
    // Ingest batching: many sessions' writes at once go through the store's
    // group commit (one transaction for all waiting writes).
    const TOGETHER: usize = 64;
    group.throughput(Throughput::Elements(TOGETHER as u64));
    group.bench_function("sqlite_ingest_64_new_host_snapshots_together", |b| {
        b.iter_batched(
            || {
                runtime.block_on(futures::future::join_all((0..TOGETHER).map(|_| {
                    new_host(store.as_ref(), counter.fetch_add(1, Ordering::Relaxed))
                })))
            },
            |hosts| {
                runtime.block_on(futures::future::join_all(hosts.into_iter().map(
                    |(agent_id, host_id)| {
                        let store = store.clone();
                        let change = snapshot(&inventory);
                        async move {
                            store
                                .apply_inventory(&context(agent_id, host_id, 1), change)
                                .await
                        }
                    },
                )))
            },
            BatchSize::PerIteration,
        )
    });
    const DELTAS: usize = 256;
    let delta_hosts = runtime.block_on(async {
        let mut hosts = Vec::new();
        for _ in 0..DELTAS {
            let (agent_id, host_id) =
                new_host(store.as_ref(), counter.fetch_add(1, Ordering::Relaxed)).await;
            store
                .apply_inventory(
                    &context(agent_id.clone(), host_id.clone(), 1),
                    snapshot(&inventory),
                )
                .await
                .unwrap();
            hosts.push((agent_id, host_id));
        }
        hosts
    });
    let delta_seq = AtomicI64::new(1);
    group.throughput(Throughput::Elements(DELTAS as u64));
    group.bench_function("sqlite_ingest_256_deltas_together", |b| {
        b.iter(|| {
            let seq = delta_seq.fetch_add(1, Ordering::Relaxed) + 1;
            let version = format!("9.{seq}");
            runtime.block_on(futures::future::join_all(delta_hosts.iter().map(
                |(agent_id, host_id)| {
                    let store = store.clone();
                    let context = context(agent_id.clone(), host_id.clone(), seq);
                    let change = one_package_delta(&version);
                    async move { store.apply_inventory(&context, change).await }
                },
            )))
        })
    });
    group.finish();
}

fn context(agent_id: String, host_id: String, seq: i64) -> ApplyContext {
    ApplyContext {
        agent_id,
        host_id,
        seq,
        at: rollcall_proto::now_ms(),
    }
}

fn snapshot(inventory: &Inventory) -> InventoryChange {
    rollcall_collector::ingest::validate::snapshot_change(inventory, rollcall_proto::now_ms())
        .unwrap()
}

/// A delta that upgrades one package to `version`.
fn one_package_delta(version: &str) -> InventoryChange {
    InventoryChange {
        full: false,
        items: vec![CiItem {
            class: "software".into(),
            key: "bench-package:amd64".into(),
            name: "bench-package".into(),
            attrs: format!(r#"{{"name":"bench-package","version":"{version}","arch":"amd64"}}"#),
        }],
        removed: Vec::new(),
    }
}

/// Enrolls agent number `n` and attaches a new host for it.
async fn new_host(store: &dyn Store, n: i64) -> (String, String) {
    let agent_id = format!("agent-new-{n}");
    store
        .enroll_agent(
            "bench",
            &NewAgent {
                id: agent_id.clone(),
                cert_fingerprint: format!("fp-new-{n}"),
                hostname: format!("new-{n}"),
                version: "bench".into(),
                enrolled_at: 0,
            },
        )
        .await
        .unwrap()
        .unwrap();
    let identity = HostIdentity {
        machine_id: format!("new-machine-{n}"),
        dmi_uuid: String::new(),
        dmi_serial: String::new(),
        macs: BTreeSet::new(),
        hostname: format!("new-{n}"),
    };
    let host_id = store
        .attach_host(&agent_id, &identity, "new", 0)
        .await
        .unwrap()
        .host_id;
    (agent_id, host_id)
}

criterion_group!(benches, agent_side, store_apply);
criterion_main!(benches);
