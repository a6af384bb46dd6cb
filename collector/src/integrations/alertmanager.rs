//! Prometheus Alertmanager API v2: `POST /api/v2/alerts` with a JSON array
//! of alerts (labels, annotations, `startsAt`, `endsAt`, `generatorURL`).
//! The labels carry our dedup key, so a redelivery is the same alert;
//! firing alerts are re-sent periodically as Alertmanager expects, and a
//! resolve sets `endsAt`.

pub mod config;

use std::time::Duration;

use async_trait::async_trait;
use serde_json::{Value, json};

use super::http::Http;
use super::{Adapter, Delivered, DeliveryError, node_name, rfc3339};
use crate::incidents::event::{IncidentEvent, Transition};
use config::AlertmanagerConfig;

/// The Alertmanager adapter.
#[derive(Debug)]
pub struct Alertmanager {
    config: AlertmanagerConfig,
    http: Http,
}

/// The alert list for an event; `now_ms` is the resolve time when the
/// event has none.
pub fn body(config: &AlertmanagerConfig, event: &IncidentEvent, now_ms: i64) -> Value {
    let mut labels = json!({
        "alertname": event.rule,
        "instance": node_name(&event.ci),
        "severity": event.severity.as_str(),
        "dedup_key": event.dedup_key,
        "ci_id": event.ci.id,
        "source": "rollcall",
    });
    if let Some(service) = event.business_services.first() {
        labels["business_service"] = json!(service);
    }
    let mut alert = json!({
        "labels": labels,
        "annotations": {
            "summary": event.summary,
            "description": event.description,
            "incident_id": event.incident_id,
        },
        "startsAt": rfc3339(event.opened_at_ms),
    });
    // Alertmanager validates generatorURL as a URI, so it is left out without a console URL.
    if let Some(url) = &config.console_url {
        alert["generatorURL"] = json!(format!(
            "{}/incidents/{}",
            url.trim_end_matches('/'),
            event.incident_id
        ));
    }
    if event.transition == Transition::Resolve {
        alert["endsAt"] = json!(rfc3339(event.resolved_at_ms.unwrap_or(now_ms).min(now_ms)));
    }
    // Labels identify an alert, severity among them: a severity change
    // resolves the alert of the old label set and fires the new one.
    match event.previous_severity {
        Some(previous) if previous != event.severity && event.transition == Transition::Update => {
            let mut old = alert.clone();
            old["labels"]["severity"] = json!(previous.as_str());
            old["endsAt"] = json!(rfc3339(event.occurred_at_ms.min(now_ms)));
            json!([old, alert])
        }
        _ => json!([alert]),
    }
}

impl Alertmanager {
    /// An adapter for `config`.
    pub fn new(config: AlertmanagerConfig, http: Http) -> Self {
        Self { config, http }
    }
}

#[async_trait]
impl Adapter for Alertmanager {
    async fn deliver(
        &self,
        event: &IncidentEvent,
        _known_ref: Option<&str>,
    ) -> Result<Delivered, DeliveryError> {
        let request = self
            .http
            .request(reqwest::Method::POST, "/api/v2/alerts")
            .json(&body(&self.config, event, rollcall_proto::now_ms()));
        let answer = self.http.send_ok(request).await?;
        Ok(Delivered {
            external_ref: None,
            detail: answer.summary(),
        })
    }

    fn resend_interval(&self) -> Option<Duration> {
        Some(Duration::from_secs(self.config.resend_interval_s))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::integrations::tests_support::event;

    #[test]
    fn firing_alert_has_no_end_and_resolved_has_one() {
        let config = AlertmanagerConfig::default();
        let firing = body(&config, &event(Transition::Trigger), 1_714_566_000_000);
        assert_eq!(firing[0]["labels"]["alertname"], "host_down");
        assert_eq!(firing[0]["labels"]["dedup_key"], "h1:host_down");
        assert_eq!(firing[0]["startsAt"], "2024-05-01T12:00:00.000Z");
        assert!(firing[0].get("endsAt").is_none());
        let resolved = body(&config, &event(Transition::Resolve), 1_714_566_000_000);
        let mut update = event(Transition::Update);
        update.previous_severity = Some(crate::incidents::event::Severity::Warning);
        let changed = body(&config, &update, 1_714_566_000_000);
        assert_eq!(changed[0]["labels"]["severity"], "warning");
        assert!(
            changed[0]["endsAt"].is_string(),
            "the old label set is resolved"
        );
        assert_eq!(changed[1]["labels"]["severity"], update.severity.as_str());
        assert!(changed[1].get("endsAt").is_none(), "the new one fires");
        assert_eq!(resolved[0]["endsAt"], "2024-05-01T12:10:00.000Z");
    }
}
