//! Collector configuration: a typed TOML file with defaults, then
//! `ROLLCALL_*` environment overrides, then validation.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

pub mod health;
pub mod listen;

pub use self::health::HealthConfig;
pub use self::listen::{ApiConfig, GrpcConfig};

/// The whole collector configuration.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Directory for the CA, certificates and the embedded database.
    pub data_dir: PathBuf,
    /// Database URL: `sqlite://PATH` or `postgres://…`; default: SQLite in `data_dir`.
    pub database_url: Option<String>,
    /// Address agents connect to (gRPC over mTLS).
    pub grpc_listen: SocketAddr,
    /// Address of the REST API, console and `/metrics`.
    pub api_listen: SocketAddr,
    /// Extra DNS names and IP addresses for the server certificate.
    pub server_names: Vec<String>,
    /// Operator-supplied CA and server certificate (all PEM paths).
    pub tls: TlsConfig,
    /// How the API is served: HTTPS, time-outs, body limit.
    pub api: ApiConfig,
    /// Connection time-outs on the agents' port.
    pub grpc: GrpcConfig,
    /// Intervals the collector asks agents to use.
    pub agents: AgentIntervals,
    /// Ingest limits.
    pub ingest: IngestConfig,
    /// CMDB lifecycle.
    pub cmdb: CmdbConfig,
    /// Outage detection and incident rules.
    pub availability: AvailabilityConfig,
    /// Retention of health samples and their rollups.
    pub health: HealthConfig,
    /// Incident delivery to ITSM and alerting targets.
    #[serde(default)]
    pub integrations: crate::integrations::config::IntegrationsConfig,
}

/// Outage detection, storm control, flap damping and health rule thresholds.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AvailabilityConfig {
    /// Silence after which a host is down (default 3 × heartbeat interval).
    pub down_after_s: Option<f64>,
    /// After a collector start, nobody is declared down for this long (default 2 × down_after).
    pub startup_grace_s: Option<f64>,
    /// Storm control: at least this many hosts going dark together…
    pub storm_min_hosts: usize,
    /// …and at least this share of all monitored hosts open one parent incident.
    pub storm_share: f64,
    /// A host that goes down this many times…
    pub flap_count: usize,
    /// …within this window is flapping…
    pub flap_window_s: u64,
    /// …and its incident resolves only after it stayed up this long.
    pub flap_stable_s: u64,
    /// How often silence is checked, in milliseconds.
    pub tick_ms: u64,
    /// Health rule thresholds.
    pub rules: crate::incidents::engine::HealthRules,
}

impl Default for AvailabilityConfig {
    fn default() -> Self {
        Self {
            down_after_s: None,
            startup_grace_s: None,
            storm_min_hosts: 5,
            storm_share: 0.5,
            flap_count: 3,
            flap_window_s: 600,
            flap_stable_s: 300,
            tick_ms: 250,
            rules: crate::incidents::engine::HealthRules::default(),
        }
    }
}

impl Config {
    /// Silence after which a host is down, in ms.
    pub fn down_after_ms(&self) -> i64 {
        let seconds = self
            .availability
            .down_after_s
            .unwrap_or(3.0 * f64::from(self.agents.heartbeat_interval_s));
        (seconds * 1000.0) as i64
    }

    /// The startup grace period, in ms.
    pub fn startup_grace_ms(&self) -> i64 {
        match self.availability.startup_grace_s {
            Some(seconds) => (seconds * 1000.0) as i64,
            None => 2 * self.down_after_ms(),
        }
    }
}

/// CI lifecycle: active → stale → retired; nothing is deleted.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CmdbConfig {
    /// A host not seen for this long becomes `stale` (default 7 days).
    pub stale_after_s: u64,
    /// A host not seen for this long becomes `retired` (default 60 days).
    pub retire_after_s: u64,
    /// How often the lifecycle is evaluated.
    pub lifecycle_check_interval_s: u64,
    /// How long a host CI's owning agent must have been silent before
    /// another agent whose identity matches may take the CI over (default
    /// 24 h; DESIGN §5 `identity.takeover_after`). A revoked owner's CI may
    /// be taken over at once; a live owner's never.
    pub takeover_after_s: u64,
}

impl Default for CmdbConfig {
    fn default() -> Self {
        Self {
            stale_after_s: 7 * 86_400,
            retire_after_s: 60 * 86_400,
            lifecycle_check_interval_s: 300,
            takeover_after_s: 86_400,
        }
    }
}

impl CmdbConfig {
    /// `takeover_after_s` in milliseconds (saturating).
    pub fn takeover_after_ms(&self) -> i64 {
        i64::try_from(self.takeover_after_s.saturating_mul(1000)).unwrap_or(i64::MAX)
    }
}

/// Operator-supplied certificates; any field left empty is generated.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TlsConfig {
    /// CA certificate that signs agent certificates.
    pub ca_cert: Option<PathBuf>,
    /// The CA's private key.
    pub ca_key: Option<PathBuf>,
    /// Server certificate presented to agents (signed by the CA).
    pub server_cert: Option<PathBuf>,
    /// The server certificate's private key.
    pub server_key: Option<PathBuf>,
}

/// Intervals handed to agents in `Welcome`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AgentIntervals {
    /// Seconds between heartbeats.
    pub heartbeat_interval_s: u32,
    /// Seconds between health samples.
    pub health_interval_s: u32,
    /// Seconds between inventory scans (only changes are sent).
    pub inventory_interval_s: u32,
    /// Days an agent certificate stays valid.
    pub certificate_validity_days: u32,
    /// Seconds an agent certificate stays valid, instead of
    /// `certificate_validity_days` when set (short lives for tests; at least
    /// `MIN_CERTIFICATE_VALIDITY_S`).
    pub certificate_validity_s: Option<u32>,
}

/// Shortest agent certificate life `agents.certificate_validity_s` may set.
pub const MIN_CERTIFICATE_VALIDITY_S: u32 = 30;
/// Longest agent certificate life, in days.
pub const MAX_CERTIFICATE_VALIDITY_DAYS: u32 = 3650;

impl AgentIntervals {
    /// How long the certificates issued to agents stay valid.
    pub fn certificate_validity(&self) -> std::time::Duration {
        match self.certificate_validity_s {
            Some(seconds) => std::time::Duration::from_secs(seconds.into()),
            None => {
                std::time::Duration::from_secs(u64::from(self.certificate_validity_days) * 86_400)
            }
        }
    }
}

impl Default for AgentIntervals {
    fn default() -> Self {
        Self {
            heartbeat_interval_s: 10,
            health_interval_s: 60,
            inventory_interval_s: 600,
            certificate_validity_days: 365,
            certificate_validity_s: None,
        }
    }
}

/// Limits applied to every agent message.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct IngestConfig {
    /// Largest accepted message in bytes.
    pub max_message_bytes: usize,
    /// Sustained messages per second per agent.
    pub per_agent_rate: u32,
    /// Burst allowance per agent.
    pub per_agent_burst: u32,
    /// Sustained messages per second over all agents.
    pub global_rate: u32,
    /// Sustained enrollments per second (all agents together).
    pub enroll_rate: u32,
    /// Enrollments admitted at once before `enroll_rate` applies.
    pub enroll_burst: u32,
    /// Sustained enrollment attempts per second from one source address
    /// (IPv6: one /64), so that a guesser cannot spend the global limit.
    pub enroll_rate_per_source: u32,
    /// Attempts admitted at once from one source before its rate applies.
    pub enroll_burst_per_source: u32,
}

impl Default for IngestConfig {
    fn default() -> Self {
        Self {
            max_message_bytes: rollcall_proto::MAX_MESSAGE_BYTES,
            per_agent_rate: 50,
            per_agent_burst: 500,
            global_rate: 200_000,
            enroll_rate: 50,
            enroll_burst: 200,
            enroll_rate_per_source: 5,
            enroll_burst_per_source: 50,
        }
    }
}

impl Default for Config {
    fn default() -> Self {
        Self {
            data_dir: PathBuf::from("./rollcall-data"),
            database_url: None,
            grpc_listen: SocketAddr::from(([0, 0, 0, 0], 4443)),
            api_listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            server_names: Vec::new(),
            tls: TlsConfig::default(),
            api: ApiConfig::default(),
            grpc: GrpcConfig::default(),
            agents: AgentIntervals::default(),
            ingest: IngestConfig::default(),
            cmdb: CmdbConfig::default(),
            availability: AvailabilityConfig::default(),
            health: HealthConfig::default(),
            integrations: Default::default(),
        }
    }
}

impl Config {
    /// Reads `path` (if given), applies `ROLLCALL_*` overrides from `env`, validates.
    pub fn load(path: Option<&Path>, env: &HashMap<String, String>) -> Result<Self> {
        let mut config = match path {
            Some(path) => {
                let text = std::fs::read_to_string(path).map_err(|error| {
                    Error::Config(format!("cannot read {}: {error}", path.display()))
                })?;
                Self::from_toml(&text)
                    .map_err(|error| Error::Config(format!("{}: {error}", path.display())))?
            }
            None => Self::default(),
        };
        config.apply_env(env)?;
        config.validate()?;
        Ok(config)
    }

    /// Parses a TOML document.
    pub fn from_toml(text: &str) -> std::result::Result<Self, String> {
        toml::from_str(text).map_err(|error| error.to_string())
    }

    fn apply_env(&mut self, env: &HashMap<String, String>) -> Result<()> {
        fn parse<T: std::str::FromStr>(key: &str, value: &str) -> Result<T> {
            value.parse().map_err(|_| {
                Error::Config(format!("environment variable {key}={value:?} is not valid"))
            })
        }
        for (key, value) in env {
            match key.as_str() {
                "ROLLCALL_DATA_DIR" => self.data_dir = PathBuf::from(value),
                "ROLLCALL_DATABASE_URL" => self.database_url = Some(value.clone()),
                "ROLLCALL_GRPC_LISTEN" => self.grpc_listen = parse(key, value)?,
                "ROLLCALL_API_LISTEN" => self.api_listen = parse(key, value)?,
                "ROLLCALL_HEARTBEAT_INTERVAL_S" => {
                    self.agents.heartbeat_interval_s = parse(key, value)?
                }
                "ROLLCALL_HEALTH_INTERVAL_S" => self.agents.health_interval_s = parse(key, value)?,
                "ROLLCALL_INVENTORY_INTERVAL_S" => {
                    self.agents.inventory_interval_s = parse(key, value)?
                }
                "ROLLCALL_SERVER_NAMES" => {
                    self.server_names = value
                        .split(',')
                        .map(str::trim)
                        .filter(|s| !s.is_empty())
                        .map(String::from)
                        .collect()
                }
                _ => {}
            }
        }
        Ok(())
    }

    fn validate(&self) -> Result<()> {
        let intervals = &self.agents;
        if intervals.heartbeat_interval_s == 0
            || intervals.health_interval_s == 0
            || intervals.inventory_interval_s == 0
        {
            return Err(Error::Config(
                "agent intervals must be at least 1 second".into(),
            ));
        }
        if !(1..=MAX_CERTIFICATE_VALIDITY_DAYS).contains(&intervals.certificate_validity_days) {
            return Err(Error::Config(format!(
                "agents.certificate_validity_days must be between 1 and {MAX_CERTIFICATE_VALIDITY_DAYS}"
            )));
        }
        if let Some(seconds) = intervals.certificate_validity_s
            && !(MIN_CERTIFICATE_VALIDITY_S..=MAX_CERTIFICATE_VALIDITY_DAYS * 86_400)
                .contains(&seconds)
        {
            return Err(Error::Config(format!(
                "agents.certificate_validity_s must be between {MIN_CERTIFICATE_VALIDITY_S} and {} (3650 days)",
                MAX_CERTIFICATE_VALIDITY_DAYS * 86_400
            )));
        }
        if self.ingest.max_message_bytes < 1024 {
            return Err(Error::Config(
                "ingest.max_message_bytes must be at least 1024".into(),
            ));
        }
        if self.ingest.per_agent_rate == 0 || self.ingest.global_rate == 0 {
            return Err(Error::Config(
                "ingest rates must be at least 1 message per second".into(),
            ));
        }
        if self.ingest.enroll_rate == 0
            || self.ingest.enroll_burst == 0
            || self.ingest.enroll_rate_per_source == 0
            || self.ingest.enroll_burst_per_source == 0
        {
            return Err(Error::Config(
                "ingest.enroll_rate, enroll_burst and their _per_source forms must be at least 1 (enrollments per second, and at once)".into(),
            ));
        }
        if let Some(url) = &self.database_url
            && !(url.starts_with("sqlite:")
                || url.starts_with("postgres://")
                || url.starts_with("postgresql://"))
        {
            return Err(Error::Config(format!(
                "database_url must start with sqlite:, postgres:// or postgresql://, got {url:?}"
            )));
        }
        if self.cmdb.stale_after_s == 0 || self.cmdb.retire_after_s <= self.cmdb.stale_after_s {
            return Err(Error::Config(
                "cmdb.retire_after_s must be greater than cmdb.stale_after_s > 0".into(),
            ));
        }
        if self.cmdb.lifecycle_check_interval_s == 0 {
            return Err(Error::Config(
                "cmdb.lifecycle_check_interval_s must be at least 1".into(),
            ));
        }
        let availability = &self.availability;
        if availability
            .down_after_s
            .is_some_and(|seconds| !(0.5..=86_400.0).contains(&seconds))
        {
            return Err(Error::Config(
                "availability.down_after_s must be between 0.5 and 86400".into(),
            ));
        }
        if availability
            .startup_grace_s
            .is_some_and(|seconds| !(0.0..=86_400.0).contains(&seconds))
        {
            return Err(Error::Config(
                "availability.startup_grace_s must be between 0 and 86400".into(),
            ));
        }
        if !(0.0..=1.0).contains(&availability.storm_share) || availability.storm_min_hosts == 0 {
            return Err(Error::Config(
                "availability.storm_share must be in 0..1 and storm_min_hosts at least 1".into(),
            ));
        }
        if availability.tick_ms == 0 || availability.flap_count == 0 {
            return Err(Error::Config(
                "availability.tick_ms and flap_count must be at least 1".into(),
            ));
        }
        self.integrations.validate()?;
        self.health.validate()?;
        self.api.validate(self.api_listen)?;
        self.grpc.validate()?;
        let tls = &self.tls;
        if tls.ca_cert.is_some() != tls.ca_key.is_some() {
            return Err(Error::Config(
                "tls.ca_cert and tls.ca_key must be given together".into(),
            ));
        }
        if tls.server_cert.is_some() != tls.server_key.is_some() {
            return Err(Error::Config(
                "tls.server_cert and tls.server_key must be given together".into(),
            ));
        }
        Ok(())
    }

    /// The database URL in effect (SQLite in the data directory by default).
    pub fn effective_database_url(&self) -> String {
        match &self.database_url {
            Some(url) => url.clone(),
            None => format!(
                "sqlite://{}?mode=rwc",
                self.data_dir.join("rollcall.db").display()
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_keys_are_rejected() {
        let error = Config::from_toml("grpc_listen = \"127.0.0.1:1\"\nbogus = 1\n").unwrap_err();
        assert!(error.contains("bogus"), "{error}");
    }

    #[test]
    fn environment_overrides_file() {
        let env = HashMap::from([
            (
                "ROLLCALL_API_LISTEN".to_string(),
                "127.0.0.1:9999".to_string(),
            ),
            ("ROLLCALL_HEARTBEAT_INTERVAL_S".to_string(), "2".to_string()),
        ]);
        let config = Config::load(None, &env).unwrap();
        assert_eq!(config.api_listen.port(), 9999);
        assert_eq!(config.agents.heartbeat_interval_s, 2);
    }

    #[test]
    fn bad_environment_value_is_a_clear_error() {
        let env = HashMap::from([("ROLLCALL_GRPC_LISTEN".to_string(), "nope".to_string())]);
        let error = Config::load(None, &env).unwrap_err().to_string();
        assert!(error.contains("ROLLCALL_GRPC_LISTEN"), "{error}");
    }

    #[test]
    fn the_enrollment_limit_is_configurable_and_never_zero() {
        let config =
            Config::from_toml("[ingest]\nenroll_rate = 2000\nenroll_burst = 5000\n").unwrap();
        config.validate().unwrap();
        assert_eq!(
            (config.ingest.enroll_rate, config.ingest.enroll_burst),
            (2000, 5000)
        );
        let defaults = Config::default();
        assert_eq!(
            (defaults.ingest.enroll_rate, defaults.ingest.enroll_burst),
            (50, 200)
        );
        for text in [
            "[ingest]\nenroll_rate = 0\n",
            "[ingest]\nenroll_burst = 0\n",
            "[ingest]\nenroll_rate_per_source = 0\n",
            "[ingest]\nenroll_burst_per_source = 0\n",
        ] {
            let error = Config::from_toml(text).unwrap().validate().unwrap_err();
            assert!(error.to_string().contains("ingest.enroll_rate"), "{error}");
        }
    }

    #[test]
    fn bad_database_url_is_rejected() {
        let error = Config::from_toml("database_url = \"mysql://x\"").map(|c| c.validate());
        assert!(matches!(error, Ok(Err(Error::Config(_)))));
    }

    #[test]
    fn example_config_parses_and_names_every_option() {
        let example = include_str!("../../packaging/config/collector.example.toml");
        let parsed = Config::from_toml(example).expect("collector.example.toml parses");
        parsed.validate().expect("collector.example.toml is valid");
        // The values set (not commented out) are the defaults.
        let shown = serde_json::to_value(&parsed).unwrap();
        let defaults = serde_json::to_value(Config::default()).unwrap();
        assert_eq!(
            shown, defaults,
            "collector.example.toml shows a value that is not the default"
        );
        let documented = rollcall_agent::example_config::documented_keys(example);
        let mut paths = Vec::new();
        rollcall_agent::example_config::option_paths(&defaults, "", &mut paths);
        let missing: Vec<_> = paths
            .iter()
            .filter(|path| !documented.contains(*path))
            .collect();
        assert!(
            missing.is_empty(),
            "collector.example.toml does not document {missing:?}"
        );
    }
}
