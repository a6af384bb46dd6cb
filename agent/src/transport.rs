//! The agent's runtime: producers (inventory, health, checks) that put
//! sequenced messages into the spool whether or not a collector is
//! reachable, and the session that connects (failing over between
//! endpoints, backing off with full jitter), says Hello, replays the spool in
//! order, sends heartbeats, and drops what the collector acknowledged.

use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use prost::Message;
use rand::Rng;
use rollcall_proto::inventory;
use rollcall_proto::v1::agent_message::Body;
use rollcall_proto::v1::collector_message::Body as Reply;
use rollcall_proto::v1::rollcall_client::RollcallClient;
use rollcall_proto::v1::{
    AgentMessage, CheckResults, Goodbye, Heartbeat, Hello, Identity, Inventory, InventorySnapshot,
};
use tokio::sync::{Notify, mpsc, watch};
use tokio_stream::wrappers::UnboundedReceiverStream;
use tokio_util::sync::CancellationToken;
use tonic::codec::CompressionEncoding;

use crate::config::AgentConfig;
use crate::discovery::{LinuxPlatform, Platform};
use crate::enroll::{self, Credentials};
use crate::error::{Error, Result};
use crate::health::HealthSampler;
use crate::spool::{Kind, Spool};
use crate::state::{self, SequenceAllocator};

/// Intervals in effect (the collector's `Welcome` overrides the config).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Intervals {
    /// Heartbeat period.
    pub heartbeat: Duration,
    /// Health sampling period.
    pub health: Duration,
    /// Inventory scan period.
    pub inventory: Duration,
}

/// A planned stop, written by `rollcall-agent stop` before it signals the agent.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct StopRequest {
    /// Why the agent stops.
    pub reason: String,
    /// Seconds within which the host is expected back.
    pub back_within_s: u64,
}

struct Inner {
    spool: Spool,
    seq: SequenceAllocator,
    outbound: Option<mpsc::UnboundedSender<AgentMessage>>,
    sent_up_to: u64,
    acked: u64,
    baseline: Option<Inventory>,
    snapshot_in_flight: Option<u64>,
}

impl Inner {
    /// Sends every spooled message the current session has not sent yet.
    fn flush(&mut self) {
        let Some(outbound) = &self.outbound else {
            return;
        };
        let mut last = self.sent_up_to;
        for record in self.spool.after(self.sent_up_to) {
            match AgentMessage::decode(record.payload.as_slice()) {
                Ok(message) => {
                    if outbound.send(message).is_err() {
                        break;
                    }
                }
                Err(error) => {
                    tracing::error!(seq = record.seq, error = %error, "spooled message cannot be decoded; skipped")
                }
            }
            last = record.seq;
        }
        self.sent_up_to = last;
    }

    fn push(&mut self, kind: Kind, body: Body) -> Result<u64> {
        let seq = self.seq.allocate()?;
        let message = AgentMessage {
            seq,
            sent_at_ms: rollcall_proto::now_ms(),
            body: Some(body),
        };
        self.spool.push(seq, kind, message.encode_to_vec())?;
        self.flush();
        Ok(seq)
    }
}

struct Shared {
    config: AgentConfig,
    inner: Mutex<Inner>,
    full_inventory: Notify,
    acked: Notify,
    intervals: watch::Sender<Intervals>,
    platform: Arc<LinuxPlatform>,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic while holding the lock cannot leave the spool inconsistent on disk.
        self.inner
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// Runs the agent until `shutdown` is cancelled.
pub async fn run(config: AgentConfig, shutdown: CancellationToken) -> Result<()> {
    let credentials = enroll::load_credentials(&config.state_dir)?;
    if config.collectors.is_empty() && credentials.enrollment.collector.is_empty() {
        return Err(Error::Config("no collector endpoint configured".into()));
    }
    let (spool, damage) = Spool::open(&config.state_dir.join("spool"), config.spool_max_bytes)?;
    if let Some(damage) = damage {
        tracing::warn!(report = %damage, "spool damaged");
    }
    let intervals = Intervals {
        heartbeat: Duration::from_secs(config.heartbeat_interval_s.into()),
        health: Duration::from_secs(config.health_interval_s.into()),
        inventory: Duration::from_secs(config.inventory_interval_s.into()),
    };
    let shared = Arc::new(Shared {
        platform: Arc::new(LinuxPlatform::new(config.root.clone())),
        inner: Mutex::new(Inner {
            spool,
            seq: SequenceAllocator::open(&config.state_dir)?,
            outbound: None,
            sent_up_to: 0,
            acked: 0,
            baseline: state::load_baseline(&config.state_dir),
            snapshot_in_flight: None,
        }),
        full_inventory: Notify::new(),
        acked: Notify::new(),
        intervals: watch::channel(intervals).0,
        config,
    });
    // The first inventory is taken before connecting, so Hello carries the full identity.
    collect_and_enqueue(&shared, false).await;
    let tasks = tokio_util::task::TaskTracker::new();
    tasks.spawn(inventory_loop(shared.clone(), shutdown.clone()));
    tasks.spawn(health_loop(shared.clone(), shutdown.clone()));
    if !shared.config.checks.is_empty() {
        tasks.spawn(checks_loop(shared.clone(), shutdown.clone()));
    }
    connection_loop(shared.clone(), credentials, shutdown.clone()).await;
    tasks.close();
    tasks.wait().await;
    Ok(())
}

async fn sleep_or_cancel(duration: Duration, shutdown: &CancellationToken) -> bool {
    tokio::select! {
        _ = tokio::time::sleep(duration) => true,
        _ = shutdown.cancelled() => false,
    }
}

async fn collect_and_enqueue(shared: &Arc<Shared>, requested_full: bool) {
    let platform = shared.platform.clone();
    match tokio::task::spawn_blocking(move || platform.inventory()).await {
        Ok(inventory) => {
            if let Err(error) = enqueue_inventory(shared, inventory, requested_full) {
                tracing::error!(error = %error, "cannot spool inventory");
            }
        }
        Err(error) => tracing::error!(error = %error, "inventory collection failed"),
    }
}

async fn inventory_loop(shared: Arc<Shared>, shutdown: CancellationToken) {
    let mut intervals = shared.intervals.subscribe();
    loop {
        let period = intervals.borrow_and_update().inventory;
        let requested_full = tokio::select! {
            _ = tokio::time::sleep(period) => false,
            _ = shared.full_inventory.notified() => true,
            _ = intervals.changed() => continue,
            _ = shutdown.cancelled() => return,
        };
        collect_and_enqueue(&shared, requested_full).await;
    }
}

fn enqueue_inventory(shared: &Shared, inventory: Inventory, requested_full: bool) -> Result<()> {
    let mut inner = shared.lock();
    let dropped = inner.spool.take_inventory_dropped()?;
    let body = match (&inner.baseline, requested_full || dropped) {
        (Some(baseline), false) => crate::delta::diff(baseline, &inventory).map(Body::Delta),
        _ => Some(Body::Snapshot(InventorySnapshot {
            inventory: Some(inventory.clone()),
        })),
    };
    let Some(body) = body else {
        tracing::debug!("inventory unchanged; nothing to send");
        return Ok(());
    };
    let is_snapshot = matches!(body, Body::Snapshot(_));
    match &body {
        Body::Delta(delta) => {
            let upserts = delta
                .upserts
                .as_ref()
                .map(|upserts| inventory::flatten(upserts).len())
                .unwrap_or(0);
            tracing::info!(
                upserts,
                removed = delta.removed.len(),
                bytes = delta.encoded_len(),
                "inventory delta spooled"
            );
        }
        _ => tracing::info!(
            packages = inventory.packages.len(),
            bytes = inventory.encoded_len(),
            "inventory snapshot spooled"
        ),
    }
    let seq = inner.push(Kind::Inventory, body)?;
    if is_snapshot {
        inner.snapshot_in_flight = Some(seq);
    }
    state::save_baseline(&shared.config.state_dir, &inventory)?;
    inner.baseline = Some(inventory);
    Ok(())
}

async fn health_loop(shared: Arc<Shared>, shutdown: CancellationToken) {
    let mut intervals = shared.intervals.subscribe();
    let mut sampler = Some(HealthSampler::new(shared.config.root.clone()));
    loop {
        let Some(mut current) = sampler.take() else {
            return;
        };
        let sampled = tokio::task::spawn_blocking(move || {
            let report = current.sample();
            (current, report)
        })
        .await;
        match sampled {
            Ok((current, report)) => {
                sampler = Some(current);
                if let Err(error) = shared.lock().push(Kind::Health, Body::Health(report)) {
                    tracing::error!(error = %error, "cannot spool health sample");
                }
            }
            Err(error) => {
                tracing::error!(error = %error, "health sampling failed");
                sampler = Some(HealthSampler::new(shared.config.root.clone()));
            }
        }
        let period = intervals.borrow_and_update().health;
        tokio::select! {
            _ = tokio::time::sleep(period) => {}
            _ = intervals.changed() => {}
            _ = shutdown.cancelled() => return,
        }
    }
}

async fn checks_loop(shared: Arc<Shared>, shutdown: CancellationToken) {
    let default_period = shared.config.health_interval_s;
    let mut next_due: Vec<tokio::time::Instant> =
        vec![tokio::time::Instant::now(); shared.config.checks.len()];
    loop {
        let now = tokio::time::Instant::now();
        let mut results = Vec::new();
        for (index, check) in shared.config.checks.iter().enumerate() {
            if next_due[index] <= now {
                results.push(crate::checks::run_check(check, &shared.config.root).await);
                let period = check.interval_s.unwrap_or(default_period.into()).max(1);
                next_due[index] = now + Duration::from_secs(period);
            }
        }
        if !results.is_empty()
            && let Err(error) = shared
                .lock()
                .push(Kind::Other, Body::Checks(CheckResults { results }))
        {
            tracing::error!(error = %error, "cannot spool check results");
        }
        let wake = next_due
            .iter()
            .min()
            .copied()
            .unwrap_or(now + Duration::from_secs(60));
        tokio::select! {
            _ = tokio::time::sleep_until(wake) => {}
            _ = shutdown.cancelled() => return,
        }
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

async fn connection_loop(
    shared: Arc<Shared>,
    credentials: Credentials,
    shutdown: CancellationToken,
) {
    let endpoints: Vec<String> = if shared.config.collectors.is_empty() {
        vec![credentials.enrollment.collector.clone()]
    } else {
        shared.config.collectors.clone()
    };
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
                Err(error) => {
                    tracing::warn!(collector = %url, error = %error, "session failed");
                    if started.elapsed() > Duration::from_secs(60) {
                        attempt = 0;
                        preferred = index;
                    }
                }
            }
            if shutdown.is_cancelled() {
                return;
            }
        }
        if ended_cleanly || shutdown.is_cancelled() {
            return;
        }
        let delay = backoff(attempt, cap);
        attempt = attempt.saturating_add(1);
        tracing::info!(
            delay_ms = delay.as_millis() as u64,
            "reconnecting after backoff"
        );
        if !sleep_or_cancel(delay, &shutdown).await {
            return;
        }
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
            hostname: local_hostname(&shared.config.root),
            ..Default::default()
        });
    AgentMessage {
        seq: 0,
        sent_at_ms: rollcall_proto::now_ms(),
        body: Some(Body::Hello(Hello {
            agent_id: credentials.enrollment.agent_id.clone(),
            agent_version: env!("CARGO_PKG_VERSION").to_string(),
            identity: Some(identity),
            digests,
            last_acked_seq: inner.acked,
        })),
    }
}

fn on_ack(shared: &Shared, seq: u64) -> Result<()> {
    let mut inner = shared.lock();
    inner.spool.ack(seq)?;
    inner.acked = inner.acked.max(seq);
    if inner
        .snapshot_in_flight
        .is_some_and(|pending| pending <= seq)
    {
        inner.snapshot_in_flight = None;
    }
    drop(inner);
    shared.acked.notify_waiters();
    Ok(())
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
        if compress && refuses_gzip(&status) {
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
    let intervals = Intervals {
        heartbeat: Duration::from_secs(welcome.heartbeat_interval_s.max(1).into()),
        health: Duration::from_secs(welcome.health_interval_s.max(1).into()),
        inventory: Duration::from_secs(welcome.inventory_interval_s.max(1).into()),
    };
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
                let message = message.map_err(|status| Error::Connect(explain_status(url, &status)))?;
                let Some(message) = message else {
                    return Err(Error::Connect(format!("{url}: the collector ended the session")));
                };
                match message.body {
                    Some(Reply::Ack(ack)) => on_ack(shared, ack.seq)?,
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
                say_goodbye(shared, inbound).await;
                return Ok(());
            }
        }
    }
}

fn local_hostname(root: &std::path::Path) -> String {
    std::fs::read_to_string(root.join("proc/sys/kernel/hostname"))
        .map(|name| name.trim().to_string())
        .unwrap_or_default()
}

/// Whether systemd is stopping the whole system (shutdown or reboot).
fn system_stopping() -> bool {
    if !std::path::Path::new("/run/systemd/system").exists() {
        return false;
    }
    std::process::Command::new("systemctl")
        .arg("is-system-running")
        .output()
        .map(|output| String::from_utf8_lossy(&output.stdout).trim() == "stopping")
        .unwrap_or(false)
}

fn uptime_s() -> u64 {
    static STARTED: std::sync::OnceLock<std::time::Instant> = std::sync::OnceLock::new();
    STARTED
        .get_or_init(std::time::Instant::now)
        .elapsed()
        .as_secs()
}

/// The stop request file in a state directory.
pub fn stop_request_path(state_dir: &std::path::Path) -> PathBuf {
    state_dir.join("stop-request.json")
}

fn planned_stop(shared: &Shared) -> Option<StopRequest> {
    let path = stop_request_path(&shared.config.state_dir);
    if let Ok(text) = std::fs::read_to_string(&path) {
        let _ = std::fs::remove_file(&path);
        return serde_json::from_str(&text).ok();
    }
    system_stopping().then(|| StopRequest {
        reason: "system shutdown or reboot".into(),
        back_within_s: 600,
    })
}

/// On a planned stop, tells the collector and waits briefly for the ack.
async fn say_goodbye(
    shared: &Shared,
    inbound: &mut tonic::Streaming<rollcall_proto::v1::CollectorMessage>,
) {
    let Some(stop) = planned_stop(shared) else {
        return;
    };
    let seq = match shared.lock().push(
        Kind::Other,
        Body::Goodbye(Goodbye {
            reason: stop.reason.clone(),
            back_within_s: stop.back_within_s,
        }),
    ) {
        Ok(seq) => seq,
        Err(error) => {
            tracing::error!(error = %error, "cannot send goodbye");
            return;
        }
    };
    let wait = async {
        while let Ok(Some(message)) = inbound.message().await {
            if let Some(Reply::Ack(ack)) = message.body {
                let _ = on_ack(shared, ack.seq);
                if ack.seq >= seq {
                    return;
                }
            }
        }
    };
    if tokio::time::timeout(Duration::from_secs(3), wait)
        .await
        .is_err()
    {
        tracing::warn!("collector did not acknowledge the goodbye in time; it stays spooled");
    } else {
        tracing::info!(reason = %stop.reason, back_within_s = stop.back_within_s, "said goodbye to the collector");
    }
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
