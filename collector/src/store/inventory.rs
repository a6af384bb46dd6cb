//! What agents report, written as it arrives: inventory change sets,
//! liveness signals and health samples (`InventoryStore`, a part of `Store`).

use async_trait::async_trait;
use serde::Serialize;

use crate::cmdb::diff::CiItem;
use crate::error::Result;

/// Where an incoming inventory should land.
#[derive(Debug, Clone)]
pub struct ApplyContext {
    /// Reporting agent.
    pub agent_id: String,
    /// Its host CI.
    pub host_id: String,
    /// Message sequence number (idempotency).
    pub seq: i64,
    /// Receive time (ms).
    pub at: i64,
}

/// An inventory change set, already flattened to CMDB items.
#[derive(Debug, Clone, Default)]
pub struct InventoryChange {
    /// Whether `items` is the whole inventory (snapshot).
    pub full: bool,
    /// Items (all for a snapshot; upserts for a delta).
    pub items: Vec<CiItem>,
    /// (class, key) removed by a delta.
    pub removed: Vec<(String, String)>,
}

/// What applying a change set did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ApplyOutcome {
    /// The sequence number was already applied: nothing written.
    pub duplicate: bool,
    /// Items added.
    pub added: usize,
    /// Items changed.
    pub changed: usize,
    /// Items removed.
    pub removed: usize,
}

/// A heartbeat or other liveness signal to record in a batch.
#[derive(Debug, Clone)]
pub struct Seen {
    /// Agent id.
    pub agent_id: String,
    /// Host CI id.
    pub host_id: String,
    /// Highest sequence number applied by this signal.
    pub seq: i64,
    /// When (ms).
    pub at: i64,
}

impl Seen {
    /// A liveness signal of `agent_id` for `host_id`.
    pub fn new(agent_id: &str, host_id: &str, seq: i64, at: i64) -> Self {
        Self {
            agent_id: agent_id.to_string(),
            host_id: host_id.to_string(),
            seq,
            at,
        }
    }
}

/// The ingest writes and the health samples they leave.
#[async_trait]
pub trait InventoryStore {
    /// Applies an inventory change set atomically and idempotently by (agent, seq).
    async fn apply_inventory(
        &self,
        context: &ApplyContext,
        change: InventoryChange,
    ) -> Result<ApplyOutcome>;
    /// Records liveness signals in one batch (sequence numbers and last seen).
    async fn record_seen(&self, batch: &[Seen]) -> Result<()>;
    /// Stores a health sample (`data`: `cmdb::rollup::encode_sample`),
    /// idempotently by (agent, seq); `HealthStore` reads it back.
    async fn record_health(
        &self,
        context: &ApplyContext,
        sampled_at: i64,
        data: &[u8],
    ) -> Result<bool>;
}
