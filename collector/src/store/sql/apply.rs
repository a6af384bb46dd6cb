//! The ingest writes, as the group-commit writer applies them on its
//! transaction: inventory change sets (diffed against the stored items,
//! recorded in history, summarised on the host row) and health samples,
//! each idempotent by the agent's sequence number.
//!
//! A batch is applied with one statement per table, not one per write:
//! one UPDATE advances every agent's sequence number, one read per kind
//! finds the stored items the batch touches, and each table then gets one
//! INSERT, UPDATE or DELETE for the whole batch (split only where a
//! statement would pass [`Dialect::statement_rows`]). Only the host
//! summary UPDATE is one statement per *shape* (which summary columns a
//! change set sets): a batch of deltas has one shape.

use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap, HashSet};

use sqlx::{AnyConnection, Row};

use super::catalogue;
use super::dialect::Dialect;
use super::statements::{ChangeRow, Statement, insert_change_rows, lock_agents};
use crate::cmdb::catalogue::Installed;
use crate::cmdb::diff::{self, ChangeRecord, CiItem};
use crate::cmdb::history;
use crate::cmdb::summary::{SummaryValue, summary_updates};
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

/// One write of a batch, borrowed from the writer's queue.
#[derive(Clone, Copy)]
pub(super) enum Write<'w> {
    /// An inventory change set with its packages' catalogue ids.
    Inventory {
        context: &'w ApplyContext,
        change: &'w InventoryChange,
        software: &'w Software,
    },
    /// A health sample (protobuf).
    Health {
        context: &'w ApplyContext,
        sampled_at: i64,
        data: &'w [u8],
    },
}

impl Write<'_> {
    fn context(&self) -> &ApplyContext {
        match self {
            Write::Inventory { context, .. } | Write::Health { context, .. } => context,
        }
    }
}

/// What one write did.
#[derive(Debug)]
pub(super) enum Applied {
    /// An inventory change set's outcome.
    Inventory(ApplyOutcome),
    /// Whether a health sample was stored (`false`: a replay).
    Health(bool),
}

/// Applies `writes` on the writer's transaction, one statement per table.
/// No two writes may be of the same agent (the writer splits a batch into
/// rounds where they are not). Any failure fails them all (the writer then
/// applies each alone, so the failure is the failing write's own).
pub(super) async fn apply_batch(
    connection: &mut AnyConnection,
    dialect: Dialect,
    writes: &[Write<'_>],
) -> Result<Vec<Applied>> {
    let contexts: Vec<&ApplyContext> = writes.iter().map(Write::context).collect();
    let advanced = advance_seqs(connection, dialect, &contexts).await?;
    let samples: Vec<(&ApplyContext, i64, &[u8])> = writes
        .iter()
        .zip(&advanced)
        .filter(|(_, advanced)| **advanced)
        .filter_map(|(write, _)| match write {
            Write::Health {
                context,
                sampled_at,
                data,
            } => Some((*context, *sampled_at, *data)),
            Write::Inventory { .. } => None,
        })
        .collect();
    insert_samples(connection, dialect, &samples).await?;
    let changes: Vec<(&ApplyContext, &InventoryChange, &Software)> = writes
        .iter()
        .zip(&advanced)
        .filter(|(_, advanced)| **advanced)
        .filter_map(|(write, _)| match write {
            Write::Inventory {
                context,
                change,
                software,
            } => Some((*context, *change, *software)),
            Write::Health { .. } => None,
        })
        .collect();
    let mut outcomes = apply_changes(connection, dialect, &changes)
        .await?
        .into_iter();
    writes
        .iter()
        .zip(advanced)
        .map(|(write, advanced)| match (write, advanced) {
            (Write::Health { .. }, stored) => Ok(Applied::Health(stored)),
            (Write::Inventory { .. }, false) => Ok(Applied::Inventory(ApplyOutcome {
                duplicate: true,
                ..Default::default()
            })),
            (Write::Inventory { .. }, true) => outcomes
                .next()
                .map(Applied::Inventory)
                .ok_or_else(|| Error::Internal("an inventory write has no outcome".into())),
        })
        .collect()
}

/// Advances each agent's sequence number to its write's, in one UPDATE;
/// per write, `false` when the agent was already there or past it (a
/// replayed message: write nothing). An unknown agent fails the batch.
async fn advance_seqs(
    connection: &mut AnyConnection,
    dialect: Dialect,
    contexts: &[&ApplyContext],
) -> Result<Vec<bool>> {
    let ids: Vec<&str> = contexts
        .iter()
        .map(|context| context.agent_id.as_str())
        .collect();
    lock_agents(&mut *connection, dialect, &ids).await?;
    let mut advanced: HashSet<String> = HashSet::with_capacity(contexts.len());
    for chunk in dialect.statement_rows(contexts, 3, |_| 64) {
        let mut statement = Statement::new(
            dialect,
            "UPDATE agents SET last_seq = v.column2, last_seen_at = v.column3 FROM (VALUES ",
        );
        statement.values(chunk, 3, |row, context| {
            row.bind(context.agent_id.as_str())
                .bind(context.seq)
                .bind(context.at);
        });
        statement.push(
            ") AS v WHERE agents.id = v.column1 AND agents.last_seq < v.column2 RETURNING id",
        );
        for row in statement.query()?.fetch_all(&mut *connection).await? {
            advanced.insert(row.try_get("id")?);
        }
    }
    let stale: Vec<&str> = contexts
        .iter()
        .map(|context| context.agent_id.as_str())
        .filter(|id| !advanced.contains(*id))
        .collect();
    if !stale.is_empty() {
        let mut known: HashSet<String> = HashSet::with_capacity(stale.len());
        for chunk in dialect.statement_rows(&stale, 1, |_| 64) {
            let mut statement = Statement::new(dialect, "SELECT id FROM agents WHERE id IN ");
            statement.bind_list(chunk.iter().copied());
            for row in statement.query()?.fetch_all(&mut *connection).await? {
                known.insert(row.try_get("id")?);
            }
        }
        if let Some(unknown) = stale.iter().find(|id| !known.contains(**id)) {
            return Err(Error::NotFound(format!("agent {unknown}")));
        }
    }
    Ok(contexts
        .iter()
        .map(|context| advanced.contains(&context.agent_id))
        .collect())
}

/// Stores health samples, one multi-row INSERT.
async fn insert_samples(
    connection: &mut AnyConnection,
    dialect: Dialect,
    samples: &[(&ApplyContext, i64, &[u8])],
) -> Result<()> {
    for chunk in dialect.statement_rows(samples, 4, |(_, _, data)| 64 + data.len()) {
        let mut statement = Statement::new(
            dialect,
            "INSERT INTO health_raw (host_id, sampled_at, seq, data) VALUES ",
        );
        statement.values(chunk, 4, |row, (context, sampled_at, data)| {
            row.bind(context.host_id.as_str())
                .bind(*sampled_at)
                .bind(context.seq)
                .bind(*data);
        });
        statement.query()?.execute(&mut *connection).await?;
    }
    Ok(())
}

/// The surrogate keys of hosts (`host_keys`), adding those not there yet:
/// one SELECT, and one INSERT for the new.
async fn host_keys(
    connection: &mut AnyConnection,
    dialect: Dialect,
    host_ids: &[&str],
) -> Result<HashMap<String, i64>> {
    let mut keys: HashMap<String, i64> = HashMap::with_capacity(host_ids.len());
    for chunk in dialect.statement_rows(host_ids, 1, |_| 64) {
        let mut statement = Statement::new(
            dialect,
            "SELECT host_id, host_key FROM host_keys WHERE host_id IN ",
        );
        statement.bind_list(chunk.iter().copied());
        for row in statement.query()?.fetch_all(&mut *connection).await? {
            keys.insert(row.try_get("host_id")?, row.try_get("host_key")?);
        }
    }
    let mut new: Vec<&str> = host_ids
        .iter()
        .copied()
        .filter(|id| !keys.contains_key(*id))
        .collect();
    new.sort_unstable();
    new.dedup();
    for chunk in dialect.statement_rows(&new, 1, |_| 64) {
        let mut statement = Statement::new(dialect, "INSERT INTO host_keys (host_id) VALUES ");
        statement.values(chunk, 1, |row, id| {
            row.bind(*id);
        });
        statement.push(" RETURNING host_id, host_key");
        for row in statement.query()?.fetch_all(&mut *connection).await? {
            keys.insert(row.try_get("host_id")?, row.try_get("host_key")?);
        }
    }
    Ok(keys)
}

/// A host's stored items that a change set is compared with, and where its
/// software rows are (by item key: package id and first sight).
#[derive(Default)]
struct Stored {
    items: BTreeMap<(String, String), CiItem>,
    software: HashMap<String, (i64, i64)>,
}

/// What to read of one host: all of it (a snapshot or a large delta) or
/// only the items a delta touches.
enum Lookup<'c> {
    Whole,
    Items {
        other: Vec<(&'c str, &'c str)>,
        names: Vec<&'c str>,
    },
}

fn lookup(change: &InventoryChange) -> Lookup<'_> {
    let touched = change.items.len() + change.removed.len();
    if change.full || touched > POINT_LOOKUP_LIMIT {
        return Lookup::Whole;
    }
    let touched = change
        .items
        .iter()
        .map(|item| (item.class.as_str(), item.key.as_str()))
        .chain(change.removed.iter().map(|(c, k)| (c.as_str(), k.as_str())));
    let mut other = Vec::new();
    let mut names = Vec::new();
    for (class, key) in touched {
        if class == SOFTWARE {
            // A package key is `name:arch` or `name`: look both readings up.
            names.push(key);
            if let Some((name, _)) = key.rsplit_once(':') {
                names.push(name);
            }
        } else {
            other.push((class, key));
        }
    }
    Lookup::Items { other, names }
}

fn item_of(row: &sqlx::any::AnyRow) -> std::result::Result<CiItem, sqlx::Error> {
    Ok(CiItem {
        class: row.try_get("class")?,
        key: row.try_get("item_key")?,
        name: row.try_get("name")?,
        attrs: row.try_get("attrs")?,
    })
}

const ITEM_COLUMNS: &str = "c.host_id AS host_id, c.class AS class, c.item_key AS item_key, c.name AS name, c.attrs AS attrs";
const PACKAGE_COLUMNS: &str = "hs.host_key AS host_key, p.name AS name, p.manager AS manager, \
     p.version AS version, p.arch AS arch, p.source AS source, hs.package_id AS package_id, \
     hs.installed_at_s AS installed_at_s, hs.first_seen_at AS first_seen_at";

/// The stored items every change set of a batch is compared with: one
/// read of the whole hosts, one of the touched items, and the same two for
/// software.
async fn stored_items(
    connection: &mut AnyConnection,
    dialect: Dialect,
    hosts: &[(&str, i64, Lookup<'_>)],
) -> Result<HashMap<i64, Stored>> {
    let whole: Vec<(&str, i64)> = hosts
        .iter()
        .filter(|(_, _, lookup)| matches!(lookup, Lookup::Whole))
        .map(|(id, key, _)| (*id, *key))
        .collect();
    let mut items: Vec<(&str, &str, &str)> = Vec::new();
    let mut names: Vec<(i64, &str)> = Vec::new();
    for (id, key, lookup) in hosts {
        if let Lookup::Items { other, names: n } = lookup {
            items.extend(
                other
                    .iter()
                    .map(|(class, item_key)| (*id, *class, *item_key)),
            );
            names.extend(n.iter().map(|name| (*key, *name)));
        }
    }
    let key_of: HashMap<&str, i64> = hosts.iter().map(|(id, key, _)| (*id, *key)).collect();
    let mut rows = Vec::new();
    for chunk in dialect.statement_rows(&whole, 1, |_| 64) {
        let mut statement = Statement::new(
            dialect,
            format!("SELECT {ITEM_COLUMNS} FROM ci_items c WHERE c.host_id IN "),
        );
        statement.bind_list(chunk.iter().map(|(id, _)| *id));
        rows.extend(statement.query()?.fetch_all(&mut *connection).await?);
    }
    for chunk in dialect.statement_rows(&items, 3, |(_, _, key)| 96 + key.len()) {
        let mut statement = Statement::new(dialect, format!("SELECT {ITEM_COLUMNS} FROM (VALUES "));
        statement.values(chunk, 3, |row, (id, class, key)| {
            row.bind(*id).bind(*class).bind(*key);
        });
        statement.push(
            ") AS v JOIN ci_items c ON c.host_id = v.column1 AND c.class = v.column2 AND c.item_key = v.column3",
        );
        rows.extend(statement.query()?.fetch_all(&mut *connection).await?);
    }
    let mut stored: HashMap<i64, Stored> = HashMap::with_capacity(hosts.len());
    for row in &rows {
        let host_id: String = row.try_get("host_id")?;
        let key = key_of
            .get(host_id.as_str())
            .copied()
            .ok_or_else(|| Error::Internal(format!("an item of host {host_id} not asked for")))?;
        let item = item_of(row)?;
        stored
            .entry(key)
            .or_default()
            .items
            .insert((item.class.clone(), item.key.clone()), item);
    }
    let mut rows = Vec::new();
    for chunk in dialect.statement_rows(&whole, 1, |_| 32) {
        let mut statement = Statement::new(
            dialect,
            format!(
                "SELECT {PACKAGE_COLUMNS} FROM host_software hs JOIN packages p ON p.id = hs.package_id WHERE hs.host_key IN "
            ),
        );
        statement.bind_list(chunk.iter().map(|(_, key)| *key));
        rows.extend(statement.query()?.fetch_all(&mut *connection).await?);
    }
    for chunk in dialect.statement_rows(&names, 2, |(_, name)| 64 + name.len()) {
        let mut statement =
            Statement::new(dialect, format!("SELECT {PACKAGE_COLUMNS} FROM (VALUES "));
        statement.values(chunk, 2, |row, (key, name)| {
            row.bind(*key).bind(*name);
        });
        // Packages by name first (an index), then the host's row of each:
        // SQLite keeps the order of a CROSS JOIN (it read all of a host's
        // software rows for each name otherwise); PostgreSQL plans it freely.
        statement.push(
            ") AS v CROSS JOIN packages p CROSS JOIN host_software hs \
             WHERE p.name = v.column2 AND hs.host_key = v.column1 AND hs.package_id = p.id",
        );
        rows.extend(statement.query()?.fetch_all(&mut *connection).await?);
    }
    for row in &rows {
        let item = catalogue::installed_of(row)?.item();
        let host = stored.entry(row.try_get("host_key")?).or_default();
        host.software.insert(
            item.key.clone(),
            (row.try_get("package_id")?, row.try_get("first_seen_at")?),
        );
        host.items
            .insert((item.class.clone(), item.key.clone()), item);
    }
    Ok(stored)
}

/// Every row a batch of change sets writes, gathered before any is.
#[derive(Default)]
struct Rows<'b> {
    /// New items: borrowed from a first inventory's change set, owned
    /// from a diff.
    inserts: Vec<(&'b str, Cow<'b, CiItem>, i64)>,
    updates: Vec<(&'b str, CiItem, i64)>,
    deletes: Vec<(&'b str, String, String)>,
    software_gone: Vec<(i64, i64)>,
    software: Vec<SoftwareRow>,
    history: Vec<(&'b str, ChangeRecord, i64, &'b str)>,
    hosts: Vec<HostUpdate<'b>>,
}

/// One `host_software` row: host key, package id, install time (s), first
/// seen and updated (ms).
#[derive(Clone, Copy)]
struct SoftwareRow {
    host_key: i64,
    package_id: i64,
    installed_at_s: i64,
    first_seen_at: i64,
    at: i64,
}

/// The host row after a change set: inventory time, package count when
/// software came or went, and its summary columns.
struct HostUpdate<'b> {
    host_id: &'b str,
    host_key: i64,
    at: i64,
    software_moved: bool,
    summary: Vec<(&'static str, SummaryValue)>,
}

impl HostUpdate<'_> {
    /// The columns it sets beyond the times: statements are grouped by it.
    fn shape(&self) -> (bool, Vec<&'static str>) {
        (
            self.software_moved,
            self.summary.iter().map(|(column, _)| *column).collect(),
        )
    }
}

/// Applies change sets whose sequence numbers advanced: the item diffs,
/// their history and the host rows, one statement per table.
async fn apply_changes<'c>(
    connection: &mut AnyConnection,
    dialect: Dialect,
    changes: &[(&'c ApplyContext, &'c InventoryChange, &'c Software)],
) -> Result<Vec<ApplyOutcome>> {
    if changes.is_empty() {
        return Ok(Vec::new());
    }
    let ids: Vec<&str> = changes
        .iter()
        .map(|(context, _, _)| context.host_id.as_str())
        .collect();
    let keys = host_keys(connection, dialect, &ids).await?;
    let key_of = |id: &str| {
        keys.get(id)
            .copied()
            .ok_or_else(|| Error::Internal(format!("no host key for {id}")))
    };
    let mut hosts = Vec::with_capacity(changes.len());
    for (context, change, _) in changes {
        let id = context.host_id.as_str();
        hosts.push((id, key_of(id)?, lookup(change)));
    }
    let mut stored = stored_items(connection, dialect, &hosts).await?;
    let mut rows = Rows::default();
    let mut outcomes = Vec::with_capacity(changes.len());
    for ((context, change, software), (host_id, host_key, _)) in changes.iter().zip(&hosts) {
        let stored = stored.remove(host_key).unwrap_or_default();
        if change.full && stored.items.is_empty() {
            outcomes.push(plan_first(
                &mut rows, context, host_id, *host_key, change, software,
            ));
            continue;
        }
        outcomes.push(plan_change(
            &mut rows, context, host_id, *host_key, change, software, &stored,
        )?);
    }
    write_rows(connection, dialect, &rows).await?;
    Ok(outcomes)
}

/// Adds a host's first inventory to `rows`: nothing is stored to compare
/// it with, so every item is new and the diff is skipped, and with it the
/// JSON form of each package (that the diff compares and a first inventory
/// never stores); it made up a third of a first inventory's instructions
/// (callgrind, docs/performance.md). Writes what [`plan_change`] writes for
/// the same change set: every item inserted, its packages as catalogue
/// rows, one `discovered` record.
fn plan_first<'b>(
    rows: &mut Rows<'b>,
    context: &'b ApplyContext,
    host_id: &'b str,
    host_key: i64,
    change: &'b InventoryChange,
    software: &Software,
) -> ApplyOutcome {
    let at = context.at;
    let other: Vec<&CiItem> = change
        .items
        .iter()
        .filter(|item| item.class != SOFTWARE)
        .collect();
    rows.inserts
        .extend(other.iter().map(|item| (host_id, Cow::Borrowed(*item), at)));
    rows.software.extend(
        software
            .values()
            .map(|(installed, package_id)| SoftwareRow {
                host_key,
                package_id: *package_id,
                installed_at_s: installed.installed_at_s,
                first_seen_at: at,
                at,
            }),
    );
    let record = discovered_record(other.iter().copied(), software);
    rows.history
        .push((host_id, record, at, context.agent_id.as_str()));
    rows.hosts.push(HostUpdate {
        host_id,
        host_key,
        at,
        software_moved: !software.is_empty(),
        summary: summary_updates(&change.items),
    });
    ApplyOutcome {
        duplicate: false,
        added: other.len() + software.len(),
        changed: 0,
        removed: 0,
    }
}

/// Diffs one change set against its host's stored items and adds what it
/// writes to `rows`.
fn plan_change<'b>(
    rows: &mut Rows<'b>,
    context: &'b ApplyContext,
    host_id: &'b str,
    host_key: i64,
    change: &InventoryChange,
    software: &Software,
    stored: &Stored,
) -> Result<ApplyOutcome> {
    let at = context.at;
    let incoming: Vec<CiItem> = change
        .items
        .iter()
        .filter(|item| item.class != SOFTWARE)
        .cloned()
        .chain(software.values().map(|(installed, _)| installed.item()))
        .collect();
    let plan = diff::plan(&stored.items, &incoming, &change.removed, change.full);
    let outcome = ApplyOutcome {
        duplicate: false,
        added: plan.inserts.len(),
        changed: plan.updates.len(),
        removed: plan.deletes.len(),
    };
    let id_of = |item: &CiItem| -> Result<(i64, i64)> {
        software
            .get(&item.key)
            .map(|(installed, id)| (*id, installed.installed_at_s))
            .ok_or_else(|| Error::Internal(format!("no catalogue id for package {}", item.key)))
    };
    let mut software_moved = false;
    for item in &plan.inserts {
        if item.class == SOFTWARE {
            software_moved = true;
            let (package_id, installed_at_s) = id_of(item)?;
            rows.software.push(SoftwareRow {
                host_key,
                package_id,
                installed_at_s,
                first_seen_at: at,
                at,
            });
        } else {
            rows.inserts.push((host_id, Cow::Owned(item.clone()), at));
        }
    }
    for item in &plan.updates {
        if item.class == SOFTWARE {
            // A changed package (a new version, say) is a different
            // catalogue entry: its row is replaced, keeping when the host
            // first had it.
            let (package_id, installed_at_s) = id_of(item)?;
            let first_seen_at = match stored.software.get(&item.key) {
                Some((old, first_seen)) => {
                    rows.software_gone.push((host_key, *old));
                    *first_seen
                }
                None => at,
            };
            rows.software.push(SoftwareRow {
                host_key,
                package_id,
                installed_at_s,
                first_seen_at,
                at,
            });
        } else {
            rows.updates.push((host_id, item.clone(), at));
        }
    }
    for (class, key) in &plan.deletes {
        if class == SOFTWARE {
            software_moved = true;
            if let Some((old, _)) = stored.software.get(key) {
                rows.software_gone.push((host_key, *old));
            }
        } else {
            rows.deletes.push((host_id, class.clone(), key.clone()));
        }
    }
    let source = context.agent_id.as_str();
    rows.history.extend(
        plan.changes
            .into_iter()
            .map(|record| (host_id, record, at, source)),
    );
    rows.hosts.push(HostUpdate {
        host_id,
        host_key,
        at,
        software_moved,
        summary: summary_updates(&change.items),
    });
    Ok(outcome)
}

/// Writes a batch's rows: per table one statement (more only past
/// [`Dialect::statement_rows`]), deletes before inserts. A DELETE names
/// its rows as `(…) IN (SELECT … FROM (VALUES …))`: SQLite scans the
/// whole table for `(…) IN (VALUES …)` but searches the primary key for
/// the subquery (`EXPLAIN QUERY PLAN`, SQLite 3.40).
async fn write_rows(
    connection: &mut AnyConnection,
    dialect: Dialect,
    rows: &Rows<'_>,
) -> Result<()> {
    for chunk in dialect.statement_rows(&rows.deletes, 3, |(_, _, key)| 96 + key.len()) {
        let mut statement = Statement::new(
            dialect,
            "DELETE FROM ci_items WHERE (host_id, class, item_key) IN \
             (SELECT v.column1, v.column2, v.column3 FROM (VALUES ",
        );
        statement.values(chunk, 3, |row, (id, class, key)| {
            row.bind(*id).bind(class.as_str()).bind(key.as_str());
        });
        statement.push(") AS v)");
        statement.query()?.execute(&mut *connection).await?;
    }
    for chunk in dialect.statement_rows(&rows.inserts, 7, |(_, item, _)| item_size(item)) {
        let mut statement = Statement::new(
            dialect,
            format!(
                "{} ci_items (host_id, class, item_key, name, attrs, first_seen_at, updated_at) VALUES ",
                dialect.insert_rows()
            ),
        );
        statement.values(chunk, 7, |row, (id, item, at)| {
            row.bind(*id)
                .bind(item.class.as_str())
                .bind(item.key.as_str())
                .bind(item.name.as_str())
                .bind(item.attrs.as_str())
                .bind(*at)
                .bind(*at);
        });
        statement.query()?.execute(&mut *connection).await?;
    }
    for chunk in dialect.statement_rows(&rows.updates, 6, |(_, item, _)| item_size(item)) {
        let mut statement = Statement::new(
            dialect,
            "UPDATE ci_items SET name = v.column4, attrs = v.column5, updated_at = v.column6 FROM (VALUES ",
        );
        statement.values(chunk, 6, |row, (id, item, at)| {
            row.bind(*id)
                .bind(item.class.as_str())
                .bind(item.key.as_str())
                .bind(item.name.as_str())
                .bind(item.attrs.as_str())
                .bind(*at);
        });
        statement.push(
            ") AS v WHERE ci_items.host_id = v.column1 AND ci_items.class = v.column2 \
             AND ci_items.item_key = v.column3",
        );
        statement.query()?.execute(&mut *connection).await?;
    }
    for chunk in dialect.statement_rows(&rows.software_gone, 2, |_| 48) {
        let mut statement = Statement::new(
            dialect,
            "DELETE FROM host_software WHERE (host_key, package_id) IN \
             (SELECT v.column1, v.column2 FROM (VALUES ",
        );
        statement.values(chunk, 2, |row, (host_key, package_id)| {
            row.bind(*host_key).bind(*package_id);
        });
        statement.push(") AS v)");
        statement.query()?.execute(&mut *connection).await?;
    }
    for chunk in dialect.statement_rows(&rows.software, 5, |_| 100) {
        let mut statement = Statement::new(
            dialect,
            format!(
                "{} host_software (host_key, package_id, installed_at_s, first_seen_at, updated_at) VALUES ",
                dialect.insert_rows()
            ),
        );
        statement.values(chunk, 5, |row, software| {
            row.bind(software.host_key)
                .bind(software.package_id)
                .bind(software.installed_at_s)
                .bind(software.first_seen_at)
                .bind(software.at);
        });
        statement.query()?.execute(&mut *connection).await?;
    }
    let history: Vec<ChangeRow<'_>> = rows
        .history
        .iter()
        .map(|(host_id, record, at, source)| ChangeRow {
            host_id,
            record,
            at: *at,
            source,
        })
        .collect();
    insert_change_rows(connection, dialect, &history).await?;
    update_hosts(connection, dialect, &rows.hosts).await
}

/// The bytes an item adds to a statement (for [`Dialect::statement_rows`]).
fn item_size(item: &CiItem) -> usize {
    96 + item.class.len() + item.key.len() + item.name.len() + item.attrs.len()
}

/// One UPDATE of the host rows per shape: inventory time, the package count
/// when software came or went, and the summary columns from the singletons.
async fn update_hosts(
    connection: &mut AnyConnection,
    dialect: Dialect,
    hosts: &[HostUpdate<'_>],
) -> Result<()> {
    let mut shapes: BTreeMap<(bool, Vec<&'static str>), Vec<&HostUpdate<'_>>> = BTreeMap::new();
    for host in hosts {
        shapes.entry(host.shape()).or_default().push(host);
    }
    for ((software_moved, columns), hosts) in shapes {
        let per_row = 3 + columns.len();
        for chunk in dialect.statement_rows(&hosts, per_row, |_| 64 + per_row * 48) {
            let mut statement = Statement::new(
                dialect,
                "UPDATE hosts SET last_inventory_at = v.column2, last_seen_at = v.column2",
            );
            if software_moved {
                statement.push(
                    ", package_count = (SELECT COUNT(*) FROM host_software WHERE host_software.host_key = v.column3)",
                );
            }
            for (index, column) in columns.iter().enumerate() {
                statement
                    .push(", ")
                    .push(column)
                    .push(" = v.column")
                    .push(&(index + 4).to_string());
            }
            statement.push(" FROM (VALUES ");
            statement.values(chunk, per_row, |row, host| {
                row.bind(host.host_id).bind(host.at).bind(host.host_key);
                for (_, value) in &host.summary {
                    match value {
                        SummaryValue::Text(text) => row.bind(text.as_str()),
                        SummaryValue::Number(number) => row.bind(*number),
                    };
                }
            });
            statement.push(") AS v WHERE hosts.id = v.column1");
            statement.query()?.execute(&mut *connection).await?;
        }
    }
    Ok(())
}

/// The one history record of a first inventory (`cmdb::history`): its
/// packages from `software`, and its other items.
fn discovered_record<'i>(
    other: impl Iterator<Item = &'i CiItem>,
    software: &Software,
) -> ChangeRecord {
    let other: Vec<(String, String, String)> = other
        .map(|item| (item.class.clone(), item.key.clone(), item.attrs.clone()))
        .collect();
    let mut packages: Vec<(i64, i64)> = software
        .values()
        .map(|(installed, id)| (*id, installed.installed_at_s))
        .collect();
    // In catalogue order, so a snapshot's record does not depend on the
    // order its packages were parsed in.
    packages.sort_unstable();
    history::discovered(&packages, &other)
}
