//! The dispatcher: polls `incident_events` (written by the incident engine,
//! possibly by another process) and fans each new event out to one outbox
//! row per routed target, idempotently, advancing its cursor in the same
//! transaction.

use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use super::Integrations;
use crate::error::Result;
use crate::incidents::event::IncidentEvent;
use crate::store::Store;
use crate::store::outbox::{EventRow, NewOutboxEntry};

/// Events read per round.
const BATCH: i64 = 500;

/// The outbox rows an event becomes: one per target that routes it. An
/// event whose payload cannot be read goes to every enabled target, where
/// it is dead-lettered with a clear error instead of vanishing.
pub fn entries_for(integrations: &Integrations, row: &EventRow) -> Vec<NewOutboxEntry> {
    let event = serde_json::from_str::<IncidentEvent>(&row.payload);
    if let Err(error) = &event {
        tracing::error!(event_id = row.id, error = %error, "incident event payload is not valid");
    }
    integrations
        .targets
        .iter()
        .filter(|target| match &event {
            Ok(event) => target.config.routes(event),
            Err(_) => target.config.enabled,
        })
        .map(|target| NewOutboxEntry {
            event_id: row.id,
            incident_id: row.incident_id.clone(),
            target: target.config.name.clone(),
            transition: row.transition.clone(),
            dedup_key: event
                .as_ref()
                .map(|event| event.dedup_key.clone())
                .unwrap_or_else(|_| row.incident_id.clone()),
            payload: row.payload.clone(),
        })
        .collect()
}

/// One round: fans out everything new; returns rows created.
pub async fn dispatch_once(integrations: &Integrations, store: &dyn Store) -> Result<u64> {
    let mut created = 0;
    // Bounded, so late re-reads on PostgreSQL cannot keep a round going.
    for _ in 0..20 {
        let now = rollcall_proto::now_ms();
        let events = store.undispatched_events(now, BATCH).await?;
        let Some(last) = events.iter().map(|row| row.id).max() else {
            return Ok(created);
        };
        let entries: Vec<NewOutboxEntry> = events
            .iter()
            .flat_map(|row| entries_for(integrations, row))
            .collect();
        created += store.fan_out(&entries, last, now).await?;
        for entry in &entries {
            if let Some(target) = integrations.target(&entry.target) {
                target.wake.notify_one();
            }
        }
        if (events.len() as i64) < BATCH {
            break;
        }
    }
    Ok(created)
}

/// Runs the dispatcher until `shutdown`.
pub async fn run(
    integrations: Arc<Integrations>,
    store: Arc<dyn Store>,
    shutdown: CancellationToken,
) {
    let poll = Duration::from_millis(integrations.config.poll_interval_ms);
    while !shutdown.is_cancelled() {
        match dispatch_once(&integrations, store.as_ref()).await {
            Ok(0) => {}
            Ok(created) => tracing::debug!(created, "incident events fanned out"),
            Err(error) => tracing::warn!(error = %error, "cannot fan out incident events"),
        }
        tokio::select! {
            () = tokio::time::sleep(poll) => {}
            () = shutdown.cancelled() => {}
        }
    }
}
