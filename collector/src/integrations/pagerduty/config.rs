//! The settings of a `kind = "pagerduty"` target (PagerDuty Events API v2).

use serde::{Deserialize, Serialize};

use crate::integrations::settings::is_set;

/// What a PagerDuty target adds to the common target fields.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PagerDutyConfig {
    /// The integration (routing) key; it goes in every event, the Events
    /// API takes no other credentials.
    #[serde(default, skip_serializing)]
    pub routing_key: Option<String>,
}

impl PagerDutyConfig {
    /// What is wrong with these settings, if anything.
    pub fn validate(&self) -> Result<(), String> {
        if !is_set(&self.routing_key) {
            return Err("routing_key is required".into());
        }
        Ok(())
    }
}
