//! Typed configuration of integration targets (`[integrations]` and
//! `[[integrations.targets]]` in the collector TOML) and routing.
//!
//! A target is the fields every kind shares (name, url, routing, delivery
//! tuning) plus the settings of its `kind`, which live beside each adapter
//! (`servicenow/config.rs`, …). Each kind's struct denies unknown fields, so
//! a setting of another vendor (a `routing_key` on a Jira target) is refused
//! with an error naming the field and the target. Serde's `flatten` cannot
//! be combined with `deny_unknown_fields` on the outer struct; here it is
//! not needed there: the common fields are taken by `TargetConfig` and every
//! other key reaches the kind's struct, which refuses what it does not know.

use std::collections::HashSet;
use std::fmt;
use std::path::PathBuf;

use serde::de::{Error as _, MapAccess, Visitor, value::MapAccessDeserializer};
use serde::{Deserialize, Deserializer, Serialize};

use super::alertmanager::config::AlertmanagerConfig;
use super::jira::config::JiraConfig;
use super::pagerduty::config::PagerDutyConfig;
use super::servicenow::config::ServiceNowConfig;
use super::servicenow_em::config::EventManagementConfig;
use super::settings::Auth;
use super::webhook::config::WebhookConfig;
use super::zendesk::config::ZendeskConfig;
use crate::error::{Error, Result};
use crate::incidents::event::{IncidentEvent, Severity};

/// The `[integrations]` section.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct IntegrationsConfig {
    /// How often new incident events are fanned out, and idle workers look for work (ms).
    pub poll_interval_ms: u64,
    /// How long a worker holds a claimed row before another may take it (s).
    pub lease_s: u64,
    /// The targets.
    #[serde(deserialize_with = "deserialize_targets")]
    pub targets: Vec<TargetConfig>,
}

impl Default for IntegrationsConfig {
    fn default() -> Self {
        Self {
            poll_interval_ms: 200,
            lease_s: 60,
            targets: Vec::new(),
        }
    }
}

/// Which vendor contract a target speaks (`kind = "…"`), with the
/// settings only that contract has.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum VendorConfig {
    /// ServiceNow Table API (`incident` records).
    Servicenow(ServiceNowConfig),
    /// ServiceNow Event Management (`/api/global/em/jsonv2`).
    ServicenowEm(EventManagementConfig),
    /// PagerDuty Events API v2.
    Pagerduty(PagerDutyConfig),
    /// Jira Service Management requests.
    Jira(JiraConfig),
    /// Zendesk tickets.
    Zendesk(ZendeskConfig),
    /// Prometheus Alertmanager API v2.
    Alertmanager(AlertmanagerConfig),
    /// Generic webhook: CloudEvents 1.0 JSON, HMAC-SHA256 signed.
    Webhook(WebhookConfig),
}

impl VendorConfig {
    /// The configured `kind`.
    pub fn kind(&self) -> &'static str {
        match self {
            VendorConfig::Servicenow(_) => "servicenow",
            VendorConfig::ServicenowEm(_) => "servicenow_em",
            VendorConfig::Pagerduty(_) => "pagerduty",
            VendorConfig::Jira(_) => "jira",
            VendorConfig::Zendesk(_) => "zendesk",
            VendorConfig::Alertmanager(_) => "alertmanager",
            VendorConfig::Webhook(_) => "webhook",
        }
    }

    /// What is wrong with the kind's settings, if anything.
    pub fn validate(&self) -> std::result::Result<(), String> {
        match self {
            VendorConfig::Servicenow(config) => config.validate(),
            VendorConfig::ServicenowEm(config) => config.validate(),
            VendorConfig::Pagerduty(config) => config.validate(),
            VendorConfig::Jira(config) => config.validate(),
            VendorConfig::Zendesk(config) => config.validate(),
            VendorConfig::Alertmanager(config) => config.validate(),
            VendorConfig::Webhook(config) => config.validate(),
        }
    }

    /// The credentials every request to the target carries by default.
    pub fn auth(&self) -> Auth {
        match self {
            VendorConfig::Servicenow(config) => config.auth(),
            VendorConfig::ServicenowEm(config) => config.auth(),
            VendorConfig::Pagerduty(_) => Auth::None,
            VendorConfig::Jira(config) => config.auth(),
            VendorConfig::Zendesk(config) => config.auth(),
            VendorConfig::Alertmanager(config) => config.auth(),
            VendorConfig::Webhook(config) => config.auth(),
        }
    }
}

/// One `[[integrations.targets]]` entry: the fields every kind shares, and
/// the settings of its kind.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TargetConfig {
    /// Unique name; outbox rows and external references are keyed by it.
    pub name: String,
    /// Base URL (`https://acme.service-now.com`, `https://events.pagerduty.com`, …);
    /// for `webhook` the full URL posted to.
    pub url: String,
    /// Disabled targets get no new deliveries.
    #[serde(default = "yes")]
    pub enabled: bool,

    /// Routing: lowest severity delivered.
    #[serde(default = "lowest_severity")]
    pub min_severity: Severity,
    /// Routing: only CIs with at least one of these tags (empty: all).
    #[serde(default)]
    pub tags: Vec<String>,
    /// Routing: only CIs in at least one of these business services (empty: all).
    #[serde(default)]
    pub business_services: Vec<String>,

    /// PEM file of CAs to trust for this target (none: no TLS roots).
    #[serde(default)]
    pub ca_file: Option<PathBuf>,
    /// Requests per second to this target.
    #[serde(default = "default_rate")]
    pub rate_per_second: u32,
    /// Burst allowance.
    #[serde(default = "default_burst")]
    pub burst: u32,
    /// Request timeout (s).
    #[serde(default = "default_timeout")]
    pub timeout_s: u64,
    /// Attempts before a row is dead-lettered.
    #[serde(default = "default_max_attempts")]
    pub max_attempts: u32,
    /// First retry delay (ms); doubled per attempt, with jitter.
    #[serde(default = "default_backoff_initial")]
    pub backoff_initial_ms: u64,
    /// Longest retry delay (ms).
    #[serde(default = "default_backoff_max")]
    pub backoff_max_ms: u64,
    /// Consecutive retryable failures that open the circuit.
    #[serde(default = "default_circuit_failures")]
    pub circuit_failures: u32,
    /// Seconds the circuit stays open before one probe.
    #[serde(default = "default_circuit_cooldown")]
    pub circuit_cooldown_s: u64,

    /// `kind` and the settings only that kind has (the rest of the table).
    #[serde(flatten)]
    pub vendor: VendorConfig,
}

fn yes() -> bool {
    true
}
fn lowest_severity() -> Severity {
    Severity::Info
}
fn default_rate() -> u32 {
    10
}
fn default_burst() -> u32 {
    20
}
fn default_timeout() -> u64 {
    10
}
fn default_max_attempts() -> u32 {
    12
}
fn default_backoff_initial() -> u64 {
    1_000
}
fn default_backoff_max() -> u64 {
    300_000
}
fn default_circuit_failures() -> u32 {
    5
}
fn default_circuit_cooldown() -> u64 {
    30
}

/// Reads `[[integrations.targets]]`, naming the target in every error.
fn deserialize_targets<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> std::result::Result<Vec<TargetConfig>, D::Error> {
    let targets = Vec::<Labelled>::deserialize(deserializer)?;
    Ok(targets.into_iter().map(|labelled| labelled.0).collect())
}

/// A target read through `LabelledVisitor`.
struct Labelled(TargetConfig);

impl<'de> Deserialize<'de> for Labelled {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> std::result::Result<Self, D::Error> {
        deserializer.deserialize_map(LabelledVisitor)
    }
}

/// Buffers a target's table, then reads it as a `TargetConfig`. The error
/// is raised while the table is still being read, so TOML points at the
/// target's own `[[integrations.targets]]` line. The buffer is a
/// `toml::Table` because the configuration is only ever read from TOML.
struct LabelledVisitor;

impl<'de> Visitor<'de> for LabelledVisitor {
    type Value = Labelled;

    fn expecting(&self, formatter: &mut fmt::Formatter) -> fmt::Result {
        formatter.write_str("an integrations target table")
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> std::result::Result<Labelled, A::Error> {
        let table = toml::Table::deserialize(MapAccessDeserializer::new(map))?;
        let text = |key: &str| {
            table
                .get(key)
                .and_then(toml::Value::as_str)
                .map(String::from)
        };
        let label = match (text("name"), text("kind")) {
            (Some(name), Some(kind)) => format!("{name:?} ({kind})"),
            (Some(name), None) => format!("{name:?}"),
            (None, _) => "without a name".to_string(),
        };
        TargetConfig::deserialize(toml::Value::Table(table))
            .map(Labelled)
            .map_err(|error| {
                A::Error::custom(format!(
                    "integrations target {label}: {}",
                    error.to_string().trim_end()
                ))
            })
    }
}

impl TargetConfig {
    /// A target named `name` at `url` with the settings `vendor`, and every
    /// common default; for tests and programmatic configuration.
    pub fn new(name: &str, vendor: VendorConfig, url: &str) -> Self {
        Self {
            name: name.into(),
            url: url.into(),
            enabled: true,
            min_severity: lowest_severity(),
            tags: Vec::new(),
            business_services: Vec::new(),
            ca_file: None,
            rate_per_second: default_rate(),
            burst: default_burst(),
            timeout_s: default_timeout(),
            max_attempts: default_max_attempts(),
            backoff_initial_ms: default_backoff_initial(),
            backoff_max_ms: default_backoff_max(),
            circuit_failures: default_circuit_failures(),
            circuit_cooldown_s: default_circuit_cooldown(),
            vendor,
        }
    }

    /// The configured `kind`.
    pub fn kind(&self) -> &'static str {
        self.vendor.kind()
    }

    /// Whether an event goes to this target.
    pub fn routes(&self, event: &IncidentEvent) -> bool {
        self.enabled
            && event.severity >= self.min_severity
            && (self.tags.is_empty() || event.ci.tags.iter().any(|tag| self.tags.contains(tag)))
            && (self.business_services.is_empty()
                || event
                    .business_services
                    .iter()
                    .any(|service| self.business_services.contains(service)))
    }

    fn validate(&self) -> Result<()> {
        let fail = |what: &str| {
            Err(Error::Config(format!(
                "integrations target {:?} ({}): {what}",
                self.name,
                self.kind()
            )))
        };
        if !(self.url.starts_with("http://") || self.url.starts_with("https://")) {
            return fail("url must start with http:// or https://");
        }
        if self.rate_per_second == 0 || self.burst == 0 {
            return fail("rate_per_second and burst must be at least 1");
        }
        if self.max_attempts == 0 || self.timeout_s == 0 || self.circuit_failures == 0 {
            return fail("max_attempts, timeout_s and circuit_failures must be at least 1");
        }
        if self.backoff_initial_ms == 0 || self.backoff_max_ms < self.backoff_initial_ms {
            return fail("backoff_initial_ms must be at least 1 and at most backoff_max_ms");
        }
        match self.vendor.validate() {
            Ok(()) => Ok(()),
            Err(what) => fail(&what),
        }
    }
}

impl IntegrationsConfig {
    /// Checks every target; names must be unique.
    pub fn validate(&self) -> Result<()> {
        if self.poll_interval_ms == 0 || self.lease_s == 0 {
            return Err(Error::Config(
                "integrations.poll_interval_ms and lease_s must be at least 1".into(),
            ));
        }
        let mut names = HashSet::new();
        for target in &self.targets {
            if target.name.is_empty()
                || target.name.len() > 64
                || !target
                    .name
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
            {
                return Err(Error::Config(format!(
                    "integrations target name {:?} must be 1 to 64 letters, digits, - or _",
                    target.name
                )));
            }
            if !names.insert(target.name.as_str()) {
                return Err(Error::Config(format!(
                    "integrations target name {:?} is used twice",
                    target.name
                )));
            }
            target.validate()?;
        }
        Ok(())
    }

    /// The target named `name`.
    pub fn target(&self, name: &str) -> Option<&TargetConfig> {
        self.targets.iter().find(|target| target.name == name)
    }
}

#[cfg(test)]
mod tests;
