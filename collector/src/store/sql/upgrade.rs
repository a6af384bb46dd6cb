//! The part of migration 0008 that SQL cannot do: moving software rows out
//! of `ci_items` into the catalogue (ranking needs the package managers'
//! version ordering) and folding each host's first inventory, one `added`
//! record per item, into one `discovered` record. It runs at start, in one
//! transaction, while `upgrade_0008` holds its row; on PostgreSQL a second
//! collector starting at the same time waits on that row and finds nothing
//! left to do.

use std::collections::HashMap;

use sqlx::{AnyConnection, AnyPool, Row};

use super::catalogue::{add_packages, host_key};
use super::dialect::Dialect;
use super::statements::Statement;
use crate::cmdb::catalogue::{Installed, PackageId};
use crate::cmdb::diff::CiItem;
use crate::cmdb::history;
use crate::error::Result;

/// Runs the pending conversion, if any.
pub(super) async fn run(pool: &AnyPool, dialect: Dialect) -> Result<()> {
    let mut tx = dialect.begin_write(pool).await?;
    let pending = sqlx::query("DELETE FROM upgrade_0008")
        .execute(&mut *tx)
        .await?
        .rows_affected();
    if pending == 0 {
        tx.rollback().await?;
        return Ok(());
    }
    let hosts: Vec<String> = sqlx::query(
        "SELECT DISTINCT host_id FROM ci_items WHERE class = 'software' \
         UNION SELECT DISTINCT host_id FROM changes ORDER BY host_id",
    )
    .fetch_all(&mut *tx)
    .await?
    .iter()
    .map(|row| row.try_get("host_id"))
    .collect::<std::result::Result<_, _>>()?;
    for host_id in &hosts {
        move_software(&mut tx, dialect, host_id).await?;
        fold_first_inventory(&mut tx, dialect, host_id).await?;
    }
    tx.commit().await?;
    if !hosts.is_empty() {
        tracing::info!(
            hosts = hosts.len(),
            "software moved into the catalogue and first inventories folded into discovered records"
        );
    }
    Ok(())
}

/// A software item from a stored row: its display name is the package name.
fn software_item(key: String, name: String, attrs: String) -> CiItem {
    CiItem {
        class: "software".into(),
        key,
        name,
        attrs,
    }
}

async fn ids_of(
    connection: &mut AnyConnection,
    dialect: Dialect,
    installed: &[Installed],
) -> Result<HashMap<PackageId, i64>> {
    let packages: Vec<PackageId> = installed.iter().map(|i| i.package.clone()).collect();
    add_packages(connection, dialect, &packages).await
}

async fn move_software(
    connection: &mut AnyConnection,
    dialect: Dialect,
    host_id: &str,
) -> Result<()> {
    let rows = sqlx::query(
        "SELECT item_key, name, attrs, first_seen_at, updated_at FROM ci_items WHERE host_id = $1 AND class = 'software'",
    )
    .bind(host_id)
    .fetch_all(&mut *connection)
    .await?;
    if rows.is_empty() {
        return Ok(());
    }
    let mut installed = Vec::with_capacity(rows.len());
    let mut times = Vec::with_capacity(rows.len());
    for row in &rows {
        let item = software_item(
            row.try_get("item_key")?,
            row.try_get("name")?,
            row.try_get("attrs")?,
        );
        installed.push(Installed::of_item(&item));
        times.push((
            row.try_get::<i64, _>("first_seen_at")?,
            row.try_get::<i64, _>("updated_at")?,
        ));
    }
    let ids = ids_of(connection, dialect, &installed).await?;
    let key = host_key(connection, host_id).await?;
    let mut values = Vec::with_capacity(installed.len());
    for (package, (first_seen_at, updated_at)) in installed.iter().zip(times) {
        if let Some(id) = ids.get(&package.package) {
            values.push((*id, package.installed_at_s, first_seen_at, updated_at));
        }
    }
    // Two keys of one host cannot name one package, but a hand-edited row could.
    values.sort_unstable();
    values.dedup_by_key(|value| value.0);
    for chunk in values.chunks(dialect.insert_chunk()) {
        let mut statement = Statement::new(
            dialect,
            "INSERT INTO host_software (host_key, package_id, installed_at_s, first_seen_at, updated_at) VALUES ",
        );
        statement.values(
            chunk,
            5,
            |row, (id, installed_at_s, first_seen_at, updated_at)| {
                row.bind(key)
                    .bind(*id)
                    .bind(*installed_at_s)
                    .bind(*first_seen_at)
                    .bind(*updated_at);
            },
        );
        statement.query()?.execute(&mut *connection).await?;
    }
    sqlx::query("DELETE FROM ci_items WHERE host_id = $1 AND class = 'software'")
        .bind(host_id)
        .execute(&mut *connection)
        .await?;
    Ok(())
}

/// Folds the host's first inventory (its earliest item records, when all
/// are `added`) into one `discovered` record that takes the first one's id,
/// so the id order of the host's history is kept.
async fn fold_first_inventory(
    connection: &mut AnyConnection,
    dialect: Dialect,
    host_id: &str,
) -> Result<()> {
    let first =
        sqlx::query("SELECT MIN(at) AS at FROM changes WHERE host_id = $1 AND class <> 'host'")
            .bind(host_id)
            .fetch_one(&mut *connection)
            .await?;
    let Some(at) = first.try_get::<Option<i64>, _>("at")? else {
        return Ok(());
    };
    let rows = sqlx::query(
        "SELECT id, class, item_key, change, new_value FROM changes \
         WHERE host_id = $1 AND class <> 'host' AND at = $2 ORDER BY id",
    )
    .bind(host_id)
    .bind(at)
    .fetch_all(&mut *connection)
    .await?;
    let mut software = Vec::new();
    let mut items = Vec::new();
    let mut first_id = None;
    for row in &rows {
        let change: String = row.try_get("change")?;
        if change != "added" {
            return Ok(());
        }
        first_id.get_or_insert(row.try_get::<i64, _>("id")?);
        let class: String = row.try_get("class")?;
        let key: String = row.try_get("item_key")?;
        let attrs: String = row
            .try_get::<Option<String>, _>("new_value")?
            .unwrap_or_else(|| "{}".into());
        if class == "software" {
            let name = serde_json::from_str::<serde_json::Value>(&attrs)
                .ok()
                .and_then(|value| value.get("name").and_then(|n| n.as_str()).map(String::from))
                .unwrap_or_else(|| key.split(':').next().unwrap_or_default().to_string());
            software.push(Installed::of_item(&software_item(key, name, attrs)));
        } else {
            items.push((class, key, attrs));
        }
    }
    let Some(first_id) = first_id else {
        return Ok(());
    };
    let ids = ids_of(connection, dialect, &software).await?;
    let pairs: Vec<(i64, i64)> = software
        .iter()
        .filter_map(|installed| {
            ids.get(&installed.package)
                .map(|id| (*id, installed.installed_at_s))
        })
        .collect();
    let record = history::discovered(&pairs, &items);
    sqlx::query(
        "UPDATE changes SET class = $1, item_key = $2, change = $3, field = $4, old_value = NULL, new_value = $5 WHERE id = $6",
    )
    .bind(&record.class)
    .bind(&record.key)
    .bind(record.change)
    .bind(&record.field)
    .bind(record.new_value.as_deref())
    .bind(first_id)
    .execute(&mut *connection)
    .await?;
    sqlx::query(
        "DELETE FROM changes WHERE host_id = $1 AND class <> 'host' AND at = $2 AND change = 'added' AND id <> $3",
    )
    .bind(host_id)
    .bind(at)
    .bind(first_id)
    .execute(&mut *connection)
    .await?;
    Ok(())
}
