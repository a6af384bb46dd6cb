//! Criterion micro-benchmarks of the hot paths (DESIGN §9): dpkg parsing,
//! delta computation, flatten + section digests, ingest conversion, and the
//! SQLite store applying a 750-package snapshot (changed and unchanged).
//! Short measurement times so `cargo bench` finishes in a few minutes.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::collections::BTreeSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use rollcall_agent::discovery::packages::parse_dpkg_status;
use rollcall_collector::cmdb::reconcile::HostIdentity;
use rollcall_collector::store::sql::SqlStore;
use rollcall_collector::store::{ApplyContext, NewAgent, NewEnrollmentToken, Store};
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
        b.iter(|| rollcall_collector::ingest::snapshot_change(&inventory, rollcall_proto::now_ms()))
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
    let host_id = runtime.block_on(async {
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
        store
            .enroll_agent(
                "bench",
                &NewAgent {
                    id: "agent-bench".into(),
                    cert_fingerprint: "fp-bench".into(),
                    hostname: "bench".into(),
                    version: "bench".into(),
                    enrolled_at: 0,
                },
            )
            .await
            .unwrap()
            .unwrap();
        let identity = HostIdentity {
            machine_id: "bench-machine".into(),
            dmi_uuid: String::new(),
            dmi_serial: String::new(),
            macs: BTreeSet::new(),
            hostname: "bench".into(),
        };
        store
            .attach_host("agent-bench", &identity, "bench", 0)
            .await
            .unwrap()
            .host_id
    });
    let apply = |inventory: &Inventory| {
        let now = rollcall_proto::now_ms();
        let change = rollcall_collector::ingest::snapshot_change(inventory, now).unwrap();
        let context = ApplyContext {
            agent_id: "agent-bench".into(),
            host_id: host_id.clone(),
            seq: seq.fetch_add(1, Ordering::Relaxed) + 1,
            at: now,
        };
        runtime
            .block_on(store.apply_inventory(&context, change))
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
    let counter = AtomicI64::new(0);
    group.bench_function("sqlite_apply_snapshot_new_host", |b| {
        b.iter_batched(
            || {
                let n = counter.fetch_add(1, Ordering::Relaxed);
                let agent_id = format!("agent-new-{n}");
                runtime.block_on(async {
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
                    let host = store
                        .attach_host(&agent_id, &identity, "new", 0)
                        .await
                        .unwrap()
                        .host_id;
                    (agent_id, host)
                })
            },
            |(agent_id, host_id)| {
                let now = rollcall_proto::now_ms();
                let change = rollcall_collector::ingest::snapshot_change(&inventory, now).unwrap();
                let context = ApplyContext {
                    agent_id,
                    host_id,
                    seq: 1,
                    at: now,
                };
                runtime
                    .block_on(store.apply_inventory(&context, change))
                    .unwrap()
            },
            BatchSize::PerIteration,
        )
    });
    group.finish();
}

criterion_group!(benches, agent_side, store_apply);
criterion_main!(benches);
