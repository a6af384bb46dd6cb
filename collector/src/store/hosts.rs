//! Host CIs: identification and ownership at `Hello`, identity events,
//! listing, their items and installed software, lifecycle and tags
//! (`HostStore`, a part of `Store`).

use std::collections::BTreeMap;

use async_trait::async_trait;
use serde::Serialize;

use crate::cmdb::reconcile::HostIdentity;
use crate::cmdb::software::VersionCondition;
use crate::error::Result;

/// Most custom attributes one host may have.
pub const MAX_HOST_ATTRIBUTES: usize = 32;

/// A host CI as listed.
#[derive(Debug, Clone, Serialize, sqlx::FromRow, utoipa::ToSchema)]
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
    /// System vendor (DMI).
    pub vendor: String,
    /// System model (DMI).
    pub model: String,
    /// Hypervisor (`none`, `kvm`, `vmware`, …; empty when not reported).
    pub virtualization: String,
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

/// A text filter: exact (case-insensitive) or a glob with `*` and `?`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TextMatch {
    /// Equal, ignoring ASCII case.
    Exact(String),
    /// A LIKE pattern already translated from a glob, with `\` escapes,
    /// lower-cased.
    Like(String),
}

/// A column the host list may be sorted by (the allow-list of `sort=`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum HostSort {
    /// Host id (the default; the keyset tie-break of every other key).
    #[default]
    Id,
    /// Short host name.
    Hostname,
    /// Last seen.
    LastSeenAt,
    /// First seen.
    FirstSeenAt,
    /// Memory size.
    MemoryBytes,
    /// Operating system name.
    OsName,
    /// Installed package count.
    PackageCount,
}

impl HostSort {
    /// Every sort key with its name in `sort=`.
    pub const ALL: [(&'static str, HostSort); 7] = [
        ("id", HostSort::Id),
        ("hostname", HostSort::Hostname),
        ("last_seen_at", HostSort::LastSeenAt),
        ("first_seen_at", HostSort::FirstSeenAt),
        ("memory_bytes", HostSort::MemoryBytes),
        ("os_name", HostSort::OsName),
        ("package_count", HostSort::PackageCount),
    ];

    /// The name in `sort=` (also the column).
    pub fn name(self) -> &'static str {
        Self::ALL
            .iter()
            .find(|(_, sort)| *sort == self)
            .map_or("id", |(name, _)| name)
    }

    /// Whether the column holds numbers (else text).
    pub fn numeric(self) -> bool {
        matches!(
            self,
            HostSort::LastSeenAt
                | HostSort::FirstSeenAt
                | HostSort::MemoryBytes
                | HostSort::PackageCount
        )
    }
}

/// A value of the sort column in a keyset cursor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SortValue {
    /// A number column's value.
    Number(i64),
    /// A text column's value.
    Text(String),
}

/// Where the previous page ended: the last host's sort value and id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostCursor {
    /// The sort column's value of the last host (`None` when sorted by id).
    pub value: Option<SortValue>,
    /// The last host's id.
    pub id: String,
}

/// A software condition: hosts running package `name` at a version that
/// satisfies every condition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SoftwareFilter {
    /// Package name (exact).
    pub name: String,
    /// Version conditions, all of which must hold.
    pub conditions: Vec<VersionCondition>,
}

/// The host list's filters, all optional and combined with AND, answered
/// by the database; a page ordered by `sort` (then id) after `cursor`.
#[derive(Debug, Clone, Default)]
pub struct HostQuery {
    /// Host name or FQDN.
    pub name: Option<TextMatch>,
    /// CI class.
    pub class: Option<TextMatch>,
    /// Operating system name.
    pub os: Option<TextMatch>,
    /// Operating system version.
    pub os_version: Option<TextMatch>,
    /// Kernel release.
    pub kernel: Option<TextMatch>,
    /// Presence state (exact).
    pub presence: Option<String>,
    /// Lifecycle state (exact).
    pub lifecycle: Option<String>,
    /// Tags the host must all carry (exact).
    pub tags: Vec<String>,
    /// Custom attributes the host must all have with these values.
    pub attributes: Vec<(String, TextMatch)>,
    /// Business service (id or name) the host is a member of.
    pub service: Option<String>,
    /// Last seen strictly before (ms).
    pub last_seen_before: Option<i64>,
    /// Last seen at or after (ms).
    pub last_seen_after: Option<i64>,
    /// CPU model.
    pub cpu_model: Option<TextMatch>,
    /// At least this much memory (bytes).
    pub memory_min: Option<i64>,
    /// At most this much memory (bytes).
    pub memory_max: Option<i64>,
    /// System vendor.
    pub vendor: Option<TextMatch>,
    /// System model.
    pub model: Option<TextMatch>,
    /// DMI serial.
    pub serial: Option<TextMatch>,
    /// Hypervisor (`none` for bare metal).
    pub virtualization: Option<TextMatch>,
    /// An installed package (and version conditions).
    pub software: Option<SoftwareFilter>,
    /// A listening port (any protocol, any address).
    pub port: Option<u16>,
    /// A systemd unit in state `failed` (name or glob).
    pub failed_unit: Option<TextMatch>,
    /// Sort key.
    pub sort: HostSort,
    /// Descending order of the sort key (id stays ascending as tie-break).
    pub descending: bool,
    /// Where the previous page ended.
    pub cursor: Option<HostCursor>,
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
#[derive(Debug, Clone, Serialize, sqlx::FromRow, utoipa::ToSchema)]
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
    /// One page of the hosts `query` selects, filtered, ordered and paged
    /// by the database.
    async fn find_hosts(&self, query: &HostQuery) -> Result<Vec<Host>>;
    /// A host's custom attributes (name → value).
    async fn host_attributes(&self, host_id: &str) -> Result<BTreeMap<String, String>>;
    /// Changes a host's custom attributes: with `replace` the result is
    /// exactly the `Some` values of `changes`; without, each `Some` sets and
    /// each `None` removes one. Each attribute that changes is recorded in
    /// the host's history (class `host`, field `attr.<name>`) from
    /// `source` at `at`, in the same transaction. `None` for an unknown host.
    async fn update_host_attributes(
        &self,
        host_id: &str,
        changes: &BTreeMap<String, Option<String>>,
        replace: bool,
        at: i64,
        source: &str,
    ) -> Result<Option<BTreeMap<String, String>>>;
    /// Replaces a host's tags (comma-separated), recording a change (class
    /// `host`, field `tags`) from `source` at `at` when they differ; `false`
    /// for an unknown host.
    async fn set_host_tags(&self, host_id: &str, tags: &str, at: i64, source: &str)
    -> Result<bool>;
}
