//! Incident events written straight into a collector's SQLite database, as
//! the incident engine does, so integrations can be tested without it; and
//! into a shared PostgreSQL database by URL (`open_url`, `insert_any`).

use std::path::Path;

use anyhow::{Context, Result};
use rollcall_collector::incidents::event::{CiRef, IncidentEvent, Severity, Transition};
use sqlx::sqlite::{SqliteConnectOptions, SqlitePoolOptions};
use sqlx::{Row, SqlitePool};

/// An incident event about host `host` for rule `host_down`.
pub fn host_down(incident_id: &str, host: &str, transition: Transition) -> IncidentEvent {
    let now = rollcall_proto::now_ms();
    IncidentEvent {
        event_id: 0,
        incident_id: incident_id.to_string(),
        dedup_key: format!("{host}:host_down"),
        transition,
        rule: "host_down".into(),
        severity: Severity::Critical,
        summary: format!("{host} is down"),
        description: format!("no heartbeat from {host}"),
        ci: CiRef {
            id: host.to_string(),
            name: host.to_string(),
            fqdn: format!("{host}.example.test"),
            class: "linux_server".into(),
            tags: vec!["prod".into()],
        },
        business_services: vec!["shop".into()],
        opened_at_ms: now - 1000,
        resolved_at_ms: (transition == Transition::Resolve).then_some(now),
        occurred_at_ms: now,
        details: serde_json::json!({ "last_heartbeat_ms": now - 1000 }),
        previous_severity: None,
    }
}

/// A connection to the collector's `<data_dir>/rollcall.db` (after it created it).
pub async fn open(data_dir: &Path) -> Result<SqlitePool> {
    let options = SqliteConnectOptions::new()
        .filename(data_dir.join("rollcall.db"))
        .busy_timeout(std::time::Duration::from_secs(30));
    SqlitePoolOptions::new()
        .max_connections(1)
        .connect_with(options)
        .await
        .context("open the collector database")
}

/// Inserts an `incident_events` row; returns its id.
pub async fn insert(pool: &SqlitePool, event: &IncidentEvent) -> Result<i64> {
    let row = sqlx::query(
        "INSERT INTO incident_events (incident_id, transition, payload, created_at) VALUES ($1, $2, $3, $4) RETURNING id",
    )
    .bind(&event.incident_id)
    .bind(event.transition.as_str())
    .bind(serde_json::to_string(event)?)
    .bind(event.occurred_at_ms)
    .fetch_one(pool)
    .await?;
    Ok(row.try_get::<i64, _>(0)?)
}

/// A connection to a collector's database by URL (PostgreSQL, a collector
/// group's shared database).
pub async fn open_url(url: &str) -> Result<sqlx::AnyPool> {
    sqlx::any::install_default_drivers();
    sqlx::any::AnyPoolOptions::new()
        .max_connections(2)
        .connect(url)
        .await
        .context("open the collector database")
}

/// Inserts an `incident_events` row through `open_url`'s pool; returns its id.
pub async fn insert_any(pool: &sqlx::AnyPool, event: &IncidentEvent) -> Result<i64> {
    let row = sqlx::query(
        "INSERT INTO incident_events (incident_id, transition, payload, created_at) VALUES ($1, $2, $3, $4) RETURNING id",
    )
    .bind(&event.incident_id)
    .bind(event.transition.as_str())
    .bind(serde_json::to_string(event)?)
    .bind(event.occurred_at_ms)
    .fetch_one(pool)
    .await?;
    Ok(row.try_get::<i64, _>(0)?)
}
