//! The integrations outbox in SQL: fan-out, claiming due rows (skipping
//! rows other claimers hold where the database can), answers, references
//! and dead letters.

use async_trait::async_trait;
use sqlx::{AssertSqlSafe, Row};

use super::SqlStore;
use super::statements::{ListQuery, Statement};
use crate::error::Result;
use crate::store::outbox::state;
use crate::store::{
    EventRow, ExternalRef, NewOutboxEntry, OutboxCount, OutboxEntry, OutboxFilter, OutboxStore,
};

/// How long an event may commit after a later one where ids may commit late
/// (`Dialect::ids_may_commit_late`), so fan-out looks back this far.
const LATE_COMMIT_WINDOW_MS: i64 = 60_000;

const OUTBOX_COLUMNS: &str = "id, event_id, incident_id, target, transition, dedup_key, payload, state, attempts, \
    next_attempt_at, last_error, created_at, delivered_at";

#[async_trait]
impl OutboxStore for SqlStore {
    async fn undispatched_events(&self, now: i64, limit: i64) -> Result<Vec<EventRow>> {
        let cursor: i64 =
            sqlx::query("SELECT last_event_id FROM outbox_cursor WHERE name = 'dispatcher'")
                .fetch_optional(&self.pool)
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
        .fetch_all(&self.pool)
        .await?;
        // Where a smaller id may commit after a larger one was read, look back a while.
        if self.dialect.ids_may_commit_late() {
            let late = sqlx::query_as::<_, EventRow>(
                "SELECT e.id, e.incident_id, e.transition, e.payload, e.created_at FROM incident_events e \
                 WHERE e.id <= $1 AND e.created_at >= $2 \
                 AND NOT EXISTS (SELECT 1 FROM outbox o WHERE o.event_id = e.id) ORDER BY e.id LIMIT $3",
            )
            .bind(cursor)
            .bind(now - LATE_COMMIT_WINDOW_MS)
            .bind(limit)
            .fetch_all(&self.pool)
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
        let lock = self.dialect.skip_locked();
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
            let mut statement = Statement::new(self.dialect, "UPDATE outbox SET claimed_until = ");
            statement
                .bind(now + lease_ms)
                .push(" WHERE id IN ")
                .bind_list(rows.iter().map(|row| row.id));
            statement.query()?.execute(&mut *tx).await?;
        }
        tx.commit().await?;
        Ok(rows)
    }

    async fn release_claims(&self, ids: &[i64]) -> Result<()> {
        if ids.is_empty() {
            return Ok(());
        }
        let mut statement = Statement::new(
            self.dialect,
            "UPDATE outbox SET claimed_until = 0 WHERE state = 'pending' AND id IN ",
        );
        statement.bind_list(ids.iter().copied());
        statement.query()?.execute(&self.pool).await?;
        Ok(())
    }

    async fn release_orphaned_claims(&self) -> Result<()> {
        if !self.dialect.single_process() {
            return Ok(());
        }
        sqlx::query(
            "UPDATE outbox SET claimed_until = 0 WHERE state = 'pending' AND claimed_until <> 0",
        )
        .execute(&self.pool)
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
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn external_ref(&self, incident_id: &str, target: &str) -> Result<Option<String>> {
        Ok(sqlx::query(
            "SELECT external_ref FROM incident_refs WHERE incident_id = $1 AND target = $2",
        )
        .bind(incident_id)
        .bind(target)
        .fetch_optional(&self.pool)
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
        .fetch_all(&self.pool)
        .await?)
    }

    async fn outbox_entries(&self, filter: &OutboxFilter) -> Result<Vec<OutboxEntry>> {
        let mut list = ListQuery::new(
            self.dialect,
            &format!("SELECT {OUTBOX_COLUMNS} FROM outbox"),
        );
        list.after("id", filter.after_id)
            .equals("state", filter.state.as_deref())
            .equals("incident_id", filter.incident_id.as_deref())
            .equals("target", filter.target.as_deref());
        Ok(list
            .page("id", filter.limit)
            .query_as::<OutboxEntry>()?
            .fetch_all(&self.pool)
            .await?)
    }

    async fn outbox_entry(&self, id: i64) -> Result<Option<OutboxEntry>> {
        let sql = format!("SELECT {OUTBOX_COLUMNS} FROM outbox WHERE id = $1");
        Ok(sqlx::query_as::<_, OutboxEntry>(AssertSqlSafe(sql))
            .bind(id)
            .fetch_optional(&self.pool)
            .await?)
    }

    async fn retry_dead(&self, id: i64, at: i64) -> Result<bool> {
        let done = sqlx::query(
            "UPDATE outbox SET state = 'pending', next_attempt_at = $2, claimed_until = 0 \
             WHERE id = $1 AND state = 'dead'",
        )
        .bind(id)
        .bind(at)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn outbox_counts(&self) -> Result<Vec<OutboxCount>> {
        Ok(sqlx::query_as::<_, OutboxCount>(
            "SELECT target, state, COUNT(*) AS count FROM outbox GROUP BY target, state ORDER BY target, state",
        )
        .fetch_all(&self.pool)
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
            .fetch_all(&self.pool)
            .await?)
    }
}
