//! The settings of a `kind = "jira"` target (Jira Service Management).

use serde::{Deserialize, Serialize};

use crate::integrations::settings::Auth;
use crate::integrations::settings::{basic_auth, both_or_neither, is_set};

/// What a Jira Service Management target adds to the common target fields.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JiraConfig {
    /// Account e-mail (basic auth).
    #[serde(default)]
    pub username: Option<String>,
    /// API token.
    #[serde(default, skip_serializing)]
    pub password: Option<String>,
    /// Service desk id.
    #[serde(default)]
    pub service_desk_id: Option<String>,
    /// Request type id.
    #[serde(default)]
    pub request_type_id: Option<String>,
    /// Transition id applied on resolve (none: resolve comments).
    #[serde(default)]
    pub resolve_transition_id: Option<String>,
}

impl JiraConfig {
    /// What is wrong with these settings, if anything.
    pub fn validate(&self) -> Result<(), String> {
        both_or_neither(&self.username, &self.password, "username and password")?;
        if !is_set(&self.username)
            || !is_set(&self.service_desk_id)
            || !is_set(&self.request_type_id)
        {
            return Err(
                "username, password, service_desk_id and request_type_id are required".into(),
            );
        }
        Ok(())
    }

    /// The credentials of every request.
    pub fn auth(&self) -> Auth {
        basic_auth(&self.username, &self.password)
    }
}
