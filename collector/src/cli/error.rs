//! The CLI's error type: what can go wrong between the command line, the
//! collector's API and the terminal. Messages are lowercase and name what the
//! operator can fix; the cause is kept as `source` so the binary can print
//! the whole chain.

use std::net::SocketAddr;
use std::path::PathBuf;

/// Result alias used across the CLI.
pub type Result<T, E = CliError> = std::result::Result<T, E>;

/// Everything a `rollcall` command can fail with.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// The command line is well-formed for clap but not usable (a
    /// `NAME=VALUE` without `=`).
    #[error("{0}")]
    Usage(String),
    /// An API command was run without a token.
    #[error(
        "an API token is required: pass --api-token, set ROLLCALL_API_TOKEN or api_token in the CLI config file"
    )]
    MissingToken,
    /// `--api-url` is not a URL the client can append paths to.
    #[error("invalid API URL {url:?}: {reason}")]
    InvalidUrl {
        /// The URL as given.
        url: String,
        /// Why it was refused.
        reason: String,
    },
    /// The CLI was not told how to verify the collector's certificate, or
    /// what it was told cannot be used.
    #[error("cannot verify the collector: {reason}")]
    Trust {
        /// What is missing or wrong.
        reason: String,
    },
    /// The collector could not be reached, or the connection broke.
    #[error("cannot reach {url}")]
    Unreachable {
        /// The request URL.
        url: String,
        /// The transport error.
        #[source]
        source: reqwest::Error,
    },
    /// The API answered with an error status.
    #[error("{status}: {message}")]
    Api {
        /// The HTTP status.
        status: reqwest::StatusCode,
        /// The API's `error` message, or "no details".
        message: String,
    },
    /// `integrations test` reached the target but it refused the event.
    #[error("target {name} did not accept the test event")]
    TestRejected {
        /// Target name.
        name: String,
    },
    /// Standard output could not be written (a closed pipe, a full disk).
    #[error("cannot write output")]
    Stdout(#[source] std::io::Error),
    /// `quickstart` could not bind one of its listeners.
    #[error("cannot listen on {address} (use {flag})")]
    Listen {
        /// The address asked for.
        address: SocketAddr,
        /// The flag that changes it.
        flag: &'static str,
        /// The bind error.
        #[source]
        source: std::io::Error,
    },
    /// `quickstart` could not write a file in its data directory.
    #[error("cannot write {}", path.display())]
    Write {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The embedded collector failed to start or its store refused a write.
    #[error(transparent)]
    Collector(#[from] crate::error::Error),
    /// The embedded agent failed to enroll. Boxed so that the agent's error
    /// type stays inside `cli/quickstart.rs`.
    #[error(transparent)]
    Agent(Box<dyn std::error::Error + Send + Sync>),
}
