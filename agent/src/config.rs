//! Agent configuration: a TOML file with defaults, then `ROLLCALL_*`
//! environment overrides, then validation.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::checks::CheckConfig;
#[cfg(test)]
use crate::checks::CheckKind;
use crate::error::{Error, Result};

/// The whole agent configuration.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AgentConfig {
    /// Collector endpoints (`https://host:port`), tried in turn.
    pub collectors: Vec<String>,
    /// Where the key, certificates, spool and state live.
    pub state_dir: PathBuf,
    /// Filesystem root discovery reads from (`/`; a fixture tree in tests).
    pub root: PathBuf,
    /// Seconds between heartbeats until the collector says otherwise.
    pub heartbeat_interval_s: u32,
    /// Seconds between health samples until the collector says otherwise.
    pub health_interval_s: u32,
    /// Seconds between inventory scans until the collector says otherwise.
    pub inventory_interval_s: u32,
    /// Largest on-disk spool in bytes.
    pub spool_max_bytes: u64,
    /// Longest wait between reconnect attempts, in seconds.
    pub max_backoff_s: u32,
    /// Gzip the messages of a session (a collector that does not accept gzip
    /// is detected and then sent plain messages anyway).
    pub compress: bool,
    /// Configured health checks.
    pub checks: Vec<CheckConfig>,
    /// The `systemctl` that describes the host under `root`, as a program
    /// and its first arguments (`["chroot", "/host", "systemctl"]` for an
    /// agent in a container with the host's root at `/host`). Unset: the
    /// live host's `systemctl` when `root` is `/`, none under another root
    /// (services and failed units are then unavailable).
    pub systemctl: Option<Vec<String>>,
}

impl Default for AgentConfig {
    fn default() -> Self {
        Self {
            collectors: Vec::new(),
            state_dir: PathBuf::from("/var/lib/rollcall-agent"),
            root: PathBuf::from("/"),
            heartbeat_interval_s: 10,
            health_interval_s: 60,
            inventory_interval_s: 600,
            spool_max_bytes: 16 * 1024 * 1024,
            max_backoff_s: 60,
            compress: true,
            checks: Vec::new(),
            systemctl: None,
        }
    }
}

impl AgentConfig {
    /// Reads `path` if given, applies `ROLLCALL_*` overrides from `env`, validates.
    pub fn load(path: Option<&Path>, env: &HashMap<String, String>) -> Result<Self> {
        let mut config = match path {
            Some(path) => {
                let text = std::fs::read_to_string(path).map_err(|error| {
                    Error::Config(format!("cannot read {}: {error}", path.display()))
                })?;
                toml::from_str(&text)
                    .map_err(|error| Error::Config(format!("{}: {error}", path.display())))?
            }
            None => AgentConfig::default(),
        };
        config.apply_env(env)?;
        config.validate()?;
        Ok(config)
    }

    fn apply_env(&mut self, env: &HashMap<String, String>) -> Result<()> {
        fn number<T: std::str::FromStr>(key: &str, value: &str) -> Result<T> {
            value.parse().map_err(|_| {
                Error::Config(format!(
                    "environment variable {key}={value:?} is not a number"
                ))
            })
        }
        for (key, value) in env {
            match key.as_str() {
                "ROLLCALL_COLLECTORS" => {
                    self.collectors = value
                        .split(',')
                        .map(str::trim)
                        .filter(|s| !s.is_empty())
                        .map(String::from)
                        .collect()
                }
                "ROLLCALL_STATE_DIR" => self.state_dir = PathBuf::from(value),
                "ROLLCALL_ROOT" => self.root = PathBuf::from(value),
                "ROLLCALL_HEARTBEAT_INTERVAL_S" => self.heartbeat_interval_s = number(key, value)?,
                "ROLLCALL_HEALTH_INTERVAL_S" => self.health_interval_s = number(key, value)?,
                "ROLLCALL_INVENTORY_INTERVAL_S" => self.inventory_interval_s = number(key, value)?,
                "ROLLCALL_SPOOL_MAX_BYTES" => self.spool_max_bytes = number(key, value)?,
                "ROLLCALL_MAX_BACKOFF_S" => self.max_backoff_s = number(key, value)?,
                "ROLLCALL_COMPRESS" => {
                    self.compress = match value.trim() {
                        "1" | "true" | "yes" | "on" => true,
                        "0" | "false" | "no" | "off" => false,
                        _ => {
                            return Err(Error::Config(format!(
                                "environment variable {key}={value:?} is not true or false"
                            )));
                        }
                    }
                }
                _ => {}
            }
        }
        Ok(())
    }

    fn validate(&self) -> Result<()> {
        if self.heartbeat_interval_s == 0
            || self.health_interval_s == 0
            || self.inventory_interval_s == 0
        {
            return Err(Error::Config("intervals must be at least 1 second".into()));
        }
        if self.spool_max_bytes < 64 * 1024 {
            return Err(Error::Config(
                "spool_max_bytes must be at least 65536".into(),
            ));
        }
        if self.max_backoff_s == 0 {
            return Err(Error::Config("max_backoff_s must be at least 1".into()));
        }
        for url in &self.collectors {
            crate::enroll::parse_endpoint(url)?;
        }
        if let Some(command) = &self.systemctl
            && command
                .first()
                .is_none_or(|program| program.trim().is_empty())
        {
            return Err(Error::Config(
                "systemctl must name a program, for example [\"systemctl\"]".into(),
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_overrides_and_validates() {
        let env = HashMap::from([
            (
                "ROLLCALL_COLLECTORS".to_string(),
                "https://a:1, https://b:2".to_string(),
            ),
            ("ROLLCALL_HEARTBEAT_INTERVAL_S".to_string(), "3".to_string()),
            ("ROLLCALL_COMPRESS".to_string(), "false".to_string()),
        ]);
        let config = AgentConfig::load(None, &env).unwrap();
        assert_eq!(config.collectors, vec!["https://a:1", "https://b:2"]);
        assert_eq!(config.heartbeat_interval_s, 3);
        assert!(!config.compress);
        assert!(AgentConfig::default().compress);
        let unclear = HashMap::from([("ROLLCALL_COMPRESS".to_string(), "maybe".to_string())]);
        assert!(AgentConfig::load(None, &unclear).is_err());
        let bad = HashMap::from([("ROLLCALL_COLLECTORS".to_string(), "ftp://x".to_string())]);
        assert!(
            AgentConfig::load(None, &bad)
                .unwrap_err()
                .to_string()
                .contains("https://")
        );
    }

    #[test]
    fn unknown_keys_are_rejected() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("agent.toml");
        std::fs::write(&path, "colectors = []\n").unwrap();
        let error = AgentConfig::load(Some(&path), &HashMap::new())
            .unwrap_err()
            .to_string();
        assert!(error.contains("colectors"), "{error}");
    }

    #[test]
    fn systemctl_must_name_a_program() {
        for text in ["systemctl = []", "systemctl = [\" \"]"] {
            let config: AgentConfig = toml::from_str(text).unwrap();
            let error = config.validate().unwrap_err().to_string();
            assert!(error.contains("systemctl must name a program"), "{error}");
        }
        let config: AgentConfig =
            toml::from_str("systemctl = [\"chroot\", \"/host\", \"systemctl\"]").unwrap();
        config.validate().unwrap();
        assert_eq!(config.systemctl.unwrap()[0], "chroot");
    }

    #[test]
    fn example_config_parses_and_names_every_option() {
        let example = include_str!("../../packaging/config/agent.example.toml");
        let parsed: AgentConfig = toml::from_str(example).expect("agent.example.toml parses");
        parsed.validate().expect("agent.example.toml is valid");
        // The values shown are the defaults (but for the example collector).
        let mut shown = serde_json::to_value(&parsed).unwrap();
        let defaults = serde_json::to_value(AgentConfig::default()).unwrap();
        shown["collectors"] = defaults["collectors"].clone();
        assert_eq!(
            shown, defaults,
            "agent.example.toml shows a value that is not the default"
        );
        let documented = crate::example_config::documented_keys(example);
        let mut paths = Vec::new();
        crate::example_config::option_paths(&defaults, "", &mut paths);
        // `checks` is a list (empty by default): its commented-out examples,
        // uncommented, must parse and name every field of every kind.
        let start = example.find("# [[checks]]").expect("a [[checks]] example");
        let uncommented: String = example[start..]
            .lines()
            .map(|line| line.trim_start_matches('#').trim_start())
            .collect::<Vec<_>>()
            .join("\n");
        let with_checks: AgentConfig =
            toml::from_str(&uncommented).expect("the [[checks]] examples parse");
        let kinds = [
            CheckKind::Process { name: "p".into() },
            CheckKind::TcpPort {
                host: "h".into(),
                port: 1,
            },
            CheckKind::Http {
                url: "http://h/".into(),
                expect_status: Some(200),
            },
            CheckKind::Command {
                command: "c".into(),
                args: vec!["a".into()],
            },
        ];
        for kind in kinds {
            let full = CheckConfig {
                name: "n".into(),
                kind,
                interval_s: Some(1),
                timeout_ms: Some(1),
            };
            let full = serde_json::to_value(&full).unwrap();
            let kind = full["type"].as_str().unwrap().to_string();
            assert!(
                with_checks
                    .checks
                    .iter()
                    .any(|check| check.kind.name() == kind),
                "no [[checks]] example of type {kind}"
            );
            crate::example_config::option_paths(&full, "checks", &mut paths);
        }
        paths.retain(|path| path != "checks");
        let missing: Vec<_> = paths
            .iter()
            .filter(|path| !documented.contains(*path))
            .collect();
        assert!(
            missing.is_empty(),
            "agent.example.toml does not document {missing:?}"
        );
    }
}
