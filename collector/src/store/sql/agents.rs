//! API tokens, enrollment tokens and agents in SQL.

use async_trait::async_trait;
use sqlx::{AssertSqlSafe, Row};

use super::SqlStore;
use crate::error::Result;
use crate::store::{
    Agent, AgentStore, ApiToken, AuditEntry, EnrollRefusal, EnrollmentToken, NewAgent,
    NewAuditEntry, NewEnrollmentToken, Revocable, Revocation, TokenStore,
};

const AGENT_COLUMNS: &str = "id, cert_fingerprint, hostname, enrolled_at, host_id, last_seq, last_seen_at, version, revoked_at, previous_fingerprint";

const API_TOKEN_COLUMNS: &str = "id, name, role, created_at, revoked_at, expires_at";

/// The table each kind of revocation updates.
fn revocable_table(what: Revocable) -> &'static str {
    match what {
        Revocable::Agent => "agents",
        Revocable::ApiToken => "api_tokens",
        Revocable::EnrollmentToken => "enrollment_tokens",
    }
}

#[async_trait]
impl TokenStore for SqlStore {
    async fn create_expiring_api_token(
        &self,
        id: &str,
        name: &str,
        role: &str,
        token_hash: &str,
        at: i64,
        expires_at: Option<i64>,
    ) -> Result<()> {
        sqlx::query("INSERT INTO api_tokens (id, name, role, token_hash, created_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6)")
            .bind(id)
            .bind(name)
            .bind(role)
            .bind(token_hash)
            .bind(at)
            .bind(expires_at)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn api_tokens(&self) -> Result<Vec<ApiToken>> {
        let sql = format!("SELECT {API_TOKEN_COLUMNS} FROM api_tokens ORDER BY created_at, id");
        Ok(sqlx::query_as::<_, ApiToken>(AssertSqlSafe(sql))
            .fetch_all(&self.pool)
            .await?)
    }

    async fn api_token_by_hash(&self, token_hash: &str) -> Result<Option<ApiToken>> {
        let sql = format!(
            "SELECT {API_TOKEN_COLUMNS} FROM api_tokens WHERE token_hash = $1 AND revoked_at IS NULL"
        );
        Ok(sqlx::query_as::<_, ApiToken>(AssertSqlSafe(sql))
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

    async fn revoke(&self, revocation: &Revocation) -> Result<bool> {
        let mut tx = self.begin_write().await?;
        let table = revocable_table(revocation.what);
        let sql =
            format!("UPDATE {table} SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL");
        let revoked = sqlx::query(AssertSqlSafe(sql))
            .bind(revocation.at)
            .bind(&revocation.id)
            .execute(&mut *tx)
            .await?
            .rows_affected()
            > 0;
        if !revoked {
            return Ok(false);
        }
        sqlx::query("INSERT INTO audit_log (at, actor, action, target) VALUES ($1, $2, $3, $4)")
            .bind(revocation.at)
            .bind(&revocation.by)
            .bind(revocation.what.action())
            .bind(&revocation.id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(true)
    }

    async fn audit_log(&self, before: Option<i64>, limit: i64) -> Result<Vec<AuditEntry>> {
        Ok(sqlx::query_as::<_, AuditEntry>(
            "SELECT id, at, actor, action, target, detail FROM audit_log WHERE id < $1 ORDER BY id DESC LIMIT $2",
        )
        .bind(before.unwrap_or(i64::MAX))
        .bind(limit)
        .fetch_all(&self.pool)
        .await?)
    }

    async fn audit(&self, entry: &NewAuditEntry) -> Result<()> {
        let mut tx = self.begin_write().await?;
        sqlx::query(
            "INSERT INTO audit_log (at, actor, action, target, detail) VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(entry.at)
        .bind(&entry.actor)
        .bind(entry.action)
        .bind(&entry.target)
        .bind(&entry.detail)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn audit_after(&self, after: i64, limit: i64) -> Result<Vec<AuditEntry>> {
        Ok(sqlx::query_as::<_, AuditEntry>(
            "SELECT id, at, actor, action, target, detail FROM audit_log WHERE id > $1 ORDER BY id LIMIT $2",
        )
        .bind(after)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?)
    }
}

/// The columns [`token_state`] reads (and the id `enroll_agent` redeems), by
/// token hash.
const TOKEN_STATE: &str = "SELECT id, max_uses, uses, expires_at, revoked_at FROM enrollment_tokens WHERE token_hash = $1";

/// Whether a token row (from [`TOKEN_STATE`]) could enroll an agent at `at`:
/// the one rule both the check before signing and the redemption apply.
fn token_state(
    row: Option<sqlx::any::AnyRow>,
    at: i64,
) -> Result<std::result::Result<(), EnrollRefusal>> {
    let Some(row) = row else {
        return Ok(Err(EnrollRefusal::Unknown));
    };
    let max_uses: i64 = row.try_get("max_uses")?;
    let uses: i64 = row.try_get("uses")?;
    let expires_at: i64 = row.try_get("expires_at")?;
    let revoked_at: Option<i64> = row.try_get("revoked_at")?;
    if revoked_at.is_some() {
        return Ok(Err(EnrollRefusal::Revoked));
    }
    if expires_at <= at {
        return Ok(Err(EnrollRefusal::Expired));
    }
    if uses >= max_uses {
        return Ok(Err(EnrollRefusal::UsedUp(max_uses)));
    }
    Ok(Ok(()))
}

#[async_trait]
impl AgentStore for SqlStore {
    async fn check_enrollment_token(
        &self,
        token_hash: &str,
        at: i64,
    ) -> Result<std::result::Result<(), EnrollRefusal>> {
        let row = sqlx::query(TOKEN_STATE)
            .bind(token_hash)
            .fetch_optional(&self.pool)
            .await?;
        token_state(row, at)
    }

    async fn enroll_agent(
        &self,
        token_hash: &str,
        agent: &NewAgent,
    ) -> Result<std::result::Result<(), EnrollRefusal>> {
        let mut tx = self.begin_write().await?;
        let row = sqlx::query(TOKEN_STATE)
            .bind(token_hash)
            .fetch_optional(&mut *tx)
            .await?;
        let token_id: Option<String> = row.as_ref().map(|row| row.try_get("id")).transpose()?;
        let max_uses: i64 = row.as_ref().map_or(Ok(0), |row| row.try_get("max_uses"))?;
        if let Err(refusal) = token_state(row, agent.enrolled_at)? {
            return Ok(Err(refusal));
        }
        // Redeemed in the same transaction; `uses < max_uses` again, for a
        // concurrent enrolment on another connection (PostgreSQL).
        let consumed = sqlx::query(
            "UPDATE enrollment_tokens SET uses = uses + 1 WHERE id = $1 AND uses < max_uses",
        )
        .bind(&token_id)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if consumed == 0 {
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
        let sql = format!(
            "SELECT {AGENT_COLUMNS} FROM agents WHERE cert_fingerprint = $1 \
             UNION ALL SELECT {AGENT_COLUMNS} FROM agents WHERE previous_fingerprint = $1 LIMIT 1"
        );
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

    async fn agents(&self) -> Result<Vec<Agent>> {
        let sql = format!("SELECT {AGENT_COLUMNS} FROM agents ORDER BY id");
        Ok(sqlx::query_as::<_, Agent>(AssertSqlSafe(sql))
            .fetch_all(&self.pool)
            .await?)
    }

    async fn set_agent_version(&self, agent_id: &str, version: &str) -> Result<()> {
        sqlx::query("UPDATE agents SET version = $1 WHERE id = $2 AND version <> $1")
            .bind(version)
            .bind(agent_id)
            .execute(&self.pool)
            .await?;
        Ok(())
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

    async fn renew_agent_certificate(
        &self,
        agent_id: &str,
        presented: &str,
        renewed: &str,
    ) -> Result<bool> {
        let result = sqlx::query(
            "UPDATE agents SET previous_fingerprint = $1, cert_fingerprint = $2 \
             WHERE id = $3 AND revoked_at IS NULL \
             AND (cert_fingerprint = $1 OR previous_fingerprint = $1)",
        )
        .bind(presented)
        .bind(renewed)
        .bind(agent_id)
        .execute(&self.pool)
        .await?;
        Ok(result.rows_affected() > 0)
    }

    async fn retire_previous_certificate(&self, agent_id: &str, current: &str) -> Result<()> {
        sqlx::query(
            "UPDATE agents SET previous_fingerprint = NULL \
             WHERE id = $1 AND cert_fingerprint = $2 AND previous_fingerprint IS NOT NULL",
        )
        .bind(agent_id)
        .bind(current)
        .execute(&self.pool)
        .await?;
        Ok(())
    }
}
