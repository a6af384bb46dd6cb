//! The ingest writes, as the group-commit writer applies them on its
//! transaction: inventory change sets (diffed against the stored items,
//! recorded in history, summarised on the host row) and health samples,
//! each idempotent by the agent's sequence number.

use std::collections::BTreeMap;

use sqlx::{AnyConnection, Row};

use super::dialect::Dialect;
use super::statements::{Statement, insert_changes};
use crate::cmdb::diff::{self, CiItem};
use crate::cmdb::reconcile::HostIdentity;
use crate::error::{Error, Result};
use crate::store::{ApplyContext, ApplyOutcome, InventoryChange};

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

/// The stored items a change set needs to be compared with: the whole host
/// for a snapshot or a large delta, only the touched items otherwise.
async fn stored_items(
    connection: &mut AnyConnection,
    dialect: Dialect,
    host_id: &str,
    change: &InventoryChange,
) -> Result<BTreeMap<(String, String), CiItem>> {
    let touched = change.items.len() + change.removed.len();
    let rows = if change.full || touched > POINT_LOOKUP_LIMIT {
        sqlx::query("SELECT class, item_key, name, attrs FROM ci_items WHERE host_id = $1")
            .bind(host_id)
            .fetch_all(&mut *connection)
            .await?
    } else if touched == 0 {
        Vec::new()
    } else {
        let touched: Vec<(&str, &str)> = change
            .items
            .iter()
            .map(|item| (item.class.as_str(), item.key.as_str()))
            .chain(change.removed.iter().map(|(c, k)| (c.as_str(), k.as_str())))
            .collect();
        let mut statement = Statement::new(
            dialect,
            "SELECT class, item_key, name, attrs FROM ci_items WHERE host_id = ",
        );
        statement.bind(host_id).push(" AND (");
        for (index, (class, key)) in touched.iter().enumerate() {
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
    let mut stored = BTreeMap::new();
    for row in &rows {
        let item = item_of(row)?;
        stored.insert((item.class.clone(), item.key.clone()), item);
    }
    Ok(stored)
}

/// Applies an inventory change set on the writer's transaction: nothing
/// when its sequence number was already applied, else the item diff, its
/// history and one UPDATE of the host row.
pub(super) async fn apply_inventory(
    connection: &mut AnyConnection,
    dialect: Dialect,
    context: &ApplyContext,
    change: &InventoryChange,
) -> Result<ApplyOutcome> {
    if !advance_seq(connection, context).await? {
        return Ok(ApplyOutcome {
            duplicate: true,
            ..Default::default()
        });
    }
    let host_id = context.host_id.as_str();
    let stored = stored_items(connection, dialect, host_id, change).await?;
    let plan = diff::plan(&stored, &change.items, &change.removed, change.full);
    insert_items(connection, dialect, host_id, &plan.inserts, context.at).await?;
    for item in &plan.updates {
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
    for (class, key) in &plan.deletes {
        sqlx::query("DELETE FROM ci_items WHERE host_id = $1 AND class = $2 AND item_key = $3")
            .bind(host_id)
            .bind(class)
            .bind(key)
            .execute(&mut *connection)
            .await?;
    }
    insert_changes(
        connection,
        dialect,
        host_id,
        &plan.changes,
        context.at,
        &context.agent_id,
    )
    .await?;
    // One UPDATE of the host: its summary columns from the singletons, the
    // package count when software came or went, and the inventory time.
    let software_moved = plan
        .inserts
        .iter()
        .map(|item| item.class.as_str())
        .chain(plan.deletes.iter().map(|(class, _)| class.as_str()))
        .any(|class| class == "software");
    let summary = summary_updates(&change.items);
    let mut statement = Statement::new(dialect, "UPDATE hosts SET last_inventory_at = ");
    statement
        .bind(context.at)
        .push(", last_seen_at = ")
        .bind(context.at);
    if software_moved {
        statement
            .push(", package_count = (SELECT COUNT(*) FROM ci_items WHERE host_id = ")
            .bind(host_id)
            .push(" AND class = 'software')");
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

/// Host summary columns derived from the singleton items.
fn summary_updates(items: &[CiItem]) -> Vec<(&'static str, SummaryValue)> {
    let mut out = Vec::new();
    for item in items {
        // Only singleton sections feed the summary: skip parsing every package.
        if !rollcall_proto::inventory::section_for_class(&item.class)
            .is_some_and(rollcall_proto::inventory::is_singleton)
        {
            continue;
        }
        let Ok(serde_json::Value::Object(attrs)) =
            serde_json::from_str::<serde_json::Value>(&item.attrs)
        else {
            continue;
        };
        let text = |key: &str| {
            attrs
                .get(key)
                .and_then(|v| v.as_str())
                .unwrap_or_default()
                .to_string()
        };
        let number = |key: &str| attrs.get(key).and_then(|v| v.as_i64()).unwrap_or_default();
        match item.class.as_str() {
            "os" => {
                let name = if text("pretty_name").is_empty() {
                    text("name")
                } else {
                    text("pretty_name")
                };
                out.push(("os_name", SummaryValue::Text(name)));
                out.push(("os_version", SummaryValue::Text(text("version"))));
                out.push(("kernel", SummaryValue::Text(text("kernel"))));
                out.push(("arch", SummaryValue::Text(text("arch"))));
            }
            "cpu" => {
                out.push(("cpu_model", SummaryValue::Text(text("model"))));
                out.push(("cpu_threads", SummaryValue::Number(number("threads"))));
            }
            "memory" => out.push(("memory_bytes", SummaryValue::Number(number("total_bytes")))),
            "identity" => {
                let macs: Vec<String> = attrs
                    .get("macs")
                    .and_then(|v| v.as_array())
                    .map(|list| {
                        list.iter()
                            .filter_map(|mac| mac.as_str().map(String::from))
                            .collect()
                    })
                    .unwrap_or_default();
                let identity = HostIdentity {
                    machine_id: text("machine_id"),
                    dmi_uuid: text("dmi_uuid"),
                    dmi_serial: text("dmi_serial"),
                    macs: macs.into_iter().collect(),
                    hostname: text("hostname"),
                }
                .cleaned();
                out.push(("hostname", SummaryValue::Text(text("hostname"))));
                out.push(("fqdn", SummaryValue::Text(text("fqdn"))));
                // Identifiers are only ever filled in here, never blanked (reconciliation needs them).
                for (column, value) in [
                    ("machine_id", identity.machine_id.clone()),
                    ("dmi_uuid", identity.dmi_uuid.clone()),
                    ("dmi_serial", identity.dmi_serial.clone()),
                    ("macs", join_macs(&identity)),
                ] {
                    if !value.is_empty() {
                        out.push((column, SummaryValue::Text(value)));
                    }
                }
            }
            _ => {}
        }
    }
    out.retain(|(column, value)| {
        !(*column == "hostname" && matches!(value, SummaryValue::Text(t) if t.is_empty()))
    });
    out
}

/// A summary column's new value.
enum SummaryValue {
    Text(String),
    Number(i64),
}

/// The `macs` column: the MACs comma-separated.
pub(super) fn join_macs(identity: &HostIdentity) -> String {
    identity.macs.iter().cloned().collect::<Vec<_>>().join(",")
}
