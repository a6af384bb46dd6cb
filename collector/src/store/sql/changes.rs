//! Change history in SQL (the INSERT side, shared by several areas, is
//! `statements::insert_changes`).

use async_trait::async_trait;

use super::SqlStore;
use super::statements::ListQuery;
use crate::error::Result;
use crate::store::{Change, ChangeFilter, ChangeStore};

#[async_trait]
impl ChangeStore for SqlStore {
    async fn changes(&self, filter: &ChangeFilter) -> Result<Vec<Change>> {
        let mut list = ListQuery::new(
            self.dialect,
            "SELECT id, host_id, class, item_key, change, field, old_value, new_value, at, source FROM changes",
        );
        list.after("id", filter.after_id)
            .compare("at", ">=", filter.since)
            .compare("at", "<", filter.until)
            .equals("host_id", filter.host_id.as_deref())
            .equals("class", filter.class.as_deref())
            .equals("item_key", filter.item_key.as_deref());
        Ok(list
            .page("id", filter.limit)
            .query_as::<Change>()?
            .fetch_all(&self.pool)
            .await?)
    }
}
