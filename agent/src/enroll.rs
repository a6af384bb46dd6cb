//! Enrollment: pin the collector's CA by fingerprint, generate a key, send a
//! certificate request with the enrollment token, and store the key, the
//! certificate and the CA in the state directory. Also the TLS plumbing and
//! clear error messages shared with the session transport.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rcgen::{CertificateParams, DistinguishedName, DnType, KeyPair};
use rollcall_proto::v1::EnrollRequest;
use rollcall_proto::v1::rollcall_client::RollcallClient;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Endpoint, Identity};

use crate::error::{Error, Result};

/// What enrollment leaves in the state directory (`agent.json`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Enrollment {
    /// Agent id assigned by the collector.
    pub agent_id: String,
    /// The collector endpoint used at enrollment.
    pub collector: String,
    /// SHA-256 fingerprint of the pinned CA.
    pub ca_fingerprint: String,
    /// Enrollment time (ms).
    pub enrolled_at_ms: i64,
}

/// Files of an enrolled agent.
#[derive(Debug, Clone)]
pub struct Credentials {
    /// The agent's metadata.
    pub enrollment: Enrollment,
    /// PEM of the agent's client certificate.
    pub cert_pem: String,
    /// PEM of the agent's private key.
    pub key_pem: String,
    /// PEM of the collector CA.
    pub ca_pem: String,
}

/// Host and port of an `https://host:port` endpoint.
pub fn parse_endpoint(url: &str) -> Result<(String, u16)> {
    let rest = url.strip_prefix("https://").ok_or_else(|| {
        Error::Config(format!(
            "collector endpoint {url:?} must start with https://"
        ))
    })?;
    let rest = rest.trim_end_matches('/');
    let (host, port) = if let Some(bracketed) = rest.strip_prefix('[') {
        let (host, after) = bracketed
            .split_once(']')
            .ok_or_else(|| Error::Config(format!("collector endpoint {url:?} is not valid")))?;
        (host.to_string(), after.strip_prefix(':').unwrap_or("4443"))
    } else {
        match rest.rsplit_once(':') {
            Some((host, port)) => (host.to_string(), port),
            None => (rest.to_string(), "4443"),
        }
    };
    let port: u16 = port
        .parse()
        .map_err(|_| Error::Config(format!("collector endpoint {url:?} has an invalid port")))?;
    if host.is_empty() || host.contains('/') {
        return Err(Error::Config(format!(
            "collector endpoint {url:?} has no valid host"
        )));
    }
    Ok((host, port))
}

fn normalize_fingerprint(text: &str) -> String {
    text.trim()
        .trim_start_matches("sha256:")
        .replace(':', "")
        .to_ascii_lowercase()
}

/// Accepts any certificate but records the chain, so its CA can be compared
/// with the pinned fingerprint. Used only to fetch the chain; the real
/// connection then verifies against the pinned CA.
#[derive(Debug)]
struct CaptureChain {
    chain: Mutex<Vec<Vec<u8>>>,
    provider: Arc<rustls::crypto::CryptoProvider>,
}

impl ServerCertVerifier for CaptureChain {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> std::result::Result<ServerCertVerified, rustls::Error> {
        if let Ok(mut chain) = self.chain.lock() {
            chain.push(end_entity.to_vec());
            chain.extend(intermediates.iter().map(|cert| cert.to_vec()));
        }
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

/// Connects to the collector, and returns the CA certificate (PEM) from its
/// chain whose SHA-256 equals `expected_fingerprint`.
pub async fn fetch_pinned_ca(url: &str, expected_fingerprint: &str) -> Result<String> {
    let (host, port) = parse_endpoint(url)?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let verifier = Arc::new(CaptureChain {
        chain: Mutex::new(Vec::new()),
        provider: provider.clone(),
    });
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|error| Error::Enroll(format!("tls setup: {error}")))?
        .dangerous()
        .with_custom_certificate_verifier(verifier.clone())
        .with_no_client_auth();
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    let stream = tokio::time::timeout(
        Duration::from_secs(10),
        tokio::net::TcpStream::connect((host.as_str(), port)),
    )
    .await
    .map_err(|_| Error::Enroll(format!("timed out connecting to {url}")))?
    .map_err(|error| Error::Enroll(format!("cannot connect to {url}: {error}")))?;
    let server_name = ServerName::try_from(host.clone())
        .map_err(|_| Error::Enroll(format!("{host:?} is not a valid server name")))?;
    tokio::time::timeout(
        Duration::from_secs(10),
        connector.connect(server_name, stream),
    )
    .await
    .map_err(|_| Error::Enroll(format!("timed out in the TLS handshake with {url}")))?
    .map_err(|error| Error::Enroll(format!("TLS handshake with {url} failed: {error}")))?;
    let chain = verifier
        .chain
        .lock()
        .map(|chain| chain.clone())
        .unwrap_or_default();
    let expected = normalize_fingerprint(expected_fingerprint);
    let presented: Vec<String> = chain
        .iter()
        .map(|der| hex::encode(Sha256::digest(der)))
        .collect();
    match chain
        .iter()
        .zip(&presented)
        .find(|(_, fingerprint)| **fingerprint == expected)
    {
        Some((der, _)) => Ok(der_to_pem(der)),
        None => Err(Error::Enroll(format!(
            "CA fingerprint mismatch: the collector at {url} presented certificates with SHA-256 {}, \
             none of which is the expected {expected}; check the fingerprint the collector printed \
             (`rollcall-collector serve` or `GET /api/v1/info`) — refusing to trust this collector",
            presented.join(", ")
        ))),
    }
}

fn der_to_pem(der: &[u8]) -> String {
    pem::encode_config(
        &pem::Pem::new("CERTIFICATE", der),
        pem::EncodeConfig::new().set_line_ending(pem::LineEnding::LF),
    )
}

/// Explains a connection or RPC failure in words an operator can act on.
pub fn explain(url: &str, error: &(dyn std::error::Error + 'static)) -> String {
    let mut chain = Vec::new();
    let mut current: Option<&(dyn std::error::Error + 'static)> = Some(error);
    while let Some(error) = current {
        chain.push(error.to_string());
        current = error.source();
    }
    let text = chain.join(": ");
    let hint = if text.contains("CertificateRequired") {
        "the collector requires a client certificate and this agent presented none; enroll it with `rollcall-agent enroll`"
    } else if text.contains("UnknownCA")
        || text.contains("BadCertificate")
        || text.contains("DecryptError")
    {
        "the collector rejected this agent's certificate (issued by a different CA?); re-enroll the agent with this collector"
    } else if text.contains("UnknownIssuer") || text.contains("invalid peer certificate") {
        "the collector's certificate is not signed by the CA this agent pinned at enrollment; check the endpoint or re-enroll"
    } else if text.contains("onnection refused") {
        "connection refused: is the collector running and listening on this address?"
    } else if text.contains("CertificateExpired") || text.contains("Expired") {
        "a certificate has expired; re-enroll the agent"
    } else {
        ""
    };
    if hint.is_empty() {
        format!("{url}: {text}")
    } else {
        format!("{url}: {hint} ({text})")
    }
}

/// Opens a TLS channel to `url`, trusting `ca_pem`, presenting the client
/// identity if given.
pub async fn channel(url: &str, ca_pem: &str, identity: Option<(&str, &str)>) -> Result<Channel> {
    let (host, _) = parse_endpoint(url)?;
    let mut tls = ClientTlsConfig::new()
        .ca_certificate(Certificate::from_pem(ca_pem))
        .domain_name(host);
    if let Some((cert, key)) = identity {
        tls = tls.identity(Identity::from_pem(cert, key));
    }
    let endpoint = Endpoint::from_shared(url.to_string())
        .map_err(|error| Error::Config(format!("collector endpoint {url:?}: {error}")))?
        .tls_config(tls)
        .map_err(|error| Error::Connect(explain(url, &error)))?
        .connect_timeout(Duration::from_secs(10))
        .http2_keep_alive_interval(Duration::from_secs(30))
        .keep_alive_timeout(Duration::from_secs(10))
        .tcp_keepalive(Some(Duration::from_secs(60)));
    endpoint
        .connect()
        .await
        .map_err(|error| Error::Connect(explain(url, &error)))
}

/// Writes `contents` to `path` atomically with mode 0600 (`files::write_private`).
pub(crate) fn write_private(path: &Path, contents: &str) -> Result<()> {
    Ok(crate::files::write_private(path, contents.as_bytes())?)
}

/// Paths of the credential files in a state directory.
fn paths(state_dir: &Path) -> [PathBuf; 4] {
    ["agent.json", "cert.pem", "key.pem", "ca.pem"].map(|name| state_dir.join(name))
}

/// Enrolls this agent and stores its credentials in `state_dir`.
pub async fn enroll(
    url: &str,
    token: &str,
    ca_fingerprint: &str,
    state_dir: &Path,
    hostname: &str,
) -> Result<Enrollment> {
    let ca_pem = fetch_pinned_ca(url, ca_fingerprint).await?;
    let key =
        KeyPair::generate().map_err(|error| Error::Enroll(format!("key generation: {error}")))?;
    let mut params = CertificateParams::default();
    let mut name = DistinguishedName::new();
    name.push(DnType::CommonName, hostname);
    params.distinguished_name = name;
    let csr = params
        .serialize_request(&key)
        .and_then(|csr| csr.pem())
        .map_err(|error| Error::Enroll(format!("certificate request: {error}")))?;
    let channel = channel(url, &ca_pem, None).await?;
    let mut client = RollcallClient::new(channel);
    let response = client
        .enroll(EnrollRequest {
            token: token.trim().to_string(),
            csr_pem: csr,
            hostname: hostname.to_string(),
            agent_version: env!("CARGO_PKG_VERSION").to_string(),
        })
        .await
        .map_err(|status| Error::Enroll(format!("the collector refused: {}", status.message())))?
        .into_inner();
    crate::files::private_dir(state_dir).map_err(|error| {
        Error::Enroll(format!(
            "cannot create state directory {}: {error}",
            state_dir.display()
        ))
    })?;
    let enrollment = Enrollment {
        agent_id: response.agent_id,
        collector: url.to_string(),
        ca_fingerprint: normalize_fingerprint(ca_fingerprint),
        enrolled_at_ms: rollcall_proto::now_ms(),
    };
    let [meta, cert, key_path, ca] = paths(state_dir);
    write_private(&key_path, &key.serialize_pem())?;
    write_private(&cert, &response.certificate_pem)?;
    write_private(&ca, &ca_pem)?;
    let json = serde_json::to_string_pretty(&enrollment)
        .map_err(|error| Error::Enroll(error.to_string()))?;
    write_private(&meta, &json)?;
    Ok(enrollment)
}

/// Loads the credentials written by `enroll`.
pub fn load_credentials(state_dir: &Path) -> Result<Credentials> {
    finish_interrupted(state_dir)?;
    let [meta, cert, key, ca] = paths(state_dir);
    if !meta.exists() || !cert.exists() || !key.exists() {
        return Err(Error::NotEnrolled(state_dir.display().to_string()));
    }
    crate::files::tighten(state_dir, crate::files::DIR_MODE)?;
    for path in [&meta, &cert, &key, &ca] {
        crate::files::tighten(path, crate::files::FILE_MODE)?;
    }
    let read = |path: &Path| {
        std::fs::read_to_string(path)
            .map_err(|error| Error::Config(format!("cannot read {}: {error}", path.display())))
    };
    let enrollment: Enrollment = serde_json::from_str(&read(&meta)?).map_err(|error| {
        Error::Config(format!("{} is damaged: {error}; re-enroll", meta.display()))
    })?;
    Ok(Credentials {
        enrollment,
        cert_pem: read(&cert)?,
        key_pem: read(&key)?,
        ca_pem: read(&ca)?,
    })
}

/// Finishes a renewal whose files were written but not all renamed into
/// place (a crash between the renames): rolls forward to the new pair.
pub fn finish_interrupted(state_dir: &Path) -> Result<()> {
    let (key_next, cert_next) = (
        state_dir.join("key.pem.new"),
        state_dir.join("cert.pem.new"),
    );
    if key_next.exists() && !cert_next.exists() {
        // The certificate never arrived in full: the old pair still stands.
        std::fs::remove_file(&key_next)?;
        return Ok(());
    }
    if key_next.exists() {
        std::fs::rename(&key_next, state_dir.join("key.pem"))?;
    }
    if cert_next.exists() {
        std::fs::rename(&cert_next, state_dir.join("cert.pem"))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_parse() {
        assert_eq!(
            parse_endpoint("https://c.example:4443").unwrap(),
            ("c.example".into(), 4443)
        );
        assert_eq!(
            parse_endpoint("https://c.example").unwrap(),
            ("c.example".into(), 4443)
        );
        assert_eq!(
            parse_endpoint("https://[::1]:5").unwrap(),
            ("::1".into(), 5)
        );
        assert!(parse_endpoint("http://c:1").is_err());
        assert!(parse_endpoint("https://c:notaport").is_err());
        assert!(parse_endpoint("https://:1").is_err());
    }

    #[test]
    fn fingerprints_normalise() {
        assert_eq!(normalize_fingerprint(" sha256:AB:cd "), "abcd");
    }

    #[test]
    fn pem_round_trips() {
        let key = KeyPair::generate().unwrap();
        let cert = CertificateParams::new(vec!["x".to_string()])
            .unwrap()
            .self_signed(&key)
            .unwrap();
        assert_eq!(der_to_pem(cert.der()), cert.pem().replace("\r\n", "\n"));
    }
}
