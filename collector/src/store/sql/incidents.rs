//! Incidents, their events and comments in SQL. Each transition and the
//! event that tells the outbox about it are written in one transaction.

use async_trait::async_trait;
use sqlx::AssertSqlSafe;

use super::SqlStore;
use super::dialect::Tx;
use super::statements::ListQuery;
use crate::error::{Error, Result};
use crate::store::{Comment, Incident, IncidentFilter, IncidentStore, IncidentUpdate};

const INCIDENT_COLUMNS: &str = "id, dedup_key, ci_id, rule, severity, state, summary, details, parent_id, suppressed, flaps, \
    opened_at, acknowledged_at, acknowledged_by, resolved_at, updated_at";

/// Records an incident event for the outbox, in the transition's transaction.
async fn insert_event(
    tx: &mut Tx,
    incident_id: &str,
    transition: &str,
    payload: &str,
    at: i64,
) -> Result<()> {
    sqlx::query("INSERT INTO incident_events (incident_id, transition, payload, created_at) VALUES ($1, $2, $3, $4)")
        .bind(incident_id)
        .bind(transition)
        .bind(payload)
        .bind(at)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// A guarded UPDATE of one incident (`update`, whose WHERE clause names
/// the states it applies to) and, if it changed the row, the event of
/// `transition` in the same transaction; false if nothing matched.
async fn transition(
    store: &SqlStore,
    update: sqlx::query::Query<'_, sqlx::Any, sqlx::any::AnyArguments>,
    incident_id: &str,
    transition: &str,
    event: Option<&str>,
    at: i64,
) -> Result<bool> {
    let mut tx = store.begin_write().await?;
    if update.execute(&mut *tx).await?.rows_affected() == 0 {
        return Ok(false);
    }
    if let Some(payload) = event {
        insert_event(&mut tx, incident_id, transition, payload, at).await?;
    }
    tx.commit().await?;
    Ok(true)
}

#[async_trait]
impl IncidentStore for SqlStore {
    async fn insert_incident(&self, incident: &Incident, event: Option<&str>) -> Result<bool> {
        let mut tx = self.begin_write().await?;
        let existing =
            sqlx::query("SELECT id FROM incidents WHERE dedup_key = $1 AND state <> 'resolved'")
                .bind(&incident.dedup_key)
                .fetch_optional(&mut *tx)
                .await?;
        if existing.is_some() {
            return Ok(false);
        }
        let sql = format!(
            "INSERT INTO incidents ({INCIDENT_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)"
        );
        sqlx::query(AssertSqlSafe(sql))
            .bind(&incident.id)
            .bind(&incident.dedup_key)
            .bind(&incident.ci_id)
            .bind(&incident.rule)
            .bind(&incident.severity)
            .bind(&incident.state)
            .bind(&incident.summary)
            .bind(&incident.details)
            .bind(incident.parent_id.clone())
            .bind(incident.suppressed)
            .bind(incident.flaps)
            .bind(incident.opened_at)
            .bind(incident.acknowledged_at)
            .bind(incident.acknowledged_by.clone())
            .bind(incident.resolved_at)
            .bind(incident.updated_at)
            .execute(&mut *tx)
            .await?;
        if let Some(payload) = event {
            insert_event(
                &mut tx,
                &incident.id,
                "trigger",
                payload,
                incident.opened_at,
            )
            .await?;
        }
        tx.commit().await?;
        Ok(true)
    }

    async fn resolve_incident(
        &self,
        incident_id: &str,
        at: i64,
        event: Option<&str>,
    ) -> Result<bool> {
        let update = sqlx::query("UPDATE incidents SET state = 'resolved', resolved_at = $1, updated_at = $1 WHERE id = $2 AND state <> 'resolved'")
            .bind(at)
            .bind(incident_id);
        transition(self, update, incident_id, "resolve", event, at).await
    }

    async fn acknowledge_incident(
        &self,
        incident_id: &str,
        by: &str,
        at: i64,
        event: Option<&str>,
    ) -> Result<bool> {
        let update = sqlx::query(
            "UPDATE incidents SET state = 'acknowledged', acknowledged_at = $1, acknowledged_by = $2, updated_at = $1 WHERE id = $3 AND state = 'open'",
        )
        .bind(at)
        .bind(by)
        .bind(incident_id);
        transition(self, update, incident_id, "acknowledge", event, at).await
    }

    async fn unsuppress_incident(
        &self,
        incident_id: &str,
        at: i64,
        event: Option<&str>,
    ) -> Result<bool> {
        let update = sqlx::query(
            "UPDATE incidents SET suppressed = 0, updated_at = $1 WHERE id = $2 AND state <> 'resolved' AND suppressed <> 0",
        )
        .bind(at)
        .bind(incident_id);
        transition(self, update, incident_id, "trigger", event, at).await
    }

    async fn update_incident(
        &self,
        incident_id: &str,
        change: &IncidentUpdate,
        event: Option<&str>,
    ) -> Result<bool> {
        let update = sqlx::query(
            "UPDATE incidents SET severity = $1, summary = $2, details = $3, updated_at = $4 \
             WHERE id = $5 AND state <> 'resolved' AND severity <> $1",
        )
        .bind(change.severity.clone())
        .bind(change.summary.clone())
        .bind(change.details.clone())
        .bind(change.at)
        .bind(incident_id);
        transition(self, update, incident_id, "update", event, change.at).await
    }

    async fn count_flap(&self, incident_id: &str, at: i64) -> Result<()> {
        sqlx::query("UPDATE incidents SET flaps = flaps + 1, updated_at = $1 WHERE id = $2")
            .bind(at)
            .bind(incident_id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn open_incident(&self, dedup_key: &str) -> Result<Option<Incident>> {
        let sql = format!(
            "SELECT {INCIDENT_COLUMNS} FROM incidents WHERE dedup_key = $1 AND state <> 'resolved'"
        );
        Ok(sqlx::query_as::<_, Incident>(AssertSqlSafe(sql))
            .bind(dedup_key)
            .fetch_optional(&self.pool)
            .await?)
    }

    async fn incident(&self, incident_id: &str) -> Result<Option<Incident>> {
        let sql = format!("SELECT {INCIDENT_COLUMNS} FROM incidents WHERE id = $1");
        Ok(sqlx::query_as::<_, Incident>(AssertSqlSafe(sql))
            .bind(incident_id)
            .fetch_optional(&self.pool)
            .await?)
    }

    async fn incidents(&self, filter: &IncidentFilter) -> Result<Vec<Incident>> {
        let mut list = ListQuery::new(
            self.dialect,
            &format!("SELECT {INCIDENT_COLUMNS} FROM incidents"),
        );
        match filter.state.as_deref() {
            Some("open") => {
                list.and().push("state <> 'resolved'");
            }
            Some("resolved") => {
                list.and().push("state = 'resolved'");
            }
            Some("acknowledged") => {
                list.and().push("state = 'acknowledged'");
            }
            Some(other) if other != "all" => {
                return Err(Error::InvalidInput(format!(
                    "state must be open, acknowledged, resolved or all, got {other:?}"
                )));
            }
            _ => {}
        }
        list.equals("ci_id", filter.ci_id.as_deref())
            .compare(
                "rule",
                "LIKE",
                filter
                    .rule_prefix
                    .as_ref()
                    .map(|prefix| format!("{prefix}%")),
            )
            .equals("parent_id", filter.parent_id.as_deref());
        Ok(list
            .page("opened_at DESC, id", filter.limit)
            .query_as::<Incident>()?
            .fetch_all(&self.pool)
            .await?)
    }

    async fn add_comment(&self, comment: &Comment) -> Result<()> {
        sqlx::query("INSERT INTO incident_comments (id, incident_id, author, body, at) VALUES ($1, $2, $3, $4, $5)")
            .bind(&comment.id)
            .bind(&comment.incident_id)
            .bind(&comment.author)
            .bind(&comment.body)
            .bind(comment.at)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn comments(&self, incident_id: &str) -> Result<Vec<Comment>> {
        Ok(sqlx::query_as::<_, Comment>("SELECT id, incident_id, author, body, at FROM incident_comments WHERE incident_id = $1 ORDER BY at, id")
            .bind(incident_id)
            .fetch_all(&self.pool)
            .await?)
    }
}
