//! Driver errors become store errors here, and only here: a unique or
//! primary-key violation is `Conflict` (the caller asked for something that
//! exists, HTTP 409), no connection within the pool's time-out or a busy
//! SQLite database is `Busy` (try again later), text PostgreSQL cannot store
//! (a NUL byte) is `InvalidInput`, every other driver error is
//! `Store` (internal, logged, never shown to clients).

use crate::error::Error;

/// What a client is told about a unique violation: which row clashed is an
/// internal detail (table and constraint names), logged at debug.
const CONFLICT: &str = "a record with the same key already exists";

impl From<sqlx::Error> for Error {
    fn from(error: sqlx::Error) -> Self {
        match &error {
            sqlx::Error::Database(database) if database.is_unique_violation() => {
                tracing::debug!(error = %database, constraint = database.constraint(), "unique violation");
                Error::Conflict(CONFLICT.to_string())
            }
            sqlx::Error::PoolTimedOut => Error::Busy(error.to_string()),
            // PostgreSQL refuses text it cannot store (a NUL byte: 22021,
            // character_not_in_repertoire; 22P05, untranslatable_character):
            // the caller's input, not the database, is at fault.
            sqlx::Error::Database(database)
                if matches!(database.code().as_deref(), Some("22021" | "22P05")) =>
            {
                Error::InvalidInput("text must not contain NUL bytes".to_string())
            }
            // SQLITE_BUSY (5) and SQLITE_LOCKED (6), past busy_timeout.
            sqlx::Error::Database(database)
                if matches!(database.code().as_deref(), Some("5" | "6" | "517" | "262")) =>
            {
                Error::Busy(error.to_string())
            }
            _ => Error::Store(error.to_string()),
        }
    }
}

impl From<sqlx::migrate::MigrateError> for Error {
    fn from(error: sqlx::migrate::MigrateError) -> Self {
        Error::Store(format!("migration failed: {error}"))
    }
}
