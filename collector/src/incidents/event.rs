//! The incident event: what the incident engine records for every
//! notifiable transition (in `incident_events`, in the same transaction as
//! the incident change) and what integrations turn into vendor requests.

use serde::{Deserialize, Serialize};

/// What happened to the incident.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Transition {
    /// Opened (or re-opened): create or trigger upstream.
    Trigger,
    /// Recovered: resolve upstream.
    Resolve,
    /// An operator acknowledged it.
    Acknowledge,
    /// Details changed while open (e.g. severity).
    Update,
}

impl Transition {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Transition::Trigger => "trigger",
            Transition::Resolve => "resolve",
            Transition::Acknowledge => "acknowledge",
            Transition::Update => "update",
        }
    }
}

/// How bad it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Informational.
    Info,
    /// Needs attention soon.
    Warning,
    /// Degraded.
    Minor,
    /// Service affected.
    Major,
    /// Outage.
    Critical,
}

impl Severity {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Warning => "warning",
            Severity::Minor => "minor",
            Severity::Major => "major",
            Severity::Critical => "critical",
        }
    }

    /// Parses a stored name.
    pub fn parse(text: &str) -> Option<Severity> {
        match text {
            "info" => Some(Severity::Info),
            "warning" => Some(Severity::Warning),
            "minor" => Some(Severity::Minor),
            "major" => Some(Severity::Major),
            "critical" => Some(Severity::Critical),
            _ => None,
        }
    }
}

/// The configuration item an incident is about.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct CiRef {
    /// CI id (host id).
    pub id: String,
    /// Display name (host name).
    pub name: String,
    /// Fully qualified name, if known.
    pub fqdn: String,
    /// CI class (`linux_server`, …).
    pub class: String,
    /// Tags of the CI.
    pub tags: Vec<String>,
}

/// One notifiable incident transition.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IncidentEvent {
    /// Id of the `incident_events` row (0 before it is stored).
    #[serde(default)]
    pub event_id: i64,
    /// Incident id.
    pub incident_id: String,
    /// `"<ci id>:<rule>"`: the idempotency key upstream.
    pub dedup_key: String,
    /// What happened.
    pub transition: Transition,
    /// Rule that fired (`host_down`, `filesystem_usage`, …, `storm`).
    pub rule: String,
    /// Severity.
    pub severity: Severity,
    /// One line.
    pub summary: String,
    /// Longer text.
    pub description: String,
    /// The CI.
    pub ci: CiRef,
    /// Names of business services the CI is a member of.
    pub business_services: Vec<String>,
    /// When the incident opened (ms).
    pub opened_at_ms: i64,
    /// When it resolved (ms), for `Resolve`.
    pub resolved_at_ms: Option<i64>,
    /// When this transition happened (ms).
    pub occurred_at_ms: i64,
    /// Rule-specific details (mount point, usage, outage begin, …).
    pub details: serde_json::Value,
    /// The severity before, on an `update` that changed it (Alertmanager
    /// resolves the alert of the old severity's label set).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous_severity: Option<Severity>,
}
