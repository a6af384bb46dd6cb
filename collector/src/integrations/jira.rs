//! Jira Service Management: creates a customer request
//! (`POST /rest/servicedeskapi/request`), comments on acknowledge and
//! update, and on resolve applies the configured transition (with the
//! comment) or comments. The request key is kept as the external reference,
//! so later transitions of the incident reach the same request.
//!
//! Idempotent create: each request carries the label `incident_label`, a
//! hash of our incident id, and before creating one the adapter looks for
//! an issue with that label (`POST /rest/api/3/search/jql`). If a create
//! reached Jira but its answer, or our record of it, was lost (a time-out,
//! a crash before the outbox row was marked delivered), the next attempt
//! finds that request instead of opening a second one. The label is of the
//! incident, not of the dedup key, so an incident opened again later gets
//! a request of its own. (Jira's search index follows a create within
//! about a second; a retry sooner than that could still miss it.)

pub mod config;

use async_trait::async_trait;
use serde_json::{Value, json};

use super::http::{Answer, Http};
use super::lookup::correlation_id;
use super::{Adapter, Delivered, DeliveryError, node_name};
use crate::incidents::event::{IncidentEvent, Transition};
use config::JiraConfig;

/// The Jira Service Management adapter.
#[derive(Debug)]
pub struct Jira {
    config: JiraConfig,
    http: Http,
}

/// The label of every Jira request of one incident: `rollcall:<sha256 hex
/// of the incident id>` (a constant prefix and hex digits only, so it needs
/// no escaping in JQL and carries no agent-chosen text).
pub fn incident_label(incident_id: &str) -> String {
    correlation_id(incident_id)
}

/// The JQL search that finds an incident's request by its label.
pub fn search_body(incident_id: &str) -> Value {
    json!({
        "jql": format!("labels = \"{}\"", incident_label(incident_id)),
        "fields": ["key"],
        "maxResults": 1,
    })
}

/// The body that creates a request.
pub fn create_body(config: &JiraConfig, event: &IncidentEvent) -> Value {
    json!({
        "serviceDeskId": config.service_desk_id,
        "requestTypeId": config.request_type_id,
        "requestFieldValues": {
            "summary": event.summary,
            "labels": [incident_label(&event.incident_id)],
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

    /// The key of the request already made for this incident, if any.
    async fn existing(&self, event: &IncidentEvent) -> Result<Option<String>, DeliveryError> {
        let answer = self
            .post("/rest/api/3/search/jql", search_body(&event.incident_id))
            .await?;
        let body = answer.json();
        let Some(issues) = body["issues"].as_array() else {
            return Err(DeliveryError::Retry {
                error: format!(
                    "the issue search answered without issues: {}",
                    answer.summary()
                ),
                retry_after_ms: None,
            });
        };
        Ok(issues
            .first()
            .and_then(|issue| issue["key"].as_str())
            .map(String::from))
    }

    async fn send_event(
        &self,
        event: &IncidentEvent,
        known_ref: Option<&str>,
    ) -> Result<Delivered, DeliveryError> {
        match (event.transition, known_ref) {
            (Transition::Trigger, None) => {
                if let Some(key) = self.existing(event).await? {
                    return Ok(Delivered {
                        detail: format!(
                            "{key} already exists for this incident; not created again"
                        ),
                        external_ref: Some(key),
                    });
                }
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

    fn ticket_url(&self, base_url: &str, external_ref: &str) -> Option<String> {
        Some(format!(
            "{base_url}/browse/{}",
            super::encode_component(external_ref)
        ))
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
    fn requests_are_labelled_and_found_by_a_hash_of_the_incident() {
        let config = JiraConfig::default();
        let mut hostile = event(Transition::Trigger);
        hostile.incident_id = "x\" OR project = SECRET OR labels = \"y".into();
        let label = incident_label(&hostile.incident_id);
        assert_eq!(
            create_body(&config, &hostile)["requestFieldValues"]["labels"],
            json!([label])
        );
        let jql = search_body(&hostile.incident_id)["jql"]
            .as_str()
            .unwrap()
            .to_string();
        assert_eq!(jql, format!("labels = \"{label}\""));
        assert!(!jql.contains("SECRET"), "{jql}");
        assert_ne!(incident_label("i1"), incident_label("i2"));
    }

    #[test]
    fn comments_say_what_happened() {
        assert!(comment(&event(Transition::Resolve)).starts_with("Resolved"));
        assert!(comment(&event(Transition::Acknowledge)).starts_with("Acknowledged"));
    }
}
