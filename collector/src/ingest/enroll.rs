//! Enrolment: an agent with an enrollment token and a CSR gets a signed
//! client certificate and an agent id, under a global attempt limit.

use rollcall_proto::v1::{EnrollRequest, EnrollResponse};

use crate::auth::{self, hash_secret};
use crate::error::{Error, Result};
use crate::pki::{fingerprint, pem_to_der};
use crate::state::State;
use crate::store::{EnrollRefusal, NewAgent};

/// Longest accepted CSR, in bytes.
pub const MAX_CSR_BYTES: usize = 16 * 1024;
/// Longest accepted hostname, in bytes.
pub const MAX_HOSTNAME_BYTES: usize = 255;
/// Longest accepted agent version, in bytes.
pub const MAX_VERSION_BYTES: usize = 64;

/// Enrolls the agent that sent `request`, or says why not.
pub async fn enroll(state: &State, request: EnrollRequest) -> Result<EnrollResponse> {
    if state.enroll_limiter.check().is_err() {
        return Err(Error::RateLimited(
            "too many enrollment attempts; retry in a few seconds".into(),
        ));
    }
    if request.token.trim().is_empty() {
        return Err(Error::InvalidInput(
            "an enrollment token is required".into(),
        ));
    }
    if request.csr_pem.len() > MAX_CSR_BYTES
        || request.hostname.len() > MAX_HOSTNAME_BYTES
        || request.agent_version.len() > MAX_VERSION_BYTES
    {
        return Err(Error::InvalidInput(
            "enrollment request fields are too long".into(),
        ));
    }
    let agent_id = auth::new_id();
    let certificate_pem = state.pki.sign_agent_request_for(
        &request.csr_pem,
        &agent_id,
        state.config.agents.certificate_validity(),
    )?;
    let der = pem_to_der(&certificate_pem)?;
    let agent = NewAgent {
        id: agent_id.clone(),
        cert_fingerprint: fingerprint(&der),
        hostname: request.hostname.clone(),
        version: request.agent_version.clone(),
        enrolled_at: rollcall_proto::now_ms(),
    };
    match state
        .store
        .enroll_agent(&hash_secret(&request.token), &agent)
        .await?
    {
        Ok(()) => {
            tracing::info!(agent_id = %agent_id, hostname = %request.hostname, "agent enrolled");
            Ok(EnrollResponse {
                agent_id,
                certificate_pem,
                ca_certificate_pem: state.pki.ca_cert_pem().to_string(),
            })
        }
        Err(refusal) => {
            tracing::warn!(hostname = %request.hostname, reason = %refusal, "enrollment refused");
            Err(match refusal {
                EnrollRefusal::Unknown | EnrollRefusal::Revoked => {
                    Error::Unauthenticated(refusal.to_string())
                }
                EnrollRefusal::Expired | EnrollRefusal::UsedUp(_) => {
                    Error::PermissionDenied(refusal.to_string())
                }
            })
        }
    }
}
