//! The runtime state the producers ([`crate::runtime`]) and the session
//! ([`crate::session`]) share: the spool and sequence numbers behind one
//! lock, the session's outbound stream, the inventory baseline, and the
//! intervals in effect.

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use prost::Message;
use rollcall_proto::v1::agent_message::Body;
use rollcall_proto::v1::{AgentMessage, Inventory};
use tokio::sync::{Notify, mpsc, watch};

use crate::config::AgentConfig;
use crate::discovery::LinuxPlatform;
use crate::durable::SequenceAllocator;
use crate::error::Result;
use crate::spool::{Kind, Spool};

/// Intervals in effect (the collector's `Welcome` overrides the config).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Intervals {
    /// Heartbeat period.
    pub(crate) heartbeat: Duration,
    /// Health sampling period.
    pub(crate) health: Duration,
    /// Inventory scan period.
    pub(crate) inventory: Duration,
}

impl Intervals {
    /// The intervals from whole seconds.
    pub(crate) fn from_secs(heartbeat: u32, health: u32, inventory: u32) -> Self {
        Intervals {
            heartbeat: Duration::from_secs(heartbeat.into()),
            health: Duration::from_secs(health.into()),
            inventory: Duration::from_secs(inventory.into()),
        }
    }
}

/// What sits behind the lock.
pub(crate) struct Inner {
    /// Messages not acknowledged yet, on disk.
    pub(crate) spool: Spool,
    /// Where the next sequence number comes from.
    pub(crate) seq: SequenceAllocator,
    /// The current session's stream, if one is established.
    pub(crate) outbound: Option<mpsc::UnboundedSender<AgentMessage>>,
    /// Highest sequence number the current session has sent.
    pub(crate) sent_up_to: u64,
    /// Highest sequence number the collector acknowledged.
    pub(crate) acked: u64,
    /// The inventory last handed to the spool; deltas are computed against it.
    pub(crate) baseline: Option<Inventory>,
    /// Sequence number of a full snapshot not acknowledged yet.
    pub(crate) snapshot_in_flight: Option<u64>,
}

impl Inner {
    /// Sends every spooled message the current session has not sent yet.
    pub(crate) fn flush(&mut self) {
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

    /// Gives `body` the next sequence number, spools it, and sends it if a
    /// session is established.
    pub(crate) fn push(&mut self, kind: Kind, body: Body) -> Result<u64> {
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

/// Everything the agent's tasks share.
pub(crate) struct Shared {
    /// The agent's configuration.
    pub(crate) config: AgentConfig,
    /// The spool, sequence numbers and session stream; see [`Shared::lock`].
    pub(crate) inner: Mutex<Inner>,
    /// The collector asked for a full inventory.
    pub(crate) full_inventory: Notify,
    /// The collector acknowledged something.
    pub(crate) acked: Notify,
    /// The intervals in effect; the producers and the heartbeat watch it.
    pub(crate) intervals: watch::Sender<Intervals>,
    /// Where inventory comes from.
    pub(crate) platform: Arc<LinuxPlatform>,
}

impl Shared {
    /// The lock around the spool and sequence numbers.
    pub(crate) fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic while holding the lock cannot leave the spool inconsistent on disk.
        self.inner
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The collector acknowledged every message up to `seq`.
    pub(crate) fn on_ack(&self, seq: u64) -> Result<()> {
        let mut inner = self.lock();
        inner.spool.ack(seq)?;
        inner.acked = inner.acked.max(seq);
        if inner
            .snapshot_in_flight
            .is_some_and(|pending| pending <= seq)
        {
            inner.snapshot_in_flight = None;
        }
        drop(inner);
        self.acked.notify_waiters();
        Ok(())
    }

    /// The collector refused message `seq` (it failed validation; nothing of
    /// it was stored) and acknowledges it next, so it leaves the spool. A
    /// refused inventory message leaves the collector without this
    /// baseline: the next inventory is sent in full.
    pub(crate) fn on_refused(&self, seq: u64, reason: &str) {
        let mut inner = self.lock();
        let inventory = inner
            .spool
            .after(seq.saturating_sub(1))
            .next()
            .is_some_and(|record| record.seq == seq && record.kind == Kind::Inventory);
        if inventory {
            inner.baseline = None;
        }
        drop(inner);
        tracing::warn!(seq, inventory, reason = %reason, "the collector refused a message; it is dropped");
    }
}
