//! Change history: every attribute change of every CI, queried per host or
//! fleet-wide (`ChangeStore`, a part of `Store`).

use async_trait::async_trait;
use serde::Serialize;

use crate::cmdb::history;
use crate::error::Result;

/// One history record.
#[derive(Debug, Clone, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct Change {
    /// Record id.
    pub id: i64,
    /// Host CI id.
    pub host_id: String,
    /// CMDB class.
    pub class: String,
    /// Item key.
    pub item_key: String,
    /// `discovered` (a first inventory), `added`, `removed` or `changed`.
    pub change: String,
    /// Changed attribute.
    pub field: String,
    /// Old value (JSON).
    pub old_value: Option<String>,
    /// New value (JSON).
    pub new_value: Option<String>,
    /// When (ms).
    pub at: i64,
    /// Source (agent id or `collector`).
    pub source: String,
}

/// Filters for change history.
#[derive(Debug, Clone, Default)]
pub struct ChangeFilter {
    /// One host, or the whole fleet.
    pub host_id: Option<String>,
    /// From (ms, inclusive).
    pub since: Option<i64>,
    /// Until (ms, exclusive).
    pub until: Option<i64>,
    /// Only this CI class (`software`, `host`, …).
    pub class: Option<String>,
    /// Only this item key (with `class`: one CI).
    pub item_key: Option<String>,
    /// Only records of this attribute (`changed` records name one).
    pub field: Option<String>,
    /// Only this kind of record (`discovered`, `added`, `removed`, `changed`).
    pub change: Option<String>,
    /// Only records past this id (cursor): greater oldest first, smaller
    /// newest first.
    pub after_id: Option<i64>,
    /// Newest first (by id) instead of oldest first.
    pub newest_first: bool,
    /// Page size.
    pub limit: i64,
}

/// Change history.
#[async_trait]
pub trait ChangeStore {
    /// Change records matching `filter`, oldest first (or newest first).
    async fn changes(&self, filter: &ChangeFilter) -> Result<Vec<Change>>;
    /// A host's items as they were at `at` (ms), rebuilt from history alone
    /// (`cmdb::history`): its latest `discovered` record at or before `at`
    /// and every later item record up to `at`.
    async fn items_as_of(&self, host_id: &str, at: i64) -> Result<history::State>;
    /// The software records of package `name` under every architecture
    /// (item key `name` or `name:ARCH`) made after `after` (ms), newest
    /// first, at most `limit`.
    async fn package_changes(&self, name: &str, after: i64, limit: i64) -> Result<Vec<Change>>;
}
