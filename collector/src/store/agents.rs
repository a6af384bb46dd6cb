//! API tokens, enrollment tokens and agents: who may call the API and which
//! agents may stream (`TokenStore` and `AgentStore`, parts of `Store`).

use async_trait::async_trait;
use serde::Serialize;

use crate::error::Result;

/// An API token as stored (the secret itself is never stored).
#[derive(Debug, Clone, Serialize, sqlx::FromRow, utoipa::ToSchema)]
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
    /// Expiry (ms); `None` for a token that does not expire.
    pub expires_at: Option<i64>,
}

impl ApiToken {
    /// Whether the token is past its expiry at `now` (ms).
    pub fn expired(&self, now: i64) -> bool {
        self.expires_at.is_some_and(|expires_at| expires_at <= now)
    }
}

/// What a revocation applies to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Revocable {
    /// An agent: its certificate is refused and its sessions end.
    Agent,
    /// An API token: refused with 401 from then on.
    ApiToken,
    /// An enrollment token: no agent can enroll with it any more.
    EnrollmentToken,
}

impl Revocable {
    /// The action recorded in the audit log.
    pub fn action(self) -> &'static str {
        match self {
            Revocable::Agent => "revoke_agent",
            Revocable::ApiToken => "revoke_api_token",
            Revocable::EnrollmentToken => "revoke_enrollment_token",
        }
    }
}

/// One revocation, audited in the same transaction that makes it.
#[derive(Debug, Clone)]
pub struct Revocation {
    /// What is revoked.
    pub what: Revocable,
    /// Its id.
    pub id: String,
    /// Who revoked it: the caller's API token id.
    pub by: String,
    /// When (ms).
    pub at: i64,
}

/// An audit log entry.
#[derive(Debug, Clone, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct AuditEntry {
    /// Entry id (increasing).
    pub id: i64,
    /// When (ms).
    pub at: i64,
    /// Who: the API token id of the caller.
    pub actor: String,
    /// What was done (`revoke_agent`, `revoke_api_token`, …).
    pub action: String,
    /// The id of what it was done to.
    pub target: String,
    /// Free text.
    pub detail: String,
}

/// An audit entry to record (revocations record their own, in `revoke`).
#[derive(Debug, Clone)]
pub struct NewAuditEntry {
    /// When (ms).
    pub at: i64,
    /// Who: the API token id of the caller.
    pub actor: String,
    /// What was done (`create_api_token`, `create_enrollment_token`, …).
    pub action: &'static str,
    /// The id of what it was done to.
    pub target: String,
    /// Free text.
    pub detail: String,
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
#[derive(Debug, Clone, Serialize, sqlx::FromRow, utoipa::ToSchema)]
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
#[derive(Debug, Clone, Serialize, sqlx::FromRow, utoipa::ToSchema)]
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
    /// The fingerprint of the certificate a renewal replaced; accepted until
    /// a session opens with the new one.
    pub previous_fingerprint: Option<String>,
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
    ) -> Result<()> {
        self.create_expiring_api_token(id, name, role, token_hash, at, None)
            .await
    }
    /// Stores a new API token that expires at `expires_at` (ms), or never.
    async fn create_expiring_api_token(
        &self,
        id: &str,
        name: &str,
        role: &str,
        token_hash: &str,
        at: i64,
        expires_at: Option<i64>,
    ) -> Result<()>;
    /// Lists API tokens (never their hashes), oldest first.
    async fn api_tokens(&self) -> Result<Vec<ApiToken>>;
    /// Finds an unrevoked API token by the hash of its secret (the caller
    /// checks its expiry, to say why it is refused).
    async fn api_token_by_hash(&self, token_hash: &str) -> Result<Option<ApiToken>>;
    /// Number of API tokens ever created.
    async fn api_token_count(&self) -> Result<i64>;

    /// Stores a new enrollment token; `Conflict` if its id or hash exists.
    async fn create_enrollment_token(&self, token: &NewEnrollmentToken) -> Result<()>;
    /// Lists enrollment tokens.
    async fn enrollment_tokens(&self) -> Result<Vec<EnrollmentToken>>;

    /// Revokes an agent or a token and records it in the audit log, in one
    /// transaction; false when there is no such unrevoked one.
    async fn revoke(&self, revocation: &Revocation) -> Result<bool>;
    /// The audit log, newest first, at most `limit` entries with ids below
    /// `before` (all when `None`).
    async fn audit_log(&self, before: Option<i64>, limit: i64) -> Result<Vec<AuditEntry>>;
    /// Records an action that is not a revocation in the audit log.
    async fn audit(&self, entry: &NewAuditEntry) -> Result<()>;
    /// Audit entries with ids above `after`, oldest first, at most `limit`:
    /// how each collector of a group learns of revocations served by another.
    async fn audit_after(&self, after: i64, limit: i64) -> Result<Vec<AuditEntry>>;
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
    /// Finds an agent by its certificate fingerprint (the current one, or
    /// the one a renewal replaced until the new one is used).
    async fn agent_by_fingerprint(&self, fingerprint: &str) -> Result<Option<Agent>>;
    /// Finds an agent by id.
    async fn agent(&self, agent_id: &str) -> Result<Option<Agent>>;
    /// Every enrolled agent, revoked ones included, by id.
    async fn agents(&self) -> Result<Vec<Agent>>;
    /// Records the version an agent reported in its `Hello` (an upgraded
    /// agent keeps its enrolment, so the enrolment-time version goes stale).
    async fn set_agent_version(&self, agent_id: &str, version: &str) -> Result<()>;
    /// Revokes an agent: its sessions are refused from now on.
    async fn revoke_agent(&self, agent_id: &str, at: i64) -> Result<bool>;
    /// Renewal: the unrevoked agent that presented the certificate
    /// `presented` now has the certificate `renewed`; `presented` stays
    /// accepted until `retire_previous_certificate`. False when the agent is
    /// revoked or `presented` is neither of its certificates.
    async fn renew_agent_certificate(
        &self,
        agent_id: &str,
        presented: &str,
        renewed: &str,
    ) -> Result<bool>;
    /// The agent's renewed certificate `current` is in use: the one it
    /// replaced is refused from now on.
    async fn retire_previous_certificate(&self, agent_id: &str, current: &str) -> Result<()>;
}
