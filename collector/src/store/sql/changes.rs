//! Change history in SQL (the INSERT side, shared by several areas, is
//! `statements::insert_changes`).

use async_trait::async_trait;
use sqlx::Row;

use super::SqlStore;
use super::catalogue::packages_by_id;
use super::statements::ListQuery;
use crate::cmdb::catalogue::Installed;
use crate::cmdb::history::{self, DISCOVERED};
use crate::error::{Error, Result};
use crate::store::{Change, ChangeFilter, ChangeStore};

#[async_trait]
impl ChangeStore for SqlStore {
    async fn changes(&self, filter: &ChangeFilter) -> Result<Vec<Change>> {
        let mut list = ListQuery::new(
            self.dialect,
            "SELECT id, host_id, class, item_key, change, field, old_value, new_value, at, source FROM changes",
        );
        if filter.newest_first {
            list.compare("id", "<", filter.after_id);
        } else {
            list.after("id", filter.after_id);
        }
        list.compare("at", ">=", filter.since)
            .compare("at", "<", filter.until)
            .equals("host_id", filter.host_id.as_deref())
            .equals("class", filter.class.as_deref())
            .equals("item_key", filter.item_key.as_deref())
            .equals("field", filter.field.as_deref())
            .equals("change", filter.change.as_deref());
        let order = if filter.newest_first { "id DESC" } else { "id" };
        Ok(list
            .page(order, filter.limit)
            .query_as::<Change>()?
            .fetch_all(&self.pool)
            .await?)
    }

    async fn items_as_of(&self, host_id: &str, at: i64) -> Result<history::State> {
        let mut connection = self.pool.acquire().await?;
        let start = sqlx::query(
            "SELECT id, new_value FROM changes WHERE host_id = $1 AND change = $2 AND at <= $3 \
             ORDER BY id DESC LIMIT 1",
        )
        .bind(host_id)
        .bind(DISCOVERED)
        .bind(at)
        .fetch_optional(&mut *connection)
        .await?;
        let mut state = history::State::new();
        let mut after = 0_i64;
        if let Some(row) = start {
            after = row.try_get("id")?;
            let text: Option<String> = row.try_get("new_value")?;
            let discovered = history::parse_discovered(text.as_deref().unwrap_or_default())
                .ok_or_else(|| Error::Store(format!("discovered record {after} is unreadable")))?;
            let ids: Vec<i64> = discovered.software.iter().map(|(id, _)| *id).collect();
            let packages = packages_by_id(&mut connection, self.dialect, &ids).await?;
            for (id, installed_at_s) in discovered.software {
                let package = packages
                    .get(&id)
                    .ok_or_else(|| Error::Store(format!("package {id} is not in the catalogue")))?;
                let item = Installed {
                    package: package.clone(),
                    installed_at_s,
                }
                .item();
                state.insert((item.class, item.key), item.attrs);
            }
            for (class, key, attrs) in discovered.items {
                state.insert((class, key), attrs);
            }
        }
        let rows = sqlx::query(
            "SELECT class, item_key, change, field, new_value FROM changes \
             WHERE host_id = $1 AND id > $2 AND at <= $3 ORDER BY id",
        )
        .bind(host_id)
        .bind(after)
        .bind(at)
        .fetch_all(&mut *connection)
        .await?;
        for row in &rows {
            let class: String = row.try_get("class")?;
            let key: String = row.try_get("item_key")?;
            let change: String = row.try_get("change")?;
            let field: String = row.try_get("field")?;
            let new_value: Option<String> = row.try_get("new_value")?;
            history::replay(
                &mut state,
                &class,
                &key,
                &change,
                &field,
                new_value.as_deref(),
            );
        }
        Ok(state)
    }

    async fn package_changes(&self, name: &str, after: i64, limit: i64) -> Result<Vec<Change>> {
        // `name:` up to (not including) `name;`: every `name:ARCH` key, by
        // the index, with no LIKE pattern to escape.
        Ok(sqlx::query_as::<_, Change>(
            "SELECT id, host_id, class, item_key, change, field, old_value, new_value, at, source \
             FROM changes WHERE class = 'software' \
             AND (item_key = $1 OR (item_key >= $2 AND item_key < $3)) AND at > $4 \
             ORDER BY id DESC LIMIT $5",
        )
        .bind(name)
        .bind(format!("{name}:"))
        .bind(format!("{name};"))
        .bind(after)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?)
    }
}
