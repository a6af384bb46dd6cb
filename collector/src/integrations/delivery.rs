//! Delivery: the per-target worker that claims due outbox rows, sends them
//! within the rate limit and circuit breaker, and records each answer
//! before moving on; what a failure becomes (backoff with jitter, or a dead
//! letter); and the re-sender of firing alerts.

use std::sync::Arc;
use std::time::Duration;

use rand::Rng;
use tokio_util::sync::CancellationToken;

use super::circuit::Allowance;
use super::config::TargetConfig;
use super::{Delivered, DeliveryError, Target};
use crate::incidents::event::IncidentEvent;
use crate::metrics::families::Families;
use crate::store::Store;
use crate::store::outbox::OutboxEntry;

/// Rows claimed per round.
const CLAIM_BATCH: i64 = 32;

/// Delay before attempt `attempt + 1` (after `attempt` failures): doubling
/// from `initial_ms`, capped at `max_ms`, with jitter in [½, 1] of it.
pub fn backoff_ms(attempt: u32, initial_ms: u64, max_ms: u64, jitter: f64) -> u64 {
    let exponent = attempt.saturating_sub(1).min(40);
    let base = initial_ms.saturating_mul(1u64 << exponent).min(max_ms);
    let factor = 0.5 + 0.5 * jitter.clamp(0.0, 1.0);
    ((base as f64) * factor) as u64
}

/// Decides what to store after a failed attempt: the next attempt time, or
/// `None` (dead) with the error to keep.
pub fn after_failure(
    config: &TargetConfig,
    attempts_before: i64,
    failure: &DeliveryError,
    now_ms: i64,
    jitter: f64,
) -> (Option<i64>, String) {
    let attempts = u32::try_from(attempts_before.saturating_add(1)).unwrap_or(u32::MAX);
    match failure {
        DeliveryError::Final { error } => (None, error.clone()),
        DeliveryError::Retry {
            error,
            retry_after_ms,
        } => {
            if attempts >= config.max_attempts {
                return (
                    None,
                    format!("gave up after {attempts} attempts; last error: {error}"),
                );
            }
            let delay = match retry_after_ms {
                Some(delay) => *delay,
                None => backoff_ms(
                    attempts,
                    config.backoff_initial_ms,
                    config.backoff_max_ms,
                    jitter,
                ),
            };
            let delay = i64::try_from(delay).unwrap_or(i64::MAX);
            (Some(now_ms.saturating_add(delay)), error.clone())
        }
    }
}

async fn sleep_or_cancel(delay: Duration, shutdown: &CancellationToken) {
    tokio::select! {
        () = tokio::time::sleep(delay) => {}
        () = shutdown.cancelled() => {}
    }
}

fn ms(duration: Duration) -> i64 {
    i64::try_from(duration.as_millis()).unwrap_or(i64::MAX)
}

/// The delivery worker of one target: runs until `shutdown`.
pub async fn run(
    target: Arc<Target>,
    store: Arc<dyn Store>,
    families: Families,
    lease: Duration,
    poll: Duration,
    shutdown: CancellationToken,
) {
    let name = target.config.name.clone();
    tracing::info!(target_name = %name, kind = target.config.kind(), "integration worker started");
    while !shutdown.is_cancelled() {
        let now = rollcall_proto::now_ms();
        let allowance = match target.circuit.lock() {
            Ok(mut circuit) => circuit.allowance(now),
            Err(poisoned) => poisoned.into_inner().allowance(now),
        };
        let limit = match allowance {
            Allowance::Send => CLAIM_BATCH,
            Allowance::Probe => 1,
            Allowance::WaitUntil(until) => {
                let wait = u64::try_from(until.saturating_sub(now)).unwrap_or(0);
                sleep_or_cancel(Duration::from_millis(wait.max(1)), &shutdown).await;
                continue;
            }
        };
        let rows = match store.claim_due(&name, now, ms(lease), limit).await {
            Ok(rows) => rows,
            Err(error) => {
                tracing::warn!(target_name = %name, error = %error, "cannot claim outbox rows");
                sleep_or_cancel(poll, &shutdown).await;
                continue;
            }
        };
        if rows.is_empty() {
            tokio::select! {
                () = tokio::time::sleep(poll) => {}
                () = target.wake.notified() => {}
                () = shutdown.cancelled() => {}
            }
            continue;
        }
        let mut rows = rows.into_iter();
        while let Some(row) = rows.next() {
            let open = target
                .circuit
                .lock()
                .map(|mut circuit| circuit.allowance(rollcall_proto::now_ms()))
                .unwrap_or(Allowance::Send);
            if shutdown.is_cancelled() || matches!(open, Allowance::WaitUntil(_)) {
                let rest: Vec<i64> = std::iter::once(row.id)
                    .chain(rows.by_ref().map(|row| row.id))
                    .collect();
                if let Err(error) = store.release_claims(&rest).await {
                    tracing::warn!(target_name = %name, error = %error, "cannot release outbox rows");
                }
                break;
            }
            deliver_row(&target, store.as_ref(), &families, row, &shutdown).await;
        }
    }
    tracing::info!(target_name = %name, "integration worker stopped");
}

/// Sends one claimed row and records the answer.
async fn deliver_row(
    target: &Target,
    store: &dyn Store,
    families: &Families,
    row: OutboxEntry,
    shutdown: &CancellationToken,
) {
    let Some(result) = attempt(target, store, &row, shutdown).await else {
        return;
    };
    let now = rollcall_proto::now_ms();
    let name = &target.config.name;
    match result {
        Ok(delivered) => {
            families.delivered(name, "delivered");
            record_delivered(target, store, &row, delivered, now, shutdown).await;
        }
        Err(failure) => {
            let dead = record_failure(target, store, &row, &failure, now).await;
            families.delivered(name, if dead { "dead" } else { "retry" });
        }
    }
}

/// One attempt at a row; `None` when it was handed back unsent (shutdown,
/// or the external reference could not be read).
async fn attempt(
    target: &Target,
    store: &dyn Store,
    row: &OutboxEntry,
    shutdown: &CancellationToken,
) -> Option<Result<Delivered, DeliveryError>> {
    let name = &target.config.name;
    let mut event = match serde_json::from_str::<IncidentEvent>(&row.payload) {
        Ok(event) => event,
        Err(error) => {
            return Some(Err(DeliveryError::Final {
                error: format!("payload is not a valid incident event: {error}"),
            }));
        }
    };
    event.event_id = row.event_id;
    tokio::select! {
        () = target.limiter.until_ready() => {}
        () = shutdown.cancelled() => {
            let _ = store.release_claims(&[row.id]).await;
            return None;
        }
    }
    let known_ref = match store.external_ref(&row.incident_id, name).await {
        Ok(known) => known,
        Err(error) => {
            tracing::warn!(target_name = %name, error = %error, "cannot read external reference");
            let _ = store.release_claims(&[row.id]).await;
            return None;
        }
    };
    // The client has its own timeout per request; this bounds the whole exchange.
    let budget = Duration::from_secs(target.config.timeout_s.saturating_mul(4));
    let delivery = target.adapter.deliver(&event, known_ref.as_deref());
    Some(match tokio::time::timeout(budget, delivery).await {
        Ok(result) => result,
        Err(_) => Err(DeliveryError::Retry {
            error: format!("no answer within {budget:?}"),
            retry_after_ms: None,
        }),
    })
}

/// Records an accepted row, retrying the store until it succeeds, so a
/// delivered row is never sent again.
async fn record_delivered(
    target: &Target,
    store: &dyn Store,
    row: &OutboxEntry,
    delivered: Delivered,
    now: i64,
    shutdown: &CancellationToken,
) {
    let name = &target.config.name;
    if let Ok(mut circuit) = target.circuit.lock() {
        circuit.success();
    }
    let Delivered {
        external_ref,
        detail,
    } = delivered;
    let mut delay = Duration::from_millis(50);
    loop {
        match store
            .mark_delivered(row.id, now, external_ref.as_deref())
            .await
        {
            Ok(()) => break,
            Err(error) => {
                tracing::error!(target_name = %name, outbox_id = row.id, error = %error, "cannot record a delivery; retrying");
                if shutdown.is_cancelled() && delay > Duration::from_secs(5) {
                    return;
                }
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(Duration::from_secs(5));
            }
        }
    }
    tracing::info!(target_name = %name, outbox_id = row.id, incident_id = %row.incident_id,
        transition = %row.transition, external_ref = ?external_ref, detail = %detail, "incident event delivered");
}

/// Records a failed attempt: the next attempt time, or a dead letter; a
/// retryable failure counts against the circuit. Returns whether the row
/// was dead-lettered.
async fn record_failure(
    target: &Target,
    store: &dyn Store,
    row: &OutboxEntry,
    failure: &DeliveryError,
    now: i64,
) -> bool {
    let name = &target.config.name;
    if matches!(failure, DeliveryError::Retry { .. }) {
        let opened = target
            .circuit
            .lock()
            .map(|mut circuit| circuit.failure(now))
            .unwrap_or(false);
        if opened {
            tracing::warn!(target_name = %name, cooldown_s = target.config.circuit_cooldown_s, "circuit opened");
        }
    } else if let Ok(mut circuit) = target.circuit.lock() {
        // The target answered; a refusal says nothing about its health.
        circuit.success();
    }
    let jitter = rand::rng().random::<f64>();
    let (next, error) = after_failure(&target.config, row.attempts, failure, now, jitter);
    if next.is_none() {
        tracing::error!(target_name = %name, outbox_id = row.id, incident_id = %row.incident_id,
            error = %error, "delivery dead-lettered");
    } else {
        tracing::warn!(target_name = %name, outbox_id = row.id, error = %error, next_attempt_at = ?next, "delivery failed; will retry");
    }
    if let Err(store_error) = store.mark_failed(row.id, now, &error, next).await {
        tracing::error!(target_name = %name, outbox_id = row.id, error = %store_error, "cannot record a failed delivery");
    }
    next.is_none()
}

/// Re-sends what is still firing at `target` every `interval` (Alertmanager
/// forgets alerts that are not repeated). Failures are logged; the next
/// round sends again.
pub async fn resend_firing(
    target: Arc<Target>,
    store: Arc<dyn Store>,
    interval: Duration,
    shutdown: CancellationToken,
) {
    let name = target.config.name.clone();
    loop {
        sleep_or_cancel(interval, &shutdown).await;
        if shutdown.is_cancelled() {
            return;
        }
        let rows = match store.firing(&name, 10_000).await {
            Ok(rows) => rows,
            Err(error) => {
                tracing::warn!(target_name = %name, error = %error, "cannot list firing incidents");
                continue;
            }
        };
        for row in rows {
            let Ok(mut event) = serde_json::from_str::<IncidentEvent>(&row.payload) else {
                continue;
            };
            event.event_id = row.event_id;
            target.limiter.until_ready().await;
            if let Err(error) = target.adapter.deliver(&event, None).await {
                tracing::warn!(target_name = %name, incident_id = %row.incident_id, error = %error, "re-send of a firing alert failed");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::integrations::config::VendorConfig;
    use crate::integrations::webhook::config::WebhookConfig;

    #[test]
    fn backoff_doubles_with_jitter_and_caps() {
        assert_eq!(backoff_ms(1, 1000, 60_000, 1.0), 1000);
        assert_eq!(backoff_ms(3, 1000, 60_000, 1.0), 4000);
        assert_eq!(backoff_ms(3, 1000, 60_000, 0.0), 2000);
        assert_eq!(backoff_ms(30, 1000, 60_000, 1.0), 60_000);
        assert_eq!(backoff_ms(u32::MAX, 1000, 60_000, 1.0), 60_000);
    }

    #[test]
    fn failures_retry_then_die() {
        let mut config = TargetConfig::new(
            "t",
            VendorConfig::Webhook(WebhookConfig::default()),
            "http://x",
        );
        config.max_attempts = 3;
        let retry = DeliveryError::Retry {
            error: "HTTP 503".into(),
            retry_after_ms: None,
        };
        assert_eq!(after_failure(&config, 0, &retry, 1000, 1.0).0, Some(2000));
        let honoured = DeliveryError::Retry {
            error: "HTTP 429".into(),
            retry_after_ms: Some(9000),
        };
        assert_eq!(
            after_failure(&config, 1, &honoured, 1000, 1.0).0,
            Some(10_000)
        );
        let (next, error) = after_failure(&config, 2, &retry, 1000, 1.0);
        assert_eq!(next, None);
        assert!(error.contains("gave up after 3 attempts"), "{error}");
        let final_error = DeliveryError::Final {
            error: "HTTP 400: bad".into(),
        };
        assert_eq!(
            after_failure(&config, 0, &final_error, 1000, 1.0),
            (None, "HTTP 400: bad".into())
        );
    }
}
