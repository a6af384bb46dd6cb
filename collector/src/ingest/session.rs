//! One agent session after its certificate was checked: Hello and Welcome,
//! the digest check, then every message in order — sequence numbers
//! (replays acknowledged again, gaps noted), the per-agent and global rate
//! limits, and dispatch to the store, the presence monitor and the incident
//! engine. No tonic types: `grpc` adapts the stream to `Inbound` and maps
//! `SessionError` to a status, so this runs (and is tested) without a socket.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use rollcall_proto::inventory;
use rollcall_proto::v1::agent_message::Body;
use rollcall_proto::v1::collector_message::Body as Reply;
use rollcall_proto::v1::{
    Ack, AgentMessage, CollectorMessage, Hello, RequestFullInventory, Revoked, Throttle, Welcome,
};
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tokio_util::sync::CancellationToken;

use super::resync::{mismatched_sections, rebuild_inventory};
use super::validate;
use crate::error::Error;
use crate::rate::Limiter;
use crate::state::State;
use crate::store::{Agent, ApplyContext, InventoryChange, Seen};

/// How long an agent has to send `Hello` after opening a session.
pub const HELLO_TIMEOUT: Duration = Duration::from_secs(30);

/// Replies a session queues before the transport takes them.
const OUTBOUND_QUEUE: usize = 256;

/// Messages a session's reader takes ahead of the apply loop: 5 minutes of
/// heartbeats at the default 10 s interval, 32 s at 1 s, far more than
/// `down_after` either way, so a live host stays heard while applies wait.
const READ_AHEAD: usize = 32;

/// Furthest a sequence number may be ahead of the last applied one. An
/// agent numbers its messages one by one and its spool holds far fewer than
/// this, so a bigger jump is a bug or a hostile agent; applying it would make
/// every later, correct number look like a replay and be dropped.
pub const MAX_SEQ_JUMP: u64 = 1_000_000;

/// Largest sequence number accepted: `i64::MAX` itself is refused because no
/// number could follow it (the agent would be wedged).
pub const MAX_SEQ: u64 = i64::MAX as u64 - 1;

/// How long the agent is asked to pause when a limit is reached.
const THROTTLE_DELAY_MS: u32 = 1000;

/// Why a session ended other than by the agent closing it.
#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    /// A store, validation or identity error, mapped by the error table.
    #[error(transparent)]
    Rejected(#[from] Error),
    /// A message could not be decoded.
    #[error("malformed message: {0}")]
    Malformed(String),
    /// A message was over the size limit.
    #[error("message rejected: {0}")]
    TooLarge(String),
    /// The agent sent messages out of protocol order.
    #[error("{0}")]
    Protocol(String),
    /// Hello names another agent than the certificate.
    #[error("{0}")]
    WrongAgent(String),
    /// No Hello in time.
    #[error("no Hello within 30 s of opening the session")]
    HelloTimeout,
    /// The agent or its connection went away.
    #[error("{0}")]
    Gone(String),
    /// The collector is shutting down, or the transport is unavailable.
    #[error("{0}")]
    Unavailable(String),
}

impl SessionError {
    /// Whether the end counts as a rejected message in `/metrics` (a
    /// vanished agent or a shutdown does not).
    pub fn is_rejection(&self) -> bool {
        !matches!(self, SessionError::Gone(_) | SessionError::Unavailable(_))
    }
}

/// Where a session's messages come from: the gRPC stream, or a test's channel.
pub trait Inbound: Send + 'static {
    /// The next message; `None` when the agent closed the stream.
    fn next(&mut self) -> impl Future<Output = Result<Option<AgentMessage>, SessionError>> + Send;
}

/// Where a session's replies go; an error is the session's last item.
pub type Outbound = mpsc::Sender<Result<CollectorMessage, SessionError>>;

/// What to do with a sequenced message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sequenced {
    /// A new message: apply it. `missed` counts the numbers skipped since
    /// the last applied one (the agent's spool dropped them, or they were
    /// never sent).
    Apply {
        /// The message's sequence number.
        seq: i64,
        /// Numbers between the last applied one and this one.
        missed: u64,
    },
    /// Already applied (a replay from the agent's spool): acknowledge again.
    Replayed {
        /// The acknowledgement to repeat.
        ack: i64,
    },
}

/// The sequence numbers of one session: the last applied one, and how a
/// new one relates to it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sequence {
    last_applied: i64,
}

impl Sequence {
    /// Starts after `last_applied` (0 when nothing was applied yet).
    pub fn after(last_applied: i64) -> Self {
        Self { last_applied }
    }

    /// The last applied sequence number.
    pub fn last_applied(&self) -> i64 {
        self.last_applied
    }

    /// Classifies the sequence number of an arriving message. A number
    /// above `MAX_SEQ`, or more than `MAX_SEQ_JUMP` ahead of the last
    /// applied one, is refused (`InvalidInput`) and changes nothing, so the
    /// next correct number still applies.
    pub fn classify(&self, seq: u64) -> Result<Sequenced, SessionError> {
        if seq > MAX_SEQ {
            return Err(Error::InvalidInput(format!(
                "sequence number out of range: {seq} is above the largest accepted, {MAX_SEQ}"
            ))
            .into());
        }
        let seq = i64::try_from(seq)
            .map_err(|_| Error::InvalidInput("sequence number out of range".into()))?;
        if seq <= self.last_applied {
            return Ok(Sequenced::Replayed {
                ack: self.last_applied,
            });
        }
        let ahead = seq.abs_diff(self.last_applied);
        if ahead > MAX_SEQ_JUMP {
            return Err(Error::InvalidInput(format!(
                "sequence number {seq} is {ahead} ahead of the last acknowledged {}; \
                 the most accepted is {MAX_SEQ_JUMP}",
                self.last_applied
            ))
            .into());
        }
        Ok(Sequenced::Apply {
            seq,
            missed: ahead - 1,
        })
    }

    /// Records that `seq` was applied.
    pub fn applied(&mut self, seq: i64) {
        self.last_applied = self.last_applied.max(seq);
    }
}

/// Reports a gap before `seq` (counted in `/metrics` and logged) rather
/// than acknowledging over it silently.
fn count_gap(metrics: &crate::metrics::Metrics, agent_id: &str, seq: i64, missed: u64) {
    if missed == 0 {
        return;
    }
    metrics.sequence_gaps.fetch_add(1, Ordering::Relaxed);
    metrics.sequence_missed.fetch_add(missed, Ordering::Relaxed);
    tracing::warn!(agent_id = %agent_id, seq, missed, "sequence gap: numbers skipped before this message");
}

/// Whether a message may go ahead under the limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admission {
    /// Within both limits.
    Now,
    /// Over a limit: wait for `Gate::ready`; `notify` is true the first
    /// time in a row, when the agent should be told to slow down.
    Wait {
        /// Whether to send the agent a `Throttle`.
        notify: bool,
    },
}

/// A session's rate limits: its own, and the collector-wide one it shares.
#[derive(Debug)]
pub struct Gate {
    per_agent: Limiter,
    throttled: bool,
}

impl Gate {
    /// A gate of `rate` messages a second with bursts of `burst`.
    pub fn new(rate: u32, burst: u32) -> Self {
        Self {
            per_agent: Limiter::new(rate, burst),
            throttled: false,
        }
    }

    /// Takes a cell of both limits if they allow it now.
    pub fn admit(&mut self, global: &Limiter) -> Admission {
        if self.per_agent.check().is_err() || global.check().is_err() {
            let notify = !self.throttled;
            self.throttled = true;
            Admission::Wait { notify }
        } else {
            self.throttled = false;
            Admission::Now
        }
    }

    /// Back-pressure: waits until both limits allow a message, which slows
    /// only this agent.
    pub async fn ready(&self, global: &Limiter) {
        self.per_agent.until_ready().await;
        global.until_ready().await;
    }
}

/// Runs a session for `agent` on its own task (tracked by
/// `State::sessions`); the returned stream carries its replies and, if it
/// fails, the error that ended it.
pub fn spawn(
    state: Arc<State>,
    agent: Agent,
    inbound: impl Inbound,
) -> ReceiverStream<Result<CollectorMessage, SessionError>> {
    let (outbound, replies) = mpsc::channel(OUTBOUND_QUEUE);
    let tasks = state.sessions.clone();
    tasks.spawn(async move {
        let agent_id = agent.id.clone();
        if let Err(error) = run(&state, agent, inbound, &outbound).await {
            tracing::warn!(agent_id = %agent_id, error = %error, "session ended with an error");
            if error.is_rejection() {
                state.metrics.rejected.fetch_add(1, Ordering::Relaxed);
            }
            let _ = outbound.send(Err(error)).await;
        }
    });
    ReceiverStream::new(replies)
}

async fn send(outbound: &Outbound, reply: Reply) -> Result<(), SessionError> {
    outbound
        .send(Ok(CollectorMessage { body: Some(reply) }))
        .await
        .map_err(|_| SessionError::Gone("agent went away".into()))
}

async fn run(
    state: &Arc<State>,
    agent: Agent,
    mut inbound: impl Inbound,
    outbound: &Outbound,
) -> Result<(), SessionError> {
    let first = tokio::time::timeout(HELLO_TIMEOUT, inbound.next())
        .await
        .map_err(|_| SessionError::HelloTimeout)??;
    let Some(AgentMessage {
        body: Some(Body::Hello(hello)),
        ..
    }) = first
    else {
        return Err(SessionError::Protocol(
            "the first message of a session must be Hello".into(),
        ));
    };
    // Registered before `welcome` reads the agent again, so a revocation
    // either shows there or cancels this registration (`revocation`).
    let registration = state.revocations.register(&agent.id);
    let (host_id, last_applied) = welcome(state, &agent, &hello, outbound).await?;
    state.sessions_opened();
    state.monitor.heard(&host_id, rollcall_proto::now_ms());
    let revoked = registration.token();
    let result = apply_loop(
        state,
        &agent,
        &host_id,
        last_applied,
        inbound,
        outbound,
        revoked,
    )
    .await;
    state.sessions_closed();
    state
        .monitor
        .session_closed(&host_id, rollcall_proto::now_ms());
    tracing::info!(agent_id = %agent.id, "session closed");
    result
}

/// Attaches the agent to its host, sends `Welcome`, and asks for a full
/// inventory when the record has none or its digests differ. Returns the
/// host and the last applied sequence number.
async fn welcome(
    state: &State,
    agent: &Agent,
    hello: &Hello,
    outbound: &Outbound,
) -> Result<(String, i64), SessionError> {
    if !hello.agent_id.is_empty() && hello.agent_id != agent.id {
        return Err(SessionError::WrongAgent(format!(
            "Hello names agent {} but the certificate belongs to agent {}",
            hello.agent_id, agent.id
        )));
    }
    validate::hello(hello)?;
    let identity = validate::host_identity(&hello.identity.clone().unwrap_or_default())?;
    let hostname = hello
        .identity
        .as_ref()
        .map(|identity| identity.hostname.clone())
        .unwrap_or_default();
    let now = rollcall_proto::now_ms();
    let attachment = state
        .store
        .claim_host(
            &agent.id,
            &identity,
            &hostname,
            now,
            Some(state.config.cmdb.takeover_after_ms()),
        )
        .await?;
    let stored = state.store.agent(&agent.id).await?;
    if stored.as_ref().is_some_and(|a| a.revoked_at.is_some()) {
        return Err(Error::PermissionDenied(format!(
            "agent {} has been revoked; re-enroll it to reconnect",
            agent.id
        ))
        .into());
    }
    let last_applied = stored.map(|a| a.last_seq).unwrap_or(0);
    tracing::info!(agent_id = %agent.id, host_id = %attachment.host_id, rule = %attachment.rule, "session started");
    let intervals = &state.config.agents;
    send(
        outbound,
        Reply::Welcome(Welcome {
            host_id: attachment.host_id.clone(),
            heartbeat_interval_s: intervals.heartbeat_interval_s,
            health_interval_s: intervals.health_interval_s,
            inventory_interval_s: intervals.inventory_interval_s,
            last_applied_seq: last_applied as u64,
        }),
    )
    .await?;
    if let Some(reason) = full_inventory_reason(state, agent, &attachment.host_id, hello).await? {
        send(
            outbound,
            Reply::RequestFullInventory(RequestFullInventory { reason }),
        )
        .await?;
    }
    Ok((attachment.host_id, last_applied))
}

/// Why the host needs a full snapshot, if it does.
async fn full_inventory_reason(
    state: &State,
    agent: &Agent,
    host_id: &str,
    hello: &Hello,
) -> Result<Option<String>, SessionError> {
    let needs_full = state
        .store
        .host(host_id)
        .await?
        .is_none_or(|host| host.last_inventory_at.is_none());
    if needs_full {
        return Ok(Some("no inventory on record".to_string()));
    }
    if hello.digests.is_empty() {
        return Ok(None);
    }
    let rows = state.store.host_items(host_id).await?;
    let stored = inventory::digests(&inventory::flatten(&rebuild_inventory(&rows)));
    let differing = mismatched_sections(&stored, &hello.digests);
    Ok((!differing.is_empty()).then(|| {
        let names: Vec<&str> = differing.iter().map(|s| inventory::class_name(*s)).collect();
        tracing::info!(agent_id = %agent.id, sections = ?names, "inventory digest mismatch; asking for a full snapshot");
        format!("inventory digest mismatch in {}", names.join(", "))
    }))
}

/// Aborts a task when dropped (the session's reader ends with the session).
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// What the session's reader queues: the next message, boxed. An
/// `AgentMessage` is about 1 KiB inline (a snapshot's `Inventory` is stored
/// in place) and a tokio channel allocates its slots 32 at a time, so queueing
/// them unboxed cost every session ~33 KiB whether anything was queued or not;
/// boxed, a slot is 16 bytes.
type Queued = Result<Option<Box<AgentMessage>>, SessionError>;

/// Reads the session's messages into `queue`, marking the host heard on arrival.
async fn read_messages(
    mut inbound: impl Inbound,
    queue: mpsc::Sender<Queued>,
    state: Arc<State>,
    host_id: String,
) {
    loop {
        let item = inbound.next().await.map(|next| next.map(Box::new));
        let more = matches!(item, Ok(Some(_)));
        if more {
            state.monitor.heard(&host_id, rollcall_proto::now_ms());
        }
        if queue.send(item).await.is_err() || !more {
            return;
        }
    }
}

async fn apply_loop(
    state: &Arc<State>,
    agent: &Agent,
    host_id: &str,
    last_applied: i64,
    inbound: impl Inbound,
    outbound: &Outbound,
    revoked: &CancellationToken,
) -> Result<(), SessionError> {
    let ingest = &state.config.ingest;
    let mut gate = Gate::new(ingest.per_agent_rate, ingest.per_agent_burst);
    let mut sequence = Sequence::after(last_applied);
    // Hello is not sequenced: spooled messages older than the session are replayed after it.
    state
        .seen(Seen::new(&agent.id, host_id, 0, rollcall_proto::now_ms()))
        .await;
    send(
        outbound,
        Reply::Ack(Ack {
            seq: last_applied.max(0) as u64,
        }),
    )
    .await?;
    // A reader task takes messages off the stream as they arrive and counts
    // the host as heard at once: a slow store apply must not make a live
    // host look silent (a false host-down under load).
    // The queue holds READ_AHEAD decoded messages (~1 KiB each, even a
    // heartbeat); past it the reader waits and further messages stay in
    // HTTP/2 and TCP as a few dozen encoded bytes each, so an overloaded
    // collector does not hold thousands of decoded messages per session.
    let (queue, mut queued) = mpsc::channel::<Queued>(READ_AHEAD);
    let reader = AbortOnDrop(state.sessions.spawn(read_messages(
        inbound,
        queue,
        state.clone(),
        host_id.to_string(),
    )));
    loop {
        let item = tokio::select! {
            // Revocation first: once signalled, nothing more is applied.
            biased;
            _ = revoked.cancelled() => {
                tracing::warn!(agent_id = %agent.id, "agent revoked; ending its session");
                let reason = "this agent was revoked by an operator; re-enroll it to report again";
                let _ = send(outbound, Reply::Revoked(Revoked { reason: reason.into() })).await;
                return Ok(());
            }
            item = queued.recv() => item,
            _ = state.shutdown.cancelled() => {
                return Err(SessionError::Unavailable("collector is shutting down".into()));
            }
        };
        let Some(message) = item.transpose()?.flatten() else {
            drop(reader);
            return Ok(());
        };
        if let Admission::Wait { notify } = gate.admit(&state.global_limiter) {
            if notify {
                send(
                    outbound,
                    Reply::Throttle(Throttle {
                        delay_ms: THROTTLE_DELAY_MS,
                        reason: "message rate limit reached".into(),
                    }),
                )
                .await?;
            }
            gate.ready(&state.global_limiter).await;
            if revoked.is_cancelled() {
                continue;
            }
        }
        let now = rollcall_proto::now_ms();
        let classified = sequence.classify(message.seq)?;
        validate::check_timestamp("sent_at_ms", message.sent_at_ms, now)?;
        let seq = match classified {
            Sequenced::Replayed { ack } => {
                // Replayed from the agent's spool and already applied: acknowledge again.
                send(outbound, Reply::Ack(Ack { seq: ack as u64 })).await?;
                continue;
            }
            Sequenced::Apply { seq, missed } => {
                count_gap(&state.metrics, &agent.id, seq, missed);
                seq
            }
        };
        let context = ApplyContext {
            agent_id: agent.id.clone(),
            host_id: host_id.to_string(),
            seq,
            at: now,
        };
        dispatch(state, agent, &context, message.body).await?;
        sequence.applied(seq);
        send(outbound, Reply::Ack(Ack { seq: seq as u64 })).await?;
    }
}

/// Validates one sequenced message body (refusing it whole, before
/// anything of it is stored) and applies it.
async fn dispatch(
    state: &State,
    agent: &Agent,
    context: &ApplyContext,
    body: Option<Body>,
) -> Result<(), SessionError> {
    let (host_id, seq, now) = (context.host_id.as_str(), context.seq, context.at);
    match body {
        Some(Body::Heartbeat(_)) | None => {
            state.metrics.heartbeats.fetch_add(1, Ordering::Relaxed);
            state.seen(Seen::new(&agent.id, host_id, seq, now)).await;
        }
        Some(Body::Snapshot(snapshot)) => {
            let inventory = snapshot.inventory.unwrap_or_default();
            let change = validate::snapshot_change(&inventory, now)?;
            apply_inventory(state, context, change, &state.metrics.snapshots).await?;
        }
        Some(Body::Delta(delta)) => {
            let change = validate::delta_change(&delta, now)?;
            apply_inventory(state, context, change, &state.metrics.deltas).await?;
        }
        Some(Body::Health(mut report)) => {
            // 0 means "not given": the sample is as old as its arrival.
            if report.sampled_at_ms == 0 {
                report.sampled_at_ms = now;
            }
            let data = validate::health(&report, now)?;
            let stored = state
                .store
                .record_health(context, report.sampled_at_ms, &data)
                .await?;
            if stored {
                state.metrics.health.fetch_add(1, Ordering::Relaxed);
                let rules = &state.config.availability.rules;
                if let Err(error) = state
                    .engine
                    .evaluate_health(host_id, &agent.hostname, &report, rules, now)
                    .await
                {
                    tracing::error!(error = %error, "cannot evaluate health rules");
                }
            }
        }
        Some(Body::Checks(results)) => {
            validate::checks(&results.results, now)?;
            state.metrics.checks.fetch_add(1, Ordering::Relaxed);
            state.seen(Seen::new(&agent.id, host_id, seq, now)).await;
            if let Err(error) = state
                .engine
                .evaluate_checks(host_id, &agent.hostname, &results.results, now)
                .await
            {
                tracing::error!(error = %error, "cannot evaluate check results");
            }
        }
        Some(Body::Goodbye(goodbye)) => {
            validate::goodbye(&goodbye)?;
            state.seen(Seen::new(&agent.id, host_id, seq, now)).await;
            tracing::info!(agent_id = %agent.id, reason = %goodbye.reason, back_within_s = goodbye.back_within_s, "agent said goodbye");
            let back_within_ms =
                i64::try_from(goodbye.back_within_s.min(366 * 86_400)).unwrap_or(0) * 1000;
            state
                .monitor
                .goodbye(host_id, &goodbye.reason, back_within_ms, now);
        }
        Some(Body::Hello(_)) => {
            return Err(SessionError::Protocol(
                "Hello may only be the first message of a session".into(),
            ));
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
    let outcome = state.store.apply_inventory(context, change).await?;
    state.metrics.applied(started.elapsed());
    counter.fetch_add(1, Ordering::Relaxed);
    tracing::debug!(agent_id = %context.agent_id, ?outcome, "inventory applied");
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn duplicate_and_replayed_numbers_are_acknowledged_again() {
        let mut sequence = Sequence::after(0);
        assert_eq!(
            sequence.classify(1).unwrap(),
            Sequenced::Apply { seq: 1, missed: 0 }
        );
        sequence.applied(1);
        // The same number twice: already applied.
        assert_eq!(
            sequence.classify(1).unwrap(),
            Sequenced::Replayed { ack: 1 }
        );
        sequence.applied(2);
        sequence.applied(3);
        // A replay from the spool of an older number repeats the newest ack.
        assert_eq!(
            sequence.classify(2).unwrap(),
            Sequenced::Replayed { ack: 3 }
        );
        assert_eq!(
            sequence.classify(0).unwrap(),
            Sequenced::Replayed { ack: 3 }
        );
        // Applying an older number never moves the last applied one back.
        sequence.applied(2);
        assert_eq!(sequence.last_applied(), 3);
    }

    #[test]
    fn a_gap_is_applied_and_counted() {
        let sequence = Sequence::after(10);
        assert_eq!(
            sequence.classify(11).unwrap(),
            Sequenced::Apply { seq: 11, missed: 0 }
        );
        assert_eq!(
            sequence.classify(15).unwrap(),
            Sequenced::Apply { seq: 15, missed: 4 }
        );
        let resumed = Sequence::after(i64::MAX - 2);
        assert_eq!(
            resumed.classify(MAX_SEQ).unwrap(),
            Sequenced::Apply {
                seq: i64::MAX - 1,
                missed: 0
            }
        );
        // The largest gap accepted, and one more.
        assert_eq!(
            sequence.classify(10 + MAX_SEQ_JUMP).unwrap(),
            Sequenced::Apply {
                seq: 10 + MAX_SEQ_JUMP as i64,
                missed: MAX_SEQ_JUMP - 1
            }
        );
        assert!(sequence.classify(11 + MAX_SEQ_JUMP).is_err());
    }

    #[test]
    fn a_number_far_ahead_is_refused_and_the_next_correct_one_applies() {
        let mut sequence = Sequence::after(36);
        for far in [i64::MAX as u64, 36 + MAX_SEQ_JUMP + 1, u64::MAX / 2] {
            let error = sequence.classify(far).unwrap_err();
            assert!(
                matches!(error, SessionError::Rejected(Error::InvalidInput(_))),
                "{error}"
            );
            assert!(error.to_string().contains("sequence number"), "{error}");
        }
        // Nothing was applied by the refusals: the next number still applies.
        assert_eq!(sequence.last_applied(), 36);
        assert_eq!(
            sequence.classify(37).unwrap(),
            Sequenced::Apply { seq: 37, missed: 0 }
        );
        sequence.applied(37);
        assert_eq!(sequence.last_applied(), 37);
    }

    #[test]
    fn gaps_are_counted_in_the_metrics() {
        let metrics = crate::metrics::Metrics::default();
        let sequence = Sequence::after(10);
        for seq in [11, 15, 16] {
            if let Sequenced::Apply { seq, missed } = sequence.classify(seq).unwrap() {
                count_gap(&metrics, "agent-1", seq, missed);
            }
        }
        assert_eq!(metrics.sequence_gaps.load(Ordering::Relaxed), 2);
        assert_eq!(metrics.sequence_missed.load(Ordering::Relaxed), 4 + 5);
    }

    #[test]
    fn a_number_beyond_the_signed_range_is_refused() {
        let sequence = Sequence::after(0);
        let error = sequence.classify(u64::MAX).unwrap_err();
        assert!(error.is_rejection());
        assert!(
            error.to_string().contains("sequence number out of range"),
            "{error}"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_burst_passes_then_the_agent_is_throttled_once_and_waits() {
        let global = Limiter::new(1_000, 1_000);
        let mut gate = Gate::new(5, 3);
        for _ in 0..3 {
            assert_eq!(gate.admit(&global), Admission::Now);
        }
        // Over the burst: the first refusal tells the agent, later ones do not.
        assert_eq!(gate.admit(&global), Admission::Wait { notify: true });
        assert_eq!(gate.admit(&global), Admission::Wait { notify: false });
        let started = tokio::time::Instant::now();
        gate.ready(&global).await;
        let waited = started.elapsed();
        assert!(
            waited >= Duration::from_millis(200) && waited <= Duration::from_millis(600),
            "waited {waited:?} at 5 messages a second"
        );
        // Once the limit has refilled, messages go through and the next
        // refusal notifies again.
        tokio::time::advance(Duration::from_secs(1)).await;
        assert_eq!(gate.admit(&global), Admission::Now);
        assert_eq!(gate.admit(&global), Admission::Now);
        assert_eq!(gate.admit(&global), Admission::Now);
        assert_eq!(gate.admit(&global), Admission::Wait { notify: true });
    }

    #[tokio::test(start_paused = true)]
    async fn the_global_limit_holds_back_an_agent_within_its_own() {
        let global = Limiter::new(1, 2);
        let mut first = Gate::new(100, 100);
        let mut second = Gate::new(100, 100);
        assert_eq!(first.admit(&global), Admission::Now);
        assert_eq!(second.admit(&global), Admission::Now);
        assert_eq!(second.admit(&global), Admission::Wait { notify: true });
        let started = tokio::time::Instant::now();
        second.ready(&global).await;
        assert!(started.elapsed() >= Duration::from_millis(900));
    }
}
