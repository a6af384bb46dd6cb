//! Storage for presence, outages, incidents, maintenance windows, business
//! services and relationships (`AvailabilityStore`, a part of `Store`).

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use sqlx::AssertSqlSafe;

use super::sql::SqlStore;
use crate::error::{Error, Result};

/// Presence of a host as stored.
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct PresenceRow {
    /// Host id.
    pub id: String,
    /// Presence state name.
    pub presence: String,
    /// Last message seen (ms).
    pub last_seen_at: i64,
    /// Planned absence deadline.
    pub away_until: Option<i64>,
}

/// A new outage.
#[derive(Debug, Clone)]
pub struct NewOutage {
    /// Outage id.
    pub id: String,
    /// Host id.
    pub host_id: String,
    /// `unplanned`, `planned` or `degraded`.
    pub kind: String,
    /// Why.
    pub cause: String,
    /// Begin (ms): the last heartbeat seen.
    pub began_at: i64,
    /// Detection time (ms).
    pub detected_at: i64,
}

/// An outage record.
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct Outage {
    /// Outage id.
    pub id: String,
    /// Host id.
    pub host_id: String,
    /// `unplanned`, `planned` or `degraded`.
    pub kind: String,
    /// Why.
    pub cause: String,
    /// Begin (ms).
    pub began_at: i64,
    /// Detection (ms).
    pub detected_at: i64,
    /// End (ms), if over.
    pub ended_at: Option<i64>,
    /// Linked incident.
    pub incident_id: Option<String>,
}

/// Filters for outages.
#[derive(Debug, Clone, Default)]
pub struct OutageFilter {
    /// One host.
    pub host_id: Option<String>,
    /// Overlapping from (ms).
    pub since: Option<i64>,
    /// Overlapping until (ms).
    pub until: Option<i64>,
    /// Kind.
    pub kind: Option<String>,
    /// Page size.
    pub limit: i64,
}

/// An incident record.
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct Incident {
    /// Incident id.
    pub id: String,
    /// `"<ci id>:<rule>"`.
    pub dedup_key: String,
    /// The CI.
    pub ci_id: String,
    /// Rule.
    pub rule: String,
    /// Severity name.
    pub severity: String,
    /// open | acknowledged | resolved.
    pub state: String,
    /// One line.
    pub summary: String,
    /// JSON details.
    pub details: String,
    /// Storm or dependency parent.
    pub parent_id: Option<String>,
    /// Notifications suppressed (1) or not (0).
    pub suppressed: i64,
    /// Times it went bad again while open.
    pub flaps: i64,
    /// Opened (ms).
    pub opened_at: i64,
    /// Acknowledged (ms).
    pub acknowledged_at: Option<i64>,
    /// By whom.
    pub acknowledged_by: Option<String>,
    /// Resolved (ms).
    pub resolved_at: Option<i64>,
    /// Last change (ms).
    pub updated_at: i64,
}

/// Filters for incidents.
#[derive(Debug, Clone, Default)]
pub struct IncidentFilter {
    /// `open` (open or acknowledged), `resolved`, or all.
    pub state: Option<String>,
    /// One CI.
    pub ci_id: Option<String>,
    /// Rule prefix.
    pub rule_prefix: Option<String>,
    /// Children of a parent.
    pub parent_id: Option<String>,
    /// Page size.
    pub limit: i64,
}

/// A comment on an incident.
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct Comment {
    /// Comment id.
    pub id: String,
    /// Incident id.
    pub incident_id: String,
    /// Author (token name).
    pub author: String,
    /// Text.
    pub body: String,
    /// When (ms).
    pub at: i64,
}

/// A maintenance window.
#[derive(Debug, Clone, Serialize, Deserialize, sqlx::FromRow)]
pub struct MaintenanceWindow {
    /// Window id.
    pub id: String,
    /// `host`, `tag` or `service`.
    pub scope: String,
    /// Host id, tag or service id.
    pub target: String,
    /// Start (ms).
    pub starts_at: i64,
    /// End (ms).
    pub ends_at: i64,
    /// `` (one-off), `daily` or `weekly`.
    pub recurrence: String,
    /// Why.
    pub reason: String,
    /// Created (ms).
    pub created_at: i64,
}

/// A business service: up while at least `min_up` member hosts are up.
#[derive(Debug, Clone, Serialize, Deserialize, sqlx::FromRow)]
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
#[derive(Debug, Clone, Serialize, Deserialize, sqlx::FromRow)]
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

/// The availability part of the store.
#[async_trait]
pub trait AvailabilityStore {
    /// Presence of every host not retired.
    async fn load_presence(&self) -> Result<Vec<PresenceRow>>;
    /// Writes a presence change.
    async fn set_presence(
        &self,
        host_id: &str,
        state: &str,
        at: i64,
        away_until: Option<i64>,
        away_reason: Option<&str>,
    ) -> Result<()>;
    /// Records an outage.
    async fn open_outage(&self, outage: &NewOutage) -> Result<()>;
    /// Ends every open outage of a host; returns them.
    async fn close_outages(&self, host_id: &str, ended_at: i64) -> Result<Vec<Outage>>;
    /// Links an outage to its incident.
    async fn link_outage(&self, outage_id: &str, incident_id: &str) -> Result<()>;
    /// Outages.
    async fn outages(&self, filter: &OutageFilter) -> Result<Vec<Outage>>;

    /// Opens an incident and records its trigger event (if any), atomically;
    /// `None` if one with the same dedup key is already open.
    async fn insert_incident(&self, incident: &Incident, event: Option<&str>) -> Result<bool>;
    /// Resolves an open incident and records its event, atomically; false if not open.
    async fn resolve_incident(
        &self,
        incident_id: &str,
        at: i64,
        event: Option<&str>,
    ) -> Result<bool>;
    /// Acknowledges an open incident and records its event.
    async fn acknowledge_incident(
        &self,
        incident_id: &str,
        by: &str,
        at: i64,
        event: Option<&str>,
    ) -> Result<bool>;
    /// Counts one more flap of an open incident.
    async fn count_flap(&self, incident_id: &str, at: i64) -> Result<()>;
    /// The open incident with this dedup key.
    async fn open_incident(&self, dedup_key: &str) -> Result<Option<Incident>>;
    /// One incident.
    async fn incident(&self, incident_id: &str) -> Result<Option<Incident>>;
    /// Incidents, newest first.
    async fn incidents(&self, filter: &IncidentFilter) -> Result<Vec<Incident>>;
    /// Adds a comment.
    async fn add_comment(&self, comment: &Comment) -> Result<()>;
    /// Comments of an incident.
    async fn comments(&self, incident_id: &str) -> Result<Vec<Comment>>;

    /// Creates a maintenance window.
    async fn create_maintenance(&self, window: &MaintenanceWindow) -> Result<()>;
    /// All maintenance windows.
    async fn maintenance_windows(&self) -> Result<Vec<MaintenanceWindow>>;
    /// Deletes one.
    async fn delete_maintenance(&self, id: &str) -> Result<bool>;

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
    /// Replaces a host's tags (comma-separated).
    async fn set_host_tags(&self, host_id: &str, tags: &str) -> Result<bool>;
}

const INCIDENT_COLUMNS: &str = "id, dedup_key, ci_id, rule, severity, state, summary, details, parent_id, suppressed, flaps, \
    opened_at, acknowledged_at, acknowledged_by, resolved_at, updated_at";

async fn insert_event(
    tx: &mut sqlx::Transaction<'static, sqlx::Any>,
    incident_id: &str,
    transition: &str,
    payload: &str,
    at: i64,
) -> Result<()> {
    sqlx::query("INSERT INTO incident_events (incident_id, transition, payload, created_at) VALUES ($1, $2, $3, $4)")
        .bind(incident_id)
        .bind(transition)
        .bind(payload)
        .bind(at)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

#[async_trait]
impl AvailabilityStore for SqlStore {
    async fn load_presence(&self) -> Result<Vec<PresenceRow>> {
        Ok(sqlx::query_as::<_, PresenceRow>(
            "SELECT id, presence, COALESCE(last_heartbeat_at, last_seen_at) AS last_seen_at, away_until FROM hosts WHERE lifecycle <> 'retired'",
        )
        .fetch_all(self.pool())
        .await?)
    }

    async fn set_presence(
        &self,
        host_id: &str,
        state: &str,
        at: i64,
        away_until: Option<i64>,
        away_reason: Option<&str>,
    ) -> Result<()> {
        sqlx::query("UPDATE hosts SET presence = $1, presence_since = $2, away_until = $3, away_reason = $4 WHERE id = $5")
            .bind(state)
            .bind(at)
            .bind(away_until)
            .bind(away_reason.map(String::from))
            .bind(host_id)
            .execute(self.pool())
            .await?;
        Ok(())
    }

    async fn open_outage(&self, outage: &NewOutage) -> Result<()> {
        sqlx::query("INSERT INTO outages (id, host_id, kind, cause, began_at, detected_at) VALUES ($1, $2, $3, $4, $5, $6)")
            .bind(&outage.id)
            .bind(&outage.host_id)
            .bind(&outage.kind)
            .bind(&outage.cause)
            .bind(outage.began_at)
            .bind(outage.detected_at)
            .execute(self.pool())
            .await?;
        Ok(())
    }

    async fn close_outages(&self, host_id: &str, ended_at: i64) -> Result<Vec<Outage>> {
        let mut tx = self.begin_write().await?;
        let open = sqlx::query_as::<_, Outage>(
            "SELECT id, host_id, kind, cause, began_at, detected_at, ended_at, incident_id FROM outages WHERE host_id = $1 AND ended_at IS NULL",
        )
        .bind(host_id)
        .fetch_all(&mut *tx)
        .await?;
        sqlx::query("UPDATE outages SET ended_at = CASE WHEN began_at > $1 THEN began_at ELSE $1 END WHERE host_id = $2 AND ended_at IS NULL")
            .bind(ended_at)
            .bind(host_id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(open
            .into_iter()
            .map(|outage| Outage {
                ended_at: Some(ended_at.max(outage.began_at)),
                ..outage
            })
            .collect())
    }

    async fn link_outage(&self, outage_id: &str, incident_id: &str) -> Result<()> {
        sqlx::query("UPDATE outages SET incident_id = $1 WHERE id = $2")
            .bind(incident_id)
            .bind(outage_id)
            .execute(self.pool())
            .await?;
        Ok(())
    }

    async fn outages(&self, filter: &OutageFilter) -> Result<Vec<Outage>> {
        let mut sql = String::from(
            "SELECT id, host_id, kind, cause, began_at, detected_at, ended_at, incident_id FROM outages \
             WHERE (ended_at IS NULL OR ended_at >= $1) AND began_at < $2",
        );
        let mut next = 4;
        for (column, value) in [("host_id", &filter.host_id), ("kind", &filter.kind)] {
            if value.is_some() {
                sql.push_str(&format!(" AND {column} = ${next}"));
                next += 1;
            }
        }
        sql.push_str(" ORDER BY began_at DESC LIMIT $3");
        let mut query = sqlx::query_as::<_, Outage>(AssertSqlSafe(sql))
            .bind(filter.since.unwrap_or(i64::MIN))
            .bind(filter.until.unwrap_or(i64::MAX))
            .bind(filter.limit);
        for value in [&filter.host_id, &filter.kind].into_iter().flatten() {
            query = query.bind(value.clone());
        }
        Ok(query.fetch_all(self.pool()).await?)
    }

    async fn insert_incident(&self, incident: &Incident, event: Option<&str>) -> Result<bool> {
        let mut tx = self.begin_write().await?;
        let existing =
            sqlx::query("SELECT id FROM incidents WHERE dedup_key = $1 AND state <> 'resolved'")
                .bind(&incident.dedup_key)
                .fetch_optional(&mut *tx)
                .await?;
        if existing.is_some() {
            return Ok(false);
        }
        let sql = format!(
            "INSERT INTO incidents ({INCIDENT_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)"
        );
        sqlx::query(AssertSqlSafe(sql))
            .bind(&incident.id)
            .bind(&incident.dedup_key)
            .bind(&incident.ci_id)
            .bind(&incident.rule)
            .bind(&incident.severity)
            .bind(&incident.state)
            .bind(&incident.summary)
            .bind(&incident.details)
            .bind(incident.parent_id.clone())
            .bind(incident.suppressed)
            .bind(incident.flaps)
            .bind(incident.opened_at)
            .bind(incident.acknowledged_at)
            .bind(incident.acknowledged_by.clone())
            .bind(incident.resolved_at)
            .bind(incident.updated_at)
            .execute(&mut *tx)
            .await?;
        if let Some(payload) = event {
            insert_event(
                &mut tx,
                &incident.id,
                "trigger",
                payload,
                incident.opened_at,
            )
            .await?;
        }
        tx.commit().await?;
        Ok(true)
    }

    async fn resolve_incident(
        &self,
        incident_id: &str,
        at: i64,
        event: Option<&str>,
    ) -> Result<bool> {
        let mut tx = self.begin_write().await?;
        let changed = sqlx::query("UPDATE incidents SET state = 'resolved', resolved_at = $1, updated_at = $1 WHERE id = $2 AND state <> 'resolved'")
            .bind(at)
            .bind(incident_id)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        if changed == 0 {
            return Ok(false);
        }
        if let Some(payload) = event {
            insert_event(&mut tx, incident_id, "resolve", payload, at).await?;
        }
        tx.commit().await?;
        Ok(true)
    }

    async fn acknowledge_incident(
        &self,
        incident_id: &str,
        by: &str,
        at: i64,
        event: Option<&str>,
    ) -> Result<bool> {
        let mut tx = self.begin_write().await?;
        let changed = sqlx::query(
            "UPDATE incidents SET state = 'acknowledged', acknowledged_at = $1, acknowledged_by = $2, updated_at = $1 WHERE id = $3 AND state = 'open'",
        )
        .bind(at)
        .bind(by)
        .bind(incident_id)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if changed == 0 {
            return Ok(false);
        }
        if let Some(payload) = event {
            insert_event(&mut tx, incident_id, "acknowledge", payload, at).await?;
        }
        tx.commit().await?;
        Ok(true)
    }

    async fn count_flap(&self, incident_id: &str, at: i64) -> Result<()> {
        sqlx::query("UPDATE incidents SET flaps = flaps + 1, updated_at = $1 WHERE id = $2")
            .bind(at)
            .bind(incident_id)
            .execute(self.pool())
            .await?;
        Ok(())
    }

    async fn open_incident(&self, dedup_key: &str) -> Result<Option<Incident>> {
        let sql = format!(
            "SELECT {INCIDENT_COLUMNS} FROM incidents WHERE dedup_key = $1 AND state <> 'resolved'"
        );
        Ok(sqlx::query_as::<_, Incident>(AssertSqlSafe(sql))
            .bind(dedup_key)
            .fetch_optional(self.pool())
            .await?)
    }

    async fn incident(&self, incident_id: &str) -> Result<Option<Incident>> {
        let sql = format!("SELECT {INCIDENT_COLUMNS} FROM incidents WHERE id = $1");
        Ok(sqlx::query_as::<_, Incident>(AssertSqlSafe(sql))
            .bind(incident_id)
            .fetch_optional(self.pool())
            .await?)
    }

    async fn incidents(&self, filter: &IncidentFilter) -> Result<Vec<Incident>> {
        let mut sql = format!("SELECT {INCIDENT_COLUMNS} FROM incidents WHERE 1 = 1");
        match filter.state.as_deref() {
            Some("open") => sql.push_str(" AND state <> 'resolved'"),
            Some("resolved") => sql.push_str(" AND state = 'resolved'"),
            Some("acknowledged") => sql.push_str(" AND state = 'acknowledged'"),
            Some(other) if other != "all" => {
                return Err(Error::InvalidInput(format!(
                    "state must be open, acknowledged, resolved or all, got {other:?}"
                )));
            }
            _ => {}
        }
        let mut binds = Vec::new();
        let mut next = 2;
        if let Some(ci_id) = &filter.ci_id {
            sql.push_str(&format!(" AND ci_id = ${next}"));
            binds.push(ci_id.clone());
            next += 1;
        }
        if let Some(prefix) = &filter.rule_prefix {
            sql.push_str(&format!(" AND rule LIKE ${next}"));
            binds.push(format!("{prefix}%"));
            next += 1;
        }
        if let Some(parent) = &filter.parent_id {
            sql.push_str(&format!(" AND parent_id = ${next}"));
            binds.push(parent.clone());
        }
        sql.push_str(" ORDER BY opened_at DESC, id LIMIT $1");
        let mut query = sqlx::query_as::<_, Incident>(AssertSqlSafe(sql)).bind(filter.limit);
        for value in binds {
            query = query.bind(value);
        }
        Ok(query.fetch_all(self.pool()).await?)
    }

    async fn add_comment(&self, comment: &Comment) -> Result<()> {
        sqlx::query("INSERT INTO incident_comments (id, incident_id, author, body, at) VALUES ($1, $2, $3, $4, $5)")
            .bind(&comment.id)
            .bind(&comment.incident_id)
            .bind(&comment.author)
            .bind(&comment.body)
            .bind(comment.at)
            .execute(self.pool())
            .await?;
        Ok(())
    }

    async fn comments(&self, incident_id: &str) -> Result<Vec<Comment>> {
        Ok(sqlx::query_as::<_, Comment>("SELECT id, incident_id, author, body, at FROM incident_comments WHERE incident_id = $1 ORDER BY at, id")
            .bind(incident_id)
            .fetch_all(self.pool())
            .await?)
    }

    async fn create_maintenance(&self, window: &MaintenanceWindow) -> Result<()> {
        sqlx::query(
            "INSERT INTO maintenance_windows (id, scope, target, starts_at, ends_at, recurrence, reason, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(&window.id)
        .bind(&window.scope)
        .bind(&window.target)
        .bind(window.starts_at)
        .bind(window.ends_at)
        .bind(&window.recurrence)
        .bind(&window.reason)
        .bind(window.created_at)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    async fn maintenance_windows(&self) -> Result<Vec<MaintenanceWindow>> {
        Ok(sqlx::query_as::<_, MaintenanceWindow>(
            "SELECT id, scope, target, starts_at, ends_at, recurrence, reason, created_at FROM maintenance_windows ORDER BY starts_at",
        )
        .fetch_all(self.pool())
        .await?)
    }

    async fn delete_maintenance(&self, id: &str) -> Result<bool> {
        Ok(sqlx::query("DELETE FROM maintenance_windows WHERE id = $1")
            .bind(id)
            .execute(self.pool())
            .await?
            .rows_affected()
            > 0)
    }

    async fn create_service(&self, service: &BusinessService) -> Result<()> {
        let exists = sqlx::query("SELECT id FROM business_services WHERE name = $1")
            .bind(&service.name)
            .fetch_optional(self.pool())
            .await?;
        if exists.is_some() {
            return Err(Error::Conflict(format!(
                "a business service named {:?} exists",
                service.name
            )));
        }
        sqlx::query("INSERT INTO business_services (id, name, min_up, sla_target, created_at) VALUES ($1, $2, $3, $4, $5)")
            .bind(&service.id)
            .bind(&service.name)
            .bind(service.min_up)
            .bind(service.sla_target)
            .bind(service.created_at)
            .execute(self.pool())
            .await?;
        Ok(())
    }

    async fn services(&self) -> Result<Vec<BusinessService>> {
        Ok(sqlx::query_as::<_, BusinessService>(
            "SELECT id, name, min_up, sla_target, created_at FROM business_services ORDER BY name",
        )
        .fetch_all(self.pool())
        .await?)
    }

    async fn delete_service(&self, id: &str) -> Result<bool> {
        let mut tx = self.begin_write().await?;
        sqlx::query("DELETE FROM relationships WHERE parent_id = $1 OR child_id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        let deleted = sqlx::query("DELETE FROM business_services WHERE id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        tx.commit().await?;
        Ok(deleted > 0)
    }

    async fn add_relationship(&self, relationship: &Relationship) -> Result<()> {
        let exists = sqlx::query("SELECT 1 AS one FROM relationships WHERE parent_id = $1 AND child_id = $2 AND kind = $3")
            .bind(&relationship.parent_id)
            .bind(&relationship.child_id)
            .bind(&relationship.kind)
            .fetch_optional(self.pool())
            .await?;
        if exists.is_some() {
            return Ok(());
        }
        sqlx::query("INSERT INTO relationships (parent_id, child_id, kind, created_at) VALUES ($1, $2, $3, $4)")
            .bind(&relationship.parent_id)
            .bind(&relationship.child_id)
            .bind(&relationship.kind)
            .bind(relationship.created_at)
            .execute(self.pool())
            .await?;
        Ok(())
    }

    async fn relationships(&self, ci_id: Option<&str>) -> Result<Vec<Relationship>> {
        let rows = match ci_id {
            Some(ci_id) => sqlx::query_as::<_, Relationship>(
                "SELECT parent_id, child_id, kind, created_at FROM relationships WHERE parent_id = $1 OR child_id = $1 ORDER BY created_at",
            )
            .bind(ci_id)
            .fetch_all(self.pool())
            .await?,
            None => sqlx::query_as::<_, Relationship>("SELECT parent_id, child_id, kind, created_at FROM relationships ORDER BY created_at")
                .fetch_all(self.pool())
                .await?,
        };
        Ok(rows)
    }

    async fn remove_relationship(
        &self,
        parent_id: &str,
        child_id: &str,
        kind: &str,
    ) -> Result<bool> {
        Ok(sqlx::query(
            "DELETE FROM relationships WHERE parent_id = $1 AND child_id = $2 AND kind = $3",
        )
        .bind(parent_id)
        .bind(child_id)
        .bind(kind)
        .execute(self.pool())
        .await?
        .rows_affected()
            > 0)
    }

    async fn set_host_tags(&self, host_id: &str, tags: &str) -> Result<bool> {
        let row = sqlx::query("UPDATE hosts SET tags = $1 WHERE id = $2")
            .bind(tags)
            .bind(host_id)
            .execute(self.pool())
            .await?;
        Ok(row.rows_affected() > 0)
    }
}
