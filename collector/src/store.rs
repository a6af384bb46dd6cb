//! Persistence: the `Store` trait used by the rest of the collector as
//! `Arc<dyn Store>`, its row types, and the SQL backend that serves both
//! SQLite (embedded default, WAL) and PostgreSQL.

pub mod availability;
pub mod outbox;
pub mod sql;
mod writer;

use async_trait::async_trait;
use serde::Serialize;

use crate::cmdb::diff::CiItem;
use crate::cmdb::reconcile::HostIdentity;
use crate::error::Result;

/// Which database a store runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Backend {
    /// Embedded SQLite.
    Sqlite,
    /// PostgreSQL.
    Postgres,
}

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

/// A host CI as listed.
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct Host {
    /// Host CI id.
    pub id: String,
    /// Short host name.
    pub hostname: String,
    /// Fully qualified name.
    pub fqdn: String,
    /// CI class (`linux_server`, …).
    pub class: String,
    /// `/etc/machine-id`.
    pub machine_id: String,
    /// DMI product UUID.
    pub dmi_uuid: String,
    /// DMI serial.
    pub dmi_serial: String,
    /// Comma-separated primary MACs.
    pub macs: String,
    /// Operating system name.
    pub os_name: String,
    /// Operating system version.
    pub os_version: String,
    /// Kernel release.
    pub kernel: String,
    /// Architecture.
    pub arch: String,
    /// CPU model.
    pub cpu_model: String,
    /// Hardware threads.
    pub cpu_threads: i64,
    /// Memory in bytes.
    pub memory_bytes: i64,
    /// Installed packages.
    pub package_count: i64,
    /// `active`, `stale` or `retired`.
    pub lifecycle: String,
    /// Presence state.
    pub presence: String,
    /// Agent reporting for this host.
    pub agent_id: Option<String>,
    /// The identification rule that last matched.
    pub match_rule: String,
    /// Another host this one may duplicate (ambiguous identification).
    pub possible_duplicate_of: Option<String>,
    /// First seen (ms).
    pub first_seen_at: i64,
    /// Last seen (ms).
    pub last_seen_at: i64,
    /// Last inventory applied (ms).
    pub last_inventory_at: Option<i64>,
    /// Comma-separated tags.
    pub tags: String,
    /// Deadline of a planned absence.
    pub away_until: Option<i64>,
    /// Reason of a planned absence.
    pub away_reason: Option<String>,
}

impl Host {
    /// Tags as a list.
    pub fn tags_list(&self) -> Vec<String> {
        self.tags
            .split(',')
            .map(str::trim)
            .filter(|tag| !tag.is_empty())
            .map(String::from)
            .collect()
    }
}

/// A stored configuration item of a host.
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct ItemRow {
    /// CMDB class.
    pub class: String,
    /// Key inside the class.
    pub item_key: String,
    /// Display name.
    pub name: String,
    /// JSON attributes.
    pub attrs: String,
    /// First seen (ms).
    pub first_seen_at: i64,
    /// Last changed (ms).
    pub updated_at: i64,
}

/// One history record.
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct Change {
    /// Record id.
    pub id: i64,
    /// Host CI id.
    pub host_id: String,
    /// CMDB class.
    pub class: String,
    /// Item key.
    pub item_key: String,
    /// `added`, `removed` or `changed`.
    pub change: String,
    /// Changed attribute.
    pub field: String,
    /// Old value (JSON).
    pub old_value: Option<String>,
    /// New value (JSON).
    pub new_value: Option<String>,
    /// When (ms).
    pub at: i64,
    /// Source (agent id or `collector`).
    pub source: String,
}

/// Filters for listing hosts.
#[derive(Debug, Clone, Default)]
pub struct HostFilter {
    /// Substring of the host name or FQDN.
    pub name: Option<String>,
    /// Exact lifecycle state.
    pub lifecycle: Option<String>,
    /// Only hosts with an id greater than this (cursor).
    pub after: Option<String>,
    /// Page size.
    pub limit: i64,
}

/// One installed package on one host.
#[derive(Debug, Clone, Serialize)]
pub struct SoftwareRow {
    /// Host id.
    pub host_id: String,
    /// Package name.
    pub name: String,
    /// Installed version.
    pub version: String,
    /// Architecture.
    pub arch: String,
    /// `dpkg`, `rpm` or `apk`.
    pub manager: String,
}

/// Filters for change history.
#[derive(Debug, Clone, Default)]
pub struct ChangeFilter {
    /// One host, or the whole fleet.
    pub host_id: Option<String>,
    /// From (ms, inclusive).
    pub since: Option<i64>,
    /// Until (ms, exclusive).
    pub until: Option<i64>,
    /// Only this CI class (`software`, `host`, …).
    pub class: Option<String>,
    /// Only this item key (with `class`: one CI).
    pub item_key: Option<String>,
    /// Only records with an id greater than this (cursor).
    pub after_id: Option<i64>,
    /// Page size.
    pub limit: i64,
}

/// Where an incoming inventory should land.
#[derive(Debug, Clone)]
pub struct ApplyContext {
    /// Reporting agent.
    pub agent_id: String,
    /// Its host CI.
    pub host_id: String,
    /// Message sequence number (idempotency).
    pub seq: i64,
    /// Receive time (ms).
    pub at: i64,
}

/// An inventory change set, already flattened to CMDB items.
#[derive(Debug, Clone, Default)]
pub struct InventoryChange {
    /// Whether `items` is the whole inventory (snapshot).
    pub full: bool,
    /// Items (all for a snapshot; upserts for a delta).
    pub items: Vec<CiItem>,
    /// (class, key) removed by a delta.
    pub removed: Vec<(String, String)>,
}

/// What applying a change set did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ApplyOutcome {
    /// The sequence number was already applied: nothing written.
    pub duplicate: bool,
    /// Items added.
    pub added: usize,
    /// Items changed.
    pub changed: usize,
    /// Items removed.
    pub removed: usize,
}

/// The result of identifying a host at `Hello`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Attachment {
    /// Host CI id.
    pub host_id: String,
    /// Rule that matched (`agent`, `dmi_uuid+serial`, …, or `new`).
    pub rule: String,
    /// Whether a new host CI was created.
    pub created: bool,
    /// Flagged possible duplicate, when identification was ambiguous.
    pub possible_duplicate_of: Option<String>,
}

/// A heartbeat or other liveness signal to record in a batch.
#[derive(Debug, Clone)]
pub struct Seen {
    /// Agent id.
    pub agent_id: String,
    /// Host CI id.
    pub host_id: String,
    /// Highest sequence number applied by this signal.
    pub seq: i64,
    /// When (ms).
    pub at: i64,
}

impl Seen {
    /// A liveness signal of `agent_id` for `host_id`.
    pub fn new(agent_id: &str, host_id: &str, seq: i64, at: i64) -> Self {
        Self {
            agent_id: agent_id.to_string(),
            host_id: host_id.to_string(),
            seq,
            at,
        }
    }
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

/// The collector's storage.
#[async_trait]
pub trait Store:
    availability::AvailabilityStore + outbox::OutboxStore + Send + Sync + std::fmt::Debug
{
    /// Which database this is.
    fn backend(&self) -> Backend;

    /// Stores a new API token (by hash).
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

    /// Stores a new enrollment token.
    async fn create_enrollment_token(&self, token: &NewEnrollmentToken) -> Result<()>;
    /// Lists enrollment tokens.
    async fn enrollment_tokens(&self) -> Result<Vec<EnrollmentToken>>;
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

    /// Identifies (or creates) the host CI of an agent's identity.
    async fn attach_host(
        &self,
        agent_id: &str,
        identity: &HostIdentity,
        hostname: &str,
        at: i64,
    ) -> Result<Attachment>;
    /// Applies an inventory change set atomically and idempotently by (agent, seq).
    async fn apply_inventory(
        &self,
        context: &ApplyContext,
        change: InventoryChange,
    ) -> Result<ApplyOutcome>;
    /// Records liveness signals in one batch (sequence numbers and last seen).
    async fn record_seen(&self, batch: &[Seen]) -> Result<()>;
    /// Stores a health sample, idempotently by (agent, seq).
    async fn record_health(
        &self,
        context: &ApplyContext,
        sampled_at: i64,
        data: &str,
    ) -> Result<bool>;

    /// Lists hosts.
    async fn hosts(&self, filter: &HostFilter) -> Result<Vec<Host>>;
    /// One host.
    async fn host(&self, host_id: &str) -> Result<Option<Host>>;
    /// The configuration items of a host.
    async fn host_items(&self, host_id: &str) -> Result<Vec<ItemRow>>;
    /// Change history.
    async fn changes(&self, filter: &ChangeFilter) -> Result<Vec<Change>>;
    /// Installed packages, of one name or all, on hosts not retired.
    async fn software(&self, name: Option<&str>) -> Result<Vec<SoftwareRow>>;
    /// Moves hosts not seen for `stale_after_ms` to `stale` and for
    /// `retire_after_ms` to `retired`, recording each change; returns how
    /// many became stale and retired. Nothing is deleted.
    async fn update_lifecycle(
        &self,
        now: i64,
        stale_after_ms: i64,
        retire_after_ms: i64,
    ) -> Result<(usize, usize)>;
    /// Recent health samples of a host, newest first: (sampled_at, JSON).
    async fn health_samples(&self, host_id: &str, limit: i64) -> Result<Vec<(i64, String)>>;
}
