//! API tokens, enrollment tokens and agents: who may call the API and which
//! agents may stream (`TokenStore` and `AgentStore`, parts of `Store`).

use async_trait::async_trait;
use serde::Serialize;

use crate::error::Result;

/// An API token as stored (the secret itself is never stored).
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct ApiToken {
    /// Token id.
    pub id: String,
    /// Name given at creation.
    pub name: String,
    /// `viewer`, `operator` or `admin`.
    pub role: String,
    /// Creation time (ms).
    pub created_at: i64,
    /// Revocation time (ms), if revoked.
    pub revoked_at: Option<i64>,
}

/// A new enrollment token.
#[derive(Debug, Clone)]
pub struct NewEnrollmentToken {
    /// Token id.
    pub id: String,
    /// SHA-256 of the secret.
    pub token_hash: String,
    /// Free text.
    pub description: String,
    /// How many agents may enroll with it.
    pub max_uses: i64,
    /// Expiry (ms).
    pub expires_at: i64,
    /// Creation time (ms).
    pub created_at: i64,
}

/// An enrollment token as stored.
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct EnrollmentToken {
    /// Token id.
    pub id: String,
    /// Free text.
    pub description: String,
    /// Allowed uses.
    pub max_uses: i64,
    /// Uses so far.
    pub uses: i64,
    /// Expiry (ms).
    pub expires_at: i64,
    /// Creation time (ms).
    pub created_at: i64,
    /// Revocation time (ms).
    pub revoked_at: Option<i64>,
}

/// A newly enrolled agent.
#[derive(Debug, Clone)]
pub struct NewAgent {
    /// Agent id (the certificate CN).
    pub id: String,
    /// SHA-256 of the agent certificate (DER).
    pub cert_fingerprint: String,
    /// Host name the agent reported at enrollment.
    pub hostname: String,
    /// Agent version.
    pub version: String,
    /// Enrollment time (ms).
    pub enrolled_at: i64,
}

/// An agent as stored.
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct Agent {
    /// Agent id.
    pub id: String,
    /// Certificate fingerprint.
    pub cert_fingerprint: String,
    /// Host name at enrollment.
    pub hostname: String,
    /// Enrollment time (ms).
    pub enrolled_at: i64,
    /// The host CI the agent reports for.
    pub host_id: Option<String>,
    /// Highest applied message sequence number.
    pub last_seq: i64,
    /// Last message time (ms).
    pub last_seen_at: Option<i64>,
    /// Agent version.
    pub version: String,
    /// Revocation time (ms).
    pub revoked_at: Option<i64>,
}

/// Why enrollment was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EnrollRefusal {
    /// No such token.
    #[error("enrollment token is not valid")]
    Unknown,
    /// Past expiry.
    #[error("enrollment token expired")]
    Expired,
    /// All uses consumed.
    #[error("enrollment token has been used up ({0} of {0} uses)")]
    UsedUp(i64),
    /// Revoked by an operator.
    #[error("enrollment token was revoked")]
    Revoked,
}

/// API tokens and enrollment tokens.
#[async_trait]
pub trait TokenStore {
    /// Stores a new API token (by hash); `Conflict` if its id or hash exists.
    async fn create_api_token(
        &self,
        id: &str,
        name: &str,
        role: &str,
        token_hash: &str,
        at: i64,
    ) -> Result<()>;
    /// Finds a live API token by the hash of its secret.
    async fn api_token_by_hash(&self, token_hash: &str) -> Result<Option<ApiToken>>;
    /// Number of API tokens ever created.
    async fn api_token_count(&self) -> Result<i64>;

    /// Stores a new enrollment token; `Conflict` if its id or hash exists.
    async fn create_enrollment_token(&self, token: &NewEnrollmentToken) -> Result<()>;
    /// Lists enrollment tokens.
    async fn enrollment_tokens(&self) -> Result<Vec<EnrollmentToken>>;
}

/// Enrolled agents.
#[async_trait]
pub trait AgentStore {
    /// Whether the token could enroll an agent at `at` (known, not revoked,
    /// not expired, a use left), without consuming a use: enrolment checks
    /// this before it signs anything, then redeems with [`Self::enroll_agent`].
    async fn check_enrollment_token(
        &self,
        token_hash: &str,
        at: i64,
    ) -> Result<std::result::Result<(), EnrollRefusal>>;
    /// Consumes one use of a token and records the agent, atomically.
    async fn enroll_agent(
        &self,
        token_hash: &str,
        agent: &NewAgent,
    ) -> Result<std::result::Result<(), EnrollRefusal>>;
    /// Finds an agent by its certificate fingerprint.
    async fn agent_by_fingerprint(&self, fingerprint: &str) -> Result<Option<Agent>>;
    /// Finds an agent by id.
    async fn agent(&self, agent_id: &str) -> Result<Option<Agent>>;
    /// Revokes an agent: its sessions are refused from now on.
    async fn revoke_agent(&self, agent_id: &str, at: i64) -> Result<bool>;
}
