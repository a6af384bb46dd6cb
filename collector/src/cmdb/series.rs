//! A host's health as a series: the raw samples and the rollup tiers of a
//! window merged into points of one step (raised to the coarsest stored
//! resolution in the window, so no stored bucket is split). The API's
//! `/hosts/{id}/health?step=` and the console's charts read it.

use std::collections::BTreeMap;

use serde_json::{Map, Value, json};

use crate::cmdb::rollup::{self, Bucket, Tier, decode_sample, effective_step};
use crate::error::{Error, Result};
use crate::store::Store;

/// The points of `id`'s health from `since` to `until` at `step_ms` (raised
/// to the coarsest stored resolution in the window), from every tier: (the
/// step used, points by start, how many rows of each tier were read).
pub async fn points(
    store: &dyn Store,
    id: &str,
    since: i64,
    until: i64,
    step_ms: i64,
    max_raw: i64,
) -> Result<(i64, BTreeMap<i64, Bucket>, Map<String, Value>)> {
    let raw = store
        .health_raw(id, since, until, max_raw.saturating_add(1))
        .await?;
    if raw.len() as i64 > max_raw {
        return Err(Error::InvalidInput(format!(
            "since..until holds more than {max_raw} raw samples; use a shorter window"
        )));
    }
    let mut tiers = Vec::new();
    for tier in Tier::ALL {
        tiers.push((tier, store.health_buckets(id, tier, since, until).await?));
    }
    let resolution = tiers
        .iter()
        .filter(|(_, buckets)| !buckets.is_empty())
        .map(|(tier, _)| tier.bucket_ms())
        .max()
        .unwrap_or(0);
    let step_ms = effective_step(step_ms, resolution);
    let mut points: BTreeMap<i64, Bucket> = BTreeMap::new();
    for sample in &raw {
        if let Some(report) = decode_sample(&sample.data) {
            rollup::add(
                &mut points,
                sample.sampled_at,
                &Bucket::of_report(&report),
                step_ms,
            );
        }
    }
    let mut read = Map::new();
    read.insert("raw".into(), json!(raw.len()));
    for (tier, buckets) in &tiers {
        read.insert(tier.name().into(), json!(buckets.len()));
        for (start, bucket) in buckets {
            rollup::add(&mut points, *start, bucket, step_ms);
        }
    }
    Ok((step_ms, points, read))
}
