//! Fleet-wide counts for `/metrics`: hosts by class, lifecycle and presence,
//! and open incidents by rule and severity. Each is one grouped query, so a
//! scrape costs the same at 10 hosts or 100,000.

/// Hosts of one class, lifecycle and presence.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct HostCount {
    /// CI class (`linux_server` …).
    pub class: String,
    /// Lifecycle (`active`, `stale`, `retired`).
    pub lifecycle: String,
    /// Stored presence (`up`, `down`, … `unknown`).
    pub presence: String,
    /// Number of hosts.
    pub count: i64,
}

/// Open (or acknowledged, not yet resolved) incidents of one rule and severity.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct IncidentCount {
    /// Rule (`host_down`, `filesystem_usage` …).
    pub rule: String,
    /// Severity.
    pub severity: String,
    /// Number of incidents.
    pub count: i64,
}

/// Counts for `/metrics`.
#[async_trait::async_trait]
pub trait CountStore {
    /// Hosts by class, lifecycle and presence, in that order.
    async fn host_counts(&self) -> crate::error::Result<Vec<HostCount>>;

    /// Unresolved incidents by rule and severity, in that order.
    async fn open_incident_counts(&self) -> crate::error::Result<Vec<IncidentCount>>;
}
