//! `rollcall-loadgen`: simulates many agents in one process against a real
//! collector (DESIGN §9): enrolls them in bulk, holds their mTLS sessions,
//! sends heartbeats, health, snapshots and deltas, kills some silently or
//! cleanly, and measures sessions held, ingest rates, ack latency, time
//! from a silent failure to an incident and to its delivery at a webhook,
//! and the collector's memory and CPU. `fleet` makes the agents, `session`
//! runs one, `metrics` counts.

pub mod fleet;
pub mod metrics;
pub mod session;

use std::collections::{HashMap, HashSet};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, anyhow};
use serde_json::{Value, json};
use tokio::sync::{Semaphore, watch};
use tokio_util::sync::CancellationToken;

use metrics::{Kind, Metrics, ProcessReading, distribution, read_process};
use session::{Context, Fate, SimAgent};

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

/// Deliveries received by the webhook listener: (arrival ms, event data).
type Deliveries = Arc<Mutex<Vec<(i64, Value)>>>;

/// Runs the load and returns the report.
pub async fn run(options: Options) -> Result<Value> {
    let nofile = rlimit::increase_nofile_limit(u64::MAX).unwrap_or(0);
    let run_start_ms = rollcall_proto::now_ms();
    // Installed first: SIGUSR1's default action would end the process.
    let mut kill_command = if options.kill_on_signal {
        let signal = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::user_defined1())?;
        eprintln!(
            "kill on command: `kill -USR1 {}` during the measured window",
            std::process::id()
        );
        Some(signal)
    } else {
        None
    };
    let deliveries = match options.webhook_listen {
        Some(address) => Some(start_webhook(address).await?),
        None => None,
    };
    let ca_pem =
        rollcall_agent::enroll::fetch_pinned_ca(&options.collector, &options.ca_fingerprint)
            .await
            .map_err(|error| anyhow!("{error}"))?;
    let (server_name, _) = rollcall_agent::enroll::parse_endpoint(&options.collector)
        .map_err(|error| anyhow!("{error}"))?;

    let enroll_started = Instant::now();
    let cached = fleet::load_cached(&options.cache_dir, &options.ca_fingerprint, options.agents);
    let missing = cached.iter().filter(|slot| slot.is_none()).count();
    let credentials = if missing > 0 {
        eprintln!(
            "enrolling {missing} agents ({} cached)",
            options.agents - missing
        );
        let token = fleet::create_token(&options.api, &options.admin_token, missing).await?;
        fleet::enroll_missing(
            &options.collector,
            &ca_pem,
            &token,
            &options.cache_dir,
            &options.ca_fingerprint,
            cached,
        )
        .await?
    } else {
        cached.into_iter().flatten().collect()
    };
    let enroll_s = enroll_started.elapsed().as_secs_f64();
    eprintln!(
        "{} agents enrolled in {enroll_s:.1} s ({missing} new)",
        credentials.len()
    );

    let base = tokio::task::spawn_blocking(|| {
        rollcall_agent::discovery::collect_inventory(std::path::Path::new("/"))
    })
    .await?;
    let packages_per_agent = base.packages.len().min(options.max_packages);

    let metrics = Arc::new(Metrics::default());
    let (kill_sender, kill) = watch::channel(false);
    let (window_sender, window) = watch::channel(false);
    let stop = CancellationToken::new();
    let agents = options.agents;
    let context = Arc::new(Context {
        collector_url: options.collector.clone(),
        server_name,
        ca_pem,
        base,
        variation: options.variation,
        max_packages: options.max_packages,
        heartbeat: options.heartbeat_ms.map(Duration::from_millis),
        health: options.health_ms.map(Duration::from_millis),
        delta_rate_per_agent: options.delta_rate
            / (agents.saturating_sub(options.kill_silent + options.kill_clean)).max(1) as f64,
        snapshot_on_connect: options.snapshot_on_connect,
        metrics: metrics.clone(),
        kill,
        window,
        stop: stop.clone(),
        connect_gate: Semaphore::new(options.connect_concurrency.max(1)),
        host_ids: Mutex::new(vec![None; agents]),
        killed: Mutex::new(Vec::new()),
    });

    let collector_before = options.collector_pid.and_then(read_process);
    let connect_started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for (index, credentials) in credentials.into_iter().enumerate() {
        // The doomed agents are spread over the fleet, not the first ones.
        let fate = fate_of(index, agents, options.kill_silent, options.kill_clean);
        let agent = SimAgent {
            index,
            credentials,
            source: source_address(index, options.source_addresses),
            fate,
        };
        tasks.spawn(agent.run(context.clone()));
    }
    let connect_deadline = connect_started + Duration::from_secs_f64(options.connect_timeout_s);
    // The window starts once every session is up and every snapshot the
    // collector asked for is applied (or was lost with its session and is
    // asked for again), so it measures steady traffic.
    while (metrics.sessions_up.load(Ordering::Relaxed) < agents as u64
        || metrics.acked_count(Kind::Snapshot) + metrics.abandoned_count(Kind::Snapshot)
            < metrics.sent_count(Kind::Snapshot))
        && Instant::now() < connect_deadline
    {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let connect_s = connect_started.elapsed().as_secs_f64();
    let sessions_after_connect = metrics.sessions_up.load(Ordering::Relaxed);
    eprintln!("{sessions_after_connect} sessions up after {connect_s:.1} s");

    // The measured window; the agents switch to its intervals first.
    let _ = window_sender.send(true);
    tokio::time::sleep(Duration::from_millis(200)).await;
    let collector_start = options.collector_pid.and_then(read_process);
    let acked_start: Vec<u64> = Kind::ALL
        .iter()
        .map(|kind| metrics.acked_count(*kind))
        .collect();
    metrics.measuring.store(true, Ordering::Relaxed);
    let window_started = Instant::now();
    let window = Duration::from_secs_f64(options.duration_s);
    let doomed = options.kill_silent + options.kill_clean;
    let mut kill_done = doomed == 0;
    eprintln!("measured window started ({:.0} s)", options.duration_s);
    let mut peak_rss = collector_start.map(|reading| reading.rss_kib).unwrap_or(0);
    let mut sessions_min = u64::MAX;
    while window_started.elapsed() < window {
        let commanded = match kill_command.as_mut() {
            Some(signal) => tokio::select! {
                _ = tokio::time::sleep(Duration::from_millis(250)) => false,
                received = signal.recv() => received.is_some(),
            },
            None => {
                tokio::time::sleep(Duration::from_millis(250)).await;
                false
            }
        };
        let due = match kill_command {
            Some(_) => commanded,
            None => window_started.elapsed().as_secs_f64() >= options.kill_at_s,
        };
        if !kill_done && due {
            eprintln!("killing {doomed} agents");
            let _ = kill_sender.send(true);
            kill_done = true;
        }
        if let Some(reading) = options.collector_pid.and_then(read_process) {
            peak_rss = peak_rss.max(reading.rss_kib);
        }
        sessions_min = sessions_min.min(metrics.sessions_up.load(Ordering::Relaxed));
    }
    let window_s = window_started.elapsed().as_secs_f64();
    metrics.measuring.store(false, Ordering::Relaxed);
    let acked_end: Vec<u64> = Kind::ALL
        .iter()
        .map(|kind| metrics.acked_count(*kind))
        .collect();
    let collector_end = options.collector_pid.and_then(read_process);
    let sessions_end = metrics.sessions_up.load(Ordering::Relaxed);
    if !kill_done && kill_command.is_none() {
        let _ = kill_sender.send(true);
        kill_done = true;
    }
    if !kill_done {
        eprintln!("no kill command came during the measured window; nobody was killed");
    }

    // Detection of the killed agents, then false incidents, then stop.
    let killed: Vec<(usize, i64, Fate)> =
        context.killed.lock().map(|k| k.clone()).unwrap_or_default();
    let host_ids: Vec<Option<String>> = context
        .host_ids
        .lock()
        .map(|h| h.clone())
        .unwrap_or_default();
    let detection = detect(&options, &killed, &host_ids).await;
    let delivery = deliveries.map(|deliveries| delivery_report(&deliveries, &detection));
    let false_incidents = if options.count_false_incidents {
        count_false_incidents(&options, &killed, &host_ids, run_start_ms)
            .await
            .unwrap_or_else(|error| json!({ "error": format!("{error:#}") }))
    } else {
        Value::Null
    };
    stop.cancel();
    while tasks.join_next().await.is_some() {}

    let rate =
        |kind: Kind| (acked_end[kind as usize] - acked_start[kind as usize]) as f64 / window_s;
    let collector = collector_report(
        [collector_before, collector_start, collector_end],
        peak_rss,
        (connect_s, window_s),
        sessions_end,
        acked_start[Kind::Snapshot as usize],
    );
    let snapshots = metrics.acked_count(Kind::Snapshot);
    let report = json!({
        "scenario": options.scenario,
        "agents": agents,
        "packages_per_agent": packages_per_agent,
        "open_file_limit": nofile,
        "source_addresses": options.source_addresses,
        "enroll_s": enroll_s,
        "enrolled_new": missing,
        "connect_s": connect_s,
        "window_s": window_s,
        "sessions": {
            "after_connect": sessions_after_connect,
            "peak": metrics.sessions_peak.load(Ordering::Relaxed),
            "min_in_window": if sessions_min == u64::MAX { 0 } else { sessions_min },
            "at_end": sessions_end,
            "opened_total": metrics.sessions_opened.load(Ordering::Relaxed),
            "errors": metrics.session_errors.load(Ordering::Relaxed),
            "last_error": metrics.last_error(),
        },
        "offered": {
            "heartbeat_ms": options.heartbeat_ms,
            "health_ms": options.health_ms,
            "delta_rate": options.delta_rate,
        },
        "sent": Kind::ALL.iter().map(|kind| (kind.name().to_string(), json!(metrics.sent_count(*kind)))).collect::<serde_json::Map<_, _>>(),
        "acked": Kind::ALL.iter().map(|kind| (kind.name().to_string(), json!(metrics.acked_count(*kind)))).collect::<serde_json::Map<_, _>>(),
        "abandoned": Kind::ALL.iter().map(|kind| (kind.name().to_string(), json!(metrics.abandoned_count(*kind)))).collect::<serde_json::Map<_, _>>(),
        "rates_per_s": {
            "heartbeats": rate(Kind::Heartbeat),
            "health": rate(Kind::Health),
            "deltas": rate(Kind::Delta),
            "messages": Kind::ALL.iter().map(|kind| rate(*kind)).sum::<f64>(),
            "snapshots": metrics.snapshot_span_s().filter(|span| *span > 0.0).map(|span| snapshots as f64 / span),
        },
        "snapshots": { "acked": snapshots, "span_s": metrics.snapshot_span_s() },
        "ack_latency": Kind::ALL.iter().map(|kind| (kind.name().to_string(), metrics.latency_summary(*kind))).collect::<serde_json::Map<_, _>>(),
        "throttles": metrics.throttles.load(Ordering::Relaxed),
        "full_requests": metrics.full_requests.load(Ordering::Relaxed),
        "killed": { "silent": killed.iter().filter(|k| k.2 == Fate::Silent).count(), "clean": killed.iter().filter(|k| k.2 == Fate::Clean).count() },
        "detection": detection,
        "delivery": delivery,
        "false_incidents": false_incidents,
        "collector": collector,
    });
    Ok(report)
}

/// Which agents die: `silent` then `clean` of them, spread evenly.
fn fate_of(index: usize, agents: usize, silent: usize, clean: usize) -> Fate {
    let doomed = (silent + clean).min(agents);
    if doomed == 0 {
        return Fate::Live;
    }
    let stride = agents / doomed;
    if !index.is_multiple_of(stride) || index / stride >= doomed {
        return Fate::Live;
    }
    if index / stride < silent {
        Fate::Silent
    } else {
        Fate::Clean
    }
}

/// Most loopback source addresses the load generator spreads agents over:
/// 127.100.0.1 up to 127.255.255.250, 250 per /24.
const MAX_SOURCE_ADDRESSES: usize = 156 * 256 * 250;

/// A loopback source address for agent `index`, cycling over `count`
/// addresses from 127.100.0.1 (250 a /24, then the next /16), or `None`
/// (the kernel's choice) when `count` is 0. Each address has its own range
/// of ephemeral ports, so N agents need only N / 28,000 of them; the default
/// 64 allow 1.8 million connections.
fn source_address(index: usize, count: usize) -> Option<IpAddr> {
    if count == 0 {
        return None;
    }
    let slot = index % count.min(MAX_SOURCE_ADDRESSES);
    let block = slot / 250;
    Some(IpAddr::V4(Ipv4Addr::new(
        127,
        100 + (block / 256) as u8,
        (block % 256) as u8,
        (slot % 250 + 1) as u8,
    )))
}

async fn get_json(options: &Options, path: &str) -> Result<Value> {
    let response = reqwest::Client::new()
        .get(format!("{}{path}", options.api))
        .bearer_auth(&options.admin_token)
        .timeout(Duration::from_secs(30))
        .send()
        .await?;
    let status = response.status();
    let body: Value = response.json().await?;
    if !status.is_success() {
        return Err(anyhow!("GET {path} answered {status}: {body}"));
    }
    Ok(body)
}

/// Polls open host_down incidents until every killed agent's host has one;
/// latency is the incident's `opened_at` minus the kill time.
async fn detect(
    options: &Options,
    killed: &[(usize, i64, Fate)],
    host_ids: &[Option<String>],
) -> Value {
    if killed.is_empty() {
        return Value::Null;
    }
    let mut pending: HashMap<String, (i64, Fate)> = killed
        .iter()
        .filter_map(|(index, at, fate)| Some((host_ids.get(*index)?.clone()?, (*at, *fate))))
        .collect();
    let last_kill = killed.iter().map(|k| k.1).max().unwrap_or(0);
    let deadline = Instant::now() + Duration::from_secs_f64(options.detect_timeout_s);
    let mut opened: HashMap<String, (i64, i64, Fate, String)> = HashMap::new();
    while !pending.is_empty() && Instant::now() < deadline {
        if let Ok(body) = get_json(
            options,
            "/api/v1/incidents?state=open&rule=host_down&limit=10000",
        )
        .await
        {
            for incident in body["items"].as_array().into_iter().flatten() {
                let ci = incident["ci_id"].as_str().unwrap_or_default();
                if let Some((at, fate)) = pending.remove(ci) {
                    let opened_at = incident["opened_at"].as_i64().unwrap_or(0);
                    let id = incident["id"].as_str().unwrap_or_default().to_string();
                    opened.insert(
                        ci.to_string(),
                        (opened_at - at, rollcall_proto::now_ms() - at, fate, id),
                    );
                }
            }
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let by_fate = |fate: Fate| -> Vec<i64> {
        opened
            .values()
            .filter(|o| o.2 == fate)
            .map(|o| o.0)
            .collect()
    };
    json!({
        "killed_hosts": killed.len(),
        "detected": opened.len(),
        "missing": pending.len(),
        "last_kill_ms": last_kill,
        "silent": distribution(by_fate(Fate::Silent)),
        "clean": distribution(by_fate(Fate::Clean)),
        "observed_by_poll": distribution(opened.values().map(|o| o.1).collect()),
        "incident_ids": opened.values().map(|o| o.3.clone()).collect::<Vec<_>>(),
    })
}

/// Incident → webhook delivery time for every `trigger` event received.
fn delivery_report(deliveries: &Deliveries, detection: &Value) -> Value {
    let received = deliveries.lock().map(|d| d.clone()).unwrap_or_default();
    let ours: HashSet<&str> = detection["incident_ids"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect();
    let latencies: Vec<i64> = received
        .iter()
        .filter(|(_, data)| data["transition"] == "trigger")
        .map(|(at, data)| at - data["opened_at_ms"].as_i64().unwrap_or(*at))
        .collect();
    let for_killed = received
        .iter()
        .filter(|(_, data)| {
            data["incident_id"]
                .as_str()
                .is_some_and(|id| ours.contains(id))
        })
        .count();
    json!({
        "events_received": received.len(),
        "events_for_killed_hosts": for_killed,
        "trigger_latency": distribution(latencies),
    })
}

/// host_down incidents opened since the run started for hosts that were
/// not killed: false incidents.
async fn count_false_incidents(
    options: &Options,
    killed: &[(usize, i64, Fate)],
    host_ids: &[Option<String>],
    since_ms: i64,
) -> Result<Value> {
    let killed_hosts: HashSet<&str> = killed
        .iter()
        .filter_map(|(index, _, _)| host_ids.get(*index)?.as_deref())
        .collect();
    let ours: HashSet<&str> = host_ids.iter().flatten().map(String::as_str).collect();
    let body = get_json(options, "/api/v1/incidents?limit=10000").await?;
    let mut false_host_down = 0;
    let mut storms = 0;
    for incident in body["items"].as_array().into_iter().flatten() {
        if incident["opened_at"].as_i64().unwrap_or(0) < since_ms {
            continue;
        }
        let ci = incident["ci_id"].as_str().unwrap_or_default();
        let rule = incident["rule"].as_str().unwrap_or_default();
        if rule.starts_with("host_down") && ours.contains(ci) && !killed_hosts.contains(ci) {
            false_host_down += 1;
        } else if rule == "storm" {
            storms += 1;
        }
    }
    Ok(json!({ "host_down": false_host_down, "storm_parents": storms }))
}

/// The collector's memory and CPU from readings before the connect phase,
/// at the start of the measured window and at its end; CPU per snapshot is
/// over the connect phase, where the first snapshots are applied.
fn collector_report(
    [before, start, end]: [Option<ProcessReading>; 3],
    peak_rss_kib: u64,
    (connect_s, window_s): (f64, f64),
    sessions: u64,
    snapshots_in_connect_phase: u64,
) -> Value {
    let (Some(before), Some(start), Some(end)) = (before, start, end) else {
        return Value::Null;
    };
    let cpu_s = end.cpu_s - start.cpu_s;
    let connect_cpu_s = start.cpu_s - before.cpu_s;
    json!({
        "cpu_s_in_connect_phase": connect_cpu_s,
        "cpu_percent_in_connect_phase": connect_cpu_s / connect_s.max(1e-3) * 100.0,
        "cpu_ms_per_snapshot_in_connect_phase": (snapshots_in_connect_phase > 0)
            .then(|| connect_cpu_s * 1000.0 / snapshots_in_connect_phase as f64),
        "rss_kib_before_sessions": before.rss_kib,
        "rss_kib_window_start": start.rss_kib,
        "rss_kib_end": end.rss_kib,
        "rss_kib_peak_in_window": peak_rss_kib,
        "hwm_kib": end.hwm_kib,
        "kib_per_session": (sessions > 0).then(|| end.rss_kib.saturating_sub(before.rss_kib) as f64 / sessions as f64),
        "cpu_s_in_window": cpu_s,
        "cpu_percent_of_one_core": cpu_s / window_s * 100.0,
    })
}

async fn start_webhook(address: SocketAddr) -> Result<Deliveries> {
    use axum::routing::post;
    let deliveries: Deliveries = Arc::default();
    let sink = deliveries.clone();
    let router = axum::Router::new().route(
        "/hook",
        post(move |body: axum::body::Bytes| {
            let sink = sink.clone();
            async move {
                let at = rollcall_proto::now_ms();
                let envelope: Value = serde_json::from_slice(&body).unwrap_or_default();
                if let Ok(mut sink) = sink.lock() {
                    sink.push((at, envelope["data"].clone()));
                }
                axum::http::StatusCode::NO_CONTENT
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind(address)
        .await
        .with_context(|| format!("bind the webhook listener on {address}"))?;
    tokio::spawn(async move {
        let _ = axum::serve(listener, router).await;
    });
    Ok(deliveries)
}

/// The report as a human-readable table.
pub fn table(report: &Value) -> String {
    let number = |value: &Value| match value {
        Value::Number(number) => number
            .as_f64()
            .map(|n| {
                if n.fract() == 0.0 {
                    format!("{n}")
                } else {
                    format!("{n:.2}")
                }
            })
            .unwrap_or_default(),
        Value::Null => "–".into(),
        other => other.to_string(),
    };
    let rows: Vec<(&str, String)> = vec![
        (
            "scenario",
            report["scenario"].as_str().unwrap_or_default().to_string(),
        ),
        ("agents", number(&report["agents"])),
        ("packages per agent", number(&report["packages_per_agent"])),
        (
            "enroll (s) / new",
            format!(
                "{} / {}",
                number(&report["enroll_s"]),
                number(&report["enrolled_new"])
            ),
        ),
        ("connect phase (s)", number(&report["connect_s"])),
        (
            "sessions after connect / peak / min / end",
            format!(
                "{} / {} / {} / {}",
                number(&report["sessions"]["after_connect"]),
                number(&report["sessions"]["peak"]),
                number(&report["sessions"]["min_in_window"]),
                number(&report["sessions"]["at_end"])
            ),
        ),
        ("session errors", number(&report["sessions"]["errors"])),
        ("window (s)", number(&report["window_s"])),
        ("heartbeats/s", number(&report["rates_per_s"]["heartbeats"])),
        ("deltas/s", number(&report["rates_per_s"]["deltas"])),
        ("messages/s", number(&report["rates_per_s"]["messages"])),
        (
            "snapshots acked / per s",
            format!(
                "{} / {}",
                number(&report["snapshots"]["acked"]),
                number(&report["rates_per_s"]["snapshots"])
            ),
        ),
        (
            "heartbeat ack p50 / p99 (ms)",
            format!(
                "{} / {}",
                number(&report["ack_latency"]["heartbeat"]["p50_ms"]),
                number(&report["ack_latency"]["heartbeat"]["p99_ms"])
            ),
        ),
        (
            "delta ack p50 / p99 (ms)",
            format!(
                "{} / {}",
                number(&report["ack_latency"]["delta"]["p50_ms"]),
                number(&report["ack_latency"]["delta"]["p99_ms"])
            ),
        ),
        (
            "snapshot ack p50 / p99 (ms)",
            format!(
                "{} / {}",
                number(&report["ack_latency"]["snapshot"]["p50_ms"]),
                number(&report["ack_latency"]["snapshot"]["p99_ms"])
            ),
        ),
        ("throttles", number(&report["throttles"])),
        (
            "killed silent / clean",
            format!(
                "{} / {}",
                number(&report["killed"]["silent"]),
                number(&report["killed"]["clean"])
            ),
        ),
        (
            "detected / missing",
            format!(
                "{} / {}",
                number(&report["detection"]["detected"]),
                number(&report["detection"]["missing"])
            ),
        ),
        (
            "silent → incident p50 / p99 (ms)",
            format!(
                "{} / {}",
                number(&report["detection"]["silent"]["p50_ms"]),
                number(&report["detection"]["silent"]["p99_ms"])
            ),
        ),
        (
            "incident → webhook p50 / p99 (ms)",
            format!(
                "{} / {}",
                number(&report["delivery"]["trigger_latency"]["p50_ms"]),
                number(&report["delivery"]["trigger_latency"]["p99_ms"])
            ),
        ),
        (
            "false host_down incidents",
            number(&report["false_incidents"]["host_down"]),
        ),
        (
            "collector RSS end / peak (KiB)",
            format!(
                "{} / {}",
                number(&report["collector"]["rss_kib_end"]),
                number(&report["collector"]["rss_kib_peak_in_window"])
            ),
        ),
        (
            "collector KiB per session",
            number(&report["collector"]["kib_per_session"]),
        ),
        (
            "collector CPU (% of a core)",
            number(&report["collector"]["cpu_percent_of_one_core"]),
        ),
        (
            "connect phase: collector CPU % / ms per snapshot",
            format!(
                "{} / {}",
                number(&report["collector"]["cpu_percent_in_connect_phase"]),
                number(&report["collector"]["cpu_ms_per_snapshot_in_connect_phase"])
            ),
        ),
    ];
    let width = rows.iter().map(|(name, _)| name.len()).max().unwrap_or(0);
    rows.iter()
        .map(|(name, value)| format!("{name:<width$}  {value}\n"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doomed_agents_are_spread_and_counted() {
        let fates: Vec<Fate> = (0..20).map(|i| fate_of(i, 20, 2, 1)).collect();
        assert_eq!(fates.iter().filter(|f| **f == Fate::Silent).count(), 2);
        assert_eq!(fates.iter().filter(|f| **f == Fate::Clean).count(), 1);
        assert_eq!(fates[0], Fate::Silent);
        assert_eq!(fates[1], Fate::Live);
        assert!((0..10).all(|i| fate_of(i, 10, 0, 0) == Fate::Live));
        assert_eq!(
            (0..5)
                .filter(|i| fate_of(*i, 5, 5, 0) == Fate::Silent)
                .count(),
            5
        );
    }

    #[test]
    fn source_addresses_cycle_over_loopback() {
        assert_eq!(source_address(0, 0), None);
        assert_eq!(
            source_address(0, 300),
            Some(IpAddr::V4(Ipv4Addr::new(127, 100, 0, 1)))
        );
        assert_eq!(
            source_address(251, 300),
            Some(IpAddr::V4(Ipv4Addr::new(127, 100, 1, 2)))
        );
        assert_eq!(source_address(300, 300), source_address(0, 300));
        // Past 64,000 addresses the next /16 is used, never 127.x.y.0 or .255.
        assert_eq!(
            source_address(64_000, 100_000),
            Some(IpAddr::V4(Ipv4Addr::new(127, 101, 0, 1)))
        );
        assert_eq!(
            source_address(MAX_SOURCE_ADDRESSES - 1, usize::MAX),
            Some(IpAddr::V4(Ipv4Addr::new(127, 255, 255, 250)))
        );
        let distinct: HashSet<_> = (0..100_000)
            .map(|index| source_address(index, 100_000))
            .collect();
        assert_eq!(distinct.len(), 100_000);
    }
}
