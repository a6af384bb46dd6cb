//! Certificate renewal: at two thirds of its certificate's life the agent
//! generates a new key, sends its CSR over `Renew` (authenticated by the
//! current certificate) and stores the new key and certificate, like
//! kubelet's client-certificate rotation. The open session is kept (its TLS
//! connection was authenticated once); the next connection presents the new
//! certificate, and from then on the collector refuses the old one. Until
//! then the old one stays accepted, so an agent that fails to store the new
//! files still connects and renews again.
//!
//! "Two thirds of its life" is measured from when the agent looks at the
//! certificate: the collector back-dates `not_before` for clock skew, so
//! `not_before` says nothing about when it was issued. A fresh certificate
//! (after enrolment or renewal) is renewed after two thirds of its life; an
//! agent restarted mid-life renews after two thirds of what is left.
//!
//! Files: the new pair is written as `key.pem.new` and `cert.pem.new` (mode
//! 0600, synced) and then renamed over the old ones, key first; a crash
//! between the renames is finished by [`crate::enroll::finish_interrupted`] at the next load.

use std::path::Path;
use std::time::Duration;

use rcgen::{CertificateParams, DistinguishedName, DnType, KeyPair};
use rollcall_proto::v1::RenewRequest;
use rollcall_proto::v1::rollcall_client::RollcallClient;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use crate::enroll::{self, Credentials, finish_interrupted};
use crate::error::{Error, Result};

/// Shortest wait before a renewal attempt, so a very short or expired
/// certificate cannot make the agent spin.
const MIN_WAIT: Duration = Duration::from_secs(1);
/// Longest wait after a failed attempt.
const MAX_RETRY: Duration = Duration::from_secs(300);

/// When the certificate `cert_pem` expires, in ms since the epoch.
pub fn not_after_ms(cert_pem: &str) -> Result<i64> {
    let pem = pem::parse(cert_pem)
        .map_err(|error| Error::Config(format!("agent certificate is not PEM: {error}")))?;
    let (_, certificate) = x509_parser::parse_x509_certificate(pem.contents())
        .map_err(|error| Error::Config(format!("agent certificate cannot be parsed: {error}")))?;
    Ok(certificate
        .validity()
        .not_after
        .timestamp()
        .saturating_mul(1000))
}

/// How long to wait, from `now_ms`, before renewing a certificate that
/// expires at `not_after_ms`: two thirds of the remaining life.
pub fn renew_after(now_ms: i64, not_after_ms: i64) -> Duration {
    let remaining = u64::try_from(not_after_ms.saturating_sub(now_ms)).unwrap_or(0);
    Duration::from_millis(remaining / 3 * 2).max(MIN_WAIT)
}

/// Renews the certificate at two thirds of its life, again and again, until
/// `shutdown`; each new pair is stored in `state_dir` and published on
/// `credentials` for the next connection. Stops for good when the
/// collector says the agent is revoked.
pub(crate) async fn renewal_loop(
    state_dir: std::path::PathBuf,
    endpoints: Vec<String>,
    credentials: watch::Sender<Credentials>,
    shutdown: CancellationToken,
) {
    let mut retry = Duration::from_secs(5);
    loop {
        let current = credentials.borrow().clone();
        let wait = match not_after_ms(&current.cert_pem) {
            Ok(not_after) => renew_after(rollcall_proto::now_ms(), not_after),
            Err(error) => {
                tracing::error!(error = %error, "cannot read the certificate's expiry; not renewing");
                return;
            }
        };
        tracing::debug!(wait_s = wait.as_secs(), "certificate renewal scheduled");
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            _ = shutdown.cancelled() => return,
        }
        match renew_once(&state_dir, &endpoints, &current).await {
            Ok(renewed) => {
                retry = Duration::from_secs(5);
                tracing::info!("agent certificate renewed");
                credentials.send_replace(renewed);
            }
            Err(error @ Error::Revoked(_)) => {
                tracing::error!(error = %error, "certificate renewal refused; not renewing");
                return;
            }
            Err(error) => {
                tracing::warn!(error = %error, retry_s = retry.as_secs(), "certificate renewal failed; retrying");
                tokio::select! {
                    _ = tokio::time::sleep(retry) => {}
                    _ = shutdown.cancelled() => return,
                }
                retry = (retry * 2).min(MAX_RETRY);
            }
        }
    }
}

/// One renewal against the first endpoint that answers.
async fn renew_once(
    state_dir: &Path,
    endpoints: &[String],
    current: &Credentials,
) -> Result<Credentials> {
    let key =
        KeyPair::generate().map_err(|error| Error::Enroll(format!("key generation: {error}")))?;
    let mut params = CertificateParams::default();
    let mut name = DistinguishedName::new();
    name.push(DnType::CommonName, current.enrollment.agent_id.as_str());
    params.distinguished_name = name;
    let csr_pem = params
        .serialize_request(&key)
        .and_then(|csr| csr.pem())
        .map_err(|error| Error::Enroll(format!("certificate request: {error}")))?;
    let mut last_error = Error::Connect("no collector endpoint to renew with".into());
    for url in endpoints {
        let channel = match enroll::channel(
            url,
            &current.ca_pem,
            Some((&current.cert_pem, &current.key_pem)),
        )
        .await
        {
            Ok(channel) => channel,
            Err(error) => {
                last_error = error;
                continue;
            }
        };
        let answer = RollcallClient::new(channel)
            .renew(RenewRequest {
                csr_pem: csr_pem.clone(),
            })
            .await;
        match answer {
            Ok(response) => {
                let response = response.into_inner();
                let key_pem = key.serialize_pem();
                store(state_dir, &key_pem, &response.certificate_pem)?;
                return Ok(Credentials {
                    cert_pem: response.certificate_pem,
                    key_pem,
                    ..current.clone()
                });
            }
            Err(status) if status.code() == tonic::Code::PermissionDenied => {
                return Err(Error::Revoked(status.message().to_string()));
            }
            Err(status) => {
                last_error = Error::Connect(format!("{url}: renew: {}", status.message()));
            }
        }
    }
    Err(last_error)
}

/// Stores a renewed pair: both written in full beside the old ones, then
/// renamed over them.
fn store(state_dir: &Path, key_pem: &str, cert_pem: &str) -> Result<()> {
    let (key_next, cert_next) = (
        state_dir.join("key.pem.new"),
        state_dir.join("cert.pem.new"),
    );
    enroll::write_private(&key_next, key_pem)?;
    enroll::write_private(&cert_next, cert_pem)?;
    finish_interrupted(state_dir)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn renewal_comes_at_two_thirds_of_the_remaining_life() {
        assert_eq!(renew_after(0, 60_000), Duration::from_secs(40));
        assert_eq!(
            renew_after(1_000, 1_000 + 365 * 86_400_000),
            Duration::from_millis(365 * 86_400_000 / 3 * 2)
        );
        assert_eq!(renew_after(10_000, 5_000), MIN_WAIT, "expired: at once");
        assert_eq!(
            renew_after(i64::MIN, i64::MAX),
            Duration::from_millis(i64::MAX as u64 / 3 * 2),
            "no overflow at the extremes: the remaining life saturates"
        );
    }

    #[test]
    fn the_expiry_is_read_from_the_certificate() {
        let key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::new(vec!["agent".to_string()]).unwrap();
        params.not_after = rcgen::date_time_ymd(2030, 1, 2);
        let cert = params.self_signed(&key).unwrap();
        assert_eq!(not_after_ms(&cert.pem()).unwrap(), 1_893_542_400_000);
        assert!(not_after_ms("not a certificate").is_err());
    }

    #[test]
    fn an_interrupted_renewal_rolls_forward_or_back() {
        let dir = tempfile::tempdir().unwrap();
        let path = |name: &str| dir.path().join(name);
        let read = |name: &str| std::fs::read_to_string(path(name)).unwrap();
        std::fs::write(path("key.pem"), "old key").unwrap();
        std::fs::write(path("cert.pem"), "old cert").unwrap();
        // Crashed after the key was renamed: the certificate follows.
        std::fs::write(path("key.pem"), "new key").unwrap();
        std::fs::write(path("cert.pem.new"), "new cert").unwrap();
        finish_interrupted(dir.path()).unwrap();
        assert_eq!(
            (read("key.pem"), read("cert.pem")),
            ("new key".into(), "new cert".into())
        );
        // Crashed before the certificate was written: the old pair stands.
        std::fs::write(path("key.pem.new"), "newer key").unwrap();
        finish_interrupted(dir.path()).unwrap();
        assert_eq!(read("key.pem"), "new key");
        assert!(!path("key.pem.new").exists());
        store(dir.path(), "k3", "c3").unwrap();
        assert_eq!(
            (read("key.pem"), read("cert.pem")),
            ("k3".into(), "c3".into())
        );
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(path("key.pem"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }
}
