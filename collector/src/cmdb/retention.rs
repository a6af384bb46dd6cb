//! The health retention job: every `health.rollup_interval_s`, re-encodes
//! what a release before 0007 stored as JSON, then walks the hosts and,
//! for each, rolls raw samples past `health.raw_retention_s` into 5-minute
//! buckets, 5-minute buckets past their retention into hourly ones, and
//! deletes hourly buckets past theirs. Every step is one short transaction
//! of at most `health.batch_rows` rows (`HealthStore::roll_up_health`),
//! and the job yields between steps, so ingest's writer never waits long
//! for SQLite's write lock. A step moves rows (merge and delete commit
//! together): a pass cut short by a crash or a shutdown resumes where it
//! stopped, and a second pass finds nothing to do.

use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::config::HealthConfig;
use crate::error::Result;
use crate::store::Store;

/// Hosts read per page of the walk.
const HOSTS_PER_PAGE: i64 = 200;

/// What one pass did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Pass {
    /// Samples re-encoded from the pre-0007 JSON table.
    pub converted: usize,
    /// Raw samples rolled into 5-minute buckets.
    pub raw: usize,
    /// 5-minute rows (one hour each) rolled into hourly buckets.
    pub five_minute: usize,
    /// Hourly rows (half a day each) deleted.
    pub expired: usize,
    /// Transactions that moved something.
    pub steps: usize,
    /// Hosts whose steps failed (logged; retried next pass).
    pub failed_hosts: usize,
}

/// Runs a pass at start and then every `rollup_interval_s`, until `shutdown`.
pub async fn run(store: Arc<dyn Store>, config: HealthConfig, shutdown: CancellationToken) {
    let period = Duration::from_secs(config.rollup_interval_s);
    loop {
        match pass(store.as_ref(), &config, rollcall_proto::now_ms(), &shutdown).await {
            Ok(done) if done == Pass::default() => {}
            Ok(done) => tracing::info!(
                converted = done.converted,
                raw = done.raw,
                five_minute = done.five_minute,
                expired = done.expired,
                steps = done.steps,
                failed_hosts = done.failed_hosts,
                "health retention pass"
            ),
            Err(error) => tracing::error!(error = %error, "health retention pass failed"),
        }
        tokio::select! {
            _ = tokio::time::sleep(period) => {}
            _ = shutdown.cancelled() => return,
        }
    }
}

/// One pass at `now` (ms): bounded steps until nothing is left to move or
/// `shutdown` is cancelled.
pub async fn pass(
    store: &dyn Store,
    config: &HealthConfig,
    now: i64,
    shutdown: &CancellationToken,
) -> Result<Pass> {
    let batch = i64::from(config.batch_rows);
    let mut done = Pass::default();
    while !shutdown.is_cancelled() {
        let converted = store.convert_legacy_health(batch).await?;
        if converted == 0 {
            break;
        }
        done.converted += converted;
        done.steps += 1;
        tokio::task::yield_now().await;
    }
    let cutoffs = config.cutoffs(now);
    let mut after = String::new();
    loop {
        let hosts = store.health_hosts(&after, HOSTS_PER_PAGE).await?;
        let Some(last) = hosts.last().cloned() else {
            return Ok(done);
        };
        for host in &hosts {
            loop {
                if shutdown.is_cancelled() {
                    return Ok(done);
                }
                match store.roll_up_health(host, &cutoffs, batch).await {
                    Ok(moved) if moved.is_empty() => break,
                    Ok(moved) => {
                        done.raw += moved.raw;
                        done.five_minute += moved.five_minute;
                        done.expired += moved.expired;
                        done.steps += 1;
                    }
                    Err(error) => {
                        tracing::warn!(error = %error, host_id = %host, "health retention step failed; retried next pass");
                        done.failed_hosts += 1;
                        break;
                    }
                }
                // Let the ingest writer take the write lock between steps.
                tokio::task::yield_now().await;
            }
        }
        after = last;
    }
}
