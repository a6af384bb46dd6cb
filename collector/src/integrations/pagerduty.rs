//! PagerDuty Events API v2: `POST /v2/enqueue` with `routing_key`,
//! `event_action` (trigger | acknowledge | resolve) and our dedup key as
//! PagerDuty's `dedup_key`, which makes redeliveries idempotent. 202 is
//! accepted, 400 is final, 429 and 5xx are retried.

pub mod config;

use async_trait::async_trait;
use serde_json::{Value, json};

use super::http::{Http, shorten};
use super::{Adapter, Delivered, DeliveryError, node_name, rfc3339};
use crate::incidents::event::{IncidentEvent, Severity, Transition};
use config::PagerDutyConfig;

/// The PagerDuty adapter.
#[derive(Debug)]
pub struct PagerDuty {
    config: PagerDutyConfig,
    http: Http,
}

/// PagerDuty's severity enum: critical, error, warning, info.
pub fn severity(severity: Severity) -> &'static str {
    match severity {
        Severity::Critical => "critical",
        Severity::Major => "error",
        Severity::Minor | Severity::Warning => "warning",
        Severity::Info => "info",
    }
}

/// The `/v2/enqueue` body for an event.
pub fn body(routing_key: &str, event: &IncidentEvent) -> Value {
    let action = match event.transition {
        Transition::Trigger | Transition::Update => "trigger",
        Transition::Acknowledge => "acknowledge",
        Transition::Resolve => "resolve",
    };
    let mut body = json!({
        "routing_key": routing_key,
        "event_action": action,
        "dedup_key": event.dedup_key,
    });
    if action == "trigger" {
        body["payload"] = json!({
            "summary": shorten(&event.summary, 1024),
            "source": node_name(&event.ci),
            "severity": severity(event.severity),
            "timestamp": rfc3339(event.occurred_at_ms),
            "component": event.ci.name,
            "group": event.business_services.first().cloned().unwrap_or_default(),
            "class": event.rule,
            "custom_details": {
                "incident_id": event.incident_id,
                "description": event.description,
                "ci_id": event.ci.id,
                "ci_class": event.ci.class,
                "tags": event.ci.tags,
                "business_services": event.business_services,
                "details": event.details,
            },
        });
        body["client"] = json!("Rollcall");
    }
    body
}

impl PagerDuty {
    /// An adapter for `config`.
    pub fn new(config: PagerDutyConfig, http: Http) -> Self {
        Self { config, http }
    }
}

#[async_trait]
impl Adapter for PagerDuty {
    async fn deliver(
        &self,
        event: &IncidentEvent,
        _known_ref: Option<&str>,
    ) -> Result<Delivered, DeliveryError> {
        let routing_key = self.config.routing_key.as_deref().unwrap_or_default();
        let request = self
            .http
            .request(reqwest::Method::POST, "/v2/enqueue")
            .json(&body(routing_key, event));
        let answer = self.http.send_ok(request).await?;
        Ok(Delivered {
            external_ref: answer.json()["dedup_key"]
                .as_str()
                .map(String::from)
                .or_else(|| Some(event.dedup_key.clone())),
            detail: answer.summary(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::integrations::tests_support::event;

    #[test]
    fn trigger_carries_the_full_payload() {
        let body = body("R1", &event(Transition::Trigger));
        assert_eq!(body["routing_key"], "R1");
        assert_eq!(body["event_action"], "trigger");
        assert_eq!(body["dedup_key"], "h1:host_down");
        assert_eq!(body["payload"]["severity"], "critical");
        assert_eq!(body["payload"]["source"], "web1.example");
        assert_eq!(body["payload"]["timestamp"], "2024-05-01T12:00:00.000Z");
        assert_eq!(body["payload"]["class"], "host_down");
        assert_eq!(body["payload"]["group"], "shop");
    }

    #[test]
    fn resolve_and_acknowledge_carry_only_the_key() {
        let resolve = body("R1", &event(Transition::Resolve));
        assert_eq!(resolve["event_action"], "resolve");
        assert!(resolve.get("payload").is_none());
        let ack = body("R1", &event(Transition::Acknowledge));
        assert_eq!(ack["event_action"], "acknowledge");
    }

    #[test]
    fn severities_map_to_the_pagerduty_enum() {
        assert_eq!(severity(Severity::Major), "error");
        assert_eq!(severity(Severity::Minor), "warning");
        assert_eq!(severity(Severity::Info), "info");
    }
}
