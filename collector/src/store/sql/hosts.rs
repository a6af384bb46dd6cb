//! Host CIs in SQL: identification at `Hello` (reconciliation against the
//! stored identifiers) and ownership (`identity.rs`), listing, items,
//! software, lifecycle and tags.

use async_trait::async_trait;
use sqlx::any::AnyRow;
use sqlx::{AssertSqlSafe, Row};

use super::SqlStore;
use super::dialect::{Dialect, Tx};
use super::identity;
use super::statements::{ListQuery, Statement, insert_changes};
use crate::cmdb::diff;
use crate::cmdb::reconcile::{self, Candidate, Claim, Decision, HostIdentity};
use crate::cmdb::software::VersionCondition;
use crate::cmdb::summary::join_macs;
use crate::error::{Error, Result};
use crate::store::{
    Attachment, Host, HostFilter, HostQuery, HostStore, IdentityEvent, IdentityEventFilter,
    ItemRow, SoftwareCount, SoftwareRow,
};

pub(super) const HOST_COLUMNS: &str = "id, hostname, fqdn, class, machine_id, dmi_uuid, dmi_serial, macs, os_name, os_version, \
    kernel, arch, cpu_model, cpu_threads, memory_bytes, package_count, lifecycle, presence, agent_id, match_rule, \
    possible_duplicate_of, first_seen_at, last_seen_at, last_inventory_at, tags, away_until, away_reason, vendor, model, virtualization";

/// The host list of `filter`, without its page (ORDER BY and LIMIT).
pub(super) fn host_list(dialect: Dialect, filter: &HostFilter) -> ListQuery {
    let mut list = ListQuery::new(dialect, &format!("SELECT {HOST_COLUMNS} FROM hosts"));
    list.after("id", filter.after.as_deref());
    if let Some(name) = &filter.name {
        let pattern = format!("%{}%", name.to_lowercase());
        list.and()
            .push("(LOWER(hostname) LIKE ")
            .bind(pattern.clone())
            .push(" OR LOWER(fqdn) LIKE ")
            .bind(pattern)
            .push(")");
    }
    list.equals("lifecycle", filter.lifecycle.as_deref());
    list
}

fn identity_of(row: &AnyRow) -> std::result::Result<HostIdentity, sqlx::Error> {
    let macs: String = row.try_get("macs")?;
    Ok(HostIdentity {
        machine_id: row.try_get("machine_id")?,
        dmi_uuid: row.try_get("dmi_uuid")?,
        dmi_serial: row.try_get("dmi_serial")?,
        macs: macs
            .split(',')
            .filter(|mac| !mac.is_empty())
            .map(String::from)
            .collect(),
        hostname: row.try_get("hostname")?,
    })
}

/// An identity event decided during a claim, recorded once the CI is written.
struct Pending {
    matched: String,
    kind: &'static str,
    rule: &'static str,
    reason: &'static str,
    old_agent_id: Option<String>,
}

impl SqlStore {
    /// Every stored host sharing at least one identifier with `identity`.
    async fn candidates(&self, tx: &mut Tx, identity: &HostIdentity) -> Result<Vec<Candidate>> {
        let mut statement = Statement::new(
            self.dialect,
            "SELECT id, machine_id, dmi_uuid, dmi_serial, macs, hostname FROM hosts WHERE (dmi_uuid <> '' AND dmi_uuid = ",
        );
        statement
            .bind(&identity.dmi_uuid)
            .push(") OR (dmi_serial <> '' AND dmi_serial = ")
            .bind(&identity.dmi_serial)
            .push(") OR (machine_id <> '' AND machine_id = ")
            .bind(&identity.machine_id)
            .push(") OR (hostname <> '' AND hostname = ")
            .bind(&identity.hostname)
            .push(")");
        for mac in &identity.macs {
            statement.push(" OR macs LIKE ").bind(format!("%{mac}%"));
        }
        let rows = statement.query()?.fetch_all(&mut **tx).await?;
        Ok(rows
            .iter()
            .map(|row| {
                Ok(Candidate {
                    host_id: row.try_get("id")?,
                    identity: identity_of(row)?,
                })
            })
            .collect::<std::result::Result<Vec<_>, sqlx::Error>>()?)
    }
}

#[async_trait]
impl HostStore for SqlStore {
    async fn claim_host(
        &self,
        agent_id: &str,
        identity: &HostIdentity,
        hostname: &str,
        at: i64,
        takeover_after_ms: Option<i64>,
    ) -> Result<Attachment> {
        let identity = identity.cleaned();
        let mut tx = self.begin_write().await?;
        let mut current: Option<String> = sqlx::query("SELECT host_id FROM agents WHERE id = $1")
            .bind(agent_id)
            .fetch_optional(&mut *tx)
            .await?
            .map(|row| row.try_get::<Option<String>, _>("host_id"))
            .transpose()?
            .flatten();
        if let Some(host_id) = &current {
            // A CI taken over since belongs to its new owner: identify afresh.
            let owner = identity::owner_of(&mut tx, host_id).await?;
            if owner.is_some_and(|owner| owner.agent_id != agent_id) {
                current = None;
            }
        }
        let mut event: Option<Pending> = None;
        let (host_id, rule, created, duplicate) = match current {
            Some(host_id) => (host_id, "agent".to_string(), false, None),
            None => match reconcile::decide(&identity, &self.candidates(&mut tx, &identity).await?)
            {
                Decision::Matched { host_id, rule } => {
                    let owner = identity::owner_of(&mut tx, &host_id).await?;
                    let old_agent_id = owner.as_ref().map(|owner| owner.agent_id.clone());
                    match reconcile::claim(agent_id, owner.as_ref(), at, takeover_after_ms) {
                        Claim::Own => (host_id, rule.to_string(), false, None),
                        Claim::TakeOver { reason } => {
                            event = Some(Pending {
                                matched: host_id.clone(),
                                kind: "takeover",
                                rule,
                                reason,
                                old_agent_id,
                            });
                            (host_id, rule.to_string(), false, None)
                        }
                        Claim::Conflict { reason } => {
                            event = Some(Pending {
                                matched: host_id.clone(),
                                kind: "conflict",
                                rule,
                                reason,
                                old_agent_id,
                            });
                            (
                                uuid::Uuid::new_v4().to_string(),
                                format!("conflict:{rule}"),
                                true,
                                Some(host_id),
                            )
                        }
                    }
                }
                Decision::New => (
                    uuid::Uuid::new_v4().to_string(),
                    "new".to_string(),
                    true,
                    None,
                ),
                Decision::Ambiguous { rule, host_ids } => {
                    let first = host_ids.into_iter().next();
                    if let Some(matched) = &first {
                        event = Some(Pending {
                            matched: matched.clone(),
                            kind: "ambiguous",
                            rule,
                            reason: "several_matches",
                            old_agent_id: None,
                        });
                    }
                    (
                        uuid::Uuid::new_v4().to_string(),
                        format!("ambiguous:{rule}"),
                        true,
                        first,
                    )
                }
            },
        };
        let display_name = if hostname.is_empty() {
            identity.hostname.clone()
        } else {
            hostname.to_string()
        };
        if created {
            sqlx::query(
                "INSERT INTO hosts (id, hostname, machine_id, dmi_uuid, dmi_serial, macs, agent_id, match_rule, \
                 possible_duplicate_of, first_seen_at, last_seen_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $10)",
            )
            .bind(&host_id)
            .bind(&display_name)
            .bind(&identity.machine_id)
            .bind(&identity.dmi_uuid)
            .bind(&identity.dmi_serial)
            .bind(join_macs(&identity))
            .bind(agent_id)
            .bind(&rule)
            .bind(duplicate.clone())
            .bind(at)
            .execute(&mut *tx)
            .await?;
        } else {
            // Keep the strongest identifiers the host ever had; placeholders are already blank.
            let stored = sqlx::query("SELECT machine_id, dmi_uuid, dmi_serial, macs, hostname, lifecycle FROM hosts WHERE id = $1")
                .bind(&host_id)
                .fetch_optional(&mut *tx)
                .await?
                .ok_or_else(|| Error::Store(format!("agent {agent_id} points at missing host {host_id}")))?;
            let previous = identity_of(&stored)?;
            let lifecycle: String = stored.try_get("lifecycle")?;
            let pick = |new: &str, old: &str| {
                if new.is_empty() {
                    old.to_string()
                } else {
                    new.to_string()
                }
            };
            let merged = HostIdentity {
                machine_id: pick(&identity.machine_id, &previous.machine_id),
                dmi_uuid: pick(&identity.dmi_uuid, &previous.dmi_uuid),
                dmi_serial: pick(&identity.dmi_serial, &previous.dmi_serial),
                macs: if identity.macs.is_empty() {
                    previous.macs.clone()
                } else {
                    identity.macs.clone()
                },
                hostname: pick(&display_name, &previous.hostname),
            };
            let fields = [
                (
                    "machine_id",
                    previous.machine_id.clone(),
                    merged.machine_id.clone(),
                ),
                (
                    "dmi_uuid",
                    previous.dmi_uuid.clone(),
                    merged.dmi_uuid.clone(),
                ),
                (
                    "dmi_serial",
                    previous.dmi_serial.clone(),
                    merged.dmi_serial.clone(),
                ),
                ("macs", join_macs(&previous), join_macs(&merged)),
                (
                    "hostname",
                    previous.hostname.clone(),
                    merged.hostname.clone(),
                ),
                ("lifecycle", lifecycle.clone(), "active".to_string()),
            ];
            let records: Vec<diff::ChangeRecord> = fields
                .iter()
                .filter(|(_, old, new)| old != new)
                .map(|(field, old, new)| diff::ChangeRecord {
                    class: "host".into(),
                    key: String::new(),
                    change: "changed",
                    field: field.to_string(),
                    old_value: Some(serde_json::Value::String(old.clone()).to_string()),
                    new_value: Some(serde_json::Value::String(new.clone()).to_string()),
                })
                .collect();
            insert_changes(&mut tx, self.dialect, &host_id, &records, at, agent_id).await?;
            sqlx::query(
                "UPDATE hosts SET machine_id = $1, dmi_uuid = $2, dmi_serial = $3, macs = $4, hostname = $5, \
                 agent_id = $6, match_rule = $7, lifecycle = 'active', last_seen_at = $8 WHERE id = $9",
            )
            .bind(&merged.machine_id)
            .bind(&merged.dmi_uuid)
            .bind(&merged.dmi_serial)
            .bind(join_macs(&merged))
            .bind(&merged.hostname)
            .bind(agent_id)
            .bind(&rule)
            .bind(at)
            .bind(&host_id)
            .execute(&mut *tx)
            .await?;
        }
        if rule != "agent" {
            let record = diff::ChangeRecord {
                class: "host".into(),
                key: String::new(),
                change: if created { "added" } else { "changed" },
                field: "identification".into(),
                old_value: None,
                new_value: Some(serde_json::json!({ "rule": rule, "agent_id": agent_id, "possible_duplicate_of": duplicate }).to_string()),
            };
            insert_changes(
                &mut tx,
                self.dialect,
                &host_id,
                std::slice::from_ref(&record),
                at,
                agent_id,
            )
            .await?;
        }
        if let Some(event) = &event {
            if event.kind == "takeover" {
                // The previous owner owns nothing now; its next Hello is identified afresh.
                sqlx::query("UPDATE agents SET host_id = NULL WHERE host_id = $1 AND id <> $2")
                    .bind(&host_id)
                    .bind(agent_id)
                    .execute(&mut *tx)
                    .await?;
            }
            identity::record(
                &mut tx,
                &identity::NewEvent {
                    host_id: &event.matched,
                    new_host_id: created.then_some(host_id.as_str()),
                    kind: event.kind,
                    rule: event.rule,
                    reason: event.reason,
                    identity: &identity,
                    old_agent_id: event.old_agent_id.as_deref(),
                    new_agent_id: agent_id,
                    at,
                },
            )
            .await?;
        }
        sqlx::query("UPDATE agents SET host_id = $1, last_seen_at = $2 WHERE id = $3")
            .bind(&host_id)
            .bind(at)
            .bind(agent_id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(Attachment {
            host_id,
            rule,
            created,
            possible_duplicate_of: duplicate,
        })
    }

    async fn identity_events(&self, filter: &IdentityEventFilter) -> Result<Vec<IdentityEvent>> {
        Ok(identity::list(&self.pool, self.dialect, filter).await?)
    }

    async fn hosts(&self, filter: &HostFilter) -> Result<Vec<Host>> {
        let list = host_list(self.dialect, filter);
        Ok(list
            .page("id", filter.limit)
            .query_as::<Host>()?
            .fetch_all(&self.pool)
            .await?)
    }

    async fn host(&self, host_id: &str) -> Result<Option<Host>> {
        let sql = format!("SELECT {HOST_COLUMNS} FROM hosts WHERE id = $1");
        Ok(sqlx::query_as::<_, Host>(AssertSqlSafe(sql))
            .bind(host_id)
            .fetch_optional(&self.pool)
            .await?)
    }

    async fn host_items(&self, host_id: &str) -> Result<Vec<ItemRow>> {
        let mut items = sqlx::query_as::<_, ItemRow>(
            "SELECT class, item_key, name, attrs, first_seen_at, updated_at FROM ci_items WHERE host_id = $1",
        )
        .bind(host_id)
        .fetch_all(&self.pool)
        .await?;
        items.extend(self.software_items(host_id).await?);
        items.sort_by(|a, b| (&a.class, &a.item_key).cmp(&(&b.class, &b.item_key)));
        Ok(items)
    }

    async fn software(&self, name: Option<&str>) -> Result<Vec<SoftwareRow>> {
        self.software_rows(name).await
    }

    async fn hosts_running(
        &self,
        filter: &HostFilter,
        name: &str,
        conditions: &[VersionCondition],
    ) -> Result<Vec<Host>> {
        self.hosts_running_package(filter, name, conditions).await
    }

    async fn software_counts(&self, name: Option<&str>) -> Result<Vec<SoftwareCount>> {
        self.package_counts(name).await
    }

    async fn update_lifecycle(
        &self,
        now: i64,
        stale_after_ms: i64,
        retire_after_ms: i64,
    ) -> Result<(usize, Vec<String>)> {
        let mut tx = self.begin_write().await?;
        let mut stale = 0usize;
        let mut retired = Vec::new();
        // A stale host whose agent reports again is active again (it was
        // left stale until its agent re-identified, so its `agent_stale`
        // incident never resolved); then the silent ones move on.
        for (from, to, cutoff) in [
            ("stale", "active", now - stale_after_ms),
            ("active", "stale", now - stale_after_ms),
            ("stale", "retired", now - retire_after_ms),
        ] {
            let select = if to == "active" {
                "SELECT id FROM hosts WHERE lifecycle = $1 AND last_seen_at >= $2"
            } else {
                "SELECT id FROM hosts WHERE lifecycle = $1 AND last_seen_at < $2"
            };
            let rows = sqlx::query(select)
                .bind(from)
                .bind(cutoff)
                .fetch_all(&mut *tx)
                .await?;
            for row in rows {
                let host_id: String = row.try_get("id")?;
                sqlx::query("UPDATE hosts SET lifecycle = $1 WHERE id = $2")
                    .bind(to)
                    .bind(&host_id)
                    .execute(&mut *tx)
                    .await?;
                let record = diff::ChangeRecord {
                    class: "host".into(),
                    key: String::new(),
                    change: "changed",
                    field: "lifecycle".into(),
                    old_value: Some(serde_json::Value::String(from.into()).to_string()),
                    new_value: Some(serde_json::Value::String(to.into()).to_string()),
                };
                insert_changes(
                    &mut tx,
                    self.dialect,
                    &host_id,
                    std::slice::from_ref(&record),
                    now,
                    "collector",
                )
                .await?;
                match to {
                    "retired" => retired.push(host_id),
                    "stale" => stale += 1,
                    _ => {}
                }
            }
        }
        tx.commit().await?;
        Ok((stale, retired))
    }

    async fn find_hosts(&self, query: &HostQuery) -> Result<Vec<Host>> {
        self.find_host_page(query).await
    }

    async fn host_attributes(
        &self,
        host_id: &str,
    ) -> Result<std::collections::BTreeMap<String, String>> {
        self.attributes_of(host_id).await
    }

    async fn update_host_attributes(
        &self,
        host_id: &str,
        changes: &std::collections::BTreeMap<String, Option<String>>,
        replace: bool,
        at: i64,
        source: &str,
    ) -> Result<Option<std::collections::BTreeMap<String, String>>> {
        self.change_attributes(host_id, changes, replace, at, source)
            .await
    }

    async fn set_host_tags(
        &self,
        host_id: &str,
        tags: &str,
        at: i64,
        source: &str,
    ) -> Result<bool> {
        let mut tx = self.begin_write().await?;
        let Some(row) = sqlx::query("SELECT tags FROM hosts WHERE id = $1")
            .bind(host_id)
            .fetch_optional(&mut *tx)
            .await?
        else {
            tx.rollback().await?;
            return Ok(false);
        };
        let old: String = row.try_get("tags")?;
        if old != tags {
            sqlx::query("UPDATE hosts SET tags = $1 WHERE id = $2")
                .bind(tags)
                .bind(host_id)
                .execute(&mut *tx)
                .await?;
            let record = diff::ChangeRecord {
                class: "host".into(),
                key: String::new(),
                change: "changed",
                field: "tags".into(),
                old_value: Some(serde_json::Value::String(old).to_string()),
                new_value: Some(serde_json::Value::String(tags.to_string()).to_string()),
            };
            insert_changes(
                &mut tx,
                self.dialect,
                host_id,
                std::slice::from_ref(&record),
                at,
                source,
            )
            .await?;
        }
        tx.commit().await?;
        Ok(true)
    }
}
