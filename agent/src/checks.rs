//! Configured checks: a process is running, a TCP port accepts connections,
//! an HTTP URL answers, a command exits 0. Each runs with a timeout and
//! yields a [`CheckResult`]; nothing here ever runs a command the collector
//! sent, only the ones in the agent's own configuration.

use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use rollcall_proto::v1::CheckResult;
use serde::{Deserialize, Serialize};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Timeout of a check whose configuration names none.
pub const DEFAULT_TIMEOUT_MS: u64 = 5_000;

/// Largest HTTP response head read while looking for the status line.
const MAX_STATUS_LINE: usize = 8 * 1024;

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

/// Runs one check; `root` is the filesystem root for process checks (`/` in
/// production). Never fails: errors become a result with `ok: false`.
pub async fn run_check(cfg: &CheckConfig, root: &Path) -> CheckResult {
    let started = Instant::now();
    let checked_at_ms = rollcall_proto::now_ms();
    let timeout = cfg.timeout();
    let (ok, message) = match &cfg.kind {
        CheckKind::Process { name } => {
            let root = root.to_path_buf();
            let name = name.clone();
            match tokio::task::spawn_blocking(move || check_process(&root, &name)).await {
                Ok(outcome) => outcome,
                Err(error) => (false, format!("process scan failed: {error}")),
            }
        }
        CheckKind::TcpPort { host, port } => check_tcp(host, *port, timeout).await,
        CheckKind::Http { url, expect_status } => check_http(url, *expect_status, timeout).await,
        CheckKind::Command { command, args } => check_command(command, args, timeout).await,
    };
    CheckResult {
        name: cfg.name.clone(),
        kind: cfg.kind.name().to_owned(),
        ok,
        message,
        checked_at_ms,
        duration_ms: started.elapsed().as_millis() as u64,
    }
}

/// Counts processes under `{root}/proc` whose command name or executable
/// base name is `name`. The kernel truncates `comm` to 15 bytes, so a long
/// name also matches its truncation.
fn check_process(root: &Path, name: &str) -> (bool, String) {
    let truncated = name.get(..15).unwrap_or(name);
    let Ok(entries) = std::fs::read_dir(root.join("proc")) else {
        return (false, "/proc unreadable".to_owned());
    };
    let mut count = 0usize;
    for entry in entries.filter_map(|entry| entry.ok()) {
        let is_pid = entry
            .file_name()
            .to_str()
            .is_some_and(|pid| !pid.is_empty() && pid.bytes().all(|byte| byte.is_ascii_digit()));
        if !is_pid {
            continue;
        }
        let comm = std::fs::read_to_string(entry.path().join("comm")).unwrap_or_default();
        let comm = comm.trim_end_matches('\n');
        let matches = comm == name
            || comm == truncated
            || std::fs::read(entry.path().join("cmdline")).is_ok_and(|cmdline| {
                let argv0 = cmdline.split(|byte| *byte == 0).next().unwrap_or_default();
                let base = argv0
                    .rsplit(|byte| *byte == b'/')
                    .next()
                    .unwrap_or_default();
                base == name.as_bytes()
            });
        if matches {
            count += 1;
        }
    }
    if count == 0 {
        (false, format!("no process named {name}"))
    } else {
        (true, format!("{count} process(es) named {name}"))
    }
}

/// Connects to `host:port` within the timeout.
async fn check_tcp(host: &str, port: u16, timeout: Duration) -> (bool, String) {
    match tokio::time::timeout(timeout, TcpStream::connect((host, port))).await {
        Ok(Ok(_)) => (true, format!("connected to {host}:{port}")),
        Ok(Err(error)) => (
            false,
            format!("connection to {host}:{port} failed: {error}"),
        ),
        Err(_) => (false, format!("timed out after {} ms", timeout.as_millis())),
    }
}

/// A parsed `http://host[:port]/path` URL.
#[derive(Debug, PartialEq, Eq)]
struct HttpUrl<'a> {
    host: &'a str,
    port: u16,
    path: String,
}

/// Parses a plain HTTP URL; the error is the check's failure message.
fn parse_http_url(url: &str) -> Result<HttpUrl<'_>, String> {
    if url
        .get(..8)
        .is_some_and(|scheme| scheme.eq_ignore_ascii_case("https://"))
    {
        return Err("https not supported by the agent's built-in check".to_owned());
    }
    let rest = match url.get(..7) {
        Some(scheme) if scheme.eq_ignore_ascii_case("http://") => &url[7..],
        _ => return Err(format!("not an http:// url: {url}")),
    };
    let (authority, path) = match rest.find(['/', '?', '#']) {
        Some(index) => (&rest[..index], &rest[index..]),
        None => (rest, ""),
    };
    // The fragment is never sent; a query without a path gets "/".
    let path = path.split('#').next().unwrap_or("");
    let path = if path.starts_with('/') {
        path.to_owned()
    } else {
        format!("/{path}")
    };
    let authority = authority
        .rsplit_once('@')
        .map_or(authority, |(_, host)| host);
    let (host, port) = if let Some(bracketed) = authority.strip_prefix('[') {
        // [v6]:port
        let (host, after) = bracketed
            .split_once(']')
            .ok_or_else(|| format!("bad host in url: {url}"))?;
        let port = match after.strip_prefix(':') {
            Some(port) => port
                .parse()
                .map_err(|_| format!("bad port in url: {url}"))?,
            None => 80,
        };
        (host, port)
    } else {
        match authority.rsplit_once(':') {
            Some((host, port)) => (
                host,
                port.parse()
                    .map_err(|_| format!("bad port in url: {url}"))?,
            ),
            None => (authority, 80),
        }
    };
    if host.is_empty() {
        return Err(format!("no host in url: {url}"));
    }
    Ok(HttpUrl { host, port, path })
}

/// The status code from an HTTP response's status line.
fn parse_status_line(head: &[u8]) -> Option<u16> {
    let line_end = head.windows(2).position(|pair| pair == b"\r\n")?;
    let line = std::str::from_utf8(&head[..line_end]).ok()?;
    let mut parts = line.split(' ');
    let version = parts.next()?;
    if !version.starts_with("HTTP/") {
        return None;
    }
    parts.next()?.parse().ok()
}

/// Sends a minimal HTTP/1.1 GET and checks the status code.
async fn check_http(url: &str, expect_status: Option<u16>, timeout: Duration) -> (bool, String) {
    let target = match parse_http_url(url) {
        Ok(target) => target,
        Err(message) => return (false, message),
    };
    let exchange = async {
        let mut stream = TcpStream::connect((target.host, target.port))
            .await
            .map_err(|error| {
                format!(
                    "connection to {}:{} failed: {error}",
                    target.host, target.port
                )
            })?;
        let host_header = if target.port == 80 {
            target.host.to_owned()
        } else if target.host.contains(':') {
            format!("[{}]:{}", target.host, target.port)
        } else {
            format!("{}:{}", target.host, target.port)
        };
        let request = format!(
            "GET {} HTTP/1.1\r\nHost: {host_header}\r\nUser-Agent: rollcall-agent/{}\r\nAccept: */*\r\nConnection: close\r\n\r\n",
            target.path,
            env!("CARGO_PKG_VERSION"),
        );
        stream
            .write_all(request.as_bytes())
            .await
            .map_err(|error| format!("sending request failed: {error}"))?;
        let mut head = Vec::with_capacity(256);
        let mut buffer = [0u8; 1024];
        loop {
            if let Some(status) = parse_status_line(&head) {
                return Ok(status);
            }
            if head.len() >= MAX_STATUS_LINE {
                return Err("no http status line in response".to_owned());
            }
            let read = stream
                .read(&mut buffer)
                .await
                .map_err(|error| format!("reading response failed: {error}"))?;
            if read == 0 {
                return Err(if head.is_empty() {
                    "connection closed without a response".to_owned()
                } else {
                    "no http status line in response".to_owned()
                });
            }
            head.extend_from_slice(&buffer[..read]);
        }
    };
    match tokio::time::timeout(timeout, exchange).await {
        Ok(Ok(status)) => {
            let ok = match expect_status {
                Some(expected) => status == expected,
                None => (200..400).contains(&status),
            };
            let message = match (ok, expect_status) {
                (true, _) | (false, None) => format!("http status {status}"),
                (false, Some(expected)) => format!("http status {status}, expected {expected}"),
            };
            (ok, message)
        }
        Ok(Err(message)) => (false, message),
        Err(_) => (false, format!("timed out after {} ms", timeout.as_millis())),
    }
}

/// Runs a command (no shell) and checks that it exits 0 within the timeout;
/// a command still running at the deadline is killed.
async fn check_command(command: &str, args: &[String], timeout: Duration) -> (bool, String) {
    let mut child = match tokio::process::Command::new(command)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
    {
        Ok(child) => child,
        Err(error) => return (false, format!("failed to start {command}: {error}")),
    };
    match tokio::time::timeout(timeout, child.wait()).await {
        Ok(Ok(status)) => match status.code() {
            Some(0) => (true, "exit code 0".to_owned()),
            Some(code) => (false, format!("exit code {code}")),
            None => (false, "killed by a signal".to_owned()),
        },
        Ok(Err(error)) => (false, format!("waiting for {command} failed: {error}")),
        Err(_) => {
            let _ = child.kill().await;
            (false, format!("timed out after {} ms", timeout.as_millis()))
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use tokio::net::TcpListener;

    fn config(kind: CheckKind, timeout_ms: Option<u64>) -> CheckConfig {
        CheckConfig {
            name: "test".into(),
            kind,
            interval_s: None,
            timeout_ms,
        }
    }

    async fn run(kind: CheckKind, timeout_ms: Option<u64>) -> CheckResult {
        run_check(&config(kind, timeout_ms), Path::new("/")).await
    }

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

    #[test]
    fn url_parsing() {
        assert_eq!(
            parse_http_url("http://example.com").unwrap(),
            HttpUrl {
                host: "example.com",
                port: 80,
                path: "/".into()
            }
        );
        assert_eq!(
            parse_http_url("HTTP://127.0.0.1:8080/a/b?c=d").unwrap(),
            HttpUrl {
                host: "127.0.0.1",
                port: 8080,
                path: "/a/b?c=d".into()
            }
        );
        assert_eq!(
            parse_http_url("http://[::1]:9000/x").unwrap(),
            HttpUrl {
                host: "::1",
                port: 9000,
                path: "/x".into()
            }
        );
        assert_eq!(
            parse_http_url("https://example.com/").unwrap_err(),
            "https not supported by the agent's built-in check"
        );
        assert_eq!(parse_http_url("http://h?q=1#frag").unwrap().path, "/?q=1");
        assert!(parse_http_url("ftp://example.com/").is_err());
        assert!(parse_http_url("http://:80/").is_err());
        assert!(parse_http_url("http://host:notaport/").is_err());
        // Non-ASCII input must not panic on slicing.
        assert_eq!(parse_http_url("http://é").unwrap().host, "é");
        assert!(parse_http_url("httpé://x").is_err());
        assert_eq!(parse_status_line(b"HTTP/1.1 204 No Content\r\n"), Some(204));
        assert_eq!(parse_status_line(b"HTTP/1.1 204 No Content"), None);
        assert_eq!(parse_status_line(b"SSH-2.0-OpenSSH\r\n"), None);
    }

    #[tokio::test]
    async fn tcp_port_open_and_closed() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let result = run(
            CheckKind::TcpPort {
                host: "127.0.0.1".into(),
                port,
            },
            None,
        )
        .await;
        assert!(result.ok, "{}", result.message);
        assert_eq!(result.kind, "tcp_port");
        drop(listener);
        let result = run(
            CheckKind::TcpPort {
                host: "127.0.0.1".into(),
                port,
            },
            None,
        )
        .await;
        assert!(!result.ok);
        assert!(result.message.contains("failed"), "{}", result.message);
    }

    /// Serves one canned response per connection.
    async fn serve(response: &'static [u8]) -> u16 {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        tokio::spawn(async move {
            while let Ok((mut stream, _)) = listener.accept().await {
                let mut request = vec![0u8; 4096];
                let read = stream.read(&mut request).await.unwrap_or(0);
                if request[..read].starts_with(b"GET /") && !response.is_empty() {
                    let _ = stream.write_all(response).await;
                }
                if response.is_empty() {
                    // Never answer: the check must time out.
                    tokio::time::sleep(Duration::from_secs(10)).await;
                }
            }
        });
        port
    }

    #[tokio::test]
    async fn http_statuses() {
        let port = serve(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok").await;
        let url = format!("http://127.0.0.1:{port}/health");
        let result = run(
            CheckKind::Http {
                url: url.clone(),
                expect_status: None,
            },
            None,
        )
        .await;
        assert!(result.ok, "{}", result.message);
        assert_eq!(result.message, "http status 200");
        let result = run(
            CheckKind::Http {
                url,
                expect_status: Some(204),
            },
            None,
        )
        .await;
        assert!(!result.ok);
        assert_eq!(result.message, "http status 200, expected 204");

        let port = serve(b"HTTP/1.0 503 Service Unavailable\r\n\r\n").await;
        let url = format!("http://127.0.0.1:{port}/");
        let result = run(
            CheckKind::Http {
                url,
                expect_status: None,
            },
            None,
        )
        .await;
        assert!(!result.ok);
        assert_eq!(result.message, "http status 503");

        let port = serve(b"").await;
        let url = format!("http://127.0.0.1:{port}/");
        let result = run(
            CheckKind::Http {
                url,
                expect_status: None,
            },
            Some(200),
        )
        .await;
        assert!(!result.ok);
        assert_eq!(result.message, "timed out after 200 ms");

        let url = "https://127.0.0.1/".to_owned();
        let result = run(
            CheckKind::Http {
                url,
                expect_status: None,
            },
            None,
        )
        .await;
        assert_eq!(
            result.message,
            "https not supported by the agent's built-in check"
        );
    }

    #[tokio::test]
    async fn commands_exit_codes_and_timeout() {
        let command = |name: &str, args: &[&str]| CheckKind::Command {
            command: name.into(),
            args: args.iter().map(|arg| (*arg).to_owned()).collect(),
        };
        let result = run(command("true", &[]), None).await;
        assert!(result.ok, "{}", result.message);
        let result = run(command("false", &[]), None).await;
        assert!(!result.ok);
        assert_eq!(result.message, "exit code 1");
        let result = run(command("sh", &["-c", "exit 3"]), None).await;
        assert_eq!(result.message, "exit code 3");
        let started = Instant::now();
        let result = run(command("sleep", &["10"]), Some(100)).await;
        assert!(!result.ok);
        assert_eq!(result.message, "timed out after 100 ms");
        assert!(started.elapsed() < Duration::from_secs(5));
        let result = run(command("/nonexistent/check", &[]), None).await;
        assert!(!result.ok);
        assert!(
            result.message.starts_with("failed to start"),
            "{}",
            result.message
        );
    }

    #[tokio::test]
    async fn process_check_on_fixture_and_live_host() {
        let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/host-debian");
        let sshd = config(
            CheckKind::Process {
                name: "sshd".into(),
            },
            None,
        );
        let result = run_check(&sshd, &fixture).await;
        assert!(result.ok, "{}", result.message);
        assert_eq!(result.message, "1 process(es) named sshd");
        let nginx = config(
            CheckKind::Process {
                name: "nginx".into(),
            },
            None,
        );
        let result = run_check(&nginx, &fixture).await;
        assert!(!result.ok);
        assert_eq!(result.message, "no process named nginx");

        let mut child = tokio::process::Command::new("sleep")
            .arg("30")
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        let result = run(
            CheckKind::Process {
                name: "sleep".into(),
            },
            None,
        )
        .await;
        assert!(result.ok, "{}", result.message);
        child.kill().await.unwrap();
    }
}
