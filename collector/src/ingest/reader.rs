//! A session's reader: takes messages off the stream as they arrive, marks
//! the host heard at once, and queues them for the apply loop. A slow store
//! holds the apply loop up; it must neither make a live host look silent nor
//! hold thousands of decoded messages per session, so:
//!
//! - up to [`READ_AHEAD`] messages wait decoded in the queue;
//! - past it, messages are held by the reader: heartbeats compactly (their
//!   sequence number, send time and uptime, 24 bytes each, up to
//!   [`HELD_HEARTBEATS`]), anything else whole (up to [`HELD_OTHERS`]), and
//!   each still marks the host heard as it arrives;
//! - a message that cannot be held makes the reader wait: further messages
//!   stay in HTTP/2 and TCP, and flow control slows the agent down (which
//!   spools them).
//!
//! Order is kept: the queue, then what is held, then what is read next.

use std::collections::VecDeque;

use rollcall_proto::v1::agent_message::Body;
use rollcall_proto::v1::{AgentMessage, Heartbeat};
use tokio::sync::mpsc;

use super::stream::{Inbound, SessionError};

/// Messages the reader queues decoded ahead of the apply loop: 5 minutes of
/// heartbeats at the default 10 s interval, 32 s at 1 s.
pub const READ_AHEAD: usize = 32;

/// Heartbeats held compactly once the queue is full: 1,024 × 24 bytes, 2.8 h
/// of heartbeats at the default interval, 17 minutes at 1 s.
pub const HELD_HEARTBEATS: usize = 1024;

/// Other messages held whole once the queue is full: 8 minutes of health
/// samples at the default interval.
pub const HELD_OTHERS: usize = 8;

/// What the reader queues: the next message, boxed. A tokio channel
/// allocates its slots 32 at a time whether anything is queued or not; an
/// `AgentMessage` is 48 bytes inline since its large variants are boxed
/// (`proto/build.rs`, `proto/tests/sizes.rs`), and boxed a slot is 16 bytes.
pub type Queued = Result<Option<Box<AgentMessage>>, SessionError>;

/// A message held while the queue is full.
#[derive(Debug)]
enum Held {
    /// A heartbeat: sequence number, send time, uptime.
    Heartbeat(u64, i64, u64),
    /// Anything else.
    Whole(Box<AgentMessage>),
}

impl Held {
    fn message(self) -> Box<AgentMessage> {
        match self {
            Held::Heartbeat(seq, sent_at_ms, agent_uptime_s) => Box::new(AgentMessage {
                seq,
                sent_at_ms,
                body: Some(Body::Heartbeat(Heartbeat { agent_uptime_s })),
            }),
            Held::Whole(message) => message,
        }
    }
}

/// The messages held, in order, and how many of each kind.
#[derive(Debug, Default)]
struct Holding {
    held: VecDeque<Held>,
    heartbeats: usize,
    others: usize,
}

impl Holding {
    /// Holds `message` if there is room for its kind; gives it back if not.
    fn hold(&mut self, message: AgentMessage) -> Option<AgentMessage> {
        match &message.body {
            Some(Body::Heartbeat(heartbeat)) if self.heartbeats < HELD_HEARTBEATS => {
                self.heartbeats += 1;
                self.held.push_back(Held::Heartbeat(
                    message.seq,
                    message.sent_at_ms,
                    heartbeat.agent_uptime_s,
                ));
                None
            }
            Some(Body::Heartbeat(_)) => Some(message),
            _ if self.others < HELD_OTHERS => {
                self.others += 1;
                self.held.push_back(Held::Whole(Box::new(message)));
                None
            }
            _ => Some(message),
        }
    }

    fn pop(&mut self) -> Option<Box<AgentMessage>> {
        let held = self.held.pop_front()?;
        match held {
            Held::Heartbeat(..) => self.heartbeats -= 1,
            Held::Whole(_) => self.others -= 1,
        }
        Some(held.message())
    }

    fn is_empty(&self) -> bool {
        self.held.is_empty()
    }
}

/// Moves held messages into free queue slots, in order, without waiting;
/// false if the apply loop is gone.
fn drain_ready(holding: &mut Holding, queue: &mpsc::Sender<Queued>) -> bool {
    while !holding.is_empty() {
        match queue.try_reserve() {
            Ok(permit) => {
                if let Some(message) = holding.pop() {
                    permit.send(Ok(Some(message)));
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
    while let Some(message) = holding.pop() {
        if queue.send(Ok(Some(message))).await.is_err() {
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
                    let _ = queue.send(end.map(|next| next.map(Box::new))).await;
                }
                return;
            }
        };
        heard();
        if holding.is_empty() {
            match queue.try_reserve() {
                Ok(permit) => {
                    permit.send(Ok(Some(Box::new(message))));
                    continue;
                }
                Err(mpsc::error::TrySendError::Closed(())) => return,
                Err(mpsc::error::TrySendError::Full(())) => {}
            }
        }
        if let Some(unheld) = holding.hold(message) {
            // No room to hold it: it waits for its turn, and nothing more is
            // read meanwhile (HTTP/2 flow control takes over).
            if !drain_all(&mut holding, &queue).await
                || queue.send(Ok(Some(Box::new(unheld)))).await.is_err()
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

    use super::*;

    struct Channel(mpsc::UnboundedReceiver<AgentMessage>);

    impl Inbound for Channel {
        async fn next(&mut self) -> Result<Option<AgentMessage>, SessionError> {
            Ok(self.0.recv().await)
        }
    }

    fn heartbeat(seq: u64) -> AgentMessage {
        AgentMessage {
            seq,
            sent_at_ms: 1_000 + seq as i64,
            body: Some(Body::Heartbeat(Heartbeat {
                agent_uptime_s: seq * 10,
            })),
        }
    }

    #[tokio::test]
    async fn a_stalled_apply_loop_still_hears_every_heartbeat_and_loses_no_order() {
        let (agent, stream) = mpsc::unbounded_channel();
        for seq in 1..=10 {
            agent.send(heartbeat(seq)).unwrap();
        }
        agent
            .send(AgentMessage {
                seq: 11,
                sent_at_ms: 2_000,
                body: Some(Body::Health(Box::default())),
            })
            .unwrap();
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
        // rest held (heartbeats compactly, the health report whole).
        for _ in 0..1_000 {
            tokio::task::yield_now().await;
        }
        assert_eq!(heard.load(Ordering::SeqCst), 16);
        let mut order = Vec::new();
        while let Some(item) = queued.recv().await {
            match item.unwrap() {
                Some(message) => order.push((message.seq, message)),
                None => break,
            }
        }
        reader.await.unwrap();
        assert_eq!(heard.load(Ordering::SeqCst), 16);
        let seqs: Vec<u64> = order.iter().map(|(seq, _)| *seq).collect();
        assert_eq!(seqs, (1..=16).collect::<Vec<_>>(), "in order, none lost");
        // Heartbeats from the overflow come back whole.
        assert_eq!(*order[4].1, heartbeat(5));
        assert!(matches!(order[10].1.body, Some(Body::Health(_))));
    }

    #[tokio::test]
    async fn a_full_hold_stops_reading_until_the_apply_loop_catches_up() {
        let (agent, stream) = mpsc::unbounded_channel();
        let total = 1 + HELD_HEARTBEATS as u64 + 50;
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
        for _ in 0..10_000 {
            tokio::task::yield_now().await;
        }
        // One queued, HELD_HEARTBEATS held, and one read that waits for
        // room; then nothing more is read.
        assert_eq!(heard.load(Ordering::SeqCst), 1 + HELD_HEARTBEATS + 1);
        let mut last = 0;
        while let Some(Ok(Some(message))) = queued.recv().await {
            assert_eq!(message.seq, last + 1);
            last = message.seq;
        }
        reader.await.unwrap();
        assert_eq!(last, total);
        assert_eq!(heard.load(Ordering::SeqCst) as u64, total);
    }
}
