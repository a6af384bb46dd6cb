//! Who is calling: the bearer token of a request resolved to a [`Caller`],
//! and the extractors that demand a role ([`Operator`], [`Admin`]) before a
//! handler reads its body.

use axum::extract::FromRequestParts;
use axum::http::header;
use axum::http::request::Parts;

use super::Shared;
use crate::auth::{self, Role};
use crate::error::{Error, Result};

/// The authenticated caller (any role).
#[derive(Debug, Clone)]
pub struct Caller {
    /// Token id.
    pub token_id: String,
    /// Token name (shown as author of acknowledgements and comments).
    pub token_name: String,
    /// The token's role.
    pub role: Role,
}

impl Caller {
    /// `PermissionDenied` unless the caller's role includes `role`.
    pub fn require(&self, role: Role) -> Result<()> {
        if self.role >= role {
            Ok(())
        } else {
            Err(Error::PermissionDenied(format!(
                "this needs the {} role; the token has {}",
                role.as_str(),
                self.role.as_str()
            )))
        }
    }
}

impl FromRequestParts<Shared> for Caller {
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, state: &Shared) -> Result<Self> {
        let header = parts.headers.get(header::AUTHORIZATION).ok_or_else(|| {
            Error::Unauthenticated("missing Authorization: Bearer <token> header".into())
        })?;
        let token = header
            .to_str()
            .ok()
            .and_then(|value| value.strip_prefix("Bearer "))
            .filter(|token| !token.trim().is_empty())
            .ok_or_else(|| {
                Error::Unauthenticated("Authorization header must be `Bearer <token>`".into())
            })?;
        let stored = state
            .store
            .api_token_by_hash(&auth::hash_secret(token))
            .await?
            .ok_or_else(|| {
                Error::Unauthenticated("API token is not valid or was revoked".into())
            })?;
        if stored.expired(rollcall_proto::now_ms()) {
            return Err(Error::Unauthenticated("API token expired".into()));
        }
        let role = Role::parse(&stored.role)
            .ok_or_else(|| Error::Internal(format!("token {} has unknown role", stored.id)))?;
        Ok(Caller {
            token_id: stored.id,
            token_name: stored.name,
            role,
        })
    }
}

/// A caller with at least the operator role. Extracted from the request
/// head, so a viewer is refused (403) before any body is parsed.
#[derive(Debug, Clone)]
pub struct Operator(pub Caller);

impl FromRequestParts<Shared> for Operator {
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, state: &Shared) -> Result<Self> {
        let caller = Caller::from_request_parts(parts, state).await?;
        caller.require(Role::Operator)?;
        Ok(Operator(caller))
    }
}

/// A caller with the admin role, refused (403) before any body is parsed.
#[derive(Debug, Clone)]
pub struct Admin(pub Caller);

impl FromRequestParts<Shared> for Admin {
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, state: &Shared) -> Result<Self> {
        let caller = Caller::from_request_parts(parts, state).await?;
        caller.require(Role::Admin)?;
        Ok(Admin(caller))
    }
}
