//! Maintenance windows (`MaintenanceStore`, a part of `Store`).

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::error::Result;

/// A maintenance window.
#[derive(Debug, Clone, Serialize, Deserialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct MaintenanceWindow {
    /// Window id.
    pub id: String,
    /// `host`, `tag` or `service`.
    pub scope: String,
    /// Host id, tag or service id.
    pub target: String,
    /// Start (ms).
    pub starts_at: i64,
    /// End (ms).
    pub ends_at: i64,
    /// `` (one-off), `daily` or `weekly`.
    pub recurrence: String,
    /// Why.
    pub reason: String,
    /// Created (ms).
    pub created_at: i64,
}

/// Maintenance windows.
#[async_trait]
pub trait MaintenanceStore {
    /// Creates a maintenance window.
    async fn create_maintenance(&self, window: &MaintenanceWindow) -> Result<()>;
    /// All maintenance windows.
    async fn maintenance_windows(&self) -> Result<Vec<MaintenanceWindow>>;
    /// Deletes one.
    async fn delete_maintenance(&self, id: &str) -> Result<bool>;
}
