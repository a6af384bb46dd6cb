//! Incidents, their events and comments (`IncidentStore`, a part of `Store`).

use async_trait::async_trait;
use serde::Serialize;

use crate::error::Result;

/// An incident record.
#[derive(Debug, Clone, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct Incident {
    /// Incident id.
    pub id: String,
    /// `"<ci id>:<rule>"`.
    pub dedup_key: String,
    /// The CI.
    pub ci_id: String,
    /// Rule.
    pub rule: String,
    /// Severity name.
    pub severity: String,
    /// open | acknowledged | resolved.
    pub state: String,
    /// One line.
    pub summary: String,
    /// JSON details.
    pub details: String,
    /// Storm or dependency parent.
    pub parent_id: Option<String>,
    /// Notifications suppressed (1) or not (0).
    pub suppressed: i64,
    /// Times it went bad again while open.
    pub flaps: i64,
    /// Opened (ms).
    pub opened_at: i64,
    /// Acknowledged (ms).
    pub acknowledged_at: Option<i64>,
    /// By whom.
    pub acknowledged_by: Option<String>,
    /// Resolved (ms).
    pub resolved_at: Option<i64>,
    /// Last change (ms).
    pub updated_at: i64,
}

/// Filters for incidents.
#[derive(Debug, Clone, Default)]
pub struct IncidentFilter {
    /// `open` (open or acknowledged), `resolved`, or all.
    pub state: Option<String>,
    /// One CI.
    pub ci_id: Option<String>,
    /// Rule prefix.
    pub rule_prefix: Option<String>,
    /// Children of a parent.
    pub parent_id: Option<String>,
    /// Page size.
    pub limit: i64,
}

/// A comment on an incident.
#[derive(Debug, Clone, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct Comment {
    /// Comment id.
    pub id: String,
    /// Incident id.
    pub incident_id: String,
    /// Author (token name).
    pub author: String,
    /// Text.
    pub body: String,
    /// When (ms).
    pub at: i64,
}

/// A change of an open incident's severity, with the texts that go with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IncidentUpdate {
    /// The new severity.
    pub severity: String,
    /// The new summary.
    pub summary: String,
    /// The new details (JSON).
    pub details: String,
    /// When (ms).
    pub at: i64,
}

/// Incidents and their comments.
#[async_trait]
pub trait IncidentStore {
    /// Opens an incident and records its trigger event (if any), atomically;
    /// `false` if one with the same dedup key is already open.
    async fn insert_incident(&self, incident: &Incident, event: Option<&str>) -> Result<bool>;
    /// Resolves an open incident and records its event, atomically; false if not open.
    async fn resolve_incident(
        &self,
        incident_id: &str,
        at: i64,
        event: Option<&str>,
    ) -> Result<bool>;
    /// Acknowledges an open incident and records its event.
    async fn acknowledge_incident(
        &self,
        incident_id: &str,
        by: &str,
        at: i64,
        event: Option<&str>,
    ) -> Result<bool>;
    /// Ends the suppression of an unresolved incident (its parent recovered
    /// first) and records its trigger event, atomically; false if it was
    /// not suppressed or is resolved.
    async fn unsuppress_incident(
        &self,
        incident_id: &str,
        at: i64,
        event: Option<&str>,
    ) -> Result<bool>;
    /// Changes an unresolved incident's severity (with its summary and
    /// details) and records its `update` event, atomically; false if it is
    /// resolved or already at that severity.
    async fn update_incident(
        &self,
        incident_id: &str,
        change: &IncidentUpdate,
        event: Option<&str>,
    ) -> Result<bool>;
    /// Counts one more flap of an open incident.
    async fn count_flap(&self, incident_id: &str, at: i64) -> Result<()>;
    /// The open incident with this dedup key.
    async fn open_incident(&self, dedup_key: &str) -> Result<Option<Incident>>;
    /// One incident.
    async fn incident(&self, incident_id: &str) -> Result<Option<Incident>>;
    /// Incidents, newest first.
    async fn incidents(&self, filter: &IncidentFilter) -> Result<Vec<Incident>>;
    /// Adds a comment.
    async fn add_comment(&self, comment: &Comment) -> Result<()>;
    /// Comments of an incident.
    async fn comments(&self, incident_id: &str) -> Result<Vec<Comment>>;
}
