//! Host CIs: identification and ownership at `Hello`, identity events,
//! listing, their items and installed software, lifecycle and tags
//! (`HostStore`, a part of `Store`).

use async_trait::async_trait;
use serde::Serialize;

use crate::cmdb::reconcile::HostIdentity;
use crate::cmdb::software::VersionCondition;
use crate::error::Result;

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

/// Hosts with a package, or with one version of it (`software_counts`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SoftwareCount {
    /// Package name.
    pub name: String,
    /// The version (per-version counts only).
    pub version: Option<String>,
    /// The package manager (per-version counts only).
    pub manager: Option<String>,
    /// Distinct hosts.
    pub hosts: i64,
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

/// A recorded identity event: an identity that matched a CI owned by
/// another agent (`conflict`, or `takeover` when the owner was revoked or
/// silent), or that matched several CIs (`ambiguous`).
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct IdentityEvent {
    /// Event id (increasing).
    pub id: i64,
    /// The host CI the identity matched.
    pub host_id: String,
    /// The CI created for the claimant instead (conflict, ambiguous).
    pub new_host_id: Option<String>,
    /// `conflict`, `takeover` or `ambiguous`.
    pub kind: String,
    /// The identification rule that matched (`machine_id`, …).
    pub rule: String,
    /// Why (`owner_live`, `owner_recent`, `owner_revoked`, `owner_silent`, …).
    pub reason: String,
    /// The identifiers the claimant sent (JSON object).
    pub identifiers: String,
    /// The CI's owner at the time.
    pub old_agent_id: Option<String>,
    /// The agent that made the claim.
    pub new_agent_id: String,
    /// When (ms).
    pub at: i64,
}

/// Filters for listing identity events.
#[derive(Debug, Clone, Default)]
pub struct IdentityEventFilter {
    /// Events about one host: as the CI matched or as the CI created.
    pub host_id: Option<String>,
    /// Only this kind.
    pub kind: Option<String>,
    /// Only events with an id greater than this (cursor).
    pub after_id: Option<i64>,
    /// Page size.
    pub limit: i64,
}

/// Host CIs.
#[async_trait]
pub trait HostStore {
    /// Identifies (or creates) the host CI of an agent's identity without
    /// enforcing ownership: a CI owned by another agent that is not revoked
    /// is taken over however recently its owner was heard (recorded as a
    /// `takeover` event with reason `not_enforced`). Ingest uses
    /// [`HostStore::claim_host`].
    async fn attach_host(
        &self,
        agent_id: &str,
        identity: &HostIdentity,
        hostname: &str,
        at: i64,
    ) -> Result<Attachment> {
        self.claim_host(agent_id, identity, hostname, at, None)
            .await
    }
    /// Identifies (or creates) the host CI of an agent's identity, enforcing
    /// ownership (`cmdb::reconcile::claim`): a CI owned by another agent that
    /// is live or was heard within `takeover_after_ms` is not taken over; the
    /// claimant gets a new CI flagged `possible_duplicate_of` and a
    /// `conflict` event is recorded. `None` enforces nothing.
    async fn claim_host(
        &self,
        agent_id: &str,
        identity: &HostIdentity,
        hostname: &str,
        at: i64,
        takeover_after_ms: Option<i64>,
    ) -> Result<Attachment>;
    /// Identity events, oldest first.
    async fn identity_events(&self, filter: &IdentityEventFilter) -> Result<Vec<IdentityEvent>>;
    /// Lists hosts.
    async fn hosts(&self, filter: &HostFilter) -> Result<Vec<Host>>;
    /// One host.
    async fn host(&self, host_id: &str) -> Result<Option<Host>>;
    /// The configuration items of a host.
    async fn host_items(&self, host_id: &str) -> Result<Vec<ItemRow>>;
    /// Installed packages, of one name or all, on hosts not retired.
    async fn software(&self, name: Option<&str>) -> Result<Vec<SoftwareRow>>;
    /// One page of the hosts that `filter` selects, are not retired and run
    /// package `name` at a version satisfying every condition (by the
    /// reporting package manager's ordering), selected by the database
    /// from the catalogue's rank index.
    async fn hosts_running(
        &self,
        filter: &HostFilter,
        name: &str,
        conditions: &[VersionCondition],
    ) -> Result<Vec<Host>>;
    /// Distinct hosts (not retired) per package name, or with `name` per
    /// (version, manager) of that package; in no particular order.
    async fn software_counts(&self, name: Option<&str>) -> Result<Vec<SoftwareCount>>;
    /// Moves hosts not seen for `stale_after_ms` to `stale` and for
    /// `retire_after_ms` to `retired`, and stale hosts seen again within
    /// `stale_after_ms` back to `active`, recording each change; returns how
    /// many became stale and the ids of those retired (so presence can
    /// retire them too). Nothing is deleted.
    async fn update_lifecycle(
        &self,
        now: i64,
        stale_after_ms: i64,
        retire_after_ms: i64,
    ) -> Result<(usize, Vec<String>)>;
    /// Replaces a host's tags (comma-separated).
    async fn set_host_tags(&self, host_id: &str, tags: &str) -> Result<bool>;
}
