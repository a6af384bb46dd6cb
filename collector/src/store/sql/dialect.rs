//! Every difference between SQLite and PostgreSQL, in one place. The rest of
//! `store::sql` writes SQL both databases accept and asks the [`Dialect`]
//! wherever they part: pool set-up, migrations, how a write transaction
//! begins, placeholders, statement sizes, writer count, row locks and
//! commit order.

use std::time::Duration;

use sqlx::any::AnyPoolOptions;
use sqlx::{AnyPool, Executor};

use crate::error::Result;

/// A transaction on the pool.
pub(crate) type Tx = sqlx::Transaction<'static, sqlx::Any>;

/// Rows per multi-row statement where the backends agree (batched liveness
/// updates) and on SQLite for INSERTs: one statement instead of one per
/// row cuts the per-statement cost that dominated a snapshot apply
/// (docs/performance.md); 100 rows stay far below SQLite's and
/// PostgreSQL's bind-parameter limits.
pub(crate) const INSERT_CHUNK: usize = 100;

/// Most parameters of one batched statement on SQLite (its own limit is
/// 32,766): 2,000 keep a statement's preparation, which the writer pays
/// for each new row count, short, and so what it holds. sqlx keeps each
/// connection's prepared statements; with 8,000 parameters, each pool
/// connection that had run the writer's batches kept a ~1.8 MB block of
/// SQLite's in a mapping of its own (most likely that prepared statement;
/// `malloc_trim` cannot give it back): ~9 MB after a burst of 1,000 first
/// snapshots, 9 KiB a session. With 2,000 there were no such blocks, for
/// 1.5 % more instructions a first inventory (callgrind,
/// `examples/catalogue_bench`; docs/performance.md).
pub(crate) const SQLITE_STATEMENT_PARAMETERS: usize = 2_000;
/// Most bytes (text and values) of one batched statement on PostgreSQL:
/// under one TLS record (16 KiB) and so under one loopback segment too (see
/// [`Dialect::statement_rows`]).
pub(crate) const POSTGRES_STATEMENT_BYTES: usize = 14 * 1024;

/// SQLite's `journal_size_limit`: the size the WAL file is truncated to
/// whenever SQLite rewinds it (64 MiB; `checkpoint.rs` keeps it smaller).
pub(crate) const WAL_LIMIT_BYTES: u64 = 64 * 1024 * 1024;
/// The pragma that sets [`WAL_LIMIT_BYTES`] on a connection.
pub(crate) const JOURNAL_SIZE_LIMIT: &str = "PRAGMA journal_size_limit=67108864";

/// Writer tasks on PostgreSQL (group commit, see `writer.rs`).
pub(crate) const POSTGRES_WRITERS: usize = 8;

/// The database a store runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Dialect {
    /// Embedded SQLite (WAL).
    Sqlite,
    /// PostgreSQL.
    Postgres,
}

impl Dialect {
    /// The dialect of a database URL: `sqlite:` is SQLite, anything else PostgreSQL.
    pub(crate) fn of_url(url: &str) -> Self {
        if url.starts_with("sqlite:") {
            Dialect::Sqlite
        } else {
            Dialect::Postgres
        }
    }

    /// The database file of a SQLite URL (`sqlite://PATH?…` or
    /// `sqlite:PATH`); `None` for PostgreSQL and in-memory databases.
    pub(crate) fn sqlite_path(self, url: &str) -> Option<std::path::PathBuf> {
        if self != Dialect::Sqlite {
            return None;
        }
        let rest = url
            .strip_prefix("sqlite://")
            .or_else(|| url.strip_prefix("sqlite:"))?;
        let (path, options) = rest.split_once('?').unwrap_or((rest, ""));
        if path.is_empty() || path == ":memory:" || options.contains("mode=memory") {
            return None;
        }
        Some(std::path::PathBuf::from(path))
    }

    /// On SQLite, creates the database file mode 0600 (and a missing
    /// directory 0700) before the driver opens it, which would create it
    /// with the umask (0644), and tightens an existing file and its `-wal`
    /// and `-shm` files; SQLite gives those the mode of the database.
    pub(crate) fn prepare_file(self, url: &str) -> Result<()> {
        let Some(path) = self.sqlite_path(url) else {
            return Ok(());
        };
        if let Some(dir) = path.parent().filter(|dir| !dir.as_os_str().is_empty())
            && !dir.exists()
        {
            crate::files::private_dir(dir)?;
        }
        crate::files::private_file(&path)?;
        for suffix in ["-wal", "-shm"] {
            let mut side = path.clone().into_os_string();
            side.push(suffix);
            crate::files::tighten(std::path::Path::new(&side), crate::files::FILE_MODE)?;
        }
        Ok(())
    }

    /// The name shown to operators (`/api/v1/info`).
    pub(crate) fn name(self) -> &'static str {
        match self {
            Dialect::Sqlite => "sqlite",
            Dialect::Postgres => "postgres",
        }
    }

    /// Pool options: its size, and on SQLite the pragmas every connection
    /// needs (WAL, a 16 MiB page cache, no mmap; see docs/performance.md;
    /// the WAL truncated to [`WAL_LIMIT_BYTES`] when rewound,
    /// and checkpointed by `checkpoint.rs` before the automatic checkpoint
    /// at 16,384 pages would).
    pub(crate) fn pool_options(self) -> AnyPoolOptions {
        let options = AnyPoolOptions::new().acquire_timeout(Duration::from_secs(30));
        match self {
            Dialect::Sqlite => options.max_connections(8).after_connect(|connection, _| {
                Box::pin(async move {
                    connection
                        .execute("PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA busy_timeout=30000; \
                             PRAGMA cache_size=-16384; PRAGMA temp_store=MEMORY; PRAGMA wal_autocheckpoint=16384;")
                        .await?;
                    connection.execute(JOURNAL_SIZE_LIMIT).await?;
                    Ok(())
                })
            }),
            Dialect::Postgres => options.max_connections(24),
        }
    }

    /// Applies this backend's migrations (they are kept per backend).
    pub(crate) async fn migrate(self, pool: &AnyPool) -> Result<()> {
        match self {
            Dialect::Sqlite => sqlx::migrate!("./migrations/sqlite").run(pool).await?,
            Dialect::Postgres => sqlx::migrate!("./migrations/postgres").run(pool).await?,
        }
        Ok(())
    }

    /// Begins a write transaction on `pool`.
    pub(crate) async fn begin_write(self, pool: &AnyPool) -> Result<Tx> {
        Ok(match self {
            // Take the write lock up front so concurrent writers wait instead of failing.
            Dialect::Sqlite => pool.begin_with("BEGIN IMMEDIATE").await?,
            Dialect::Postgres => pool.begin().await?,
        })
    }

    /// Begins a read-only transaction that sees one snapshot of the
    /// database for all its statements (a version query reads the ranks and
    /// then the hosts; a renumbering in between must not mix the two).
    pub(crate) async fn begin_read(self, pool: &AnyPool) -> Result<Tx> {
        Ok(match self {
            // A deferred transaction reads one WAL snapshot from its first read on.
            Dialect::Sqlite => pool.begin_with("BEGIN").await?,
            Dialect::Postgres => {
                pool.begin_with("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
                    .await?
            }
        })
    }

    /// Serialises the writers that add versions of one package (name,
    /// manager) until the transaction ends, so two never rank at once:
    /// an advisory lock on PostgreSQL; SQLite's write transaction already
    /// excludes every other writer.
    pub(crate) async fn lock_package(
        self,
        connection: &mut sqlx::AnyConnection,
        name: &str,
        manager: &str,
    ) -> Result<()> {
        if self == Dialect::Postgres {
            sqlx::query("SELECT pg_advisory_xact_lock(hashtextextended($1, 0)) IS NULL AS locked")
                .bind(format!("{manager} {name}"))
                .fetch_one(&mut *connection)
                .await?;
        }
        Ok(())
    }

    /// Rows per multi-row statement of the catalogue look-ups and the
    /// schema upgrade (the ingest writes use [`Dialect::statement_rows`]). sqlx 0.9.0 did not set
    /// `TCP_NODELAY` on its PostgreSQL sockets, so a statement larger than
    /// one segment waited for a delayed ACK (~40 ms a statement, measured:
    /// 1,000 full snapshots at 4.9/s with an idle collector and server); 25
    /// rows (≈ 15 KB) go out in one write. SQLite has no socket.
    pub(crate) fn insert_chunk(self) -> usize {
        match self {
            Dialect::Sqlite => INSERT_CHUNK,
            Dialect::Postgres => 25,
        }
    }

    /// How a multi-row INSERT of the writer's begins. On SQLite, `INSERT OR
    /// FAIL`: a statement that may stop half-way on a constraint (the
    /// default, ABORT, undoes its own rows) makes SQLite copy every page it
    /// touches into a statement journal first (`subjournalPageIfRequired`,
    /// 7.6 % of the collector's CPU in a burst of first snapshots). FAIL
    /// keeps the rows written before the failure, and every caller rolls
    /// its whole transaction back on any error (the writer retries each
    /// write of a failed batch alone), so nothing of a failed statement is
    /// ever committed either way.
    pub(crate) fn insert_rows(self) -> &'static str {
        match self {
            Dialect::Sqlite => "INSERT OR FAIL INTO",
            Dialect::Postgres => "INSERT INTO",
        }
    }

    /// Splits `rows` into the multi-row statements that write them: as few
    /// as the backend allows, each binding `per_row` parameters a row and
    /// about `size(row)` bytes of statement and values. SQLite takes up to
    /// [`SQLITE_STATEMENT_PARAMETERS`] parameters a statement. PostgreSQL
    /// takes up to its 65,535, but also at most [`POSTGRES_STATEMENT_BYTES`]:
    /// sqlx 0.9.0 did not set `TCP_NODELAY` on its sockets (0.9.1 does
    /// again), so a statement larger than one segment (64 KiB on loopback)
    /// waited for a delayed ACK (~40 ms a statement, measured: 1,000 full
    /// snapshots at 4.9/s); and over TLS
    /// (sqlx's default `sslmode=prefer` takes it wherever the server offers
    /// it) a statement of several 16 KiB records was slower again: 500
    /// first snapshots of 1,011 packages went in at 24/s with 48 KiB
    /// statements and 53/s with 14 KiB ones on the same quiet machine
    /// (22.8 / 26.9 against 32.9 / 38.9 in paired runs under load), and at
    /// 71/s with 48 KiB and TLS off. A row larger than the budget is a
    /// statement of its own.
    pub(crate) fn statement_rows<R>(
        self,
        rows: &[R],
        per_row: usize,
        size: impl Fn(&R) -> usize,
    ) -> Vec<&[R]> {
        let (parameters, bytes) = match self {
            Dialect::Sqlite => (SQLITE_STATEMENT_PARAMETERS, usize::MAX),
            Dialect::Postgres => (u16::MAX as usize, POSTGRES_STATEMENT_BYTES),
        };
        let most_rows = (parameters / per_row.max(1)).max(1);
        let mut chunks = Vec::new();
        let mut start = 0;
        let mut used = 0usize;
        for (index, row) in rows.iter().enumerate() {
            let row_bytes = size(row);
            if index > start
                && (index - start >= most_rows || used.saturating_add(row_bytes) > bytes)
            {
                chunks.push(&rows[start..index]);
                start = index;
                used = 0;
            }
            used = used.saturating_add(row_bytes);
        }
        if start < rows.len() {
            chunks.push(&rows[start..]);
        }
        chunks
    }

    /// Appends the placeholder of the `number`th parameter (from 1). SQLite
    /// gets anonymous `?`: sqlx looks each numbered parameter's name up, and
    /// SQLite finds a name by scanning every parameter, which made a
    /// 400-parameter INSERT quadratic (14 % of a snapshot apply);
    /// PostgreSQL gets `$1`, `$2`, ….
    pub(crate) fn push_placeholder(self, out: &mut String, number: usize) {
        match self {
            Dialect::Sqlite => out.push('?'),
            Dialect::Postgres => {
                out.push('$');
                out.push_str(&number.to_string());
            }
        }
    }

    /// Group-commit writer tasks: SQLite serialises writers anyway, so one;
    /// PostgreSQL commits in parallel.
    pub(crate) fn writers(self) -> usize {
        match self {
            Dialect::Sqlite => 1,
            Dialect::Postgres => POSTGRES_WRITERS,
        }
    }

    /// The clause that lets concurrent claimers skip each other's rows
    /// (PostgreSQL); SQLite's write transaction already excludes them.
    pub(crate) fn skip_locked(self) -> &'static str {
        match self {
            Dialect::Postgres => " FOR UPDATE SKIP LOCKED",
            Dialect::Sqlite => "",
        }
    }

    /// The clause that locks a row read for a read-modify-write (a packed
    /// health rollup row) until commit on PostgreSQL; SQLite's write
    /// transaction already holds the database.
    pub(crate) fn for_update(self) -> &'static str {
        match self {
            Dialect::Postgres => " FOR UPDATE",
            Dialect::Sqlite => "",
        }
    }

    /// Whether a smaller id may commit after a larger one was read: on
    /// PostgreSQL sequence values are taken before commit; SQLite writers
    /// are serialised, so ids commit in order.
    pub(crate) fn ids_may_commit_late(self) -> bool {
        match self {
            Dialect::Postgres => true,
            Dialect::Sqlite => false,
        }
    }

    /// The text of `key` in the JSON object stored as text in `column`
    /// (`key` is a literal of ours, never a caller's string).
    pub(crate) fn json_text(self, column: &str, key: &'static str) -> String {
        match self {
            Dialect::Sqlite => format!("json_extract({column}, '$.{key}')"),
            Dialect::Postgres => format!("({column}::jsonb ->> '{key}')"),
        }
    }

    /// Whether only one process can serve this database, so leases a
    /// previous process held are void at start (SQLite); a shared database
    /// (PostgreSQL) may have another collector holding them.
    pub(crate) fn single_process(self) -> bool {
        match self {
            Dialect::Sqlite => true,
            Dialect::Postgres => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Dialect;

    #[test]
    fn urls_name_their_dialect() {
        assert_eq!(Dialect::of_url("sqlite://x.db?mode=rwc"), Dialect::Sqlite);
        assert_eq!(Dialect::of_url("postgres://u@h/db"), Dialect::Postgres);
        assert_eq!(Dialect::Sqlite.name(), "sqlite");
        assert_eq!(
            Dialect::Sqlite.sqlite_path("sqlite:///var/lib/rollcall/rollcall.db?mode=rwc"),
            Some("/var/lib/rollcall/rollcall.db".into())
        );
        assert_eq!(
            Dialect::Sqlite.sqlite_path("sqlite:x.db"),
            Some("x.db".into())
        );
        assert_eq!(Dialect::Sqlite.sqlite_path("sqlite::memory:"), None);
        assert_eq!(Dialect::Postgres.sqlite_path("postgres://h/db"), None);
        assert_eq!(Dialect::Postgres.name(), "postgres");
    }

    #[test]
    fn statements_split_by_parameters_and_on_postgres_by_bytes() {
        let rows: Vec<usize> = (0..10_000).collect();
        let lengths = |chunks: Vec<&[usize]>| chunks.iter().map(|c| c.len()).collect::<Vec<_>>();
        // SQLite: 2,000 parameters, 9 a row: 222 rows a statement.
        let sqlite = lengths(Dialect::Sqlite.statement_rows(&rows, 9, |_| 1_000_000));
        assert_eq!(sqlite[0], 222);
        assert_eq!(sqlite.iter().sum::<usize>(), 10_000);
        // PostgreSQL: 14 KiB at 1 KiB a row.
        let postgres = lengths(Dialect::Postgres.statement_rows(&rows[..30], 2, |_| 1024));
        assert_eq!(postgres, vec![14, 14, 2]);
        // A row over the budget is a statement of its own; nothing is lost.
        let big = [10usize, 100_000, 10];
        let chunks = Dialect::Postgres.statement_rows(&big, 1, |size| *size);
        assert_eq!(lengths(chunks), vec![1, 1, 1]);
        assert!(
            Dialect::Postgres
                .statement_rows(&[] as &[usize], 1, |_| 1)
                .is_empty()
        );
    }

    #[test]
    fn placeholders_are_anonymous_on_sqlite_and_numbered_on_postgres() {
        let (mut sqlite, mut postgres) = (String::new(), String::new());
        for number in 1..=3 {
            Dialect::Sqlite.push_placeholder(&mut sqlite, number);
            Dialect::Postgres.push_placeholder(&mut postgres, number);
        }
        assert_eq!(sqlite, "???");
        assert_eq!(postgres, "$1$2$3");
    }

    #[test]
    fn the_journal_size_pragma_sets_the_wal_limit() {
        assert_eq!(
            super::JOURNAL_SIZE_LIMIT,
            format!("PRAGMA journal_size_limit={}", super::WAL_LIMIT_BYTES)
        );
    }
}
