//! Counts the bytes of `Session` request bodies as they arrive (gRPC
//! frames after HTTP/2 framing and TLS are taken off, before any
//! decompression), so `/metrics` can show what gzip saves on the wire.

use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::task::{Context, Poll};

use http_body::{Body as HttpBody, Frame, SizeHint};
use tonic::body::Body;
use tonic::codegen::{Bytes, Service, http};
use tonic::server::NamedService;

use crate::state::State;

/// The path of the streaming RPC whose request bytes are counted.
const SESSION_PATH: &str = "/rollcall.v1.Rollcall/Session";

/// Wraps the gRPC service; every `Session` request body counts its bytes
/// into `Metrics::session_wire_bytes`.
#[derive(Debug, Clone)]
pub struct CountSessionBytes<S> {
    inner: S,
    state: Arc<State>,
}

impl<S> CountSessionBytes<S> {
    /// Counts the `Session` request bytes `inner` receives into `state`'s metrics.
    pub fn new(inner: S, state: Arc<State>) -> Self {
        Self { inner, state }
    }
}

impl<S: NamedService> NamedService for CountSessionBytes<S> {
    const NAME: &'static str = S::NAME;
}

impl<S> Service<http::Request<Body>> for CountSessionBytes<S>
where
    S: Service<http::Request<Body>>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = S::Future;

    fn poll_ready(&mut self, context: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(context)
    }

    fn call(&mut self, request: http::Request<Body>) -> Self::Future {
        if request.uri().path() != SESSION_PATH {
            return self.inner.call(request);
        }
        let state = self.state.clone();
        self.inner
            .call(request.map(|inner| Body::new(CountingBody { inner, state })))
    }
}

/// A request body that adds the length of every data frame to the metrics.
struct CountingBody {
    inner: Body,
    state: Arc<State>,
}

impl HttpBody for CountingBody {
    type Data = Bytes;
    type Error = tonic::Status;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        context: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, tonic::Status>>> {
        let polled = Pin::new(&mut self.inner).poll_frame(context);
        if let Poll::Ready(Some(Ok(frame))) = &polled
            && let Some(data) = frame.data_ref()
        {
            self.state
                .metrics
                .session_wire_bytes
                .fetch_add(data.len() as u64, Ordering::Relaxed);
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}
