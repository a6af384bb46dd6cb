//! Tokens (admin only): enrollment tokens that let agents enroll, and API
//! tokens with a role and an optional expiry. Secrets are returned once, at
//! creation; only their hashes are stored, and lists show neither. Both kinds
//! can be revoked, and each revocation is audited. On first start
//! `bootstrap_admin` creates the admin token.

use axum::extract::{Path, State as AxumState};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};

use super::Shared;
use super::auth::Admin;
use super::extract::Json;
use super::schemas;
use crate::auth::{self, Role};
use crate::error::{Error, Result};
use crate::store::{NewAuditEntry, NewEnrollmentToken, Revocable, Revocation, Store};

/// The longest an API token may live: ten years.
pub const MAX_API_TOKEN_LIFE_S: i64 = 3650 * 86_400;

/// Body of `POST /api/v1/enrollment-tokens`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewEnrollmentTokenRequest {
    /// Free text shown in the token list.
    #[serde(default)]
    #[schema(max_length = 256)]
    description: String,
    /// Default 1.
    #[schema(minimum = 1, maximum = 1000000)]
    max_uses: Option<i64>,
    /// Seconds until expiry; default one day.
    #[schema(minimum = 1, maximum = 31622400)]
    ttl_s: Option<i64>,
}

/// `POST /api/v1/enrollment-tokens`: 201 with the secret.
#[utoipa::path(
    post,
    path = "/api/v1/enrollment-tokens",
    operation_id = "create_enrollment_token",
    tag = "tokens",
    security(("bearer" = ["admin"])),
    request_body = NewEnrollmentTokenRequest,
    responses(
        (status = 201, description = "The token with its secret (shown once)", body = schemas::NewEnrollmentToken),
    ),
)]
pub(super) async fn create_enrollment_token(
    Admin(caller): Admin,
    AxumState(state): AxumState<Shared>,
    Json(request): Json<NewEnrollmentTokenRequest>,
) -> Result<Response> {
    let max_uses = request.max_uses.unwrap_or(1);
    if !(1..=1_000_000).contains(&max_uses) {
        return Err(Error::InvalidInput(
            "max_uses must be between 1 and 1000000".into(),
        ));
    }
    let ttl_s = request.ttl_s.unwrap_or(86_400);
    if !(1..=366 * 86_400).contains(&ttl_s) {
        return Err(Error::InvalidInput(
            "ttl_s must be between 1 second and 366 days".into(),
        ));
    }
    if request.description.len() > 256 {
        return Err(Error::InvalidInput(
            "description is longer than 256 bytes".into(),
        ));
    }
    let secret = auth::generate_secret("rcenr");
    let now = rollcall_proto::now_ms();
    let token = NewEnrollmentToken {
        id: auth::new_id(),
        token_hash: auth::hash_secret(&secret),
        description: request.description,
        max_uses,
        expires_at: now + ttl_s * 1000,
        created_at: now,
    };
    state.store.create_enrollment_token(&token).await?;
    state
        .store
        .audit(&NewAuditEntry {
            at: now,
            actor: caller.token_id,
            action: "create_enrollment_token",
            target: token.id.clone(),
            detail: format!("max_uses {max_uses}, expires_at {}", token.expires_at),
        })
        .await?;
    let body = json!({
        "id": token.id,
        "token": secret,
        "max_uses": max_uses,
        "expires_at": token.expires_at,
        "ca_fingerprint": state.pki.ca_fingerprint,
    });
    Ok((StatusCode::CREATED, axum::Json(body)).into_response())
}

/// `GET /api/v1/enrollment-tokens`.
#[utoipa::path(
    get,
    path = "/api/v1/enrollment-tokens",
    operation_id = "list_enrollment_tokens",
    tag = "tokens",
    security(("bearer" = ["admin"])),
    responses(
        (status = 200, description = "Every enrollment token", body = schemas::EnrollmentTokenList),
    ),
)]
pub(super) async fn list_enrollment_tokens(
    _admin: Admin,
    AxumState(state): AxumState<Shared>,
) -> Result<axum::Json<Value>> {
    Ok(axum::Json(
        json!({ "items": state.store.enrollment_tokens().await? }),
    ))
}

/// Body of `POST /api/v1/api-tokens`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewApiTokenRequest {
    /// Shown as the author of acknowledgements and comments.
    #[schema(min_length = 1, max_length = 128)]
    name: String,
    /// `viewer`, `operator` or `admin`.
    #[schema(value_type = super::schemas::RoleName)]
    role: String,
    /// Seconds until the token expires (at most ten years); no expiry when
    /// neither this nor `expires_at` is given.
    #[schema(minimum = 1, maximum = 315360000)]
    expires_in_s: Option<i64>,
    /// When the token expires (ms since the epoch), instead of `expires_in_s`.
    expires_at: Option<i64>,
}

/// The expiry (ms) a creation request asks for, checked against `now`.
fn api_token_expiry(request: &NewApiTokenRequest, now: i64) -> Result<Option<i64>> {
    let latest = now + MAX_API_TOKEN_LIFE_S * 1000;
    match (request.expires_in_s, request.expires_at) {
        (Some(_), Some(_)) => Err(Error::InvalidInput(
            "give expires_in_s or expires_at, not both".into(),
        )),
        (Some(seconds), None) if !(1..=MAX_API_TOKEN_LIFE_S).contains(&seconds) => {
            Err(Error::InvalidInput(format!(
                "expires_in_s must be between 1 and {MAX_API_TOKEN_LIFE_S} (ten years)"
            )))
        }
        (Some(seconds), None) => Ok(Some(now + seconds * 1000)),
        (None, Some(at)) if at <= now || at > latest => Err(Error::InvalidInput(
            "expires_at must be in the future and at most ten years away (ms since the epoch)"
                .into(),
        )),
        (None, at) => Ok(at),
    }
}

/// `POST /api/v1/api-tokens`: 201 with the secret.
#[utoipa::path(
    post,
    path = "/api/v1/api-tokens",
    operation_id = "create_api_token",
    tag = "tokens",
    security(("bearer" = ["admin"])),
    request_body = NewApiTokenRequest,
    responses(
        (status = 201, description = "The token with its secret (shown once)", body = schemas::NewApiToken),
    ),
)]
pub(super) async fn create_api_token(
    Admin(caller): Admin,
    AxumState(state): AxumState<Shared>,
    Json(request): Json<NewApiTokenRequest>,
) -> Result<Response> {
    let role = Role::parse(&request.role).ok_or_else(|| {
        Error::InvalidInput(format!(
            "role must be viewer, operator or admin, got {:?}",
            request.role
        ))
    })?;
    if request.name.trim().is_empty() || request.name.len() > 128 {
        return Err(Error::InvalidInput("name must be 1 to 128 bytes".into()));
    }
    let now = rollcall_proto::now_ms();
    let expires_at = api_token_expiry(&request, now)?;
    let secret = auth::generate_secret("rcapi");
    let id = auth::new_id();
    state
        .store
        .create_expiring_api_token(
            &id,
            &request.name,
            role.as_str(),
            &auth::hash_secret(&secret),
            now,
            expires_at,
        )
        .await?;
    state
        .store
        .audit(&NewAuditEntry {
            at: now,
            actor: caller.token_id,
            action: "create_api_token",
            target: id.clone(),
            detail: format!(
                "role {}, expires_at {}",
                role.as_str(),
                expires_at.map_or_else(|| "never".to_string(), |at| at.to_string())
            ),
        })
        .await?;
    Ok((
        StatusCode::CREATED,
        axum::Json(json!({ "id": id, "token": secret, "role": role, "expires_at": expires_at })),
    )
        .into_response())
}

/// `GET /api/v1/api-tokens`: every token with its role, expiry and
/// revocation; never a secret or a hash.
#[utoipa::path(
    get,
    path = "/api/v1/api-tokens",
    operation_id = "list_api_tokens",
    tag = "tokens",
    security(("bearer" = ["admin"])),
    responses(
        (status = 200, description = "Every API token", body = schemas::ApiTokenList),
    ),
)]
pub(super) async fn list_api_tokens(
    _admin: Admin,
    AxumState(state): AxumState<Shared>,
) -> Result<axum::Json<Value>> {
    Ok(axum::Json(
        json!({ "items": state.store.api_tokens().await? }),
    ))
}

/// `POST /api/v1/api-tokens/{id}/revoke`: refused with 401 from then on.
#[utoipa::path(
    post,
    path = "/api/v1/api-tokens/{id}/revoke",
    operation_id = "revoke_api_token",
    tag = "tokens",
    security(("bearer" = ["admin"])),
    params(("id" = String, Path, description = "API token id")),
    responses(
        (status = 200, description = "Revoked", body = schemas::Revoked),
    ),
)]
pub(super) async fn revoke_api_token(
    Admin(caller): Admin,
    AxumState(state): AxumState<Shared>,
    Path(id): Path<String>,
) -> Result<axum::Json<Value>> {
    revoke(&state, Revocable::ApiToken, id, caller.token_id).await
}

/// `POST /api/v1/enrollment-tokens/{id}/revoke`: no agent enrolls with it
/// from then on.
#[utoipa::path(
    post,
    path = "/api/v1/enrollment-tokens/{id}/revoke",
    operation_id = "revoke_enrollment_token",
    tag = "tokens",
    security(("bearer" = ["admin"])),
    params(("id" = String, Path, description = "Enrollment token id")),
    responses(
        (status = 200, description = "Revoked", body = schemas::Revoked),
    ),
)]
pub(super) async fn revoke_enrollment_token(
    Admin(caller): Admin,
    AxumState(state): AxumState<Shared>,
    Path(id): Path<String>,
) -> Result<axum::Json<Value>> {
    revoke(&state, Revocable::EnrollmentToken, id, caller.token_id).await
}

async fn revoke(
    state: &Shared,
    what: Revocable,
    id: String,
    by: String,
) -> Result<axum::Json<Value>> {
    let revocation = Revocation {
        what,
        id,
        by,
        at: rollcall_proto::now_ms(),
    };
    if !state.store.revoke(&revocation).await? {
        let kind = match what {
            Revocable::ApiToken => "API token",
            Revocable::EnrollmentToken => "enrollment token",
            Revocable::Agent => "agent",
        };
        return Err(Error::NotFound(format!(
            "{kind} {} (or already revoked)",
            revocation.id
        )));
    }
    tracing::warn!(action = what.action(), id = %revocation.id, by = %revocation.by, "revoked");
    Ok(axum::Json(json!({ "revoked": revocation.id })))
}

/// Creates the admin token on first start; returns its secret once.
pub async fn bootstrap_admin(store: &dyn Store) -> Result<Option<String>> {
    if store.api_token_count().await? > 0 {
        return Ok(None);
    }
    let secret = auth::generate_secret("rcapi");
    store
        .create_api_token(
            &auth::new_id(),
            "bootstrap admin",
            Role::Admin.as_str(),
            &auth::hash_secret(&secret),
            rollcall_proto::now_ms(),
        )
        .await?;
    Ok(Some(secret))
}
