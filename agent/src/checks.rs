//! Configured checks: a process is running, a TCP port accepts connections,
//! an HTTP URL answers, a command exits 0. Each runs with a timeout and
//! yields a [`CheckResult`]; nothing here ever runs a command the collector
//! sent, only the ones in the agent's own configuration.

use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use rollcall_proto::v1::CheckResult;
use tokio::net::TcpStream;

mod config;
mod http;

pub use config::{CheckConfig, CheckKind, DEFAULT_TIMEOUT_MS};

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
        CheckKind::Http { url, expect_status } => {
            http::check_http(url, *expect_status, timeout).await
        }
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
        // Asked again for up to 2 s: once (of many CI runs) the first scan,
        // run beside the other tests of this binary, missed the new child.
        let mut result = None;
        for _ in 0..20 {
            let attempt = run(
                CheckKind::Process {
                    name: "sleep".into(),
                },
                None,
            )
            .await;
            if attempt.ok {
                result = Some(attempt);
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        let result = result.expect("a process named sleep within 2 s");
        assert!(result.message.ends_with("process(es) named sleep"));
        child.kill().await.unwrap();
    }
}
