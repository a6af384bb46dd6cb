//! Host custom attributes in SQL (owner, cost centre, location, …): read,
//! and changed with each change recorded in the host's history.

use std::collections::BTreeMap;

use sqlx::Row;

use super::SqlStore;
use super::statements::insert_changes;
use crate::cmdb::diff::ChangeRecord;
use crate::error::{Error, Result};
use crate::store::hosts::MAX_HOST_ATTRIBUTES;

/// The attributes of `host_id` on `connection`.
async fn read(
    connection: &mut sqlx::AnyConnection,
    host_id: &str,
) -> Result<BTreeMap<String, String>> {
    let rows = sqlx::query("SELECT name, value FROM host_attributes WHERE host_id = $1")
        .bind(host_id)
        .fetch_all(&mut *connection)
        .await?;
    rows.iter()
        .map(|row| Ok((row.try_get("name")?, row.try_get("value")?)))
        .collect::<std::result::Result<_, sqlx::Error>>()
        .map_err(Into::into)
}

fn json_text(value: Option<&String>) -> Option<String> {
    value.map(|value| serde_json::Value::String(value.clone()).to_string())
}

impl SqlStore {
    /// See `HostStore::host_attributes`.
    pub(super) async fn attributes_of(&self, host_id: &str) -> Result<BTreeMap<String, String>> {
        let mut connection = self.pool.acquire().await?;
        read(&mut connection, host_id).await
    }

    /// See `HostStore::update_host_attributes`.
    pub(super) async fn change_attributes(
        &self,
        host_id: &str,
        changes: &BTreeMap<String, Option<String>>,
        replace: bool,
        at: i64,
        source: &str,
    ) -> Result<Option<BTreeMap<String, String>>> {
        let mut tx = self.begin_write().await?;
        let known = sqlx::query("SELECT id FROM hosts WHERE id = $1")
            .bind(host_id)
            .fetch_optional(&mut *tx)
            .await?
            .is_some();
        if !known {
            tx.rollback().await?;
            return Ok(None);
        }
        let old = read(&mut tx, host_id).await?;
        let mut new = if replace {
            BTreeMap::new()
        } else {
            old.clone()
        };
        for (name, value) in changes {
            match value {
                Some(value) => {
                    new.insert(name.clone(), value.clone());
                }
                None => {
                    new.remove(name);
                }
            }
        }
        if new.len() > MAX_HOST_ATTRIBUTES {
            tx.rollback().await?;
            return Err(Error::InvalidInput(format!(
                "a host has at most {MAX_HOST_ATTRIBUTES} attributes; this would make {}",
                new.len()
            )));
        }
        let names: std::collections::BTreeSet<&String> = old.keys().chain(new.keys()).collect();
        let mut records = Vec::new();
        for name in names {
            let (before, after) = (old.get(name), new.get(name));
            if before == after {
                continue;
            }
            match after {
                Some(value) => {
                    sqlx::query(
                        "INSERT INTO host_attributes (host_id, name, value, updated_at) VALUES ($1, $2, $3, $4) \
                         ON CONFLICT (host_id, name) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at",
                    )
                    .bind(host_id)
                    .bind(name.as_str())
                    .bind(value.as_str())
                    .bind(at)
                    .execute(&mut *tx)
                    .await?;
                }
                None => {
                    sqlx::query("DELETE FROM host_attributes WHERE host_id = $1 AND name = $2")
                        .bind(host_id)
                        .bind(name.as_str())
                        .execute(&mut *tx)
                        .await?;
                }
            }
            records.push(ChangeRecord {
                class: "host".into(),
                key: String::new(),
                change: "changed",
                field: format!("attr.{name}"),
                old_value: json_text(before),
                new_value: json_text(after),
            });
        }
        insert_changes(&mut tx, self.dialect, host_id, &records, at, source).await?;
        tx.commit().await?;
        Ok(Some(new))
    }
}
