//! Business services and typed relationships between CIs (`ServiceStore`, a
//! part of `Store`).

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::error::Result;

/// A business service: up while at least `min_up` member hosts are up.
#[derive(Debug, Clone, Serialize, Deserialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct BusinessService {
    /// Service id.
    pub id: String,
    /// Unique name.
    pub name: String,
    /// k of n.
    pub min_up: i64,
    /// SLA target in percent.
    pub sla_target: f64,
    /// Created (ms).
    pub created_at: i64,
}

/// A typed relationship between two CIs.
#[derive(Debug, Clone, Serialize, Deserialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct Relationship {
    /// Parent CI (the one depended on, the service, the container).
    pub parent_id: String,
    /// Child CI.
    pub child_id: String,
    /// e.g. `Depends on::Used by` (child depends on parent), `Members::Member of`.
    pub kind: String,
    /// Created (ms).
    pub created_at: i64,
}

/// A host is a member of a business service (parent: service, child: host).
pub const MEMBER_OF: &str = "Members::Member of";
/// The child depends on the parent (a hypervisor, a gateway).
pub const DEPENDS_ON: &str = "Depends on::Used by";

/// Relationship kinds, as ITIL/ServiceNow name them.
pub const RELATIONSHIP_KINDS: &[&str] = &[
    "Runs on::Runs",
    "Contains::Contained by",
    "Owns::Owned by",
    DEPENDS_ON,
    MEMBER_OF,
];

/// Business services and relationships.
#[async_trait]
pub trait ServiceStore {
    /// Creates a business service.
    async fn create_service(&self, service: &BusinessService) -> Result<()>;
    /// All business services.
    async fn services(&self) -> Result<Vec<BusinessService>>;
    /// Deletes one (and its memberships).
    async fn delete_service(&self, id: &str) -> Result<bool>;

    /// Adds a relationship (idempotent).
    async fn add_relationship(&self, relationship: &Relationship) -> Result<()>;
    /// Relationships touching a CI (or all).
    async fn relationships(&self, ci_id: Option<&str>) -> Result<Vec<Relationship>>;
    /// Ids of the business services `host_id` is a member of.
    async fn services_of(&self, host_id: &str) -> Result<Vec<String>> {
        Ok(self
            .relationships(Some(host_id))
            .await?
            .into_iter()
            .filter(|relationship| {
                relationship.kind == MEMBER_OF && relationship.child_id == host_id
            })
            .map(|relationship| relationship.parent_id)
            .collect())
    }
    /// Removes one.
    async fn remove_relationship(
        &self,
        parent_id: &str,
        child_id: &str,
        kind: &str,
    ) -> Result<bool>;
}
