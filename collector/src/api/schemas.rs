//! The shapes of the JSON answers that handlers assemble with `json!`
//! (envelopes, rows with derived columns), for the OpenAPI document. Rows
//! that are a store type serialised as it is use that type's own schema
//! (`store::Host`, `store::Incident`, …). The schemathesis end-to-end test
//! checks live answers against these shapes.

#![allow(dead_code)] // fields are read by the schema derive only

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::{Map, Value};
use utoipa::{IntoParams, ToSchema};

use crate::availability::fleet::{HostAvailability, ServiceAvailability};
use crate::availability::period::PeriodReport;
use crate::integrations::Outcome;
use crate::store::{
    Agent, ApiToken, AuditEntry, BusinessService, Change, Comment, EnrollmentToken, Host,
    IdentityEvent, Incident, MaintenanceWindow, Relationship,
};

/// A page of a list: the rows and the cursor of the next page (null on
/// the last page). With `format=csv` the same rows are CSV and the cursor
/// is the `x-next-cursor` header.
macro_rules! page {
    ($name:ident, $row:ty, $what:literal) => {
        #[doc = concat!("A page of ", $what, ".")]
        #[derive(Debug, Serialize, ToSchema)]
        #[serde(deny_unknown_fields)]
        pub struct $name {
            /// The rows.
            items: Vec<$row>,
            /// The `cursor` of the next page; null when this is the last.
            next_cursor: Option<String>,
        }
    };
}

/// A list that is not paged: every row at once.
macro_rules! all {
    ($name:ident, $row:ty, $what:literal) => {
        #[doc = concat!("Every ", $what, ".")]
        #[derive(Debug, Serialize, ToSchema)]
        #[serde(deny_unknown_fields)]
        pub struct $name {
            /// The rows.
            items: Vec<$row>,
        }
    };
}

/// A host row of the host list: the fields of a host (all of them, or
/// those `fields=` selects); with `as_of` the summary columns as they were
/// then, the moment and no identifiers.
#[derive(Debug, Serialize, ToSchema)]
pub struct HostRow {
    id: Option<String>,
    hostname: Option<String>,
    fqdn: Option<String>,
    class: Option<String>,
    machine_id: Option<String>,
    dmi_uuid: Option<String>,
    dmi_serial: Option<String>,
    macs: Option<String>,
    os_name: Option<String>,
    os_version: Option<String>,
    kernel: Option<String>,
    arch: Option<String>,
    cpu_model: Option<String>,
    cpu_threads: Option<i64>,
    memory_bytes: Option<i64>,
    package_count: Option<i64>,
    lifecycle: Option<String>,
    presence: Option<String>,
    agent_id: Option<String>,
    match_rule: Option<String>,
    possible_duplicate_of: Option<String>,
    first_seen_at: Option<i64>,
    last_seen_at: Option<i64>,
    last_inventory_at: Option<i64>,
    tags: Option<String>,
    away_until: Option<i64>,
    away_reason: Option<String>,
    vendor: Option<String>,
    model: Option<String>,
    virtualization: Option<String>,
    /// The moment of an `as_of` list (ms).
    as_of: Option<i64>,
}

page!(HostPage, HostRow, "hosts");
page!(ChangePage, Change, "history records");
page!(IdentityEventPage, IdentityEvent, "identity events");
page!(AuditPage, AuditEntry, "audit entries, newest first");
page!(AgentPage, AgentRow, "agents");
page!(OutagePage, OutageRow, "outages");
page!(IncidentPage, Incident, "incidents");
page!(SoftwarePage, SoftwareRow, "the software catalogue");
page!(OutboxPage, OutboxRow, "outbox entries");
page!(
    HealthSamplePage,
    HealthSample,
    "health samples, newest first"
);
all!(EnrollmentTokenList, EnrollmentToken, "enrollment token");
all!(
    ApiTokenList,
    ApiToken,
    "API token (never a secret or a hash)"
);
all!(MaintenanceList, MaintenanceWindow, "maintenance window");
all!(ServiceList, ServiceRow, "business service with its members");
all!(RelationshipList, Relationship, "relationship");
all!(IntegrationList, IntegrationRow, "integration target");

/// One inventory section: an object for a singleton section (`os`,
/// `system`, …), a list of items for the others.
#[derive(Debug, Serialize, ToSchema)]
#[serde(untagged)]
pub enum InventorySection {
    /// A singleton section's attributes.
    One(Map<String, Value>),
    /// The items of a section.
    Many(Vec<Map<String, Value>>),
}

/// `GET /hosts/{id}`: the host, its attributes, its inventory by section
/// and its latest health sample; with `as_of`, the inventory then and the
/// moment instead of attributes and health.
#[derive(Debug, Serialize, ToSchema)]
pub struct HostDetail {
    host: Host,
    /// Custom attributes (absent with `as_of`).
    attributes: Option<BTreeMap<String, String>>,
    /// The inventory by section.
    inventory: BTreeMap<String, InventorySection>,
    /// The latest health sample (null without one; absent with `as_of`).
    health: Option<Map<String, Value>>,
    /// The moment asked for (ms; only with `as_of`).
    as_of: Option<i64>,
}

/// An item added or removed between two moments.
#[derive(Debug, Serialize, ToSchema)]
pub struct DiffItem {
    /// The item key.
    key: String,
    /// Its attributes.
    attrs: Value,
}

/// One attribute's values at the two moments (null where absent).
#[derive(Debug, Serialize, ToSchema)]
pub struct DiffValues {
    old: Value,
    new: Value,
}

/// An item changed between two moments: the attributes that differ.
#[derive(Debug, Serialize, ToSchema)]
pub struct DiffChanged {
    /// The item key.
    key: String,
    /// Attribute → old and new value.
    fields: BTreeMap<String, DiffValues>,
}

/// One section's differences.
#[derive(Debug, Serialize, ToSchema)]
pub struct SectionDiff {
    added: Vec<DiffItem>,
    removed: Vec<DiffItem>,
    changed: Vec<DiffChanged>,
}

/// `GET /hosts/{id}/diff`.
#[derive(Debug, Serialize, ToSchema)]
pub struct HostDiff {
    host_id: String,
    /// ms since the epoch.
    from: i64,
    /// ms since the epoch.
    to: i64,
    /// Section → its differences (sections without any are left out).
    sections: BTreeMap<String, SectionDiff>,
}

/// A host's custom attributes.
#[derive(Debug, Serialize, ToSchema)]
pub struct HostAttributes {
    host_id: String,
    /// Name → value.
    attributes: BTreeMap<String, String>,
}

/// A host's tags after an update.
#[derive(Debug, Serialize, ToSchema)]
pub struct HostTags {
    host_id: String,
    tags: Vec<String>,
}

/// One raw health sample.
#[derive(Debug, Serialize, ToSchema)]
pub struct HealthSample {
    /// When it was taken (ms).
    sampled_at: i64,
    /// The sample as the agent reported it (null if it cannot be decoded).
    sample: Option<Map<String, Value>>,
}

/// One point of a health series: `start`, `count` and for each metric of
/// `metrics` its `<metric>_min`, `_avg` and `_max` (null without samples).
#[derive(Debug, Serialize, ToSchema)]
pub struct HealthPoint {
    /// Start of the step (ms).
    start: i64,
    /// Samples merged into it.
    count: i64,
    /// `<metric>_min`, `<metric>_avg`, `<metric>_max` for every metric.
    #[serde(flatten)]
    stats: BTreeMap<String, Option<f64>>,
}

/// `GET /hosts/{id}/health?step=`: a series of points.
#[derive(Debug, Serialize, ToSchema)]
pub struct HealthSeries {
    host_id: String,
    since: i64,
    until: i64,
    /// The step used (s): the one asked for, or raised to a stored resolution.
    step: i64,
    /// The step asked for (s).
    requested_step: i64,
    /// The metrics of each point.
    metrics: Vec<String>,
    /// Rows read per tier (`raw`, `5m`, `1h`).
    read: BTreeMap<String, i64>,
    items: Vec<HealthPoint>,
}

/// `GET /hosts/{id}/health`: raw samples, or a series with `step`.
#[derive(Debug, Serialize, ToSchema)]
#[serde(untagged)]
pub enum HealthAnswer {
    /// With `step`.
    Series(HealthSeries),
    /// Without `step`.
    Samples(HealthSamplePage),
}

/// A catalogue row: a package with its host count, or with `software=` one
/// version of it.
#[derive(Debug, Serialize, ToSchema)]
pub struct SoftwareRow {
    name: String,
    /// Hosts running it (at this version).
    hosts: i64,
    /// The version (only with `software=`).
    version: Option<String>,
    /// `dpkg`, `rpm` or `apk` (only with `software=`).
    manager: Option<String>,
}

/// One step of a rollout.
#[derive(Debug, Serialize, ToSchema)]
pub struct RolloutStep {
    /// The moment (ms).
    at: i64,
    /// Hosts at the target version or newer.
    at_or_above: i64,
    /// Hosts with an older version.
    below: i64,
    /// Hosts without the package.
    without: i64,
}

/// A host exposed during a rollout.
#[derive(Debug, Serialize, ToSchema)]
pub struct RolloutHost {
    host_id: String,
    hostname: String,
    /// When it was first seen below the target (ms).
    exposed_from: i64,
    /// When it reached the target (ms).
    remediated_at: Option<i64>,
    seconds_to_remediate: Option<i64>,
    /// Whether the package was removed instead.
    removed: bool,
    /// Its version at `until`.
    version_at_until: Option<String>,
}

/// Time to remediate over the exposed hosts.
#[derive(Debug, Serialize, ToSchema)]
pub struct Remediation {
    exposed: i64,
    remediated: i64,
    removed: i64,
    still_below: i64,
    p50_s: Option<i64>,
    p90_s: Option<i64>,
    /// Remediated within `within_days`.
    within: i64,
    /// Share remediated within `within_days` (0..1; null without exposed hosts).
    share_within: Option<f64>,
}

/// `GET /software/{name}/rollout`.
#[derive(Debug, Serialize, ToSchema)]
pub struct Rollout {
    name: String,
    manager: Option<String>,
    version_ge: String,
    since: i64,
    until: i64,
    step_s: i64,
    within_days: i64,
    steps: Vec<RolloutStep>,
    remediation: Remediation,
    /// Exposed hosts in all (`hosts` holds at most `limit`).
    hosts_total: i64,
    hosts: Vec<RolloutHost>,
}

/// A new enrollment token: the secret, shown once.
#[derive(Debug, Serialize, ToSchema)]
pub struct NewEnrollmentToken {
    id: String,
    /// The secret (`rcenr_…`).
    token: String,
    max_uses: i64,
    /// ms since the epoch.
    expires_at: i64,
    /// The CA's SHA-256 fingerprint, for the agent to pin.
    ca_fingerprint: String,
}

/// A new API token: the secret, shown once.
#[derive(Debug, Serialize, ToSchema)]
pub struct NewApiToken {
    id: String,
    /// The secret (`rcapi_…`).
    token: String,
    /// `viewer`, `operator` or `admin`.
    role: String,
    /// ms since the epoch; null for a token that does not expire.
    expires_at: Option<i64>,
}

/// What a revocation revoked.
#[derive(Debug, Serialize, ToSchema)]
pub struct Revoked {
    /// Its id.
    revoked: String,
}

/// An agent revoked: its id and how many live sessions were ended.
#[derive(Debug, Serialize, ToSchema)]
pub struct AgentRevoked {
    revoked: String,
    sessions_ended: i64,
}

/// An agent in the agent list, with whether it is older than this collector.
#[derive(Debug, Serialize, ToSchema)]
pub struct AgentRow {
    #[serde(flatten)]
    agent: Agent,
    /// Its version is below the collector's (or not a semantic version).
    outdated: bool,
    /// The collector's version.
    collector_version: String,
}

/// An outage with its duration (null while it lasts).
#[derive(Debug, Serialize, ToSchema)]
pub struct OutageRow {
    id: String,
    host_id: String,
    /// `unplanned`, `planned` or `degraded`.
    kind: String,
    cause: String,
    began_at: i64,
    detected_at: i64,
    ended_at: Option<i64>,
    incident_id: Option<String>,
    duration_ms: Option<i64>,
}

/// `GET /availability`.
#[derive(Debug, Serialize, ToSchema)]
pub struct AvailabilityReport {
    /// Window start (ms).
    from: i64,
    /// Window end (ms).
    to: i64,
    /// The calendar period asked for (null for a duration window).
    period: Option<PeriodReport>,
    hosts: Vec<HostAvailability>,
    services: Vec<ServiceAvailability>,
}

/// `GET /incidents/{id}`: the incident, its details, comments and children.
#[derive(Debug, Serialize, ToSchema)]
pub struct IncidentDetail {
    incident: Incident,
    /// The incident's details (rule-specific).
    details: Value,
    comments: Vec<Comment>,
    /// Incidents linked under it (storm or dependency).
    children: Vec<Incident>,
}

/// An acknowledged incident's id.
#[derive(Debug, Serialize, ToSchema)]
pub struct Acknowledged {
    acknowledged: String,
}

/// An outbox entry (without its payload).
#[derive(Debug, Serialize, ToSchema)]
pub struct OutboxRow {
    id: i64,
    event_id: i64,
    incident_id: String,
    target: String,
    transition: String,
    dedup_key: String,
    /// `pending`, `delivered` or `dead`.
    state: String,
    attempts: i64,
    next_attempt_at: i64,
    last_error: Option<String>,
    created_at: i64,
    delivered_at: Option<i64>,
}

/// One target's deliveries of an incident.
#[derive(Debug, Serialize, ToSchema)]
pub struct TargetDeliveries {
    target: String,
    /// What the target calls the incident, once it said.
    external_ref: Option<String>,
    /// The latest delivery's state (absent without deliveries).
    state: Option<String>,
    /// The latest delivery's error.
    last_error: Option<String>,
    deliveries: Vec<OutboxRow>,
}

/// `GET /incidents/{id}/deliveries`.
#[derive(Debug, Serialize, ToSchema)]
pub struct IncidentDeliveries {
    incident_id: String,
    targets: Vec<TargetDeliveries>,
}

/// A dead letter queued again.
#[derive(Debug, Serialize, ToSchema)]
pub struct Retried {
    retried: i64,
    target: String,
}

/// What was deleted.
#[derive(Debug, Serialize, ToSchema)]
pub struct Deleted {
    deleted: String,
}

/// A relationship removed.
#[derive(Debug, Serialize, ToSchema)]
pub struct Removed {
    removed: bool,
}

/// A business service with its member host ids.
#[derive(Debug, Serialize, ToSchema)]
pub struct ServiceRow {
    #[serde(flatten)]
    service: BusinessService,
    members: Vec<String>,
}

/// An integration target: configuration, circuit and outbox counts.
#[derive(Debug, Serialize, ToSchema)]
pub struct IntegrationRow {
    name: String,
    /// The vendor contract (`webhook`, `pagerduty`, …).
    kind: String,
    url: String,
    enabled: bool,
    /// `closed`, `open` or `half_open`.
    circuit: String,
    consecutive_failures: i64,
    circuit_open_until: Option<i64>,
    /// Outbox rows by state.
    counts: BTreeMap<String, i64>,
}

/// A test delivery: trigger then resolve.
#[derive(Debug, Serialize, ToSchema)]
pub struct IntegrationTest {
    target: String,
    /// Both were delivered.
    ok: bool,
    trigger: Outcome,
    /// Null when the trigger was not delivered.
    resolve: Option<Outcome>,
}

/// `GET /info`.
#[derive(Debug, Serialize, ToSchema)]
pub struct Info {
    version: String,
    /// The CA's SHA-256 fingerprint.
    ca_fingerprint: String,
    /// `sqlite` or `postgres`.
    backend: String,
    open_sessions: i64,
}

/// The query of `GET /hosts` (and `/software/{name}/hosts`): every filter
/// combined. Text filters are globs (`*`, `?`), case-insensitive; `name`
/// without a wildcard matches a substring. `attr.<name>=` filters by a
/// custom attribute (up to 16). Each parameter is at most 256 bytes.
#[derive(Debug, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct HostListParams {
    /// Host name (substring, or glob).
    name: Option<String>,
    /// CI class.
    class: Option<String>,
    /// Operating system name.
    os: Option<String>,
    os_version: Option<String>,
    kernel: Option<String>,
    cpu_model: Option<String>,
    vendor: Option<String>,
    model: Option<String>,
    /// DMI serial.
    serial: Option<String>,
    virtualization: Option<String>,
    /// A failed systemd unit.
    failed_unit: Option<String>,
    /// `up`, `suspect`, `down`, `away`, `maintenance`, `retired` or `unknown`.
    #[param(inline, value_type = Option<Presence>)]
    presence: Option<String>,
    /// `active`, `stale` or `retired`.
    #[param(inline, value_type = Option<Lifecycle>)]
    lifecycle: Option<String>,
    /// A tag (repeatable, up to 8: all must match).
    tag: Option<Vec<String>>,
    /// A business service id.
    service: Option<String>,
    /// ms since the epoch or RFC 3339.
    last_seen_before: Option<String>,
    /// ms since the epoch or RFC 3339.
    last_seen_after: Option<String>,
    #[param(minimum = 0)]
    memory_min: Option<i64>,
    #[param(minimum = 0)]
    memory_max: Option<i64>,
    /// A listening port (1 to 65535).
    #[param(minimum = 1, maximum = 65535)]
    port: Option<i64>,
    /// A package name (`/hosts` only: the path names it for `/software/{name}/hosts`).
    software: Option<String>,
    /// A version of `software`, compared with `op`.
    version: Option<String>,
    /// `<`, `<=`, `=`, `>=`, `>` (or `lt`, `le`, `eq`, `ge`, `gt`); default `=`.
    #[param(inline, value_type = Option<VersionOp>)]
    op: Option<String>,
    version_lt: Option<String>,
    version_le: Option<String>,
    version_eq: Option<String>,
    version_ge: Option<String>,
    version_gt: Option<String>,
    /// A field to sort by, `-` first for descending.
    sort: Option<String>,
    /// Comma-separated fields to return.
    fields: Option<String>,
    /// Page size, 1 to 1000 (default 100; with `as_of` 1 to 200, default 50).
    #[param(minimum = 1, maximum = 1000)]
    limit: Option<i64>,
    /// The previous page's `next_cursor`.
    cursor: Option<String>,
    /// `json` (default) or `csv`.
    #[param(inline, value_type = Option<Format>)]
    format: Option<String>,
    /// The hosts held at this moment (ms or RFC 3339, not in the future),
    /// their summary then; combines only with `limit`, `cursor`, `format`.
    as_of: Option<String>,
}

/// Value sets of parameters and body fields, for the document: each is
/// the list its handler checks against.
macro_rules! values {
    ($name:ident, $what:literal, $($variant:ident = $text:literal),+ $(,)?) => {
        #[doc = $what]
        #[derive(Debug, Serialize, ToSchema)]
        pub enum $name {
            $(
                #[doc = concat!("The value \"", $text, "\".")]
                #[serde(rename = $text)]
                $variant,
            )+
        }
    };
}

values!(Format, "How a list answers.", Json = "json", Csv = "csv");
values!(Order, "Oldest or newest first.", Asc = "asc", Desc = "desc");
values!(
    ChangeKind,
    "A kind of history record.",
    Discovered = "discovered",
    Added = "added",
    Removed = "removed",
    Changed = "changed",
);
values!(
    IncidentState,
    "Incidents by state (`open` includes acknowledged ones).",
    Open = "open",
    Acknowledged = "acknowledged",
    Resolved = "resolved",
    All = "all",
);
values!(
    OutboxState,
    "An outbox entry's state.",
    Pending = "pending",
    Delivered = "delivered",
    Dead = "dead",
);
values!(
    IdentityKind,
    "A kind of identity event.",
    Conflict = "conflict",
    Takeover = "takeover",
    Ambiguous = "ambiguous",
);
values!(
    RoleName,
    "An API token's role.",
    Viewer = "viewer",
    Operator = "operator",
    Admin = "admin",
);
values!(
    WindowScope,
    "What a maintenance window covers.",
    Host = "host",
    Tag = "tag",
    Service = "service",
);
values!(
    Recurrence,
    "Once (empty), daily or weekly.",
    Once = "",
    Daily = "daily",
    Weekly = "weekly",
);
values!(
    RelationshipKind,
    "A relationship kind (`store::RELATIONSHIP_KINDS`).",
    RunsOn = "Runs on::Runs",
    Contains = "Contains::Contained by",
    Owns = "Owns::Owned by",
    DependsOn = "Depends on::Used by",
    Members = "Members::Member of",
);
values!(
    Manager,
    "A package manager.",
    Dpkg = "dpkg",
    Rpm = "rpm",
    Apk = "apk",
);
values!(
    Presence,
    "A host's presence state.",
    Up = "up",
    Suspect = "suspect",
    Down = "down",
    Away = "away",
    Maintenance = "maintenance",
    Retired = "retired",
    Unknown = "unknown",
);
values!(
    Lifecycle,
    "A host's lifecycle state.",
    Active = "active",
    Stale = "stale",
    Retired = "retired",
);
values!(
    VersionOp,
    "A version comparison.",
    Lt = "<",
    Le = "<=",
    Eq = "=",
    EqEq = "==",
    Ge = ">=",
    Gt = ">",
    LtWord = "lt",
    LeWord = "le",
    EqWord = "eq",
    GeWord = "ge",
    GtWord = "gt",
);
