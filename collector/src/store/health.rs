//! Health samples and their rollups (`HealthStore`, a part of `Store`):
//! reading raw samples and buckets for the API, and the bounded steps of
//! the retention job. Samples are written by the ingest path
//! (`InventoryStore::record_health`); the encoding and the bucket
//! arithmetic are `cmdb::rollup`.

use async_trait::async_trait;

pub use crate::cmdb::rollup::{Bucket, Tier};
use crate::error::Result;

/// One raw sample as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawSample {
    /// When the agent took it (ms).
    pub sampled_at: i64,
    /// The agent's sequence number of the message.
    pub seq: i64,
    /// The report, encoded by `cmdb::rollup::encode_sample`.
    pub data: Vec<u8>,
}

/// What the retention job moves or drops, as times (ms).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cutoffs {
    /// Raw samples taken before this are rolled into 5-minute buckets.
    pub raw_before: i64,
    /// 5-minute rows (one hour each) that end at or before this are rolled into hourly buckets.
    pub five_minute_before: i64,
    /// Hourly rows (half a day each) that end at or before this are deleted.
    pub hourly_before: i64,
}

/// What one step of the retention job did (one transaction).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Moved {
    /// Raw samples rolled into 5-minute buckets (and deleted).
    pub raw: usize,
    /// 5-minute rows rolled into hourly buckets (and deleted).
    pub five_minute: usize,
    /// Hourly rows deleted past retention.
    pub expired: usize,
}

impl Moved {
    /// Whether the step found nothing to do.
    pub fn is_empty(&self) -> bool {
        self.raw == 0 && self.five_minute == 0 && self.expired == 0
    }
}

/// Health storage: reads for the API, bounded steps for the retention job.
#[async_trait]
pub trait HealthStore {
    /// Raw samples of a host taken in `since..until`, newest first, at
    /// most `limit` (rows a release before 0007 stored as JSON included).
    async fn health_raw(
        &self,
        host_id: &str,
        since: i64,
        until: i64,
        limit: i64,
    ) -> Result<Vec<RawSample>>;
    /// The buckets of `tier` of a host that start in `since..until`, oldest first.
    async fn health_buckets(
        &self,
        host_id: &str,
        tier: Tier,
        since: i64,
        until: i64,
    ) -> Result<Vec<(i64, Bucket)>>;
    /// Host ids after `after` in id order, at most `limit` (the job's walk).
    async fn health_hosts(&self, after: &str, limit: i64) -> Result<Vec<String>>;
    /// One bounded step of the retention job for a host, in one short
    /// transaction: rolls at most `max_rows` raw samples older than
    /// `cutoffs.raw_before` into their 5-minute buckets; or, when there are
    /// none, the expired 5-minute rows of one hourly row into hourly buckets; or
    /// deletes expired hourly rows. Samples are moved (merged and deleted
    /// together), so a step that fails or is cut short changes nothing, and
    /// one that ran is never applied twice. An empty [`Moved`]: nothing left.
    async fn roll_up_health(
        &self,
        host_id: &str,
        cutoffs: &Cutoffs,
        max_rows: i64,
    ) -> Result<Moved>;
    /// Re-encodes at most `max_rows` samples a release before 0007 stored
    /// as JSON into raw samples, in one transaction; the number converted
    /// (0: none left).
    async fn convert_legacy_health(&self, max_rows: i64) -> Result<usize>;
}
