//! Persistence: the `Store` trait the rest of the collector uses as
//! `Arc<dyn Store>`, composed of one trait per data area, each beside its
//! row and filter types. Nothing here knows SQL or which database runs
//! underneath; the SQL backend (SQLite and PostgreSQL) is [`sql`].
//!
//! - [`agents`]: API tokens, enrollment tokens and agents
//! - [`hosts`]: host CIs, identification, items, software, lifecycle, tags
//! - [`inventory`]: the ingest writes (inventory, liveness, health samples)
//! - [`health`]: health samples and rollups (reads, retention steps)
//! - [`changes`]: change history
//! - [`presence`]: presence and outages
//! - [`incidents`]: incidents and their comments
//! - [`maintenance`]: maintenance windows
//! - [`services`]: business services and relationships
//! - [`outbox`]: integrations delivery

pub mod agents;
pub mod changes;
pub mod counts;
pub mod health;
pub mod hosts;
pub mod incidents;
pub mod inventory;
pub mod maintenance;
pub mod outbox;
pub mod presence;
pub mod services;
pub mod sql;

pub use agents::{
    Agent, AgentStore, ApiToken, AuditEntry, EnrollRefusal, EnrollmentToken, NewAgent,
    NewAuditEntry, NewEnrollmentToken, Revocable, Revocation, TokenStore,
};
pub use changes::{Change, ChangeFilter, ChangeStore};
pub use health::{Cutoffs, HealthStore, Moved, RawSample};
pub use hosts::{
    Attachment, Host, HostCursor, HostFilter, HostQuery, HostSort, HostStore, IdentityEvent,
    IdentityEventFilter, ItemRow, MAX_HOST_ATTRIBUTES, SoftwareCount, SoftwareFilter, SoftwareRow,
    SortValue, TextMatch,
};
pub use incidents::{Comment, Incident, IncidentFilter, IncidentStore, IncidentUpdate};
pub use inventory::{ApplyContext, ApplyOutcome, InventoryChange, InventoryStore, Seen};
pub use maintenance::{MaintenanceStore, MaintenanceWindow};
pub use outbox::{
    EventRow, ExternalRef, NewOutboxEntry, OutboxCount, OutboxEntry, OutboxFilter, OutboxStore,
};
pub use presence::{NewOutage, Outage, OutageFilter, PresenceRow, PresenceStore};
pub use services::{
    BusinessService, DEPENDS_ON, MEMBER_OF, RELATIONSHIP_KINDS, Relationship, ServiceStore,
};

/// The collector's storage: every data area, on one database.
#[async_trait::async_trait]
pub trait Store:
    TokenStore
    + AgentStore
    + HostStore
    + InventoryStore
    + HealthStore
    + ChangeStore
    + PresenceStore
    + IncidentStore
    + MaintenanceStore
    + ServiceStore
    + OutboxStore
    + counts::CountStore
    + Send
    + Sync
    + std::fmt::Debug
{
    /// The database's name (`sqlite` or `postgres`), for display only:
    /// nothing outside the backend may branch on it.
    fn backend(&self) -> &'static str;

    /// Whether other collectors may work on this database at the same time
    /// (PostgreSQL: a collector group); an embedded database has one.
    fn shared(&self) -> bool;

    /// Finishes the writes in flight and stops the store's background
    /// tasks (at shutdown, after the sessions have ended); later writes fail.
    async fn close(&self);
}
