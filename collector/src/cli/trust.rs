//! How the CLI trusts the collector over HTTPS: a CA certificate file, or
//! the SHA-256 fingerprint of the CA pinned as the agent pins it at
//! enrolment. There is no way to skip verification.

use std::path::PathBuf;
use std::sync::Arc;

use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime, pem::PemObject};
use rustls::{DigitallySignedStruct, RootCertStore, SignatureScheme};

use crate::cli::error::{CliError, Result};

/// What the CLI trusts the collector's certificate by.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Trust {
    /// Nothing given: only plain `http://` URLs can be used.
    #[default]
    Unset,
    /// A PEM file of CA certificates.
    CaFile(PathBuf),
    /// The hex SHA-256 of the CA certificate (DER); `:` and a `sha256:`
    /// prefix are allowed, as the collector prints it.
    CaFingerprint(String),
}

fn invalid(reason: String) -> CliError {
    CliError::Trust { reason }
}

/// The agent's normalisation: no `sha256:` prefix, no colons, lowercase.
fn normalize(fingerprint: &str) -> String {
    let text = fingerprint.trim();
    let text = text.strip_prefix("sha256:").unwrap_or(text);
    text.replace(':', "").to_ascii_lowercase()
}

impl Trust {
    /// A rustls client configuration that verifies the collector by this trust.
    pub fn client_config(&self) -> Result<rustls::ClientConfig> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .map_err(|error| invalid(error.to_string()))?;
        let config = match self {
            Trust::Unset => {
                return Err(invalid(
                    "an https API URL needs the collector's CA: pass --ca-file PATH or \
                     --ca-fingerprint SHA256 (or set ROLLCALL_CA_FILE / ROLLCALL_CA_FINGERPRINT)"
                        .into(),
                ));
            }
            Trust::CaFile(path) => {
                let pem = std::fs::read(path)
                    .map_err(|error| invalid(format!("cannot read {}: {error}", path.display())))?;
                let mut roots = RootCertStore::empty();
                for certificate in CertificateDer::pem_slice_iter(&pem) {
                    let certificate = certificate
                        .map_err(|error| invalid(format!("{}: {error}", path.display())))?;
                    roots
                        .add(certificate)
                        .map_err(|error| invalid(format!("{}: {error}", path.display())))?;
                }
                if roots.is_empty() {
                    return Err(invalid(format!(
                        "{}: no certificate in PEM",
                        path.display()
                    )));
                }
                builder.with_root_certificates(roots).with_no_client_auth()
            }
            Trust::CaFingerprint(fingerprint) => {
                let expected = normalize(fingerprint);
                if expected.len() != 64 || !expected.bytes().all(|b| b.is_ascii_hexdigit()) {
                    return Err(invalid(format!(
                        "--ca-fingerprint {fingerprint:?} is not a hex SHA-256 (64 hex digits)"
                    )));
                }
                builder
                    .dangerous()
                    .with_custom_certificate_verifier(Arc::new(PinnedCa { expected, provider }))
                    .with_no_client_auth()
            }
        };
        Ok(config)
    }
}

/// Verifies a server chain against the CA certificate in it whose SHA-256
/// is the pinned one: full WebPKI verification (names, dates, signatures)
/// with that CA as the only root.
#[derive(Debug)]
struct PinnedCa {
    expected: String,
    provider: Arc<rustls::crypto::CryptoProvider>,
}

impl ServerCertVerifier for PinnedCa {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> std::result::Result<ServerCertVerified, rustls::Error> {
        let presented = std::iter::once(end_entity).chain(intermediates);
        let fingerprints: Vec<String> = presented
            .clone()
            .map(|certificate| crate::pki::fingerprint(certificate.as_ref()))
            .collect();
        let Some(ca) = presented
            .zip(&fingerprints)
            .find(|(_, fingerprint)| **fingerprint == self.expected)
            .map(|(certificate, _)| certificate.clone().into_owned())
        else {
            return Err(rustls::Error::General(format!(
                "CA fingerprint mismatch: the collector presented certificates with SHA-256 {}, \
                 none of which is the expected {}",
                fingerprints.join(", "),
                self.expected
            )));
        };
        let mut roots = RootCertStore::empty();
        roots.add(ca)?;
        let verifier =
            WebPkiServerVerifier::builder_with_provider(Arc::new(roots), self.provider.clone())
                .build()
                .map_err(|error| rustls::Error::General(error.to_string()))?;
        verifier.verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now)
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        certificate: &CertificateDer<'_>,
        signature: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            certificate,
            signature,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        certificate: &CertificateDer<'_>,
        signature: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            certificate,
            signature,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn https_needs_a_ca_and_a_fingerprint_must_be_sha256() {
        let error = Trust::Unset.client_config().unwrap_err().to_string();
        assert!(
            error.contains("--ca-file") && error.contains("--ca-fingerprint"),
            "{error}"
        );
        let error = Trust::CaFingerprint("abcd".into())
            .client_config()
            .unwrap_err()
            .to_string();
        assert!(error.contains("64 hex digits"), "{error}");
        let pinned = format!("sha256:{}", "AB:".repeat(31) + "AB");
        assert!(Trust::CaFingerprint(pinned).client_config().is_ok());
        let error = Trust::CaFile("/nonexistent/ca.pem".into())
            .client_config()
            .unwrap_err()
            .to_string();
        assert!(error.contains("/nonexistent/ca.pem"), "{error}");
    }
}
