//! Zendesk: creates a ticket (`POST /api/v2/tickets.json`) with a hash of
//! our dedup key as `external_id` and an `Idempotency-Key` header per
//! event, after looking for an unsolved ticket with that `external_id`, so
//! redeliveries never open a second ticket; solves it on resolve (`PUT
//! status solved`). The look-up (`?external_id=`) and the header hold only
//! the hash (see `lookup`), never the agent-chosen key, which could carry
//! line breaks into a header or exceed the field's length.

pub mod config;

use async_trait::async_trait;
use serde_json::{Value, json};

use super::http::Http;
use super::lookup::correlation_id;
use super::{Adapter, Delivered, DeliveryError, node_name};
use crate::incidents::event::{IncidentEvent, Severity, Transition};
use config::ZendeskConfig;

/// The Zendesk adapter.
#[derive(Debug)]
pub struct Zendesk {
    config: ZendeskConfig,
    http: Http,
}

/// Zendesk priority: urgent, high, normal, low.
pub fn priority(severity: Severity) -> &'static str {
    match severity {
        Severity::Critical => "urgent",
        Severity::Major => "high",
        Severity::Minor | Severity::Warning => "normal",
        Severity::Info => "low",
    }
}

/// The `Idempotency-Key` of an event: the same for every redelivery of it,
/// and a valid header value whatever the dedup key holds.
pub fn idempotency_key(event: &IncidentEvent) -> String {
    format!(
        "{}-{}",
        correlation_id(&event.dedup_key).replace(':', "-"),
        event.event_id
    )
}

/// The body that creates a ticket.
pub fn create_body(config: &ZendeskConfig, event: &IncidentEvent) -> Value {
    let mut tags = vec!["rollcall".to_string(), event.rule.clone()];
    tags.extend(config.ticket_tags.iter().cloned());
    json!({
        "ticket": {
            "subject": event.summary,
            "comment": {
                "body": format!(
                    "{}\n\nCI: {} ({})\nSeverity: {}\nRollcall incident: {}\nDedup key: {}",
                    event.description, node_name(&event.ci), event.ci.class,
                    event.severity.as_str(), event.incident_id, event.dedup_key
                ),
            },
            "external_id": correlation_id(&event.dedup_key),
            "priority": priority(event.severity),
            "tags": tags,
        }
    })
}

/// The body that updates a ticket for a later transition.
pub fn update_body(event: &IncidentEvent) -> Value {
    match event.transition {
        Transition::Resolve => json!({ "ticket": {
            "status": "solved",
            "comment": { "body": format!("Resolved in Rollcall: {} recovered.", node_name(&event.ci)), "public": false },
        }}),
        Transition::Acknowledge => json!({ "ticket": {
            "status": "open",
            "comment": { "body": "Acknowledged in Rollcall.", "public": false },
        }}),
        _ => json!({ "ticket": {
            "priority": priority(event.severity),
            "comment": { "body": format!("Updated in Rollcall: {}", event.summary), "public": false },
        }}),
    }
}

impl Zendesk {
    /// An adapter for `config`.
    pub fn new(config: ZendeskConfig, http: Http) -> Self {
        Self { config, http }
    }

    /// An unsolved ticket with our `external_id`, if any.
    async fn find_unsolved(&self, dedup_key: &str) -> Result<Option<String>, DeliveryError> {
        let external_id = correlation_id(dedup_key);
        let request = self
            .http
            .request(reqwest::Method::GET, "/api/v2/tickets.json")
            .query(&[("external_id", external_id.as_str())]);
        let answer = self.http.send_ok(request).await?;
        Ok(answer.json()["tickets"].as_array().and_then(|tickets| {
            tickets
                .iter()
                .filter(|ticket| ticket["external_id"] == external_id.as_str())
                .find(|ticket| !matches!(ticket["status"].as_str(), Some("solved" | "closed")))
                .and_then(|ticket| ticket["id"].as_i64())
                .map(|id| id.to_string())
        }))
    }

    async fn send_event(
        &self,
        event: &IncidentEvent,
        known_ref: Option<&str>,
    ) -> Result<Delivered, DeliveryError> {
        let ticket = match known_ref {
            Some(known) if event.transition != Transition::Trigger => Some(known.to_string()),
            _ => self.find_unsolved(&event.dedup_key).await?,
        };
        match (event.transition, ticket) {
            (Transition::Trigger, Some(id)) => Ok(Delivered {
                external_ref: Some(id),
                detail: "an unsolved ticket with this external_id exists; not created again".into(),
            }),
            (Transition::Trigger, None) => {
                let request = self
                    .http
                    .request(reqwest::Method::POST, "/api/v2/tickets.json")
                    .header("Idempotency-Key", idempotency_key(event))
                    .json(&create_body(&self.config, event));
                let answer = self.http.send_ok(request).await?;
                let Some(id) = answer.json()["ticket"]["id"].as_i64() else {
                    return Err(DeliveryError::Final {
                        error: format!(
                            "created, but the answer has no ticket.id: {}",
                            answer.summary()
                        ),
                    });
                };
                Ok(Delivered {
                    external_ref: Some(id.to_string()),
                    detail: answer.summary(),
                })
            }
            (_, None) => Ok(Delivered::skipped(
                "no unsolved Zendesk ticket for this incident",
            )),
            (_, Some(id)) => {
                let request = self
                    .http
                    .request(reqwest::Method::PUT, &format!("/api/v2/tickets/{id}.json"))
                    .json(&update_body(event));
                let answer = self.http.send_ok(request).await?;
                Ok(Delivered {
                    external_ref: Some(id),
                    detail: answer.summary(),
                })
            }
        }
    }
}

#[async_trait]
impl Adapter for Zendesk {
    async fn deliver(
        &self,
        event: &IncidentEvent,
        known_ref: Option<&str>,
    ) -> Result<Delivered, DeliveryError> {
        self.send_event(event, known_ref).await
    }

    fn ticket_url(&self, base_url: &str, external_ref: &str) -> Option<String> {
        Some(format!(
            "{base_url}/agent/tickets/{}",
            super::encode_component(external_ref)
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::integrations::tests_support::event;

    #[test]
    fn ticket_has_external_id_priority_and_tags() {
        let config = ZendeskConfig {
            ticket_tags: vec!["ops".into()],
            ..ZendeskConfig::default()
        };
        let body = create_body(&config, &event(Transition::Trigger));
        assert_eq!(
            body["ticket"]["external_id"],
            correlation_id("h1:host_down")
        );
        assert_eq!(body["ticket"]["priority"], "urgent");
        assert_eq!(
            body["ticket"]["tags"],
            json!(["rollcall", "host_down", "ops"])
        );
        assert!(body["ticket"]["comment"]["body"].is_string());
        assert_eq!(
            idempotency_key(&event(Transition::Trigger)),
            format!("{}-7", correlation_id("h1:host_down").replace(':', "-"))
        );
        let mut hostile = event(Transition::Trigger);
        hostile.dedup_key = "h1:failed_check:a\r\nX-Evil: 1".into();
        assert!(reqwest::header::HeaderValue::from_str(&idempotency_key(&hostile)).is_ok());
    }

    #[test]
    fn resolve_solves() {
        assert_eq!(
            update_body(&event(Transition::Resolve))["ticket"]["status"],
            "solved"
        );
    }
}
