//! Business services and relationships in SQL.

use async_trait::async_trait;

use super::SqlStore;
use crate::error::{Error, Result};
use crate::store::{BusinessService, Relationship, ServiceStore};

#[async_trait]
impl ServiceStore for SqlStore {
    async fn create_service(&self, service: &BusinessService) -> Result<()> {
        let exists = sqlx::query("SELECT id FROM business_services WHERE name = $1")
            .bind(&service.name)
            .fetch_optional(&self.pool)
            .await?;
        if exists.is_some() {
            return Err(Error::Conflict(format!(
                "a business service named {:?} exists",
                service.name
            )));
        }
        sqlx::query("INSERT INTO business_services (id, name, min_up, sla_target, created_at) VALUES ($1, $2, $3, $4, $5)")
            .bind(&service.id)
            .bind(&service.name)
            .bind(service.min_up)
            .bind(service.sla_target)
            .bind(service.created_at)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn services(&self) -> Result<Vec<BusinessService>> {
        Ok(sqlx::query_as::<_, BusinessService>(
            "SELECT id, name, min_up, sla_target, created_at FROM business_services ORDER BY name",
        )
        .fetch_all(&self.pool)
        .await?)
    }

    async fn delete_service(&self, id: &str) -> Result<bool> {
        let mut tx = self.begin_write().await?;
        sqlx::query("DELETE FROM relationships WHERE parent_id = $1 OR child_id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        let deleted = sqlx::query("DELETE FROM business_services WHERE id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        tx.commit().await?;
        Ok(deleted > 0)
    }

    async fn add_relationship(&self, relationship: &Relationship) -> Result<()> {
        let exists = sqlx::query("SELECT 1 AS one FROM relationships WHERE parent_id = $1 AND child_id = $2 AND kind = $3")
            .bind(&relationship.parent_id)
            .bind(&relationship.child_id)
            .bind(&relationship.kind)
            .fetch_optional(&self.pool)
            .await?;
        if exists.is_some() {
            return Ok(());
        }
        sqlx::query("INSERT INTO relationships (parent_id, child_id, kind, created_at) VALUES ($1, $2, $3, $4)")
            .bind(&relationship.parent_id)
            .bind(&relationship.child_id)
            .bind(&relationship.kind)
            .bind(relationship.created_at)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn relationships(&self, ci_id: Option<&str>) -> Result<Vec<Relationship>> {
        let rows = match ci_id {
            Some(ci_id) => sqlx::query_as::<_, Relationship>(
                "SELECT parent_id, child_id, kind, created_at FROM relationships WHERE parent_id = $1 OR child_id = $1 ORDER BY created_at",
            )
            .bind(ci_id)
            .fetch_all(&self.pool)
            .await?,
            None => sqlx::query_as::<_, Relationship>("SELECT parent_id, child_id, kind, created_at FROM relationships ORDER BY created_at")
                .fetch_all(&self.pool)
                .await?,
        };
        Ok(rows)
    }

    async fn remove_relationship(
        &self,
        parent_id: &str,
        child_id: &str,
        kind: &str,
    ) -> Result<bool> {
        Ok(sqlx::query(
            "DELETE FROM relationships WHERE parent_id = $1 AND child_id = $2 AND kind = $3",
        )
        .bind(parent_id)
        .bind(child_id)
        .bind(kind)
        .execute(&self.pool)
        .await?
        .rows_affected()
            > 0)
    }
}
