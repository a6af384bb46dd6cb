//! Tokens (admin only): enrollment tokens that let agents enroll, and API
//! tokens with a role. Secrets are returned once, at creation; only their
//! hashes are stored. On first start `bootstrap_admin` creates the admin token.

use axum::extract::State as AxumState;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};

use super::Shared;
use super::auth::Admin;
use super::extract::Json;
use crate::auth::{self, Role};
use crate::error::{Error, Result};
use crate::store::{NewEnrollmentToken, Store};

/// Body of `POST /api/v1/enrollment-tokens`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewEnrollmentTokenRequest {
    /// Free text shown in the token list.
    #[serde(default)]
    description: String,
    /// Default 1.
    max_uses: Option<i64>,
    /// Seconds until expiry; default one day.
    ttl_s: Option<i64>,
}

/// `POST /api/v1/enrollment-tokens`: 201 with the secret.
pub(super) async fn create_enrollment_token(
    _admin: Admin,
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
pub(super) async fn list_enrollment_tokens(
    _admin: Admin,
    AxumState(state): AxumState<Shared>,
) -> Result<axum::Json<Value>> {
    Ok(axum::Json(
        json!({ "items": state.store.enrollment_tokens().await? }),
    ))
}

/// Body of `POST /api/v1/api-tokens`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewApiTokenRequest {
    /// Shown as the author of acknowledgements and comments.
    name: String,
    /// `viewer`, `operator` or `admin`.
    role: String,
}

/// `POST /api/v1/api-tokens`: 201 with the secret.
pub(super) async fn create_api_token(
    _admin: Admin,
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
    let secret = auth::generate_secret("rcapi");
    let id = auth::new_id();
    state
        .store
        .create_api_token(
            &id,
            &request.name,
            role.as_str(),
            &auth::hash_secret(&secret),
            rollcall_proto::now_ms(),
        )
        .await?;
    Ok((
        StatusCode::CREATED,
        axum::Json(json!({ "id": id, "token": secret, "role": role })),
    )
        .into_response())
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
