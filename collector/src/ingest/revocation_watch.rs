//! Revocations served by another collector of a group: every
//! [`POLL_INTERVAL`] this collector reads the audit log past the last entry
//! it has seen and ends its own live sessions of every agent revoked there
//! (the collector that served the revoke ended its own at once). One indexed
//! range read a second, whatever the fleet size. It runs only on a shared
//! database (`Store::shared`: PostgreSQL); on SQLite there is one collector.

use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::state::State;
use crate::store::Revocable;

/// How often the audit log is read.
pub const POLL_INTERVAL: Duration = Duration::from_millis(500);

/// Entries read per poll; more are read at the next one.
const BATCH: i64 = 500;

/// Runs until `shutdown`.
pub async fn run(state: Arc<State>, shutdown: CancellationToken) {
    let (store, revocations) = (&state.store, &state.revocations);
    // Revocations from before this start have no live session here: their
    // agents are refused when they connect.
    let mut seen = loop {
        match store.audit_log(None, 1).await {
            Ok(newest) => break newest.first().map_or(0, |entry| entry.id),
            Err(error) => {
                tracing::warn!(error = %error, "cannot read the audit log; retrying");
                tokio::select! {
                    () = shutdown.cancelled() => return,
                    () = tokio::time::sleep(POLL_INTERVAL) => {}
                }
            }
        }
    };
    let revoke_agent = Revocable::Agent.action();
    loop {
        tokio::select! {
            () = shutdown.cancelled() => return,
            () = tokio::time::sleep(POLL_INTERVAL) => {}
        }
        let entries = match store.audit_after(seen, BATCH).await {
            Ok(entries) => entries,
            Err(error) => {
                tracing::warn!(error = %error, "cannot read the audit log");
                continue;
            }
        };
        for entry in entries {
            seen = seen.max(entry.id);
            if entry.action == revoke_agent {
                let ended = revocations.revoke(&entry.target);
                if ended > 0 {
                    tracing::warn!(agent_id = %entry.target, sessions = ended, "agent revoked elsewhere; ending its sessions here");
                }
            }
        }
    }
}
