//! The SQL backend of `Store`: one implementation for SQLite and PostgreSQL
//! through sqlx's `Any` driver, writing SQL both databases accept.
//!
//! - `dialect.rs`: every difference between the two, in one place
//! - `statements.rs`: statements built with their parameters (the one
//!   WHERE/keyset builder of every list query, value and `IN` lists) and the
//!   shared change-history INSERT
//! - `error.rs`: driver errors to store errors (unique violations: `Conflict`)
//! - `writer.rs`: group commit of the ingest writes, which `apply.rs` performs
//! - `catalogue.rs`: the software catalogue (package ids and ranks, host
//!   keys, a host's packages); `software.rs`: the software queries over it;
//!   `upgrade.rs`: the Rust half of migration 0008
//! - `checkpoint.rs`: on SQLite, the task that keeps the WAL bounded
//! - one file per data area implementing its trait: `agents.rs`, `hosts.rs`
//!   (with `identity.rs`: CI ownership and identity events),
//!   `inventory.rs`, `health.rs` (samples, rollups, retention steps),
//!   `changes.rs`, `presence.rs`, `incidents.rs`,
//!   `maintenance.rs`, `services.rs`, `outbox.rs`
//!
//! Dependencies point one way: the area files use `SqlStore`, `statements`
//! and `dialect`; `SqlStore` uses `writer`, which uses `apply`, which uses
//! `statements`, which uses `dialect`; none of those reach back up.
//! Migrations are kept per backend (`collector/migrations/<backend>`).

mod agents;
mod apply;
mod attributes;
mod catalogue;
mod changes;
mod checkpoint;
mod counts;
mod dialect;
mod error;
mod health;
mod host_query;
mod hosts;
mod identity;
mod incidents;
mod inventory;
mod maintenance;
mod outbox;
mod presence;
mod services;
mod software;
mod statements;
mod upgrade;
mod writer;

use std::sync::Arc;

use sqlx::AnyPool;

use self::checkpoint::Checkpointer;
use self::dialect::{Dialect, Tx};
use self::writer::Writer;
use super::Store;
use crate::error::{Error, Result};

/// The SQL store.
#[derive(Debug, Clone)]
pub struct SqlStore {
    pool: AnyPool,
    dialect: Dialect,
    /// Group commit of inventory and health writes.
    writer: Writer,
    /// On a SQLite file, the WAL checkpointer.
    checkpointer: Option<Checkpointer>,
}

/// Opens the database at `url`, applies migrations and returns the store.
pub async fn connect(url: &str) -> Result<Arc<dyn Store>> {
    Ok(Arc::new(SqlStore::connect(url).await?))
}

impl SqlStore {
    /// Opens the database at `url` and applies migrations.
    pub async fn connect(url: &str) -> Result<Self> {
        sqlx::any::install_default_drivers();
        let dialect = Dialect::of_url(url);
        dialect.prepare_file(url)?;
        let pool = dialect.pool_options().connect(url).await.map_err(|error| {
            Error::Store(format!("cannot open database {}: {error}", redact(url)))
        })?;
        dialect.migrate(&pool).await?;
        upgrade::run(&pool, dialect).await?;
        let checkpointer = match dialect.sqlite_path(url) {
            Some(database) => Some(Checkpointer::start(url, &database).await?),
            None => None,
        };
        let writer = Writer::start(
            pool.clone(),
            dialect,
            checkpointer.as_ref().map(Checkpointer::link),
        );
        Ok(Self {
            pool,
            dialect,
            writer,
            checkpointer,
        })
    }

    /// The connection pool (for tests and maintenance).
    pub fn pool(&self) -> &AnyPool {
        &self.pool
    }

    /// Begins a write transaction.
    ///
    /// On a SQLite file, a writer outside the group-commit writer (a host's
    /// claim at `Hello`, enrolment, incidents, presence, …) first waits for
    /// the writer's turn, the tokio mutex each group-commit batch holds, and
    /// gives it back once `BEGIN IMMEDIATE` has taken SQLite's write lock.
    /// Without it, every such writer took a pool connection and sat in
    /// SQLite's busy handler for the length of a batch (polling, up to
    /// `busy_timeout`): a burst of thousands of new hosts filled all eight
    /// connections with waiting claims, reads (a session's certificate
    /// check, the API) timed out on the pool, and `Welcome` came minutes
    /// late. Now they queue on the mutex, in order, without a connection,
    /// and at most one waits inside SQLite at a time.
    async fn begin_write(&self) -> Result<Tx> {
        let _turn = match &self.checkpointer {
            Some(checkpointer) => Some(checkpointer.turn().lock_owned().await),
            None => None,
        };
        self.dialect.begin_write(&self.pool).await
    }
}

#[async_trait::async_trait]
impl Store for SqlStore {
    fn backend(&self) -> &'static str {
        self.dialect.name()
    }

    fn shared(&self) -> bool {
        self.dialect == Dialect::Postgres
    }

    async fn close(&self) {
        self.writer.close().await;
        if let Some(checkpointer) = &self.checkpointer {
            checkpointer.close().await;
        }
        self.pool.close().await;
    }
}

/// Hides the password in a database URL.
pub fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let credentials = &url[scheme + 3..at];
            match credentials.find(':') {
                Some(colon) => format!(
                    "{}{}:***{}",
                    &url[..scheme + 3],
                    &credentials[..colon],
                    &url[at..]
                ),
                None => url.to_string(),
            }
        }
        _ => url.to_string(),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn redacts_passwords() {
        assert_eq!(redact("postgres://u:secret@h/db"), "postgres://u:***@h/db");
        assert_eq!(redact("sqlite://x.db"), "sqlite://x.db");
    }

    /// While a group-commit batch holds SQLite's write lock (and the turn),
    /// writers started meanwhile wait for the turn, not in SQLite with a
    /// pool connection each: readers still get connections at once.
    #[tokio::test]
    async fn writers_waiting_for_a_batch_leave_the_pool_to_readers() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!(
            "sqlite://{}?mode=rwc",
            dir.path().join("rollcall.db").display()
        );
        let store = Arc::new(SqlStore::connect(&url).await.unwrap());
        // A batch in progress: the writer's turn, and SQLite's write lock
        // (taken here on a pool connection, as the writer's batch does).
        let turn = store
            .checkpointer
            .as_ref()
            .unwrap()
            .turn()
            .lock_owned()
            .await;
        let mut batch = store.pool().acquire().await.unwrap();
        sqlx::query("BEGIN IMMEDIATE")
            .execute(&mut *batch)
            .await
            .unwrap();

        // Twenty writers arrive, more than the pool's eight connections.
        let writers: Vec<_> = (0..20)
            .map(|_| {
                let store = store.clone();
                tokio::spawn(async move {
                    let mut tx = store.begin_write().await.unwrap();
                    sqlx::query("SELECT 1").execute(&mut *tx).await.unwrap();
                    tx.commit().await.unwrap();
                })
            })
            .collect();
        tokio::time::sleep(Duration::from_millis(300)).await;

        // A reader is served within a second.
        let read = tokio::time::timeout(
            Duration::from_secs(1),
            sqlx::query("SELECT COUNT(*) FROM agents").fetch_one(store.pool()),
        )
        .await;
        assert!(
            read.is_ok(),
            "a read waited more than a second for a connection"
        );

        // The batch ends; every writer then gets its turn.
        sqlx::query("COMMIT").execute(&mut *batch).await.unwrap();
        drop(batch);
        drop(turn);
        for writer in writers {
            tokio::time::timeout(Duration::from_secs(10), writer)
                .await
                .unwrap()
                .unwrap();
        }
    }
}
