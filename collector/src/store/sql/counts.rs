//! `CountStore` for SQLite and PostgreSQL: grouped counts.

use super::SqlStore;
use crate::error::Result;
use crate::store::counts::{CountStore, HostCount, IncidentCount};

#[async_trait::async_trait]
impl CountStore for SqlStore {
    async fn host_counts(&self) -> Result<Vec<HostCount>> {
        Ok(sqlx::query_as::<_, HostCount>(
            "SELECT class, lifecycle, presence, COUNT(*) AS count FROM hosts \
             GROUP BY class, lifecycle, presence ORDER BY class, lifecycle, presence",
        )
        .fetch_all(&self.pool)
        .await?)
    }

    async fn open_incident_counts(&self) -> Result<Vec<IncidentCount>> {
        Ok(sqlx::query_as::<_, IncidentCount>(
            "SELECT rule, severity, COUNT(*) AS count FROM incidents WHERE state <> 'resolved' \
             GROUP BY rule, severity ORDER BY rule, severity",
        )
        .fetch_all(&self.pool)
        .await?)
    }
}
