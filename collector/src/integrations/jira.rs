//! Jira Service Management: creates a customer request
//! (`POST /rest/servicedeskapi/request`), comments on acknowledge and
//! update, and on resolve applies the configured transition (with the
//! comment) or comments. The request key is kept as the external reference,
//! so later transitions of the incident reach the same request.

pub mod config;

use async_trait::async_trait;
use serde_json::{Value, json};

use super::http::{Answer, Http};
use super::{Adapter, Delivered, DeliveryError, node_name};
use crate::incidents::event::{IncidentEvent, Transition};
use config::JiraConfig;

/// The Jira Service Management adapter.
#[derive(Debug)]
pub struct Jira {
    config: JiraConfig,
    http: Http,
}

/// The body that creates a request.
pub fn create_body(config: &JiraConfig, event: &IncidentEvent) -> Value {
    json!({
        "serviceDeskId": config.service_desk_id,
        "requestTypeId": config.request_type_id,
        "requestFieldValues": {
            "summary": event.summary,
            "description": format!(
                "{}\n\nCI: {} ({})\nSeverity: {}\nRollcall incident: {}\nDedup key: {}",
                event.description,
                node_name(&event.ci),
                event.ci.class,
                event.severity.as_str(),
                event.incident_id,
                event.dedup_key
            ),
        },
    })
}

/// The comment text for a transition.
pub fn comment(event: &IncidentEvent) -> String {
    match event.transition {
        Transition::Trigger => format!("Triggered again in Rollcall: {}", event.summary),
        Transition::Acknowledge => "Acknowledged in Rollcall.".into(),
        Transition::Update => format!(
            "Updated in Rollcall ({}): {}",
            event.severity.as_str(),
            event.summary
        ),
        Transition::Resolve => format!("Resolved in Rollcall: {} recovered.", node_name(&event.ci)),
    }
}

impl Jira {
    /// An adapter for `config`.
    pub fn new(config: JiraConfig, http: Http) -> Self {
        Self { config, http }
    }

    async fn post(&self, path: &str, body: Value) -> Result<Answer, DeliveryError> {
        let request = self.http.request(reqwest::Method::POST, path).json(&body);
        self.http.send_ok(request).await
    }

    async fn send_event(
        &self,
        event: &IncidentEvent,
        known_ref: Option<&str>,
    ) -> Result<Delivered, DeliveryError> {
        match (event.transition, known_ref) {
            (Transition::Trigger, None) => {
                let answer = self
                    .post(
                        "/rest/servicedeskapi/request",
                        create_body(&self.config, event),
                    )
                    .await?;
                let key = answer.json()["issueKey"].as_str().map(String::from);
                if key.is_none() {
                    return Err(DeliveryError::Final {
                        error: format!(
                            "created, but the answer has no issueKey: {}",
                            answer.summary()
                        ),
                    });
                }
                Ok(Delivered {
                    external_ref: key,
                    detail: answer.summary(),
                })
            }
            (_, None) => Ok(Delivered::skipped(
                "no Jira request is known for this incident",
            )),
            (Transition::Resolve, Some(key)) if self.config.resolve_transition_id.is_some() => {
                let body = json!({
                    "id": self.config.resolve_transition_id,
                    "additionalComment": { "body": comment(event) },
                });
                let answer = self
                    .post(
                        &format!("/rest/servicedeskapi/request/{key}/transition"),
                        body,
                    )
                    .await?;
                Ok(Delivered {
                    external_ref: Some(key.to_string()),
                    detail: answer.summary(),
                })
            }
            (_, Some(key)) => {
                let body = json!({ "body": comment(event), "public": false });
                let answer = self
                    .post(&format!("/rest/servicedeskapi/request/{key}/comment"), body)
                    .await?;
                Ok(Delivered {
                    external_ref: Some(key.to_string()),
                    detail: answer.summary(),
                })
            }
        }
    }
}

#[async_trait]
impl Adapter for Jira {
    async fn deliver(
        &self,
        event: &IncidentEvent,
        known_ref: Option<&str>,
    ) -> Result<Delivered, DeliveryError> {
        self.send_event(event, known_ref).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::integrations::tests_support::event;

    #[test]
    fn create_body_has_desk_type_and_fields() {
        let config = JiraConfig {
            service_desk_id: Some("10".into()),
            request_type_id: Some("25".into()),
            ..JiraConfig::default()
        };
        let body = create_body(&config, &event(Transition::Trigger));
        assert_eq!(body["serviceDeskId"], "10");
        assert_eq!(body["requestTypeId"], "25");
        assert_eq!(body["requestFieldValues"]["summary"], "web1 is down");
        assert!(
            body["requestFieldValues"]["description"]
                .as_str()
                .unwrap()
                .contains("h1:host_down")
        );
    }

    #[test]
    fn comments_say_what_happened() {
        assert!(comment(&event(Transition::Resolve)).starts_with("Resolved"));
        assert!(comment(&event(Transition::Acknowledge)).starts_with("Acknowledged"));
    }
}
