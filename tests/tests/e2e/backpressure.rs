//! Back-pressure instead of failure, with a real collector on SQLite and a
//! real agent: another connection holds the database's write lock for longer
//! than the collector's 30 s busy time-out. Sessions wait (the store answers
//! `Busy`, the session retries) instead of ending; the host is heard and
//! stays up throughout; the change that waited is applied once the store is
//! free.

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use rollcall_tests::{Agent, Collector, CollectorOptions, fake_host_root, metric, wait_for};
use serde_json::Value;
use sqlx::Connection;

/// Longer than the collector's SQLite `busy_timeout` (30 s), so writes fail
/// with `SQLITE_BUSY` at least once and have to be retried.
const LOCK_HELD: Duration = Duration::from_secs(40);

fn add_package(root: &Path) -> Result<()> {
    let path = root.join("var/lib/dpkg/status");
    let mut text = std::fs::read_to_string(&path)?;
    text.push_str(
        "\nPackage: held-up\nStatus: install ok installed\nArchitecture: amd64\nVersion: 1.0-1\n",
    );
    let temporary = path.with_extension("new");
    std::fs::write(&temporary, text)?;
    std::fs::rename(&temporary, &path)?;
    Ok(())
}

async fn package_count(collector: &Collector) -> Result<Option<i64>> {
    Ok(collector
        .hosts()
        .await?
        .first()
        .and_then(|host| host["package_count"].as_i64()))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_locked_store_slows_the_session_down_and_ends_nothing() -> Result<()> {
    let dir = tempfile::tempdir()?;
    // Heartbeats every second (down_after 3 s); health and inventory rarely,
    // so that what waits during the lock is heartbeats and one delta.
    // Ingest and store at debug: a failure's log shows each busy wait.
    let collector = Collector::start_logging(
        dir.path(),
        &CollectorOptions {
            extra_toml: "[agents]\nheartbeat_interval_s = 1\nhealth_interval_s = 600\ninventory_interval_s = 2\n".into(),
            ..CollectorOptions::default()
        },
        "info,sqlx=warn,rollcall_collector::ingest=debug,rollcall_collector::store=debug",
    )?;
    let root = fake_host_root(dir.path(), "held", 0)?;
    let token = collector.enrollment_token(1, 600).await?;
    let agent = Agent::new(
        dir.path(),
        "agent",
        &[&collector.grpc_url],
        &format!("root = {:?}\n", root.display().to_string()),
    )?;
    let (ok, output) = agent.enroll(&collector.grpc_url, &token, &collector.ca_fingerprint)?;
    if !ok {
        bail!("enroll failed: {output}");
    }
    let process = agent.run()?;
    let before = wait_for("the first inventory", Duration::from_secs(60), || async {
        package_count(&collector).await.ok().flatten()
    })
    .await?;

    let url = format!(
        "sqlite://{}",
        collector.data_dir.join("rollcall.db").display()
    );
    let mut lock = sqlx::SqliteConnection::connect(&url)
        .await
        .context("open the collector's database")?;
    sqlx::query("BEGIN IMMEDIATE").execute(&mut lock).await?;
    let locked_at = Instant::now();
    add_package(&root)?;
    let mut presences = Vec::new();
    while locked_at.elapsed() < LOCK_HELD {
        tokio::time::sleep(Duration::from_secs(1)).await;
        let hosts = collector.hosts().await?;
        presences.push(hosts[0]["presence"].as_str().unwrap_or("?").to_string());
    }
    sqlx::query("ROLLBACK").execute(&mut lock).await?;
    drop(lock);
    assert!(
        presences.iter().all(|presence| presence == "up"),
        "the host stays up while its messages wait: {presences:?}"
    );

    let after = wait_for(
        "the held-up delta to be applied",
        Duration::from_secs(120),
        || async {
            package_count(&collector)
                .await
                .ok()
                .flatten()
                .filter(|count| *count == before + 1)
        },
    )
    .await
    .with_context(|| {
        format!(
            "agent log:\n{}\ncollector log:\n{}",
            process.stderr_text(),
            collector.process.stderr_text()
        )
    })?;
    assert_eq!(after, before + 1);
    let log = process.stderr_text();
    assert_eq!(
        log.matches("session established").count(),
        1,
        "the session was never ended: {log}"
    );
    let metrics = collector.metrics().await?;
    assert_eq!(
        metric(&metrics, "rollcall_messages_rejected_total"),
        0.0,
        "{metrics}"
    );
    assert!(
        metric(&metrics, "rollcall_store_busy_total") >= 1.0,
        "the waits are counted: {metrics}"
    );
    let incidents: Value = collector.get("/api/v1/incidents?limit=100").await?;
    assert_eq!(
        incidents["items"].as_array().map(Vec::len),
        Some(0),
        "no incident: {incidents}"
    );
    Ok(())
}
