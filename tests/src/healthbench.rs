//! The health storage benchmark's logic (`rollcall-health-bench`): writes
//! health samples with explicit timestamps straight into a real store
//! (SQLite file, or PostgreSQL through `ROLLCALL_TEST_DATABASE_URL`), runs
//! the collector's retention pass as simulated time advances, and measures
//! the database bytes health storage takes per host.
//!
//! Two measurements: after `--days` (30) simulated days at the default
//! 60 s interval, every sample written; and, with `--steady-days` (430),
//! the steady state, when every tier is full (48 h raw, 30 days of
//! 5-minute buckets, 400 days of hourly buckets). Writing 430 days of
//! samples at 60 s would take hours, so past `--days` a sample is written
//! only as densely as its tier keeps it by the end: one an hour for what
//! ends in the hourly tier, one every 5 minutes for the 5-minute tier,
//! every 60 s for the last raw period. Every bucket that exists at the
//! end then exists as it would with every sample; a bucket's size does
//! not depend on how many samples it counts.

use std::sync::Arc;
use std::time::Instant;

use anyhow::{Context, Result};
use clap::Parser;
use rollcall_collector::cmdb::reconcile::HostIdentity;
use rollcall_collector::cmdb::retention;
use rollcall_collector::cmdb::rollup::{DAY_MS, FIVE_MINUTES_MS, HOUR_MS, encode_sample};
use rollcall_collector::config::HealthConfig;
use rollcall_collector::store::sql::SqlStore;
use rollcall_collector::store::{ApplyContext, NewAgent, NewEnrollmentToken, Store};
use rollcall_proto::v1::{FilesystemUsage, HealthReport, InterfaceRate};
use serde::Serialize;
use tokio_util::sync::CancellationToken;

/// Command-line options.
#[derive(Debug, Clone, Parser)]
#[command(
    name = "rollcall-health-bench",
    about = "Health storage per host under the retention job"
)]
pub struct Options {
    /// Simulated hosts.
    #[arg(long, default_value_t = 20)]
    pub hosts: usize,
    /// Days written at the full interval, then measured.
    #[arg(long, default_value_t = 30)]
    pub days: i64,
    /// Days simulated in all for the steady-state measurement (0: skip it).
    #[arg(long, default_value_t = 430)]
    pub steady_days: i64,
    /// Seconds between samples (the collector's default `health_interval_s`).
    #[arg(long, default_value_t = 60)]
    pub interval_s: i64,
    /// Simulated seconds between retention passes while writing every
    /// sample (the job's default period is 300 s; the buckets it leaves do
    /// not depend on it).
    #[arg(long, default_value_t = 3600)]
    pub pass_every_s: i64,
    /// `postgres` to run on `ROLLCALL_TEST_DATABASE_URL` (a schema of its own), else SQLite.
    #[arg(long, default_value = "sqlite")]
    pub db: String,
    /// Write the report as JSON here.
    #[arg(long)]
    pub json: Option<std::path::PathBuf>,
}

/// One measurement.
#[derive(Debug, Clone, Serialize)]
pub struct Measurement {
    /// Simulated days at the measurement.
    pub simulated_days: i64,
    /// Health bytes per host: the database's bytes minus its bytes before any sample, over the hosts.
    pub bytes_per_host: f64,
    /// Raw samples per host.
    pub raw_rows_per_host: f64,
    /// 5-minute rows (one hour each) per host.
    pub five_minute_rows_per_host: f64,
    /// Hourly rows (half a day each) per host.
    pub hourly_rows_per_host: f64,
    /// 5-minute buckets per host.
    pub five_minute_buckets_per_host: f64,
    /// Hourly buckets per host.
    pub hourly_buckets_per_host: f64,
}

/// What the benchmark measured.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// Backend.
    pub db: String,
    /// Hosts.
    pub hosts: usize,
    /// Sample interval (s).
    pub interval_s: i64,
    /// One sample as stored now (protobuf), bytes.
    pub sample_bytes: usize,
    /// The same sample as JSON (how a release before 0007 stored it), bytes.
    pub sample_json_bytes: usize,
    /// Samples written in all.
    pub samples_written: u64,
    /// Retention passes run.
    pub passes: u64,
    /// Transactions those passes committed.
    pub steps: u64,
    /// Mean time of a step (ms), including the pass's reads.
    pub mean_step_ms: f64,
    /// Longest pass (ms).
    pub longest_pass_ms: f64,
    /// Database bytes before any sample (hosts only).
    pub baseline_bytes: u64,
    /// After `--days` at the full interval.
    pub after_days: Measurement,
    /// Steady state, every tier full.
    pub steady: Option<Measurement>,
    /// Wall time of the whole run (s).
    pub wall_s: f64,
}

/// A plausible sample of host `host` at `at`: four filesystems, two
/// interfaces, values that move with time.
pub fn sample(host: usize, at: i64) -> HealthReport {
    let wave = ((at / 60_000) % 97) as f32;
    let filesystems = ["/", "/boot", "/var", "/home"]
        .iter()
        .enumerate()
        .map(|(index, mount)| FilesystemUsage {
            mount_point: (*mount).into(),
            size_bytes: 100_000_000_000,
            used_bytes: 40_000_000_000 + (index as u64) * 1_000_000_000 + (wave as u64) * 1_000_000,
            used_percent: 40.0 + index as f32 + wave / 100.0,
        })
        .collect();
    HealthReport {
        sampled_at_ms: at,
        cpu_percent: (wave * 1.03) % 100.0,
        load1: wave / 40.0,
        load5: wave / 50.0,
        load15: wave / 60.0,
        memory_used_bytes: 6_000_000_000 + (wave as u64) * 10_000_000 + host as u64,
        memory_total_bytes: 16_000_000_000,
        swap_used_bytes: 100_000_000,
        swap_total_bytes: 2_000_000_000,
        filesystems,
        interfaces: vec![
            InterfaceRate {
                name: "eth0".into(),
                rx_bytes_per_s: 12_345.0 + f64::from(wave) * 10.0,
                tx_bytes_per_s: 6_789.0 + f64::from(wave),
            },
            InterfaceRate {
                name: "lo".into(),
                rx_bytes_per_s: 100.0,
                tx_bytes_per_s: 100.0,
            },
        ],
        process_count: 180 + (wave as u32),
        uptime_s: u64::try_from(at / 1000).unwrap_or(0),
        failed_units: Vec::new(),
    }
}

struct Bench {
    sql: SqlStore,
    store: Arc<dyn Store>,
    hosts: Vec<(String, String)>,
    seq: i64,
    written: u64,
    passes: u64,
    steps: u64,
    pass_ms: f64,
    longest_pass_ms: f64,
    postgres: bool,
}

impl Bench {
    async fn write_round(&mut self, at: i64) -> Result<()> {
        self.seq += 1;
        // All hosts at once, as their sessions would: the writer commits them together.
        let writes: Vec<_> = self
            .hosts
            .iter()
            .enumerate()
            .map(|(index, (agent, host))| {
                let store = self.store.clone();
                let context = ApplyContext {
                    agent_id: agent.clone(),
                    host_id: host.clone(),
                    seq: self.seq,
                    at,
                };
                let data = encode_sample(&sample(index, at));
                tokio::spawn(async move { store.record_health(&context, at, &data).await })
            })
            .collect();
        for write in writes {
            write.await??;
        }
        self.written += self.hosts.len() as u64;
        Ok(())
    }

    async fn pass(&mut self, now: i64) -> Result<()> {
        let started = Instant::now();
        let done = retention::pass(
            self.store.as_ref(),
            &HealthConfig::default(),
            now,
            &CancellationToken::new(),
        )
        .await?;
        let ms = started.elapsed().as_secs_f64() * 1000.0;
        self.passes += 1;
        self.steps += done.steps as u64;
        self.pass_ms += ms;
        self.longest_pass_ms = self.longest_pass_ms.max(ms);
        anyhow::ensure!(done.failed_hosts == 0, "a retention step failed: {done:?}");
        if self.postgres {
            // What autovacuum (on by default) does between passes; the
            // test server here runs with it off, which grew the tables by
            // every deleted raw row (20 MB a host after 30 days).
            sqlx::query("VACUUM health_raw, health_rollups")
                .execute(self.sql.pool())
                .await?;
        }
        Ok(())
    }

    async fn bytes(&self) -> Result<u64> {
        let pool = self.sql.pool();
        if self.postgres {
            // Plain VACUUM: the size a vacuumed server holds (free space
            // inside the files is reused, not returned).
            sqlx::query("VACUUM ANALYZE health_raw, health_rollups, health_samples")
                .execute(pool)
                .await?;
            let (bytes,): (i64,) = sqlx::query_as(
                "SELECT (pg_total_relation_size('health_raw') + pg_total_relation_size('health_rollups') \
                 + pg_total_relation_size('health_samples'))::BIGINT",
            )
            .fetch_one(pool)
            .await?;
            return Ok(u64::try_from(bytes).unwrap_or(0));
        }
        sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)")
            .execute(pool)
            .await?;
        sqlx::query("VACUUM").execute(pool).await?;
        let (pages,): (i64,) = sqlx::query_as("PRAGMA page_count").fetch_one(pool).await?;
        let (size,): (i64,) = sqlx::query_as("PRAGMA page_size").fetch_one(pool).await?;
        Ok(u64::try_from(pages * size).unwrap_or(0))
    }

    async fn measure(&self, days: i64, baseline: u64) -> Result<Measurement> {
        let bytes = self.bytes().await?;
        let pool = self.sql.pool();
        let count = |sql: &'static str| async move {
            let (n,): (i64,) = sqlx::query_as(sql).fetch_one(pool).await?;
            anyhow::Ok(n as f64)
        };
        let hosts = self.hosts.len() as f64;
        let raw = count("SELECT COUNT(*) FROM health_raw").await?;
        let five = count("SELECT COUNT(*) FROM health_rollups WHERE tier = 300").await?;
        let hourly = count("SELECT COUNT(*) FROM health_rollups WHERE tier = 3600").await?;
        let (mut five_buckets, mut hourly_buckets) = (0usize, 0usize);
        for (_, host) in &self.hosts {
            five_buckets += self
                .store
                .health_buckets(
                    host,
                    rollcall_collector::cmdb::rollup::Tier::FiveMinutes,
                    0,
                    i64::MAX,
                )
                .await?
                .len();
            hourly_buckets += self
                .store
                .health_buckets(
                    host,
                    rollcall_collector::cmdb::rollup::Tier::Hourly,
                    0,
                    i64::MAX,
                )
                .await?
                .len();
        }
        Ok(Measurement {
            simulated_days: days,
            bytes_per_host: bytes.saturating_sub(baseline) as f64 / hosts,
            raw_rows_per_host: raw / hosts,
            five_minute_rows_per_host: five / hosts,
            hourly_rows_per_host: hourly / hosts,
            five_minute_buckets_per_host: five_buckets as f64 / hosts,
            hourly_buckets_per_host: hourly_buckets as f64 / hosts,
        })
    }
}

async fn open(options: &Options, dir: &std::path::Path) -> Result<(SqlStore, bool)> {
    if options.db == "postgres" {
        let url = crate::fixtures::postgres_url()
            .await
            .context("--db postgres needs ROLLCALL_TEST_DATABASE_URL")?;
        return Ok((SqlStore::connect(&url).await?, true));
    }
    let url = format!(
        "sqlite://{}?mode=rwc",
        dir.join("health-bench.db").display()
    );
    Ok((SqlStore::connect(&url).await?, false))
}

async fn add_hosts(
    store: &Arc<dyn Store>,
    count: usize,
    now: i64,
) -> Result<Vec<(String, String)>> {
    let mut hosts = Vec::with_capacity(count);
    for index in 0..count {
        let agent = format!("bench-agent-{index:05}");
        let token = format!("bench-token-{index:05}");
        store
            .create_enrollment_token(&NewEnrollmentToken {
                id: token.clone(),
                token_hash: token.clone(),
                description: "health bench".into(),
                max_uses: 1,
                expires_at: now + DAY_MS,
                created_at: now,
            })
            .await?;
        store
            .enroll_agent(
                &token,
                &NewAgent {
                    id: agent.clone(),
                    cert_fingerprint: format!("fp-{agent}"),
                    hostname: format!("bench-{index:05}"),
                    version: "bench".into(),
                    enrolled_at: now,
                },
            )
            .await?
            .map_err(|refusal| anyhow::anyhow!("enrolment refused: {refusal:?}"))?;
        let identity = HostIdentity {
            machine_id: format!("bench-machine-{index:05}"),
            dmi_uuid: String::new(),
            dmi_serial: String::new(),
            macs: Default::default(),
            hostname: format!("bench-{index:05}"),
        };
        let host = store
            .attach_host(&agent, &identity, &format!("bench-{index:05}"), now)
            .await?
            .host_id;
        hosts.push((agent, host));
    }
    Ok(hosts)
}

/// Runs the benchmark.
pub async fn run(options: Options) -> Result<Report> {
    let wall = Instant::now();
    let dir = tempfile::tempdir()?;
    let (sql, postgres) = open(&options, dir.path()).await?;
    let store: Arc<dyn Store> = Arc::new(sql.clone());
    // A day boundary in 2027.
    let start = 1_800_000_000_000 - 1_800_000_000_000 % DAY_MS;
    let hosts = add_hosts(&store, options.hosts, start).await?;
    let mut bench = Bench {
        sql,
        store,
        hosts,
        seq: 1,
        written: 0,
        passes: 0,
        steps: 0,
        pass_ms: 0.0,
        longest_pass_ms: 0.0,
        postgres,
    };
    let baseline = bench.bytes().await?;
    let interval = options.interval_s * 1000;
    let pass_every = options.pass_every_s * 1000;
    let dense_end = start + options.days * DAY_MS;
    let mut at = start;
    let mut next_pass = start + pass_every;
    while at < dense_end {
        bench.write_round(at).await?;
        at += interval;
        if at >= next_pass {
            bench.pass(at).await?;
            next_pass += pass_every;
        }
    }
    bench.pass(dense_end).await?;
    let after_days = bench.measure(options.days, baseline).await?;
    eprintln!(
        "after {} days: {:.0} bytes a host",
        options.days, after_days.bytes_per_host
    );
    let mut steady = None;
    if options.steady_days > options.days {
        let end = start + options.steady_days * DAY_MS;
        let config = HealthConfig::default();
        let raw_from = end - (config.raw_retention_s as i64) * 1000 - HOUR_MS;
        let five_from = end - (config.five_minute_retention_s as i64) * 1000 - DAY_MS;
        while at < end {
            bench.write_round(at).await?;
            let step = if at >= raw_from {
                interval
            } else if at >= five_from {
                FIVE_MINUTES_MS
            } else {
                HOUR_MS
            };
            at += step;
            // As often as the tier written is dense: the job's work per pass stays bounded.
            if at >= next_pass {
                bench.pass(at).await?;
                next_pass = at
                    + if step == HOUR_MS {
                        6 * HOUR_MS
                    } else {
                        pass_every
                    };
            }
        }
        bench.pass(end).await?;
        let measured = bench.measure(options.steady_days, baseline).await?;
        eprintln!(
            "steady ({} days): {:.0} bytes a host",
            options.steady_days, measured.bytes_per_host
        );
        steady = Some(measured);
    }
    let reference = sample(0, start);
    Ok(Report {
        db: if postgres { "postgres" } else { "sqlite" }.into(),
        hosts: options.hosts,
        interval_s: options.interval_s,
        sample_bytes: encode_sample(&reference).len(),
        sample_json_bytes: serde_json::to_string(&reference)?.len(),
        samples_written: bench.written,
        passes: bench.passes,
        steps: bench.steps,
        mean_step_ms: if bench.steps == 0 {
            0.0
        } else {
            bench.pass_ms / bench.steps as f64
        },
        longest_pass_ms: bench.longest_pass_ms,
        baseline_bytes: baseline,
        after_days,
        steady,
        wall_s: wall.elapsed().as_secs_f64(),
    })
}

/// The report as a table.
pub fn table(report: &Report) -> String {
    let mut out = format!(
        "health storage, {} hosts on {}, one sample every {} s\n\
         sample stored: {} bytes (JSON before 0007: {} bytes)\n\
         samples written: {}, retention passes: {}, steps: {}, mean step {:.2} ms, longest pass {:.0} ms\n",
        report.hosts,
        report.db,
        report.interval_s,
        report.sample_bytes,
        report.sample_json_bytes,
        report.samples_written,
        report.passes,
        report.steps,
        report.mean_step_ms,
        report.longest_pass_ms,
    );
    out.push_str(
        "days  bytes/host  MB/host  raw rows  5-min rows (buckets)  hourly rows (buckets)\n",
    );
    for measurement in std::iter::once(&report.after_days).chain(report.steady.iter()) {
        out.push_str(&format!(
            "{:>4}  {:>10.0}  {:>7.2}  {:>8.0}  {:>10.0} ({:>7.0})  {:>11.0} ({:>7.0})\n",
            measurement.simulated_days,
            measurement.bytes_per_host,
            measurement.bytes_per_host / 1e6,
            measurement.raw_rows_per_host,
            measurement.five_minute_rows_per_host,
            measurement.five_minute_buckets_per_host,
            measurement.hourly_rows_per_host,
            measurement.hourly_buckets_per_host,
        ));
    }
    out.push_str(&format!("wall time {:.0} s\n", report.wall_s));
    out
}
