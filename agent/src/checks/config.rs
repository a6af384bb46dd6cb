//! The configuration of a check: a typed [`CheckConfig`] read from the
//! flat TOML form (`name`, `type`, the kind's own fields), rejecting unknown
//! fields and fields of another kind.

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// Timeout of a check whose configuration names none.
pub const DEFAULT_TIMEOUT_MS: u64 = 5_000;

/// One configured check.
///
/// Serialized flat: `name`, `type`, the fields of the kind, `interval_s`,
/// `timeout_ms`. Deserialization goes through a flat mirror struct with
/// `deny_unknown_fields` because serde cannot combine that attribute with
/// `#[serde(flatten)]`; the mirror also rejects fields of another kind.
#[derive(Deserialize, Serialize, Clone, Debug, PartialEq, Eq)]
#[serde(try_from = "FlatCheckConfig")]
pub struct CheckConfig {
    /// Name shown in results.
    pub name: String,
    /// What to check (`type = "process" | "tcp_port" | "http" | "command"`).
    #[serde(flatten)]
    pub kind: CheckKind,
    /// Seconds between runs; the agent's health interval when absent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub interval_s: Option<u64>,
    /// Deadline of one run in milliseconds ([`DEFAULT_TIMEOUT_MS`] if absent).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timeout_ms: Option<u64>,
}

/// The flat configuration form of a [`CheckConfig`].
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FlatCheckConfig {
    name: String,
    #[serde(rename = "type")]
    kind: String,
    interval_s: Option<u64>,
    timeout_ms: Option<u64>,
    process: Option<String>,
    host: Option<String>,
    port: Option<u16>,
    url: Option<String>,
    expect_status: Option<u16>,
    command: Option<String>,
    args: Option<Vec<String>>,
}

impl TryFrom<FlatCheckConfig> for CheckConfig {
    type Error = String;

    fn try_from(flat: FlatCheckConfig) -> Result<Self, Self::Error> {
        let check = flat.name;
        let kind_name = flat.kind;
        let missing = |field: &str| format!("check {check}: {kind_name} check needs `{field}`");
        let kind = match kind_name.as_str() {
            "process" => CheckKind::Process {
                name: flat.process.clone().ok_or_else(|| missing("process"))?,
            },
            "tcp_port" => CheckKind::TcpPort {
                host: flat.host.clone().ok_or_else(|| missing("host"))?,
                port: flat.port.ok_or_else(|| missing("port"))?,
            },
            "http" => CheckKind::Http {
                url: flat.url.clone().ok_or_else(|| missing("url"))?,
                expect_status: flat.expect_status,
            },
            "command" => CheckKind::Command {
                command: flat.command.clone().ok_or_else(|| missing("command"))?,
                args: flat.args.clone().unwrap_or_default(),
            },
            other => {
                return Err(format!(
                    "check {check}: unknown type `{other}`, expected process, tcp_port, http or command"
                ));
            }
        };
        let present = [
            ("process", flat.process.is_some()),
            ("host", flat.host.is_some()),
            ("port", flat.port.is_some()),
            ("url", flat.url.is_some()),
            ("expect_status", flat.expect_status.is_some()),
            ("command", flat.command.is_some()),
            ("args", flat.args.is_some()),
        ];
        let allowed: &[&str] = match kind {
            CheckKind::Process { .. } => &["process"],
            CheckKind::TcpPort { .. } => &["host", "port"],
            CheckKind::Http { .. } => &["url", "expect_status"],
            CheckKind::Command { .. } => &["command", "args"],
        };
        if let Some((field, _)) = present
            .iter()
            .find(|(field, present)| *present && !allowed.contains(field))
        {
            return Err(format!(
                "check {check}: field `{field}` does not apply to a {kind_name} check"
            ));
        }
        Ok(CheckConfig {
            name: check,
            kind,
            interval_s: flat.interval_s,
            timeout_ms: flat.timeout_ms,
        })
    }
}

impl CheckConfig {
    /// The deadline of one run.
    pub fn timeout(&self) -> Duration {
        Duration::from_millis(self.timeout_ms.unwrap_or(DEFAULT_TIMEOUT_MS))
    }
}

/// The kinds of check.
#[derive(Deserialize, Serialize, Clone, Debug, PartialEq, Eq)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum CheckKind {
    /// A process with this command name (or executable base name) runs.
    Process {
        /// Command name as in `/proc/<pid>/comm` or the base name of argv[0];
        /// spelled `process` in configuration so it does not clash with the
        /// check's own `name`.
        #[serde(rename = "process")]
        name: String,
    },
    /// A TCP connection to `host:port` succeeds.
    TcpPort {
        /// Host name or address.
        host: String,
        /// Port.
        port: u16,
    },
    /// A plain `http://` GET answers with the expected status (any 2xx or
    /// 3xx when none is given).
    Http {
        /// The URL; only `http://` is supported.
        url: String,
        /// The status code the check expects.
        #[serde(skip_serializing_if = "Option::is_none")]
        expect_status: Option<u16>,
    },
    /// A command exits with status 0.
    Command {
        /// Program to run (looked up in `PATH`); no shell is involved.
        command: String,
        /// Its arguments.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        args: Vec<String>,
    },
}

impl CheckKind {
    /// The kind's name as in the configuration (`process`, `tcp_port`, …).
    pub fn name(&self) -> &'static str {
        match self {
            CheckKind::Process { .. } => "process",
            CheckKind::TcpPort { .. } => "tcp_port",
            CheckKind::Http { .. } => "http",
            CheckKind::Command { .. } => "command",
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn config_deserializes_from_toml() {
        #[derive(Deserialize)]
        struct Checks {
            check: Vec<CheckConfig>,
        }
        let parse = |text: &str| toml::from_str::<Checks>(text).map(|checks| checks.check);
        // Unknown fields, fields of another kind, missing fields and unknown
        // types are rejected.
        for bad in [
            "[[check]]\nname = \"a\"\ntype = \"process\"\nprocess = \"sshd\"\ncolour = \"red\"\n",
            "[[check]]\nname = \"a\"\ntype = \"process\"\nprocess = \"sshd\"\nport = 22\n",
            "[[check]]\nname = \"a\"\ntype = \"tcp_port\"\nhost = \"localhost\"\n",
            "[[check]]\nname = \"a\"\ntype = \"teleport\"\n",
            "[[check]]\ntype = \"process\"\nprocess = \"sshd\"\n",
        ] {
            assert!(parse(bad).is_err(), "{bad}");
        }
        let error = parse("[[check]]\nname = \"a\"\ntype = \"process\"\nurl = \"http://x\"\n")
            .unwrap_err()
            .to_string();
        assert!(error.contains("needs `process`"), "{error}");
        let sshd = &parse("[[check]]\nname = \"ssh\"\ntype = \"process\"\nprocess = \"sshd\"\n")
            .unwrap()[0];
        assert_eq!(sshd.name, "ssh");
        assert_eq!(
            sshd.kind,
            CheckKind::Process {
                name: "sshd".into()
            }
        );

        let text = r#"
            [[check]]
            name = "web"
            type = "http"
            url = "http://127.0.0.1:8080/health"
            expect_status = 204
            interval_s = 30

            [[check]]
            name = "backup"
            type = "command"
            command = "/usr/local/bin/check-backup"
            args = ["--max-age", "1d"]
            timeout_ms = 2000

            [[check]]
            name = "db"
            type = "tcp_port"
            host = "localhost"
            port = 5432

            [[check]]
            name = "no-args"
            type = "command"
            command = "true"
        "#;
        let checks = parse(text).unwrap();
        assert_eq!(
            checks[0].kind,
            CheckKind::Http {
                url: "http://127.0.0.1:8080/health".into(),
                expect_status: Some(204)
            }
        );
        assert_eq!(checks[0].interval_s, Some(30));
        assert_eq!(checks[1].timeout(), Duration::from_millis(2000));
        assert_eq!(checks[2].kind.name(), "tcp_port");
        assert_eq!(
            checks[3].timeout(),
            Duration::from_millis(DEFAULT_TIMEOUT_MS)
        );
        // Round trip through JSON.
        for check in checks.iter().chain(std::iter::once(sshd)) {
            let json = serde_json::to_string(check).unwrap();
            assert_eq!(
                &serde_json::from_str::<CheckConfig>(&json).unwrap(),
                check,
                "{json}"
            );
        }
        assert!(serde_json::from_str::<CheckConfig>(r#"{"name":"x","type":"teleport"}"#).is_err());
    }
}
