//! The collector's certificate authority: created on first start in the data
//! directory (or supplied by the operator), the server certificate agents see,
//! and signing of agent certificate requests at enrollment.

use std::path::{Path, PathBuf};

use rcgen::{
    BasicConstraints, CertificateParams, CertificateSigningRequestParams, DistinguishedName,
    DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair, KeyUsagePurpose, SanType,
};
use sha2::{Digest, Sha256};

use crate::config::TlsConfig;
use crate::error::{Error, Result};

/// The CA and server identity in PEM form.
pub struct Pki {
    ca_cert_pem: String,
    ca_key_pem: String,
    /// PEM of the server certificate chain (server certificate, then the CA).
    pub server_chain_pem: String,
    /// PEM of the server's private key.
    pub server_key_pem: String,
    /// Hex SHA-256 of the CA certificate (DER); agents pin it at enrollment.
    pub ca_fingerprint: String,
}

impl std::fmt::Debug for Pki {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pki")
            .field("ca_fingerprint", &self.ca_fingerprint)
            .finish_non_exhaustive()
    }
}

/// Hex SHA-256 of DER bytes (certificate fingerprints).
pub fn fingerprint(der: &[u8]) -> String {
    hex::encode(Sha256::digest(der))
}

fn read(path: &Path) -> Result<String> {
    std::fs::read_to_string(path)
        .map_err(|error| Error::Pki(format!("cannot read {}: {error}", path.display())))
}

fn write_private(path: &Path, contents: &str) -> Result<()> {
    crate::files::write_private(path, contents.as_bytes())
        .map_err(|error| Error::Pki(format!("cannot write {}: {error}", path.display())))
}

/// DER bytes of the first certificate in a PEM text.
pub fn pem_to_der(pem_text: &str) -> Result<Vec<u8>> {
    use rustls::pki_types::{CertificateDer, pem::PemObject};
    CertificateDer::from_pem_slice(pem_text.as_bytes())
        .map(|der| der.to_vec())
        .map_err(|error| Error::Pki(format!("no valid certificate in PEM: {error}")))
}

impl Pki {
    /// Loads the CA from config or `data_dir`, creating one on first start,
    /// and issues a fresh server certificate for `server_names` unless the
    /// operator supplied one.
    pub fn load_or_create(
        data_dir: &Path,
        tls: &TlsConfig,
        server_names: &[String],
    ) -> Result<Self> {
        crate::files::private_dir(data_dir).map_err(|error| {
            Error::Pki(format!("cannot create {}: {error}", data_dir.display()))
        })?;
        let (ca_cert_pem, ca_key_pem) = match (&tls.ca_cert, &tls.ca_key) {
            (Some(cert), Some(key)) => (read(cert)?, read(key)?),
            _ => {
                let cert_path: PathBuf = data_dir.join("ca.pem");
                let key_path = data_dir.join("ca-key.pem");
                if cert_path.exists() && key_path.exists() {
                    for path in [&key_path, &cert_path] {
                        crate::files::tighten(path, crate::files::FILE_MODE)?;
                    }
                    (read(&cert_path)?, read(&key_path)?)
                } else {
                    let (cert, key) = create_ca()?;
                    write_private(&key_path, &key)?;
                    write_private(&cert_path, &cert)?;
                    tracing::info!(path = %cert_path.display(), "created collector certificate authority");
                    (cert, key)
                }
            }
        };
        let ca_fingerprint = fingerprint(&pem_to_der(&ca_cert_pem)?);
        let (server_chain_pem, server_key_pem) = match (&tls.server_cert, &tls.server_key) {
            (Some(cert), Some(key)) => (read(cert)?, read(key)?),
            _ => {
                let key = KeyPair::from_pem(&ca_key_pem)?;
                let issuer = Issuer::from_ca_cert_pem(&ca_cert_pem, key)?;
                let (cert, key) = issue_server_certificate(&issuer, server_names)?;
                (format!("{cert}{ca_cert_pem}"), key)
            }
        };
        Ok(Self {
            ca_cert_pem,
            ca_key_pem,
            server_chain_pem,
            server_key_pem,
            ca_fingerprint,
        })
    }

    /// The CA certificate in PEM form.
    pub fn ca_cert_pem(&self) -> &str {
        &self.ca_cert_pem
    }

    /// Signs an agent's certificate request: the certificate names `agent_id`
    /// (CN) and is valid for client authentication only.
    pub fn sign_agent_request(
        &self,
        csr_pem: &str,
        agent_id: &str,
        validity_days: u32,
    ) -> Result<String> {
        let validity = std::time::Duration::from_secs(u64::from(validity_days) * 86_400);
        self.sign_agent_request_for(csr_pem, agent_id, validity)
    }

    /// Signs an agent's CSR for `validity` from now: CN = agent id, client auth only.
    pub fn sign_agent_request_for(
        &self,
        csr_pem: &str,
        agent_id: &str,
        validity: std::time::Duration,
    ) -> Result<String> {
        let request = CertificateSigningRequestParams::from_pem(csr_pem).map_err(|error| {
            Error::InvalidInput(format!("certificate signing request is not valid: {error}"))
        })?;
        let mut params = CertificateParams::default();
        let mut name = DistinguishedName::new();
        name.push(DnType::CommonName, agent_id);
        name.push(DnType::OrganizationName, "Rollcall agent");
        params.distinguished_name = name;
        params.is_ca = IsCa::ExplicitNoCa;
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        let now = time_now();
        params.not_before = now - std::time::Duration::from_secs(300);
        params.not_after = now + validity;
        params.serial_number = Some(rcgen::SerialNumber::from_slice(&rand::random::<[u8; 16]>()));
        let signing = CertificateSigningRequestParams {
            params,
            public_key: request.public_key,
        };
        let key = KeyPair::from_pem(&self.ca_key_pem)?;
        let issuer = Issuer::from_ca_cert_pem(&self.ca_cert_pem, key)?;
        Ok(signing.signed_by(&issuer)?.pem())
    }
}

fn time_now() -> time::OffsetDateTime {
    time::OffsetDateTime::now_utc()
}

fn create_ca() -> Result<(String, String)> {
    let key = KeyPair::generate()?;
    let mut params = CertificateParams::default();
    let mut name = DistinguishedName::new();
    name.push(DnType::CommonName, "Rollcall collector CA");
    name.push(DnType::OrganizationName, "Rollcall");
    params.distinguished_name = name;
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    let now = time_now();
    params.not_before = now - std::time::Duration::from_secs(300);
    params.not_after = now + std::time::Duration::from_secs(20 * 365 * 86_400);
    let cert = params.self_signed(&key)?;
    Ok((cert.pem(), key.serialize_pem()))
}

fn issue_server_certificate(
    issuer: &Issuer<'_, KeyPair>,
    server_names: &[String],
) -> Result<(String, String)> {
    let key = KeyPair::generate()?;
    let mut names: Vec<String> = vec!["localhost".into(), "127.0.0.1".into(), "::1".into()];
    if let Ok(hostname) = std::fs::read_to_string("/proc/sys/kernel/hostname") {
        names.push(hostname.trim().to_string());
    }
    names.extend(server_names.iter().cloned());
    names.retain(|name| !name.is_empty());
    names.dedup();
    let mut params = CertificateParams::default();
    params.subject_alt_names = names
        .iter()
        .map(|name| match name.parse::<std::net::IpAddr>() {
            Ok(ip) => Ok(SanType::IpAddress(ip)),
            Err(_) => name.clone().try_into().map(SanType::DnsName).map_err(|_| {
                Error::Config(format!("server name {name:?} is not a valid DNS name"))
            }),
        })
        .collect::<Result<_>>()?;
    let mut name = DistinguishedName::new();
    name.push(DnType::CommonName, "Rollcall collector");
    params.distinguished_name = name;
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    params.key_usages = vec![
        KeyUsagePurpose::DigitalSignature,
        KeyUsagePurpose::KeyEncipherment,
    ];
    let now = time_now();
    params.not_before = now - std::time::Duration::from_secs(300);
    params.not_after = now + std::time::Duration::from_secs(365 * 86_400);
    let cert = params.signed_by(&key, issuer)?;
    Ok((cert.pem(), key.serialize_pem()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ca_is_created_once_and_reused() {
        let dir = tempfile::tempdir().unwrap();
        let first = Pki::load_or_create(dir.path(), &TlsConfig::default(), &[]).unwrap();
        let second = Pki::load_or_create(dir.path(), &TlsConfig::default(), &[]).unwrap();
        assert_eq!(first.ca_fingerprint, second.ca_fingerprint);
        assert_eq!(first.ca_fingerprint.len(), 64);
    }

    #[test]
    fn operator_supplied_ca_is_used_and_half_a_pair_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let (cert, key) = create_ca().unwrap();
        let (cert_path, key_path) = (
            dir.path().join("op-ca.pem"),
            dir.path().join("op-ca-key.pem"),
        );
        std::fs::write(&cert_path, &cert).unwrap();
        std::fs::write(&key_path, &key).unwrap();
        let tls = TlsConfig {
            ca_cert: Some(cert_path),
            ca_key: Some(key_path),
            ..TlsConfig::default()
        };
        let pki = Pki::load_or_create(&dir.path().join("data"), &tls, &[]).unwrap();
        assert_eq!(pki.ca_cert_pem(), cert);
        assert_eq!(pki.ca_fingerprint, fingerprint(&pem_to_der(&cert).unwrap()));
        assert!(
            !dir.path().join("data/ca.pem").exists(),
            "no CA of its own is created"
        );
        let missing = TlsConfig {
            ca_cert: Some(dir.path().join("nope.pem")),
            ca_key: Some(dir.path().join("nope-key.pem")),
            ..TlsConfig::default()
        };
        let error = Pki::load_or_create(&dir.path().join("other"), &missing, &[])
            .unwrap_err()
            .to_string();
        assert!(error.contains("nope.pem"), "{error}");
    }

    #[test]
    fn signs_a_valid_request_and_rejects_garbage() {
        let dir = tempfile::tempdir().unwrap();
        let pki = Pki::load_or_create(
            dir.path(),
            &TlsConfig::default(),
            &["collector.example".into()],
        )
        .unwrap();
        let key = KeyPair::generate().unwrap();
        let csr = CertificateParams::default()
            .serialize_request(&key)
            .unwrap()
            .pem()
            .unwrap();
        let cert = pki.sign_agent_request(&csr, "agent-1", 30).unwrap();
        assert!(cert.starts_with("-----BEGIN CERTIFICATE-----"));
        let error = pki
            .sign_agent_request("not a csr", "agent-1", 30)
            .unwrap_err();
        assert!(matches!(error, Error::InvalidInput(_)));
    }
}
