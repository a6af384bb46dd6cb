//! Maintenance windows in SQL.

use async_trait::async_trait;

use super::SqlStore;
use crate::error::Result;
use crate::store::{MaintenanceStore, MaintenanceWindow};

#[async_trait]
impl MaintenanceStore for SqlStore {
    async fn create_maintenance(&self, window: &MaintenanceWindow) -> Result<()> {
        sqlx::query(
            "INSERT INTO maintenance_windows (id, scope, target, starts_at, ends_at, recurrence, reason, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(&window.id)
        .bind(&window.scope)
        .bind(&window.target)
        .bind(window.starts_at)
        .bind(window.ends_at)
        .bind(&window.recurrence)
        .bind(&window.reason)
        .bind(window.created_at)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn maintenance_windows(&self) -> Result<Vec<MaintenanceWindow>> {
        Ok(sqlx::query_as::<_, MaintenanceWindow>(
            "SELECT id, scope, target, starts_at, ends_at, recurrence, reason, created_at FROM maintenance_windows ORDER BY starts_at",
        )
        .fetch_all(&self.pool)
        .await?)
    }

    async fn delete_maintenance(&self, id: &str) -> Result<bool> {
        Ok(sqlx::query("DELETE FROM maintenance_windows WHERE id = $1")
            .bind(id)
            .execute(&self.pool)
            .await?
            .rows_affected()
            > 0)
    }
}
