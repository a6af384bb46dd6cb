//! Presence of hosts and the outages it records (`PresenceStore`, a part of
//! `Store`).

use async_trait::async_trait;
use serde::Serialize;

use crate::error::Result;

/// Presence of a host as stored.
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct PresenceRow {
    /// Host id.
    pub id: String,
    /// Presence state name.
    pub presence: String,
    /// Last message seen (ms).
    pub last_seen_at: i64,
    /// Planned absence deadline.
    pub away_until: Option<i64>,
}

/// A new outage.
#[derive(Debug, Clone)]
pub struct NewOutage {
    /// Outage id.
    pub id: String,
    /// Host id.
    pub host_id: String,
    /// `unplanned`, `planned` or `degraded`.
    pub kind: String,
    /// Why.
    pub cause: String,
    /// Begin (ms): the last heartbeat seen.
    pub began_at: i64,
    /// Detection time (ms).
    pub detected_at: i64,
}

/// An outage record.
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct Outage {
    /// Outage id.
    pub id: String,
    /// Host id.
    pub host_id: String,
    /// `unplanned`, `planned` or `degraded`.
    pub kind: String,
    /// Why.
    pub cause: String,
    /// Begin (ms).
    pub began_at: i64,
    /// Detection (ms).
    pub detected_at: i64,
    /// End (ms), if over.
    pub ended_at: Option<i64>,
    /// Linked incident.
    pub incident_id: Option<String>,
}

/// Filters for outages.
#[derive(Debug, Clone, Default)]
pub struct OutageFilter {
    /// One host.
    pub host_id: Option<String>,
    /// Overlapping from (ms).
    pub since: Option<i64>,
    /// Overlapping until (ms).
    pub until: Option<i64>,
    /// Kind.
    pub kind: Option<String>,
    /// Page size.
    pub limit: i64,
}

/// Presence and outages.
#[async_trait]
pub trait PresenceStore {
    /// Presence of every host not retired.
    async fn load_presence(&self) -> Result<Vec<PresenceRow>>;
    /// Writes a presence change.
    async fn set_presence(
        &self,
        host_id: &str,
        state: &str,
        at: i64,
        away_until: Option<i64>,
        away_reason: Option<&str>,
    ) -> Result<()>;
    /// Records an outage.
    async fn open_outage(&self, outage: &NewOutage) -> Result<()>;
    /// Ends every open down outage (`unplanned`, `planned`) of a host;
    /// returns them. Degraded time has its own end ([`Self::close_degraded`]):
    /// a host coming back does not end a critical problem.
    async fn close_outages(&self, host_id: &str, ended_at: i64) -> Result<Vec<Outage>>;
    /// Ends the open `degraded` outages of a host; returns them.
    async fn close_degraded(&self, host_id: &str, ended_at: i64) -> Result<Vec<Outage>>;
    /// Links an outage to its incident.
    async fn link_outage(&self, outage_id: &str, incident_id: &str) -> Result<()>;
    /// Outages.
    async fn outages(&self, filter: &OutageFilter) -> Result<Vec<Outage>>;
}
