//! Certificate renewal (`Renew`): an agent authenticated by its current
//! client certificate sends a CSR for a new key and gets a fresh certificate
//! for the same agent id. The store records the new fingerprint and keeps
//! the presented one as `previous_fingerprint`, accepted until a session
//! opens with the new certificate (or until it expires), so an agent that
//! fails to save the new files can still connect and renew again. A revoked
//! agent is refused.

use rollcall_proto::v1::{RenewRequest, RenewResponse};

use super::enroll::MAX_CSR_BYTES;
use crate::error::{Error, Result};
use crate::pki::{fingerprint, pem_to_der};
use crate::state::State;
use crate::store::Agent;

/// Signs a new certificate for `agent`, which presented the certificate
/// whose fingerprint is `presented`.
pub async fn renew(
    state: &State,
    agent: &Agent,
    presented: &str,
    request: RenewRequest,
) -> Result<RenewResponse> {
    if agent.revoked_at.is_some() {
        return Err(revoked(agent));
    }
    if request.csr_pem.is_empty() || request.csr_pem.len() > MAX_CSR_BYTES {
        return Err(Error::InvalidInput(format!(
            "csr_pem must be 1 to {MAX_CSR_BYTES} bytes"
        )));
    }
    let validity = state.config.agents.certificate_validity();
    let certificate_pem =
        state
            .pki
            .sign_agent_request_for(&request.csr_pem, &agent.id, validity)?;
    let renewed = fingerprint(&pem_to_der(&certificate_pem)?);
    if !state
        .store
        .renew_agent_certificate(&agent.id, presented, &renewed)
        .await?
    {
        // Revoked between authentication and now.
        return Err(revoked(agent));
    }
    let not_after_ms = rollcall_proto::now_ms()
        .saturating_add(i64::try_from(validity.as_millis()).unwrap_or(i64::MAX));
    tracing::info!(agent_id = %agent.id, fingerprint = %renewed, "agent certificate renewed");
    Ok(RenewResponse {
        certificate_pem,
        not_after_ms,
    })
}

fn revoked(agent: &Agent) -> Error {
    Error::PermissionDenied(format!(
        "agent {} has been revoked and cannot renew its certificate",
        agent.id
    ))
}
