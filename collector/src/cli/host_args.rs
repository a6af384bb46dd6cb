//! The clap definitions of `rollcall hosts list` (every filter of
//! `GET /api/v1/hosts`) and `rollcall hosts attributes …`, and their
//! translation to query parameters and request bodies. Values are checked by
//! the collector, which answers a bad one with a 400 naming it.

use std::collections::BTreeMap;

use clap::{Args, Subcommand};
use serde_json::{Value, json};

use crate::cli::error::{CliError, Result};

/// Filters, sort and fields of `rollcall hosts list`; each is sent only when given.
#[derive(Debug, Clone, Default, Args)]
pub struct ListArgs {
    /// Host name or FQDN: a glob (`web-*`, `db-0?`), or a substring without a wildcard.
    #[arg(long)]
    pub name: Option<String>,
    /// CI class (glob).
    #[arg(long)]
    pub class: Option<String>,
    /// Operating system name (glob).
    #[arg(long)]
    pub os: Option<String>,
    /// Operating system version (glob).
    #[arg(long)]
    pub os_version: Option<String>,
    /// Kernel release (glob).
    #[arg(long)]
    pub kernel: Option<String>,
    /// Presence (up, suspect, down, away, maintenance, retired, unknown).
    #[arg(long)]
    pub presence: Option<String>,
    /// Lifecycle state (active, stale, retired).
    #[arg(long)]
    pub lifecycle: Option<String>,
    /// Carries this tag (repeat for all of several).
    #[arg(long = "tag")]
    pub tags: Vec<String>,
    /// Custom attribute NAME=VALUE (value a glob; repeat for several).
    #[arg(long = "attr", value_name = "NAME=VALUE")]
    pub attributes: Vec<String>,
    /// Member of this business service (id or name).
    #[arg(long)]
    pub service: Option<String>,
    /// Last seen before (RFC 3339 or ms since the epoch).
    #[arg(long)]
    pub last_seen_before: Option<String>,
    /// Last seen at or after (RFC 3339 or ms since the epoch).
    #[arg(long)]
    pub last_seen_after: Option<String>,
    /// CPU model (glob).
    #[arg(long)]
    pub cpu_model: Option<String>,
    /// At least this much memory (bytes).
    #[arg(long)]
    pub memory_min: Option<u64>,
    /// At most this much memory (bytes).
    #[arg(long)]
    pub memory_max: Option<u64>,
    /// System vendor (glob).
    #[arg(long)]
    pub vendor: Option<String>,
    /// System model (glob).
    #[arg(long)]
    pub model: Option<String>,
    /// DMI serial (glob).
    #[arg(long)]
    pub serial: Option<String>,
    /// Hypervisor (`none` for bare metal; glob).
    #[arg(long)]
    pub virtualization: Option<String>,
    /// Only hosts with this package installed…
    #[arg(long)]
    pub software: Option<String>,
    /// …at a version comparing with this one by `--op` (package manager ordering).
    #[arg(long, requires = "software")]
    pub version: Option<String>,
    /// The comparison of `--version`: <, <=, =, >=, > (or lt, le, eq, ge, gt); default =.
    #[arg(long, requires = "version")]
    pub op: Option<String>,
    /// …at a version below this one (as `--version V --op '<'`).
    #[arg(long, requires = "software", conflicts_with = "version")]
    pub version_lt: Option<String>,
    /// Listens on this port.
    #[arg(long)]
    pub port: Option<u16>,
    /// Has this systemd unit failed (glob; `*` for any).
    #[arg(long)]
    pub failed_unit: Option<String>,
    /// Sort key (id, hostname, last_seen_at, first_seen_at, memory_bytes,
    /// os_name, package_count); a leading - for descending.
    #[arg(long, allow_hyphen_values = true)]
    pub sort: Option<String>,
    /// Comma-separated host fields to return.
    #[arg(long)]
    pub fields: Option<String>,
    /// Page size (1 to 1000).
    #[arg(long, default_value_t = 1000)]
    pub limit: u32,
    /// The `next_cursor` of a previous page.
    #[arg(long)]
    pub cursor: Option<String>,
}

impl ListArgs {
    /// The query parameters these arguments ask for.
    pub fn params(&self) -> Result<Vec<(String, String)>> {
        let mut out: Vec<(String, String)> = vec![("limit".into(), self.limit.to_string())];
        let mut push = |key: &str, value: Option<String>| {
            if let Some(value) = value {
                out.push((key.to_string(), value));
            }
        };
        push("name", self.name.clone());
        push("class", self.class.clone());
        push("os", self.os.clone());
        push("os_version", self.os_version.clone());
        push("kernel", self.kernel.clone());
        push("presence", self.presence.clone());
        push("lifecycle", self.lifecycle.clone());
        push("service", self.service.clone());
        push("last_seen_before", self.last_seen_before.clone());
        push("last_seen_after", self.last_seen_after.clone());
        push("cpu_model", self.cpu_model.clone());
        push("memory_min", self.memory_min.map(|n| n.to_string()));
        push("memory_max", self.memory_max.map(|n| n.to_string()));
        push("vendor", self.vendor.clone());
        push("model", self.model.clone());
        push("serial", self.serial.clone());
        push("virtualization", self.virtualization.clone());
        push("software", self.software.clone());
        push("version", self.version.clone());
        push("op", self.op.clone());
        push("version_lt", self.version_lt.clone());
        push("port", self.port.map(|n| n.to_string()));
        push("failed_unit", self.failed_unit.clone());
        push("sort", self.sort.clone());
        push("fields", self.fields.clone());
        push("cursor", self.cursor.clone());
        for tag in &self.tags {
            out.push(("tag".into(), tag.clone()));
        }
        for pair in &self.attributes {
            let (name, value) = split_pair(pair)?;
            out.push((format!("attr.{name}"), value.to_string()));
        }
        Ok(out)
    }
}

/// `NAME=VALUE` split at the first `=`.
fn split_pair(pair: &str) -> Result<(&str, &str)> {
    pair.split_once('=')
        .filter(|(name, _)| !name.is_empty())
        .ok_or_else(|| CliError::Usage(format!("expected NAME=VALUE, got {pair:?}")))
}

/// `rollcall hosts attributes …`
#[derive(Debug, Clone, Subcommand)]
pub enum AttributesCommand {
    /// Show a host's custom attributes.
    Show {
        /// Host id.
        id: String,
    },
    /// Set custom attributes (operator): NAME=VALUE …; others are kept
    /// unless --replace.
    Set {
        /// Host id.
        id: String,
        /// NAME=VALUE pairs (owner=team-a cost_centre=CC-1042 …).
        #[arg(required = true, value_name = "NAME=VALUE")]
        pairs: Vec<String>,
        /// Make these the host's only attributes.
        #[arg(long)]
        replace: bool,
    },
    /// Remove custom attributes (operator).
    Unset {
        /// Host id.
        id: String,
        /// Attribute names.
        #[arg(required = true)]
        names: Vec<String>,
    },
}

/// The JSON body of `attributes set`: `{"attributes": {name: value}}`.
pub fn set_body(pairs: &[String]) -> Result<Value> {
    let mut attributes = BTreeMap::new();
    for pair in pairs {
        let (name, value) = split_pair(pair)?;
        attributes.insert(name.to_string(), Value::String(value.to_string()));
    }
    Ok(json!({ "attributes": attributes }))
}

/// The JSON body of `attributes unset`: each name to `null`.
pub fn unset_body(names: &[String]) -> Value {
    let attributes: BTreeMap<&str, Value> = names
        .iter()
        .map(|name| (name.as_str(), Value::Null))
        .collect();
    json!({ "attributes": attributes })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn list_arguments_become_query_parameters() {
        let args = ListArgs {
            name: Some("web-*".into()),
            tags: vec!["prod".into(), "eu".into()],
            attributes: vec!["owner=team=a".into()],
            software: Some("openssl".into()),
            version: Some("3.0.13".into()),
            op: Some("<".into()),
            port: Some(443),
            limit: 50,
            ..ListArgs::default()
        };
        let params = args.params().expect("params");
        for expected in [
            ("limit", "50"),
            ("name", "web-*"),
            ("tag", "prod"),
            ("tag", "eu"),
            ("attr.owner", "team=a"),
            ("software", "openssl"),
            ("version", "3.0.13"),
            ("op", "<"),
            ("port", "443"),
        ] {
            assert!(
                params.contains(&(expected.0.to_string(), expected.1.to_string())),
                "{expected:?} in {params:?}"
            );
        }
        let bad = ListArgs {
            attributes: vec!["owner".into()],
            ..ListArgs::default()
        };
        assert!(bad.params().is_err());
    }

    #[test]
    fn attribute_bodies() {
        assert_eq!(
            set_body(&["owner=team-a".into(), "location=ber-1".into()]).ok(),
            Some(json!({ "attributes": { "location": "ber-1", "owner": "team-a" } }))
        );
        assert!(set_body(&["=x".into()]).is_err());
        assert_eq!(
            unset_body(&["owner".into()]),
            json!({ "attributes": { "owner": null } })
        );
    }
}
