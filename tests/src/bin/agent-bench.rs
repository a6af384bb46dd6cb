//! `rollcall-agent-bench`: measures the footprint of the real
//! `rollcall-agent` binary against a real collector (DESIGN §9): steady RSS
//! and PSS, CPU % and wake-ups over a measured period at default intervals,
//! full-inventory time, bytes per message, and the binary size. Builds
//! nothing: point it at built binaries. Prints a table and, with `--json`,
//! writes the numbers as JSON.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use clap::Parser;
use prost::Message;
use rollcall_proto::v1::agent_message::Body;
use rollcall_proto::v1::{AgentMessage, Heartbeat, Inventory, InventorySnapshot, Package};
use rollcall_tests::{Collector, CollectorOptions, use_bin_dir, wait_for};
use serde_json::json;

/// Linux reports process CPU times in /proc in units of USER_HZ, which is
/// 100 on every architecture the kernel supports today.
const USER_HZ: f64 = 100.0;

#[derive(Parser)]
#[command(
    name = "rollcall-agent-bench",
    about = "Measure the rollcall agent's footprint against a real collector"
)]
struct Args {
    /// The agent binary to measure (default: `rollcall-agent` beside the collector).
    #[arg(long)]
    agent: Option<PathBuf>,
    /// Directory holding `rollcall-collector` (default: this program's directory).
    #[arg(long)]
    bin_dir: Option<PathBuf>,
    /// Seconds of measurement after warm-up.
    #[arg(long, default_value_t = 60)]
    duration_s: u64,
    /// Seconds of warm-up after the first inventory reached the collector.
    #[arg(long, default_value_t = 15)]
    warmup_s: u64,
    /// How many times to time a full inventory.
    #[arg(long, default_value_t = 15)]
    inventory_runs: usize,
    /// Collector intervals (heartbeat, health, inventory), seconds; the
    /// defaults are the product defaults.
    #[arg(long, default_value_t = 10)]
    heartbeat_interval_s: u32,
    /// Health sampling interval, seconds.
    #[arg(long, default_value_t = 60)]
    health_interval_s: u32,
    /// Inventory interval, seconds.
    #[arg(long, default_value_t = 600)]
    inventory_interval_s: u32,
    /// Write the numbers as JSON to this file.
    #[arg(long)]
    json: Option<PathBuf>,
}

/// CPU ticks (utime + stime) of a process.
fn cpu_ticks(pid: u32) -> Result<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    // The command name may contain spaces; fields resume after the last ')'.
    let rest = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest)
        .context("/proc/PID/stat has no ')'")?;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // After ')': state is field 3 of stat(5); utime and stime are 14 and 15.
    let field = |index: usize| -> Result<u64> {
        fields
            .get(index - 3)
            .context("/proc/PID/stat is short")?
            .parse::<u64>()
            .context("/proc/PID/stat field is not a number")
    };
    Ok(field(14)? + field(15)?)
}

/// A `Key:   value kB` field of a /proc status-like file, as a number.
fn proc_field(path: &str, key: &str) -> Option<u64> {
    std::fs::read_to_string(path)
        .ok()?
        .lines()
        .find_map(|line| {
            let rest = line.strip_prefix(key)?.strip_prefix(':')?;
            rest.split_whitespace().next()?.parse().ok()
        })
}

fn median_ms(mut samples: Vec<Duration>) -> f64 {
    samples.sort();
    samples
        .get(samples.len() / 2)
        .map(|median| median.as_secs_f64() * 1000.0)
        .unwrap_or(0.0)
}

fn gzip_len(bytes: &[u8]) -> Result<usize> {
    use std::io::Write;
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    encoder.write_all(bytes)?;
    Ok(encoder.finish()?.len())
}

fn message(body: Body) -> AgentMessage {
    AgentMessage {
        seq: 123_456,
        sent_at_ms: rollcall_proto::now_ms(),
        body: Some(body),
    }
}

/// A typical change: one package upgraded, one installed.
fn typical_change(inventory: &Inventory) -> Inventory {
    let mut changed = inventory.clone();
    if let Some(package) = changed.packages.first_mut() {
        package.version.push_str("+security1");
    }
    changed.packages.push(Package {
        name: "nginx-light".into(),
        version: "1.22.1-9".into(),
        arch: "amd64".into(),
        source: "nginx".into(),
        manager: "dpkg".into(),
        installed_at_s: 1_700_000_000,
    });
    changed.collected_at_ms += 600_000;
    changed
}

struct Footprint {
    rss_kib: u64,
    hwm_kib: u64,
    pss_kib: Option<u64>,
    threads: u64,
    cpu_percent: f64,
    cpu_ms_per_minute: f64,
    wakeups_per_minute: f64,
    involuntary_per_minute: f64,
    measured_s: f64,
}

/// Per-thread counters: (CPU ns from schedstat, voluntary, involuntary switches).
fn thread_counters(pid: u32) -> HashMap<u32, (u64, u64, u64)> {
    let mut out = HashMap::new();
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return out;
    };
    for task in tasks.flatten() {
        let Some(tid) = task.file_name().to_str().and_then(|name| name.parse().ok()) else {
            continue;
        };
        let base = format!("/proc/{pid}/task/{tid}");
        let cpu_ns = std::fs::read_to_string(format!("{base}/schedstat"))
            .ok()
            .and_then(|text| text.split_whitespace().next()?.parse().ok())
            .unwrap_or(0);
        let status = format!("{base}/status");
        out.insert(
            tid,
            (
                cpu_ns,
                proc_field(&status, "voluntary_ctxt_switches").unwrap_or(0),
                proc_field(&status, "nonvoluntary_ctxt_switches").unwrap_or(0),
            ),
        );
    }
    out
}

/// Watches every thread of `pid` for `duration`, polling often enough to
/// catch short-lived blocking-pool threads, and returns the CPU ns and
/// switches spent inside the window, summed over threads.
fn watch_threads(pid: u32, duration: Duration) -> (u64, u64, u64) {
    let first = thread_counters(pid);
    let mut last = first.clone();
    let deadline = Instant::now() + duration;
    while Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100).min(deadline - Instant::now()));
        for (tid, counters) in thread_counters(pid) {
            last.insert(tid, counters);
        }
    }
    let mut total = (0, 0, 0);
    for (tid, end) in &last {
        let start = first.get(tid).copied().unwrap_or((0, 0, 0));
        total.0 += end.0.saturating_sub(start.0);
        total.1 += end.1.saturating_sub(start.1);
        total.2 += end.2.saturating_sub(start.2);
    }
    total
}

fn measure(pid: u32, duration: Duration) -> Result<Footprint> {
    let status = format!("/proc/{pid}/status");
    let ticks_before = cpu_ticks(pid)?;
    let started = Instant::now();
    let (cpu_ns, voluntary, involuntary) = watch_threads(pid, duration);
    let elapsed = started.elapsed().as_secs_f64();
    let ticks = cpu_ticks(pid)?.saturating_sub(ticks_before);
    // schedstat is exact; the tick count (10 ms resolution) also covers
    // threads that came and went between two polls.
    let cpu_s = (cpu_ns as f64 / 1e9).max(ticks as f64 / USER_HZ);
    Ok(Footprint {
        rss_kib: proc_field(&status, "VmRSS").unwrap_or(0),
        hwm_kib: proc_field(&status, "VmHWM").unwrap_or(0),
        pss_kib: proc_field(&format!("/proc/{pid}/smaps_rollup"), "Pss"),
        threads: proc_field(&status, "Threads").unwrap_or(0),
        cpu_percent: cpu_s / elapsed * 100.0,
        cpu_ms_per_minute: cpu_s * 1000.0 * 60.0 / elapsed,
        wakeups_per_minute: voluntary as f64 * 60.0 / elapsed,
        involuntary_per_minute: involuntary as f64 * 60.0 / elapsed,
        measured_s: elapsed,
    })
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

fn main() -> Result<()> {
    let args = Args::parse();
    let exe_dir = std::env::current_exe()?
        .parent()
        .map(Path::to_path_buf)
        .context("no directory for this program")?;
    let bin_dir = args.bin_dir.clone().unwrap_or(exe_dir);
    let agent_path = args
        .agent
        .clone()
        .unwrap_or_else(|| bin_dir.join("rollcall-agent"));
    if !agent_path.is_file() {
        bail!(
            "no agent binary at {}; build it first, e.g. `cargo build --profile agent -p rollcall-agent`",
            agent_path.display()
        );
    }
    use_bin_dir(bin_dir);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(run(&args, &agent_path))
}

async fn run(args: &Args, agent_path: &Path) -> Result<()> {
    let binary_bytes = std::fs::metadata(agent_path)?.len();

    // Full inventory, the way an operator runs it: process start included.
    let mut wall = Vec::new();
    let mut json_output = Vec::new();
    for _ in 0..args.inventory_runs.max(1) {
        let (elapsed, stdout) = agent_inventory(agent_path)?;
        wall.push(elapsed);
        json_output = stdout;
    }
    let inventory_ms = median_ms(wall);
    let inventory: Inventory =
        serde_json::from_slice(&json_output).context("agent inventory output")?;
    // The same code in this process (only meaningful in a release build).
    let mut in_process = Vec::new();
    for _ in 0..args.inventory_runs.max(1) {
        let started = Instant::now();
        let collected = tokio::task::spawn_blocking(|| {
            rollcall_agent::discovery::collect_inventory(Path::new("/"))
        })
        .await?;
        in_process.push(started.elapsed());
        drop(collected);
    }
    let in_process_ms = median_ms(in_process);

    // Bytes per message.
    let snapshot = message(Body::Snapshot(InventorySnapshot {
        inventory: Some(inventory.clone()),
    }))
    .encode_to_vec();
    let delta = rollcall_agent::delta::diff(&inventory, &typical_change(&inventory))
        .map(|delta| message(Body::Delta(delta)).encode_to_vec())
        .unwrap_or_default();
    let heartbeat = message(Body::Heartbeat(Heartbeat {
        agent_uptime_s: 86_400,
    }))
    .encode_to_vec();
    let health = {
        let mut sampler = rollcall_agent::health::HealthSampler::new("/");
        sampler.sample();
        std::thread::sleep(Duration::from_millis(200));
        message(Body::Health(sampler.sample())).encode_to_vec()
    };

    // The running agent against a collector at the given intervals.
    let dir = tempfile::tempdir()?;
    let collector = Collector::start(
        dir.path(),
        &CollectorOptions {
            extra_toml: format!(
                "[agents]\nheartbeat_interval_s = {}\nhealth_interval_s = {}\ninventory_interval_s = {}\n",
                args.heartbeat_interval_s, args.health_interval_s, args.inventory_interval_s
            ),
            database_url: None,
        },
    )?;
    let state_dir = dir.path().join("agent");
    let config_path = dir.path().join("agent.toml");
    std::fs::write(
        &config_path,
        format!(
            "collectors = [{:?}]\nstate_dir = {:?}\n",
            collector.grpc_url,
            state_dir.display().to_string()
        ),
    )?;
    let token = collector.enrollment_token(1, 600).await?;
    let enrolled = Command::new(agent_path)
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
        .output()?;
    if !enrolled.status.success() {
        bail!(
            "enroll failed: {}",
            String::from_utf8_lossy(&enrolled.stderr)
        );
    }
    let log_path = dir.path().join("agent.log");
    let mut agent = Command::new(agent_path)
        .arg("--config")
        .arg(&config_path)
        .arg("run")
        .env("ROLLCALL_LOG", "info")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log_path)?)
        .spawn()?;
    let pid = agent.id();
    let measured = async {
        wait_for(
            "the first inventory at the collector",
            Duration::from_secs(60),
            || async {
                collector
                    .hosts()
                    .await
                    .ok()?
                    .into_iter()
                    .find(|host| host["package_count"].as_i64().unwrap_or(0) > 0)
            },
        )
        .await?;
        tokio::time::sleep(Duration::from_secs(args.warmup_s)).await;
        tokio::task::spawn_blocking({
            let duration = Duration::from_secs(args.duration_s);
            move || measure(pid, duration)
        })
        .await?
    }
    .await;
    let _ = agent.kill();
    let _ = agent.wait();
    let footprint = measured?;
    let log = std::fs::read_to_string(&log_path).unwrap_or_default();
    let inventory_messages = log.matches("inventory delta spooled").count()
        + log.matches("inventory snapshot spooled").count();

    let report = json!({
        "agent": agent_path.display().to_string(),
        "binary_bytes": binary_bytes,
        "packages": inventory.packages.len(),
        "intervals_s": {
            "heartbeat": args.heartbeat_interval_s,
            "health": args.health_interval_s,
            "inventory": args.inventory_interval_s,
        },
        "measured_s": footprint.measured_s,
        "rss_kib": footprint.rss_kib,
        "rss_peak_kib": footprint.hwm_kib,
        "pss_kib": footprint.pss_kib,
        "threads": footprint.threads,
        "cpu_percent": footprint.cpu_percent,
        "cpu_ms_per_minute": footprint.cpu_ms_per_minute,
        "wakeups_per_minute": footprint.wakeups_per_minute,
        "involuntary_switches_per_minute": footprint.involuntary_per_minute,
        "inventory_ms_median": inventory_ms,
        "inventory_in_process_ms_median": in_process_ms,
        "in_process_build": if cfg!(debug_assertions) { "debug" } else { "release" },
        "snapshot_bytes": snapshot.len(),
        "snapshot_gzip_bytes": gzip_len(&snapshot)?,
        "delta_bytes": delta.len(),
        "heartbeat_bytes": heartbeat.len(),
        "health_bytes": health.len(),
        "health_gzip_bytes": gzip_len(&health)?,
        "inventory_messages_sent": inventory_messages,
    });

    let kib = |bytes: usize| format!("{:.1} KiB", bytes as f64 / 1024.0);
    let rows = [
        (
            "agent binary",
            format!("{:.2} MB ({binary_bytes} bytes)", binary_bytes as f64 / 1e6),
        ),
        (
            "packages on this host",
            inventory.packages.len().to_string(),
        ),
        (
            "measured period",
            format!(
                "{:.1} s at heartbeat {} s, health {} s, inventory {} s",
                footprint.measured_s,
                args.heartbeat_interval_s,
                args.health_interval_s,
                args.inventory_interval_s
            ),
        ),
        (
            "steady rss (VmRSS)",
            format!("{:.2} MiB", footprint.rss_kib as f64 / 1024.0),
        ),
        (
            "peak rss (VmHWM)",
            format!("{:.2} MiB", footprint.hwm_kib as f64 / 1024.0),
        ),
        (
            "pss (smaps_rollup)",
            footprint
                .pss_kib
                .map(|pss| format!("{:.2} MiB", pss as f64 / 1024.0))
                .unwrap_or_else(|| "n/a".into()),
        ),
        ("threads", footprint.threads.to_string()),
        (
            "cpu",
            format!(
                "{:.4} % of one core ({:.1} ms CPU per minute)",
                footprint.cpu_percent, footprint.cpu_ms_per_minute
            ),
        ),
        (
            "wake-ups (voluntary switches)",
            format!("{:.1} per minute", footprint.wakeups_per_minute),
        ),
        (
            "involuntary switches",
            format!("{:.1} per minute", footprint.involuntary_per_minute),
        ),
        (
            "full inventory, `rollcall-agent inventory`",
            format!(
                "{inventory_ms:.1} ms median of {} (process start and JSON included)",
                args.inventory_runs.max(1)
            ),
        ),
        (
            "full inventory, in process",
            format!(
                "{in_process_ms:.1} ms median ({} build of this benchmark)",
                if cfg!(debug_assertions) {
                    "debug"
                } else {
                    "release"
                }
            ),
        ),
        (
            "snapshot message",
            format!(
                "{} protobuf, {} gzip",
                kib(snapshot.len()),
                kib(gzip_len(&snapshot)?)
            ),
        ),
        (
            "typical delta (1 upgrade, 1 install)",
            format!("{} bytes", delta.len()),
        ),
        ("heartbeat message", format!("{} bytes", heartbeat.len())),
        (
            "health sample message",
            format!("{} bytes ({} gzip)", health.len(), gzip_len(&health)?),
        ),
        (
            "inventory messages while running",
            inventory_messages.to_string(),
        ),
    ];
    let width = rows.iter().map(|(name, _)| name.len()).max().unwrap_or(0);
    println!("rollcall-agent footprint ({})", agent_path.display());
    for (name, value) in rows {
        println!("  {name:<width$}  {value}");
    }
    if let Some(path) = &args.json {
        std::fs::write(path, serde_json::to_string_pretty(&report)?)?;
        println!("json written to {}", path.display());
    }
    Ok(())
}
