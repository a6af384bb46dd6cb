//! The connect phase: the collector's CA pinned, the fleet enrolled (or its
//! credentials loaded from the cache), every simulated agent started with its
//! fate and loopback source address, and a wait until their sessions are up
//! and the snapshots the collector asked for are applied.

use std::net::{IpAddr, Ipv4Addr};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Result, anyhow};
use tokio::sync::{Semaphore, watch};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use super::Options;
use super::fleet::{self, Credentials};
use super::metrics::{Kind, Metrics, ProcessReading, read_process};
use super::session::{Context, Fate, SimAgent};

/// The collector's CA and the fleet's credentials.
pub(super) struct Enrolled {
    /// The collector's CA certificate, pinned by its fingerprint.
    pub ca_pem: String,
    /// The TLS server name of the collector's agent endpoint.
    pub server_name: String,
    /// Credentials of every simulated agent, in agent order.
    pub credentials: Vec<Credentials>,
    /// Seconds spent loading and enrolling.
    pub enroll_s: f64,
    /// Agents enrolled in this run (not found in the cache).
    pub missing: usize,
}

/// The simulated agents running, and the handles that steer them.
pub(super) struct Running {
    /// What every agent shares, including who was killed and the host ids.
    pub context: Arc<Context>,
    /// The counters every agent updates.
    pub metrics: Arc<Metrics>,
    /// Tells the doomed agents to die.
    pub kill_sender: watch::Sender<bool>,
    /// Tells the agents the measured window started.
    pub window_sender: watch::Sender<bool>,
    /// Stops every agent at the end of the run.
    pub stop: CancellationToken,
    /// The agents' tasks.
    pub tasks: JoinSet<()>,
    /// Packages in each agent's inventory.
    pub packages_per_agent: usize,
}

/// What the enrollment and connect phase measured.
pub(super) struct Connected {
    /// Seconds spent loading and enrolling credentials.
    pub enroll_s: f64,
    /// Agents enrolled in this run.
    pub missing: usize,
    /// The collector's memory and CPU before any session.
    pub collector_before: Option<ProcessReading>,
    /// Seconds until every session was up (or the connect timeout).
    pub connect_s: f64,
    /// Sessions up when the connect phase ended.
    pub sessions_after_connect: u64,
}

/// Pins the collector's CA and loads or enrolls the credentials of every agent.
pub(super) async fn enroll(options: &Options) -> Result<Enrolled> {
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
    Ok(Enrolled {
        ca_pem,
        server_name,
        credentials,
        enroll_s,
        missing,
    })
}

/// Starts every simulated agent and waits until their sessions are up and
/// their first snapshots applied, or the connect timeout.
pub(super) async fn connect(options: &Options, enrolled: Enrolled) -> Result<(Running, Connected)> {
    let Enrolled {
        ca_pem,
        server_name,
        credentials,
        enroll_s,
        missing,
    } = enrolled;
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
    let running = Running {
        context,
        metrics,
        kill_sender,
        window_sender,
        stop,
        tasks,
        packages_per_agent,
    };
    let connected = Connected {
        enroll_s,
        missing,
        collector_before,
        connect_s,
        sessions_after_connect,
    };
    Ok((running, connected))
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

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

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
