//! Our agent for the benchmark: a real collector (SQLite) through the test
//! harness at the intervals under test, and the real `rollcall-agent`
//! binary enrolled with it and running against it.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use serde_json::{Value, json};

use rollcall_proto::v1::Inventory;

use super::daemon::Daemon;
use crate::{Collector, CollectorOptions};

/// Median of `samples` in milliseconds (0 when empty).
pub fn median_ms(mut samples: Vec<Duration>) -> f64 {
    samples.sort();
    samples
        .get(samples.len() / 2)
        .map(|median| median.as_secs_f64() * 1000.0)
        .unwrap_or(0.0)
}

fn agent_inventory(agent: &Path) -> Result<(Duration, Vec<u8>)> {
    let started = Instant::now();
    let output = Command::new(agent)
        .args(["inventory", "--format", "json"])
        .env("ROLLCALL_LOG", "error")
        .stderr(Stdio::null())
        .output()
        .with_context(|| format!("run {}", agent.display()))?;
    let elapsed = started.elapsed();
    if !output.status.success() {
        bail!("{} inventory failed", agent.display());
    }
    Ok((elapsed, output.stdout))
}

/// Runs `agent inventory --format json` `runs` times, the way an operator
/// runs it (process start and JSON output included); returns the median
/// milliseconds and the inventory.
pub fn time_inventory(agent: &Path, runs: usize) -> Result<(f64, Inventory)> {
    let mut wall = Vec::new();
    let mut json_output = Vec::new();
    for _ in 0..runs.max(1) {
        let (elapsed, stdout) = agent_inventory(agent)?;
        wall.push(elapsed);
        json_output = stdout;
    }
    let inventory = serde_json::from_slice(&json_output).context("agent inventory output")?;
    Ok((median_ms(wall), inventory))
}

/// Runs `agent inventory --repeat runs` once: `runs` full inventories in
/// one agent process, the way the running agent collects at each interval
/// (what it remembers between inventories included); returns each
/// collection's milliseconds, in order, as the agent printed them.
pub fn time_repeated(agent: &Path, runs: usize) -> Result<Vec<f64>> {
    let output = Command::new(agent)
        .args([
            "inventory",
            "--format",
            "json",
            "--repeat",
            &runs.to_string(),
        ])
        .env("ROLLCALL_LOG", "error")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .output()
        .with_context(|| format!("run {}", agent.display()))?;
    if !output.status.success() {
        bail!("{} inventory --repeat {runs} failed", agent.display());
    }
    let times: Vec<f64> = String::from_utf8_lossy(&output.stderr)
        .lines()
        .filter_map(|line| {
            line.strip_prefix("inventory ")?
                .split_once(": ")?
                .1
                .strip_suffix(" ms")?
                .parse()
                .ok()
        })
        .collect();
    if times.len() != runs {
        bail!(
            "{} inventory --repeat {runs} printed {} times",
            agent.display(),
            times.len()
        );
    }
    Ok(times)
}

/// The median milliseconds of `runs` full inventories of `/` collected in
/// this process (meaningful only when this program is a release build).
pub async fn time_in_process(runs: usize) -> Result<f64> {
    let mut in_process = Vec::new();
    for _ in 0..runs.max(1) {
        let started = Instant::now();
        let collected = tokio::task::spawn_blocking(|| {
            rollcall_agent::discovery::collect_inventory(Path::new("/"))
        })
        .await?;
        in_process.push(started.elapsed());
        drop(collected);
    }
    Ok(median_ms(in_process))
}

/// The intervals the collector hands the agent, seconds.
#[derive(Debug, Clone, Copy)]
pub struct Intervals {
    /// Heartbeat interval.
    pub heartbeat_s: u32,
    /// Health sampling interval.
    pub health_s: u32,
    /// Inventory interval.
    pub inventory_s: u32,
}

/// An agent running against its own collector.
#[derive(Debug)]
pub struct RunningAgent {
    /// The collector.
    pub collector: Collector,
    /// The agent process.
    pub daemon: Daemon,
}

/// Starts a collector in `dir`, enrolls `agent` with it and runs it,
/// gzipping its messages or not.
pub async fn start(
    agent: &Path,
    dir: &Path,
    intervals: Intervals,
    compress: bool,
) -> Result<RunningAgent> {
    std::fs::create_dir_all(dir)?;
    let collector = Collector::start(
        dir,
        &CollectorOptions {
            extra_toml: format!(
                "[agents]\nheartbeat_interval_s = {}\nhealth_interval_s = {}\ninventory_interval_s = {}\n",
                intervals.heartbeat_s, intervals.health_s, intervals.inventory_s
            ),
            database_url: None,
        },
    )?;
    let state_dir = dir.join("agent");
    let config_path = dir.join("agent.toml");
    std::fs::write(
        &config_path,
        format!(
            "collectors = [{:?}]\nstate_dir = {:?}\ncompress = {compress}\n",
            collector.grpc_url,
            state_dir.display().to_string()
        ),
    )?;
    let token = collector.enrollment_token(1, 600).await?;
    let enrolled = Command::new(agent)
        .arg("--config")
        .arg(&config_path)
        .args([
            "enroll",
            "--collector",
            &collector.grpc_url,
            "--token",
            &token,
        ])
        .args(["--ca-fingerprint", &collector.ca_fingerprint])
        .output()
        .with_context(|| format!("run {}", agent.display()))?;
    if !enrolled.status.success() {
        bail!(
            "enroll failed: {}",
            String::from_utf8_lossy(&enrolled.stderr)
        );
    }
    let mut command = Command::new(agent);
    command
        .arg("--config")
        .arg(&config_path)
        .arg("run")
        .env("ROLLCALL_LOG", "info");
    let daemon = Daemon::start("rollcall-agent", command, &dir.join("agent.log"))?;
    Ok(RunningAgent { collector, daemon })
}

impl RunningAgent {
    /// Waits until the collector has the agent's first inventory.
    pub async fn first_inventory(&self) -> Result<()> {
        self.collector.host_with_inventory().await?;
        Ok(())
    }

    /// Inventory messages (snapshots and deltas) the agent spooled, from its log.
    pub fn inventory_messages(&self) -> usize {
        let log = self.daemon.log_text();
        log.matches("inventory delta spooled").count()
            + log.matches("inventory snapshot spooled").count()
    }

    /// What the collector counted of the agent's session: its encoding,
    /// bytes as received and bytes decoded (from `/metrics`); and the TCP
    /// payload bytes the agent's socket sent (TLS included), from `ss`.
    pub async fn wire(&self) -> Result<Value> {
        let metrics = reqwest::get(format!("{}/metrics", self.collector.api_url))
            .await?
            .text()
            .await?;
        let metric = |name: &str| {
            metrics
                .lines()
                .find_map(|line| line.strip_prefix(name)?.strip_prefix(' '))
                .and_then(|value| value.trim().parse::<u64>().ok())
        };
        let wire = metric("rollcall_session_wire_bytes_total");
        let decoded = metric("rollcall_session_message_bytes_total");
        Ok(json!({
            "gzip_sessions": metric("rollcall_sessions_total{encoding=\"gzip\"}"),
            "identity_sessions": metric("rollcall_sessions_total{encoding=\"identity\"}"),
            "session_body_bytes": wire,
            "session_message_bytes": decoded,
            "body_over_message": match (wire, decoded) {
                (Some(wire), Some(decoded)) => super::ratio(wire as f64, decoded as f64),
                _ => Value::Null,
            },
            "socket_bytes_sent": self.socket_bytes_sent(),
        }))
    }

    /// `bytes_sent` of the agent's established connection to the collector
    /// (`ss -ti`), or None when `ss` is missing or shows none.
    fn socket_bytes_sent(&self) -> Option<u64> {
        let port = self.collector.grpc_url.rsplit(':').next()?;
        let output = Command::new("ss")
            .args(["-tinH", "state", "established", "dst"])
            .arg(format!("127.0.0.1:{port}"))
            .output()
            .ok()?;
        String::from_utf8_lossy(&output.stdout)
            .split_whitespace()
            .find_map(|field| field.strip_prefix("bytes_sent:")?.parse().ok())
    }
}

/// Adds to `after` (a `RunningAgent::wire` report) the bytes per minute
/// spent between `before` and it.
pub fn in_window(before: &Value, mut after: Value, seconds: f64) -> Value {
    let mut window = serde_json::Map::new();
    for key in [
        "session_body_bytes",
        "session_message_bytes",
        "socket_bytes_sent",
    ] {
        let spent = match (before[key].as_u64(), after[key].as_u64()) {
            (Some(before), Some(after)) => {
                json!((after.saturating_sub(before) as f64 * 60.0 / seconds).round())
            }
            _ => Value::Null,
        };
        window.insert(format!("{key}_per_minute"), spent);
    }
    after["in_window"] = Value::Object(window);
    after
}
