//! The filesystem prefix discovery reads from, and small helpers to read
//! files, links and commands under it without ever panicking.

use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// A filesystem root (`/` on the live host, a fixture directory in tests).
#[derive(Debug, Clone)]
pub(crate) struct HostRoot {
    base: PathBuf,
    live: bool,
    systemctl: Option<Vec<String>>,
}

impl HostRoot {
    /// A root at `base`; it is "live" when `base` is `/`, and then
    /// `systemctl` describes it.
    pub(crate) fn new(base: &Path) -> Self {
        let live = base == Path::new("/");
        Self {
            base: base.to_path_buf(),
            live,
            systemctl: live.then(|| vec!["systemctl".to_string()]),
        }
    }

    /// This root with `command` (a program and its first arguments) as the
    /// `systemctl` that describes it; `None` keeps the default.
    pub(crate) fn with_systemctl(mut self, command: Option<&[String]>) -> Self {
        if let Some(command) = command.filter(|command| !command.is_empty()) {
            self.systemctl = Some(command.to_vec());
        }
        self
    }

    /// Runs this root's `systemctl` with `args` (see [`run_command`]);
    /// `None` when no `systemctl` describes the root or the call failed.
    pub(crate) fn systemctl(&self, args: &[&str], timeout: Duration) -> Option<String> {
        let (program, first) = self.systemctl.as_deref()?.split_first()?;
        let all: Vec<&str> = first
            .iter()
            .map(String::as_str)
            .chain(args.iter().copied())
            .collect();
        run_command(program, &all, timeout)
    }

    /// Whether a `systemctl` describes this root.
    pub(crate) fn has_systemctl(&self) -> bool {
        self.systemctl.is_some()
    }

    /// The directory this root is.
    pub(crate) fn base(&self) -> &Path {
        &self.base
    }

    /// Whether this is the running host's own root, so that commands and
    /// system calls describe the same host as the files.
    pub(crate) fn is_live(&self) -> bool {
        self.live
    }

    /// The path of `relative` (given without a leading `/`) under the root.
    pub(crate) fn path(&self, relative: &str) -> PathBuf {
        self.base.join(relative.trim_start_matches('/'))
    }

    /// Reads a text file; invalid UTF-8 is replaced rather than rejected.
    pub(crate) fn read(&self, relative: &str) -> io::Result<String> {
        read_lossy(&self.path(relative))
    }

    /// Reads a small text file and trims it; `None` if unreadable or empty.
    pub(crate) fn read_value(&self, relative: &str) -> Option<String> {
        read_lossy(&self.path(relative))
            .ok()
            .map(|text| text.trim().to_owned())
            .filter(|text| !text.is_empty())
    }

    /// Whether `relative` exists under the root (following symlinks is not
    /// required: a dangling link counts).
    pub(crate) fn exists(&self, relative: &str) -> bool {
        std::fs::symlink_metadata(self.path(relative)).is_ok()
    }
}

/// Reads a file as UTF-8, replacing invalid sequences.
pub(crate) fn read_lossy(path: &Path) -> io::Result<String> {
    let mut bytes = Vec::new();
    std::fs::File::open(path)?.read_to_end(&mut bytes)?;
    Ok(match String::from_utf8(bytes) {
        Ok(text) => text,
        Err(error) => String::from_utf8_lossy(error.as_bytes()).into_owned(),
    })
}

/// Runs a command with a deadline and returns its stdout when it exits 0.
/// Blocking: call it from a blocking thread. The child is killed at the
/// deadline so a hung `systemctl` cannot stall discovery.
pub(crate) fn run_command(program: &str, args: &[&str], timeout: Duration) -> Option<String> {
    let mut child = Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .env("LC_ALL", "C")
        .spawn()
        .ok()?;
    let mut stdout = child.stdout.take()?;
    // Read on a helper thread: a large output would otherwise fill the pipe
    // and the child would never exit.
    let reader = std::thread::spawn(move || {
        let mut bytes = Vec::new();
        let _ = stdout.read_to_end(&mut bytes);
        bytes
    });
    let deadline = Instant::now() + timeout;
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break Some(status),
            Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(5)),
            _ => {
                let _ = child.kill();
                let _ = child.wait();
                break None;
            }
        }
    };
    let bytes = reader.join().ok()?;
    if !status?.success() {
        return None;
    }
    Some(String::from_utf8_lossy(&bytes).into_owned())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn systemctl_is_the_live_hosts_or_the_configured_command() {
        let args = ["list-units", "--plain"];
        let wait = Duration::from_secs(5);
        let fixture = HostRoot::new(Path::new("/tmp/fixture"));
        assert!(!fixture.has_systemctl());
        assert_eq!(fixture.systemctl(&args, wait), None);
        assert!(HostRoot::new(Path::new("/")).has_systemctl());
        // A prefix goes before the arguments.
        let command = ["echo".to_string(), "--root=/host".to_string()];
        let configured = fixture.clone().with_systemctl(Some(&command));
        assert_eq!(
            configured.systemctl(&args, wait).as_deref(),
            Some("--root=/host list-units --plain\n")
        );
        // An empty command keeps the default.
        assert!(!fixture.with_systemctl(Some(&[])).has_systemctl());
    }

    #[test]
    fn run_command_returns_stdout_or_none() {
        let output = run_command("echo", &["hello"], Duration::from_secs(5));
        assert_eq!(output.as_deref(), Some("hello\n"));
        assert_eq!(run_command("false", &[], Duration::from_secs(5)), None);
        assert_eq!(
            run_command("/nonexistent/binary", &[], Duration::from_secs(5)),
            None
        );
        let started = Instant::now();
        assert_eq!(
            run_command("sleep", &["5"], Duration::from_millis(100)),
            None
        );
        assert!(started.elapsed() < Duration::from_secs(3));
    }

    #[test]
    fn paths_stay_under_the_root() {
        let root = HostRoot::new(Path::new("/tmp/fixture"));
        assert_eq!(
            root.path("/etc/hosts"),
            PathBuf::from("/tmp/fixture/etc/hosts")
        );
        assert!(!root.is_live());
        assert!(HostRoot::new(Path::new("/")).is_live());
    }
}
