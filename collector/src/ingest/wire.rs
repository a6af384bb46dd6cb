//! The `Session` request body on its way to the session: its bytes are
//! counted as they arrive (gRPC frames after HTTP/2 framing and TLS are
//! taken off, before any decompression), so `/metrics` can show what gzip
//! saves on the wire, and the body is handed to the handler beside tonic's
//! request (a [`SessionBody`] extension) so that `frames` decodes it instead
//! of tonic's `Streaming`, which keeps a buffer the size of the largest
//! message for the stream's life. tonic gets an empty body in its place.

use std::pin::Pin;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use http_body::{Body as HttpBody, Frame, SizeHint};
use tonic::body::Body;
use tonic::codegen::{Bytes, Service, http};
use tonic::server::NamedService;

use crate::state::State;

/// The path of the streaming RPC whose request bytes are counted.
const SESSION_PATH: &str = "/rollcall.v1.Rollcall/Session";

/// Wraps the gRPC service; every `Session` request body counts its bytes
/// into `Metrics::session_wire_bytes` and travels as a [`SessionBody`].
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
        let (mut parts, inner) = request.into_parts();
        let counted = Body::new(CountingBody { inner, state });
        parts
            .extensions
            .insert(SessionBody(Arc::new(Mutex::new(Some(counted)))));
        self.inner
            .call(http::Request::from_parts(parts, Body::empty()))
    }
}

/// A `Session` request's body, taken out of the request by
/// [`CountSessionBytes`] for the handler to decode (`frames`).
#[derive(Clone)]
pub struct SessionBody(Arc<Mutex<Option<Body>>>);

impl SessionBody {
    /// The body, once: a second take finds nothing.
    pub fn take(&self) -> Option<Body> {
        self.0.lock().ok().and_then(|mut body| body.take())
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
