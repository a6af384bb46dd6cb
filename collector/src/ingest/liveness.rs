//! Heard-from batching: every heartbeat, check batch and goodbye becomes a
//! `Seen` signal; one task gathers them for up to 200 ms (4,096 at most),
//! keeps the newest per agent and writes them in one store call.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::metrics::families::Families;
use crate::store::{Seen, Store};

/// Writes liveness signals in batches until `shutdown`, then drains what is
/// queued and returns.
pub async fn write_seen_batches(
    store: Arc<dyn Store>,
    families: Families,
    mut receiver: mpsc::Receiver<Seen>,
    shutdown: CancellationToken,
) {
    let mut batch: Vec<Seen> = Vec::with_capacity(1024);
    loop {
        let first = tokio::select! {
            first = receiver.recv() => first,
            // The state keeps a sender alive: stop on shutdown, after draining what is queued.
            _ = shutdown.cancelled() => {
                receiver.close();
                receiver.recv().await
            }
        };
        let Some(first) = first else {
            break;
        };
        batch.push(first);
        // Gather what arrives in the next few milliseconds into one transaction.
        let deadline = tokio::time::Instant::now() + Duration::from_millis(200);
        while batch.len() < 4096 {
            match tokio::time::timeout_at(deadline, receiver.recv()).await {
                Ok(Some(seen)) => batch.push(seen),
                Ok(None) | Err(_) => break,
            }
        }
        // Keep the newest signal per agent.
        batch.sort_by(|a, b| (&a.agent_id, a.seq).cmp(&(&b.agent_id, b.seq)));
        batch.dedup_by(|later, earlier| {
            if later.agent_id == earlier.agent_id {
                std::mem::swap(later, earlier);
                true
            } else {
                false
            }
        });
        // A batch can lose a deadlock against an inventory write on
        // PostgreSQL (both update agents and hosts); it is safe to repeat.
        for attempt in 1..=3 {
            match families
                .time_store("record_seen", store.record_seen(&batch))
                .await
            {
                Ok(()) => break,
                Err(error) if attempt < 3 => {
                    tracing::debug!(error = %error, attempt, "recording heartbeats failed; retrying");
                    tokio::time::sleep(Duration::from_millis(50 * attempt)).await;
                }
                Err(error) => {
                    tracing::error!(error = %error, count = batch.len(), "cannot record heartbeats");
                }
            }
        }
        batch.clear();
    }
}
