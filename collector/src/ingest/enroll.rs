//! Enrolment: an agent with an enrollment token and a CSR gets a signed
//! client certificate and an agent id. Attempts are limited per source
//! address and globally, the token is checked before anything is signed,
//! and refusals are counted and logged in aggregate
//! (`metrics::enroll`).

use std::net::IpAddr;
use std::sync::atomic::Ordering;

use rollcall_proto::v1::{EnrollRequest, EnrollResponse};

use crate::auth::{self, hash_secret};
use crate::error::{Error, Result};
use crate::metrics::enroll::Refusal;
use crate::pki::{fingerprint, pem_to_der};
use crate::state::State;
use crate::store::{EnrollRefusal, NewAgent};

/// Longest accepted CSR, in bytes.
pub const MAX_CSR_BYTES: usize = 16 * 1024;
/// Longest accepted hostname, in bytes.
pub const MAX_HOSTNAME_BYTES: usize = 255;
/// Longest accepted agent version, in bytes.
pub const MAX_VERSION_BYTES: usize = 64;

/// Enrolls the agent that sent `request` from `source`, or says why not.
///
/// In order: the source's limit, then the global one (so one source's
/// attempts cannot spend more than its share of the global limit), the
/// request's shape, the token (checked, not yet redeemed), the signature,
/// and last the redemption of one use together with the agent's record. A
/// CSR that cannot be signed therefore costs no use of the token; a token
/// used up between check and redemption leaves a signed certificate that no
/// agent record names, which the gRPC port refuses.
pub async fn enroll(
    state: &State,
    source: IpAddr,
    request: EnrollRequest,
) -> Result<EnrollResponse> {
    state.metrics.families.enroll_attempts.inc();
    let refuse = |reason: Refusal, error: Error| {
        state.metrics.enroll.refused(reason);
        Err(error)
    };
    if state.enroll_source_limiter.check(source).is_err() {
        return refuse(
            Refusal::SourceRateLimited,
            Error::RateLimited(
                "too many enrollment attempts from this address; retry in a few seconds".into(),
            ),
        );
    }
    if state.enroll_limiter.check().is_err() {
        return refuse(
            Refusal::GlobalRateLimited,
            Error::RateLimited("too many enrollment attempts; retry in a few seconds".into()),
        );
    }
    if request.token.trim().is_empty() {
        return refuse(
            Refusal::InvalidRequest,
            Error::InvalidInput("an enrollment token is required".into()),
        );
    }
    if request.csr_pem.len() > MAX_CSR_BYTES
        || request.hostname.len() > MAX_HOSTNAME_BYTES
        || request.agent_version.len() > MAX_VERSION_BYTES
    {
        return refuse(
            Refusal::InvalidRequest,
            Error::InvalidInput("enrollment request fields are too long".into()),
        );
    }
    let token_hash = hash_secret(&request.token);
    let enrolled_at = rollcall_proto::now_ms();
    if let Err(refusal) = state
        .store
        .check_enrollment_token(&token_hash, enrolled_at)
        .await?
    {
        return refuse(refusal_reason(&refusal), refusal_error(refusal));
    }
    let agent_id = auth::new_id();
    let certificate_pem = match state.pki.sign_agent_request_for(
        &request.csr_pem,
        &agent_id,
        state.config.agents.certificate_validity(),
    ) {
        Ok(pem) => pem,
        Err(error) => return refuse(Refusal::InvalidRequest, error),
    };
    state.metrics.enroll.signed.fetch_add(1, Ordering::Relaxed);
    let der = pem_to_der(&certificate_pem)?;
    let agent = NewAgent {
        id: agent_id.clone(),
        cert_fingerprint: fingerprint(&der),
        hostname: request.hostname.clone(),
        version: request.agent_version.clone(),
        enrolled_at,
    };
    match state
        .metrics
        .families
        .time_store(
            "enroll_agent",
            state.store.enroll_agent(&token_hash, &agent),
        )
        .await?
    {
        Ok(()) => {
            state
                .metrics
                .enroll
                .enrolled
                .fetch_add(1, Ordering::Relaxed);
            tracing::info!(agent_id = %agent_id, hostname = %request.hostname, "agent enrolled");
            Ok(EnrollResponse {
                agent_id,
                certificate_pem,
                ca_certificate_pem: state.pki.ca_cert_pem().to_string(),
            })
        }
        Err(refusal) => refuse(refusal_reason(&refusal), refusal_error(refusal)),
    }
}

/// The metrics label of a token refusal.
fn refusal_reason(refusal: &EnrollRefusal) -> Refusal {
    match refusal {
        EnrollRefusal::Unknown => Refusal::UnknownToken,
        EnrollRefusal::Revoked => Refusal::RevokedToken,
        EnrollRefusal::Expired => Refusal::ExpiredToken,
        EnrollRefusal::UsedUp(_) => Refusal::UsedUpToken,
    }
}

/// The status a token refusal answers with.
fn refusal_error(refusal: EnrollRefusal) -> Error {
    match refusal {
        EnrollRefusal::Unknown | EnrollRefusal::Revoked => {
            Error::Unauthenticated(refusal.to_string())
        }
        EnrollRefusal::Expired | EnrollRefusal::UsedUp(_) => {
            Error::PermissionDenied(refusal.to_string())
        }
    }
}
