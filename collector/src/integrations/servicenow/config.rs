//! The settings of a `kind = "servicenow"` target (ServiceNow Table API).

use serde::{Deserialize, Serialize};

use crate::integrations::settings::Auth;
use crate::integrations::settings::{basic_auth, both_or_neither, is_set};

/// What a ServiceNow Table API target adds to the common target fields.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServiceNowConfig {
    /// Basic auth user (also the OAuth password grant's user).
    #[serde(default)]
    pub username: Option<String>,
    /// Basic auth password.
    #[serde(default, skip_serializing)]
    pub password: Option<String>,
    /// OAuth client id (password grant via `/oauth_token.do`).
    #[serde(default)]
    pub oauth_client_id: Option<String>,
    /// OAuth client secret.
    #[serde(default, skip_serializing)]
    pub oauth_client_secret: Option<String>,
    /// `assignment_group` of created incidents.
    #[serde(default)]
    pub assignment_group: Option<String>,
    /// `category` of created incidents (none: `hardware`).
    #[serde(default)]
    pub category: Option<String>,
    /// `close_code` on resolve.
    #[serde(default = "default_close_code")]
    pub close_code: String,
    /// Look `cmdb_ci` up by CI name (else the name is sent as given).
    #[serde(default = "yes")]
    pub cmdb_ci_lookup: bool,
}

fn default_close_code() -> String {
    "Resolved by caller".into()
}

fn yes() -> bool {
    true
}

impl Default for ServiceNowConfig {
    fn default() -> Self {
        Self {
            username: None,
            password: None,
            oauth_client_id: None,
            oauth_client_secret: None,
            assignment_group: None,
            category: None,
            close_code: default_close_code(),
            cmdb_ci_lookup: true,
        }
    }
}

impl ServiceNowConfig {
    /// What is wrong with these settings, if anything.
    pub fn validate(&self) -> Result<(), String> {
        both_or_neither(&self.username, &self.password, "username and password")?;
        both_or_neither(
            &self.oauth_client_id,
            &self.oauth_client_secret,
            "oauth_client_id and oauth_client_secret",
        )?;
        if !is_set(&self.username) {
            return Err(
                "username and password are required (basic auth, or the OAuth password grant)"
                    .into(),
            );
        }
        Ok(())
    }

    /// The default credentials (basic auth; OAuth replaces them per request).
    pub fn auth(&self) -> Auth {
        basic_auth(&self.username, &self.password)
    }
}
