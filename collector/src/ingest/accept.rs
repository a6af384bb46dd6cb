//! The agents' port before tonic sees a connection: TCP accept, the TLS
//! handshake within `[grpc] tls_handshake_timeout_ms`, then [`Bounded`]:
//! the HTTP/2 preface within `first_bytes_timeout_ms`, and a connection
//! without a client certificate (Enroll only) closed at
//! `unauthenticated_connection_max_ms`. tonic's own TLS bounds the
//! handshake only, so a client that finished TLS and then sent nothing was
//! held open forever.
//!
//! The streams handed on are `tokio_rustls` server streams, for which tonic
//! records the peer certificates (`Request::peer_certs`), as it does for its
//! own TLS.

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use rustls::RootCertStore;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, pem::PemObject};
use rustls::server::WebPkiClientVerifier;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio::time::Sleep;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::server::TlsStream;
use tokio_stream::wrappers::ReceiverStream;
use tokio_util::sync::CancellationToken;
use tonic::transport::server::Connected;

use crate::config::GrpcConfig;
use crate::error::{Error, Result};
use crate::pki::Pki;

/// Length of the HTTP/2 client connection preface (RFC 9113 §3.4).
const PREFACE_BYTES: usize = 24;

/// Handshaken connections waiting for tonic to take them.
const READY_QUEUE: usize = 1024;

/// The TLS acceptor of the agents' port: the collector's server
/// certificate, client certificates from its CA verified when offered
/// (`Enroll` comes before the agent has one; `Session` requires one), h2.
pub fn tls_acceptor(pki: &Pki) -> Result<TlsAcceptor> {
    let pki_error = |what: &str, error: &dyn std::fmt::Display| {
        Error::Pki(format!("cannot configure TLS ({what}): {error}"))
    };
    let mut roots = RootCertStore::empty();
    for certificate in CertificateDer::pem_slice_iter(pki.ca_cert_pem().as_bytes()) {
        let certificate = certificate.map_err(|error| pki_error("CA certificate", &error))?;
        roots
            .add(certificate)
            .map_err(|error| pki_error("CA certificate", &error))?;
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider.clone())
        .allow_unauthenticated()
        .build()
        .map_err(|error| pki_error("client verifier", &error))?;
    let chain = CertificateDer::pem_slice_iter(pki.server_chain_pem.as_bytes())
        .collect::<std::result::Result<Vec<_>, _>>()
        .map_err(|error| pki_error("server certificate", &error))?;
    let key = PrivateKeyDer::from_pem_slice(pki.server_key_pem.as_bytes())
        .map_err(|error| pki_error("server key", &error))?;
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|error| pki_error("protocol versions", &error))?
        .with_client_cert_verifier(verifier)
        .with_single_cert(chain, key)
        .map_err(|error| pki_error("server certificate and key", &error))?;
    config.alpn_protocols = vec![b"h2".to_vec()];
    Ok(TlsAcceptor::from(Arc::new(config)))
}

/// Accepts on `listener` until `shutdown`, shakes hands with each
/// connection in its own task, and yields the ones that finished in time,
/// wrapped in [`Bounded`], for `serve_with_incoming`.
pub fn incoming(
    listener: TcpListener,
    acceptor: TlsAcceptor,
    config: &GrpcConfig,
    shutdown: CancellationToken,
) -> ReceiverStream<io::Result<Bounded<TlsStream<TcpStream>>>> {
    let (ready, receiver) = mpsc::channel(READY_QUEUE);
    let limits = Limits {
        handshake: config.tls_handshake_timeout(),
        first_bytes: config.first_bytes_timeout(),
        unauthenticated: config.unauthenticated_connection_max(),
    };
    tokio::spawn(async move {
        while let Some(stream) = crate::net::accept(&listener, "grpc", &shutdown).await {
            let (acceptor, ready) = (acceptor.clone(), ready.clone());
            tokio::spawn(async move {
                let peer = stream.peer_addr().ok();
                match tokio::time::timeout(limits.handshake, acceptor.accept(stream)).await {
                    Ok(Ok(tls)) => {
                        let _ = ready.send(Ok(Bounded::new(tls, limits))).await;
                    }
                    Ok(Err(error)) => {
                        tracing::debug!(?peer, error = %error, "grpc TLS handshake failed")
                    }
                    Err(_) => tracing::debug!(?peer, "grpc TLS handshake timed out"),
                }
            });
        }
    });
    ReceiverStream::new(receiver)
}

/// The bounds [`incoming`] applies to every connection.
#[derive(Debug, Clone, Copy)]
struct Limits {
    handshake: Duration,
    first_bytes: Duration,
    unauthenticated: Duration,
}

/// A TLS stream that fails its reads once a deadline passes: the first
/// [`PREFACE_BYTES`] must arrive within the first-bytes time-out, and a
/// stream without a client certificate ends at its maximum age. hyper then
/// closes the connection.
pub struct Bounded<S> {
    inner: S,
    received: usize,
    first_bytes: Option<Pin<Box<Sleep>>>,
    lifetime: Option<Pin<Box<Sleep>>>,
}

impl Bounded<TlsStream<TcpStream>> {
    fn new(inner: TlsStream<TcpStream>, limits: Limits) -> Self {
        let authenticated = inner
            .get_ref()
            .1
            .peer_certificates()
            .is_some_and(|certificates| !certificates.is_empty());
        Self {
            inner,
            received: 0,
            first_bytes: Some(Box::pin(tokio::time::sleep(limits.first_bytes))),
            lifetime: (!authenticated)
                .then(|| Box::pin(tokio::time::sleep(limits.unauthenticated))),
        }
    }
}

impl<S> Bounded<S> {
    /// The deadline error, if one has passed (registering the waker otherwise).
    fn expired(&mut self, context: &mut Context<'_>) -> Option<io::Error> {
        if let Some(first_bytes) = &mut self.first_bytes
            && first_bytes.as_mut().poll(context).is_ready()
        {
            return Some(io::Error::new(
                io::ErrorKind::TimedOut,
                "no HTTP/2 preface within the first-bytes time-out",
            ));
        }
        if let Some(lifetime) = &mut self.lifetime
            && lifetime.as_mut().poll(context).is_ready()
        {
            return Some(io::Error::new(
                io::ErrorKind::TimedOut,
                "a connection without a client certificate reached its maximum age",
            ));
        }
        None
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Bounded<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        context: &mut Context<'_>,
        buffer: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buffer.filled().len();
        match Pin::new(&mut this.inner).poll_read(context, buffer) {
            Poll::Ready(Ok(())) => {
                this.received = this.received.saturating_add(buffer.filled().len() - before);
                if this.received >= PREFACE_BYTES {
                    this.first_bytes = None;
                }
                Poll::Ready(Ok(()))
            }
            Poll::Pending => match this.expired(context) {
                Some(error) => Poll::Ready(Err(error)),
                None => Poll::Pending,
            },
            failed => failed,
        }
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Bounded<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        context: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write(context, data)
    }

    fn poll_flush(self: Pin<&mut Self>, context: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(context)
    }

    fn poll_shutdown(self: Pin<&mut Self>, context: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(context)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        context: &mut Context<'_>,
        buffers: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write_vectored(context, buffers)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

impl<S: Connected> Connected for Bounded<S> {
    type ConnectInfo = S::ConnectInfo;

    fn connect_info(&self) -> Self::ConnectInfo {
        self.inner.connect_info()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use tokio::io::{AsyncReadExt, AsyncWriteExt, duplex};

    use super::*;

    fn bounded<S>(inner: S, first_bytes: Duration, lifetime: Option<Duration>) -> Bounded<S> {
        Bounded {
            inner,
            received: 0,
            first_bytes: Some(Box::pin(tokio::time::sleep(first_bytes))),
            lifetime: lifetime.map(|age| Box::pin(tokio::time::sleep(age))),
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_silent_peer_fails_the_read_at_the_first_bytes_deadline() {
        let (_peer, stream) = duplex(64);
        let mut stream = bounded(stream, Duration::from_secs(10), None);
        let mut buffer = [0u8; 8];
        let error = stream.read(&mut buffer).await.unwrap_err();
        assert_eq!(error.kind(), io::ErrorKind::TimedOut);
        assert!(error.to_string().contains("preface"), "{error}");
    }

    #[tokio::test(start_paused = true)]
    async fn a_trickle_short_of_the_preface_still_times_out() {
        let (mut peer, stream) = duplex(64);
        let mut stream = bounded(stream, Duration::from_secs(10), None);
        peer.write_all(b"PRI * HTTP/2.0").await.unwrap();
        let mut buffer = [0u8; 64];
        assert_eq!(stream.read(&mut buffer).await.unwrap(), 14);
        let error = stream.read(&mut buffer).await.unwrap_err();
        assert_eq!(error.kind(), io::ErrorKind::TimedOut);
    }

    #[tokio::test(start_paused = true)]
    async fn a_peer_that_sent_the_preface_may_then_stay_quiet() {
        let (mut peer, stream) = duplex(64);
        let mut stream = bounded(stream, Duration::from_secs(10), None);
        peer.write_all(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n")
            .await
            .unwrap();
        let mut buffer = [0u8; 64];
        assert_eq!(stream.read(&mut buffer).await.unwrap(), PREFACE_BYTES);
        // Far past the first-bytes deadline, a quiet authenticated session
        // is not cut: the read is still waiting.
        let waiting =
            tokio::time::timeout(Duration::from_secs(3600), stream.read(&mut buffer)).await;
        assert!(waiting.is_err(), "the read ended: {waiting:?}");
    }

    #[tokio::test(start_paused = true)]
    async fn an_unauthenticated_connection_ends_at_its_maximum_age() {
        let (mut peer, stream) = duplex(64);
        let mut stream = bounded(
            stream,
            Duration::from_secs(10),
            Some(Duration::from_secs(60)),
        );
        peer.write_all(&[0u8; PREFACE_BYTES]).await.unwrap();
        let mut buffer = [0u8; 64];
        assert_eq!(stream.read(&mut buffer).await.unwrap(), PREFACE_BYTES);
        let started = tokio::time::Instant::now();
        let error = stream.read(&mut buffer).await.unwrap_err();
        assert!(error.to_string().contains("maximum age"), "{error}");
        assert!(
            started.elapsed() >= Duration::from_secs(49),
            "{:?}",
            started.elapsed()
        );
    }
}
