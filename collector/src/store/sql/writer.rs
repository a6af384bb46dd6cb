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
//! [`POSTGRES_WRITERS`](super::dialect::POSTGRES_WRITERS), which take
//! batches off the same queue ([`Dialect::writers`]). Writes of one
//! agent never race: a session waits for each apply before sending the next.

use std::sync::Arc;

use sqlx::AnyPool;
use tokio::sync::{Mutex, mpsc, oneshot};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::apply::{self, Applied};
use super::catalogue::Catalogue;
use super::checkpoint::{Link, NUDGE_WEIGHT};
use super::dialect::Dialect;
use crate::cmdb::catalogue::{Installed, PackageId, package_key};
use crate::error::{Error, Result};
use crate::store::{ApplyContext, ApplyOutcome, InventoryChange};

/// Most writes in one transaction.
pub const MAX_BATCH_WRITES: usize = 256;
/// Most inventory items in one transaction (a batch closes once past it):
/// about a dozen full snapshots, so other writers (sessions attaching,
/// heartbeats, the API) wait a fraction of a second for the write lock.
pub const MAX_BATCH_ITEMS: usize = 10_000;
/// Writes waiting for a writer before senders wait too (back-pressure).
const QUEUE: usize = 1024;

/// One write and where its answer goes.
struct Write {
    op: Op,
    reply: oneshot::Sender<Result<Applied>>,
}

enum Op {
    Inventory {
        context: ApplyContext,
        change: InventoryChange,
        software: apply::Software,
    },
    Health {
        context: ApplyContext,
        sampled_at: i64,
        data: Vec<u8>,
    },
}

impl Op {
    fn weight(&self) -> usize {
        match self {
            Op::Inventory { change, .. } => 1 + change.items.len() + change.removed.len(),
            Op::Health { .. } => 1,
        }
    }

    fn agent(&self) -> &str {
        match self {
            Op::Inventory { context, .. } | Op::Health { context, .. } => &context.agent_id,
        }
    }

    fn write(&self) -> apply::Write<'_> {
        match self {
            Op::Inventory {
                context,
                change,
                software,
            } => apply::Write::Inventory {
                context,
                change,
                software,
            },
            Op::Health {
                context,
                sampled_at,
                data,
            } => apply::Write::Health {
                context,
                sampled_at: *sampled_at,
                data,
            },
        }
    }
}

/// The handle through which the store queues writes.
#[derive(Debug, Clone)]
pub(crate) struct Writer {
    pool: AnyPool,
    dialect: Dialect,
    catalogue: Arc<Catalogue>,
    queue: mpsc::Sender<Write>,
    receiver: Arc<Mutex<mpsc::Receiver<Write>>>,
    tasks: TaskTracker,
    stop: CancellationToken,
}

impl Writer {
    /// Starts the writer tasks of `pool`; they run until `close` (or until
    /// every handle is dropped). With SQLite's WAL checkpointer (`checkpoint`)
    /// each batch holds its turn, and a commit of [`NUDGE_WEIGHT`] items or
    /// more wakes it.
    pub(crate) fn start(pool: AnyPool, dialect: Dialect, checkpoint: Option<Link>) -> Self {
        let (queue, receiver) = mpsc::channel(QUEUE);
        let receiver = Arc::new(Mutex::new(receiver));
        let tasks = TaskTracker::new();
        let stop = CancellationToken::new();
        for _ in 0..dialect.writers() {
            tasks.spawn(work(
                pool.clone(),
                dialect,
                receiver.clone(),
                stop.clone(),
                checkpoint.clone(),
            ));
        }
        tasks.close();
        Self {
            pool,
            dialect,
            catalogue: Arc::new(Catalogue::default()),
            queue,
            receiver,
            tasks,
            stop,
        }
    }

    /// Applies what is queued, stops the writer tasks and waits for them;
    /// later writes fail with a store error.
    pub(crate) async fn close(&self) {
        self.stop.cancel();
        self.tasks.wait().await;
        // A write queued while the last writer was leaving is answered with
        // an error (its reply is dropped) rather than left waiting.
        let mut receiver = self.receiver.lock().await;
        receiver.close();
        while receiver.try_recv().is_ok() {}
    }

    async fn submit(&self, op: Op) -> Result<Applied> {
        if self.stop.is_cancelled() {
            return Err(Error::Store("the store is closed".into()));
        }
        let (reply, answer) = oneshot::channel();
        self.queue
            .send(Write { op, reply })
            .await
            .map_err(|_| Error::Store("the store's writer has stopped".into()))?;
        answer
            .await
            .map_err(|_| Error::Store("the store's writer stopped before answering".into()))?
    }

    /// Applies an inventory change set (see `Store::apply_inventory`). The
    /// catalogue ids of its packages are found (and new packages added)
    /// first, outside the writer's batch.
    pub(crate) async fn apply_inventory(
        &self,
        context: &ApplyContext,
        change: InventoryChange,
    ) -> Result<ApplyOutcome> {
        if self.stop.is_cancelled() {
            return Err(Error::Store("the store is closed".into()));
        }
        let installed: Vec<Installed> = change
            .items
            .iter()
            .filter(|item| item.class == apply::SOFTWARE)
            .map(Installed::of_item)
            .collect();
        let mut software = apply::Software::with_capacity(installed.len());
        if !installed.is_empty() {
            let packages: Vec<&PackageId> = installed.iter().map(|i| &i.package).collect();
            let ids = self
                .catalogue
                .ids(&self.pool, self.dialect, &packages)
                .await?;
            for (package, id) in installed.into_iter().zip(ids) {
                let key = package_key(&package.package.name, &package.package.arch);
                software.insert(key, (package, id));
            }
        }
        match self
            .submit(Op::Inventory {
                context: context.clone(),
                change,
                software,
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
        data: &[u8],
    ) -> Result<bool> {
        match self
            .submit(Op::Health {
                context: context.clone(),
                sampled_at,
                data: data.to_vec(),
            })
            .await?
        {
            Applied::Health(stored) => Ok(stored),
            Applied::Inventory(_) => Err(Error::Internal("writer answered the wrong write".into())),
        }
    }
}

async fn work(
    pool: AnyPool,
    dialect: Dialect,
    receiver: Arc<Mutex<mpsc::Receiver<Write>>>,
    stop: CancellationToken,
    checkpoint: Option<Link>,
) {
    loop {
        let batch = {
            let mut receiver = receiver.lock().await;
            // What is queued is applied before a stop takes effect.
            let first = tokio::select! {
                biased;
                first = receiver.recv() => first,
                _ = stop.cancelled() => receiver.try_recv().ok(),
            };
            let Some(first) = first else {
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
        let weight: usize = batch.iter().map(|write| write.op.weight()).sum();
        match &checkpoint {
            Some(link) => {
                let turn = link.turn.lock().await;
                run_batch(&pool, dialect, batch).await;
                drop(turn);
                if weight >= NUDGE_WEIGHT {
                    link.wake.notify_one();
                }
            }
            None => run_batch(&pool, dialect, batch).await,
        }
    }
}

async fn run_batch(pool: &AnyPool, dialect: Dialect, batch: Vec<Write>) {
    let (ops, replies): (Vec<Op>, Vec<_>) = batch.into_iter().map(|w| (w.op, w.reply)).unzip();
    let results = match apply_together(pool, dialect, &ops).await {
        Ok(results) => results,
        Err(error) if ops.len() == 1 => vec![Err(error)],
        // Busy is the store's state, not one write's fault: one by one would
        // only wait for the lock once per write. Every caller tries again.
        Err(Error::Busy(reason)) => ops
            .iter()
            .map(|_| Err(Error::Busy(reason.clone())))
            .collect(),
        Err(error) => {
            tracing::debug!(error = %error, writes = ops.len(), "batched write failed; applying its writes one by one");
            let mut results = Vec::with_capacity(ops.len());
            for op in &ops {
                results.push(apply_alone(pool, dialect, op).await);
            }
            results
        }
    };
    for (reply, result) in replies.into_iter().zip(results) {
        // A session that went away no longer waits for its answer.
        let _ = reply.send(result);
    }
}

/// Applies `ops` in one transaction; any failure fails (and rolls back)
/// all. They are applied in rounds in which no agent has two writes (a
/// session waits for each apply, so a second write of an agent comes only
/// from a session that replaced another), each round with one statement
/// per table (`apply::apply_batch`).
async fn apply_together(
    pool: &AnyPool,
    dialect: Dialect,
    ops: &[Op],
) -> Result<Vec<Result<Applied>>> {
    let mut tx = dialect.begin_write(pool).await?;
    let mut results: Vec<Option<Applied>> = ops.iter().map(|_| None).collect();
    for round in rounds(ops) {
        let writes: Vec<apply::Write<'_>> = round.iter().map(|index| ops[*index].write()).collect();
        match apply::apply_batch(&mut tx, dialect, &writes).await {
            Ok(applied) => {
                for (index, applied) in round.into_iter().zip(applied) {
                    results[index] = Some(applied);
                }
            }
            Err(error) => {
                tx.rollback().await?;
                return Err(error);
            }
        }
    }
    tx.commit().await?;
    results
        .into_iter()
        .map(|applied| {
            applied
                .map(Ok)
                .ok_or_else(|| Error::Internal("a write of the batch was not applied".into()))
        })
        .collect()
}

/// The indices of `ops` in rounds, in order, no agent twice in one round.
fn rounds(ops: &[Op]) -> Vec<Vec<usize>> {
    let mut rounds: Vec<Vec<usize>> = Vec::new();
    let mut round_of: std::collections::HashMap<&str, usize> = std::collections::HashMap::new();
    for (index, op) in ops.iter().enumerate() {
        let round = round_of.get(op.agent()).map_or(0, |last| last + 1);
        round_of.insert(op.agent(), round);
        if rounds.len() <= round {
            rounds.push(Vec::new());
        }
        rounds[round].push(index);
    }
    rounds
}

async fn apply_alone(pool: &AnyPool, dialect: Dialect, op: &Op) -> Result<Applied> {
    let mut tx = dialect.begin_write(pool).await?;
    match apply::apply_batch(&mut tx, dialect, &[op.write()]).await {
        Ok(mut applied) => {
            tx.commit().await?;
            applied
                .pop()
                .ok_or_else(|| Error::Internal("the write was not applied".into()))
        }
        Err(error) => {
            tx.rollback().await?;
            Err(error)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{Op, rounds};
    use crate::store::ApplyContext;

    fn health(agent: &str) -> Op {
        Op::Health {
            context: ApplyContext {
                agent_id: agent.into(),
                host_id: format!("h-{agent}"),
                seq: 1,
                at: 0,
            },
            sampled_at: 0,
            data: Vec::new(),
        }
    }

    #[test]
    fn no_agent_has_two_writes_in_one_round_and_order_is_kept() {
        let ops: Vec<Op> = ["a", "b", "a", "c", "a", "b"]
            .into_iter()
            .map(health)
            .collect();
        assert_eq!(rounds(&ops), vec![vec![0, 1, 3], vec![2, 5], vec![4]]);
        assert!(rounds(&[]).is_empty());
    }
}
