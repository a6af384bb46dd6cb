//! The integrations outbox in the store: fan-out of incident events to
//! per-target delivery rows, claiming due rows, recording answers, the
//! external references targets returned, and dead letters.

use async_trait::async_trait;
use serde::Serialize;
use sqlx::{AssertSqlSafe, Row};

use super::Backend;
use super::sql::SqlStore;
use crate::error::Result;

/// Delivery state of an outbox row.
pub mod state {
    /// Waiting to be sent (or to be retried).
    pub const PENDING: &str = "pending";
    /// The target accepted it.
    pub const DELIVERED: &str = "delivered";
    /// Gave up: final error or too many attempts; an operator may retry it.
    pub const DEAD: &str = "dead";
}

/// An `incident_events` row not yet fanned out.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct EventRow {
    /// Event id.
    pub id: i64,
    /// Incident id.
    pub incident_id: String,
    /// `trigger`, `resolve`, `acknowledge` or `update`.
    pub transition: String,
    /// The `IncidentEvent` JSON.
    pub payload: String,
    /// When it was recorded (ms).
    pub created_at: i64,
}

/// A delivery to create for one (event, target).
#[derive(Debug, Clone)]
pub struct NewOutboxEntry {
    /// Event id.
    pub event_id: i64,
    /// Incident id.
    pub incident_id: String,
    /// Target name.
    pub target: String,
    /// Transition name.
    pub transition: String,
    /// The incident's dedup key.
    pub dedup_key: String,
    /// The `IncidentEvent` JSON.
    pub payload: String,
}

/// One delivery of one event to one target.
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct OutboxEntry {
    /// Row id.
    pub id: i64,
    /// Event id.
    pub event_id: i64,
    /// Incident id.
    pub incident_id: String,
    /// Target name.
    pub target: String,
    /// Transition name.
    pub transition: String,
    /// The incident's dedup key.
    pub dedup_key: String,
    /// The `IncidentEvent` JSON.
    pub payload: String,
    /// `pending`, `delivered` or `dead`.
    pub state: String,
    /// Attempts so far.
    pub attempts: i64,
    /// Earliest next attempt (ms).
    pub next_attempt_at: i64,
    /// The last error, if the last attempt failed.
    pub last_error: Option<String>,
    /// Creation time (ms).
    pub created_at: i64,
    /// When the target accepted it (ms).
    pub delivered_at: Option<i64>,
}

/// What a target returned for an incident (sys_id, Jira key, ticket id, …).
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct ExternalRef {
    /// Incident id.
    pub incident_id: String,
    /// Target name.
    pub target: String,
    /// The target's reference.
    pub external_ref: String,
    /// Last update (ms).
    pub updated_at: i64,
}

/// Rows per target and state.
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct OutboxCount {
    /// Target name.
    pub target: String,
    /// State.
    pub state: String,
    /// Number of rows.
    pub count: i64,
}

/// Filters for listing outbox rows.
#[derive(Debug, Clone, Default)]
pub struct OutboxFilter {
    /// Only this state.
    pub state: Option<String>,
    /// Only this incident.
    pub incident_id: Option<String>,
    /// Only this target.
    pub target: Option<String>,
    /// Only rows with a greater id (cursor).
    pub after_id: Option<i64>,
    /// Page size.
    pub limit: i64,
}

/// How long an event may commit after a later one on PostgreSQL (sequence
/// values are taken before commit), so fan-out looks back this far.
const LATE_COMMIT_WINDOW_MS: i64 = 60_000;

const OUTBOX_COLUMNS: &str = "id, event_id, incident_id, target, transition, dedup_key, payload, state, attempts, \
    next_attempt_at, last_error, created_at, delivered_at";

/// Storage for integrations delivery; a supertrait of `Store`.
#[async_trait]
pub trait OutboxStore: Send + Sync {
    /// Incident events not yet fanned out: those past the cursor, oldest
    /// first, then (PostgreSQL) recent ones that committed late.
    async fn undispatched_events(&self, now: i64, limit: i64) -> Result<Vec<EventRow>>;
    /// Inserts deliveries (idempotently by (event, target)) and advances the
    /// fan-out cursor to `cursor`, in one transaction; returns rows inserted.
    async fn fan_out(&self, entries: &[NewOutboxEntry], cursor: i64, now: i64) -> Result<u64>;
    /// Claims up to `limit` due pending rows of `target` for `lease_ms`;
    /// a row waits while an older pending row of the same dedup key exists,
    /// so transitions reach a target in order.
    async fn claim_due(
        &self,
        target: &str,
        now: i64,
        lease_ms: i64,
        limit: i64,
    ) -> Result<Vec<OutboxEntry>>;
    /// Gives claimed rows back without an attempt.
    async fn release_claims(&self, ids: &[i64]) -> Result<()>;
    /// Drops the leases a previous process left, at start: on a backend
    /// that only one process can serve (SQLite) every lease is void; a
    /// shared backend (PostgreSQL) keeps them, since another collector may
    /// hold them, and they expire on their own.
    async fn release_orphaned_claims(&self) -> Result<()>;
    /// Records that the target accepted a row, and the reference it returned.
    async fn mark_delivered(&self, id: i64, at: i64, external_ref: Option<&str>) -> Result<()>;
    /// Records a failed attempt: retried at `next_attempt_at`, or dead when `None`.
    async fn mark_failed(
        &self,
        id: i64,
        at: i64,
        error: &str,
        next_attempt_at: Option<i64>,
    ) -> Result<()>;
    /// The reference a target returned for an incident.
    async fn external_ref(&self, incident_id: &str, target: &str) -> Result<Option<String>>;
    /// Every reference targets returned for an incident.
    async fn external_refs(&self, incident_id: &str) -> Result<Vec<ExternalRef>>;
    /// Lists outbox rows, oldest first.
    async fn outbox_entries(&self, filter: &OutboxFilter) -> Result<Vec<OutboxEntry>>;
    /// One outbox row.
    async fn outbox_entry(&self, id: i64) -> Result<Option<OutboxEntry>>;
    /// Puts a dead row back to pending, due now; false if it is not dead.
    async fn retry_dead(&self, id: i64, at: i64) -> Result<bool>;
    /// Row counts per target and state.
    async fn outbox_counts(&self) -> Result<Vec<OutboxCount>>;
    /// For each dedup key whose last delivered row to `target` is not a
    /// resolve, that row: what is still firing upstream.
    async fn firing(&self, target: &str, limit: i64) -> Result<Vec<OutboxEntry>>;
}

fn placeholders(start: usize, count: usize) -> String {
    (start..start + count)
        .map(|index| format!("${index}"))
        .collect::<Vec<_>>()
        .join(", ")
}

#[async_trait]
impl OutboxStore for SqlStore {
    async fn undispatched_events(&self, now: i64, limit: i64) -> Result<Vec<EventRow>> {
        let cursor: i64 =
            sqlx::query("SELECT last_event_id FROM outbox_cursor WHERE name = 'dispatcher'")
                .fetch_optional(self.pool())
                .await?
                .map(|row| row.try_get::<i64, _>(0))
                .transpose()?
                .unwrap_or(0);
        let mut events = sqlx::query_as::<_, EventRow>(
            "SELECT id, incident_id, transition, payload, created_at FROM incident_events \
             WHERE id > $1 ORDER BY id LIMIT $2",
        )
        .bind(cursor)
        .bind(limit)
        .fetch_all(self.pool())
        .await?;
        // SQLite writers are serialized, so ids commit in order; on PostgreSQL
        // a smaller id may commit after a larger one was read, so look back a while.
        if self.backend == Backend::Postgres {
            let late = sqlx::query_as::<_, EventRow>(
                "SELECT e.id, e.incident_id, e.transition, e.payload, e.created_at FROM incident_events e \
                 WHERE e.id <= $1 AND e.created_at >= $2 \
                 AND NOT EXISTS (SELECT 1 FROM outbox o WHERE o.event_id = e.id) ORDER BY e.id LIMIT $3",
            )
            .bind(cursor)
            .bind(now - LATE_COMMIT_WINDOW_MS)
            .bind(limit)
            .fetch_all(self.pool())
            .await?;
            events.extend(late);
        }
        Ok(events)
    }

    async fn fan_out(&self, entries: &[NewOutboxEntry], cursor: i64, now: i64) -> Result<u64> {
        let mut tx = self.begin_write().await?;
        let mut inserted = 0;
        for entry in entries {
            inserted += sqlx::query(
                "INSERT INTO outbox (event_id, incident_id, target, transition, dedup_key, payload, state, \
                 attempts, next_attempt_at, claimed_until, created_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, 'pending', 0, $7, 0, $7) \
                 ON CONFLICT (event_id, target) DO NOTHING",
            )
            .bind(entry.event_id)
            .bind(&entry.incident_id)
            .bind(&entry.target)
            .bind(&entry.transition)
            .bind(&entry.dedup_key)
            .bind(&entry.payload)
            .bind(now)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        }
        sqlx::query(
            "INSERT INTO outbox_cursor (name, last_event_id, updated_at) VALUES ('dispatcher', $1, $2) \
             ON CONFLICT (name) DO UPDATE SET last_event_id = excluded.last_event_id, updated_at = excluded.updated_at \
             WHERE outbox_cursor.last_event_id < excluded.last_event_id",
        )
        .bind(cursor)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(inserted)
    }

    async fn claim_due(
        &self,
        target: &str,
        now: i64,
        lease_ms: i64,
        limit: i64,
    ) -> Result<Vec<OutboxEntry>> {
        let lock = match self.backend {
            Backend::Postgres => " FOR UPDATE SKIP LOCKED",
            Backend::Sqlite => "",
        };
        let sql = format!(
            "SELECT {OUTBOX_COLUMNS} FROM outbox o WHERE o.target = $1 AND o.state = 'pending' \
             AND o.next_attempt_at <= $2 AND o.claimed_until < $2 \
             AND NOT EXISTS (SELECT 1 FROM outbox p WHERE p.target = o.target AND p.dedup_key = o.dedup_key \
             AND p.state = 'pending' AND p.id < o.id) \
             ORDER BY o.id LIMIT $3{lock}"
        );
        let mut tx = self.begin_write().await?;
        let rows = sqlx::query_as::<_, OutboxEntry>(AssertSqlSafe(sql))
            .bind(target)
            .bind(now)
            .bind(limit)
            .fetch_all(&mut *tx)
            .await?;
        if !rows.is_empty() {
            let sql = format!(
                "UPDATE outbox SET claimed_until = $1 WHERE id IN ({})",
                placeholders(2, rows.len())
            );
            let mut query = sqlx::query(AssertSqlSafe(sql)).bind(now + lease_ms);
            for row in &rows {
                query = query.bind(row.id);
            }
            query.execute(&mut *tx).await?;
        }
        tx.commit().await?;
        Ok(rows)
    }

    async fn release_claims(&self, ids: &[i64]) -> Result<()> {
        if ids.is_empty() {
            return Ok(());
        }
        let sql = format!(
            "UPDATE outbox SET claimed_until = 0 WHERE state = 'pending' AND id IN ({})",
            placeholders(1, ids.len())
        );
        let mut query = sqlx::query(AssertSqlSafe(sql));
        for id in ids {
            query = query.bind(*id);
        }
        query.execute(self.pool()).await?;
        Ok(())
    }

    async fn release_orphaned_claims(&self) -> Result<()> {
        if self.backend != Backend::Sqlite {
            return Ok(());
        }
        sqlx::query(
            "UPDATE outbox SET claimed_until = 0 WHERE state = 'pending' AND claimed_until <> 0",
        )
        .execute(self.pool())
        .await?;
        Ok(())
    }

    async fn mark_delivered(&self, id: i64, at: i64, external_ref: Option<&str>) -> Result<()> {
        let mut tx = self.begin_write().await?;
        let row = sqlx::query(
            "UPDATE outbox SET state = 'delivered', delivered_at = $2, attempts = attempts + 1, \
             claimed_until = 0, last_error = NULL WHERE id = $1 RETURNING incident_id, target",
        )
        .bind(id)
        .bind(at)
        .fetch_optional(&mut *tx)
        .await?;
        if let (Some(row), Some(external_ref)) = (row, external_ref) {
            let incident_id: String = row.try_get("incident_id")?;
            let target: String = row.try_get("target")?;
            sqlx::query(
                "INSERT INTO incident_refs (incident_id, target, external_ref, updated_at) VALUES ($1, $2, $3, $4) \
                 ON CONFLICT (incident_id, target) DO UPDATE SET external_ref = excluded.external_ref, \
                 updated_at = excluded.updated_at",
            )
            .bind(incident_id)
            .bind(target)
            .bind(external_ref)
            .bind(at)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    async fn mark_failed(
        &self,
        id: i64,
        at: i64,
        error: &str,
        next_attempt_at: Option<i64>,
    ) -> Result<()> {
        let (state, next) = match next_attempt_at {
            Some(next) => (state::PENDING, next),
            None => (state::DEAD, at),
        };
        sqlx::query(
            "UPDATE outbox SET state = $2, attempts = attempts + 1, next_attempt_at = $3, claimed_until = 0, \
             last_error = $4 WHERE id = $1 AND state = 'pending'",
        )
        .bind(id)
        .bind(state)
        .bind(next)
        .bind(error)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    async fn external_ref(&self, incident_id: &str, target: &str) -> Result<Option<String>> {
        Ok(sqlx::query(
            "SELECT external_ref FROM incident_refs WHERE incident_id = $1 AND target = $2",
        )
        .bind(incident_id)
        .bind(target)
        .fetch_optional(self.pool())
        .await?
        .map(|row| row.try_get::<String, _>(0))
        .transpose()?)
    }

    async fn external_refs(&self, incident_id: &str) -> Result<Vec<ExternalRef>> {
        Ok(sqlx::query_as::<_, ExternalRef>(
            "SELECT incident_id, target, external_ref, updated_at FROM incident_refs \
             WHERE incident_id = $1 ORDER BY target",
        )
        .bind(incident_id)
        .fetch_all(self.pool())
        .await?)
    }

    async fn outbox_entries(&self, filter: &OutboxFilter) -> Result<Vec<OutboxEntry>> {
        let mut sql = format!("SELECT {OUTBOX_COLUMNS} FROM outbox WHERE id > $1");
        let mut binds: Vec<&str> = Vec::new();
        for (column, value) in [
            ("state", &filter.state),
            ("incident_id", &filter.incident_id),
            ("target", &filter.target),
        ] {
            if let Some(value) = value {
                binds.push(value);
                sql.push_str(&format!(" AND {column} = ${}", binds.len() + 1));
            }
        }
        sql.push_str(&format!(" ORDER BY id LIMIT ${}", binds.len() + 2));
        let mut query =
            sqlx::query_as::<_, OutboxEntry>(AssertSqlSafe(sql)).bind(filter.after_id.unwrap_or(0));
        for value in binds {
            query = query.bind(value);
        }
        Ok(query.bind(filter.limit).fetch_all(self.pool()).await?)
    }

    async fn outbox_entry(&self, id: i64) -> Result<Option<OutboxEntry>> {
        let sql = format!("SELECT {OUTBOX_COLUMNS} FROM outbox WHERE id = $1");
        Ok(sqlx::query_as::<_, OutboxEntry>(AssertSqlSafe(sql))
            .bind(id)
            .fetch_optional(self.pool())
            .await?)
    }

    async fn retry_dead(&self, id: i64, at: i64) -> Result<bool> {
        let done = sqlx::query(
            "UPDATE outbox SET state = 'pending', next_attempt_at = $2, claimed_until = 0 \
             WHERE id = $1 AND state = 'dead'",
        )
        .bind(id)
        .bind(at)
        .execute(self.pool())
        .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn outbox_counts(&self) -> Result<Vec<OutboxCount>> {
        Ok(sqlx::query_as::<_, OutboxCount>(
            "SELECT target, state, COUNT(*) AS count FROM outbox GROUP BY target, state ORDER BY target, state",
        )
        .fetch_all(self.pool())
        .await?)
    }

    async fn firing(&self, target: &str, limit: i64) -> Result<Vec<OutboxEntry>> {
        let sql = format!(
            "SELECT {OUTBOX_COLUMNS} FROM outbox o WHERE o.target = $1 AND o.state = 'delivered' \
             AND o.transition <> 'resolve' AND NOT EXISTS (SELECT 1 FROM outbox p WHERE p.target = o.target \
             AND p.dedup_key = o.dedup_key AND p.state = 'delivered' AND p.id > o.id) \
             ORDER BY o.id LIMIT $2"
        );
        Ok(sqlx::query_as::<_, OutboxEntry>(AssertSqlSafe(sql))
            .bind(target)
            .bind(limit)
            .fetch_all(self.pool())
            .await?)
    }
}
