//! The parts of the footprint benchmark (`rollcall-agent-bench`):
//! `process` measures running processes from /proc, `daemon` runs and stops
//! them, `rollcall` runs and times our agent, `sockets` holds open sockets
//! on the host for the inventory time with 20,000 of them, `messages`
//! encodes its messages, and `node_exporter`, `zabbix` and `fusioninventory` drive the
//! tools it is compared with.

pub mod daemon;
pub mod fusioninventory;
pub mod messages;
pub mod node_exporter;
pub mod process;
pub mod rollcall;
pub mod sockets;
pub mod zabbix;

use std::path::{Path, PathBuf};

use anyhow::{Result, bail};

/// A monitoring tool the agent is compared with, as Debian packages it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, clap::ValueEnum)]
pub enum Peer {
    /// Prometheus' node_exporter, scraped over HTTP.
    NodeExporter,
    /// Zabbix agent 2, polled in passive mode.
    ZabbixAgent2,
    /// FusionInventory agent, a full inventory to a local XML file.
    #[value(name = "fusioninventory")]
    FusionInventory,
}

impl Peer {
    /// The name used in reports and JSON keys.
    pub fn name(self) -> &'static str {
        match self {
            Peer::NodeExporter => "node_exporter",
            Peer::ZabbixAgent2 => "zabbix_agent2",
            Peer::FusionInventory => "fusioninventory",
        }
    }

    /// The Debian package that ships it.
    pub fn debian_package(self) -> &'static str {
        match self {
            Peer::NodeExporter => node_exporter::DEBIAN_PACKAGE,
            Peer::ZabbixAgent2 => zabbix::DEBIAN_PACKAGE,
            Peer::FusionInventory => fusioninventory::DEBIAN_PACKAGE,
        }
    }

    /// Where the Debian package installs its program.
    pub fn default_binary(self) -> &'static str {
        match self {
            Peer::NodeExporter => node_exporter::DEFAULT_BINARY,
            Peer::ZabbixAgent2 => zabbix::DEFAULT_BINARY,
            Peer::FusionInventory => fusioninventory::DEFAULT_BINARY,
        }
    }

    /// The program to run: `configured` or the packaged path; an error that
    /// names the package to install when it is not there (never a skip).
    pub fn locate(self, configured: Option<&Path>) -> Result<PathBuf> {
        let path = configured
            .map(Path::to_path_buf)
            .unwrap_or_else(|| PathBuf::from(self.default_binary()));
        if !path.is_file() {
            bail!(
                "cannot compare with {}: no program at {}; install Debian's package `{}` \
                 (apt-get install {}) or give its path",
                self.name(),
                path.display(),
                self.debian_package(),
                self.debian_package()
            );
        }
        Ok(path)
    }
}

/// `ours / theirs`, or null when theirs is zero or unknown.
pub fn ratio(ours: f64, theirs: f64) -> serde_json::Value {
    if theirs > 0.0 && ours.is_finite() && theirs.is_finite() {
        serde_json::json!((ours / theirs * 1000.0).round() / 1000.0)
    } else {
        serde_json::Value::Null
    }
}

/// Length of `bytes` gzip-compressed at flate2's default level.
pub fn gzip_len(bytes: &[u8]) -> Result<usize> {
    use std::io::Write;
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    encoder.write_all(bytes)?;
    Ok(encoder.finish()?.len())
}

/// The machine a run was on, and how busy it was (load average, TCP
/// sockets), for the report.
pub fn machine() -> serde_json::Value {
    let read = |path: &str| std::fs::read_to_string(path).unwrap_or_default();
    let cpuinfo = read("/proc/cpuinfo");
    let cpu = cpuinfo
        .lines()
        .find_map(|line| line.strip_prefix("model name")?.split_once(':'))
        .map(|(_, name)| name.trim().to_string());
    let os_release = read("/etc/os-release");
    let os = os_release
        .lines()
        .find_map(|line| line.strip_prefix("PRETTY_NAME="))
        .map(|name| name.trim_matches('"').to_string());
    serde_json::json!({
        "cpu": cpu,
        "cores": std::thread::available_parallelism().map(usize::from).ok(),
        "memory_kib": process::proc_field("/proc/meminfo", "MemTotal"),
        "kernel": read("/proc/sys/kernel/osrelease").trim(),
        "os": os,
        // Our inventory maps listening ports to processes through every
        // process's open files, so its time grows with the host's sockets.
        "tcp_sockets": read("/proc/net/tcp").lines().count().saturating_sub(1)
            + read("/proc/net/tcp6").lines().count().saturating_sub(1),
        "load_average": read("/proc/loadavg").split_whitespace().take(3).collect::<Vec<_>>().join(" "),
        "unix_time_s": std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|since| since.as_secs())
            .unwrap_or(0),
    })
}

/// The first line a program prints for `--version`-like `flag`.
pub fn version(binary: &Path, flag: &str) -> String {
    std::process::Command::new(binary)
        .arg(flag)
        .stderr(std::process::Stdio::null())
        .output()
        .ok()
        .and_then(|output| {
            String::from_utf8_lossy(&output.stdout)
                .lines()
                .next()
                .map(str::to_string)
        })
        .unwrap_or_default()
}
