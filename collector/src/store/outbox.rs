//! The integrations outbox in the store: fan-out of incident events to
//! per-target delivery rows, claiming due rows, recording answers, the
//! external references targets returned, and dead letters.

use async_trait::async_trait;
use serde::Serialize;

use crate::error::Result;

/// Delivery state of an outbox row.
pub mod state {
    /// Waiting to be sent (or to be retried).
    pub const PENDING: &str = "pending";
    /// The target accepted it.
    pub const DELIVERED: &str = "delivered";
    /// Gave up: final error or too many attempts; an operator may retry it.
    pub const DEAD: &str = "dead";
}

/// An `incident_events` row not yet fanned out.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct EventRow {
    /// Event id.
    pub id: i64,
    /// Incident id.
    pub incident_id: String,
    /// `trigger`, `resolve`, `acknowledge` or `update`.
    pub transition: String,
    /// The `IncidentEvent` JSON.
    pub payload: String,
    /// When it was recorded (ms).
    pub created_at: i64,
}

/// A delivery to create for one (event, target).
#[derive(Debug, Clone)]
pub struct NewOutboxEntry {
    /// Event id.
    pub event_id: i64,
    /// Incident id.
    pub incident_id: String,
    /// Target name.
    pub target: String,
    /// Transition name.
    pub transition: String,
    /// The incident's dedup key.
    pub dedup_key: String,
    /// The `IncidentEvent` JSON.
    pub payload: String,
}

/// One delivery of one event to one target.
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct OutboxEntry {
    /// Row id.
    pub id: i64,
    /// Event id.
    pub event_id: i64,
    /// Incident id.
    pub incident_id: String,
    /// Target name.
    pub target: String,
    /// Transition name.
    pub transition: String,
    /// The incident's dedup key.
    pub dedup_key: String,
    /// The `IncidentEvent` JSON.
    pub payload: String,
    /// `pending`, `delivered` or `dead`.
    pub state: String,
    /// Attempts so far.
    pub attempts: i64,
    /// Earliest next attempt (ms).
    pub next_attempt_at: i64,
    /// The last error, if the last attempt failed.
    pub last_error: Option<String>,
    /// Creation time (ms).
    pub created_at: i64,
    /// When the target accepted it (ms).
    pub delivered_at: Option<i64>,
}

/// What a target returned for an incident (sys_id, Jira key, ticket id, …).
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct ExternalRef {
    /// Incident id.
    pub incident_id: String,
    /// Target name.
    pub target: String,
    /// The target's reference.
    pub external_ref: String,
    /// Last update (ms).
    pub updated_at: i64,
}

/// Rows per target and state.
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct OutboxCount {
    /// Target name.
    pub target: String,
    /// State.
    pub state: String,
    /// Number of rows.
    pub count: i64,
}

/// Filters for listing outbox rows.
#[derive(Debug, Clone, Default)]
pub struct OutboxFilter {
    /// Only this state.
    pub state: Option<String>,
    /// Only this incident.
    pub incident_id: Option<String>,
    /// Only this target.
    pub target: Option<String>,
    /// Only rows with a greater id (cursor).
    pub after_id: Option<i64>,
    /// Page size.
    pub limit: i64,
}

/// Integrations delivery (`OutboxStore`, a part of `Store`).
#[async_trait]
pub trait OutboxStore: Send + Sync {
    /// Incident events not yet fanned out: those past the cursor, oldest
    /// first, then, on a backend whose ids may commit out of order, recent
    /// ones that committed late.
    async fn undispatched_events(&self, now: i64, limit: i64) -> Result<Vec<EventRow>>;
    /// Inserts deliveries (idempotently by (event, target)) and advances the
    /// fan-out cursor to `cursor`, in one transaction; returns rows inserted.
    async fn fan_out(&self, entries: &[NewOutboxEntry], cursor: i64, now: i64) -> Result<u64>;
    /// Claims up to `limit` due pending rows of `target` for `lease_ms`;
    /// a row waits while an older pending row of the same dedup key exists,
    /// so transitions reach a target in order.
    async fn claim_due(
        &self,
        target: &str,
        now: i64,
        lease_ms: i64,
        limit: i64,
    ) -> Result<Vec<OutboxEntry>>;
    /// Gives claimed rows back without an attempt.
    async fn release_claims(&self, ids: &[i64]) -> Result<()>;
    /// Drops the leases a previous process left, at start: on a backend
    /// that only one process can serve (SQLite) every lease is void; a
    /// shared backend (PostgreSQL) keeps them, since another collector may
    /// hold them, and they expire on their own.
    async fn release_orphaned_claims(&self) -> Result<()>;
    /// Records that the target accepted a row, and the reference it returned.
    async fn mark_delivered(&self, id: i64, at: i64, external_ref: Option<&str>) -> Result<()>;
    /// Records a failed attempt: retried at `next_attempt_at`, or dead when `None`.
    async fn mark_failed(
        &self,
        id: i64,
        at: i64,
        error: &str,
        next_attempt_at: Option<i64>,
    ) -> Result<()>;
    /// The reference a target returned for an incident.
    async fn external_ref(&self, incident_id: &str, target: &str) -> Result<Option<String>>;
    /// Every reference targets returned for an incident.
    async fn external_refs(&self, incident_id: &str) -> Result<Vec<ExternalRef>>;
    /// Lists outbox rows, oldest first.
    async fn outbox_entries(&self, filter: &OutboxFilter) -> Result<Vec<OutboxEntry>>;
    /// One outbox row.
    async fn outbox_entry(&self, id: i64) -> Result<Option<OutboxEntry>>;
    /// Puts a dead row back to pending, due now; false if it is not dead.
    async fn retry_dead(&self, id: i64, at: i64) -> Result<bool>;
    /// Row counts per target and state.
    async fn outbox_counts(&self) -> Result<Vec<OutboxCount>>;
    /// For each dedup key whose last delivered row to `target` is not a
    /// resolve, that row: what is still firing upstream.
    async fn firing(&self, target: &str, limit: i64) -> Result<Vec<OutboxEntry>>;
}
