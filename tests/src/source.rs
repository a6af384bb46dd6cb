//! Clients that connect from a chosen loopback source address (all of
//! 127.0.0.0/8 is local), so one test can play callers at different
//! addresses: a token guesser at 127.0.0.2 and real agents at 127.0.0.1.

use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::task::{Context, Poll};

use anyhow::Result;
use hyper_util::rt::TokioIo;
use rcgen::{CertificateParams, DistinguishedName, DnType, KeyPair};
use tokio::net::{TcpSocket, TcpStream};
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Endpoint, Uri};

/// A connector that binds each connection to `source` before connecting to
/// the URI's host and port.
#[derive(Debug, Clone, Copy)]
pub struct BoundConnector {
    /// The local address connections come from.
    pub source: IpAddr,
}

impl tower::Service<Uri> for BoundConnector {
    type Response = TokioIo<TcpStream>;
    type Error = std::io::Error;
    type Future = Pin<Box<dyn Future<Output = std::io::Result<Self::Response>> + Send>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, uri: Uri) -> Self::Future {
        let source = self.source;
        Box::pin(async move {
            let invalid = || std::io::Error::new(std::io::ErrorKind::InvalidInput, "bad uri");
            let host = uri.host().ok_or_else(invalid)?;
            let port = uri.port_u16().ok_or_else(invalid)?;
            let peer: SocketAddr = format!("{host}:{port}").parse().map_err(|_| invalid())?;
            let socket = match peer {
                SocketAddr::V4(_) => TcpSocket::new_v4()?,
                SocketAddr::V6(_) => TcpSocket::new_v6()?,
            };
            socket.bind(SocketAddr::new(source, 0))?;
            Ok(TokioIo::new(socket.connect(peer).await?))
        })
    }
}

/// A TLS channel to `url` (trusting `ca_pem`, no client identity) whose
/// connections come from `source`.
pub async fn channel_from(source: IpAddr, url: &str, ca_pem: &str) -> Result<Channel> {
    let tls = ClientTlsConfig::new()
        .ca_certificate(Certificate::from_pem(ca_pem))
        .domain_name("127.0.0.1");
    Ok(Endpoint::from_shared(url.to_string())?
        .tls_config(tls)?
        .connect_with_connector(BoundConnector { source })
        .await?)
}

/// A well-formed certificate request for `hostname`, as an agent would send.
pub fn csr_pem(hostname: &str) -> Result<String> {
    let key = KeyPair::generate()?;
    let mut params = CertificateParams::default();
    let mut name = DistinguishedName::new();
    name.push(DnType::CommonName, hostname);
    params.distinguished_name = name;
    Ok(params.serialize_request(&key)?.pem()?)
}
