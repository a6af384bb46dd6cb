//! Serving the API on a socket: the accept loop (plain HTTP, or HTTPS with
//! rustls and a bounded handshake), hyper's header read time-out against
//! slowloris, and the `tower-http` layers every response goes through
//! (whole-request time-out, body limit, security headers).
//!
//! `axum::serve` offers no header time-out and no TLS, hence the loop here.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::{HeaderName, HeaderValue, StatusCode, header};
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, pem::PemObject};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::set_header::SetResponseHeaderLayer;
use tower_http::timeout::TimeoutLayer;

use crate::config::ApiConfig;
use crate::error::{Error, Result};
use crate::pki::Pki;

/// HSTS under TLS: a year, as browsers' preload lists expect.
const HSTS: &str = "max-age=31536000";

/// Wraps `router` in the layers every API response goes through: the
/// security headers (outermost, so time-out and limit answers carry them
/// too), the whole-request time-out and the body limit.
pub fn layers(router: Router, config: &ApiConfig, tls: bool) -> Router {
    let router = router
        .layer(DefaultBodyLimit::max(config.max_body_bytes))
        .layer(RequestBodyLimitLayer::new(config.max_body_bytes))
        .layer(TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            config.request_timeout(),
        ));
    let router = with_header(router, header::X_CONTENT_TYPE_OPTIONS, "nosniff");
    let router = with_header(router, header::X_FRAME_OPTIONS, "DENY");
    let router = with_header(
        router,
        header::CONTENT_SECURITY_POLICY,
        "frame-ancestors 'none'",
    );
    let router = with_header(router, header::CACHE_CONTROL, "no-store");
    if tls {
        with_header(router, header::STRICT_TRANSPORT_SECURITY, HSTS)
    } else {
        router
    }
}

fn with_header(router: Router, name: HeaderName, value: &'static str) -> Router {
    router.layer(SetResponseHeaderLayer::if_not_present(
        name,
        HeaderValue::from_static(value),
    ))
}

/// The TLS acceptor of the API when `[api] tls` is on: the operator's
/// `tls_cert`/`tls_key`, or else the collector's own server certificate.
pub fn tls_acceptor(config: &ApiConfig, pki: &Pki) -> Result<Option<TlsAcceptor>> {
    if !config.tls {
        return Ok(None);
    }
    let (chain_pem, key_pem) = match (&config.tls_cert, &config.tls_key) {
        (Some(cert), Some(key)) => (read(cert)?, read(key)?),
        _ => (pki.server_chain_pem.clone(), pki.server_key_pem.clone()),
    };
    let chain = CertificateDer::pem_slice_iter(chain_pem.as_bytes())
        .collect::<std::result::Result<Vec<_>, _>>()
        .map_err(|error| Error::Config(format!("api certificate: {error}")))?;
    if chain.is_empty() {
        return Err(Error::Config(
            "api certificate: no certificate in PEM".into(),
        ));
    }
    let key = PrivateKeyDer::from_pem_slice(key_pem.as_bytes())
        .map_err(|error| Error::Config(format!("api private key: {error}")))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut server = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|error| Error::Config(format!("api tls: {error}")))?
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .map_err(|error| Error::Config(format!("api certificate and key: {error}")))?;
    server.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Some(TlsAcceptor::from(Arc::new(server))))
}

fn read(path: &std::path::Path) -> Result<String> {
    std::fs::read_to_string(path)
        .map_err(|error| Error::Config(format!("cannot read {}: {error}", path.display())))
}

/// What each connection is served with.
#[derive(Clone)]
pub struct Serving {
    /// The router, already wrapped in [`layers`].
    pub app: Router,
    /// TLS, when on.
    pub tls: Option<TlsAcceptor>,
    /// Bound on the TLS handshake.
    pub handshake_timeout: Duration,
    /// Bound on reading a request's headers.
    pub header_read_timeout: Duration,
}

/// Accepts connections on `listener` until `shutdown`, then lets the open
/// ones finish their request (the caller's deadline aborts the rest).
pub async fn run(listener: TcpListener, serving: Serving, shutdown: CancellationToken) {
    let connections = TaskTracker::new();
    while let Some(stream) = crate::net::accept(&listener, "api", &shutdown).await {
        let _ = stream.set_nodelay(true);
        connections.spawn(connection(stream, serving.clone(), shutdown.clone()));
    }
    connections.close();
    connections.wait().await;
}

async fn connection(stream: tokio::net::TcpStream, serving: Serving, shutdown: CancellationToken) {
    let Some(acceptor) = serving.tls.clone() else {
        return http(stream, serving.app, serving.header_read_timeout, shutdown).await;
    };
    match tokio::time::timeout(serving.handshake_timeout, acceptor.accept(stream)).await {
        Ok(Ok(stream)) => http(stream, serving.app, serving.header_read_timeout, shutdown).await,
        Ok(Err(error)) => tracing::debug!(error = %error, "api tls handshake failed"),
        Err(_) => tracing::debug!("api tls handshake timed out"),
    }
}

async fn http<I>(io: I, app: Router, header_read_timeout: Duration, shutdown: CancellationToken)
where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(header_read_timeout);
    let connection = builder.serve_connection(TokioIo::new(io), TowerToHyperService::new(app));
    tokio::pin!(connection);
    let result = tokio::select! {
        result = connection.as_mut() => result,
        () = shutdown.cancelled() => {
            connection.as_mut().graceful_shutdown();
            connection.await
        }
    };
    if let Err(error) = result {
        tracing::debug!(error = %error, "api connection ended");
    }
}
