//! The settings of a `kind = "webhook"` target (CloudEvents over HTTP,
//! HMAC-signed).

use serde::{Deserialize, Serialize};

use crate::integrations::settings::Auth;
use crate::integrations::settings::{bearer_auth, is_set};

/// What a webhook target adds to the common target fields (its `url` is
/// the full URL posted to).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookConfig {
    /// HMAC-SHA256 secret that signs every body.
    #[serde(default, skip_serializing)]
    pub secret: Option<String>,
    /// Bearer token for receivers that want one.
    #[serde(default, skip_serializing)]
    pub bearer_token: Option<String>,
    /// CloudEvents `source` (none: `urn:rollcall:collector`).
    #[serde(default)]
    pub console_url: Option<String>,
}

impl WebhookConfig {
    /// What is wrong with these settings, if anything.
    pub fn validate(&self) -> Result<(), String> {
        if !is_set(&self.secret) {
            return Err("secret is required to sign requests".into());
        }
        Ok(())
    }

    /// The credentials of every request.
    pub fn auth(&self) -> Auth {
        bearer_auth(&self.bearer_token)
    }
}
