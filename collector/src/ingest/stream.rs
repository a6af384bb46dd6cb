//! What a session reads from and writes to, and how it ends: the `Inbound`
//! trait (the gRPC stream, or a test's channel), the `Outbound` channel, and
//! `SessionError`. A leaf of `ingest/`, so that `session`, `dispatch` and
//! `reader` share these without importing each other in a circle.

use std::future::Future;

use rollcall_proto::v1::{AgentMessage, CollectorMessage};
use tokio::sync::mpsc;

use crate::error::Error;

/// Why a session ended other than by the agent closing it.
#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    /// A store, validation or identity error, mapped by the error table.
    #[error(transparent)]
    Rejected(#[from] Error),
    /// A message could not be decoded.
    #[error("malformed message: {0}")]
    Malformed(String),
    /// A message was over the size limit.
    #[error("message rejected: {0}")]
    TooLarge(String),
    /// The agent sent messages out of protocol order.
    #[error("{0}")]
    Protocol(String),
    /// Hello names another agent than the certificate.
    #[error("{0}")]
    WrongAgent(String),
    /// No Hello in time.
    #[error("no Hello within 30 s of opening the session")]
    HelloTimeout,
    /// The agent or its connection went away.
    #[error("{0}")]
    Gone(String),
    /// The collector is shutting down, or the transport is unavailable.
    #[error("{0}")]
    Unavailable(String),
}

impl SessionError {
    /// Whether the end counts as a rejected message in `/metrics` (a
    /// vanished agent or a shutdown does not).
    pub fn is_rejection(&self) -> bool {
        !matches!(self, SessionError::Gone(_) | SessionError::Unavailable(_))
    }
}

/// Where a session's messages come from: the gRPC stream, or a test's channel.
pub trait Inbound: Send + 'static {
    /// The next message; `None` when the agent closed the stream.
    fn next(&mut self) -> impl Future<Output = Result<Option<AgentMessage>, SessionError>> + Send;
}

/// Where a session's replies go; an error is the session's last item.
pub type Outbound = mpsc::Sender<Result<CollectorMessage, SessionError>>;
