//! One agent session after its certificate was checked: Hello and Welcome,
//! the digest check, then every message in order — sequence numbers
//! (replays acknowledged again, gaps noted), the per-agent and global rate
//! limits, and dispatch to the store, the presence monitor and the incident
//! engine. No tonic types: `grpc` adapts the stream to `Inbound` and maps
//! `SessionError` to a status, so this runs (and is tested) without a socket.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use rollcall_proto::inventory;
use rollcall_proto::v1::agent_message::Body;
use rollcall_proto::v1::collector_message::Body as Reply;
use rollcall_proto::v1::{
    Ack, AgentMessage, CollectorMessage, Hello, Refused, RequestFullInventory, Revoked, Throttle,
    Welcome,
};
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tokio_util::sync::CancellationToken;

use super::dispatch;
use super::reader::{self, Queued, READ_AHEAD, Read};
use super::resync::{mismatched_sections, rebuild_inventory};
use super::validate;
use crate::error::Error;
use crate::rate::Limiter;
use crate::state::State;
use crate::store::{Agent, ApplyContext, Seen};

/// How long an agent has to send `Hello` after opening a session.
pub const HELLO_TIMEOUT: Duration = Duration::from_secs(30);

/// Replies a session queues before the transport takes them: one block of
/// a tokio channel (it allocates slots 32 at a time). When the agent does not
/// read its replies, the apply loop waits here, and so does the reader behind it.
const OUTBOUND_QUEUE: usize = 32;

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

pub use super::stream::{Inbound, Outbound, SessionError};

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
            if error.is_rejection() {
                tracing::warn!(agent_id = %agent_id, error = %error, "session ended with an error");
                state.metrics.rejected.fetch_add(1, Ordering::Relaxed);
            } else {
                // An agent that vanished (killed, rebooted, its route lost)
                // or a shutdown: routine for a fleet, not worth a warning
                // per host (1,000 agents leaving at once logged 1,000).
                tracing::info!(agent_id = %agent_id, error = %error, "session ended");
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
    // Heard as soon as its Hello is in, before any store work: a busy store
    // must not make a reconnecting host look silent.
    if let Some(known) = &agent.host_id {
        state.monitor.heard(known, rollcall_proto::now_ms());
    }
    let Some((host_id, last_applied)) = patiently(state, registration.token(), || {
        welcome(state, &agent, &hello, outbound)
    })
    .await?
    else {
        return Err(Error::PermissionDenied(format!(
            "agent {} has been revoked; re-enroll it to reconnect",
            agent.id
        ))
        .into());
    };
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
    if !hello.agent_version.is_empty()
        && stored
            .as_ref()
            .is_some_and(|a| a.version != hello.agent_version)
    {
        state
            .store
            .set_agent_version(&agent.id, &hello.agent_version)
            .await?;
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
    // host look silent (a false host-down under load). See `reader` for what
    // it holds and when it leaves messages to HTTP/2 flow control.
    let (queue, mut queued) = mpsc::channel::<Queued>(READ_AHEAD);
    let heard = {
        let (state, host_id) = (state.clone(), host_id.to_string());
        move || state.monitor.heard(&host_id, rollcall_proto::now_ms())
    };
    let reader = AbortOnDrop(
        state
            .sessions
            .spawn(reader::read_messages(inbound, queue, heard)),
    );
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
        let Some(Read { message, folded }) = item.transpose()?.flatten().map(|read| *read) else {
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
        let seq = match classified {
            Sequenced::Replayed { ack } => {
                // Replayed from the agent's spool and already applied: acknowledge again.
                send(outbound, Reply::Ack(Ack { seq: ack as u64 })).await?;
                continue;
            }
            Sequenced::Apply { seq, missed } => {
                // Heartbeats folded into this one had numbers below it: not a gap.
                count_gap(
                    &state.metrics,
                    &agent.id,
                    seq,
                    missed.saturating_sub(folded),
                );
                seq
            }
        };
        let context = ApplyContext {
            agent_id: agent.id.clone(),
            host_id: host_id.to_string(),
            seq,
            at: now,
        };
        let handled = patiently(state, revoked, || {
            handle(state, agent, &context, &message, outbound)
        })
        .await?;
        if handled.is_none() {
            // Revoked while the store was busy: the loop's top says so.
            continue;
        }
        if folded > 0 {
            // Heard as they arrived (`reader`), acknowledged with this one.
            state
                .metrics
                .heartbeats
                .fetch_add(folded, Ordering::Relaxed);
            state
                .metrics
                .heartbeats_folded
                .fetch_add(folded, Ordering::Relaxed);
        }
        sequence.applied(seq);
        send(outbound, Reply::Ack(Ack { seq: seq as u64 })).await?;
    }
}

/// First and longest pause between tries of a write the store answered `Busy`.
const BUSY_WAIT: (Duration, Duration) = (Duration::from_millis(50), Duration::from_secs(2));

/// Runs `attempt` until the store does not answer it `Busy`, pausing between
/// tries (back-pressure: a slow store slows the session down and never ends
/// it); `None` if `stop` fires first. A shutdown ends the wait with
/// `Unavailable`.
async fn patiently<T, F, Fut>(
    state: &State,
    stop: &CancellationToken,
    mut attempt: F,
) -> Result<Option<T>, SessionError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, SessionError>>,
{
    let mut wait = BUSY_WAIT.0;
    loop {
        match attempt().await {
            Err(SessionError::Rejected(Error::Busy(reason))) => {
                state.metrics.store_busy.fetch_add(1, Ordering::Relaxed);
                tracing::debug!(reason = %reason, wait_ms = wait.as_millis() as u64, "store busy; waiting to try again");
                tokio::select! {
                    biased;
                    () = stop.cancelled() => return Ok(None),
                    () = state.shutdown.cancelled() => {
                        return Err(SessionError::Unavailable("collector is shutting down".into()));
                    }
                    () = tokio::time::sleep(wait) => {}
                }
                wait = (wait * 2).min(BUSY_WAIT.1);
            }
            other => return other.map(Some),
        }
    }
}

/// Validates and applies one sequenced message, or refuses it.
async fn handle(
    state: &State,
    agent: &Agent,
    context: &ApplyContext,
    message: &AgentMessage,
    outbound: &Outbound,
) -> Result<(), SessionError> {
    let checked = validate::check_timestamp("sent_at_ms", message.sent_at_ms, context.at)
        .map_err(SessionError::from)
        .and_then(|()| dispatch::check(&message.body, context.at));
    match checked {
        Ok(checked) => dispatch::apply(state, agent, context, checked).await,
        Err(error) => match dispatch::is_refusal(&error) {
            Some(reason) => refuse(state, agent, context, reason, outbound).await,
            None => Err(error),
        },
    }
}

/// Refuses message `context.seq` of `agent`: counted, logged, told to the
/// agent (`Refused`), and recorded as handled like an applied message so the
/// agent's spool lets it go (the caller acknowledges it). Nothing of it is
/// stored; the session goes on. Ending the session instead would wedge the
/// agent, which resends its spool on every reconnect.
async fn refuse(
    state: &State,
    agent: &Agent,
    context: &ApplyContext,
    reason: &str,
    outbound: &Outbound,
) -> Result<(), SessionError> {
    state.metrics.refused.fetch_add(1, Ordering::Relaxed);
    tracing::warn!(agent_id = %agent.id, seq = context.seq, reason = %reason, "message refused");
    state
        .seen(Seen::new(
            &agent.id,
            &context.host_id,
            context.seq,
            context.at,
        ))
        .await;
    send(
        outbound,
        Reply::Refused(Refused {
            seq: context.seq as u64,
            reason: reason.to_string(),
        }),
    )
    .await
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    /// The size of the future `f` returns for a session, without running it.
    fn session_future_bytes<'a, I, F, Fut>(_: F) -> usize
    where
        F: FnOnce(&'a Arc<State>, Agent, I, &'a Outbound) -> Fut,
    {
        std::mem::size_of::<Fut>()
    }

    struct Silent;

    impl Inbound for Silent {
        async fn next(&mut self) -> Result<Option<AgentMessage>, SessionError> {
            Ok(None)
        }
    }

    #[test]
    fn a_session_task_stays_small() {
        // Every session's task holds this future for its whole life, so
        // its size is paid per session (≤ 100 KiB in all, DESIGN §9). The
        // incident engine's futures (several KiB each) are boxed where a
        // health report or check result is dispatched; inline, this was
        // 6,368 bytes in a debug build instead of 2,680.
        let bytes = session_future_bytes::<Silent, _, _>(run);
        assert!(bytes <= 4096, "a session's future is {bytes} bytes");
    }

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
