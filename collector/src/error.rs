//! The collector's error type and the one place that maps it to a gRPC
//! status and an HTTP status. Clients see a clear message, never internals.

use axum::http::StatusCode;

/// Result alias used across the collector.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong inside the collector.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The caller's input is invalid; the message says how.
    #[error("invalid input: {0}")]
    InvalidInput(String),
    /// No credentials were presented, or they are not valid.
    #[error("unauthenticated: {0}")]
    Unauthenticated(String),
    /// Valid credentials, not allowed to do this.
    #[error("permission denied: {0}")]
    PermissionDenied(String),
    /// The named thing does not exist.
    #[error("not found: {0}")]
    NotFound(String),
    /// The request conflicts with the current state.
    #[error("conflict: {0}")]
    Conflict(String),
    /// The caller sent too much, too fast.
    #[error("rate limited: {0}")]
    RateLimited(String),
    /// Configuration is invalid.
    #[error("configuration: {0}")]
    Config(String),
    /// The store failed.
    #[error("store: {0}")]
    Store(String),
    /// The store is overloaded for now (no connection within the pool's
    /// time-out, or SQLite busy): the same call may succeed later. Ingest waits
    /// and retries instead of ending a session; the API answers 503.
    #[error("busy: {0}")]
    Busy(String),
    /// Certificate handling failed.
    #[error("pki: {0}")]
    Pki(String),
    /// An I/O operation failed.
    #[error("i/o: {0}")]
    Io(#[from] std::io::Error),
    /// Anything else that is a bug or an environment failure.
    #[error("internal: {0}")]
    Internal(String),
}

impl Error {
    /// Whether the message may be shown to a remote client as it is.
    pub fn is_public(&self) -> bool {
        matches!(
            self,
            Error::InvalidInput(_)
                | Error::Unauthenticated(_)
                | Error::PermissionDenied(_)
                | Error::NotFound(_)
                | Error::Conflict(_)
                | Error::RateLimited(_)
        )
    }

    /// The message shown to a remote client.
    pub fn public_message(&self) -> String {
        if self.is_public() {
            // A message quoting a caller's 60 KB value is cut, on a
            // character boundary.
            let mut text = self.to_string();
            if text.len() > MAX_PUBLIC_MESSAGE {
                let mut end = MAX_PUBLIC_MESSAGE;
                while !text.is_char_boundary(end) {
                    end -= 1;
                }
                text.truncate(end);
                text.push_str("… (cut)");
            }
            text
        } else if matches!(self, Error::Busy(_)) {
            "the collector is busy; try again shortly".to_string()
        } else {
            "internal error; see the collector log".to_string()
        }
    }

    /// The HTTP status for this error.
    pub fn http_status(&self) -> StatusCode {
        match self {
            Error::InvalidInput(_) => StatusCode::BAD_REQUEST,
            Error::Unauthenticated(_) => StatusCode::UNAUTHORIZED,
            Error::PermissionDenied(_) => StatusCode::FORBIDDEN,
            Error::NotFound(_) => StatusCode::NOT_FOUND,
            Error::Conflict(_) => StatusCode::CONFLICT,
            Error::RateLimited(_) => StatusCode::TOO_MANY_REQUESTS,
            Error::Busy(_) => StatusCode::SERVICE_UNAVAILABLE,
            Error::Config(_)
            | Error::Store(_)
            | Error::Pki(_)
            | Error::Io(_)
            | Error::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The gRPC code for this error.
    pub fn grpc_code(&self) -> tonic::Code {
        match self {
            Error::InvalidInput(_) => tonic::Code::InvalidArgument,
            Error::Unauthenticated(_) => tonic::Code::Unauthenticated,
            Error::PermissionDenied(_) => tonic::Code::PermissionDenied,
            Error::NotFound(_) => tonic::Code::NotFound,
            Error::Conflict(_) => tonic::Code::FailedPrecondition,
            Error::RateLimited(_) => tonic::Code::ResourceExhausted,
            Error::Busy(_) => tonic::Code::Unavailable,
            Error::Config(_)
            | Error::Store(_)
            | Error::Pki(_)
            | Error::Io(_)
            | Error::Internal(_) => tonic::Code::Internal,
        }
    }
}

impl From<Error> for tonic::Status {
    fn from(error: Error) -> Self {
        if !error.is_public() {
            tracing::error!(error = %error, "request failed");
        }
        tonic::Status::new(error.grpc_code(), error.public_message())
    }
}

// Driver errors are turned into `Error` by the store (store/sql/error.rs).

impl From<rcgen::Error> for Error {
    fn from(error: rcgen::Error) -> Self {
        Error::Pki(error.to_string())
    }
}

/// Longest error message shown to a caller (bytes).
pub const MAX_PUBLIC_MESSAGE: usize = 512;

impl axum::response::IntoResponse for Error {
    fn into_response(self) -> axum::response::Response {
        if !self.is_public() {
            tracing::error!(error = %self, "api request failed");
        }
        let body = serde_json::json!({ "error": self.public_message() });
        (self.http_status(), axum::Json(body)).into_response()
    }
}
