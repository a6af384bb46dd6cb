//! Ownership of host CIs in SQL: who owns a matched CI and when it was last
//! heard (the inputs of `cmdb::reconcile::claim`), and the identity events
//! recorded when a claim conflicts with, or takes over from, another agent.

use sqlx::{AnyConnection, AnyPool, Row};

use super::dialect::Dialect;
use super::statements::ListQuery;
use crate::cmdb::reconcile::{HostIdentity, Owner};
use crate::cmdb::summary::join_macs;
use crate::store::{IdentityEvent, IdentityEventFilter};

/// The owner of `host_id`, if the CI has one: its agent's last contact and
/// revocation, and whether the host is up (its owner holds a session).
/// An owner with no agent record was never heard.
pub(crate) async fn owner_of(
    connection: &mut AnyConnection,
    host_id: &str,
) -> std::result::Result<Option<Owner>, sqlx::Error> {
    let row = sqlx::query(
        "SELECT h.agent_id AS agent_id, h.presence AS presence, a.last_seen_at AS last_seen_at, \
         a.revoked_at AS revoked_at FROM hosts h LEFT JOIN agents a ON a.id = h.agent_id WHERE h.id = $1",
    )
    .bind(host_id)
    .fetch_optional(&mut *connection)
    .await?;
    let Some(row) = row else {
        return Ok(None);
    };
    let Some(agent_id) = row.try_get::<Option<String>, _>("agent_id")? else {
        return Ok(None);
    };
    let presence: String = row.try_get("presence")?;
    Ok(Some(Owner {
        agent_id,
        last_heard_at: row.try_get("last_seen_at")?,
        revoked: row.try_get::<Option<i64>, _>("revoked_at")?.is_some(),
        live: presence == "up",
    }))
}

/// An identity event to record.
pub(crate) struct NewEvent<'a> {
    /// The CI the identity matched.
    pub host_id: &'a str,
    /// The CI created for the claimant instead.
    pub new_host_id: Option<&'a str>,
    /// `conflict`, `takeover` or `ambiguous`.
    pub kind: &'a str,
    /// The identification rule.
    pub rule: &'a str,
    /// Why.
    pub reason: &'a str,
    /// The claimed identity.
    pub identity: &'a HostIdentity,
    /// The owner at the time.
    pub old_agent_id: Option<&'a str>,
    /// The claimant.
    pub new_agent_id: &'a str,
    /// When (ms).
    pub at: i64,
}

/// Records one identity event, and logs it: an operator resolves conflicts.
pub(crate) async fn record(
    connection: &mut AnyConnection,
    event: &NewEvent<'_>,
) -> std::result::Result<(), sqlx::Error> {
    let identifiers = serde_json::json!({
        "machine_id": event.identity.machine_id,
        "dmi_uuid": event.identity.dmi_uuid,
        "dmi_serial": event.identity.dmi_serial,
        "macs": join_macs(event.identity),
        "hostname": event.identity.hostname,
    })
    .to_string();
    sqlx::query(
        "INSERT INTO identity_events (host_id, new_host_id, kind, rule, reason, identifiers, old_agent_id, \
         new_agent_id, at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
    )
    .bind(event.host_id)
    .bind(event.new_host_id)
    .bind(event.kind)
    .bind(event.rule)
    .bind(event.reason)
    .bind(identifiers)
    .bind(event.old_agent_id)
    .bind(event.new_agent_id)
    .bind(event.at)
    .execute(&mut *connection)
    .await?;
    tracing::warn!(
        kind = event.kind,
        host_id = event.host_id,
        new_host_id = event.new_host_id,
        rule = event.rule,
        reason = event.reason,
        old_agent_id = event.old_agent_id,
        new_agent_id = event.new_agent_id,
        "identity event"
    );
    Ok(())
}

/// Identity events matching `filter`, oldest first.
pub(crate) async fn list(
    pool: &AnyPool,
    dialect: Dialect,
    filter: &IdentityEventFilter,
) -> std::result::Result<Vec<IdentityEvent>, sqlx::Error> {
    let mut list = ListQuery::new(
        dialect,
        "SELECT id, host_id, new_host_id, kind, rule, reason, identifiers, old_agent_id, new_agent_id, at \
         FROM identity_events",
    );
    list.after("id", filter.after_id)
        .equals("kind", filter.kind.as_deref());
    if let Some(host_id) = &filter.host_id {
        list.and()
            .push("(host_id = ")
            .bind(host_id.clone())
            .push(" OR new_host_id = ")
            .bind(host_id.clone())
            .push(")");
    }
    list.page("id", filter.limit)
        .query_as::<IdentityEvent>()?
        .fetch_all(pool)
        .await
}
