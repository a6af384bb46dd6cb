//! Bounded health storage: rollups keep min/avg/max, raw samples leave after
//! their retention and nothing inside it is lost, 5-minute buckets roll into
//! hourly ones and those expire, a pass is idempotent and one cut short
//! resumes exactly, JSON rows of a release before 0007 stay readable and
//! are converted, and the health rules ignore samples too old to act on.
//! Every time is explicit.
#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::sync::Arc;

use rollcall_collector::cmdb::retention::{Pass, pass};
use rollcall_collector::cmdb::rollup::{
    self, Bucket, DAY_MS, FIVE_MINUTES_MS, HOUR_MS, METRIC_COUNT, Tier, encode_sample,
};
use rollcall_collector::config::HealthConfig;
use rollcall_collector::incidents::engine::{Engine, HealthRules};
use rollcall_collector::store::sql::SqlStore;
use rollcall_collector::store::{IncidentFilter, Store};
use rollcall_proto::v1::{FilesystemUsage, HealthReport};
use tokio_util::sync::CancellationToken;

use super::cases::{NOW, attached, context};

/// A day boundary, so bucket and row edges are easy to name.
const DAY: i64 = NOW - NOW % DAY_MS;
const EVERYTHING: (i64, i64) = (0, i64::MAX);

fn report(at: i64, cpu: f32, memory: u64) -> HealthReport {
    HealthReport {
        sampled_at_ms: at,
        cpu_percent: cpu,
        memory_used_bytes: memory,
        memory_total_bytes: 1 << 40,
        ..Default::default()
    }
}

/// Records samples (time, cpu, memory) of `agent` with rising sequence numbers.
async fn record(store: &Arc<dyn Store>, agent: &str, host: &str, samples: &[(i64, f32, u64)]) {
    for (seq, (at, cpu, memory)) in samples.iter().enumerate() {
        let data = encode_sample(&report(*at, *cpu, *memory));
        assert!(
            store
                .record_health(&context(agent, host, seq as i64 + 1, *at), *at, &data)
                .await
                .unwrap()
        );
    }
}

async fn run(store: &Arc<dyn Store>, now: i64, config: &HealthConfig) -> Pass {
    pass(store.as_ref(), config, now, &CancellationToken::new())
        .await
        .unwrap()
}

async fn raw_times(store: &Arc<dyn Store>, host: &str) -> Vec<i64> {
    let mut times: Vec<i64> = store
        .health_raw(host, EVERYTHING.0, EVERYTHING.1, 100_000)
        .await
        .unwrap()
        .iter()
        .map(|sample| sample.sampled_at)
        .collect();
    times.reverse();
    times
}

async fn buckets(store: &Arc<dyn Store>, host: &str, tier: Tier) -> BTreeMap<i64, Bucket> {
    store
        .health_buckets(host, tier, EVERYTHING.0, EVERYTHING.1)
        .await
        .unwrap()
        .into_iter()
        .collect()
}

/// (count, cpu min, cpu avg, cpu max, memory min, memory max) of a bucket.
fn summary(bucket: &Bucket) -> (u64, f64, f64, f64, f64, f64) {
    let (cpu, memory) = (bucket.stats[0], bucket.stats[2]);
    (
        bucket.count,
        cpu.min,
        cpu.avg,
        cpu.max,
        memory.min,
        memory.max,
    )
}

pub async fn health_rollups_keep_min_avg_max_and_raw_leaves_after_retention(store: Arc<dyn Store>) {
    let host = attached(&store, "roll").await;
    let retention = 48 * HOUR_MS;
    let now = DAY + 50 * HOUR_MS;
    let cutoff = now - retention;
    record(
        &store,
        "roll",
        &host,
        &[
            (DAY, 10.0, 1000),
            (DAY + 60_000, 20.0, 3000),
            (DAY + 120_000, 60.0, 2000),
            (DAY + FIVE_MINUTES_MS, 5.0, 7000),
            (cutoff - 1, 1.0, 1),
            (cutoff, 2.0, 2),
            (now - 60_000, 3.0, 3),
        ],
    )
    .await;
    let done = run(&store, now, &HealthConfig::default()).await;
    assert_eq!(done.raw, 5, "{done:?}");
    assert_eq!(
        raw_times(&store, &host).await,
        vec![cutoff, now - 60_000],
        "raw samples older than the retention are gone, the others all kept"
    );
    let five = buckets(&store, &host, Tier::FiveMinutes).await;
    assert_eq!(five.len(), 3, "{five:?}");
    assert_eq!(summary(&five[&DAY]), (3, 10.0, 30.0, 60.0, 1000.0, 3000.0));
    assert_eq!(
        summary(&five[&(DAY + FIVE_MINUTES_MS)]),
        (1, 5.0, 5.0, 5.0, 7000.0, 7000.0)
    );
    let last = rollup::floor(cutoff - 1, FIVE_MINUTES_MS);
    assert_eq!(summary(&five[&last]), (1, 1.0, 1.0, 1.0, 1.0, 1.0));
    assert!(buckets(&store, &host, Tier::Hourly).await.is_empty());

    // A sample taken long ago that arrives late (an agent's spool) joins
    // its bucket: counts and means stay exact.
    record_one(&store, "roll", &host, 8, DAY + 30_000, 50.0).await;
    run(&store, now, &HealthConfig::default()).await;
    let five = buckets(&store, &host, Tier::FiveMinutes).await;
    assert_eq!(summary(&five[&DAY]).0, 4);
    assert_eq!(five[&DAY].stats[0].avg, 35.0);
}

async fn record_one(store: &Arc<dyn Store>, agent: &str, host: &str, seq: i64, at: i64, cpu: f32) {
    let data = encode_sample(&report(at, cpu, 1));
    assert!(
        store
            .record_health(&context(agent, host, seq, at), at, &data)
            .await
            .unwrap()
    );
}

pub async fn five_minute_buckets_roll_into_hourly_ones_which_expire(store: Arc<dyn Store>) {
    let host = attached(&store, "hourly").await;
    record(
        &store,
        "hourly",
        &host,
        &[
            (DAY, 10.0, 100),
            (DAY + FIVE_MINUTES_MS, 30.0, 300),
            (DAY + 59 * 60_000, 20.0, 200),
            (DAY + HOUR_MS, 50.0, 500),
            (DAY + DAY_MS + HOUR_MS, 70.0, 700),
        ],
    )
    .await;
    let config = HealthConfig::default();
    // 5-minute buckets are kept 30 days: rows that ended by then move.
    let now = DAY + 31 * DAY_MS + HOUR_MS;
    let done = run(&store, now, &config).await;
    assert_eq!((done.raw, done.five_minute), (5, 2), "{done:?}");
    let five = buckets(&store, &host, Tier::FiveMinutes).await;
    assert_eq!(
        five.keys().copied().collect::<Vec<_>>(),
        vec![DAY + DAY_MS + HOUR_MS]
    );
    let hourly = buckets(&store, &host, Tier::Hourly).await;
    assert_eq!(hourly.len(), 2, "{hourly:?}");
    assert_eq!(summary(&hourly[&DAY]), (3, 10.0, 20.0, 30.0, 100.0, 300.0));
    assert_eq!(
        summary(&hourly[&(DAY + HOUR_MS)]),
        (1, 50.0, 50.0, 50.0, 500.0, 500.0)
    );

    // Hourly buckets are kept 400 days: the first day's row goes.
    let now = DAY + 401 * DAY_MS + HOUR_MS;
    let done = run(&store, now, &config).await;
    assert_eq!((done.five_minute, done.expired), (1, 1), "{done:?}");
    let hourly = buckets(&store, &host, Tier::Hourly).await;
    assert_eq!(
        hourly.keys().copied().collect::<Vec<_>>(),
        vec![DAY + DAY_MS + HOUR_MS]
    );
    assert!(buckets(&store, &host, Tier::FiveMinutes).await.is_empty());
    assert!(raw_times(&store, &host).await.is_empty());
}

/// The expected 5-minute buckets of `samples`, through the stored encoding.
fn expected(samples: &[(i64, f32, u64)]) -> BTreeMap<i64, Bucket> {
    let mut rows: BTreeMap<i64, BTreeMap<i64, Bucket>> = BTreeMap::new();
    for (at, cpu, memory) in samples {
        let row = rows.entry(rollup::floor(*at, HOUR_MS)).or_default();
        rollup::add(
            row,
            *at,
            &Bucket::of_report(&report(*at, *cpu, *memory)),
            FIVE_MINUTES_MS,
        );
    }
    rows.into_iter()
        .flat_map(|(start, row)| {
            let data = rollup::encode(Tier::FiveMinutes, start, &row).unwrap();
            rollup::decode(Tier::FiveMinutes, start, &data).unwrap()
        })
        .collect()
}

fn assert_close(actual: &BTreeMap<i64, Bucket>, expected: &BTreeMap<i64, Bucket>) {
    assert_eq!(
        actual.keys().collect::<Vec<_>>(),
        expected.keys().collect::<Vec<_>>()
    );
    for (start, bucket) in actual {
        let want = &expected[start];
        assert_eq!(bucket.count, want.count, "bucket {start}");
        for index in 0..METRIC_COUNT {
            let (got, want) = (bucket.stats[index], want.stats[index]);
            for (a, b) in [
                (got.min, want.min),
                (got.avg, want.avg),
                (got.max, want.max),
            ] {
                assert!(
                    (a - b).abs() <= b.abs() * 1e-6,
                    "bucket {start} metric {index}: {a} vs {b}"
                );
            }
        }
    }
}

pub async fn retention_passes_are_idempotent_and_resume_after_being_cut_short(
    store: Arc<dyn Store>,
) {
    let host = attached(&store, "idem").await;
    let samples: Vec<(i64, f32, u64)> = (0..240)
        .map(|i| {
            (
                DAY + i * 60_000,
                (i % 17) as f32,
                1000 + (i as u64 * 37) % 500,
            )
        })
        .collect();
    record(&store, "idem", &host, &samples).await;
    let now = DAY + 48 * HOUR_MS + 3 * HOUR_MS;
    let cutoffs = HealthConfig::default().cutoffs(now);
    // A pass cut short: two small steps commit, then the collector stops.
    for _ in 0..2 {
        let moved = store.roll_up_health(&host, &cutoffs, 7).await.unwrap();
        assert_eq!(moved.raw, 7);
    }
    let config = HealthConfig {
        batch_rows: 50,
        ..HealthConfig::default()
    };
    let done = run(&store, now, &config).await;
    assert_eq!(done.raw, 180 - 14, "{done:?}");
    let first = buckets(&store, &host, Tier::FiveMinutes).await;
    assert_close(&first, &expected(&samples[..180]));
    let kept = raw_times(&store, &host).await;
    assert_eq!(kept, samples[180..].iter().map(|s| s.0).collect::<Vec<_>>());

    let again = run(&store, now, &config).await;
    assert_eq!(again, Pass::default(), "a second pass has nothing to do");
    assert_eq!(buckets(&store, &host, Tier::FiveMinutes).await, first);
    assert_eq!(raw_times(&store, &host).await, kept);
}

async fn open_incidents(store: &Arc<dyn Store>, host: &str) -> usize {
    store
        .incidents(&IncidentFilter {
            state: Some("open".into()),
            ci_id: Some(host.to_string()),
            limit: 10,
            ..Default::default()
        })
        .await
        .unwrap()
        .len()
}

pub async fn stale_health_samples_neither_open_nor_resolve_incidents(store: Arc<dyn Store>) {
    let host = attached(&store, "stale").await;
    let engine = Engine::new(store.clone());
    let rules = HealthRules::default();
    let full = |at: i64, percent: f32| HealthReport {
        sampled_at_ms: at,
        filesystems: vec![FilesystemUsage {
            mount_point: "/var".into(),
            size_bytes: 100,
            used_bytes: percent as u64,
            used_percent: percent,
        }],
        ..Default::default()
    };
    let old = NOW - rules.max_sample_age_ms() - 1;
    engine
        .evaluate_health(&host, "stale", &full(old, 99.0), &rules, NOW)
        .await
        .unwrap();
    assert_eq!(
        open_incidents(&store, &host).await,
        0,
        "a replayed full disk opens nothing"
    );
    engine
        .evaluate_health(&host, "stale", &full(NOW - 1000, 99.0), &rules, NOW)
        .await
        .unwrap();
    assert_eq!(
        open_incidents(&store, &host).await,
        1,
        "a current full disk opens one"
    );
    engine
        .evaluate_health(&host, "stale", &full(old + 5000, 10.0), &rules, NOW + 5000)
        .await
        .unwrap();
    assert_eq!(
        open_incidents(&store, &host).await,
        1,
        "an old empty disk resolves nothing"
    );
    engine
        .evaluate_health(&host, "stale", &full(NOW + 5000, 10.0), &rules, NOW + 5000)
        .await
        .unwrap();
    assert_eq!(
        open_incidents(&store, &host).await,
        0,
        "a current empty disk resolves it"
    );
}

/// JSON rows written by a release before 0007 (table `health_samples`)
/// are read as samples, then re-encoded by the retention job, once. It
/// needs SQL access to plant them, so it takes the `SqlStore` itself.
pub async fn legacy_json_samples_stay_readable_and_are_converted(sql: SqlStore) {
    let pool = sql.pool().clone();
    let store: Arc<dyn Store> = Arc::new(sql);
    let host = attached(&store, "legacy").await;
    let old = report(NOW - 60_000, 42.0, 4096);
    let json = serde_json::to_string(&old).unwrap();
    for (seq, at) in [(1i64, NOW - 60_000), (2, NOW - 49 * HOUR_MS)] {
        sqlx::query(
            "INSERT INTO health_samples (host_id, sampled_at, seq, data) VALUES ($1, $2, $3, $4)",
        )
        .bind(&host)
        .bind(at)
        .bind(seq)
        .bind(&json)
        .execute(&pool)
        .await
        .unwrap();
    }
    record(&store, "legacy", &host, &[(NOW, 1.0, 1)]).await;
    let samples = store.health_raw(&host, 0, i64::MAX, 10).await.unwrap();
    assert_eq!(
        samples.iter().map(|s| s.sampled_at).collect::<Vec<_>>(),
        vec![NOW, NOW - 60_000, NOW - 49 * HOUR_MS]
    );
    assert_eq!(
        rollup::decode_sample(&samples[1].data).map(|r| r.cpu_percent),
        Some(42.0)
    );
    let done = run(&store, NOW, &HealthConfig::default()).await;
    assert_eq!((done.converted, done.raw), (2, 1), "{done:?}");
    let (left,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM health_samples")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(left, 0);
    assert_eq!(raw_times(&store, &host).await, vec![NOW - 60_000, NOW]);
    let five = buckets(&store, &host, Tier::FiveMinutes).await;
    assert_eq!(five.values().map(|b| b.count).sum::<u64>(), 1);
    assert_eq!(
        run(&store, NOW, &HealthConfig::default()).await,
        Pass::default()
    );
}
