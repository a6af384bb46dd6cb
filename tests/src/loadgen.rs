//! `rollcall-loadgen`: simulates many agents in one process against a real
//! collector (DESIGN §9): enrolls them in bulk, holds their mTLS sessions,
//! sends heartbeats, health, snapshots and deltas, kills some silently or
//! cleanly, and measures sessions held, ingest rates, ack latency, time
//! from a silent failure to an incident and to its delivery at a webhook,
//! and the collector's memory and CPU. `fleet` makes the agents, `session`
//! runs one, `metrics` counts. A run goes through phases, one module each:
//! `connect` (enroll and bring every session up), `steady` (the measured
//! window and the kill), `detection` (incidents of the killed agents, with
//! `webhook` receiving their deliveries) and `report` (the JSON report and
//! its table).

pub mod fleet;
pub mod metrics;
pub mod session;

mod connect;
mod detection;
mod report;
mod steady;
mod webhook;

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::Result;
use serde_json::Value;

pub use report::table;

/// What to simulate and measure.
#[derive(Debug, Clone, clap::Parser)]
#[command(
    name = "rollcall-loadgen",
    about = "Simulate many rollcall agents against a collector and measure it"
)]
pub struct Options {
    /// The collector's agent endpoint, `https://127.0.0.1:PORT`.
    #[arg(long)]
    pub collector: String,
    /// The collector's API, `http://127.0.0.1:PORT`.
    #[arg(long)]
    pub api: String,
    /// An admin API token (creates the enrollment token, reads incidents).
    #[arg(long, env = "ROLLCALL_LOADGEN_ADMIN_TOKEN")]
    pub admin_token: String,
    /// SHA-256 fingerprint of the collector CA, as the collector prints it.
    #[arg(long)]
    pub ca_fingerprint: String,
    /// Number of simulated agents.
    #[arg(long, default_value_t = 100)]
    pub agents: usize,
    /// Directory caching the agents' credentials (per collector CA).
    #[arg(long, default_value = "loadgen-cache")]
    pub cache_dir: PathBuf,
    /// Seconds measured after every session is up (or the connect phase ended).
    #[arg(long, default_value_t = 30.0)]
    pub duration_s: f64,
    /// Longest wait for every session to come up, seconds.
    #[arg(long, default_value_t = 300.0)]
    pub connect_timeout_s: f64,
    /// Heartbeat interval in ms, overriding the collector's (default: Welcome's).
    #[arg(long)]
    pub heartbeat_ms: Option<u64>,
    /// Health interval in ms, overriding the collector's.
    #[arg(long)]
    pub health_ms: Option<u64>,
    /// Deltas per second over all agents (0: none).
    #[arg(long, default_value_t = 0.0)]
    pub delta_rate: f64,
    /// Send a full snapshot when each agent first connects, asked or not.
    #[arg(long)]
    pub snapshot_on_connect: bool,
    /// Share of each agent's packages at a differing version.
    #[arg(long, default_value_t = 0.1)]
    pub variation: f64,
    /// Packages per agent at most (default: all of this machine's).
    #[arg(long, default_value_t = usize::MAX)]
    pub max_packages: usize,
    /// Agents that go silent (stop sending, keep the connection) at the kill.
    #[arg(long, default_value_t = 0)]
    pub kill_silent: usize,
    /// Agents that close their stream at the kill.
    #[arg(long, default_value_t = 0)]
    pub kill_clean: usize,
    /// When to kill, seconds into the measured window.
    #[arg(long, default_value_t = 5.0)]
    pub kill_at_s: f64,
    /// Kill on command instead of at `--kill-at-s`: when the load generator
    /// receives SIGUSR1 (`kill -USR1 PID`) during the measured window.
    #[arg(long)]
    pub kill_on_signal: bool,
    /// Longest wait for the incidents of killed agents, seconds after the kill.
    #[arg(long, default_value_t = 60.0)]
    pub detect_timeout_s: f64,
    /// Loopback source addresses to spread connections over (127.100.x.y).
    #[arg(long, default_value_t = 64)]
    pub source_addresses: usize,
    /// TLS handshakes in flight at once.
    #[arg(long, default_value_t = 64)]
    pub connect_concurrency: usize,
    /// PID of the collector, to read its RSS and CPU from /proc.
    #[arg(long)]
    pub collector_pid: Option<u32>,
    /// Listen here for the collector's webhook deliveries (`POST /hook`)
    /// and measure incident → delivery time.
    #[arg(long)]
    pub webhook_listen: Option<SocketAddr>,
    /// Count host_down incidents opened during the run for agents that were
    /// not killed (false incidents), at the end.
    #[arg(long, default_value_t = true)]
    pub count_false_incidents: bool,
    /// Name of the scenario, copied into the report.
    #[arg(long, default_value = "custom")]
    pub scenario: String,
    /// Write the report as JSON here.
    #[arg(long)]
    pub json: Option<PathBuf>,
}

/// Runs the load and returns the report.
pub async fn run(options: Options) -> Result<Value> {
    let nofile = rlimit::increase_nofile_limit(u64::MAX).unwrap_or(0);
    let run_start_ms = rollcall_proto::now_ms();
    // Installed first: SIGUSR1's default action would end the process.
    let kill_command = steady::kill_command(&options)?;
    let deliveries = match options.webhook_listen {
        Some(address) => Some(webhook::start_webhook(address).await?),
        None => None,
    };
    let enrolled = connect::enroll(&options).await?;
    let (mut running, connected) = connect::connect(&options, enrolled).await?;
    let window = steady::measure(&options, &running, kill_command).await;
    // Detection of the killed agents, then false incidents, then stop.
    let outcome = detection::observe(&options, &running.context, deliveries, run_start_ms).await;
    running.stop.cancel();
    while running.tasks.join_next().await.is_some() {}
    Ok(report::assemble(
        &options, nofile, &running, connected, window, outcome,
    ))
}
