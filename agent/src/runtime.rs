//! The agent's runtime: the producers (inventory, health, checks) that put
//! sequenced messages into the spool whether or not a collector is
//! reachable, running beside the session ([`crate::session`]) until shutdown.

use std::sync::{Arc, Mutex};

use prost::Message;
use rollcall_proto::inventory;
use rollcall_proto::v1::agent_message::Body;
use rollcall_proto::v1::{CheckResults, Inventory, InventorySnapshot};
use tokio::sync::{Notify, watch};
use tokio_util::sync::CancellationToken;

use crate::config::AgentConfig;
use crate::discovery::{LinuxPlatform, Platform};
use crate::durable::{self, SequenceAllocator};
use crate::enroll;
use crate::error::{Error, Result};
use crate::health::HealthSampler;
use crate::shared::{Inner, Intervals, Shared};
use crate::spool::{Kind, Spool};
use crate::{renew, session};

/// Runs the agent until `shutdown` is cancelled.
pub async fn run(config: AgentConfig, shutdown: CancellationToken) -> Result<()> {
    let credentials = enroll::load_credentials(&config.state_dir)?;
    if config.collectors.is_empty() && credentials.enrollment.collector.is_empty() {
        return Err(Error::Config("no collector endpoint configured".into()));
    }
    let (spool, damage) = Spool::open(&config.state_dir.join("spool"), config.spool_max_bytes)?;
    if let Some(damage) = damage {
        tracing::warn!(report = %damage, "spool damaged");
    }
    let intervals = Intervals::from_secs(
        config.heartbeat_interval_s,
        config.health_interval_s,
        config.inventory_interval_s,
    );
    let shared = Arc::new(Shared {
        platform: Arc::new(
            LinuxPlatform::new(config.root.clone()).with_systemctl(config.systemctl.as_deref()),
        ),
        inner: Mutex::new(Inner {
            spool,
            seq: SequenceAllocator::open(&config.state_dir)?,
            outbound: None,
            sent_up_to: 0,
            acked: 0,
            baseline: durable::load_baseline(&config.state_dir),
            snapshot_in_flight: None,
        }),
        full_inventory: Notify::new(),
        acked: Notify::new(),
        intervals: watch::channel(intervals).0,
        config,
    });
    // The first inventory is taken before connecting, so Hello carries the full identity.
    collect_and_enqueue(&shared, false).await;
    let tasks = tokio_util::task::TaskTracker::new();
    tasks.spawn(inventory_loop(shared.clone(), shutdown.clone()));
    tasks.spawn(health_loop(shared.clone(), shutdown.clone()));
    if !shared.config.checks.is_empty() {
        tasks.spawn(checks_loop(shared.clone(), shutdown.clone()));
    }
    let endpoints = session::endpoints(&shared.config, &credentials);
    let (credentials, latest) = watch::channel(credentials);
    tasks.spawn(renew::renewal_loop(
        shared.config.state_dir.clone(),
        endpoints,
        credentials,
        shutdown.clone(),
    ));
    let outcome = session::connection_loop(shared.clone(), latest, shutdown.clone()).await;
    if outcome.is_err() {
        // Revoked: the producers have no one to report to.
        shutdown.cancel();
    }
    tasks.close();
    tasks.wait().await;
    outcome
}

/// Runs the agent as `rollcall-agent run` does: writes `agent.pid` in the
/// state directory (for `rollcall-agent stop`), runs until SIGTERM or
/// SIGINT, and removes the pid file again.
pub async fn run_until_signalled(config: AgentConfig) -> Result<()> {
    let shutdown = CancellationToken::new();
    let signal_token = shutdown.clone();
    tokio::spawn(async move {
        wait_for_signal().await;
        signal_token.cancel();
    });
    crate::files::private_dir(&config.state_dir).map_err(|source| Error::File {
        what: "state directory",
        source,
    })?;
    let pid_path = config.state_dir.join("agent.pid");
    crate::files::write_private(&pid_path, std::process::id().to_string().as_bytes()).map_err(
        |source| Error::File {
            what: "pid file",
            source,
        },
    )?;
    let result = run(config, shutdown).await;
    let _ = std::fs::remove_file(pid_path);
    result
}

async fn wait_for_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let (Ok(mut terminate), Ok(mut interrupt)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) else {
        std::future::pending::<()>().await;
        return;
    };
    tokio::select! {
        _ = terminate.recv() => {}
        _ = interrupt.recv() => {}
    }
}

async fn collect_and_enqueue(shared: &Arc<Shared>, requested_full: bool) {
    let platform = shared.platform.clone();
    match tokio::task::spawn_blocking(move || platform.inventory()).await {
        Ok(inventory) => {
            if let Err(error) = enqueue_inventory(shared, inventory, requested_full) {
                tracing::error!(error = %error, "cannot spool inventory");
            }
        }
        Err(error) => tracing::error!(error = %error, "inventory collection failed"),
    }
}

async fn inventory_loop(shared: Arc<Shared>, shutdown: CancellationToken) {
    let mut intervals = shared.intervals.subscribe();
    loop {
        let period = intervals.borrow_and_update().inventory;
        let requested_full = tokio::select! {
            _ = tokio::time::sleep(period) => false,
            _ = shared.full_inventory.notified() => true,
            _ = intervals.changed() => continue,
            _ = shutdown.cancelled() => return,
        };
        collect_and_enqueue(&shared, requested_full).await;
    }
}

fn enqueue_inventory(shared: &Shared, inventory: Inventory, requested_full: bool) -> Result<()> {
    let mut inner = shared.lock();
    let dropped = inner.spool.take_inventory_dropped()?;
    let body = match (&inner.baseline, requested_full || dropped) {
        (Some(baseline), false) => {
            crate::delta::diff(baseline, &inventory).map(|delta| Body::Delta(Box::new(delta)))
        }
        _ => Some(Body::Snapshot(Box::new(InventorySnapshot {
            inventory: Some(inventory.clone()),
        }))),
    };
    let Some(body) = body else {
        tracing::debug!("inventory unchanged; nothing to send");
        return Ok(());
    };
    let is_snapshot = matches!(body, Body::Snapshot(_));
    match &body {
        Body::Delta(delta) => {
            let upserts = delta
                .upserts
                .as_ref()
                .map(|upserts| inventory::flatten(upserts).len())
                .unwrap_or(0);
            tracing::info!(
                upserts,
                removed = delta.removed.len(),
                bytes = delta.encoded_len(),
                "inventory delta spooled"
            );
        }
        _ => tracing::info!(
            packages = inventory.packages.len(),
            bytes = inventory.encoded_len(),
            "inventory snapshot spooled"
        ),
    }
    let seq = inner.push(Kind::Inventory, body)?;
    if is_snapshot {
        inner.snapshot_in_flight = Some(seq);
    }
    durable::save_baseline(&shared.config.state_dir, &inventory)?;
    inner.baseline = Some(inventory);
    Ok(())
}

async fn health_loop(shared: Arc<Shared>, shutdown: CancellationToken) {
    let mut intervals = shared.intervals.subscribe();
    let new_sampler = || {
        HealthSampler::new(shared.config.root.clone())
            .with_systemctl(shared.config.systemctl.as_deref())
    };
    let mut sampler = Some(new_sampler());
    loop {
        let Some(mut current) = sampler.take() else {
            return;
        };
        let sampled = tokio::task::spawn_blocking(move || {
            let report = current.sample();
            (current, report)
        })
        .await;
        match sampled {
            Ok((current, report)) => {
                sampler = Some(current);
                let sampled_at_ms = report.sampled_at_ms;
                match shared
                    .lock()
                    .push(Kind::Health, Body::Health(Box::new(report)))
                {
                    // The agent's own record of what it sent, in its order
                    // (the spool end-to-end test compares the store to it).
                    Ok(seq) => tracing::debug!(seq, sampled_at_ms, "health sample spooled"),
                    Err(error) => tracing::error!(error = %error, "cannot spool health sample"),
                }
            }
            Err(error) => {
                tracing::error!(error = %error, "health sampling failed");
                sampler = Some(new_sampler());
            }
        }
        let period = intervals.borrow_and_update().health;
        tokio::select! {
            _ = tokio::time::sleep(period) => {}
            _ = intervals.changed() => {}
            _ = shutdown.cancelled() => return,
        }
    }
}

async fn checks_loop(shared: Arc<Shared>, shutdown: CancellationToken) {
    let default_period = shared.config.health_interval_s;
    let mut next_due: Vec<tokio::time::Instant> =
        vec![tokio::time::Instant::now(); shared.config.checks.len()];
    loop {
        let now = tokio::time::Instant::now();
        let mut results = Vec::new();
        for (index, check) in shared.config.checks.iter().enumerate() {
            if next_due[index] <= now {
                results.push(crate::checks::run_check(check, &shared.config.root).await);
                let period = check.interval_s.unwrap_or(default_period.into()).max(1);
                next_due[index] = now + std::time::Duration::from_secs(period);
            }
        }
        if !results.is_empty()
            && let Err(error) = shared
                .lock()
                .push(Kind::Other, Body::Checks(CheckResults { results }))
        {
            tracing::error!(error = %error, "cannot spool check results");
        }
        let wake = next_due
            .iter()
            .min()
            .copied()
            .unwrap_or(now + std::time::Duration::from_secs(60));
        tokio::select! {
            _ = tokio::time::sleep_until(wake) => {}
            _ = shutdown.cancelled() => return,
        }
    }
}
