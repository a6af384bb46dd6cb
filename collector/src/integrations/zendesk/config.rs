//! The settings of a `kind = "zendesk"` target.

use serde::{Deserialize, Serialize};

use crate::integrations::settings::Auth;
use crate::integrations::settings::{basic_auth, both_or_neither, is_set};

/// What a Zendesk target adds to the common target fields.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ZendeskConfig {
    /// `agent@example.com/token` (basic auth with an API token).
    #[serde(default)]
    pub username: Option<String>,
    /// The API token.
    #[serde(default, skip_serializing)]
    pub password: Option<String>,
    /// Extra tags on tickets.
    #[serde(default)]
    pub ticket_tags: Vec<String>,
}

impl ZendeskConfig {
    /// What is wrong with these settings, if anything.
    pub fn validate(&self) -> Result<(), String> {
        both_or_neither(&self.username, &self.password, "username and password")?;
        if !is_set(&self.username) {
            return Err("username (`email/token`) and password (API token) are required".into());
        }
        Ok(())
    }

    /// The credentials of every request.
    pub fn auth(&self) -> Auth {
        basic_auth(&self.username, &self.password)
    }
}
