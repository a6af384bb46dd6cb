//! The settings of a `kind = "servicenow_em"` target (ServiceNow Event
//! Management).

use serde::{Deserialize, Serialize};

use crate::integrations::settings::Auth;
use crate::integrations::settings::{basic_auth, both_or_neither, is_set};

/// What a ServiceNow Event Management target adds to the common target fields.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EventManagementConfig {
    /// Basic auth user.
    #[serde(default)]
    pub username: Option<String>,
    /// Basic auth password.
    #[serde(default, skip_serializing)]
    pub password: Option<String>,
    /// `source` of events.
    #[serde(default = "default_source")]
    pub source: String,
}

fn default_source() -> String {
    "Rollcall".into()
}

impl Default for EventManagementConfig {
    fn default() -> Self {
        Self {
            username: None,
            password: None,
            source: default_source(),
        }
    }
}

impl EventManagementConfig {
    /// What is wrong with these settings, if anything.
    pub fn validate(&self) -> Result<(), String> {
        both_or_neither(&self.username, &self.password, "username and password")?;
        if !is_set(&self.username) {
            return Err("username and password are required (basic auth)".into());
        }
        Ok(())
    }

    /// The credentials of every request.
    pub fn auth(&self) -> Auth {
        basic_auth(&self.username, &self.password)
    }
}
