//! The session with the collector: connect (failing over between
//! endpoints, backing off with full jitter, retrying without gzip where it
//! is refused), say Hello, replay the spool in order, send heartbeats, obey
//! the collector's requests, and drop what it acknowledged.

use std::sync::Arc;
use std::time::Duration;

use rand::Rng;
use rollcall_proto::inventory;
use rollcall_proto::v1::agent_message::Body;
use rollcall_proto::v1::collector_message::Body as Reply;
use rollcall_proto::v1::rollcall_client::RollcallClient;
use rollcall_proto::v1::{AgentMessage, Heartbeat, Hello, Identity};
use tokio::sync::{mpsc, watch};
use tokio_stream::wrappers::UnboundedReceiverStream;
use tokio_util::sync::CancellationToken;
use tonic::codec::CompressionEncoding;

use crate::enroll::{self, Credentials};
use crate::error::{Error, Result};
use crate::shared::{Intervals, Shared};
use crate::spool::Kind;
use crate::stop;

async fn sleep_or_cancel(duration: Duration, shutdown: &CancellationToken) -> bool {
    tokio::select! {
        _ = tokio::time::sleep(duration) => true,
        _ = shutdown.cancelled() => false,
    }
}

/// Backoff before reconnect attempt `attempt` (0-based): full jitter over an
/// exponentially growing window, capped.
pub fn backoff(attempt: u32, cap: Duration) -> Duration {
    let window = Duration::from_millis(500)
        .saturating_mul(1u32 << attempt.min(16))
        .min(cap);
    Duration::from_millis(rand::rng().random_range(0..=window.as_millis() as u64))
}

/// Keeps a session with one of the collectors until `shutdown` is
/// cancelled (or a session ends cleanly), reconnecting with backoff. A
/// collector that says the agent is revoked ends it: `Error::Revoked`, and
/// no more reconnecting.
pub(crate) async fn connection_loop(
    shared: Arc<Shared>,
    latest: watch::Receiver<Credentials>,
    shutdown: CancellationToken,
) -> Result<()> {
    let endpoints = endpoints(&shared.config, &latest.borrow());
    let cap = Duration::from_secs(shared.config.max_backoff_s.into());
    let mut attempt = 0u32;
    let mut preferred = 0usize;
    // Endpoints that refused gzip: sent plain messages for the agent's life.
    let mut plain = vec![!shared.config.compress; endpoints.len()];
    while !shutdown.is_cancelled() {
        let mut ended_cleanly = false;
        for offset in 0..endpoints.len() {
            let index = (preferred + offset) % endpoints.len();
            let url = &endpoints[index];
            let started = tokio::time::Instant::now();
            // The newest certificate (`renew` replaces it as it ages).
            let credentials = latest.borrow().clone();
            let mut outcome = session(&shared, &credentials, url, !plain[index], &shutdown).await;
            if let Err(Error::GzipRefused(_)) = &outcome {
                tracing::warn!(collector = %url, "collector does not accept gzip; reconnecting uncompressed");
                plain[index] = true;
                outcome = session(&shared, &credentials, url, false, &shutdown).await;
            }
            match outcome {
                Ok(()) => {
                    ended_cleanly = true;
                    break;
                }
                Err(error @ Error::Revoked(_)) => {
                    tracing::error!(collector = %url, error = %error, "agent revoked; not reconnecting");
                    return Err(error);
                }
                Err(error) => {
                    tracing::warn!(collector = %url, error = %error, "session failed");
                    if started.elapsed() > Duration::from_secs(60) {
                        attempt = 0;
                        preferred = index;
                    }
                }
            }
            if shutdown.is_cancelled() {
                return Ok(());
            }
        }
        if ended_cleanly || shutdown.is_cancelled() {
            return Ok(());
        }
        let delay = backoff(attempt, cap);
        attempt = attempt.saturating_add(1);
        tracing::info!(
            delay_ms = delay.as_millis() as u64,
            "reconnecting after backoff"
        );
        if !sleep_or_cancel(delay, &shutdown).await {
            return Ok(());
        }
    }
    Ok(())
}

/// The collector endpoints to try in turn: the configured list, else the
/// one the agent enrolled with.
pub(crate) fn endpoints(
    config: &crate::config::AgentConfig,
    credentials: &Credentials,
) -> Vec<String> {
    if config.collectors.is_empty() {
        vec![credentials.enrollment.collector.clone()]
    } else {
        config.collectors.clone()
    }
}

fn hello(shared: &Shared, credentials: &Credentials) -> AgentMessage {
    let inner = shared.lock();
    // The baseline already includes inventory still waiting in the spool;
    // until that is replayed the collector cannot match its digests, so
    // send none rather than provoke a needless full snapshot.
    let inventory_pending = inner
        .spool
        .after(0)
        .any(|record| record.kind == Kind::Inventory);
    let digests = match &inner.baseline {
        Some(baseline) if !inventory_pending => inventory::digests(&inventory::flatten(baseline)),
        _ => Vec::new(),
    };
    let identity = inner
        .baseline
        .as_ref()
        .and_then(|baseline| baseline.identity.clone())
        .unwrap_or_else(|| Identity {
            hostname: crate::discovery::local_hostname(&shared.config.root),
            ..Default::default()
        });
    AgentMessage {
        seq: 0,
        sent_at_ms: rollcall_proto::now_ms(),
        body: Some(Body::Hello(Box::new(Hello {
            agent_id: credentials.enrollment.agent_id.clone(),
            agent_version: env!("CARGO_PKG_VERSION").to_string(),
            identity: Some(identity),
            digests,
            last_acked_seq: inner.acked,
        }))),
    }
}

async fn session(
    shared: &Arc<Shared>,
    credentials: &Credentials,
    url: &str,
    compress: bool,
    shutdown: &CancellationToken,
) -> Result<()> {
    let channel = enroll::channel(
        url,
        &credentials.ca_pem,
        Some((&credentials.cert_pem, &credentials.key_pem)),
    )
    .await?;
    let mut client = RollcallClient::new(channel)
        .max_decoding_message_size(rollcall_proto::MAX_MESSAGE_BYTES)
        .max_encoding_message_size(rollcall_proto::MAX_MESSAGE_BYTES);
    if compress {
        // Each message is gzipped on its own (gRPC message compression).
        client = client.send_compressed(CompressionEncoding::Gzip);
    }
    let opening_error = |status: tonic::Status| {
        if status.code() == tonic::Code::PermissionDenied {
            Error::Revoked(status.message().to_string())
        } else if compress && refuses_gzip(&status) {
            Error::GzipRefused(url.to_string())
        } else {
            Error::Connect(explain_status(url, &status))
        }
    };
    let (sender, receiver) = mpsc::unbounded_channel();
    let _ = sender.send(hello(shared, credentials));
    let response = client
        .session(UnboundedReceiverStream::new(receiver))
        .await
        .map_err(opening_error)?;
    let mut inbound = response.into_inner();
    let welcome = match inbound.message().await.map_err(opening_error)? {
        Some(rollcall_proto::v1::CollectorMessage {
            body: Some(Reply::Welcome(welcome)),
        }) => welcome,
        Some(other) => {
            return Err(Error::Connect(format!(
                "{url}: expected Welcome, got {other:?}"
            )));
        }
        None => {
            return Err(Error::Connect(format!(
                "{url}: the collector closed the session before Welcome"
            )));
        }
    };
    tracing::info!(collector = %url, host_id = %welcome.host_id, "session established");
    let intervals = Intervals::from_secs(
        welcome.heartbeat_interval_s.max(1),
        welcome.health_interval_s.max(1),
        welcome.inventory_interval_s.max(1),
    );
    shared
        .intervals
        .send_if_modified(|current| std::mem::replace(current, intervals) != intervals);
    {
        let mut inner = shared.lock();
        inner.spool.ack(welcome.last_applied_seq)?;
        inner.seq.advance_past(welcome.last_applied_seq)?;
        inner.acked = inner.acked.max(welcome.last_applied_seq);
        inner.outbound = Some(sender.clone());
        inner.sent_up_to = welcome.last_applied_seq;
        inner.flush();
    }
    let result = session_loop(shared, url, &sender, &mut inbound, shutdown).await;
    shared.lock().outbound = None;
    result
}

/// Whether `status` is a server's refusal of gzip-compressed requests: gRPC
/// answers UNIMPLEMENTED and lists the encodings it does accept in
/// `grpc-accept-encoding`.
fn refuses_gzip(status: &tonic::Status) -> bool {
    status.code() == tonic::Code::Unimplemented
        && status
            .metadata()
            .get("grpc-accept-encoding")
            .and_then(|accepted| accepted.to_str().ok())
            .is_some_and(|accepted| {
                !accepted
                    .split(',')
                    .any(|encoding| encoding.trim() == "gzip")
            })
}

fn explain_status(url: &str, status: &tonic::Status) -> String {
    use std::error::Error as _;
    match status.source() {
        Some(source) => enroll::explain(url, source),
        None => format!("{url}: {} ({:?})", status.message(), status.code()),
    }
}

async fn session_loop(
    shared: &Arc<Shared>,
    url: &str,
    sender: &mpsc::UnboundedSender<AgentMessage>,
    inbound: &mut tonic::Streaming<rollcall_proto::v1::CollectorMessage>,
    shutdown: &CancellationToken,
) -> Result<()> {
    let mut intervals = shared.intervals.subscribe();
    loop {
        let heartbeat = intervals.borrow_and_update().heartbeat;
        tokio::select! {
            message = inbound.message() => {
                let message = message.map_err(|status| {
                    if status.code() == tonic::Code::PermissionDenied {
                        Error::Revoked(status.message().to_string())
                    } else {
                        Error::Connect(explain_status(url, &status))
                    }
                })?;
                let Some(message) = message else {
                    return Err(Error::Connect(format!("{url}: the collector ended the session")));
                };
                match message.body {
                    Some(Reply::Ack(ack)) => shared.on_ack(ack.seq)?,
                    Some(Reply::RequestFullInventory(request)) => {
                        if shared.lock().snapshot_in_flight.is_none() {
                            tracing::info!(reason = %request.reason, "collector asked for a full inventory");
                            shared.full_inventory.notify_one();
                        }
                    }
                    Some(Reply::Throttle(throttle)) => {
                        tracing::warn!(delay_ms = throttle.delay_ms, reason = %throttle.reason, "collector asked to slow down");
                        tokio::time::sleep(Duration::from_millis(throttle.delay_ms.min(60_000).into())).await;
                    }
                    Some(Reply::Config(update)) => {
                        let mut next = *shared.intervals.borrow();
                        if update.heartbeat_interval_s > 0 { next.heartbeat = Duration::from_secs(update.heartbeat_interval_s.into()); }
                        if update.health_interval_s > 0 { next.health = Duration::from_secs(update.health_interval_s.into()); }
                        if update.inventory_interval_s > 0 { next.inventory = Duration::from_secs(update.inventory_interval_s.into()); }
                        shared.intervals.send_replace(next);
                    }
                    Some(Reply::Revoked(revoked)) => return Err(Error::Revoked(revoked.reason)),
                    Some(Reply::Refused(refused)) => shared.on_refused(refused.seq, &refused.reason),
                    Some(Reply::Welcome(_)) | None => {}
                }
            }
            _ = tokio::time::sleep(heartbeat) => {
                let mut inner = shared.lock();
                inner.flush();
                let seq = inner.seq.allocate()?;
                inner.sent_up_to = inner.sent_up_to.max(seq);
                let message = AgentMessage {
                    seq,
                    sent_at_ms: rollcall_proto::now_ms(),
                    body: Some(Body::Heartbeat(Heartbeat { agent_uptime_s: uptime_s() })),
                };
                if sender.send(message).is_err() {
                    return Err(Error::Connect(format!("{url}: session stream closed")));
                }
            }
            _ = shutdown.cancelled() => {
                stop::say_goodbye(shared, inbound).await;
                return Ok(());
            }
        }
    }
}

fn uptime_s() -> u64 {
    static STARTED: std::sync::OnceLock<std::time::Instant> = std::sync::OnceLock::new();
    STARTED
        .get_or_init(std::time::Instant::now)
        .elapsed()
        .as_secs()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_is_jittered_and_capped() {
        let cap = Duration::from_secs(60);
        for attempt in 0..40 {
            let delay = backoff(attempt, cap);
            assert!(delay <= cap);
            assert!(delay <= Duration::from_millis(500) * 2u32.pow(attempt.min(16)));
        }
        let samples: std::collections::HashSet<u128> =
            (0..50).map(|_| backoff(10, cap).as_millis()).collect();
        assert!(samples.len() > 10, "full jitter spreads reconnects");
    }

    fn unimplemented_accepting(accepted: Option<&'static str>) -> tonic::Status {
        // What tonic's server answers to a request in an encoding it does
        // not accept (tonic codec::compression).
        let mut status =
            tonic::Status::unimplemented("Content is compressed with `gzip` which isn't supported");
        if let Some(accepted) = accepted {
            status.metadata_mut().insert(
                "grpc-accept-encoding",
                tonic::metadata::MetadataValue::from_static(accepted),
            );
        }
        status
    }

    #[test]
    fn a_collector_without_gzip_is_recognised() {
        assert!(refuses_gzip(&unimplemented_accepting(Some("identity"))));
        assert!(refuses_gzip(&unimplemented_accepting(Some(
            "zstd, identity"
        ))));
        assert!(!refuses_gzip(&unimplemented_accepting(Some(
            "gzip,identity"
        ))));
        // UNIMPLEMENTED for another reason (say, no such RPC) is not a refusal of gzip.
        assert!(!refuses_gzip(&unimplemented_accepting(None)));
        let mut unavailable = tonic::Status::unavailable("down");
        unavailable.metadata_mut().insert(
            "grpc-accept-encoding",
            tonic::metadata::MetadataValue::from_static("identity"),
        );
        assert!(!refuses_gzip(&unavailable));
    }
}
