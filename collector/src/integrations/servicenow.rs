//! ServiceNow Table API: creates an `incident` (with a hash of our dedup
//! key as `correlation_id`, after looking for an open one with that hash,
//! so a redelivery never creates a second), updates it on acknowledge and
//! update, and resolves it with `PATCH state=6, close_code, close_notes`.
//! Basic auth, or OAuth with the password grant at `/oauth_token.do`.
//! No agent-chosen text goes into `sysparm_query` (see `lookup`): the
//! incident is looked up by `rollcall:<sha256 hex>`, the CI by name only
//! when the name is a plain host name, and every answer is checked to be
//! the record asked for.

pub mod config;

use std::time::{Duration, Instant};

use async_trait::async_trait;
use serde_json::{Value, json};
use tokio::sync::Mutex;

use super::http::{Http, with_auth};
use super::lookup::{correlation_id, is_plain_host_name, is_sys_id};
use super::settings::Auth;
use super::{Adapter, Delivered, DeliveryError, node_name};
use crate::incidents::event::{IncidentEvent, Severity, Transition};
use config::ServiceNowConfig;

/// The ServiceNow Table API adapter.
#[derive(Debug)]
pub struct ServiceNow {
    config: ServiceNowConfig,
    http: Http,
    token: Mutex<Option<(String, Instant)>>,
}

/// ServiceNow impact and urgency ("1" high … "3" low) for a severity.
pub fn impact_urgency(severity: Severity) -> (&'static str, &'static str) {
    match severity {
        Severity::Critical => ("1", "1"),
        Severity::Major => ("1", "2"),
        Severity::Minor => ("2", "2"),
        Severity::Warning => ("2", "3"),
        Severity::Info => ("3", "3"),
    }
}

/// The body that creates an incident.
pub fn create_body(
    config: &ServiceNowConfig,
    event: &IncidentEvent,
    cmdb_ci: Option<&str>,
) -> Value {
    let (impact, urgency) = impact_urgency(event.severity);
    let mut body = json!({
        "short_description": event.summary,
        "description": format!("{}\n\nRollcall dedup key: {}", event.description, event.dedup_key),
        "impact": impact,
        "urgency": urgency,
        "correlation_id": correlation_id(&event.dedup_key),
        "correlation_display": "Rollcall",
        "category": config.category.clone().unwrap_or_else(|| "hardware".into()),
    });
    if let Some(group) = &config.assignment_group {
        body["assignment_group"] = json!(group);
    }
    if let Some(ci) = cmdb_ci {
        body["cmdb_ci"] = json!(ci);
    }
    body
}

/// The body that resolves an incident.
pub fn resolve_body(config: &ServiceNowConfig, event: &IncidentEvent) -> Value {
    json!({
        "state": "6",
        "close_code": config.close_code,
        "close_notes": format!("Resolved by Rollcall: {} recovered.", node_name(&event.ci)),
    })
}

/// The body of an acknowledge (In Progress) or update.
pub fn update_body(event: &IncidentEvent) -> Value {
    let (impact, urgency) = impact_urgency(event.severity);
    match event.transition {
        Transition::Acknowledge => json!({
            "state": "2",
            "work_notes": "Acknowledged in Rollcall.",
        }),
        _ => json!({
            "impact": impact,
            "urgency": urgency,
            "work_notes": format!("Updated by Rollcall: {}", event.summary),
        }),
    }
}

/// `sysparm_query` of the open incident with our correlation id: only
/// `[0-9a-z:=^]`, whatever the dedup key holds.
pub fn open_incident_query(dedup_key: &str) -> String {
    format!("correlation_id={}^active=true", correlation_id(dedup_key))
}

/// `sysparm_query` of the CI named `name`, if `name` is a plain host name
/// (anything else could carry `^OR…`; such a CI is not looked up).
pub fn ci_query(name: &str) -> Option<String> {
    is_plain_host_name(name).then(|| format!("name={name}"))
}

/// The sys_id of the first record of a look-up whose `field` is `expected`
/// (ignoring case, as the instance compares), and a valid sys_id: an answer
/// that is not the record asked for is not used.
fn first_sys_id(answer: &Value, field: &str, expected: &str) -> Option<String> {
    answer["result"]
        .as_array()?
        .iter()
        .find(|record| {
            record[field]
                .as_str()
                .is_some_and(|value| value.eq_ignore_ascii_case(expected))
        })?
        .get("sys_id")?
        .as_str()
        .filter(|sys_id| is_sys_id(sys_id))
        .map(String::from)
}

impl ServiceNow {
    /// An adapter for `config`.
    pub fn new(config: ServiceNowConfig, http: Http) -> Self {
        Self {
            config,
            http,
            token: Mutex::new(None),
        }
    }

    async fn auth(&self) -> Result<Auth, DeliveryError> {
        let (Some(client_id), Some(client_secret)) = (
            &self.config.oauth_client_id,
            &self.config.oauth_client_secret,
        ) else {
            return Ok(self.http.auth.clone());
        };
        let mut cached = self.token.lock().await;
        if let Some((token, expires)) = cached.as_ref()
            && Instant::now() < *expires
        {
            return Ok(Auth::Bearer(token.clone()));
        }
        let form = [
            ("grant_type", "password"),
            ("client_id", client_id.as_str()),
            ("client_secret", client_secret.as_str()),
            (
                "username",
                self.config.username.as_deref().unwrap_or_default(),
            ),
            (
                "password",
                self.config.password.as_deref().unwrap_or_default(),
            ),
        ];
        let request = self
            .http
            .client
            .post(format!("{}/oauth_token.do", self.http.base))
            .form(&form);
        let answer = self
            .http
            .send_ok(request)
            .await
            .map_err(|failure| match failure {
                DeliveryError::Final { error } => DeliveryError::Final {
                    error: format!("oauth token request refused: {error}"),
                },
                other => other,
            })?;
        let body = answer.json();
        let token = body["access_token"]
            .as_str()
            .ok_or_else(|| DeliveryError::Final {
                error: format!("oauth answer has no access_token: {}", answer.summary()),
            })?;
        let lifetime = body["expires_in"].as_u64().unwrap_or(1800);
        // Renew a minute early so a token never expires mid-request.
        let expires = Instant::now() + Duration::from_secs(lifetime.saturating_sub(60).max(1));
        *cached = Some((token.to_string(), expires));
        Ok(Auth::Bearer(token.to_string()))
    }

    fn request(&self, auth: &Auth, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        with_auth(
            self.http
                .client
                .request(method, format!("{}{path}", self.http.base))
                .header(reqwest::header::ACCEPT, "application/json"),
            auth,
        )
    }

    /// The sys_id of the open incident with our correlation id, if any.
    async fn find_open(
        &self,
        auth: &Auth,
        dedup_key: &str,
    ) -> Result<Option<String>, DeliveryError> {
        let request = self
            .request(auth, reqwest::Method::GET, "/api/now/table/incident")
            .query(&[
                ("sysparm_query", open_incident_query(dedup_key).as_str()),
                ("sysparm_fields", "sys_id,number,correlation_id"),
                ("sysparm_limit", "1"),
            ]);
        let answer = self.http.send_ok(request).await?;
        Ok(first_sys_id(
            &answer.json(),
            "correlation_id",
            &correlation_id(dedup_key),
        ))
    }

    /// The sys_id of the CI named `name`; `None` without asking when the
    /// name is not a plain host name.
    async fn find_ci(&self, auth: &Auth, name: &str) -> Result<Option<String>, DeliveryError> {
        let Some(query) = ci_query(name) else {
            tracing::debug!(name, "not a plain host name; cmdb_ci not looked up");
            return Ok(None);
        };
        let request = self
            .request(auth, reqwest::Method::GET, "/api/now/table/cmdb_ci")
            .query(&[
                ("sysparm_query", query.as_str()),
                ("sysparm_fields", "sys_id,name"),
                ("sysparm_limit", "1"),
            ]);
        let answer = self.http.send_ok(request).await?;
        Ok(first_sys_id(&answer.json(), "name", name))
    }

    async fn send_event(
        &self,
        event: &IncidentEvent,
        known_ref: Option<&str>,
    ) -> Result<Delivered, DeliveryError> {
        let auth = self.auth().await?;
        let known = match known_ref {
            Some(known) if event.transition != Transition::Trigger && is_sys_id(known) => {
                Some(known.to_string())
            }
            _ => self.find_open(&auth, &event.dedup_key).await?,
        };
        match (event.transition, known) {
            (Transition::Trigger, Some(sys_id)) => Ok(Delivered {
                external_ref: Some(sys_id),
                detail: "an open incident with this correlation_id exists; not created again"
                    .into(),
            }),
            (Transition::Trigger, None) => {
                let cmdb_ci = if self.config.cmdb_ci_lookup {
                    self.find_ci(&auth, &event.ci.name).await?
                } else {
                    Some(node_name(&event.ci).to_string())
                };
                let request = self
                    .request(&auth, reqwest::Method::POST, "/api/now/table/incident")
                    .json(&create_body(&self.config, event, cmdb_ci.as_deref()));
                let answer = self.http.send_ok(request).await?;
                let sys_id = answer.json()["result"]["sys_id"]
                    .as_str()
                    .filter(|sys_id| is_sys_id(sys_id))
                    .map(String::from);
                if sys_id.is_none() {
                    return Err(DeliveryError::Final {
                        error: format!(
                            "created, but the answer has no valid result.sys_id: {}",
                            answer.summary()
                        ),
                    });
                }
                Ok(Delivered {
                    external_ref: sys_id,
                    detail: answer.summary(),
                })
            }
            (_, None) => Ok(Delivered::skipped(
                "no open ServiceNow incident for this correlation_id",
            )),
            (transition, Some(sys_id)) => {
                let body = if transition == Transition::Resolve {
                    resolve_body(&self.config, event)
                } else {
                    update_body(event)
                };
                let request = self
                    .request(
                        &auth,
                        reqwest::Method::PATCH,
                        &format!("/api/now/table/incident/{sys_id}"),
                    )
                    .json(&body);
                let answer = self.http.send_ok(request).await?;
                Ok(Delivered {
                    external_ref: Some(sys_id),
                    detail: answer.summary(),
                })
            }
        }
    }
}

#[async_trait]
impl Adapter for ServiceNow {
    async fn deliver(
        &self,
        event: &IncidentEvent,
        known_ref: Option<&str>,
    ) -> Result<Delivered, DeliveryError> {
        let result = self.send_event(event, known_ref).await;
        if let Err(DeliveryError::Final { error }) = &result
            && error.starts_with("HTTP 401")
        {
            // A stale OAuth token: fetch a new one next time.
            *self.token.lock().await = None;
        }
        result
    }

    fn ticket_url(&self, base_url: &str, external_ref: &str) -> Option<String> {
        Some(format!(
            "{base_url}/nav_to.do?uri=incident.do%3Fsys_id%3D{}",
            super::encode_component(external_ref)
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::integrations::tests_support::event;

    fn config() -> ServiceNowConfig {
        ServiceNowConfig {
            assignment_group: Some("Linux Ops".into()),
            ..ServiceNowConfig::default()
        }
    }

    #[test]
    fn create_body_has_the_table_api_fields() {
        let body = create_body(&config(), &event(Transition::Trigger), Some("abc"));
        assert_eq!(body["short_description"], "web1 is down");
        assert_eq!(body["correlation_id"], correlation_id("h1:host_down"));
        assert!(
            body["description"]
                .as_str()
                .unwrap()
                .ends_with("Rollcall dedup key: h1:host_down")
        );
        assert_eq!(body["correlation_display"], "Rollcall");
        assert_eq!(body["impact"], "1");
        assert_eq!(body["urgency"], "1");
        assert_eq!(body["cmdb_ci"], "abc");
        assert_eq!(body["assignment_group"], "Linux Ops");
        assert_eq!(body["category"], "hardware");
    }

    #[test]
    fn resolve_sets_state_6_with_close_code_and_notes() {
        let body = resolve_body(&config(), &event(Transition::Resolve));
        assert_eq!(body["state"], "6");
        assert_eq!(body["close_code"], "Resolved by caller");
        assert!(
            body["close_notes"]
                .as_str()
                .unwrap()
                .contains("web1.example")
        );
    }

    #[test]
    fn queries_hold_no_agent_chosen_text() {
        for key in ["h1:host_down", "h2:failed_check:x^ORactive=true", "a^NQb=c"] {
            let query = open_incident_query(key);
            assert_eq!(
                query,
                format!("correlation_id={}^active=true", correlation_id(key))
            );
            let value = &query["correlation_id=".len()..query.len() - "^active=true".len()];
            assert!(
                value
                    .chars()
                    .all(|c| c.is_ascii_hexdigit() || c == ':' || c.is_ascii_lowercase())
            );
            assert!(!value.contains('^'));
        }
        assert_eq!(
            ci_query("web1.example").as_deref(),
            Some("name=web1.example")
        );
        assert_eq!(ci_query("evil^ORname=web1"), None);
        assert_eq!(ci_query("javascript:gs.getUserID()"), None);
    }

    #[test]
    fn only_the_record_asked_for_is_used() {
        let sys_id = "0123456789abcdef0123456789abcdef";
        let answer = json!({ "result": [
            { "sys_id": "fedcba9876543210fedcba9876543210", "name": "web10" },
            { "sys_id": sys_id, "name": "WEB1" },
        ]});
        assert_eq!(
            first_sys_id(&answer, "name", "web1").as_deref(),
            Some(sys_id)
        );
        assert_eq!(first_sys_id(&answer, "name", "web2"), None);
        let bad = json!({ "result": [{ "sys_id": "../sys_user/x", "name": "web1" }]});
        assert_eq!(first_sys_id(&bad, "name", "web1"), None);
    }

    #[test]
    fn acknowledge_moves_to_in_progress() {
        assert_eq!(update_body(&event(Transition::Acknowledge))["state"], "2");
    }
}
