//! The ingest writes, as the group-commit writer applies them on its
//! transaction: inventory change sets (diffed against the stored items,
//! recorded in history, summarised on the host row) and health samples,
//! each idempotent by the agent's sequence number.

use std::collections::{BTreeMap, HashMap};

use sqlx::{AnyConnection, Row};

use super::catalogue;
use super::dialect::Dialect;
use super::statements::{Statement, insert_changes};
use super::summary::{SummaryValue, summary_updates};
use crate::cmdb::catalogue::Installed;
use crate::cmdb::diff::{self, CiItem};
use crate::cmdb::history;
use crate::error::{Error, Result};
use crate::store::{ApplyContext, ApplyOutcome, InventoryChange};

/// The class stored in the catalogue tables instead of `ci_items`.
pub(super) const SOFTWARE: &str = "software";

/// The packages of a change set, parsed once (by the writer, before the
/// apply), by item key: the package and its catalogue id.
pub(super) type Software = HashMap<String, (Installed, i64)>;

/// A delta touching more items than this reads the host's whole inventory
/// instead of looking its items up.
const POINT_LOOKUP_LIMIT: usize = 64;

/// Advances the agent's sequence number to `context.seq`; `false` when it
/// was already there or past it (a replayed message: write nothing).
async fn advance_seq(connection: &mut AnyConnection, context: &ApplyContext) -> Result<bool> {
    let advanced = sqlx::query(
        "UPDATE agents SET last_seq = $1, last_seen_at = $2 WHERE id = $3 AND last_seq < $1",
    )
    .bind(context.seq)
    .bind(context.at)
    .bind(&context.agent_id)
    .execute(&mut *connection)
    .await?
    .rows_affected();
    if advanced > 0 {
        return Ok(true);
    }
    let known = sqlx::query("SELECT 1 AS known FROM agents WHERE id = $1")
        .bind(&context.agent_id)
        .fetch_optional(&mut *connection)
        .await?;
    match known {
        Some(_) => Ok(false),
        None => Err(Error::NotFound(format!("agent {}", context.agent_id))),
    }
}

fn item_of(row: &sqlx::any::AnyRow) -> std::result::Result<CiItem, sqlx::Error> {
    Ok(CiItem {
        class: row.try_get("class")?,
        key: row.try_get("item_key")?,
        name: row.try_get("name")?,
        attrs: row.try_get("attrs")?,
    })
}

/// A host's stored items that a change set is compared with, and where its
/// software rows are (by item key: package id and first sight).
#[derive(Default)]
struct Stored {
    items: BTreeMap<(String, String), CiItem>,
    software: HashMap<String, (i64, i64)>,
}

/// The stored items a change set needs to be compared with: the whole host
/// for a snapshot or a large delta, only the touched items otherwise.
async fn stored_items(
    connection: &mut AnyConnection,
    dialect: Dialect,
    host_id: &str,
    host_key: i64,
    change: &InventoryChange,
) -> Result<Stored> {
    let touched = change.items.len() + change.removed.len();
    let whole = change.full || touched > POINT_LOOKUP_LIMIT;
    let touched: Vec<(&str, &str)> = change
        .items
        .iter()
        .map(|item| (item.class.as_str(), item.key.as_str()))
        .chain(change.removed.iter().map(|(c, k)| (c.as_str(), k.as_str())))
        .collect();
    let other: Vec<(&str, &str)> = touched
        .iter()
        .copied()
        .filter(|(class, _)| *class != SOFTWARE)
        .collect();
    // A package key is `name:arch` or `name`: look both readings up.
    let names: Vec<&str> = touched
        .iter()
        .filter(|(class, _)| *class == SOFTWARE)
        .flat_map(|(_, key)| [Some(*key), key.rsplit_once(':').map(|(name, _)| name)])
        .flatten()
        .collect();
    let rows = if whole {
        sqlx::query("SELECT class, item_key, name, attrs FROM ci_items WHERE host_id = $1")
            .bind(host_id)
            .fetch_all(&mut *connection)
            .await?
    } else if other.is_empty() {
        Vec::new()
    } else {
        let mut statement = Statement::new(
            dialect,
            "SELECT class, item_key, name, attrs FROM ci_items WHERE host_id = ",
        );
        statement.bind(host_id).push(" AND (");
        for (index, (class, key)) in other.iter().enumerate() {
            if index > 0 {
                statement.push(" OR ");
            }
            statement
                .push("(class = ")
                .bind(*class)
                .push(" AND item_key = ")
                .bind(*key)
                .push(")");
        }
        statement.push(")");
        statement.query()?.fetch_all(&mut *connection).await?
    };
    let mut stored = Stored::default();
    for row in &rows {
        let item = item_of(row)?;
        stored
            .items
            .insert((item.class.clone(), item.key.clone()), item);
    }
    let packages = if whole {
        catalogue::host_packages(connection, dialect, host_key, None).await?
    } else if names.is_empty() {
        Vec::new()
    } else {
        catalogue::host_packages(connection, dialect, host_key, Some(&names)).await?
    };
    for package in packages {
        let item = package.installed.item();
        stored.software.insert(
            item.key.clone(),
            (package.package_id, package.first_seen_at),
        );
        stored
            .items
            .insert((item.class.clone(), item.key.clone()), item);
    }
    Ok(stored)
}

/// Applies an inventory change set on the writer's transaction: nothing
/// when its sequence number was already applied, else the item diff, its
/// history and one UPDATE of the host row. `software` holds every package
/// of the change set, parsed, with its catalogue id.
pub(super) async fn apply_inventory(
    connection: &mut AnyConnection,
    dialect: Dialect,
    context: &ApplyContext,
    change: &InventoryChange,
    software: &Software,
) -> Result<ApplyOutcome> {
    if !advance_seq(connection, context).await? {
        return Ok(ApplyOutcome {
            duplicate: true,
            ..Default::default()
        });
    }
    let host_id = context.host_id.as_str();
    let host_key = catalogue::host_key(connection, host_id).await?;
    let incoming: Vec<CiItem> = change
        .items
        .iter()
        .filter(|item| item.class != SOFTWARE)
        .cloned()
        .chain(software.values().map(|(installed, _)| installed.item()))
        .collect();
    let stored = stored_items(connection, dialect, host_id, host_key, change).await?;
    let plan = diff::plan(&stored.items, &incoming, &change.removed, change.full);
    let is_software = |item: &&CiItem| item.class == SOFTWARE;
    let other_inserts: Vec<CiItem> = plan
        .inserts
        .iter()
        .filter(|i| !is_software(i))
        .cloned()
        .collect();
    insert_items(connection, dialect, host_id, &other_inserts, context.at).await?;
    for item in plan.updates.iter().filter(|i| !is_software(i)) {
        sqlx::query(
            "UPDATE ci_items SET name = $1, attrs = $2, updated_at = $3 WHERE host_id = $4 AND class = $5 AND item_key = $6",
        )
        .bind(&item.name)
        .bind(&item.attrs)
        .bind(context.at)
        .bind(host_id)
        .bind(&item.class)
        .bind(&item.key)
        .execute(&mut *connection)
        .await?;
    }
    for (class, key) in plan.deletes.iter().filter(|(class, _)| class != SOFTWARE) {
        sqlx::query("DELETE FROM ci_items WHERE host_id = $1 AND class = $2 AND item_key = $3")
            .bind(host_id)
            .bind(class)
            .bind(key)
            .execute(&mut *connection)
            .await?;
    }
    write_software(
        connection, dialect, host_key, &stored, &plan, software, context.at,
    )
    .await?;
    if change.full && stored.items.is_empty() {
        // A first inventory is one `discovered` record holding it compactly.
        let record = discovered_record(&incoming, software)?;
        insert_changes(
            connection,
            dialect,
            host_id,
            &[record],
            context.at,
            &context.agent_id,
        )
        .await?;
    } else {
        insert_changes(
            connection,
            dialect,
            host_id,
            &plan.changes,
            context.at,
            &context.agent_id,
        )
        .await?;
    }
    // One UPDATE of the host: its summary columns from the singletons, the
    // package count when software came or went, and the inventory time.
    let software_moved = plan
        .inserts
        .iter()
        .map(|item| item.class.as_str())
        .chain(plan.deletes.iter().map(|(class, _)| class.as_str()))
        .any(|class| class == SOFTWARE);
    let summary = summary_updates(&change.items);
    let mut statement = Statement::new(dialect, "UPDATE hosts SET last_inventory_at = ");
    statement
        .bind(context.at)
        .push(", last_seen_at = ")
        .bind(context.at);
    if software_moved {
        statement
            .push(", package_count = (SELECT COUNT(*) FROM host_software WHERE host_key = ")
            .bind(host_key)
            .push(")");
    }
    for (column, value) in summary {
        statement.push(", ").push(column).push(" = ");
        match value {
            SummaryValue::Text(text) => statement.bind(text),
            SummaryValue::Number(number) => statement.bind(number),
        };
    }
    statement.push(" WHERE id = ").bind(host_id);
    statement.query()?.execute(&mut *connection).await?;
    Ok(ApplyOutcome {
        duplicate: false,
        added: plan.inserts.len(),
        changed: plan.updates.len(),
        removed: plan.deletes.len(),
    })
}

/// The software part of a plan: rows of (host key, package id). A changed
/// package (a new version, say) is a different catalogue entry: its row is
/// replaced, keeping when the host first had it.
async fn write_software(
    connection: &mut AnyConnection,
    dialect: Dialect,
    host_key: i64,
    stored: &Stored,
    plan: &diff::Plan,
    software: &Software,
    at: i64,
) -> Result<()> {
    let mut gone: Vec<i64> = Vec::new();
    let mut rows: Vec<(i64, i64, i64)> = Vec::new();
    let id_of = |item: &CiItem| -> Result<(i64, i64)> {
        software
            .get(&item.key)
            .map(|(installed, id)| (*id, installed.installed_at_s))
            .ok_or_else(|| Error::Internal(format!("no catalogue id for package {}", item.key)))
    };
    for item in plan.inserts.iter().filter(|item| item.class == SOFTWARE) {
        let (id, installed_at_s) = id_of(item)?;
        rows.push((id, installed_at_s, at));
    }
    for item in plan.updates.iter().filter(|item| item.class == SOFTWARE) {
        let (id, installed_at_s) = id_of(item)?;
        let first_seen = match stored.software.get(&item.key) {
            Some((old, first_seen)) => {
                gone.push(*old);
                *first_seen
            }
            None => at,
        };
        rows.push((id, installed_at_s, first_seen));
    }
    for (_, key) in plan.deletes.iter().filter(|(class, _)| class == SOFTWARE) {
        if let Some((old, _)) = stored.software.get(key) {
            gone.push(*old);
        }
    }
    for chunk in gone.chunks(dialect.insert_chunk()) {
        let mut statement = Statement::new(dialect, "DELETE FROM host_software WHERE host_key = ");
        statement
            .bind(host_key)
            .push(" AND package_id IN ")
            .bind_list(chunk.iter().copied());
        statement.query()?.execute(&mut *connection).await?;
    }
    for chunk in rows.chunks(dialect.software_chunk()) {
        let mut statement = Statement::new(
            dialect,
            "INSERT INTO host_software (host_key, package_id, installed_at_s, first_seen_at, updated_at) VALUES ",
        );
        statement.values(chunk, 5, |row, (id, installed_at_s, first_seen)| {
            row.bind(host_key)
                .bind(*id)
                .bind(*installed_at_s)
                .bind(*first_seen)
                .bind(at);
        });
        statement.query()?.execute(&mut *connection).await?;
    }
    Ok(())
}

/// The one history record of a first inventory (`cmdb::history`).
fn discovered_record(items: &[CiItem], software: &Software) -> Result<diff::ChangeRecord> {
    let mut packages = Vec::new();
    let mut other = Vec::new();
    for item in items {
        if item.class == SOFTWARE {
            let (installed, id) = software.get(&item.key).ok_or_else(|| {
                Error::Internal(format!("no catalogue id for package {}", item.key))
            })?;
            packages.push((*id, installed.installed_at_s));
        } else {
            other.push((item.class.clone(), item.key.clone(), item.attrs.clone()));
        }
    }
    Ok(history::discovered(&packages, &other))
}

/// Stores a health sample on the writer's transaction; `false` (nothing
/// written) when its sequence number was already applied.
pub(super) async fn record_health(
    connection: &mut AnyConnection,
    context: &ApplyContext,
    sampled_at: i64,
    data: &[u8],
) -> Result<bool> {
    if !advance_seq(connection, context).await? {
        return Ok(false);
    }
    sqlx::query("INSERT INTO health_raw (host_id, sampled_at, seq, data) VALUES ($1, $2, $3, $4)")
        .bind(&context.host_id)
        .bind(sampled_at)
        .bind(context.seq)
        .bind(data)
        .execute(&mut *connection)
        .await?;
    Ok(true)
}

/// Inserts new items of a host, [`Dialect::insert_chunk`] rows per statement.
async fn insert_items(
    connection: &mut AnyConnection,
    dialect: Dialect,
    host_id: &str,
    items: &[CiItem],
    at: i64,
) -> std::result::Result<(), sqlx::Error> {
    for chunk in items.chunks(dialect.insert_chunk()) {
        let mut statement = Statement::new(
            dialect,
            "INSERT INTO ci_items (host_id, class, item_key, name, attrs, first_seen_at, updated_at) VALUES ",
        );
        statement.values(chunk, 7, |row, item| {
            row.bind(host_id)
                .bind(&item.class)
                .bind(&item.key)
                .bind(&item.name)
                .bind(&item.attrs)
                .bind(at)
                .bind(at);
        });
        statement.query()?.execute(&mut *connection).await?;
    }
    Ok(())
}
