//! The agent's error type.

/// Result alias used across the agent.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong in the agent.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Configuration is invalid.
    #[error("configuration: {0}")]
    Config(String),
    /// Enrollment failed.
    #[error("enrollment failed: {0}")]
    Enroll(String),
    /// The agent is not enrolled yet.
    #[error(
        "this agent is not enrolled (no certificate in {0}); run `rollcall-agent enroll` first"
    )]
    NotEnrolled(String),
    /// The collector could not be reached or refused the session.
    #[error("{0}")]
    Connect(String),
    /// The collector does not accept gzip-compressed messages (an older
    /// collector); the session is retried uncompressed.
    #[error("{0}: the collector does not accept gzip-compressed messages")]
    GzipRefused(String),
    /// The collector revoked this agent: it stops reconnecting and must be
    /// enrolled again.
    #[error(
        "this agent was revoked by the collector ({0}); it stops reporting until enrolled again with `rollcall-agent enroll`"
    )]
    Revoked(String),
    /// The spool failed.
    #[error("spool: {0}")]
    Spool(String),
    /// A planned stop could not be requested.
    #[error("{0}")]
    Stop(String),
    /// A file the agent needs could not be created or written.
    #[error("{what}: {source}")]
    File {
        /// Which file (`pid file`, `state directory`, …).
        what: &'static str,
        /// The underlying error.
        source: std::io::Error,
    },
    /// An I/O operation failed.
    #[error("i/o: {0}")]
    Io(#[from] std::io::Error),
}
