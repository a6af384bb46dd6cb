//! API tokens, enrollment tokens and agents in SQL.

use async_trait::async_trait;
use sqlx::{AssertSqlSafe, Row};

use super::SqlStore;
use crate::error::Result;
use crate::store::{
    Agent, AgentStore, ApiToken, EnrollRefusal, EnrollmentToken, NewAgent, NewEnrollmentToken,
    TokenStore,
};

const AGENT_COLUMNS: &str = "id, cert_fingerprint, hostname, enrolled_at, host_id, last_seq, last_seen_at, version, revoked_at";

#[async_trait]
impl TokenStore for SqlStore {
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
}

/// The columns [`token_state`] reads, by token hash.
const TOKEN_STATE: &str =
    "SELECT max_uses, uses, expires_at, revoked_at FROM enrollment_tokens WHERE token_hash = $1";

/// Whether a token row (from [`TOKEN_STATE`]) could enroll an agent at `at`. The same rules as `enroll_agent`
/// applies in its transaction (kept there as is so that concurrent work on
/// redemption merges cleanly; fold it into this when that settles).
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
}
