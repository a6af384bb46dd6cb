//! Integrations: delivering incident events to ITSM and alerting targets
//! through the transactional outbox. `config` reads the targets (the
//! common fields; each kind's own settings live in `<kind>/config.rs`),
//! `dispatcher` fans new incident events out to outbox rows, `delivery`
//! sends them (backoff, rate limit, dead letters) through `circuit`
//! breakers over `http`, and one adapter per vendor speaks its contract:
//! `servicenow`, `servicenow_em`, `pagerduty`, `jira`, `zendesk`,
//! `alertmanager`, `webhook`. `format` writes times and host names the way
//! the vendors want them.

pub mod alertmanager;
pub mod circuit;
pub mod config;
pub mod delivery;
pub mod dispatcher;
pub mod format;
pub mod http;
pub mod jira;
pub mod lookup;
pub mod pagerduty;
pub mod servicenow;
pub mod servicenow_em;
pub mod settings;
pub mod webhook;
pub mod zendesk;

use std::num::NonZeroU32;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use serde::Serialize;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::error::{Error, Result};
use crate::incidents::event::{CiRef, IncidentEvent, Severity, Transition};
use crate::metrics::families::Families;
use crate::store::Store;
use circuit::{Circuit, CircuitStatus};
use config::{IntegrationsConfig, TargetConfig, VendorConfig};
pub use format::{gmt_datetime, node_name, rfc3339};
use http::Http;

/// What a target made of one delivery attempt, as the API shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(tag = "outcome", rename_all = "lowercase")]
pub enum Outcome {
    /// Accepted; `external_ref` is what the target calls it (sys_id, key, id).
    Delivered {
        /// The target's reference, if it returned one.
        external_ref: Option<String>,
        /// Status and a short answer, for operators.
        detail: String,
    },
    /// Not accepted this time (429, 5xx, network): try again later.
    Retry {
        /// What went wrong.
        error: String,
        /// How long the target asked us to wait (`Retry-After`).
        retry_after_ms: Option<u64>,
    },
    /// Refused for good (4xx other than 408/429): dead letter.
    Final {
        /// What went wrong.
        error: String,
    },
}

impl From<std::result::Result<Delivered, DeliveryError>> for Outcome {
    fn from(result: std::result::Result<Delivered, DeliveryError>) -> Self {
        match result {
            Ok(Delivered {
                external_ref,
                detail,
            }) => Outcome::Delivered {
                external_ref,
                detail,
            },
            Err(DeliveryError::Retry {
                error,
                retry_after_ms,
            }) => Outcome::Retry {
                error,
                retry_after_ms,
            },
            Err(DeliveryError::Final { error }) => Outcome::Final { error },
        }
    }
}

/// A target accepted an event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivered {
    /// What the target calls it (sys_id, key, id), if it said.
    pub external_ref: Option<String>,
    /// Status and a short answer, for operators.
    pub detail: String,
}

impl Delivered {
    /// A delivery that needed no request (nothing to do upstream).
    pub fn skipped(why: &str) -> Delivered {
        Delivered {
            external_ref: None,
            detail: format!("not sent: {why}"),
        }
    }
}

/// Why a target did not accept an event; the delivery worker turns it into
/// a later attempt or a dead letter.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DeliveryError {
    /// Not accepted this time (429, 5xx, network): try again later.
    #[error("{error}")]
    Retry {
        /// What went wrong.
        error: String,
        /// How long the target asked us to wait (`Retry-After`).
        retry_after_ms: Option<u64>,
    },
    /// Refused for good (4xx other than 408/429): dead letter.
    #[error("{error}")]
    Final {
        /// What went wrong.
        error: String,
    },
}

/// A vendor contract: turns an incident event into the vendor's requests
/// and classifies the answers.
#[async_trait]
pub trait Adapter: Send + Sync + std::fmt::Debug {
    /// Delivers one event; `known_ref` is what this target returned for the
    /// incident before, if anything.
    async fn deliver(
        &self,
        event: &IncidentEvent,
        known_ref: Option<&str>,
    ) -> std::result::Result<Delivered, DeliveryError>;

    /// How often firing incidents are sent again (Alertmanager expects it).
    fn resend_interval(&self) -> Option<Duration> {
        None
    }

    /// Where a person opens the vendor's record `external_ref` (what
    /// [`Adapter::deliver`] returned), under the target's `base_url`;
    /// `None` for targets without a page per incident.
    fn ticket_url(&self, _base_url: &str, _external_ref: &str) -> Option<String> {
        None
    }
}

/// `text` percent-encoded for one path segment or query value.
pub fn encode_component(text: &str) -> String {
    text.bytes()
        .map(|byte| match byte {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (byte as char).to_string()
            }
            other => format!("%{other:02X}"),
        })
        .collect()
}

/// Builds the adapter for a target.
pub fn adapter_for(config: &TargetConfig) -> Result<Arc<dyn Adapter>> {
    let http = Http::new(config)?;
    Ok(match config.vendor.clone() {
        VendorConfig::Servicenow(vendor) => Arc::new(servicenow::ServiceNow::new(vendor, http)),
        VendorConfig::ServicenowEm(vendor) => {
            Arc::new(servicenow_em::EventManagement::new(vendor, http))
        }
        VendorConfig::Pagerduty(vendor) => Arc::new(pagerduty::PagerDuty::new(vendor, http)),
        VendorConfig::Jira(vendor) => Arc::new(jira::Jira::new(vendor, http)),
        VendorConfig::Zendesk(vendor) => Arc::new(zendesk::Zendesk::new(vendor, http)),
        VendorConfig::Alertmanager(vendor) => {
            Arc::new(alertmanager::Alertmanager::new(vendor, http))
        }
        VendorConfig::Webhook(vendor) => Arc::new(webhook::Webhook::new(vendor, http)),
    })
}

/// One configured target at run time.
#[derive(Debug)]
pub struct Target {
    /// Its configuration.
    pub config: TargetConfig,
    /// Its vendor contract.
    pub adapter: Arc<dyn Adapter>,
    /// Its circuit breaker.
    pub circuit: Mutex<Circuit>,
    /// Its request rate limit.
    pub limiter: DefaultDirectRateLimiter,
    /// Woken when the dispatcher created rows for it.
    pub wake: Notify,
}

/// Every target and the delivery settings; shared by workers and the API.
#[derive(Debug)]
pub struct Integrations {
    /// The `[integrations]` configuration.
    pub config: IntegrationsConfig,
    /// Targets in configuration order.
    pub targets: Vec<Arc<Target>>,
}

/// A target as shown by the API.
#[derive(Debug, Clone, Serialize)]
pub struct TargetStatus {
    /// Name.
    pub name: String,
    /// Vendor contract.
    pub kind: &'static str,
    /// Base URL.
    pub url: String,
    /// Whether it gets new deliveries.
    pub enabled: bool,
    /// Circuit breaker state.
    pub circuit: CircuitStatus,
}

impl Integrations {
    /// Builds every target's adapter, client, limiter and breaker.
    pub fn new(config: &IntegrationsConfig) -> Result<Self> {
        config.validate()?;
        let mut targets = Vec::new();
        for target in &config.targets {
            let quota = Quota::per_second(
                NonZeroU32::new(target.rate_per_second).unwrap_or(NonZeroU32::MIN),
            )
            .allow_burst(NonZeroU32::new(target.burst).unwrap_or(NonZeroU32::MIN));
            targets.push(Arc::new(Target {
                adapter: adapter_for(target)?,
                circuit: Mutex::new(Circuit::new(
                    target.circuit_failures,
                    Duration::from_secs(target.circuit_cooldown_s),
                )),
                limiter: RateLimiter::direct(quota),
                wake: Notify::new(),
                config: target.clone(),
            }));
        }
        Ok(Self {
            config: config.clone(),
            targets,
        })
    }

    /// The vendor page of `external_ref` at target `name`, if it has one.
    pub fn ticket_url(&self, name: &str, external_ref: &str) -> Option<String> {
        let target = self.target(name)?;
        target
            .adapter
            .ticket_url(target.config.url.trim_end_matches('/'), external_ref)
    }

    /// The target called `name`.
    pub fn target(&self, name: &str) -> Option<&Arc<Target>> {
        self.targets
            .iter()
            .find(|target| target.config.name == name)
    }

    /// Every target with its circuit state.
    pub fn status(&self) -> Vec<TargetStatus> {
        let now = rollcall_proto::now_ms();
        self.targets
            .iter()
            .map(|target| TargetStatus {
                name: target.config.name.clone(),
                kind: target.config.kind(),
                url: target.config.url.clone(),
                enabled: target.config.enabled,
                circuit: target
                    .circuit
                    .lock()
                    .map(|circuit| circuit.status(now))
                    .unwrap_or_else(|poisoned| poisoned.into_inner().status(now)),
            })
            .collect()
    }

    /// Starts the dispatcher, one delivery worker per target and the
    /// re-senders, all stopping when `shutdown` is cancelled.
    pub async fn spawn(
        self: &Arc<Self>,
        store: Arc<dyn Store>,
        families: Families,
        tasks: &TaskTracker,
        shutdown: CancellationToken,
    ) -> Result<()> {
        store.release_orphaned_claims().await?;
        for target in &self.targets {
            families.declare_target(&target.config.name);
        }
        tasks.spawn(dispatcher::run(
            self.clone(),
            store.clone(),
            shutdown.clone(),
        ));
        for target in &self.targets {
            tasks.spawn(delivery::run(
                target.clone(),
                store.clone(),
                families.clone(),
                self.lease(),
                self.poll_interval(),
                shutdown.clone(),
            ));
            if let Some(interval) = target.adapter.resend_interval() {
                tasks.spawn(delivery::resend_firing(
                    target.clone(),
                    store.clone(),
                    interval,
                    shutdown.clone(),
                ));
            }
        }
        Ok(())
    }

    /// Sends a test trigger and its resolve to `name` through the real
    /// adapter, outside the outbox; returns both answers.
    pub async fn test(&self, name: &str) -> Result<(Outcome, Option<Outcome>)> {
        let target = self
            .target(name)
            .ok_or_else(|| Error::NotFound(format!("integration target {name:?}")))?;
        let mut event = test_event(name);
        target.limiter.until_ready().await;
        let trigger = target.adapter.deliver(&event, None).await;
        let external_ref = match &trigger {
            Ok(delivered) => delivered.external_ref.clone(),
            Err(_) => return Ok((Outcome::from(trigger), None)),
        };
        event.transition = Transition::Resolve;
        event.resolved_at_ms = Some(rollcall_proto::now_ms());
        event.occurred_at_ms = rollcall_proto::now_ms();
        target.limiter.until_ready().await;
        let resolve = target
            .adapter
            .deliver(&event, external_ref.as_deref())
            .await;
        Ok((Outcome::from(trigger), Some(Outcome::from(resolve))))
    }

    fn lease(&self) -> Duration {
        Duration::from_secs(self.config.lease_s)
    }

    fn poll_interval(&self) -> Duration {
        Duration::from_millis(self.config.poll_interval_ms)
    }
}

/// The event `rollcall integrations test` sends.
pub fn test_event(target: &str) -> IncidentEvent {
    let now = rollcall_proto::now_ms();
    IncidentEvent {
        event_id: 0,
        incident_id: format!("test-{now}"),
        dedup_key: format!("rollcall-test:{target}:{now}"),
        transition: Transition::Trigger,
        rule: "integration_test".into(),
        severity: Severity::Info,
        summary: format!("Rollcall integration test for target {target}"),
        description: "A test event sent by `rollcall integrations test`; it is resolved at once."
            .into(),
        ci: CiRef {
            id: "rollcall-test".into(),
            name: "rollcall-test".into(),
            fqdn: String::new(),
            class: "linux_server".into(),
            tags: Vec::new(),
        },
        business_services: Vec::new(),
        opened_at_ms: now,
        resolved_at_ms: None,
        occurred_at_ms: now,
        details: serde_json::json!({ "test": true }),
        previous_severity: None,
    }
}

/// A sample event for the adapters' unit tests.
#[cfg(test)]
pub(crate) mod tests_support {
    use super::*;

    /// `web1` down, critical, in business service `shop`, at 2024-05-01T12:00:00Z.
    pub fn event(transition: Transition) -> IncidentEvent {
        IncidentEvent {
            event_id: 7,
            incident_id: "inc-1".into(),
            dedup_key: "h1:host_down".into(),
            transition,
            rule: "host_down".into(),
            severity: Severity::Critical,
            summary: "web1 is down".into(),
            description: "no heartbeat since 11:59:30".into(),
            ci: CiRef {
                id: "h1".into(),
                name: "web1".into(),
                fqdn: "web1.example".into(),
                class: "linux_server".into(),
                tags: vec!["prod".into()],
            },
            business_services: vec!["shop".into()],
            opened_at_ms: 1_714_564_800_000,
            resolved_at_ms: (transition == Transition::Resolve).then_some(1_714_565_400_000),
            occurred_at_ms: 1_714_564_800_000,
            details: serde_json::json!({ "last_heartbeat_ms": 1_714_564_770_000_i64 }),
            previous_severity: None,
        }
    }
}
