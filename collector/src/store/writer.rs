//! Group commit of the ingest writes (inventory change sets and health
//! samples).
//!
//! Sessions hand their writes to writer tasks instead of each opening its
//! own transaction. A writer takes every write waiting at that moment (up to
//! [`MAX_BATCH_WRITES`] writes or [`MAX_BATCH_ITEMS`] items) and applies
//! them in one transaction, so one commit — one WAL sync on SQLite — covers
//! many agents' messages, and on SQLite one connection holds the write lock
//! instead of several waiting in its busy handler. Each write still answers
//! on its own: if any write of a batch fails, the batch is rolled back and
//! every write of it is applied again in a transaction of its own, so one
//! bad write never fails or loses another agent's.
//!
//! SQLite gets one writer (it serialises writers anyway); PostgreSQL gets
//! [`POSTGRES_WRITERS`], which take batches off the same queue. Writes of one
//! agent never race: a session waits for each apply before sending the next.

use std::collections::BTreeMap;
use std::sync::Arc;

use sqlx::{AnyConnection, AnyPool, AssertSqlSafe, Row};
use tokio::sync::{Mutex, mpsc, oneshot};

use super::sql::{SummaryValue, begin_write, insert_changes, insert_items, summary_updates};
use super::{ApplyContext, ApplyOutcome, Backend, InventoryChange};
use crate::cmdb::diff::{self, CiItem};
use crate::error::{Error, Result};

/// Most writes in one transaction.
pub const MAX_BATCH_WRITES: usize = 256;
/// Most inventory items in one transaction (a batch closes once past it):
/// about a dozen full snapshots, so other writers (sessions attaching,
/// heartbeats, the API) wait a fraction of a second for the write lock.
pub const MAX_BATCH_ITEMS: usize = 10_000;
/// Writer tasks on PostgreSQL.
pub const POSTGRES_WRITERS: usize = 8;
/// Writes waiting for a writer before senders wait too (back-pressure).
const QUEUE: usize = 1024;
/// A delta touching more items than this reads the host's whole inventory
/// instead of looking its items up.
const POINT_LOOKUP_LIMIT: usize = 64;

/// One write and where its answer goes.
struct Write {
    op: Op,
    reply: oneshot::Sender<Result<Applied>>,
}

enum Op {
    Inventory {
        context: ApplyContext,
        change: InventoryChange,
    },
    Health {
        context: ApplyContext,
        sampled_at: i64,
        data: String,
    },
}

enum Applied {
    Inventory(ApplyOutcome),
    Health(bool),
}

impl Op {
    fn weight(&self) -> usize {
        match self {
            Op::Inventory { change, .. } => 1 + change.items.len() + change.removed.len(),
            Op::Health { .. } => 1,
        }
    }

    async fn apply(&self, connection: &mut AnyConnection, backend: Backend) -> Result<Applied> {
        match self {
            Op::Inventory { context, change } => {
                apply_inventory(connection, backend, context, change)
                    .await
                    .map(Applied::Inventory)
            }
            Op::Health {
                context,
                sampled_at,
                data,
            } => record_health(connection, context, *sampled_at, data)
                .await
                .map(Applied::Health),
        }
    }
}

/// The handle through which the store queues writes.
#[derive(Debug, Clone)]
pub(crate) struct Writer {
    queue: mpsc::Sender<Write>,
}

impl Writer {
    /// Starts the writer tasks of `pool`; they end when every handle is dropped.
    pub(crate) fn start(pool: AnyPool, backend: Backend) -> Self {
        let (queue, receiver) = mpsc::channel(QUEUE);
        let receiver = Arc::new(Mutex::new(receiver));
        let writers = match backend {
            Backend::Sqlite => 1,
            Backend::Postgres => POSTGRES_WRITERS,
        };
        for _ in 0..writers {
            tokio::spawn(work(pool.clone(), backend, receiver.clone()));
        }
        Self { queue }
    }

    async fn submit(&self, op: Op) -> Result<Applied> {
        let (reply, answer) = oneshot::channel();
        self.queue
            .send(Write { op, reply })
            .await
            .map_err(|_| Error::Store("the store's writer has stopped".into()))?;
        answer
            .await
            .map_err(|_| Error::Store("the store's writer stopped before answering".into()))?
    }

    /// Applies an inventory change set (see `Store::apply_inventory`).
    pub(crate) async fn apply_inventory(
        &self,
        context: &ApplyContext,
        change: InventoryChange,
    ) -> Result<ApplyOutcome> {
        match self
            .submit(Op::Inventory {
                context: context.clone(),
                change,
            })
            .await?
        {
            Applied::Inventory(outcome) => Ok(outcome),
            Applied::Health(_) => Err(Error::Internal("writer answered the wrong write".into())),
        }
    }

    /// Stores a health sample (see `Store::record_health`).
    pub(crate) async fn record_health(
        &self,
        context: &ApplyContext,
        sampled_at: i64,
        data: &str,
    ) -> Result<bool> {
        match self
            .submit(Op::Health {
                context: context.clone(),
                sampled_at,
                data: data.to_string(),
            })
            .await?
        {
            Applied::Health(stored) => Ok(stored),
            Applied::Inventory(_) => Err(Error::Internal("writer answered the wrong write".into())),
        }
    }
}

async fn work(pool: AnyPool, backend: Backend, receiver: Arc<Mutex<mpsc::Receiver<Write>>>) {
    loop {
        let batch = {
            let mut receiver = receiver.lock().await;
            let Some(first) = receiver.recv().await else {
                return;
            };
            let mut weight = first.op.weight();
            let mut batch = vec![first];
            while batch.len() < MAX_BATCH_WRITES && weight < MAX_BATCH_ITEMS {
                match receiver.try_recv() {
                    Ok(write) => {
                        weight += write.op.weight();
                        batch.push(write);
                    }
                    Err(_) => break,
                }
            }
            batch
        };
        run_batch(&pool, backend, batch).await;
    }
}

async fn run_batch(pool: &AnyPool, backend: Backend, batch: Vec<Write>) {
    let (ops, replies): (Vec<Op>, Vec<_>) = batch.into_iter().map(|w| (w.op, w.reply)).unzip();
    let results = match apply_together(pool, backend, &ops).await {
        Ok(results) => results,
        Err(error) if ops.len() == 1 => vec![Err(error)],
        Err(error) => {
            tracing::debug!(error = %error, writes = ops.len(), "batched write failed; applying its writes one by one");
            let mut results = Vec::with_capacity(ops.len());
            for op in &ops {
                results.push(apply_alone(pool, backend, op).await);
            }
            results
        }
    };
    for (reply, result) in replies.into_iter().zip(results) {
        // A session that went away no longer waits for its answer.
        let _ = reply.send(result);
    }
}

/// Applies `ops` in one transaction; any failure fails (and rolls back) all.
async fn apply_together(
    pool: &AnyPool,
    backend: Backend,
    ops: &[Op],
) -> Result<Vec<Result<Applied>>> {
    let mut tx = begin_write(pool, backend).await?;
    let mut results = Vec::with_capacity(ops.len());
    for op in ops {
        match op.apply(&mut tx, backend).await {
            Ok(applied) => results.push(Ok(applied)),
            Err(error) => {
                tx.rollback().await?;
                return Err(error);
            }
        }
    }
    tx.commit().await?;
    Ok(results)
}

async fn apply_alone(pool: &AnyPool, backend: Backend, op: &Op) -> Result<Applied> {
    let mut tx = begin_write(pool, backend).await?;
    match op.apply(&mut tx, backend).await {
        Ok(applied) => {
            tx.commit().await?;
            Ok(applied)
        }
        Err(error) => {
            tx.rollback().await?;
            Err(error)
        }
    }
}

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
        let pairs = (0..touched.len())
            .map(|i| format!("(class = ${} AND item_key = ${})", 2 + 2 * i, 3 + 2 * i))
            .collect::<Vec<_>>()
            .join(" OR ");
        let sql = format!(
            "SELECT class, item_key, name, attrs FROM ci_items WHERE host_id = $1 AND ({pairs})"
        );
        let mut query = sqlx::query(AssertSqlSafe(sql)).bind(host_id);
        for (class, key) in &touched {
            query = query.bind(*class).bind(*key);
        }
        query.fetch_all(&mut *connection).await?
    };
    let mut stored = BTreeMap::new();
    for row in &rows {
        let item = item_of(row)?;
        stored.insert((item.class.clone(), item.key.clone()), item);
    }
    Ok(stored)
}

async fn apply_inventory(
    connection: &mut AnyConnection,
    backend: Backend,
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
    let stored = stored_items(connection, host_id, change).await?;
    let plan = diff::plan(&stored, &change.items, &change.removed, change.full);
    insert_items(connection, backend, host_id, &plan.inserts, context.at).await?;
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
        backend,
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
    let mut sets = vec![
        "last_inventory_at = $2".to_string(),
        "last_seen_at = $2".to_string(),
    ];
    if software_moved {
        sets.push(
            "package_count = (SELECT COUNT(*) FROM ci_items WHERE host_id = $1 AND class = 'software')"
                .to_string(),
        );
    }
    for (index, (column, _)) in summary.iter().enumerate() {
        sets.push(format!("{column} = ${}", 3 + index));
    }
    let sql = format!("UPDATE hosts SET {} WHERE id = $1", sets.join(", "));
    let mut query = sqlx::query(AssertSqlSafe(sql))
        .bind(host_id)
        .bind(context.at);
    for (_, value) in summary {
        query = match value {
            SummaryValue::Text(text) => query.bind(text),
            SummaryValue::Number(number) => query.bind(number),
        };
    }
    query.execute(&mut *connection).await?;
    Ok(ApplyOutcome {
        duplicate: false,
        added: plan.inserts.len(),
        changed: plan.updates.len(),
        removed: plan.deletes.len(),
    })
}

async fn record_health(
    connection: &mut AnyConnection,
    context: &ApplyContext,
    sampled_at: i64,
    data: &str,
) -> Result<bool> {
    if !advance_seq(connection, context).await? {
        return Ok(false);
    }
    sqlx::query(
        "INSERT INTO health_samples (host_id, sampled_at, seq, data) VALUES ($1, $2, $3, $4)",
    )
    .bind(&context.host_id)
    .bind(sampled_at)
    .bind(context.seq)
    .bind(data)
    .execute(&mut *connection)
    .await?;
    Ok(true)
}
