//! A session's reader: takes messages off the stream as they arrive, marks
//! the host heard at once, and queues them for the apply loop. A slow store
//! holds the apply loop up; it must neither make a live host look silent nor
//! hold an unbounded number of messages per session, so:
//!
//! - up to [`READ_AHEAD`] messages wait decoded in the queue;
//! - past it, messages are held by the reader, each marking the host heard
//!   as it arrives: a heartbeat that follows a held heartbeat is folded into
//!   it (only the newest one matters for liveness; the folded ones are
//!   counted, and the newest one's acknowledgement covers them), so a run of
//!   heartbeats costs one entry whatever its length; up to
//!   [`HELD_HEARTBEAT_RUNS`] such runs holding [`HELD_HEARTBEATS`]
//!   heartbeats between them, and [`HELD_OTHERS`] other messages, are held;
//! - a message that cannot be held makes the reader wait: further messages
//!   stay in HTTP/2 (at most the stream window, `grpc::STREAM_WINDOW`) and
//!   TCP, and flow control slows the agent down (which spools them).
//!
//! Order is kept: the queue, then what is held, then what is read next. A
//! heartbeat is folded only into an older heartbeat (a smaller sequence
//! number) whose send time was plausible, so nothing that the apply loop
//! would have refused or acknowledged differently is folded away.

use std::collections::VecDeque;

use rollcall_proto::v1::agent_message::Body;
use rollcall_proto::v1::{AgentMessage, Heartbeat};
use tokio::sync::mpsc;

use super::stream::{Inbound, SessionError};
use super::validate;

/// Messages the reader queues decoded ahead of the apply loop: 5 minutes of
/// heartbeats at the default 10 s interval, 32 s at 1 s.
pub const READ_AHEAD: usize = 32;

/// Heartbeats held once the queue is full, folded ones included: 2.8 h of
/// heartbeats at the default interval, 17 minutes at 1 s. Folding makes
/// them cost one entry a run, but past this many the reader still stops, so
/// that an agent flooding heartbeats is slowed down by HTTP/2 flow control
/// (and the rate limits of the apply loop) rather than read without end.
pub const HELD_HEARTBEATS: u64 = 1024;

/// Other messages held whole once the queue is full: 8 minutes of health
/// samples at the default interval.
pub const HELD_OTHERS: usize = 8;

/// Runs of heartbeats held once the queue is full, each folded into its
/// newest heartbeat: one before, between and after the held others. (A run
/// ends at any other message, or at a heartbeat whose number is not above
/// the run's, which starts a run of its own.)
pub const HELD_HEARTBEAT_RUNS: usize = HELD_OTHERS + 1;

/// A message read off the stream, and the heartbeats folded into it.
#[derive(Debug, Clone, PartialEq)]
pub struct Read {
    /// The message (for a folded run of heartbeats, the newest one).
    pub message: AgentMessage,
    /// Earlier heartbeats of this session that this heartbeat replaced while
    /// the apply loop was behind: each arrived and marked the host heard, and
    /// their numbers are below this one's, so its acknowledgement covers
    /// them. 0 for anything but a heartbeat.
    pub folded: u64,
}

impl Read {
    /// A message with nothing folded into it.
    pub fn new(message: AgentMessage) -> Self {
        Self { message, folded: 0 }
    }
}

/// What the reader queues: the next message, boxed. A tokio channel
/// allocates its slots 32 at a time, for every session whether anything is
/// queued or not; boxed, a slot is the size of a `SessionError` (32 bytes),
/// inline it would be 64 (a `Read` is 56 bytes, the `AgentMessage` in it 48
/// since its large variants are boxed: `proto/build.rs`,
/// `proto/tests/sizes.rs`). An idle session queues nothing, so the box (one
/// 64-byte allocation per queued message) costs less than the wider slots.
pub type Queued = Result<Option<Box<Read>>, SessionError>;

/// A held heartbeat: the newest of its run, and how many it replaced.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct HeldHeartbeat {
    seq: u64,
    sent_at_ms: i64,
    agent_uptime_s: u64,
    folded: u64,
}

/// A message held while the queue is full.
#[derive(Debug)]
enum Held {
    /// A run of heartbeats, folded into its newest.
    Heartbeat(HeldHeartbeat),
    /// Anything else.
    Whole(AgentMessage),
}

impl Held {
    fn read(self) -> Read {
        match self {
            Held::Heartbeat(heartbeat) => Read {
                message: AgentMessage {
                    seq: heartbeat.seq,
                    sent_at_ms: heartbeat.sent_at_ms,
                    body: Some(Body::Heartbeat(Heartbeat {
                        agent_uptime_s: heartbeat.agent_uptime_s,
                    })),
                },
                folded: heartbeat.folded,
            },
            Held::Whole(message) => Read::new(message),
        }
    }
}

/// The messages held, in order, and how many of each kind.
#[derive(Debug, Default)]
struct Holding {
    held: VecDeque<Held>,
    runs: usize,
    others: usize,
    /// Heartbeats the runs stand for, folded ones included.
    heartbeats: u64,
}

impl Holding {
    /// Holds `message`, which arrived at `now_ms`, if there is room for it
    /// (folding a heartbeat into the held heartbeat before it when it may);
    /// gives it back if not.
    fn hold(&mut self, message: AgentMessage, now_ms: i64) -> Option<AgentMessage> {
        let heartbeat = match &message.body {
            // A heartbeat the apply loop would refuse (an implausible send
            // time) is held whole, so that its refusal is still sent.
            Some(Body::Heartbeat(_)) if self.heartbeats >= HELD_HEARTBEATS => {
                return Some(message);
            }
            Some(Body::Heartbeat(heartbeat))
                if validate::check_timestamp("sent_at_ms", message.sent_at_ms, now_ms).is_ok() =>
            {
                HeldHeartbeat {
                    seq: message.seq,
                    sent_at_ms: message.sent_at_ms,
                    agent_uptime_s: heartbeat.agent_uptime_s,
                    folded: 0,
                }
            }
            _ if self.others < HELD_OTHERS => {
                self.others += 1;
                self.held.push_back(Held::Whole(message));
                return None;
            }
            _ => return Some(message),
        };
        if let Some(Held::Heartbeat(run)) = self.held.back_mut()
            && run.seq < heartbeat.seq
        {
            *run = HeldHeartbeat {
                folded: run.folded + 1,
                ..heartbeat
            };
            self.heartbeats += 1;
            return None;
        }
        if self.runs < HELD_HEARTBEAT_RUNS {
            self.runs += 1;
            self.heartbeats += 1;
            self.held.push_back(Held::Heartbeat(heartbeat));
            return None;
        }
        Some(message)
    }

    fn pop(&mut self) -> Option<Read> {
        let held = self.held.pop_front()?;
        match held {
            Held::Heartbeat(run) => {
                self.runs -= 1;
                self.heartbeats -= 1 + run.folded;
            }
            Held::Whole(_) => self.others -= 1,
        }
        Some(held.read())
    }

    fn is_empty(&self) -> bool {
        self.held.is_empty()
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.held.len()
    }
}

/// Moves held messages into free queue slots, in order, without waiting;
/// false if the apply loop is gone.
fn drain_ready(holding: &mut Holding, queue: &mpsc::Sender<Queued>) -> bool {
    while !holding.is_empty() {
        match queue.try_reserve() {
            Ok(permit) => {
                if let Some(read) = holding.pop() {
                    permit.send(Ok(Some(Box::new(read))));
                }
            }
            Err(mpsc::error::TrySendError::Full(())) => return true,
            Err(mpsc::error::TrySendError::Closed(())) => return false,
        }
    }
    true
}

/// Moves every held message into the queue, waiting for room; false if the
/// apply loop is gone.
async fn drain_all(holding: &mut Holding, queue: &mpsc::Sender<Queued>) -> bool {
    while let Some(read) = holding.pop() {
        if queue.send(Ok(Some(Box::new(read)))).await.is_err() {
            return false;
        }
    }
    true
}

/// Reads the session's messages into `queue` until the stream ends, fails,
/// or the apply loop goes away, calling `heard` as each message arrives.
pub async fn read_messages(
    mut inbound: impl Inbound,
    queue: mpsc::Sender<Queued>,
    heard: impl Fn() + Send + 'static,
) {
    let mut holding = Holding::default();
    loop {
        if !drain_ready(&mut holding, &queue) {
            return;
        }
        // Not raced against a free queue slot: what is held moves on at the
        // next message (one interval at most).
        let message = match inbound.next().await {
            Ok(Some(message)) => message,
            end => {
                // The end (or an error) comes after everything read before it.
                if drain_all(&mut holding, &queue).await {
                    let _ = queue
                        .send(end.map(|next| next.map(|message| Box::new(Read::new(message)))))
                        .await;
                }
                return;
            }
        };
        heard();
        if holding.is_empty() {
            match queue.try_reserve() {
                Ok(permit) => {
                    permit.send(Ok(Some(Box::new(Read::new(message)))));
                    continue;
                }
                Err(mpsc::error::TrySendError::Closed(())) => return,
                Err(mpsc::error::TrySendError::Full(())) => {}
            }
        }
        if let Some(unheld) = holding.hold(message, rollcall_proto::now_ms()) {
            // No room to hold it: it waits for its turn, and nothing more is
            // read meanwhile (HTTP/2 flow control takes over).
            if !drain_all(&mut holding, &queue).await
                || queue
                    .send(Ok(Some(Box::new(Read::new(unheld)))))
                    .await
                    .is_err()
            {
                return;
            }
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use rollcall_proto::v1::HealthReport;

    use super::*;

    struct Channel(mpsc::UnboundedReceiver<AgentMessage>);

    impl Inbound for Channel {
        async fn next(&mut self) -> Result<Option<AgentMessage>, SessionError> {
            Ok(self.0.recv().await)
        }
    }

    const NOW_MS: i64 = 1_800_000_000_000;

    fn heartbeat(seq: u64) -> AgentMessage {
        AgentMessage {
            seq,
            sent_at_ms: 1_000 + seq as i64,
            body: Some(Body::Heartbeat(Heartbeat {
                agent_uptime_s: seq * 10,
            })),
        }
    }

    fn health(seq: u64) -> AgentMessage {
        AgentMessage {
            seq,
            sent_at_ms: 2_000,
            body: Some(Body::Health(Box::<HealthReport>::default())),
        }
    }

    fn drained(holding: &mut Holding) -> Vec<(u64, u64)> {
        std::iter::from_fn(|| holding.pop())
            .map(|read| (read.message.seq, read.folded))
            .collect()
    }

    #[test]
    fn a_boxed_queue_slot_is_narrower_than_an_inline_one() {
        // Every session allocates 32 slots up front (tokio's block).
        let boxed = std::mem::size_of::<Queued>();
        let inline = std::mem::size_of::<Result<Option<Read>, SessionError>>();
        println!("queue slot: {boxed} bytes boxed, {inline} inline");
        assert!(boxed <= 40 && boxed + 16 <= inline, "{boxed} / {inline}");
    }

    #[test]
    fn a_run_of_heartbeats_folds_into_the_newest_and_counts_what_it_folded() {
        let mut holding = Holding::default();
        for seq in 1..=HELD_HEARTBEATS {
            assert!(holding.hold(heartbeat(seq), NOW_MS).is_none());
        }
        assert_eq!(holding.len(), 1, "one entry for the whole run");
        // Past HELD_HEARTBEATS even a foldable heartbeat is given back (the
        // reader then waits: flow control slows a flooding agent down).
        let over = heartbeat(HELD_HEARTBEATS + 1);
        assert_eq!(holding.hold(over.clone(), NOW_MS), Some(over));
        let read = holding.pop().unwrap();
        // The newest heartbeat, whole, and the ones before it counted.
        assert_eq!(read.message, heartbeat(HELD_HEARTBEATS));
        assert_eq!(read.folded, HELD_HEARTBEATS - 1);
        assert!(holding.pop().is_none());
        assert_eq!(
            (holding.runs, holding.others, holding.heartbeats),
            (0, 0, 0)
        );
    }

    #[test]
    fn folding_keeps_the_order_around_other_messages() {
        let mut holding = Holding::default();
        for message in [heartbeat(1), heartbeat(2), health(3), heartbeat(4)] {
            assert!(holding.hold(message, NOW_MS).is_none());
        }
        for seq in 5..=9 {
            assert!(holding.hold(heartbeat(seq), NOW_MS).is_none());
        }
        // A heartbeat never folds across another message: 3 stays between
        // the runs it separates.
        assert_eq!(drained(&mut holding), vec![(2, 1), (3, 0), (9, 5)]);
    }

    #[test]
    fn a_heartbeat_that_is_not_newer_or_not_plausible_is_not_folded() {
        let mut holding = Holding::default();
        assert!(holding.hold(heartbeat(7), NOW_MS).is_none());
        // A replayed (older) number starts a run of its own, so the apply
        // loop still acknowledges it as a replay.
        assert!(holding.hold(heartbeat(5), NOW_MS).is_none());
        // A send time the apply loop refuses: held whole, so it is refused.
        let mut skewed = heartbeat(8);
        skewed.sent_at_ms = -1;
        assert!(holding.hold(skewed.clone(), NOW_MS).is_none());
        assert!(holding.hold(heartbeat(9), NOW_MS).is_none());
        assert!(holding.hold(heartbeat(10), NOW_MS).is_none());
        let reads: Vec<Read> = std::iter::from_fn(|| holding.pop()).collect();
        let seqs: Vec<(u64, u64)> = reads.iter().map(|r| (r.message.seq, r.folded)).collect();
        assert_eq!(seqs, vec![(7, 0), (5, 0), (8, 0), (10, 1)]);
        assert_eq!(reads[2].message, skewed);
    }

    #[test]
    fn the_hold_is_bounded_by_runs_and_others() {
        let mut holding = Holding::default();
        // Alternating messages: every heartbeat starts a run.
        let mut seq = 0;
        let mut next = || {
            seq += 1;
            seq
        };
        for _ in 0..HELD_OTHERS {
            assert!(holding.hold(heartbeat(next()), NOW_MS).is_none());
            assert!(holding.hold(health(next()), NOW_MS).is_none());
        }
        assert!(holding.hold(heartbeat(next()), NOW_MS).is_none());
        assert_eq!(holding.len(), HELD_OTHERS + HELD_HEARTBEAT_RUNS);
        // No room for another message whole; heartbeats still fold into the
        // last run.
        let other = health(next());
        assert_eq!(holding.hold(other.clone(), NOW_MS), Some(other));
        assert!(holding.hold(heartbeat(next()), NOW_MS).is_none());
        assert_eq!(holding.len(), HELD_OTHERS + HELD_HEARTBEAT_RUNS);
        // A heartbeat that cannot fold and finds no free run is given back.
        let replay = heartbeat(1);
        assert_eq!(holding.hold(replay.clone(), NOW_MS), Some(replay));
    }

    #[tokio::test]
    async fn a_stalled_apply_loop_still_hears_every_heartbeat_and_loses_no_order() {
        let (agent, stream) = mpsc::unbounded_channel();
        for seq in 1..=10 {
            agent.send(heartbeat(seq)).unwrap();
        }
        agent.send(health(11)).unwrap();
        for seq in 12..=16 {
            agent.send(heartbeat(seq)).unwrap();
        }
        drop(agent);
        let heard = Arc::new(AtomicUsize::new(0));
        let counter = heard.clone();
        // Two decoded slots, and nobody applying yet.
        let (queue, mut queued) = mpsc::channel(2);
        let reader = tokio::spawn(read_messages(Channel(stream), queue, move || {
            counter.fetch_add(1, Ordering::SeqCst);
        }));
        // Everything is heard before anything is applied: 2 queued, the
        // rest held (heartbeats folded, the health report whole).
        for _ in 0..1_000 {
            tokio::task::yield_now().await;
        }
        assert_eq!(heard.load(Ordering::SeqCst), 16);
        let mut reads = Vec::new();
        while let Some(item) = queued.recv().await {
            match item.unwrap() {
                Some(read) => reads.push(read),
                None => break,
            }
        }
        reader.await.unwrap();
        let seqs: Vec<(u64, u64)> = reads.iter().map(|r| (r.message.seq, r.folded)).collect();
        // 1 and 2 queued; 3..=10 folded into 10; 11 whole; 12..=16 into 16.
        assert_eq!(seqs, vec![(1, 0), (2, 0), (10, 7), (11, 0), (16, 4)]);
        // In order, and every number is applied or folded below an applied one.
        let covered: u64 = reads.iter().map(|r| 1 + r.folded).sum();
        assert_eq!(covered, 16);
        assert_eq!(reads[2].message, heartbeat(10));
        assert!(matches!(reads[3].message.body, Some(Body::Health(_))));
    }

    #[tokio::test]
    async fn a_full_hold_of_others_stops_the_reader() {
        let (agent, stream) = mpsc::unbounded_channel();
        // 1 queued, then 1,000 heartbeats folded into one held entry, then
        // other messages: HELD_OTHERS held, one read that waits for room,
        // and nothing more is read.
        agent.send(heartbeat(1)).unwrap();
        for seq in 2..=1_001 {
            agent.send(heartbeat(seq)).unwrap();
        }
        let others = HELD_OTHERS as u64 + 20;
        for seq in 1_002..1_002 + others {
            agent.send(health(seq)).unwrap();
        }
        drop(agent);
        let heard = Arc::new(AtomicUsize::new(0));
        let counter = heard.clone();
        let (queue, mut queued) = mpsc::channel(1);
        let reader = tokio::spawn(read_messages(Channel(stream), queue, move || {
            counter.fetch_add(1, Ordering::SeqCst);
        }));
        for _ in 0..20_000 {
            tokio::task::yield_now().await;
        }
        assert_eq!(heard.load(Ordering::SeqCst), 1_001 + HELD_OTHERS + 1);
        let mut reads = Vec::new();
        while let Some(Ok(Some(read))) = queued.recv().await {
            reads.push((read.message.seq, read.folded));
        }
        reader.await.unwrap();
        assert_eq!(reads[0], (1, 0));
        assert_eq!(reads[1], (1_001, 999));
        let rest: Vec<u64> = reads[2..].iter().map(|(seq, _)| *seq).collect();
        assert_eq!(rest, (1_002..1_002 + others).collect::<Vec<_>>());
        assert_eq!(heard.load(Ordering::SeqCst) as u64, 1_001 + others);
    }

    #[tokio::test]
    async fn a_heartbeat_flood_stops_the_reader_once_held_heartbeats_are_full() {
        let (agent, stream) = mpsc::unbounded_channel();
        let total = 1 + HELD_HEARTBEATS + 5_000;
        for seq in 1..=total {
            agent.send(heartbeat(seq)).unwrap();
        }
        drop(agent);
        let heard = Arc::new(AtomicUsize::new(0));
        let counter = heard.clone();
        let (queue, mut queued) = mpsc::channel(1);
        let reader = tokio::spawn(read_messages(Channel(stream), queue, move || {
            counter.fetch_add(1, Ordering::SeqCst);
        }));
        for _ in 0..20_000 {
            tokio::task::yield_now().await;
        }
        // One queued, HELD_HEARTBEATS held in one run, one read that waits
        // for room; then nothing more is read.
        assert_eq!(heard.load(Ordering::SeqCst) as u64, 1 + HELD_HEARTBEATS + 1);
        let mut covered = 0;
        let mut last = 0;
        while let Some(Ok(Some(read))) = queued.recv().await {
            assert!(read.message.seq > last, "in order");
            last = read.message.seq;
            covered += 1 + read.folded;
        }
        reader.await.unwrap();
        // Every heartbeat is applied or folded below an applied one.
        assert_eq!((last, covered), (total, total));
        assert_eq!(heard.load(Ordering::SeqCst) as u64, total);
    }
}
