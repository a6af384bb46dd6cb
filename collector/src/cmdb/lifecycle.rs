//! Host lifecycle: active hosts become stale when their agent falls silent,
//! active again when it reports, and retired after longer (and presence retires them: no longer watched,
//! what was open on them ends); each pass also opens or resolves the
//! `agent_stale` incidents.

use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::availability::monitor::Monitor;
use crate::config::CmdbConfig;
use crate::incidents::engine::Engine;
use crate::incidents::stale;
use crate::store::Store;

/// Every `cmdb.lifecycle_check_interval_s`: marks silent hosts stale and
/// long-silent ones retired, and evaluates the `agent_stale` rule, until
/// `shutdown`.
pub async fn run(
    store: Arc<dyn Store>,
    engine: Engine,
    monitor: Arc<Monitor>,
    config: CmdbConfig,
    shutdown: CancellationToken,
) {
    let period = Duration::from_secs(config.lifecycle_check_interval_s);
    loop {
        pass(
            store.as_ref(),
            &engine,
            &monitor,
            &config,
            rollcall_proto::now_ms(),
        )
        .await;
        tokio::select! {
            _ = tokio::time::sleep(period) => {}
            _ = shutdown.cancelled() => return,
        }
    }
}

/// One pass at `now`: lifecycle, presence of the hosts it retired, and the
/// `agent_stale` rule. Errors are logged; the next pass tries again.
pub async fn pass(
    store: &dyn Store,
    engine: &Engine,
    monitor: &Monitor,
    config: &CmdbConfig,
    now: i64,
) {
    let (stale_ms, retire_ms) = (
        config.stale_after_s as i64 * 1000,
        config.retire_after_s as i64 * 1000,
    );
    match store.update_lifecycle(now, stale_ms, retire_ms).await {
        Ok((0, retired)) if retired.is_empty() => {}
        Ok((stale, retired)) => {
            tracing::info!(stale, retired = retired.len(), "host lifecycle updated");
            for host_id in retired {
                monitor.retire(&host_id, now);
            }
        }
        Err(error) => tracing::error!(error = %error, "cannot update host lifecycle"),
    }
    if let Err(error) = stale::stale_agent_incidents(store, engine, now).await {
        tracing::error!(error = %error, "cannot evaluate stale agents");
    }
}
