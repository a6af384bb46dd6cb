//! ServiceNow Event Management: `POST /api/global/em/jsonv2` with
//! `{"records": [...]}`; our dedup key is the `message_key`, so repeated
//! events update one alert, and a resolve sends severity `"0"` (clear).

pub mod config;

use async_trait::async_trait;
use serde_json::{Value, json};

use super::http::Http;
use super::{Adapter, Delivered, DeliveryError, gmt_datetime, node_name};
use crate::incidents::event::{IncidentEvent, Severity, Transition};
use config::EventManagementConfig;

/// The Event Management adapter.
#[derive(Debug)]
pub struct EventManagement {
    config: EventManagementConfig,
    http: Http,
}

/// Event Management severity: "1" critical … "5" info, "0" clear.
pub fn severity(event: &IncidentEvent) -> &'static str {
    if event.transition == Transition::Resolve {
        return "0";
    }
    match event.severity {
        Severity::Critical => "1",
        Severity::Major => "2",
        Severity::Minor => "3",
        Severity::Warning => "4",
        Severity::Info => "5",
    }
}

/// The request body.
pub fn body(source: &str, event: &IncidentEvent) -> Value {
    let additional_info = json!({
        "incident_id": event.incident_id,
        "ci_id": event.ci.id,
        "ci_class": event.ci.class,
        "tags": event.ci.tags,
        "business_services": event.business_services,
        "details": event.details,
    });
    let resource = event.details["mount_point"]
        .as_str()
        .or_else(|| event.details["unit"].as_str())
        .unwrap_or(&event.ci.name);
    let time = if event.transition == Transition::Resolve {
        event.resolved_at_ms.unwrap_or(event.occurred_at_ms)
    } else {
        event.occurred_at_ms
    };
    json!({
        "records": [{
            "source": source,
            "node": node_name(&event.ci),
            "type": event.rule,
            "resource": resource,
            "metric_name": event.rule,
            "message_key": event.dedup_key,
            "severity": severity(event),
            "description": if event.description.is_empty() { &event.summary } else { &event.description },
            // ServiceNow wants a string here, holding JSON.
            "additional_info": additional_info.to_string(),
            "time_of_event": gmt_datetime(time),
        }]
    })
}

impl EventManagement {
    /// An adapter for `config`.
    pub fn new(config: EventManagementConfig, http: Http) -> Self {
        Self { config, http }
    }
}

#[async_trait]
impl Adapter for EventManagement {
    async fn deliver(
        &self,
        event: &IncidentEvent,
        _known_ref: Option<&str>,
    ) -> Result<Delivered, DeliveryError> {
        if event.transition == Transition::Acknowledge {
            return Ok(Delivered::skipped(
                "event management has no acknowledge; alerts are acknowledged in ServiceNow",
            ));
        }
        let request = self
            .http
            .request(reqwest::Method::POST, "/api/global/em/jsonv2")
            .json(&body(&self.config.source, event));
        let answer = self.http.send_ok(request).await?;
        Ok(Delivered {
            external_ref: Some(event.dedup_key.clone()),
            detail: answer.summary(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::integrations::tests_support::event;

    #[test]
    fn record_has_every_field_with_string_types() {
        let body = body("Rollcall", &event(Transition::Trigger));
        let record = &body["records"][0];
        assert_eq!(record["source"], "Rollcall");
        assert_eq!(record["node"], "web1.example");
        assert_eq!(record["severity"], "1");
        assert_eq!(record["message_key"], "h1:host_down");
        assert_eq!(record["time_of_event"], "2024-05-01 12:00:00");
        let info: Value =
            serde_json::from_str(record["additional_info"].as_str().unwrap()).unwrap();
        assert_eq!(info["incident_id"], "inc-1");
    }

    #[test]
    fn resolve_clears_with_severity_0() {
        let body = body("Rollcall", &event(Transition::Resolve));
        assert_eq!(body["records"][0]["severity"], "0");
        assert_eq!(body["records"][0]["time_of_event"], "2024-05-01 12:10:00");
    }
}
