//! The SQL backend of `Store`, one implementation for SQLite and PostgreSQL
//! through sqlx's `Any` driver: every statement uses `$N` placeholders and
//! SQL both databases accept; migrations are kept per backend.

use std::sync::Arc;

use async_trait::async_trait;
use sqlx::any::{AnyPoolOptions, AnyRow};
use sqlx::{AnyConnection, AnyPool, AssertSqlSafe, Executor, Row};

use super::writer::Writer;
use super::*;
use crate::cmdb::diff::{self, CiItem};
use crate::cmdb::reconcile::{self, Candidate, Decision};
use crate::error::Error;

/// The SQL store.
#[derive(Debug, Clone)]
pub struct SqlStore {
    pool: AnyPool,
    pub(crate) backend: Backend,
    /// Group commit of inventory and health writes.
    writer: Writer,
}

type Tx = sqlx::Transaction<'static, sqlx::Any>;

/// Opens the database at `url`, applies migrations and returns the store.
pub async fn connect(url: &str) -> Result<Arc<dyn Store>> {
    Ok(Arc::new(SqlStore::connect(url).await?))
}

const HOST_COLUMNS: &str = "id, hostname, fqdn, class, machine_id, dmi_uuid, dmi_serial, macs, os_name, os_version, \
    kernel, arch, cpu_model, cpu_threads, memory_bytes, package_count, lifecycle, presence, agent_id, match_rule, \
    possible_duplicate_of, first_seen_at, last_seen_at, last_inventory_at, tags, away_until, away_reason";

const AGENT_COLUMNS: &str = "id, cert_fingerprint, hostname, enrolled_at, host_id, last_seq, last_seen_at, version, revoked_at";

impl SqlStore {
    /// Opens the database at `url` and applies migrations.
    pub async fn connect(url: &str) -> Result<Self> {
        sqlx::any::install_default_drivers();
        let backend = if url.starts_with("sqlite:") {
            Backend::Sqlite
        } else {
            Backend::Postgres
        };
        let options = AnyPoolOptions::new()
            .max_connections(if backend == Backend::Sqlite { 8 } else { 24 })
            .acquire_timeout(std::time::Duration::from_secs(30));
        let options = if backend == Backend::Sqlite {
            options.after_connect(|connection, _| {
                Box::pin(async move {
                    connection
                        .execute("PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA busy_timeout=30000; \
                             PRAGMA cache_size=-16384; PRAGMA temp_store=MEMORY; PRAGMA wal_autocheckpoint=16384;")
                        .await?;
                    Ok(())
                })
            })
        } else {
            options
        };
        let pool = options.connect(url).await.map_err(|error| {
            Error::Store(format!("cannot open database {}: {error}", redact(url)))
        })?;
        match backend {
            Backend::Sqlite => sqlx::migrate!("./migrations/sqlite").run(&pool).await?,
            Backend::Postgres => sqlx::migrate!("./migrations/postgres").run(&pool).await?,
        }
        let writer = Writer::start(pool.clone(), backend);
        Ok(Self {
            pool,
            backend,
            writer,
        })
    }

    /// The connection pool (for tests and maintenance).
    pub fn pool(&self) -> &AnyPool {
        &self.pool
    }

    pub(crate) async fn begin_write(&self) -> Result<Tx> {
        begin_write(&self.pool, self.backend).await
    }
}

/// Begins a write transaction on `pool`.
pub(crate) async fn begin_write(pool: &AnyPool, backend: Backend) -> Result<Tx> {
    Ok(match backend {
        // Take the write lock up front so concurrent writers wait instead of failing.
        Backend::Sqlite => pool.begin_with("BEGIN IMMEDIATE").await?,
        Backend::Postgres => pool.begin().await?,
    })
}

/// Hides the password in a database URL.
pub fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let credentials = &url[scheme + 3..at];
            match credentials.find(':') {
                Some(colon) => format!(
                    "{}{}:***{}",
                    &url[..scheme + 3],
                    &credentials[..colon],
                    &url[at..]
                ),
                None => url.to_string(),
            }
        }
        _ => url.to_string(),
    }
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

fn join_macs(identity: &HostIdentity) -> String {
    identity.macs.iter().cloned().collect::<Vec<_>>().join(",")
}

/// Rows per multi-row INSERT: one statement instead of one per row cuts the
/// per-statement cost that dominated a snapshot apply (docs/performance.md);
/// 100 rows stay far below SQLite's and PostgreSQL's bind-parameter limits.
const INSERT_CHUNK: usize = 100;

/// Rows per multi-row INSERT of items and history, per backend. sqlx does
/// not set `TCP_NODELAY` on its PostgreSQL sockets, so a statement larger
/// than one segment waited for a delayed ACK (~40 ms a statement, measured:
/// 1,000 full snapshots at 4.9/s with an idle collector and server); 25
/// rows (≈ 15 KB) go out in one write. SQLite has no socket.
fn insert_chunk(backend: Backend) -> usize {
    match backend {
        Backend::Sqlite => INSERT_CHUNK,
        Backend::Postgres => 25,
    }
}

/// `(…), (…)` placeholder groups for `rows` rows of `per_row` parameters,
/// bound in order. SQLite gets anonymous `?`: sqlx looks each numbered
/// parameter's name up, and SQLite finds a name by scanning every
/// parameter, which made a 400-parameter INSERT quadratic (14 % of a
/// snapshot apply); PostgreSQL gets `$1`, `$2`, ….
pub(super) fn values_list(backend: Backend, rows: usize, per_row: usize) -> String {
    let mut out = String::with_capacity(rows * per_row * 5);
    for row in 0..rows {
        if row > 0 {
            out.push_str(", ");
        }
        out.push('(');
        for column in 0..per_row {
            if column > 0 {
                out.push_str(", ");
            }
            match backend {
                Backend::Sqlite => out.push('?'),
                Backend::Postgres => {
                    out.push('$');
                    out.push_str(&(row * per_row + column + 1).to_string());
                }
            }
        }
        out.push(')');
    }
    out
}

/// Inserts new items of a host, [`insert_chunk`] rows per statement.
pub(super) async fn insert_items(
    connection: &mut AnyConnection,
    backend: Backend,
    host_id: &str,
    items: &[CiItem],
    at: i64,
) -> std::result::Result<(), sqlx::Error> {
    for chunk in items.chunks(insert_chunk(backend)) {
        let sql = format!(
            "INSERT INTO ci_items (host_id, class, item_key, name, attrs, first_seen_at, updated_at) VALUES {}",
            values_list(backend, chunk.len(), 7)
        );
        let mut query = sqlx::query(AssertSqlSafe(sql));
        for item in chunk {
            query = query
                .bind(host_id)
                .bind(&item.class)
                .bind(&item.key)
                .bind(&item.name)
                .bind(&item.attrs)
                .bind(at)
                .bind(at);
        }
        query.execute(&mut *connection).await?;
    }
    Ok(())
}

/// Records change history, [`insert_chunk`] rows per statement.
pub(super) async fn insert_changes(
    connection: &mut AnyConnection,
    backend: Backend,
    host_id: &str,
    records: &[diff::ChangeRecord],
    at: i64,
    source: &str,
) -> std::result::Result<(), sqlx::Error> {
    for chunk in records.chunks(insert_chunk(backend)) {
        let sql = format!(
            "INSERT INTO changes (host_id, class, item_key, change, field, old_value, new_value, at, source) VALUES {}",
            values_list(backend, chunk.len(), 9)
        );
        let mut query = sqlx::query(AssertSqlSafe(sql));
        for record in chunk {
            query = query
                .bind(host_id)
                .bind(&record.class)
                .bind(&record.key)
                .bind(record.change)
                .bind(&record.field)
                .bind(record.old_value.as_deref())
                .bind(record.new_value.as_deref())
                .bind(at)
                .bind(source);
        }
        query.execute(&mut *connection).await?;
    }
    Ok(())
}

/// Host summary columns derived from the singleton items.
pub(super) fn summary_updates(items: &[CiItem]) -> Vec<(&'static str, SummaryValue)> {
    let mut out = Vec::new();
    for item in items {
        // Only singleton sections feed the summary: skip parsing every package.
        if !rollcall_proto::inventory::section_for_class(&item.class)
            .is_some_and(rollcall_proto::inventory::is_singleton)
        {
            continue;
        }
        let Ok(serde_json::Value::Object(attrs)) =
            serde_json::from_str::<serde_json::Value>(&item.attrs)
        else {
            continue;
        };
        let text = |key: &str| {
            attrs
                .get(key)
                .and_then(|v| v.as_str())
                .unwrap_or_default()
                .to_string()
        };
        let number = |key: &str| attrs.get(key).and_then(|v| v.as_i64()).unwrap_or_default();
        match item.class.as_str() {
            "os" => {
                let name = if text("pretty_name").is_empty() {
                    text("name")
                } else {
                    text("pretty_name")
                };
                out.push(("os_name", SummaryValue::Text(name)));
                out.push(("os_version", SummaryValue::Text(text("version"))));
                out.push(("kernel", SummaryValue::Text(text("kernel"))));
                out.push(("arch", SummaryValue::Text(text("arch"))));
            }
            "cpu" => {
                out.push(("cpu_model", SummaryValue::Text(text("model"))));
                out.push(("cpu_threads", SummaryValue::Number(number("threads"))));
            }
            "memory" => out.push(("memory_bytes", SummaryValue::Number(number("total_bytes")))),
            "identity" => {
                let macs: Vec<String> = attrs
                    .get("macs")
                    .and_then(|v| v.as_array())
                    .map(|list| {
                        list.iter()
                            .filter_map(|mac| mac.as_str().map(String::from))
                            .collect()
                    })
                    .unwrap_or_default();
                let identity = HostIdentity {
                    machine_id: text("machine_id"),
                    dmi_uuid: text("dmi_uuid"),
                    dmi_serial: text("dmi_serial"),
                    macs: macs.into_iter().collect(),
                    hostname: text("hostname"),
                }
                .cleaned();
                out.push(("hostname", SummaryValue::Text(text("hostname"))));
                out.push(("fqdn", SummaryValue::Text(text("fqdn"))));
                // Identifiers are only ever filled in here, never blanked (reconciliation needs them).
                for (column, value) in [
                    ("machine_id", identity.machine_id.clone()),
                    ("dmi_uuid", identity.dmi_uuid.clone()),
                    ("dmi_serial", identity.dmi_serial.clone()),
                    ("macs", join_macs(&identity)),
                ] {
                    if !value.is_empty() {
                        out.push((column, SummaryValue::Text(value)));
                    }
                }
            }
            _ => {}
        }
    }
    out.retain(|(column, value)| {
        !(*column == "hostname" && matches!(value, SummaryValue::Text(t) if t.is_empty()))
    });
    out
}

pub(super) enum SummaryValue {
    Text(String),
    Number(i64),
}

#[async_trait]
impl Store for SqlStore {
    fn backend(&self) -> Backend {
        self.backend
    }

    async fn create_api_token(
        &self,
        id: &str,
        name: &str,
        role: &str,
        token_hash: &str,
        at: i64,
    ) -> Result<()> {
        sqlx::query("INSERT INTO api_tokens (id, name, role, token_hash, created_at) VALUES ($1, $2, $3, $4, $5)")
            .bind(id)
            .bind(name)
            .bind(role)
            .bind(token_hash)
            .bind(at)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn api_token_by_hash(&self, token_hash: &str) -> Result<Option<ApiToken>> {
        Ok(sqlx::query_as::<_, ApiToken>(
            "SELECT id, name, role, created_at, revoked_at FROM api_tokens WHERE token_hash = $1 AND revoked_at IS NULL",
        )
        .bind(token_hash)
        .fetch_optional(&self.pool)
        .await?)
    }

    async fn api_token_count(&self) -> Result<i64> {
        Ok(sqlx::query("SELECT COUNT(*) AS n FROM api_tokens")
            .fetch_one(&self.pool)
            .await?
            .try_get("n")?)
    }

    async fn create_enrollment_token(&self, token: &NewEnrollmentToken) -> Result<()> {
        sqlx::query(
            "INSERT INTO enrollment_tokens (id, token_hash, description, max_uses, uses, expires_at, created_at) \
             VALUES ($1, $2, $3, $4, 0, $5, $6)",
        )
        .bind(&token.id)
        .bind(&token.token_hash)
        .bind(&token.description)
        .bind(token.max_uses)
        .bind(token.expires_at)
        .bind(token.created_at)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn enrollment_tokens(&self) -> Result<Vec<EnrollmentToken>> {
        Ok(sqlx::query_as::<_, EnrollmentToken>(
            "SELECT id, description, max_uses, uses, expires_at, created_at, revoked_at FROM enrollment_tokens \
             ORDER BY created_at",
        )
        .fetch_all(&self.pool)
        .await?)
    }

    async fn enroll_agent(
        &self,
        token_hash: &str,
        agent: &NewAgent,
    ) -> Result<std::result::Result<(), EnrollRefusal>> {
        let mut tx = self.begin_write().await?;
        let Some(row) = sqlx::query(
            "SELECT id, max_uses, uses, expires_at, revoked_at FROM enrollment_tokens WHERE token_hash = $1",
        )
        .bind(token_hash)
        .fetch_optional(&mut *tx)
        .await?
        else {
            return Ok(Err(EnrollRefusal::Unknown));
        };
        let token_id: String = row.try_get("id")?;
        let max_uses: i64 = row.try_get("max_uses")?;
        let uses: i64 = row.try_get("uses")?;
        let expires_at: i64 = row.try_get("expires_at")?;
        let revoked_at: Option<i64> = row.try_get("revoked_at")?;
        if revoked_at.is_some() {
            return Ok(Err(EnrollRefusal::Revoked));
        }
        if expires_at <= agent.enrolled_at {
            return Ok(Err(EnrollRefusal::Expired));
        }
        let consumed = sqlx::query(
            "UPDATE enrollment_tokens SET uses = uses + 1 WHERE id = $1 AND uses < max_uses",
        )
        .bind(&token_id)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if consumed == 0 || uses >= max_uses {
            return Ok(Err(EnrollRefusal::UsedUp(max_uses)));
        }
        sqlx::query(
            "INSERT INTO agents (id, cert_fingerprint, hostname, enrolled_at, enrollment_token_id, version) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(&agent.id)
        .bind(&agent.cert_fingerprint)
        .bind(&agent.hostname)
        .bind(agent.enrolled_at)
        .bind(&token_id)
        .bind(&agent.version)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(Ok(()))
    }

    async fn agent_by_fingerprint(&self, fingerprint: &str) -> Result<Option<Agent>> {
        let sql = format!("SELECT {AGENT_COLUMNS} FROM agents WHERE cert_fingerprint = $1");
        Ok(sqlx::query_as::<_, Agent>(AssertSqlSafe(sql))
            .bind(fingerprint)
            .fetch_optional(&self.pool)
            .await?)
    }

    async fn agent(&self, agent_id: &str) -> Result<Option<Agent>> {
        let sql = format!("SELECT {AGENT_COLUMNS} FROM agents WHERE id = $1");
        Ok(sqlx::query_as::<_, Agent>(AssertSqlSafe(sql))
            .bind(agent_id)
            .fetch_optional(&self.pool)
            .await?)
    }

    async fn revoke_agent(&self, agent_id: &str, at: i64) -> Result<bool> {
        let result =
            sqlx::query("UPDATE agents SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL")
                .bind(at)
                .bind(agent_id)
                .execute(&self.pool)
                .await?;
        Ok(result.rows_affected() > 0)
    }

    async fn attach_host(
        &self,
        agent_id: &str,
        identity: &HostIdentity,
        hostname: &str,
        at: i64,
    ) -> Result<Attachment> {
        let identity = identity.cleaned();
        let mut tx = self.begin_write().await?;
        let current: Option<String> = sqlx::query("SELECT host_id FROM agents WHERE id = $1")
            .bind(agent_id)
            .fetch_optional(&mut *tx)
            .await?
            .map(|row| row.try_get::<Option<String>, _>("host_id"))
            .transpose()?
            .flatten();
        let (host_id, rule, created, duplicate) = match current {
            Some(host_id) => (host_id, "agent".to_string(), false, None),
            None => {
                let mut sql = String::from(
                    "SELECT id, machine_id, dmi_uuid, dmi_serial, macs, hostname FROM hosts WHERE \
                     (dmi_uuid <> '' AND dmi_uuid = $1) OR (dmi_serial <> '' AND dmi_serial = $2) \
                     OR (machine_id <> '' AND machine_id = $3) OR (hostname <> '' AND hostname = $4)",
                );
                for index in 0..identity.macs.len() {
                    sql.push_str(&format!(" OR macs LIKE ${}", index + 5));
                }
                let mut query = sqlx::query(AssertSqlSafe(sql))
                    .bind(&identity.dmi_uuid)
                    .bind(&identity.dmi_serial)
                    .bind(&identity.machine_id)
                    .bind(&identity.hostname);
                for mac in &identity.macs {
                    query = query.bind(format!("%{mac}%"));
                }
                let rows = query.fetch_all(&mut *tx).await?;
                let candidates = rows
                    .iter()
                    .map(|row| {
                        Ok(Candidate {
                            host_id: row.try_get("id")?,
                            identity: identity_of(row)?,
                        })
                    })
                    .collect::<std::result::Result<Vec<_>, sqlx::Error>>()?;
                match reconcile::decide(&identity, &candidates) {
                    Decision::Matched { host_id, rule } => (host_id, rule.to_string(), false, None),
                    Decision::New => (
                        uuid::Uuid::new_v4().to_string(),
                        "new".to_string(),
                        true,
                        None,
                    ),
                    Decision::Ambiguous { rule, host_ids } => (
                        uuid::Uuid::new_v4().to_string(),
                        format!("ambiguous:{rule}"),
                        true,
                        host_ids.into_iter().next(),
                    ),
                }
            }
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
            insert_changes(&mut tx, self.backend, &host_id, &records, at, agent_id).await?;
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
                self.backend,
                &host_id,
                std::slice::from_ref(&record),
                at,
                agent_id,
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

    async fn apply_inventory(
        &self,
        context: &ApplyContext,
        change: InventoryChange,
    ) -> Result<ApplyOutcome> {
        self.writer.apply_inventory(context, change).await
    }

    async fn record_seen(&self, batch: &[Seen]) -> Result<()> {
        if batch.is_empty() {
            return Ok(());
        }
        // Two statements per chunk of agents, not two per agent: a heartbeat
        // storm comes here thousands of times a second.
        let mut tx = self.begin_write().await?;
        for chunk in batch.chunks(INSERT_CHUNK) {
            let values = values_list(self.backend, chunk.len(), 4);
            // Never move a sequence number backwards (a late batch after an inventory apply).
            let agents = format!(
                "UPDATE agents SET last_seq = CASE WHEN agents.last_seq < v.column2 THEN v.column2 ELSE agents.last_seq END, \
                 last_seen_at = v.column3 FROM (VALUES {values}) AS v WHERE agents.id = v.column1"
            );
            let hosts = format!(
                "UPDATE hosts SET last_seen_at = v.column3 FROM (VALUES {values}) AS v \
                 WHERE hosts.id = v.column4 AND hosts.last_seen_at < v.column3"
            );
            for sql in [agents, hosts] {
                let mut query = sqlx::query(AssertSqlSafe(sql));
                for seen in chunk {
                    query = query
                        .bind(&seen.agent_id)
                        .bind(seen.seq)
                        .bind(seen.at)
                        .bind(&seen.host_id);
                }
                query.execute(&mut *tx).await?;
            }
        }
        tx.commit().await?;
        Ok(())
    }

    async fn record_health(
        &self,
        context: &ApplyContext,
        sampled_at: i64,
        data: &str,
    ) -> Result<bool> {
        self.writer.record_health(context, sampled_at, data).await
    }

    async fn hosts(&self, filter: &HostFilter) -> Result<Vec<Host>> {
        let mut sql = format!("SELECT {HOST_COLUMNS} FROM hosts WHERE id > $1");
        let mut next = 2;
        if filter.name.is_some() {
            sql.push_str(&format!(
                " AND (LOWER(hostname) LIKE ${next} OR LOWER(fqdn) LIKE ${next})"
            ));
            next += 1;
        }
        if filter.lifecycle.is_some() {
            sql.push_str(&format!(" AND lifecycle = ${next}"));
            next += 1;
        }
        sql.push_str(&format!(" ORDER BY id LIMIT ${next}"));
        let mut query = sqlx::query_as::<_, Host>(AssertSqlSafe(sql))
            .bind(filter.after.clone().unwrap_or_default());
        if let Some(name) = &filter.name {
            query = query.bind(format!("%{}%", name.to_lowercase()));
        }
        if let Some(lifecycle) = &filter.lifecycle {
            query = query.bind(lifecycle.clone());
        }
        Ok(query.bind(filter.limit).fetch_all(&self.pool).await?)
    }

    async fn host(&self, host_id: &str) -> Result<Option<Host>> {
        let sql = format!("SELECT {HOST_COLUMNS} FROM hosts WHERE id = $1");
        Ok(sqlx::query_as::<_, Host>(AssertSqlSafe(sql))
            .bind(host_id)
            .fetch_optional(&self.pool)
            .await?)
    }

    async fn host_items(&self, host_id: &str) -> Result<Vec<ItemRow>> {
        Ok(sqlx::query_as::<_, ItemRow>(
            "SELECT class, item_key, name, attrs, first_seen_at, updated_at FROM ci_items WHERE host_id = $1 \
             ORDER BY class, item_key",
        )
        .bind(host_id)
        .fetch_all(&self.pool)
        .await?)
    }

    async fn changes(&self, filter: &ChangeFilter) -> Result<Vec<Change>> {
        let mut sql = String::from(
            "SELECT id, host_id, class, item_key, change, field, old_value, new_value, at, source FROM changes \
             WHERE id > $1 AND at >= $2 AND at < $3",
        );
        let mut next = 5;
        let optional = [
            ("host_id", &filter.host_id),
            ("class", &filter.class),
            ("item_key", &filter.item_key),
        ];
        for (column, value) in &optional {
            if value.is_some() {
                sql.push_str(&format!(" AND {column} = ${next}"));
                next += 1;
            }
        }
        sql.push_str(" ORDER BY id LIMIT $4");
        let mut query = sqlx::query_as::<_, Change>(AssertSqlSafe(sql))
            .bind(filter.after_id.unwrap_or(0))
            .bind(filter.since.unwrap_or(i64::MIN))
            .bind(filter.until.unwrap_or(i64::MAX))
            .bind(filter.limit);
        for (_, value) in optional {
            if let Some(value) = value {
                query = query.bind(value.clone());
            }
        }
        Ok(query.fetch_all(&self.pool).await?)
    }

    async fn software(&self, name: Option<&str>) -> Result<Vec<SoftwareRow>> {
        let base = "SELECT i.host_id AS host_id, i.name AS name, i.attrs AS attrs FROM ci_items i JOIN hosts h ON h.id = i.host_id \
                    WHERE i.class = 'software' AND h.lifecycle <> 'retired'";
        let rows = match name {
            Some(name) => {
                sqlx::query(AssertSqlSafe(format!("{base} AND i.name = $1")))
                    .bind(name)
                    .fetch_all(&self.pool)
                    .await?
            }
            None => {
                sqlx::query(AssertSqlSafe(base.to_string()))
                    .fetch_all(&self.pool)
                    .await?
            }
        };
        let mut out = Vec::with_capacity(rows.len());
        for row in rows {
            let attrs: String = row.try_get("attrs")?;
            let value: serde_json::Value =
                serde_json::from_str(&attrs).unwrap_or(serde_json::Value::Null);
            let text = |key: &str| {
                value
                    .get(key)
                    .and_then(|v| v.as_str())
                    .unwrap_or_default()
                    .to_string()
            };
            out.push(SoftwareRow {
                host_id: row.try_get("host_id")?,
                name: row.try_get("name")?,
                version: text("version"),
                arch: text("arch"),
                manager: text("manager"),
            });
        }
        Ok(out)
    }

    async fn update_lifecycle(
        &self,
        now: i64,
        stale_after_ms: i64,
        retire_after_ms: i64,
    ) -> Result<(usize, usize)> {
        let mut tx = self.begin_write().await?;
        let mut counts = [0usize; 2];
        for (index, (from, to, cutoff)) in [
            ("active", "stale", now - stale_after_ms),
            ("stale", "retired", now - retire_after_ms),
        ]
        .into_iter()
        .enumerate()
        {
            let rows =
                sqlx::query("SELECT id FROM hosts WHERE lifecycle = $1 AND last_seen_at < $2")
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
                    self.backend,
                    &host_id,
                    std::slice::from_ref(&record),
                    now,
                    "collector",
                )
                .await?;
                counts[index] += 1;
            }
        }
        tx.commit().await?;
        Ok((counts[0], counts[1]))
    }

    async fn health_samples(&self, host_id: &str, limit: i64) -> Result<Vec<(i64, String)>> {
        let rows = sqlx::query(
            "SELECT sampled_at, data FROM health_samples WHERE host_id = $1 ORDER BY sampled_at DESC, seq DESC LIMIT $2",
        )
        .bind(host_id)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| Ok((row.try_get("sampled_at")?, row.try_get("data")?)))
            .collect::<std::result::Result<_, sqlx::Error>>()
            .map_err(Error::from)
    }
}

#[cfg(test)]
mod tests {
    use super::redact;

    #[test]
    fn redacts_passwords() {
        assert_eq!(redact("postgres://u:secret@h/db"), "postgres://u:***@h/db");
        assert_eq!(redact("sqlite://x.db"), "sqlite://x.db");
    }
}
