//! Host lifecycle: active hosts become stale when their agent falls silent
//! and retired after longer; each pass also opens or resolves the
//! `agent_stale` incidents.

use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

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
    config: CmdbConfig,
    shutdown: CancellationToken,
) {
    let period = Duration::from_secs(config.lifecycle_check_interval_s);
    loop {
        let now = rollcall_proto::now_ms();
        let (stale_ms, retire_ms) = (
            config.stale_after_s as i64 * 1000,
            config.retire_after_s as i64 * 1000,
        );
        match store.update_lifecycle(now, stale_ms, retire_ms).await {
            Ok((0, 0)) => {}
            Ok((stale, retired)) => tracing::info!(stale, retired, "host lifecycle updated"),
            Err(error) => tracing::error!(error = %error, "cannot update host lifecycle"),
        }
        if let Err(error) = stale::stale_agent_incidents(store.as_ref(), &engine, now).await {
            tracing::error!(error = %error, "cannot evaluate stale agents");
        }
        tokio::select! {
            _ = tokio::time::sleep(period) => {}
            _ = shutdown.cancelled() => return,
        }
    }
}
