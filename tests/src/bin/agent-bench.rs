//! `rollcall-agent-bench`: measures the footprint of the real
//! `rollcall-agent` binary against a real collector (DESIGN §9): steady RSS
//! and PSS, CPU % and wake-ups over a measured period at default intervals,
//! full-inventory time, bytes per message and on the wire, and the binary
//! size. With `--compare` it runs Debian's node_exporter and Zabbix agent 2
//! beside it, measured the same way in the same window, and times
//! FusionInventory's full inventory; `--uncompressed-agent` adds a second
//! agent that does not gzip. Builds nothing: point it at built binaries.
//! Prints a table and, with `--json`, writes the numbers as JSON; the
//! measuring and the compared tools live in `rollcall_tests::footprint`.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use clap::Parser;
use rollcall_tests::footprint::messages::{self, Encoded};
use rollcall_tests::footprint::process::{self, mib, side_by_side_row};
use rollcall_tests::footprint::rollcall::{self, Intervals, in_window};
use rollcall_tests::footprint::sockets;
use rollcall_tests::footprint::{
    Peer, fusioninventory, gzip_len, machine, node_exporter, ratio, version, zabbix,
};
use rollcall_tests::use_bin_dir;
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

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
    /// Tools to compare with (comma-separated); each must be installed
    /// (Debian packages prometheus-node-exporter, zabbix-agent2,
    /// fusioninventory-agent), or the benchmark fails saying which.
    #[arg(long, value_enum, value_delimiter = ',')]
    compare: Vec<Peer>,
    /// Seconds between node_exporter scrapes (default: the health interval,
    /// which is also Prometheus' default scrape interval of 1 minute).
    #[arg(long)]
    scrape_interval_s: Option<u32>,
    /// How many times to time FusionInventory's full inventory.
    #[arg(long, default_value_t = 5)]
    fusioninventory_runs: usize,
    /// node_exporter program (default: where Debian installs it).
    #[arg(long)]
    node_exporter: Option<PathBuf>,
    /// zabbix_agent2 program (default: where Debian installs it).
    #[arg(long)]
    zabbix_agent2: Option<PathBuf>,
    /// fusioninventory-agent program (default: where Debian installs it).
    #[arg(long)]
    fusioninventory_agent: Option<PathBuf>,
    /// Also run a second agent with `compress = false` (against its own
    /// collector) in the same window: the RSS, CPU and bytes gzip costs.
    #[arg(long)]
    uncompressed_agent: bool,
    /// Also time the full inventory with this many connected loopback TCP
    /// sockets open on the host (helper processes of up to 10,000 each,
    /// each with its own listener), e.g. 20000 (DESIGN §9).
    #[arg(long, default_value_t = 0)]
    open_sockets: usize,
    /// Internal: be a socket-holding helper of `--open-sockets`.
    #[arg(long, hide = true)]
    hold_sockets: Option<usize>,
}

fn main() -> Result<()> {
    let args = Args::parse();
    if let Some(count) = args.hold_sockets {
        return sockets::holder_main(count);
    }
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

/// The median of `samples` (0 when empty).
fn median_of(samples: &[f64]) -> f64 {
    let mut sorted = samples.to_vec();
    sorted.sort_by(f64::total_cmp);
    sorted.get(sorted.len() / 2).copied().unwrap_or(0.0)
}

/// A session's bytes for the table: since it opened, then in the window.
fn wire_row(wire: &Value) -> String {
    format!(
        "{} bytes of gRPC body for {} bytes of messages, {} bytes sent on the socket; \
         in the window {} body / {} socket bytes a minute",
        wire["session_body_bytes"],
        wire["session_message_bytes"],
        wire["socket_bytes_sent"],
        wire["in_window"]["session_body_bytes_per_minute"],
        wire["in_window"]["socket_bytes_sent_per_minute"]
    )
}

/// Every compared tool, located before anything runs.
fn locate_peers(args: &Args) -> Result<Vec<(Peer, PathBuf)>> {
    let mut peers: Vec<(Peer, PathBuf)> = Vec::new();
    for peer in &args.compare {
        if peers.iter().any(|(seen, _)| seen == peer) {
            continue;
        }
        let configured = match peer {
            Peer::NodeExporter => args.node_exporter.as_deref(),
            Peer::ZabbixAgent2 => args.zabbix_agent2.as_deref(),
            Peer::FusionInventory => args.fusioninventory_agent.as_deref(),
        };
        peers.push((*peer, peer.locate(configured)?));
    }
    Ok(peers)
}

fn peer_path(peers: &[(Peer, PathBuf)], wanted: Peer) -> Option<&Path> {
    peers
        .iter()
        .find(|(peer, _)| *peer == wanted)
        .map(|(_, path)| path.as_path())
}

async fn run(args: &Args, agent_path: &Path) -> Result<()> {
    // A missing tool fails here, before anything runs, naming its package.
    let peers = locate_peers(args)?;
    let machine_at_start = machine();
    let binary_bytes = std::fs::metadata(agent_path)?.len();
    let dir = tempfile::tempdir()?;

    // Full inventory, the way an operator runs it: process start included;
    // then the same code in this process (only meaningful in a release build).
    let (inventory_ms, inventory) = rollcall::time_inventory(agent_path, args.inventory_runs)?;
    let in_process_ms = rollcall::time_in_process(args.inventory_runs).await?;
    // The same with many connections open on the host (listening sockets
    // are mapped to processes through the processes' open files).
    let with_sockets = if args.open_sockets > 0 {
        let holders = sockets::hold(&std::env::current_exe()?, args.open_sockets)?;
        let (ms, busy) = rollcall::time_inventory(agent_path, args.inventory_runs)?;
        let in_process = rollcall::time_in_process(args.inventory_runs).await?;
        // The running agent's steady state: repeated inventories in one
        // agent process (at least 12, so that the later half is past any
        // search carried over from the first ones).
        let repeated = rollcall::time_repeated(agent_path, args.inventory_runs.max(12))?;
        let later = repeated.get(repeated.len() / 2..).unwrap_or_default();
        let open = holders.sockets;
        drop(holders);
        Some(json!({
            "open_sockets": open,
            "inventory_ms_median": ms,
            "inventory_in_process_ms_median": in_process,
            "repeated_in_agent_ms": repeated,
            "repeated_first_ms": repeated.first().copied().unwrap_or(0.0),
            "repeated_later_half_ms_median": median_of(later),
            "repeated_after_first_ms_max": repeated.iter().skip(1).copied().fold(0.0, f64::max),
            "listening_sockets": busy.sockets.len(),
            "listening_sockets_with_owner": busy.sockets.iter().filter(|socket| socket.pid != 0).count(),
        }))
    } else {
        None
    };
    // FusionInventory's full inventory, alone on the machine like ours.
    let fusion = match peer_path(&peers, Peer::FusionInventory) {
        Some(binary) => Some(fusioninventory::run(
            binary,
            dir.path(),
            args.fusioninventory_runs,
        )?),
        None => None,
    };

    // Bytes per message.
    let health_report = tokio::task::spawn_blocking(messages::health_sample).await?;
    let Encoded {
        snapshot,
        delta,
        heartbeat,
        health,
    } = messages::encode(&inventory, &health_report);
    let snapshot_gzip = gzip_len(&snapshot)?;

    // The running agents and tools, all measured in the same window.
    let intervals = Intervals {
        heartbeat_s: args.heartbeat_interval_s,
        health_s: args.health_interval_s,
        inventory_s: args.inventory_interval_s,
    };
    let ours = rollcall::start(agent_path, &dir.path().join("rollcall"), intervals, true).await?;
    let plain = if args.uncompressed_agent {
        Some(rollcall::start(agent_path, &dir.path().join("plain"), intervals, false).await?)
    } else {
        None
    };
    let stop = CancellationToken::new();
    let scrape_interval_s = args.scrape_interval_s.unwrap_or(args.health_interval_s);
    let node_exporter = match peer_path(&peers, Peer::NodeExporter) {
        Some(binary) => {
            let running = node_exporter::start(binary, dir.path()).await?;
            let counts = Arc::new(node_exporter::ScrapeCounts::default());
            tokio::spawn(node_exporter::scrape_every(
                running.url.clone(),
                Duration::from_secs(scrape_interval_s.max(1).into()),
                counts.clone(),
                stop.clone(),
            ));
            Some((running, counts, version(binary, "--version")))
        }
        None => None,
    };
    let zabbix_items = zabbix::health_items(&health_report);
    let zabbix = match peer_path(&peers, Peer::ZabbixAgent2) {
        Some(binary) => {
            let running = zabbix::start(binary, dir.path()).await?;
            let counts = Arc::new(zabbix::PollCounts::default());
            tokio::spawn(zabbix::poll_every(
                running.address,
                Duration::from_secs(args.heartbeat_interval_s.max(1).into()),
                Duration::from_secs(args.health_interval_s.max(1).into()),
                zabbix_items.clone(),
                counts.clone(),
                stop.clone(),
            ));
            Some((running, counts, version(binary, "-V")))
        }
        None => None,
    };
    ours.first_inventory().await?;
    if let Some(plain) = &plain {
        plain.first_inventory().await?;
    }
    tokio::time::sleep(Duration::from_secs(args.warmup_s)).await;

    let mut pids = vec![ours.daemon.pid()];
    pids.extend(plain.iter().map(|plain| plain.daemon.pid()));
    pids.extend(
        node_exporter
            .iter()
            .map(|(running, ..)| running.daemon.pid()),
    );
    pids.extend(zabbix.iter().map(|(running, ..)| running.daemon.pid()));
    // Bytes sent before the window, so the window's (heartbeats and health
    // only, at a 600 s inventory interval) can be told apart from the first snapshot's.
    let wire_before = ours.wire().await?;
    let plain_wire_before = match &plain {
        Some(plain) => Some(plain.wire().await?),
        None => None,
    };
    let scrapes_before = node_exporter
        .as_ref()
        .map(|(_, counts, _)| counts.scrapes.load(std::sync::atomic::Ordering::Relaxed));
    let polls_before = zabbix
        .as_ref()
        .map(|(_, counts, _)| counts.values.load(std::sync::atomic::Ordering::Relaxed));
    let footprints = tokio::task::spawn_blocking({
        let duration = Duration::from_secs(args.duration_s);
        move || process::measure(&pids, duration)
    })
    .await??;
    stop.cancel();
    let mut footprints = footprints.into_iter();
    let footprint = footprints.next().context("no footprint of our agent")?;
    let plain_footprint = plain.as_ref().and_then(|_| footprints.next());
    let node_exporter_footprint = node_exporter.as_ref().and_then(|_| footprints.next());
    let zabbix_footprint = zabbix.as_ref().and_then(|_| footprints.next());
    let wire = in_window(&wire_before, ours.wire().await?, footprint.measured_s);
    let plain_wire = match (&plain, &plain_wire_before) {
        (Some(plain), Some(before)) => {
            Some(in_window(before, plain.wire().await?, footprint.measured_s))
        }
        _ => None,
    };
    let inventory_messages = ours.inventory_messages();
    drop(ours);
    drop(plain);

    let mut report = json!({
        "machine": machine_at_start,
        "machine_at_end": machine(),
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
        "cpu_s": footprint.cpu_s,
        "cpu_percent": footprint.cpu_percent,
        "cpu_ms_per_minute": footprint.cpu_ms_per_minute,
        "wakeups_per_minute": footprint.wakeups_per_minute,
        "involuntary_switches_per_minute": footprint.involuntary_per_minute,
        "inventory_ms_median": inventory_ms,
        "inventory_in_process_ms_median": in_process_ms,
        "inventory_with_open_sockets": with_sockets,
        "in_process_build": if cfg!(debug_assertions) { "debug" } else { "release" },
        "snapshot_bytes": snapshot.len(),
        "snapshot_gzip_bytes": snapshot_gzip,
        "delta_bytes": delta.len(),
        "heartbeat_bytes": heartbeat.len(),
        "agent_message_inline_bytes": std::mem::size_of::<rollcall_proto::v1::AgentMessage>(),
        "health_bytes": health.len(),
        "health_gzip_bytes": gzip_len(&health)?,
        "inventory_messages_sent": inventory_messages,
        "wire": wire,
    });
    let mut compared = serde_json::Map::new();
    let mut table = Vec::new();
    if let (Some((_, counts, version)), Some(theirs)) = (&node_exporter, &node_exporter_footprint) {
        let scrapes = counts.scrapes.load(std::sync::atomic::Ordering::Relaxed);
        compared.insert(
            "node_exporter".into(),
            json!({
                "version": version,
                "how": "default collectors, 127.0.0.1; scraped by the benchmark over HTTP like Prometheus (GET /metrics, Accept-Encoding: gzip)",
                "scrape_interval_s": scrape_interval_s,
                "scrapes_in_window": scrapes.saturating_sub(scrapes_before.unwrap_or(0)),
                "scrape": counts.to_json(),
                "footprint": theirs.to_json(),
                "ours_over_theirs": footprint.ratios(theirs),
            }),
        );
        table.push(side_by_side_row("node_exporter", theirs, &footprint));
    }
    if let (Some((_, counts, version)), Some(theirs)) = (&zabbix, &zabbix_footprint) {
        let values = counts.values.load(std::sync::atomic::Ordering::Relaxed);
        compared.insert(
            "zabbix_agent2".into(),
            json!({
                "version": version,
                "how": "passive checks on 127.0.0.1, active checks off; polled by the benchmark over the Zabbix TCP protocol, one connection per item like a Zabbix server",
                "ping_item": zabbix::PING_ITEM,
                "ping_interval_s": args.heartbeat_interval_s,
                "health_items": zabbix_items,
                "health_interval_s": args.health_interval_s,
                "values_in_window": values.saturating_sub(polls_before.unwrap_or(0)),
                "poll": counts.to_json(),
                "footprint": theirs.to_json(),
                "ours_over_theirs": footprint.ratios(theirs),
            }),
        );
        table.push(side_by_side_row("zabbix_agent2", theirs, &footprint));
    }
    if let Some(fusion) = &fusion {
        let binary = peer_path(&peers, Peer::FusionInventory).unwrap_or(Path::new(""));
        compared.insert(
            "fusioninventory".into(),
            json!({
                "version": version(binary, "--version"),
                "how": "fusioninventory-agent --local DIR (full inventory to one XML file), wall time from process start to exit",
                "inventory": fusion.to_json(),
                "ours_over_theirs": {
                    "wall": ratio(inventory_ms, fusion.median_ms()),
                    "payload": ratio(snapshot.len() as f64, fusion.xml_bytes as f64),
                    "payload_gzip": ratio(snapshot_gzip as f64, fusion.xml_gzip_bytes as f64),
                },
            }),
        );
    }
    if !compared.is_empty() {
        report["compare"] = Value::Object(compared);
    }
    if let (Some(theirs), Some(plain_wire)) = (&plain_footprint, &plain_wire) {
        report["uncompressed_agent"] = json!({
            "footprint": theirs.to_json(),
            "wire": plain_wire,
            "gzip_over_plain": footprint.ratios(theirs),
        });
        table.push(side_by_side_row("rollcall, no gzip", theirs, &footprint));
    }

    let kib = |bytes: usize| format!("{:.1} KiB", bytes as f64 / 1024.0);
    let mut rows = vec![
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
        ("steady rss (VmRSS)", mib(footprint.rss_kib)),
        ("peak rss (VmHWM)", mib(footprint.hwm_kib)),
        (
            "pss (smaps_rollup)",
            footprint.pss_kib.map(mib).unwrap_or_else(|| "n/a".into()),
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
            "full inventory with open sockets",
            match &with_sockets {
                Some(busy) => format!(
                    "{:.1} ms median ({:.1} ms in process) with {} sockets open; {} listening, {} with an owner",
                    busy["inventory_ms_median"].as_f64().unwrap_or(0.0),
                    busy["inventory_in_process_ms_median"]
                        .as_f64()
                        .unwrap_or(0.0),
                    busy["open_sockets"],
                    busy["listening_sockets"],
                    busy["listening_sockets_with_owner"],
                ),
                None => "not measured (--open-sockets N)".to_string(),
            },
        ),
        (
            "repeated inventories in one agent process with open sockets",
            match &with_sockets {
                Some(busy) => format!(
                    "first {:.1} ms, later half {:.1} ms median, {:.1} ms the slowest after the first ({} runs of `rollcall-agent inventory --repeat`)",
                    busy["repeated_first_ms"].as_f64().unwrap_or(0.0),
                    busy["repeated_later_half_ms_median"]
                        .as_f64()
                        .unwrap_or(0.0),
                    busy["repeated_after_first_ms_max"].as_f64().unwrap_or(0.0),
                    busy["repeated_in_agent_ms"].as_array().map_or(0, Vec::len),
                ),
                None => "not measured (--open-sockets N)".to_string(),
            },
        ),
        (
            "snapshot message",
            format!(
                "{} protobuf, {} gzip",
                kib(snapshot.len()),
                kib(snapshot_gzip)
            ),
        ),
        (
            "typical delta (1 upgrade, 1 install)",
            format!("{} bytes", delta.len()),
        ),
        ("heartbeat message", format!("{} bytes", heartbeat.len())),
        (
            "a queued AgentMessage in memory",
            format!(
                "{} bytes inline (size_of; large bodies boxed)",
                std::mem::size_of::<rollcall_proto::v1::AgentMessage>()
            ),
        ),
        (
            "health sample message",
            format!("{} bytes ({} gzip)", health.len(), gzip_len(&health)?),
        ),
        (
            "inventory messages while running",
            inventory_messages.to_string(),
        ),
        ("session on the wire (gzip)", wire_row(&report["wire"])),
    ];
    if let Some(plain_wire) = &plain_wire {
        rows.push(("session on the wire (no gzip)", wire_row(plain_wire)));
    }
    if let Some(fusion) = &fusion {
        rows.push((
            "fusioninventory full inventory",
            format!(
                "{:.0} ms median of {}; XML {} ({} gzip)",
                fusion.median_ms(),
                fusion.wall.len(),
                kib(fusion.xml_bytes),
                kib(fusion.xml_gzip_bytes)
            ),
        ));
    }
    let width = rows.iter().map(|(name, _)| name.len()).max().unwrap_or(0);
    println!("rollcall-agent footprint ({})", agent_path.display());
    for (name, value) in rows {
        println!("  {name:<width$}  {value}");
    }
    if !table.is_empty() {
        println!(
            "side by side, same {:.0} s window (cpu: the larger of ticks and schedstat; sched: schedstat alone; ratios are ours / theirs):",
            footprint.measured_s
        );
        println!(
            "  {:<22} {:>10} {:>10} {:>8} {:>8} {:>9} {:>7} {:>9} {:>9} {:>9}",
            "process",
            "rss",
            "pss",
            "cpu ms/m",
            "sched ms",
            "wakeup/m",
            "threads",
            "rss ×",
            "cpu ×",
            "wakeup ×"
        );
        println!(
            "{}",
            side_by_side_row("rollcall-agent", &footprint, &footprint)
        );
        for row in table {
            println!("{row}");
        }
    }
    if let Some(path) = &args.json {
        std::fs::write(path, serde_json::to_string_pretty(&report)?)?;
        println!("json written to {}", path.display());
    }
    Ok(())
}
