//! Zabbix agent 2 as Debian packages it, in passive mode on a loopback
//! port with active checks off, polled the way a Zabbix server polls it:
//! one TCP connection per item, each request and answer framed by the
//! `ZBXD\x01` header (flags, then data length and a reserved field, both
//! 32-bit little-endian, then the key or the value).

use std::net::SocketAddr;
use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use anyhow::{Context, Result, bail};
use rollcall_proto::v1::HealthReport;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_util::sync::CancellationToken;

use super::daemon::Daemon;

/// The Debian package.
pub const DEBIAN_PACKAGE: &str = "zabbix-agent2";
/// Where the package installs the program.
pub const DEFAULT_BINARY: &str = "/usr/sbin/zabbix_agent2";

/// The item polled at the heartbeat interval: Zabbix's liveness check.
pub const PING_ITEM: &str = "agent.ping";

/// Polls done and what they returned.
#[derive(Debug, Default)]
pub struct PollCounts {
    /// Items answered with a value.
    pub values: AtomicU64,
    /// Items answered `ZBX_NOTSUPPORTED` or failed.
    pub failures: AtomicU64,
    /// Bytes received, headers included.
    pub bytes: AtomicU64,
    /// The first failure, for the report.
    pub first_failure: Mutex<Option<String>>,
}

impl PollCounts {
    /// The counts as JSON.
    pub fn to_json(&self) -> Value {
        json!({
            "values": self.values.load(Ordering::Relaxed),
            "failures": self.failures.load(Ordering::Relaxed),
            "bytes_received": self.bytes.load(Ordering::Relaxed),
            "first_failure": self.first_failure.lock().ok().and_then(|first| first.clone()),
        })
    }

    fn failed(&self, error: String) {
        self.failures.fetch_add(1, Ordering::Relaxed);
        if let Ok(mut first) = self.first_failure.lock() {
            first.get_or_insert(error);
        }
    }
}

/// A running Zabbix agent 2.
#[derive(Debug)]
pub struct ZabbixAgent {
    /// The process.
    pub daemon: Daemon,
    /// Where it listens for passive checks.
    pub address: SocketAddr,
}

/// The configuration: passive checks from 127.0.0.1 only, no active checks
/// (no server to send them to), logs to the console.
fn config(port: u16, dir: &Path) -> String {
    format!(
        "LogType=console\nServer=127.0.0.1\nServerActive=\nListenIP=127.0.0.1\nListenPort={port}\n\
         Hostname=rollcall-bench\nControlSocket={}\n",
        dir.join("zabbix_agent2.sock").display()
    )
}

/// Writes a configuration into `dir`, starts `binary` with it and waits
/// until it answers `agent.ping`.
pub async fn start(binary: &Path, dir: &Path) -> Result<ZabbixAgent> {
    let port = listen_port()?;
    let config_path = dir.join("zabbix_agent2.conf");
    std::fs::write(&config_path, config(port, dir))?;
    let mut command = Command::new(binary);
    command.arg("-c").arg(&config_path);
    let mut daemon = Daemon::start("zabbix_agent2", command, &dir.join("zabbix_agent2.log"))?;
    let address: SocketAddr = ([127, 0, 0, 1], port).into();
    for _ in 0..100 {
        daemon.ensure_running()?;
        if get(address, PING_ITEM)
            .await
            .is_ok_and(|(value, _)| value == "1")
        {
            return Ok(ZabbixAgent { daemon, address });
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    bail!("zabbix_agent2 did not answer agent.ping on {address} within 10 s");
}

/// A free loopback port in the range Zabbix accepts for `ListenPort`
/// (1024–32767, below the kernel's ephemeral range).
fn listen_port() -> Result<u16> {
    use rand::Rng;
    for _ in 0..100 {
        let port = rand::rng().random_range(20_000..32_768);
        if std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return Ok(port);
        }
    }
    bail!("no free port between 20000 and 32767 on 127.0.0.1")
}

/// Frames `payload` with the Zabbix protocol header.
fn frame(payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(13 + payload.len());
    out.extend_from_slice(b"ZBXD\x01");
    out.extend_from_slice(&(payload.len() as u32).to_le_bytes());
    out.extend_from_slice(&0u32.to_le_bytes());
    out.extend_from_slice(payload);
    out
}

/// The value inside a framed answer (or an unframed one, which old agents send).
fn unframe(answer: &[u8]) -> Result<&[u8]> {
    let Some(rest) = answer.strip_prefix(b"ZBXD") else {
        return Ok(answer);
    };
    let (&flags, rest) = rest.split_first().context("short Zabbix header")?;
    // Flag 0x04: 64-bit lengths; 0x02: compressed (agent 2 does not
    // compress passive answers unless asked).
    let lengths = if flags & 0x04 != 0 { 16 } else { 8 };
    if flags & 0x02 != 0 {
        bail!("compressed Zabbix answer");
    }
    let length_bytes = rest.get(..4).context("short Zabbix header")?;
    let length = u32::from_le_bytes(length_bytes.try_into()?) as usize;
    rest.get(lengths..lengths + length)
        .context("Zabbix answer shorter than its header says")
}

/// Asks for one item; returns the value and the bytes received.
pub async fn get(address: SocketAddr, key: &str) -> Result<(String, usize)> {
    let exchange = async {
        let mut stream = tokio::net::TcpStream::connect(address).await?;
        stream.write_all(&frame(key.as_bytes())).await?;
        let mut answer = Vec::new();
        stream.read_to_end(&mut answer).await?;
        anyhow::Ok(answer)
    };
    let answer = tokio::time::timeout(Duration::from_secs(10), exchange)
        .await
        .context("no answer within 10 s")??;
    let value = String::from_utf8_lossy(unframe(&answer)?).into_owned();
    if let Some(reason) = value.strip_prefix("ZBX_NOTSUPPORTED") {
        bail!("{key}: not supported{}", reason.replace('\0', ": "));
    }
    Ok((value, answer.len()))
}

/// The items matching what one of our health samples carries: CPU, load,
/// memory, swap, each filesystem's size and use, each interface's traffic,
/// processes and uptime.
pub fn health_items(health: &HealthReport) -> Vec<String> {
    let mut items: Vec<String> = [
        "system.cpu.util",
        "system.cpu.load[all,avg1]",
        "system.cpu.load[all,avg5]",
        "system.cpu.load[all,avg15]",
        "vm.memory.size[used]",
        "vm.memory.size[total]",
        "system.swap.size[,used]",
        "system.swap.size[,total]",
        "proc.num[]",
        "system.uptime",
    ]
    .into_iter()
    .map(String::from)
    .collect();
    for filesystem in &health.filesystems {
        for mode in ["total", "used", "pused"] {
            items.push(format!("vfs.fs.size[{},{mode}]", filesystem.mount_point));
        }
    }
    for interface in &health.interfaces {
        for direction in ["in", "out"] {
            items.push(format!("net.if.{direction}[{}]", interface.name));
        }
    }
    items
}

async fn poll(address: SocketAddr, items: &[String], counts: &PollCounts) {
    for item in items {
        match get(address, item).await {
            Ok((_, bytes)) => {
                counts.values.fetch_add(1, Ordering::Relaxed);
                counts.bytes.fetch_add(bytes as u64, Ordering::Relaxed);
            }
            Err(error) => counts.failed(format!("{error:#}")),
        }
    }
}

/// Polls `agent.ping` every `heartbeat` and `health_items` every `health`
/// (both at once to start with) until `stop`.
pub async fn poll_every(
    address: SocketAddr,
    heartbeat: Duration,
    health: Duration,
    health_items: Vec<String>,
    counts: Arc<PollCounts>,
    stop: CancellationToken,
) {
    let ping = vec![PING_ITEM.to_string()];
    let mut heartbeats = tokio::time::interval(heartbeat);
    let mut samples = tokio::time::interval(health);
    loop {
        tokio::select! {
            _ = heartbeats.tick() => poll(address, &ping, &counts).await,
            _ = samples.tick() => poll(address, &health_items, &counts).await,
            _ = stop.cancelled() => return,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_are_framed_and_answers_unframed() {
        let request = frame(b"agent.ping");
        assert_eq!(&request[..5], b"ZBXD\x01");
        assert_eq!(&request[5..9], &10u32.to_le_bytes());
        assert_eq!(&request[13..], b"agent.ping");
        assert_eq!(unframe(&frame(b"1")).ok(), Some(&b"1"[..]));
        assert_eq!(unframe(b"1").ok(), Some(&b"1"[..]));
        assert!(unframe(&request[..11]).is_err());
    }
}
