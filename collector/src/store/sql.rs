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
mod heap;
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
    async fn begin_write(&self) -> Result<Tx> {
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
mod tests {
    use super::redact;

    #[test]
    fn redacts_passwords() {
        assert_eq!(redact("postgres://u:secret@h/db"), "postgres://u:***@h/db");
        assert_eq!(redact("sqlite://x.db"), "sqlite://x.db");
    }
}
