//! The settings of a `kind = "alertmanager"` target (Prometheus
//! Alertmanager API v2).

use serde::{Deserialize, Serialize};

use crate::integrations::settings::Auth;
use crate::integrations::settings::bearer_auth;

/// What an Alertmanager target adds to the common target fields.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AlertmanagerConfig {
    /// Bearer token (Alertmanager behind a proxy).
    #[serde(default, skip_serializing)]
    pub bearer_token: Option<String>,
    /// Seconds between re-sends of firing alerts.
    #[serde(default = "default_resend")]
    pub resend_interval_s: u64,
    /// Console base URL for each alert's `generatorURL`.
    #[serde(default)]
    pub console_url: Option<String>,
}

fn default_resend() -> u64 {
    60
}

impl Default for AlertmanagerConfig {
    fn default() -> Self {
        Self {
            bearer_token: None,
            resend_interval_s: default_resend(),
            console_url: None,
        }
    }
}

impl AlertmanagerConfig {
    /// What is wrong with these settings, if anything.
    pub fn validate(&self) -> Result<(), String> {
        if self.resend_interval_s == 0 {
            return Err("resend_interval_s must be at least 1".into());
        }
        Ok(())
    }

    /// The credentials of every request.
    pub fn auth(&self) -> Auth {
        bearer_auth(&self.bearer_token)
    }
}
