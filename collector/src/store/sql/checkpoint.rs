//! Keeps SQLite's write-ahead log bounded.
//!
//! SQLite's automatic checkpoint (`wal_autocheckpoint`) is PASSIVE: it
//! copies what it can into the database file but never waits for readers,
//! and the WAL file is only rewound once a checkpoint has copied everything
//! and no reader still needs it. With sessions and the API reading all the
//! time, a burst of first snapshots kept some reader on the WAL at every
//! checkpoint, and the file grew to 1.1 GB. So a checkpointer task, on a
//! connection of its own (not from the pool, so neither the group-commit
//! writer nor a reader waits for a pool slot because of it), checks the
//! WAL's size every [`INTERVAL`] and after every large commit, and past
//! [`CHECKPOINT_AT_BYTES`] runs first a PASSIVE checkpoint (copies without
//! taking the write lock), then a TRUNCATE one with a short busy time-out
//! ([`TRUNCATE_BUSY`]): that one holds the write lock only to copy the
//! few frames committed since and to wait for the readers to leave the WAL,
//! and then empties the file. If a reader outlasts the time-out the next
//! round tries again. Under a burst the group-commit writer retakes the
//! write lock the moment it commits, so SQLite's busy handler (which polls)
//! rarely gets it; once the WAL is past [`WAL_LIMIT_BYTES`] the TRUNCATE
//! step therefore takes the writer's turn ([`Link::turn`]): the writer
//! waits for that one step (at most the busy time-out plus the copy), and
//! the WAL stops growing. Below the limit the writer never waits for it. `journal_size_limit` ([`WAL_LIMIT_BYTES`]) on every
//! connection also truncates the file whenever SQLite rewinds the WAL, and
//! the automatic checkpoint stays on as the fallback. Every
//! [`heap::TRIM_INTERVAL`] it also gives SQLite's freed heap back
//! (`heap.rs`).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use sqlx::{AnyConnection, Connection, Executor, FromRow};
use tokio::sync::{Mutex, Notify};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::dialect::{JOURNAL_SIZE_LIMIT, WAL_LIMIT_BYTES};
use super::heap;
use crate::error::{Error, Result};

/// WAL size past which the checkpointer checkpoints (16 MiB, a quarter of
/// the automatic checkpoint's 16,384 pages).
pub(crate) const CHECKPOINT_AT_BYTES: u64 = 16 * 1024 * 1024;
/// How often the checkpointer looks at the WAL's size.
const INTERVAL: Duration = Duration::from_secs(1);
/// How long a TRUNCATE checkpoint waits for the writer and the readers
/// (250 ms); the writer waits at most about this long for it.
const TRUNCATE_BUSY: &str = "PRAGMA busy_timeout=250";
/// Items in a commit after which the writer wakes the checkpointer.
pub(crate) const NUDGE_WEIGHT: usize = 1_000;

/// What one `PRAGMA wal_checkpoint` reports.
#[derive(Debug, Clone, Copy, FromRow)]
struct CheckpointRow {
    /// 1 if the checkpoint could not finish (a writer or reader held on).
    busy: i64,
    /// Frames in the WAL.
    log: i64,
    /// Frames copied into the database.
    checkpointed: i64,
}

/// The outcome of one checkpoint round.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Checkpointed {
    /// Whether the TRUNCATE checkpoint finished (the WAL is empty).
    pub complete: bool,
    /// The WAL file's size before the round.
    pub wal_bytes_before: u64,
    /// The WAL file's size after the round.
    pub wal_bytes_after: u64,
}

/// The WAL of one SQLite database and the connection that checkpoints it.
pub(crate) struct Wal {
    connection: AnyConnection,
    path: PathBuf,
}

impl Wal {
    /// Opens a connection of its own to the database at `url`, whose file is
    /// `database`.
    pub(crate) async fn open(url: &str, database: &Path) -> Result<Self> {
        let mut connection = AnyConnection::connect(url)
            .await
            .map_err(|error| Error::Store(format!("checkpoint connection: {error}")))?;
        connection.execute(TRUNCATE_BUSY).await?;
        // The pool's connections set the same limit (`dialect.rs`).
        connection.execute(JOURNAL_SIZE_LIMIT).await?;
        let mut path = database.as_os_str().to_owned();
        path.push("-wal");
        Ok(Self {
            connection,
            path: PathBuf::from(path),
        })
    }

    /// The WAL file's size (0 if there is none).
    pub(crate) fn size(&self) -> u64 {
        std::fs::metadata(&self.path)
            .map(|meta| meta.len())
            .unwrap_or(0)
    }

    /// One round: PASSIVE, then TRUNCATE; the TRUNCATE step holds `turn`
    /// (the writer's turn) if given.
    pub(crate) async fn checkpoint(&mut self, turn: Option<&Mutex<()>>) -> Result<Checkpointed> {
        let wal_bytes_before = self.size();
        let passive: CheckpointRow = sqlx::query_as("PRAGMA wal_checkpoint(PASSIVE)")
            .fetch_one(&mut self.connection)
            .await?;
        let _turn = match turn {
            Some(turn) => Some(turn.lock().await),
            None => None,
        };
        // SQLITE_BUSY from the TRUNCATE step is an answer ("not this time"),
        // reported in the row; an error here is a real failure.
        let truncate: CheckpointRow = sqlx::query_as("PRAGMA wal_checkpoint(TRUNCATE)")
            .fetch_one(&mut self.connection)
            .await?;
        tracing::debug!(
            passive_frames = passive.log,
            passive_copied = passive.checkpointed,
            busy = truncate.busy,
            "WAL checkpoint"
        );
        Ok(Checkpointed {
            complete: truncate.busy == 0,
            wal_bytes_before,
            wal_bytes_after: self.size(),
        })
    }
}

/// What the group-commit writer shares with the checkpointer.
#[derive(Debug, Clone, Default)]
pub(crate) struct Link {
    /// Woken after a large commit.
    pub(crate) wake: Arc<Notify>,
    /// Held by the writer for each batch, and by a TRUNCATE checkpoint of
    /// a WAL past its limit.
    pub(crate) turn: Arc<Mutex<()>>,
}

/// The background checkpointer of a SQLite store.
#[derive(Debug, Clone)]
pub(crate) struct Checkpointer {
    link: Link,
    tasks: TaskTracker,
    stop: CancellationToken,
}

impl Checkpointer {
    /// Starts the checkpointer of the SQLite database at `url` (file
    /// `database`).
    pub(crate) async fn start(url: &str, database: &Path) -> Result<Self> {
        let wal = Wal::open(url, database).await?;
        let link = Link::default();
        let tasks = TaskTracker::new();
        let stop = CancellationToken::new();
        tasks.spawn(run(wal, link.clone(), stop.clone()));
        tasks.close();
        Ok(Self { link, tasks, stop })
    }

    /// What the writer shares with it.
    pub(crate) fn link(&self) -> Link {
        self.link.clone()
    }

    /// Stops the task and waits for it (a round in progress finishes).
    pub(crate) async fn close(&self) {
        self.stop.cancel();
        self.tasks.wait().await;
    }
}

async fn run(mut wal: Wal, link: Link, stop: CancellationToken) {
    let mut ticks = tokio::time::interval(INTERVAL);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut trimmed_at = tokio::time::Instant::now();
    loop {
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = ticks.tick() => {}
            _ = link.wake.notified() => {}
        }
        if trimmed_at.elapsed() >= heap::TRIM_INTERVAL {
            heap::release_free_memory().await;
            trimmed_at = tokio::time::Instant::now();
        }
        let size = wal.size();
        if size < CHECKPOINT_AT_BYTES {
            continue;
        }
        let turn = (size > WAL_LIMIT_BYTES).then_some(&*link.turn);
        match wal.checkpoint(turn).await {
            Ok(round) if round.complete => {}
            Ok(round) if round.wal_bytes_after > WAL_LIMIT_BYTES => tracing::warn!(
                wal_bytes = round.wal_bytes_after,
                "the WAL is past its limit and a reader kept the checkpoint from finishing; \
                 retrying next round"
            ),
            Ok(round) => tracing::debug!(
                wal_bytes = round.wal_bytes_after,
                "WAL checkpoint incomplete (a reader held on); retrying next round"
            ),
            Err(error) => tracing::warn!(error = %error, "WAL checkpoint failed"),
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::store::Store;
    use crate::store::sql::SqlStore;

    /// Writes `bytes` of blobs into a scratch table, 1 MiB a transaction.
    async fn write_blobs(store: &SqlStore, bytes: usize) {
        sqlx::query("CREATE TABLE IF NOT EXISTS scratch (data BLOB)")
            .execute(store.pool())
            .await
            .unwrap();
        for _ in 0..bytes / (1024 * 1024) {
            sqlx::query("INSERT INTO scratch (data) VALUES (randomblob(1048576))")
                .execute(store.pool())
                .await
                .unwrap();
        }
    }

    #[tokio::test]
    async fn a_checkpoint_round_empties_a_large_wal_after_a_reader_leaves() {
        let dir = tempfile::tempdir().unwrap();
        let database = dir.path().join("rollcall.db");
        let url = format!("sqlite://{}?mode=rwc", database.display());
        let store = SqlStore::connect(&url).await.unwrap();
        let mut wal = Wal::open(&url, &database).await.unwrap();

        // A reader in the middle of a transaction pins the WAL: the
        // automatic (PASSIVE) checkpoints cannot rewind it, and neither can
        // a TRUNCATE round while the reader stays.
        let mut reader = store.pool().acquire().await.unwrap();
        sqlx::query("BEGIN").execute(&mut *reader).await.unwrap();
        sqlx::query("SELECT COUNT(*) FROM agents")
            .fetch_one(&mut *reader)
            .await
            .unwrap();
        write_blobs(&store, 48 * 1024 * 1024).await;
        let limit: (i64,) = sqlx::query_as("PRAGMA journal_size_limit")
            .fetch_one(store.pool())
            .await
            .unwrap();
        assert_eq!(u64::try_from(limit.0).unwrap(), WAL_LIMIT_BYTES);
        let grown = wal.size();
        assert!(grown > 40 * 1024 * 1024, "WAL only {grown} bytes");
        let blocked = wal.checkpoint(None).await.unwrap();
        assert!(!blocked.complete);
        assert!(blocked.wal_bytes_after >= grown);

        // Once the reader is done, one round empties the file.
        sqlx::query("COMMIT").execute(&mut *reader).await.unwrap();
        drop(reader);
        let round = wal.checkpoint(None).await.unwrap();
        assert!(round.complete, "{round:?}");
        assert!(
            round.wal_bytes_after < CHECKPOINT_AT_BYTES,
            "WAL still {} bytes",
            round.wal_bytes_after
        );
        store.close().await;
    }

    #[tokio::test]
    async fn the_store_s_checkpointer_bounds_the_wal_on_its_own() {
        let dir = tempfile::tempdir().unwrap();
        let database = dir.path().join("rollcall.db");
        let url = format!("sqlite://{}?mode=rwc", database.display());
        let store = SqlStore::connect(&url).await.unwrap();
        let wal = Wal::open(&url, &database).await.unwrap();
        // Well past the trigger, below the automatic checkpoint (64 MiB).
        write_blobs(&store, 40 * 1024 * 1024).await;
        // The checkpointer looks once a second; allow it many rounds.
        let mut size = wal.size();
        for _ in 0..100 {
            if size < CHECKPOINT_AT_BYTES {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
            size = wal.size();
        }
        assert!(
            size < CHECKPOINT_AT_BYTES,
            "the checkpointer left the WAL at {size} bytes"
        );
        store.close().await;
    }
}
