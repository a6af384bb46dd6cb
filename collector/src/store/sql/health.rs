//! Health storage in SQL: raw samples (`health_raw`, plus the JSON rows of
//! `health_samples` a release before 0007 left), packed rollup rows
//! (`health_rollups`), and the retention job's steps. Each step is one
//! short write transaction that claims rows with `DELETE … RETURNING` and
//! merges them into the next tier's row, so two collectors on one
//! PostgreSQL never count a sample twice (a row is deleted once) and a
//! step that fails rolls back whole.

use std::collections::BTreeMap;

use async_trait::async_trait;
use sqlx::{AnyConnection, AssertSqlSafe};

use super::SqlStore;
use super::dialect::Dialect;
use crate::cmdb::rollup::{
    self, Bucket, FIVE_MINUTES_MS, HOUR_MS, Tier, decode_sample, legacy_sample,
};
use crate::error::{Error, Result};
use crate::store::{Cutoffs, HealthStore, Moved, RawSample};

#[async_trait]
impl HealthStore for SqlStore {
    async fn health_raw(
        &self,
        host_id: &str,
        since: i64,
        until: i64,
        limit: i64,
    ) -> Result<Vec<RawSample>> {
        let current: Vec<(i64, i64, Vec<u8>)> = sqlx::query_as(
            "SELECT sampled_at, seq, data FROM health_raw WHERE host_id = $1 AND sampled_at >= $2 \
             AND sampled_at < $3 ORDER BY sampled_at DESC, seq DESC LIMIT $4",
        )
        .bind(host_id)
        .bind(since)
        .bind(until)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        let legacy: Vec<(i64, i64, String)> = sqlx::query_as(
            "SELECT sampled_at, seq, data FROM health_samples WHERE host_id = $1 AND sampled_at >= $2 \
             AND sampled_at < $3 ORDER BY sampled_at DESC, seq DESC LIMIT $4",
        )
        .bind(host_id)
        .bind(since)
        .bind(until)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        let mut samples: Vec<RawSample> = current
            .into_iter()
            .map(|(sampled_at, seq, data)| RawSample {
                sampled_at,
                seq,
                data,
            })
            .chain(legacy.into_iter().filter_map(|(sampled_at, seq, json)| {
                Some(RawSample {
                    sampled_at,
                    seq,
                    data: legacy_sample(&json)?,
                })
            }))
            .collect();
        samples.sort_by_key(|sample| std::cmp::Reverse((sample.sampled_at, sample.seq)));
        samples.dedup_by_key(|sample| (sample.sampled_at, sample.seq));
        samples.truncate(usize::try_from(limit).unwrap_or(0));
        Ok(samples)
    }

    async fn health_buckets(
        &self,
        host_id: &str,
        tier: Tier,
        since: i64,
        until: i64,
    ) -> Result<Vec<(i64, Bucket)>> {
        let rows: Vec<(i64, Vec<u8>)> = sqlx::query_as(
            "SELECT period_start, data FROM health_rollups WHERE host_id = $1 AND tier = $2 \
             AND period_start > $3 AND period_start < $4 ORDER BY period_start",
        )
        .bind(host_id)
        .bind(tier.code())
        .bind(since.saturating_sub(tier.row_ms()))
        .bind(until)
        .fetch_all(&self.pool)
        .await?;
        let mut buckets = Vec::new();
        for (row_start, data) in rows {
            for (start, bucket) in decode_row(tier, row_start, &data)? {
                if (since..until).contains(&start) {
                    buckets.push((start, bucket));
                }
            }
        }
        Ok(buckets)
    }

    async fn health_hosts(&self, after: &str, limit: i64) -> Result<Vec<String>> {
        let rows: Vec<(String,)> =
            sqlx::query_as("SELECT id FROM hosts WHERE id > $1 ORDER BY id LIMIT $2")
                .bind(after)
                .bind(limit)
                .fetch_all(&self.pool)
                .await?;
        Ok(rows.into_iter().map(|(id,)| id).collect())
    }

    async fn roll_up_health(
        &self,
        host_id: &str,
        cutoffs: &Cutoffs,
        max_rows: i64,
    ) -> Result<Moved> {
        let mut tx = self.begin_write().await?;
        let moved = step(&mut tx, self.dialect, host_id, cutoffs, max_rows).await?;
        tx.commit().await?;
        Ok(moved)
    }

    async fn convert_legacy_health(&self, max_rows: i64) -> Result<usize> {
        let mut tx = self.begin_write().await?;
        let rows: Vec<(String, i64, i64, String)> = sqlx::query_as(
            "DELETE FROM health_samples WHERE (host_id, sampled_at, seq) IN \
             (SELECT host_id, sampled_at, seq FROM health_samples LIMIT $1) \
             RETURNING host_id, sampled_at, seq, data",
        )
        .bind(max_rows)
        .fetch_all(&mut *tx)
        .await?;
        for (host_id, sampled_at, seq, json) in &rows {
            let Some(data) = legacy_sample(json) else {
                tracing::warn!(
                    host_id,
                    sampled_at,
                    "dropping a stored health sample that is not a report"
                );
                continue;
            };
            sqlx::query(
                "INSERT INTO health_raw (host_id, sampled_at, seq, data) VALUES ($1, $2, $3, $4) \
                 ON CONFLICT DO NOTHING",
            )
            .bind(host_id)
            .bind(sampled_at)
            .bind(seq)
            .bind(data)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(rows.len())
    }
}

fn decode_row(tier: Tier, row_start: i64, data: &[u8]) -> Result<BTreeMap<i64, Bucket>> {
    rollup::decode(tier, row_start, data).map_err(|error| {
        Error::Store(format!(
            "health rollup row {} at {row_start}: {error}",
            tier.name()
        ))
    })
}

/// The retention step of `HealthStore::roll_up_health`, on its transaction.
async fn step(
    tx: &mut AnyConnection,
    dialect: Dialect,
    host_id: &str,
    cutoffs: &Cutoffs,
    max_rows: i64,
) -> Result<Moved> {
    let (oldest_raw,): (Option<i64>,) =
        sqlx::query_as("SELECT MIN(sampled_at) FROM health_raw WHERE host_id = $1")
            .bind(host_id)
            .fetch_one(&mut *tx)
            .await?;
    if let Some(oldest) = oldest_raw.filter(|oldest| *oldest < cutoffs.raw_before) {
        // One hour row per step: one read-modify-write of a packed row.
        let row_start = rollup::floor(oldest, HOUR_MS);
        let end = cutoffs.raw_before.min(row_start + HOUR_MS);
        let rows: Vec<(i64, Vec<u8>)> = sqlx::query_as(
            "DELETE FROM health_raw WHERE host_id = $1 AND (sampled_at, seq) IN \
             (SELECT sampled_at, seq FROM health_raw WHERE host_id = $1 AND sampled_at < $2 \
              ORDER BY sampled_at, seq LIMIT $3) RETURNING sampled_at, data",
        )
        .bind(host_id)
        .bind(end)
        .bind(max_rows)
        .fetch_all(&mut *tx)
        .await?;
        let mut buckets = BTreeMap::new();
        for (sampled_at, data) in &rows {
            match decode_sample(data) {
                Some(report) => rollup::add(
                    &mut buckets,
                    *sampled_at,
                    &Bucket::of_report(&report),
                    FIVE_MINUTES_MS,
                ),
                None => {
                    tracing::warn!(
                        host_id,
                        sampled_at,
                        "dropping a stored health sample that is not a report"
                    )
                }
            }
        }
        merge_row(tx, dialect, host_id, Tier::FiveMinutes, row_start, buckets).await?;
        return Ok(Moved {
            raw: rows.len(),
            ..Moved::default()
        });
    }
    let (oldest_five,): (Option<i64>,) = sqlx::query_as(
        "SELECT MIN(period_start) FROM health_rollups WHERE host_id = $1 AND tier = $2",
    )
    .bind(host_id)
    .bind(Tier::FiveMinutes.code())
    .fetch_one(&mut *tx)
    .await?;
    if let Some(oldest) =
        oldest_five.filter(|oldest| oldest.saturating_add(HOUR_MS) <= cutoffs.five_minute_before)
    {
        // The expired hour rows of one hourly row: at most 12.
        let span = Tier::Hourly.row_ms();
        let row_start = rollup::floor(oldest, span);
        let end = (row_start + span).min(cutoffs.five_minute_before - HOUR_MS + 1);
        let rows: Vec<(i64, Vec<u8>)> = sqlx::query_as(
            "DELETE FROM health_rollups WHERE host_id = $1 AND tier = $2 \
             AND period_start >= $3 AND period_start < $4 RETURNING period_start, data",
        )
        .bind(host_id)
        .bind(Tier::FiveMinutes.code())
        .bind(row_start)
        .bind(end)
        .fetch_all(&mut *tx)
        .await?;
        let mut hourly = BTreeMap::new();
        for (row_start, data) in &rows {
            for (start, bucket) in decode_row(Tier::FiveMinutes, *row_start, data)? {
                rollup::add(&mut hourly, start, &bucket, HOUR_MS);
            }
        }
        merge_row(tx, dialect, host_id, Tier::Hourly, row_start, hourly).await?;
        return Ok(Moved {
            five_minute: rows.len(),
            ..Moved::default()
        });
    }
    let expired = sqlx::query(
        "DELETE FROM health_rollups WHERE host_id = $1 AND tier = $2 AND period_start IN \
         (SELECT period_start FROM health_rollups WHERE host_id = $1 AND tier = $2 \
          AND period_start <= $3 ORDER BY period_start LIMIT $4)",
    )
    .bind(host_id)
    .bind(Tier::Hourly.code())
    .bind(cutoffs.hourly_before.saturating_sub(Tier::Hourly.row_ms()))
    .bind(max_rows)
    .execute(&mut *tx)
    .await?
    .rows_affected();
    Ok(Moved {
        expired: usize::try_from(expired).unwrap_or(usize::MAX),
        ..Moved::default()
    })
}

/// Merges `buckets` into the stored row of `tier` at `row_start` (read
/// under a row lock on PostgreSQL), creating it if missing.
async fn merge_row(
    tx: &mut AnyConnection,
    dialect: Dialect,
    host_id: &str,
    tier: Tier,
    row_start: i64,
    mut buckets: BTreeMap<i64, Bucket>,
) -> Result<()> {
    if buckets.is_empty() {
        return Ok(());
    }
    let sql = format!(
        "SELECT data FROM health_rollups WHERE host_id = $1 AND tier = $2 AND period_start = $3{}",
        dialect.for_update()
    );
    let existing: Option<(Vec<u8>,)> = sqlx::query_as(AssertSqlSafe(sql))
        .bind(host_id)
        .bind(tier.code())
        .bind(row_start)
        .fetch_optional(&mut *tx)
        .await?;
    let found = existing.is_some();
    if let Some((data,)) = existing {
        for (start, bucket) in decode_row(tier, row_start, &data)? {
            rollup::add(&mut buckets, start, &bucket, tier.bucket_ms());
        }
    }
    let data = rollup::encode(tier, row_start, &buckets).map_err(Error::Internal)?;
    let statement = if found {
        "UPDATE health_rollups SET data = $4 WHERE host_id = $1 AND tier = $2 AND period_start = $3"
    } else {
        "INSERT INTO health_rollups (host_id, tier, period_start, data) VALUES ($1, $2, $3, $4)"
    };
    sqlx::query(statement)
        .bind(host_id)
        .bind(tier.code())
        .bind(row_start)
        .bind(data)
        .execute(&mut *tx)
        .await?;
    Ok(())
}
