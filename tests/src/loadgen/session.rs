//! One simulated agent: its own mTLS channel (bound to its own loopback
//! source address), Hello/Welcome, heartbeats, health reports, deltas and
//! snapshots on request, cumulative acks matched to what was sent, a
//! reconnect loop, and a silent or clean death on command.

use std::collections::VecDeque;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Result, anyhow, bail};
use rand::Rng;
use rollcall_proto::v1::agent_message::Body;
use rollcall_proto::v1::collector_message::Body as Reply;
use rollcall_proto::v1::rollcall_client::RollcallClient;
use rollcall_proto::v1::{
    AgentMessage, FilesystemUsage, HealthReport, Heartbeat, Hello, Inventory, InventoryDelta,
    InventorySnapshot,
};
use tokio::sync::{Notify, Semaphore, mpsc, watch};
use tokio::time::MissedTickBehavior;
use tokio_stream::wrappers::ReceiverStream;
use tokio_util::sync::CancellationToken;
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Endpoint, Identity};

use super::fleet::{self, Credentials};
use super::metrics::{Kind, Metrics};

/// How a simulated agent ends when the kill is given.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fate {
    /// Keeps running to the end.
    Live,
    /// Stops sending but keeps its connection open (like SIGSTOP).
    Silent,
    /// Closes its stream (like a clean process exit without Goodbye).
    Clean,
}

/// What every simulated agent shares.
#[derive(Debug)]
pub struct Context {
    /// `https://host:port` of the collector.
    pub collector_url: String,
    /// Host name the collector's certificate is checked against.
    pub server_name: String,
    /// PEM of the collector CA.
    pub ca_pem: String,
    /// This machine's inventory, the base of every agent's.
    pub base: Inventory,
    /// Share of packages at a differing version per agent.
    pub variation: f64,
    /// Packages per agent at most.
    pub max_packages: usize,
    /// Heartbeat interval, overriding Welcome's.
    pub heartbeat: Option<Duration>,
    /// Health interval, overriding Welcome's.
    pub health: Option<Duration>,
    /// Deltas per second per agent (0: none).
    pub delta_rate_per_agent: f64,
    /// Send a full snapshot on every agent's first session even if not asked.
    pub snapshot_on_connect: bool,
    /// Counters.
    pub metrics: Arc<Metrics>,
    /// Becomes true when doomed agents must die.
    pub kill: watch::Receiver<bool>,
    /// Becomes true when the measured window starts: until then agents
    /// beat at the collector's intervals and send no deltas, so the
    /// connect phase (enrollment, first snapshots) settles before the load.
    pub window: watch::Receiver<bool>,
    /// Cancelled at the end of the run.
    pub stop: CancellationToken,
    /// Limits concurrent TLS handshakes.
    pub connect_gate: Semaphore,
    /// Host ids from Welcome, by agent index.
    pub host_ids: Mutex<Vec<Option<String>>>,
    /// (agent index, kill time ms since the epoch, fate) of killed agents.
    pub killed: Mutex<Vec<(usize, i64, Fate)>>,
}

/// One simulated agent.
#[derive(Debug)]
pub struct SimAgent {
    /// Index in the fleet.
    pub index: usize,
    /// Its credentials.
    pub credentials: Credentials,
    /// Loopback address its connections come from.
    pub source: Option<IpAddr>,
    /// What happens to it at the kill.
    pub fate: Fate,
}

/// Per-agent state kept across reconnects.
#[derive(Debug, Default)]
struct Progress {
    seq: u64,
    acked: u64,
    sent_snapshot: bool,
    deltas: Option<[InventoryDelta; 2]>,
    delta_toggle: usize,
}

type InFlight = Arc<Mutex<VecDeque<(u64, Kind, Instant)>>>;

enum End {
    Stopped,
}

impl SimAgent {
    /// Runs the agent until the run stops, reconnecting after failures.
    pub async fn run(self, context: Arc<Context>) {
        let mut progress = Progress::default();
        let mut failures = 0u32;
        while !context.stop.is_cancelled() {
            match self.session(&context, &mut progress).await {
                Ok(End::Stopped) => return,
                Err(error) => {
                    context.metrics.error(format!("{error:#}"));
                    failures = failures.saturating_add(1);
                    // Full jitter up to 5 s, like the real agent's backoff.
                    let cap =
                        Duration::from_millis(250 << failures.min(5)).min(Duration::from_secs(5));
                    let delay = cap.mul_f64(rand::rng().random_range(0.2..1.0));
                    tokio::select! {
                        _ = tokio::time::sleep(delay) => {}
                        _ = context.stop.cancelled() => return,
                    }
                }
            }
        }
    }

    async fn connect(&self, context: &Context) -> Result<Channel> {
        let tls = ClientTlsConfig::new()
            .ca_certificate(Certificate::from_pem(&context.ca_pem))
            .identity(Identity::from_pem(
                &self.credentials.cert_pem,
                &self.credentials.key_pem,
            ))
            .domain_name(context.server_name.clone());
        // The real agent's channel settings (rollcall_agent::enroll::channel):
        // HTTP/2 keepalive pings every 30 s that must be answered within 10 s,
        // TCP keepalive 60 s; the connect timeout is longer than its 10 s
        // because thousands of simulated agents connect at once.
        let endpoint = Endpoint::from_shared(context.collector_url.clone())?
            .tls_config(tls)?
            .connect_timeout(Duration::from_secs(30))
            .http2_keep_alive_interval(Duration::from_secs(30))
            .keep_alive_timeout(Duration::from_secs(10))
            .tcp_keepalive(Some(Duration::from_secs(60)))
            .local_address(self.source);
        let _permit = context.connect_gate.acquire().await?;
        Ok(endpoint.connect().await?)
    }

    async fn session(&self, context: &Arc<Context>, progress: &mut Progress) -> Result<End> {
        let channel = tokio::select! {
            channel = self.connect(context) => channel?,
            _ = context.stop.cancelled() => return Ok(End::Stopped),
        };
        let mut client = RollcallClient::new(channel)
            .max_decoding_message_size(rollcall_proto::MAX_MESSAGE_BYTES)
            .max_encoding_message_size(rollcall_proto::MAX_MESSAGE_BYTES);
        let (sender, receiver) = mpsc::channel::<AgentMessage>(64);
        sender
            .send(AgentMessage {
                seq: 0,
                sent_at_ms: rollcall_proto::now_ms(),
                body: Some(Body::Hello(Box::new(Hello {
                    agent_id: self.credentials.agent_id.clone(),
                    agent_version: concat!("loadgen-", env!("CARGO_PKG_VERSION")).to_string(),
                    identity: Some(fleet::identity(self.index)),
                    digests: Vec::new(),
                    last_acked_seq: progress.acked,
                }))),
            })
            .await
            .map_err(|_| anyhow!("session stream closed before Hello"))?;
        let mut inbound = client
            .session(ReceiverStream::new(receiver))
            .await?
            .into_inner();
        // Like the real agent (rollcall_agent::session), wait for Welcome as
        // long as the connection lives: the channel's HTTP/2 keepalive ends
        // a dead one. A cut-off here made a slow Welcome a session error and
        // a reconnect, so the burst of new hosts fed itself (every retry is
        // a new Hello and a new claim); how long Welcome took is reported.
        let hello_at = Instant::now();
        let welcome = match inbound.message().await? {
            Some(rollcall_proto::v1::CollectorMessage {
                body: Some(Reply::Welcome(welcome)),
            }) => welcome,
            other => bail!("expected Welcome, got {other:?}"),
        };
        context.metrics.welcomed(hello_at, Instant::now());
        progress.seq = progress.seq.max(welcome.last_applied_seq);
        if let Ok(mut host_ids) = context.host_ids.lock()
            && let Some(slot) = host_ids.get_mut(self.index)
        {
            *slot = Some(welcome.host_id.clone());
        }
        context.metrics.session_up();
        let result = self
            .converse(context, progress, &welcome, sender, inbound)
            .await;
        context.metrics.session_down();
        result
    }

    async fn converse(
        &self,
        context: &Arc<Context>,
        progress: &mut Progress,
        welcome: &rollcall_proto::v1::Welcome,
        sender: mpsc::Sender<AgentMessage>,
        mut inbound: tonic::Streaming<rollcall_proto::v1::CollectorMessage>,
    ) -> Result<End> {
        let in_flight: InFlight = Arc::default();
        let _abandon = Abandon(in_flight.clone(), context.metrics.clone());
        let full_requested = Arc::new(Notify::new());
        let (acked_sender, mut acked_receiver) = watch::channel(progress.acked);
        let reader = {
            let in_flight = in_flight.clone();
            let full_requested = full_requested.clone();
            let metrics = context.metrics.clone();
            tokio::spawn(async move {
                loop {
                    let message = match inbound.message().await {
                        Ok(Some(message)) => message,
                        Ok(None) => return Err(anyhow!("the collector ended the session")),
                        Err(status) => return Err(anyhow!("session: {}", status.message())),
                    };
                    match message.body {
                        Some(Reply::Ack(ack)) => {
                            let now = Instant::now();
                            if let Ok(mut queue) = in_flight.lock() {
                                while queue.front().is_some_and(|(seq, _, _)| *seq <= ack.seq) {
                                    if let Some((_, kind, sent_at)) = queue.pop_front() {
                                        metrics.acked(kind, sent_at, now);
                                    }
                                }
                            }
                            acked_sender.send_if_modified(|acked| {
                                let newer = ack.seq > *acked;
                                *acked = (*acked).max(ack.seq);
                                newer
                            });
                        }
                        Some(Reply::RequestFullInventory(_)) => {
                            metrics
                                .full_requests
                                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                            full_requested.notify_one();
                        }
                        Some(Reply::Throttle(_)) => {
                            metrics
                                .throttles
                                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        }
                        _ => {}
                    }
                }
            })
        };
        let reader_abort = reader.abort_handle();
        let _abort_reader = AbortOnDrop(reader_abort);
        let mut reader = reader;

        let welcome_heartbeat = Duration::from_secs(u64::from(welcome.heartbeat_interval_s.max(1)));
        let welcome_health = Duration::from_secs(u64::from(welcome.health_interval_s.max(1)));
        let mut window = context.window.clone();
        let start = tokio::time::Instant::now();
        let mut timers = Timers::new(welcome_heartbeat, welcome_health, None);
        if *window.borrow_and_update() {
            timers = Timers::for_window(context, welcome_heartbeat, welcome_health);
        }
        let mut kill = context.kill.clone();
        let doomed = self.fate != Fate::Live;

        if context.snapshot_on_connect && !progress.sent_snapshot {
            self.send_snapshot(context, progress, &sender, &in_flight)
                .await?;
        }
        loop {
            tokio::select! {
                _ = context.stop.cancelled() => return Ok(End::Stopped),
                joined = &mut reader => {
                    return match joined {
                        Ok(Err(error)) => Err(error),
                        _ => Err(anyhow!("session reader stopped")),
                    };
                }
                changed = kill.changed(), if doomed => {
                    if changed.is_ok() && *kill.borrow() {
                        return self.die(context, sender, reader).await;
                    }
                }
                changed = window.changed() => {
                    if changed.is_ok() && *window.borrow_and_update() {
                        timers = Timers::for_window(context, welcome_heartbeat, welcome_health);
                    }
                }
                _ = acked_receiver.changed() => {
                    progress.acked = *acked_receiver.borrow();
                }
                _ = full_requested.notified() => {
                    self.send_snapshot(context, progress, &sender, &in_flight).await?;
                }
                _ = timers.heartbeat.tick() => {
                    let body = Body::Heartbeat(Heartbeat { agent_uptime_s: start.elapsed().as_secs() });
                    send(context, progress, &sender, &in_flight, Kind::Heartbeat, body).await?;
                }
                _ = timers.health.tick() => {
                    let body = Body::Health(Box::new(health_report(self.index)));
                    send(context, progress, &sender, &in_flight, Kind::Health, body).await?;
                }
                _ = timers.delta.tick(), if timers.deltas => {
                    let body = Body::Delta(Box::new(self.next_delta(context, progress)));
                    send(context, progress, &sender, &in_flight, Kind::Delta, body).await?;
                }
            }
        }
    }

    /// Dies as fated; holds what a stopped process would hold until the run ends.
    async fn die(
        &self,
        context: &Arc<Context>,
        sender: mpsc::Sender<AgentMessage>,
        reader: tokio::task::JoinHandle<Result<()>>,
    ) -> Result<End> {
        if let Ok(mut killed) = context.killed.lock() {
            killed.push((self.index, rollcall_proto::now_ms(), self.fate));
        }
        if self.fate == Fate::Clean {
            drop(sender);
            let _ = tokio::time::timeout(Duration::from_secs(5), reader).await;
            context.stop.cancelled().await;
        } else {
            // SIGSTOP: the connection stays open, nothing more is sent.
            context.stop.cancelled().await;
            drop(sender);
        }
        Ok(End::Stopped)
    }

    async fn send_snapshot(
        &self,
        context: &Context,
        progress: &mut Progress,
        sender: &mpsc::Sender<AgentMessage>,
        in_flight: &InFlight,
    ) -> Result<()> {
        let mut inventory = self.inventory(context, progress);
        inventory.collected_at_ms = rollcall_proto::now_ms();
        let body = Body::Snapshot(Box::new(InventorySnapshot {
            inventory: Some(inventory),
        }));
        progress.sent_snapshot = true;
        send(context, progress, sender, in_flight, Kind::Snapshot, body).await
    }

    /// The inventory the agent currently has (after the deltas it sent).
    fn inventory(&self, context: &Context, progress: &Progress) -> Inventory {
        let inventory = fleet::inventory(
            &context.base,
            self.index,
            context.variation,
            context.max_packages,
        );
        if progress.delta_toggle % 2 == 1 {
            fleet::changed(&inventory, self.index)
        } else {
            inventory
        }
    }

    /// Alternates between two inventories differing in one package version.
    fn next_delta(&self, context: &Context, progress: &mut Progress) -> InventoryDelta {
        let deltas = progress.deltas.get_or_insert_with(|| {
            let before = fleet::inventory(
                &context.base,
                self.index,
                context.variation,
                context.max_packages,
            );
            let after = fleet::changed(&before, self.index);
            [
                rollcall_agent::delta::diff(&before, &after).unwrap_or_default(),
                rollcall_agent::delta::diff(&after, &before).unwrap_or_default(),
            ]
        });
        let mut delta = deltas[progress.delta_toggle % 2].clone();
        progress.delta_toggle += 1;
        delta
            .upserts
            .get_or_insert_with(Default::default)
            .collected_at_ms = rollcall_proto::now_ms();
        delta
    }
}

async fn send(
    context: &Context,
    progress: &mut Progress,
    sender: &mpsc::Sender<AgentMessage>,
    in_flight: &InFlight,
    kind: Kind,
    body: Body,
) -> Result<()> {
    progress.seq += 1;
    let now = Instant::now();
    if let Ok(mut queue) = in_flight.lock() {
        queue.push_back((progress.seq, kind, now));
    }
    context.metrics.sent(kind, now);
    sender
        .send(AgentMessage {
            seq: progress.seq,
            sent_at_ms: rollcall_proto::now_ms(),
            body: Some(body),
        })
        .await
        .map_err(|_| anyhow!("session stream closed"))
}

/// A plausible health sample that varies a little per agent.
fn health_report(index: usize) -> HealthReport {
    let load = (index % 10) as f32 / 10.0;
    HealthReport {
        sampled_at_ms: rollcall_proto::now_ms(),
        cpu_percent: 3.0 + load,
        load1: load,
        load5: load,
        load15: load,
        memory_used_bytes: 2 << 30,
        memory_total_bytes: 8 << 30,
        swap_used_bytes: 0,
        swap_total_bytes: 0,
        filesystems: vec![FilesystemUsage {
            mount_point: "/".into(),
            size_bytes: 100 << 30,
            used_bytes: 40 << 30,
            used_percent: 40.0,
        }],
        interfaces: Vec::new(),
        process_count: 120,
        uptime_s: 86_400,
        failed_units: Vec::new(),
    }
}

/// When an agent sends heartbeats, health reports and deltas.
struct Timers {
    heartbeat: tokio::time::Interval,
    health: tokio::time::Interval,
    delta: tokio::time::Interval,
    deltas: bool,
}

impl Timers {
    /// Timers with random phases, so thousands of agents do not beat in lockstep.
    fn new(heartbeat: Duration, health: Duration, delta: Option<Duration>) -> Self {
        let start = tokio::time::Instant::now();
        let interval = |period: Duration| {
            let phase = period.mul_f64(rand::rng().random_range(0.0..1.0));
            let mut interval = tokio::time::interval_at(start + phase, period);
            interval.set_missed_tick_behavior(MissedTickBehavior::Delay);
            interval
        };
        Self {
            heartbeat: interval(heartbeat),
            health: interval(health),
            delta: interval(delta.unwrap_or(Duration::from_secs(3600))),
            deltas: delta.is_some(),
        }
    }

    /// The load of the measured window: the overrides, and deltas.
    fn for_window(context: &Context, heartbeat: Duration, health: Duration) -> Self {
        let delta = (context.delta_rate_per_agent > 0.0)
            .then(|| Duration::from_secs_f64(1.0 / context.delta_rate_per_agent));
        Self::new(
            context.heartbeat.unwrap_or(heartbeat),
            context.health.unwrap_or(health),
            delta,
        )
    }
}

/// When a session ends, counts what it sent that was never acknowledged.
struct Abandon(InFlight, Arc<Metrics>);

impl Drop for Abandon {
    fn drop(&mut self) {
        if let Ok(mut queue) = self.0.lock() {
            for (_, kind, _) in queue.drain(..) {
                self.1.abandoned(kind);
            }
        }
    }
}

struct AbortOnDrop(tokio::task::AbortHandle);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}
