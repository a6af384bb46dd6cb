//! Presence and outages in SQL.

use async_trait::async_trait;

use super::SqlStore;
use super::statements::ListQuery;
use crate::error::Result;
use crate::store::{NewOutage, Outage, OutageFilter, PresenceRow, PresenceStore};

#[async_trait]
impl PresenceStore for SqlStore {
    async fn load_presence(&self) -> Result<Vec<PresenceRow>> {
        Ok(sqlx::query_as::<_, PresenceRow>(
            "SELECT id, presence, COALESCE(last_heartbeat_at, last_seen_at) AS last_seen_at, away_until FROM hosts WHERE lifecycle <> 'retired'",
        )
        .fetch_all(&self.pool)
        .await?)
    }

    async fn set_presence(
        &self,
        host_id: &str,
        state: &str,
        at: i64,
        away_until: Option<i64>,
        away_reason: Option<&str>,
    ) -> Result<()> {
        sqlx::query("UPDATE hosts SET presence = $1, presence_since = $2, away_until = $3, away_reason = $4 WHERE id = $5")
            .bind(state)
            .bind(at)
            .bind(away_until)
            .bind(away_reason.map(String::from))
            .bind(host_id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn open_outage(&self, outage: &NewOutage) -> Result<()> {
        sqlx::query("INSERT INTO outages (id, host_id, kind, cause, began_at, detected_at) VALUES ($1, $2, $3, $4, $5, $6)")
            .bind(&outage.id)
            .bind(&outage.host_id)
            .bind(&outage.kind)
            .bind(&outage.cause)
            .bind(outage.began_at)
            .bind(outage.detected_at)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn close_outages(&self, host_id: &str, ended_at: i64) -> Result<Vec<Outage>> {
        self.close_open(host_id, ended_at, CLOSE_DOWN).await
    }

    async fn close_degraded(&self, host_id: &str, ended_at: i64) -> Result<Vec<Outage>> {
        self.close_open(host_id, ended_at, CLOSE_DEGRADED).await
    }

    async fn link_outage(&self, outage_id: &str, incident_id: &str) -> Result<()> {
        sqlx::query("UPDATE outages SET incident_id = $1 WHERE id = $2")
            .bind(incident_id)
            .bind(outage_id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn outages(&self, filter: &OutageFilter) -> Result<Vec<Outage>> {
        let mut list = ListQuery::new(
            self.dialect,
            "SELECT id, host_id, kind, cause, began_at, detected_at, ended_at, incident_id FROM outages",
        );
        // Outages overlapping [since, until).
        if let Some(since) = filter.since {
            list.and()
                .push("(ended_at IS NULL OR ended_at >= ")
                .bind(since)
                .push(")");
        }
        list.compare("began_at", "<", filter.until)
            .equals("host_id", filter.host_id.as_deref())
            .equals("kind", filter.kind.as_deref());
        Ok(list
            .page("began_at DESC", filter.limit)
            .query_as::<Outage>()?
            .fetch_all(&self.pool)
            .await?)
    }
}

/// The open outages of a host and the statement ending them, for one set of
/// kinds: (select, update).
type CloseStatements = (&'static str, &'static str);

/// Down outages (`unplanned`, `planned`): a host coming back ends them.
const CLOSE_DOWN: CloseStatements = (
    "SELECT id, host_id, kind, cause, began_at, detected_at, ended_at, incident_id FROM outages WHERE host_id = $1 AND ended_at IS NULL AND kind <> 'degraded'",
    "UPDATE outages SET ended_at = CASE WHEN began_at > $1 THEN began_at ELSE $1 END WHERE host_id = $2 AND ended_at IS NULL AND kind <> 'degraded'",
);

/// Degraded time: the last critical incident's resolution ends it.
const CLOSE_DEGRADED: CloseStatements = (
    "SELECT id, host_id, kind, cause, began_at, detected_at, ended_at, incident_id FROM outages WHERE host_id = $1 AND ended_at IS NULL AND kind = 'degraded'",
    "UPDATE outages SET ended_at = CASE WHEN began_at > $1 THEN began_at ELSE $1 END WHERE host_id = $2 AND ended_at IS NULL AND kind = 'degraded'",
);

impl SqlStore {
    /// Ends the open outages of `host_id` that `statements` select at
    /// `ended_at`, or at their begin if that is later; returns them as ended.
    async fn close_open(
        &self,
        host_id: &str,
        ended_at: i64,
        (select, update): CloseStatements,
    ) -> Result<Vec<Outage>> {
        let mut tx = self.begin_write().await?;
        let open = sqlx::query_as::<_, Outage>(select)
            .bind(host_id)
            .fetch_all(&mut *tx)
            .await?;
        sqlx::query(update)
            .bind(ended_at)
            .bind(host_id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(open
            .into_iter()
            .map(|outage| Outage {
                ended_at: Some(ended_at.max(outage.began_at)),
                ..outage
            })
            .collect())
    }
}
