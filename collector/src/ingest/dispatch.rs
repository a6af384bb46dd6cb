//! One sequenced message body, in two steps: `check` validates it whole
//! (nothing of it is stored yet; a failure is a refusal of this message
//! only), then `apply` hands it to the store, the presence monitor and the
//! incident engine.

use std::borrow::Cow;
use std::sync::atomic::{AtomicU64, Ordering};

use rollcall_proto::v1::agent_message::Body;
use rollcall_proto::v1::{CheckResult, Goodbye, HealthReport};

use super::stream::SessionError;
use super::validate;
use crate::error::Error;
use crate::state::State;
use crate::store::{Agent, ApplyContext, InventoryChange, Seen};

/// A message body that passed validation (borrowing the message, so that a
/// store that was busy can be tried again with it).
#[derive(Debug)]
pub enum Checked<'a> {
    /// A heartbeat (or an empty body): liveness only.
    Heartbeat,
    /// A full inventory, flattened to CMDB items.
    Snapshot(InventoryChange),
    /// An inventory delta, flattened to CMDB items.
    Delta(InventoryChange),
    /// A health sample (its time filled in when the agent left it out) and
    /// its stored form.
    Health(Cow<'a, HealthReport>, Vec<u8>),
    /// Check results.
    Checks(&'a [CheckResult]),
    /// A planned stop.
    Goodbye(&'a Goodbye),
}

/// Validates `body` received at `now`. `Err(Error::InvalidInput)` refuses
/// this message alone; a `SessionError` other than `Rejected` ends the
/// session (a Hello in the middle of it is a protocol error).
pub fn check(body: &Option<Body>, now: i64) -> Result<Checked<'_>, SessionError> {
    Ok(match body {
        Some(Body::Heartbeat(_)) | None => Checked::Heartbeat,
        Some(Body::Snapshot(snapshot)) => Checked::Snapshot(match &snapshot.inventory {
            Some(inventory) => validate::snapshot_change(inventory, now)?,
            None => validate::snapshot_change(&Default::default(), now)?,
        }),
        Some(Body::Delta(delta)) => Checked::Delta(validate::delta_change(delta, now)?),
        Some(Body::Health(report)) => {
            // 0 means "not given": the sample is as old as its arrival.
            let report: Cow<'_, HealthReport> = if report.sampled_at_ms == 0 {
                Cow::Owned(HealthReport {
                    sampled_at_ms: now,
                    ..HealthReport::clone(report)
                })
            } else {
                Cow::Borrowed(report)
            };
            let data = validate::health(&report, now)?;
            Checked::Health(report, data)
        }
        Some(Body::Checks(results)) => {
            validate::checks(&results.results, now)?;
            Checked::Checks(&results.results)
        }
        Some(Body::Goodbye(goodbye)) => {
            validate::goodbye(goodbye)?;
            Checked::Goodbye(goodbye)
        }
        Some(Body::Hello(_)) => {
            return Err(SessionError::Protocol(
                "Hello may only be the first message of a session".into(),
            ));
        }
    })
}

/// Whether `error` refuses the message it came from rather than ending the
/// session: a validation failure of its content.
pub fn is_refusal(error: &SessionError) -> Option<&str> {
    match error {
        SessionError::Rejected(Error::InvalidInput(reason)) => Some(reason),
        _ => None,
    }
}

impl Checked<'_> {
    /// The message type, as the `type` label of `rollcall_ingest_seconds`.
    pub fn kind(&self) -> &'static str {
        match self {
            Checked::Heartbeat => "heartbeat",
            Checked::Snapshot(_) => "snapshot",
            Checked::Delta(_) => "delta",
            Checked::Health(..) => "health",
            Checked::Checks(_) => "checks",
            Checked::Goodbye(_) => "goodbye",
        }
    }
}

/// Applies a checked message of `agent` in `context`, timing it by type.
pub async fn apply(
    state: &State,
    agent: &Agent,
    context: &ApplyContext,
    checked: Checked<'_>,
) -> Result<(), SessionError> {
    let kind = checked.kind();
    let started = std::time::Instant::now();
    let outcome = apply_checked(state, agent, context, checked).await;
    state.metrics.families.ingested(kind, started.elapsed());
    outcome
}

async fn apply_checked(
    state: &State,
    agent: &Agent,
    context: &ApplyContext,
    checked: Checked<'_>,
) -> Result<(), SessionError> {
    let (host_id, seq, now) = (context.host_id.as_str(), context.seq, context.at);
    match checked {
        Checked::Heartbeat => {
            state.metrics.heartbeats.fetch_add(1, Ordering::Relaxed);
            state.seen(Seen::new(&agent.id, host_id, seq, now)).await;
        }
        Checked::Snapshot(change) => {
            apply_inventory(state, context, change, &state.metrics.snapshots).await?;
        }
        Checked::Delta(change) => {
            apply_inventory(state, context, change, &state.metrics.deltas).await?;
        }
        Checked::Health(report, data) => {
            let stored = state
                .metrics
                .families
                .time_store(
                    "record_health",
                    state
                        .store
                        .record_health(context, report.sampled_at_ms, &data),
                )
                .await?;
            if stored {
                state.metrics.health.fetch_add(1, Ordering::Relaxed);
                let rules = &state.config.availability.rules;
                // Boxed, as the check evaluation below: each of these
                // futures is several KiB, and inline they would widen every
                // session's task for its whole life, for a message that
                // comes once a minute.
                if let Err(error) = Box::pin(state.engine.evaluate_health(
                    host_id,
                    &agent.hostname,
                    &report,
                    rules,
                    now,
                ))
                .await
                {
                    tracing::error!(error = %error, "cannot evaluate health rules");
                }
            }
        }
        Checked::Checks(results) => {
            state.metrics.checks.fetch_add(1, Ordering::Relaxed);
            state.seen(Seen::new(&agent.id, host_id, seq, now)).await;
            if let Err(error) = Box::pin(state.engine.evaluate_checks(
                host_id,
                &agent.hostname,
                results,
                now,
            ))
            .await
            {
                tracing::error!(error = %error, "cannot evaluate check results");
            }
        }
        Checked::Goodbye(goodbye) => {
            state.seen(Seen::new(&agent.id, host_id, seq, now)).await;
            tracing::info!(agent_id = %agent.id, reason = %goodbye.reason, back_within_s = goodbye.back_within_s, "agent said goodbye");
            let back_within_ms =
                i64::try_from(goodbye.back_within_s.min(366 * 86_400)).unwrap_or(0) * 1000;
            state
                .monitor
                .goodbye(host_id, &goodbye.reason, back_within_ms, now);
        }
    }
    Ok(())
}

/// Applies an inventory change set, timing it and counting it in `counter`.
async fn apply_inventory(
    state: &State,
    context: &ApplyContext,
    change: InventoryChange,
    counter: &AtomicU64,
) -> Result<(), SessionError> {
    let started = std::time::Instant::now();
    // The start and end of an apply, as markers for the kill -9 test.
    tracing::debug!(agent_id = %context.agent_id, seq = context.seq, "applying inventory");
    let outcome = state
        .metrics
        .families
        .time_store(
            "apply_inventory",
            state.store.apply_inventory(context, change),
        )
        .await?;
    state.metrics.applied(started.elapsed());
    counter.fetch_add(1, Ordering::Relaxed);
    tracing::debug!(agent_id = %context.agent_id, seq = context.seq, ?outcome, "inventory applied");
    Ok(())
}
