//! The tonic service agents talk to: `Enroll` (see `enroll`), `Renew` (see
//! `renew`) and the bidirectional `Session` stream, authenticated by client certificate and
//! run by `session`. With `wire` (which hands it the `Session` body) and
//! `frames` (which decodes that body), the only ingest files that know
//! tonic: it adapts the stream to `session::Inbound` and maps errors to
//! statuses.

use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use futures::{Stream, StreamExt};
use rollcall_proto::v1::rollcall_server::{Rollcall, RollcallServer};
use rollcall_proto::v1::{
    AgentMessage, CollectorMessage, EnrollRequest, EnrollResponse, RenewRequest, RenewResponse,
};
use tonic::codec::CompressionEncoding;
use tonic::transport::Server;
use tonic::transport::server::Router;
use tonic::{Request, Response, Status, Streaming};

use super::frames::SessionFrames;
use super::session::{self, Inbound, SessionError};
use super::wire::{CountSessionBytes, SessionBody};
use super::{enroll, renew};
use crate::error::Result;
use crate::pki::fingerprint;
use crate::state::State;
use crate::store::Agent;

/// HTTP/2 receive window of each stream (a `Session` is one): what an agent
/// may send that the collector has not read yet. When a session's reader has
/// stopped reading (its queue and hold are full: `reader`), at most this much
/// of the agent's messages waits in hyper's buffers, then flow control stops
/// the agent (which spools). hyper's default, 1 MiB, let a saturated
/// collector buffer up to a megabyte a session. 64 KiB (the HTTP/2 default
/// window is 65,535 bytes) still takes a gzipped full snapshot (~52 KiB on
/// the wire for ~800 packages) in one window; a larger message waits one
/// round trip per window while the reader takes it.
pub const STREAM_WINDOW: u32 = 64 * 1024;

/// HTTP/2 receive window of each agent connection, shared by its streams:
/// twice a stream's, so that a `Renew` still gets through beside a session
/// whose stream window is full.
pub const CONNECTION_WINDOW: u32 = 2 * STREAM_WINDOW;

/// The agent-facing gRPC server: gzip accepted, message sizes bounded, small
/// receive windows ([`STREAM_WINDOW`], [`CONNECTION_WINDOW`]), byte
/// counting on `Session`. TLS is not tonic's: `accept::incoming` does the
/// handshake and bounds what comes after it, and hands tonic the TLS streams
/// (whose peer certificates tonic still records for `authenticate`).
pub fn server(state: Arc<State>) -> Router {
    let max = state.config.ingest.max_message_bytes;
    // Agents gzip their messages; older agents that send them uncompressed
    // are still accepted. `max` bounds the decompressed size too (tonic stops
    // inflating past it). Replies are a few bytes each, so they stay plain.
    let service = RollcallServer::new(RollcallService::new(state.clone()))
        .accept_compressed(CompressionEncoding::Gzip)
        .max_decoding_message_size(max)
        .max_encoding_message_size(max);
    let service = CountSessionBytes::new(service, state.clone());
    Server::builder()
        .http2_keepalive_interval(Some(Duration::from_secs(30)))
        .http2_keepalive_timeout(Some(Duration::from_secs(10)))
        .initial_stream_window_size(STREAM_WINDOW)
        .initial_connection_window_size(CONNECTION_WINDOW)
        .add_service(service)
}

/// The gRPC service implementation.
#[derive(Debug, Clone)]
pub struct RollcallService {
    state: Arc<State>,
}

impl RollcallService {
    /// A service over the collector's shared state.
    pub fn new(state: Arc<State>) -> Self {
        Self { state }
    }

    /// The agent the request's client certificate belongs to, and that
    /// certificate's fingerprint; revoked agents are refused.
    async fn authenticate<T>(&self, request: &Request<T>) -> Result<(Agent, String), Status> {
        let certificates = request.peer_certs().filter(|certs| !certs.is_empty()).ok_or_else(|| {
            Status::unauthenticated(
                "a client certificate is required for Session; enroll this agent first with `rollcall-agent enroll`",
            )
        })?;
        let fingerprint = fingerprint(certificates[0].as_ref());
        let agent = self
            .state
            .store
            .agent_by_fingerprint(&fingerprint)
            .await
            .map_err(Status::from)?
            .ok_or_else(|| Status::unauthenticated("this client certificate is not registered with the collector; re-enroll the agent"))?;
        if agent.revoked_at.is_some() {
            return Err(Status::permission_denied(format!(
                "agent {} has been revoked; re-enroll it to reconnect",
                agent.id
            )));
        }
        Ok((agent, fingerprint))
    }
}

type SessionStream = Pin<Box<dyn Stream<Item = Result<CollectorMessage, Status>> + Send + 'static>>;

#[tonic::async_trait]
impl Rollcall for RollcallService {
    async fn enroll(
        &self,
        request: Request<EnrollRequest>,
    ) -> Result<Response<EnrollResponse>, Status> {
        // Tonic's TLS listener always knows the peer; without one (an
        // in-process transport) all such callers share one limit.
        let source = request
            .remote_addr()
            .map(|peer| peer.ip())
            .unwrap_or(std::net::IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED));
        let response = enroll::enroll(&self.state, source, request.into_inner()).await?;
        Ok(Response::new(response))
    }

    async fn renew(
        &self,
        request: Request<RenewRequest>,
    ) -> Result<Response<RenewResponse>, Status> {
        let (agent, presented) = self.authenticate(&request).await?;
        let response = renew::renew(&self.state, &agent, &presented, request.into_inner()).await?;
        Ok(Response::new(response))
    }

    type SessionStream = SessionStream;

    async fn session(
        &self,
        request: Request<Streaming<AgentMessage>>,
    ) -> Result<Response<SessionStream>, Status> {
        let (agent, presented) = self.authenticate(&request).await?;
        if agent.previous_fingerprint.is_some() && presented == agent.cert_fingerprint {
            // The renewed certificate is in use: the one it replaced is done.
            self.state
                .store
                .retire_previous_certificate(&agent.id, &presented)
                .await
                .map_err(Status::from)?;
            tracing::info!(agent_id = %agent.id, "renewed certificate in use; the previous one is refused from now on");
        }
        // tonic has already refused an encoding it does not accept; what is
        // left is gzip or none (older agents).
        let compressed = request
            .metadata()
            .get("grpc-encoding")
            .is_some_and(|encoding| encoding.as_bytes() == b"gzip");
        let sessions = if compressed {
            &self.state.metrics.sessions_gzip
        } else {
            &self.state.metrics.sessions_identity
        };
        sessions.fetch_add(1, Ordering::Relaxed);
        // The body itself, taken out by `CountSessionBytes` (tonic's
        // `Streaming` got an empty one and is dropped unread).
        let body = request
            .extensions()
            .get::<SessionBody>()
            .and_then(SessionBody::take)
            .ok_or_else(|| Status::internal("the session's request body was not handed over"))?;
        let inbound = GrpcInbound {
            frames: SessionFrames::new(
                body,
                self.state.config.ingest.max_message_bytes,
                compressed,
            ),
            state: self.state.clone(),
        };
        let replies = session::spawn(self.state.clone(), agent, inbound);
        Ok(Response::new(Box::pin(
            replies.map(|reply| reply.map_err(Status::from)),
        )))
    }
}

/// The gRPC request stream as a session's inbound side.
struct GrpcInbound {
    frames: SessionFrames<tonic::body::Body>,
    state: Arc<State>,
}

impl Inbound for GrpcInbound {
    async fn next(&mut self) -> Result<Option<AgentMessage>, SessionError> {
        let message = self.frames.next().await?;
        // The decoded size, to set beside the bytes it took on the wire (`wire`).
        if let Some(message) = &message {
            self.state.metrics.session_message_bytes.fetch_add(
                prost::Message::encoded_len(message) as u64,
                Ordering::Relaxed,
            );
        }
        Ok(message)
    }
}

impl From<SessionError> for Status {
    fn from(error: SessionError) -> Self {
        let message = error.to_string();
        match error {
            SessionError::Rejected(error) => Status::from(error),
            SessionError::Malformed(_) => Status::invalid_argument(message),
            SessionError::TooLarge(_) => Status::resource_exhausted(message),
            SessionError::Protocol(_) => Status::failed_precondition(message),
            SessionError::WrongAgent(_) => Status::permission_denied(message),
            SessionError::HelloTimeout => Status::deadline_exceeded(message),
            SessionError::Gone(_) => Status::cancelled(message),
            SessionError::Unavailable(_) => Status::unavailable(message),
        }
    }
}
