//! Typed configuration of integration targets (`[integrations]` and
//! `[[integrations.targets]]` in the collector TOML) and routing.

use std::collections::HashSet;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

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

/// Which vendor contract a target speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TargetKind {
    /// ServiceNow Table API (`incident` records).
    Servicenow,
    /// ServiceNow Event Management (`/api/global/em/jsonv2`).
    ServicenowEm,
    /// PagerDuty Events API v2.
    Pagerduty,
    /// Jira Service Management requests.
    Jira,
    /// Zendesk tickets.
    Zendesk,
    /// Prometheus Alertmanager API v2.
    Alertmanager,
    /// Generic webhook: CloudEvents 1.0 JSON, HMAC-SHA256 signed.
    Webhook,
}

impl TargetKind {
    /// The configured name.
    pub fn as_str(self) -> &'static str {
        match self {
            TargetKind::Servicenow => "servicenow",
            TargetKind::ServicenowEm => "servicenow_em",
            TargetKind::Pagerduty => "pagerduty",
            TargetKind::Jira => "jira",
            TargetKind::Zendesk => "zendesk",
            TargetKind::Alertmanager => "alertmanager",
            TargetKind::Webhook => "webhook",
        }
    }
}

/// One `[[integrations.targets]]` entry. Vendor-specific fields are
/// optional here and checked per kind by `validate`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TargetConfig {
    /// Unique name; outbox rows and external references are keyed by it.
    pub name: String,
    /// Vendor contract.
    pub kind: TargetKind,
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

    /// Basic auth user (ServiceNow, Jira: account e-mail, Zendesk: `email/token`).
    #[serde(default)]
    pub username: Option<String>,
    /// Basic auth password or API token.
    #[serde(default, skip_serializing)]
    pub password: Option<String>,
    /// ServiceNow OAuth client id (password grant via `/oauth_token.do`).
    #[serde(default)]
    pub oauth_client_id: Option<String>,
    /// ServiceNow OAuth client secret.
    #[serde(default, skip_serializing)]
    pub oauth_client_secret: Option<String>,
    /// Bearer token (Alertmanager behind a proxy, webhook receivers).
    #[serde(default, skip_serializing)]
    pub bearer_token: Option<String>,
    /// PagerDuty integration (routing) key.
    #[serde(default, skip_serializing)]
    pub routing_key: Option<String>,
    /// Webhook HMAC-SHA256 secret.
    #[serde(default, skip_serializing)]
    pub secret: Option<String>,
    /// PEM file of CAs to trust for this target (none: no TLS roots).
    #[serde(default)]
    pub ca_file: Option<PathBuf>,

    /// ServiceNow: `assignment_group` of created incidents.
    #[serde(default)]
    pub assignment_group: Option<String>,
    /// ServiceNow: `category` of created incidents.
    #[serde(default)]
    pub category: Option<String>,
    /// ServiceNow: `close_code` on resolve.
    #[serde(default = "default_close_code")]
    pub close_code: String,
    /// ServiceNow: look `cmdb_ci` up by CI name (else the name is sent as given).
    #[serde(default = "yes")]
    pub cmdb_ci_lookup: bool,
    /// ServiceNow Event Management: `source` of events.
    #[serde(default = "default_source")]
    pub source: String,
    /// Jira: service desk id.
    #[serde(default)]
    pub service_desk_id: Option<String>,
    /// Jira: request type id.
    #[serde(default)]
    pub request_type_id: Option<String>,
    /// Jira: transition id applied on resolve.
    #[serde(default)]
    pub resolve_transition_id: Option<String>,
    /// Zendesk: extra tags on tickets.
    #[serde(default)]
    pub ticket_tags: Vec<String>,
    /// Alertmanager: seconds between re-sends of firing alerts.
    #[serde(default = "default_resend")]
    pub resend_interval_s: u64,
    /// Link in Alertmanager `generatorURL` and webhook `source`.
    #[serde(default)]
    pub console_url: Option<String>,

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
}

fn yes() -> bool {
    true
}
fn lowest_severity() -> Severity {
    Severity::Info
}
fn default_close_code() -> String {
    "Resolved by caller".into()
}
fn default_source() -> String {
    "Rollcall".into()
}
fn default_resend() -> u64 {
    60
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

impl TargetConfig {
    /// A target of `kind` named `name` at `url`, with every default; for
    /// tests and programmatic configuration.
    pub fn new(name: &str, kind: TargetKind, url: &str) -> Self {
        Self {
            name: name.into(),
            kind,
            url: url.into(),
            enabled: true,
            min_severity: lowest_severity(),
            tags: Vec::new(),
            business_services: Vec::new(),
            username: None,
            password: None,
            oauth_client_id: None,
            oauth_client_secret: None,
            bearer_token: None,
            routing_key: None,
            secret: None,
            ca_file: None,
            assignment_group: None,
            category: None,
            close_code: default_close_code(),
            cmdb_ci_lookup: true,
            source: default_source(),
            service_desk_id: None,
            request_type_id: None,
            resolve_transition_id: None,
            ticket_tags: Vec::new(),
            resend_interval_s: default_resend(),
            console_url: None,
            rate_per_second: default_rate(),
            burst: default_burst(),
            timeout_s: default_timeout(),
            max_attempts: default_max_attempts(),
            backoff_initial_ms: default_backoff_initial(),
            backoff_max_ms: default_backoff_max(),
            circuit_failures: default_circuit_failures(),
            circuit_cooldown_s: default_circuit_cooldown(),
        }
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
                self.kind.as_str()
            )))
        };
        let set = |value: &Option<String>| value.as_deref().is_some_and(|v| !v.trim().is_empty());
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
        if self.username.is_some() != self.password.is_some() {
            return fail("username and password must be given together");
        }
        if self.oauth_client_id.is_some() != self.oauth_client_secret.is_some() {
            return fail("oauth_client_id and oauth_client_secret must be given together");
        }
        match self.kind {
            TargetKind::Servicenow | TargetKind::ServicenowEm if !set(&self.username) => {
                fail("username and password are required (basic auth, or the OAuth password grant)")
            }
            TargetKind::Pagerduty if !set(&self.routing_key) => fail("routing_key is required"),
            TargetKind::Jira
                if !set(&self.username)
                    || !set(&self.service_desk_id)
                    || !set(&self.request_type_id) =>
            {
                fail("username, password, service_desk_id and request_type_id are required")
            }
            TargetKind::Zendesk if !set(&self.username) => {
                fail("username (`email/token`) and password (API token) are required")
            }
            TargetKind::Webhook if !set(&self.secret) => {
                fail("secret is required to sign requests")
            }
            TargetKind::Alertmanager if self.resend_interval_s == 0 => {
                fail("resend_interval_s must be at least 1")
            }
            _ => Ok(()),
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
mod tests {
    use super::*;
    use crate::incidents::event::{CiRef, Transition};

    fn event(severity: Severity, tags: &[&str], services: &[&str]) -> IncidentEvent {
        IncidentEvent {
            event_id: 1,
            incident_id: "i1".into(),
            dedup_key: "h1:host_down".into(),
            transition: Transition::Trigger,
            rule: "host_down".into(),
            severity,
            summary: "s".into(),
            description: "d".into(),
            ci: CiRef {
                id: "h1".into(),
                name: "web1".into(),
                fqdn: "web1.example".into(),
                class: "linux_server".into(),
                tags: tags.iter().map(|t| t.to_string()).collect(),
            },
            business_services: services.iter().map(|t| t.to_string()).collect(),
            opened_at_ms: 0,
            resolved_at_ms: None,
            occurred_at_ms: 0,
            details: serde_json::json!({}),
        }
    }

    #[test]
    fn routing_by_severity_tag_and_service() {
        let mut target = TargetConfig::new("t", TargetKind::Alertmanager, "http://x");
        target.min_severity = Severity::Major;
        assert!(target.routes(&event(Severity::Critical, &[], &[])));
        assert!(!target.routes(&event(Severity::Minor, &[], &[])));
        target.tags = vec!["prod".into()];
        assert!(!target.routes(&event(Severity::Critical, &["dev"], &[])));
        assert!(target.routes(&event(Severity::Critical, &["dev", "prod"], &[])));
        target.business_services = vec!["shop".into()];
        assert!(!target.routes(&event(Severity::Critical, &["prod"], &["mail"])));
        assert!(target.routes(&event(Severity::Critical, &["prod"], &["shop"])));
    }

    #[test]
    fn parses_and_validates_targets() {
        let text = r#"
            [[targets]]
            name = "pd"
            kind = "pagerduty"
            url = "https://events.pagerduty.com"
            routing_key = "R0123456789"
            min_severity = "major"
        "#;
        let config: IntegrationsConfig = toml::from_str(text).unwrap();
        config.validate().unwrap();
        assert_eq!(config.targets[0].min_severity, Severity::Major);

        let missing = r#"
            [[targets]]
            name = "pd"
            kind = "pagerduty"
            url = "https://events.pagerduty.com"
        "#;
        let config: IntegrationsConfig = toml::from_str(missing).unwrap();
        let error = config.validate().unwrap_err().to_string();
        assert!(error.contains("routing_key"), "{error}");

        let unknown =
            "[[targets]]\nname = \"x\"\nkind = \"webhook\"\nurl = \"http://x\"\nbogus = 1\n";
        assert!(toml::from_str::<IntegrationsConfig>(unknown).is_err());
    }
}
