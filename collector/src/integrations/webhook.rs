//! Generic webhook: a CloudEvents 1.0 structured-mode JSON envelope whose
//! `data` is the incident event, signed with
//! `X-Rollcall-Signature: sha256=<hex HMAC-SHA256 of the body>`. The
//! CloudEvents `id` is stable per incident event, so receivers can drop
//! redeliveries.

pub mod config;

use async_trait::async_trait;
use hmac::{Hmac, Mac};
use serde_json::{Value, json};
use sha2::Sha256;

use super::http::Http;
use super::{Adapter, Delivered, DeliveryError, rfc3339};
use crate::incidents::event::IncidentEvent;
use config::WebhookConfig;

/// The signature header.
pub const SIGNATURE_HEADER: &str = "X-Rollcall-Signature";

/// The webhook adapter.
#[derive(Debug)]
pub struct Webhook {
    config: WebhookConfig,
    http: Http,
}

/// The CloudEvents envelope of an event.
pub fn envelope(config: &WebhookConfig, event: &IncidentEvent) -> Value {
    json!({
        "specversion": "1.0",
        "id": format!("rollcall-{}-{}", event.event_id, event.dedup_key),
        "source": config.console_url.clone().unwrap_or_else(|| "urn:rollcall:collector".into()),
        "type": format!("com.rollcall.incident.{}", event.transition.as_str()),
        "subject": event.dedup_key,
        "time": rfc3339(event.occurred_at_ms),
        "datacontenttype": "application/json",
        "data": event,
    })
}

/// `sha256=<hex>` HMAC-SHA256 of `body` under `secret`.
pub fn signature(secret: &[u8], body: &[u8]) -> String {
    // HMAC takes keys of any length; the error case cannot happen.
    let mut mac = match Hmac::<Sha256>::new_from_slice(secret) {
        Ok(mac) => mac,
        Err(_) => return String::new(),
    };
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

impl Webhook {
    /// An adapter for `config`.
    pub fn new(config: WebhookConfig, http: Http) -> Self {
        Self { config, http }
    }
}

#[async_trait]
impl Adapter for Webhook {
    async fn deliver(
        &self,
        event: &IncidentEvent,
        _known_ref: Option<&str>,
    ) -> Result<Delivered, DeliveryError> {
        let body = match serde_json::to_vec(&envelope(&self.config, event)) {
            Ok(body) => body,
            Err(error) => {
                return Err(DeliveryError::Final {
                    error: format!("cannot encode the event: {error}"),
                });
            }
        };
        let secret = self.config.secret.as_deref().unwrap_or_default();
        let request = self
            .http
            .request(reqwest::Method::POST, "")
            .header(
                reqwest::header::CONTENT_TYPE,
                "application/cloudevents+json; charset=utf-8",
            )
            .header(SIGNATURE_HEADER, signature(secret.as_bytes(), &body))
            .body(body);
        let answer = self.http.send_ok(request).await?;
        Ok(Delivered {
            external_ref: None,
            detail: answer.summary(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::incidents::event::Transition;
    use crate::integrations::tests_support::event;

    #[test]
    fn envelope_is_cloudevents_1_0() {
        let config = WebhookConfig::default();
        let envelope = envelope(&config, &event(Transition::Resolve));
        assert_eq!(envelope["specversion"], "1.0");
        assert_eq!(envelope["type"], "com.rollcall.incident.resolve");
        assert_eq!(envelope["id"], "rollcall-7-h1:host_down");
        assert_eq!(envelope["datacontenttype"], "application/json");
        assert_eq!(envelope["data"]["incident_id"], "inc-1");
        assert_eq!(envelope["time"], "2024-05-01T12:00:00.000Z");
    }

    #[test]
    fn signature_matches_rfc_4231_test_case_2() {
        assert_eq!(
            signature(b"Jefe", b"what do ya want for nothing?"),
            "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }
}
