//! Delivery: the HTTP client every adapter uses, the classification of
//! answers (delivered / retry / final), backoff with jitter, and the
//! per-target worker that claims due outbox rows, sends them within the
//! rate limit and circuit breaker, and records each answer before moving on.

use std::sync::Arc;
use std::time::Duration;

use rand::Rng;
use reqwest::header::{HeaderMap, RETRY_AFTER};
use tokio_util::sync::CancellationToken;

use super::circuit::Allowance;
use super::config::TargetConfig;
use super::{Outcome, Target};
use crate::error::{Error, Result};
use crate::incidents::event::IncidentEvent;
use crate::store::Store;
use crate::store::outbox::OutboxEntry;

/// Longest `Retry-After` honoured; beyond it the normal backoff applies.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(3600);
/// Rows claimed per round.
const CLAIM_BATCH: i64 = 32;

/// How a target authenticates us.
#[derive(Debug, Clone)]
pub enum Auth {
    /// No credentials.
    None,
    /// HTTP basic.
    Basic {
        /// User.
        username: String,
        /// Password or API token.
        password: String,
    },
    /// `Authorization: Bearer`.
    Bearer(String),
}

/// An HTTP client for one target.
#[derive(Debug, Clone)]
pub struct Http {
    /// The client (its own TLS roots and timeout).
    pub client: reqwest::Client,
    /// Base URL without a trailing slash.
    pub base: String,
    /// Default credentials.
    pub auth: Auth,
}

/// A target's answer.
#[derive(Debug, Clone)]
pub struct Answer {
    /// HTTP status.
    pub status: u16,
    /// Body text.
    pub body: String,
    /// `Retry-After`, if given in seconds.
    pub retry_after: Option<Duration>,
}

impl Answer {
    /// The body as JSON (`Null` if it is not JSON).
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap_or(serde_json::Value::Null)
    }

    /// `HTTP 201: {…}`, shortened.
    pub fn summary(&self) -> String {
        format!("HTTP {}: {}", self.status, shorten(&self.body, 300))
    }
}

/// Cuts `text` to at most `max` bytes at a character boundary.
pub fn shorten(text: &str, max: usize) -> String {
    if text.len() <= max {
        return text.trim().to_string();
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", text[..end].trim())
}

/// `Retry-After` in seconds (the HTTP-date form is not used by these vendors).
pub fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    headers
        .get(RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim()
        .parse::<u64>()
        .ok()
        .map(Duration::from_secs)
        .filter(|delay| *delay <= MAX_RETRY_AFTER)
}

/// Classifies a non-2xx answer: 408, 429 and 5xx are retried (honouring
/// `Retry-After`), every other status is final. `None` for 2xx.
pub fn classify(answer: &Answer) -> Option<Outcome> {
    match answer.status {
        200..=299 => None,
        408 | 429 | 500..=599 => Some(Outcome::Retry {
            error: answer.summary(),
            retry_after_ms: answer
                .retry_after
                .map(|delay| u64::try_from(delay.as_millis()).unwrap_or(u64::MAX)),
        }),
        _ => Some(Outcome::Final {
            error: answer.summary(),
        }),
    }
}

impl Http {
    /// A client for `config`: its timeout, its CA file if any, its credentials.
    pub fn new(config: &TargetConfig) -> Result<Self> {
        let mut builder = reqwest::Client::builder()
            .timeout(Duration::from_secs(config.timeout_s))
            .connect_timeout(Duration::from_secs(config.timeout_s.min(10)))
            .user_agent(concat!("rollcall/", env!("CARGO_PKG_VERSION")));
        if let Some(path) = &config.ca_file {
            let pem = std::fs::read(path).map_err(|error| {
                Error::Config(format!(
                    "integrations target {:?}: cannot read ca_file {}: {error}",
                    config.name,
                    path.display()
                ))
            })?;
            for certificate in reqwest::Certificate::from_pem_bundle(&pem).map_err(|error| {
                Error::Config(format!(
                    "integrations target {:?}: ca_file {} is not PEM: {error}",
                    config.name,
                    path.display()
                ))
            })? {
                builder = builder.add_root_certificate(certificate);
            }
        }
        let client = builder.build().map_err(|error| {
            Error::Config(format!(
                "integrations target {:?}: cannot build an HTTP client: {error}",
                config.name
            ))
        })?;
        let auth = match (&config.username, &config.password, &config.bearer_token) {
            (Some(username), Some(password), _) => Auth::Basic {
                username: username.clone(),
                password: password.clone(),
            },
            (_, _, Some(token)) => Auth::Bearer(token.clone()),
            _ => Auth::None,
        };
        Ok(Self {
            client,
            base: config.url.trim_end_matches('/').to_string(),
            auth,
        })
    }

    /// A request to `base + path` with the default credentials.
    pub fn request(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        let builder = self
            .client
            .request(method, format!("{}{path}", self.base))
            .header(reqwest::header::ACCEPT, "application/json");
        with_auth(builder, &self.auth)
    }

    /// Sends; a transport failure is a retry.
    pub async fn send(&self, builder: reqwest::RequestBuilder) -> Result<Answer, Outcome> {
        let response = builder.send().await.map_err(|error| Outcome::Retry {
            error: format!("request failed: {}", error_chain(&error)),
            retry_after_ms: None,
        })?;
        let status = response.status().as_u16();
        let retry_after = retry_after(response.headers());
        let body = response.text().await.map_err(|error| Outcome::Retry {
            error: format!("reading the answer failed: {}", error_chain(&error)),
            retry_after_ms: None,
        })?;
        Ok(Answer {
            status,
            body,
            retry_after,
        })
    }

    /// Sends and requires a 2xx answer.
    pub async fn send_ok(&self, builder: reqwest::RequestBuilder) -> Result<Answer, Outcome> {
        let answer = self.send(builder).await?;
        match classify(&answer) {
            None => Ok(answer),
            Some(outcome) => Err(outcome),
        }
    }
}

/// Adds credentials to a request.
pub fn with_auth(builder: reqwest::RequestBuilder, auth: &Auth) -> reqwest::RequestBuilder {
    match auth {
        Auth::None => builder,
        Auth::Basic { username, password } => builder.basic_auth(username, Some(password)),
        Auth::Bearer(token) => builder.bearer_auth(token),
    }
}

fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

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
    outcome: &Outcome,
    now_ms: i64,
    jitter: f64,
) -> (Option<i64>, String) {
    let attempts = u32::try_from(attempts_before.saturating_add(1)).unwrap_or(u32::MAX);
    match outcome {
        Outcome::Final { error } => (None, error.clone()),
        Outcome::Retry {
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
        Outcome::Delivered { .. } => (Some(now_ms), String::new()),
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
    lease: Duration,
    poll: Duration,
    shutdown: CancellationToken,
) {
    let name = target.config.name.clone();
    tracing::info!(target_name = %name, kind = target.config.kind.as_str(), "integration worker started");
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
            deliver_row(&target, store.as_ref(), row, &shutdown).await;
        }
    }
    tracing::info!(target_name = %name, "integration worker stopped");
}

/// Sends one claimed row and records the answer.
async fn deliver_row(
    target: &Target,
    store: &dyn Store,
    row: OutboxEntry,
    shutdown: &CancellationToken,
) {
    let name = &target.config.name;
    let outcome = match serde_json::from_str::<IncidentEvent>(&row.payload) {
        Err(error) => Outcome::Final {
            error: format!("payload is not a valid incident event: {error}"),
        },
        Ok(mut event) => {
            event.event_id = row.event_id;
            tokio::select! {
                () = target.limiter.until_ready() => {}
                () = shutdown.cancelled() => {
                    let _ = store.release_claims(&[row.id]).await;
                    return;
                }
            }
            let known_ref = match store.external_ref(&row.incident_id, name).await {
                Ok(known) => known,
                Err(error) => {
                    tracing::warn!(target_name = %name, error = %error, "cannot read external reference");
                    let _ = store.release_claims(&[row.id]).await;
                    return;
                }
            };
            // The client has its own timeout per request; this bounds the whole exchange.
            let budget = Duration::from_secs(target.config.timeout_s.saturating_mul(4));
            match tokio::time::timeout(budget, target.adapter.deliver(&event, known_ref.as_deref()))
                .await
            {
                Ok(outcome) => outcome,
                Err(_) => Outcome::Retry {
                    error: format!("no answer within {budget:?}"),
                    retry_after_ms: None,
                },
            }
        }
    };
    let now = rollcall_proto::now_ms();
    match &outcome {
        Outcome::Delivered {
            external_ref,
            detail,
        } => {
            if let Ok(mut circuit) = target.circuit.lock() {
                circuit.success();
            }
            // The target accepted it: keep trying to record that, so it is never sent again.
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
        Outcome::Retry { .. } | Outcome::Final { .. } => {
            if matches!(outcome, Outcome::Retry { .. }) {
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
            let (next, error) = after_failure(&target.config, row.attempts, &outcome, now, jitter);
            if next.is_none() {
                tracing::error!(target_name = %name, outbox_id = row.id, incident_id = %row.incident_id,
                    error = %error, "delivery dead-lettered");
            } else {
                tracing::warn!(target_name = %name, outbox_id = row.id, error = %error, next_attempt_at = ?next, "delivery failed; will retry");
            }
            if let Err(store_error) = store.mark_failed(row.id, now, &error, next).await {
                tracing::error!(target_name = %name, outbox_id = row.id, error = %store_error, "cannot record a failed delivery");
            }
        }
    }
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
            if let outcome @ (Outcome::Retry { .. } | Outcome::Final { .. }) =
                target.adapter.deliver(&event, None).await
            {
                tracing::warn!(target_name = %name, incident_id = %row.incident_id, outcome = ?outcome, "re-send of a firing alert failed");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::integrations::config::TargetKind;

    fn answer(status: u16, retry_after: Option<u64>) -> Answer {
        Answer {
            status,
            body: "{\"x\":1}".into(),
            retry_after: retry_after.map(Duration::from_secs),
        }
    }

    #[test]
    fn classifies_answers() {
        assert_eq!(classify(&answer(201, None)), None);
        assert_eq!(
            classify(&answer(429, Some(7))),
            Some(Outcome::Retry {
                error: "HTTP 429: {\"x\":1}".into(),
                retry_after_ms: Some(7000)
            })
        );
        assert!(matches!(
            classify(&answer(503, None)),
            Some(Outcome::Retry { .. })
        ));
        assert!(matches!(
            classify(&answer(400, None)),
            Some(Outcome::Final { .. })
        ));
        assert!(matches!(
            classify(&answer(401, None)),
            Some(Outcome::Final { .. })
        ));
    }

    #[test]
    fn parses_retry_after_seconds_only() {
        let mut headers = HeaderMap::new();
        headers.insert(RETRY_AFTER, "3".parse().unwrap());
        assert_eq!(retry_after(&headers), Some(Duration::from_secs(3)));
        headers.insert(RETRY_AFTER, "soon".parse().unwrap());
        assert_eq!(retry_after(&headers), None);
    }

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
        let mut config = TargetConfig::new("t", TargetKind::Webhook, "http://x");
        config.max_attempts = 3;
        let retry = Outcome::Retry {
            error: "HTTP 503".into(),
            retry_after_ms: None,
        };
        assert_eq!(after_failure(&config, 0, &retry, 1000, 1.0).0, Some(2000));
        let honoured = Outcome::Retry {
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
        let final_error = Outcome::Final {
            error: "HTTP 400: bad".into(),
        };
        assert_eq!(
            after_failure(&config, 0, &final_error, 1000, 1.0),
            (None, "HTTP 400: bad".into())
        );
    }
}
