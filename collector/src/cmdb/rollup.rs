//! Health rollups, pure: which metrics a sample contributes, the
//! min/avg/max bucket of a time span and how two merge, the two rollup
//! tiers (5-minute buckets packed twelve to an hour row, hourly buckets
//! packed twelve to a half-day row), their byte encoding, and the step
//! arithmetic of a series. No I/O; the store and the API use it.
//!
//! Why packed rows: at the default retention a host keeps ~8,000 5-minute
//! and ~9,000 hourly buckets. One row per bucket repeats the host id and
//! the key 17,000 times (≈ 1 MB a host on SQLite before any value); one
//! row per twelve buckets repeats it ~1,400 times. A bucket is 101 bytes:
//! slot, count, and 8 metrics × (min, avg, max) as `f32` (about 7
//! significant digits, finer than any metric here is measured). Twelve
//! to a row because three such rows (~1.27 KB each) fill a 4 KiB SQLite
//! page to ~93 %; a day row (24 buckets, ~2.5 KB) fits only once in a
//! page and left 40 % of it empty (measured: 3.26 MB a host in steady
//! state with day rows, docs/performance.md).

use std::collections::BTreeMap;

use rollcall_proto::v1::HealthReport;

/// Five minutes (ms).
pub const FIVE_MINUTES_MS: i64 = 300_000;
/// One hour (ms).
pub const HOUR_MS: i64 = 3_600_000;
/// One day (ms).
pub const DAY_MS: i64 = 86_400_000;

/// How many metrics a bucket holds.
pub const METRIC_COUNT: usize = 8;

/// The rolled-up metrics, in the order of [`Bucket::stats`]: the numbers
/// of a sample a chart or a capacity question needs. Filesystems and
/// interfaces are summarised (the fullest filesystem; the sum of all
/// interfaces' rates); per-item detail stays in the raw samples.
pub const METRICS: [&str; METRIC_COUNT] = [
    "cpu_percent",
    "load1",
    "memory_used_bytes",
    "swap_used_bytes",
    "process_count",
    "filesystem_max_used_percent",
    "rx_bytes_per_s",
    "tx_bytes_per_s",
];

/// Bytes of one encoded bucket: slot (1), count (4), 8 × 3 × `f32`.
pub const BUCKET_BYTES: usize = 1 + 4 + METRIC_COUNT * 3 * 4;

/// Version byte at the start of an encoded row.
const ENCODING_VERSION: u8 = 1;

/// A rollup tier.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Tier {
    /// 5-minute buckets, twelve to a row (one hour).
    FiveMinutes,
    /// Hourly buckets, twelve to a row (half a day).
    Hourly,
}

impl Tier {
    /// Both tiers, finest first.
    pub const ALL: [Tier; 2] = [Tier::FiveMinutes, Tier::Hourly];

    /// Width of one bucket (ms).
    pub fn bucket_ms(self) -> i64 {
        match self {
            Tier::FiveMinutes => FIVE_MINUTES_MS,
            Tier::Hourly => HOUR_MS,
        }
    }

    /// Span of one stored row (ms).
    pub fn row_ms(self) -> i64 {
        match self {
            Tier::FiveMinutes => HOUR_MS,
            Tier::Hourly => 12 * HOUR_MS,
        }
    }

    /// The value of the `tier` column: the bucket width in seconds.
    pub fn code(self) -> i64 {
        self.bucket_ms() / 1000
    }

    /// The name the API shows.
    pub fn name(self) -> &'static str {
        match self {
            Tier::FiveMinutes => "five_minute",
            Tier::Hourly => "hourly",
        }
    }
}

/// `at` rounded down to a multiple of `width` (also for negative times).
pub fn floor(at: i64, width: i64) -> i64 {
    at - at.rem_euclid(width)
}

/// Minimum, mean and maximum of one metric over a bucket.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Stat {
    /// Smallest value.
    pub min: f64,
    /// Mean value.
    pub avg: f64,
    /// Largest value.
    pub max: f64,
}

/// The samples of one span: how many, and each metric's min/avg/max.
#[derive(Debug, Clone, PartialEq)]
pub struct Bucket {
    /// Samples counted.
    pub count: u64,
    /// One per [`METRICS`] entry.
    pub stats: [Stat; METRIC_COUNT],
}

impl Bucket {
    /// The bucket of a single sample's values.
    pub fn of_values(values: &[f64; METRIC_COUNT]) -> Self {
        Self {
            count: 1,
            stats: values.map(|value| Stat {
                min: value,
                avg: value,
                max: value,
            }),
        }
    }

    /// The bucket of a single sample.
    pub fn of_report(report: &HealthReport) -> Self {
        Self::of_values(&values(report))
    }

    /// Adds `other` in: min of the minima, max of the maxima, the mean
    /// weighted by count. Merging is exact (up to rounding) in any order,
    /// so a bucket built in several passes equals one built in one.
    pub fn merge(&mut self, other: &Bucket) {
        let total = self.count.saturating_add(other.count);
        if total == 0 {
            return;
        }
        let (mine, theirs) = (self.count as f64, other.count as f64);
        for (stat, other) in self.stats.iter_mut().zip(other.stats.iter()) {
            stat.min = stat.min.min(other.min);
            stat.max = stat.max.max(other.max);
            stat.avg = (stat.avg * mine + other.avg * theirs) / (mine + theirs);
        }
        self.count = total;
    }
}

/// The metric values of a sample, in [`METRICS`] order.
pub fn values(report: &HealthReport) -> [f64; METRIC_COUNT] {
    let fullest = report
        .filesystems
        .iter()
        .map(|filesystem| f64::from(filesystem.used_percent))
        .fold(0.0, f64::max);
    let rx: f64 = report.interfaces.iter().map(|i| i.rx_bytes_per_s).sum();
    let tx: f64 = report.interfaces.iter().map(|i| i.tx_bytes_per_s).sum();
    [
        f64::from(report.cpu_percent),
        f64::from(report.load1),
        report.memory_used_bytes as f64,
        report.swap_used_bytes as f64,
        f64::from(report.process_count),
        fullest,
        rx,
        tx,
    ]
}

/// Adds `bucket` (starting at `start`) into the `width`-wide bucket of
/// `into` that contains it.
pub fn add(into: &mut BTreeMap<i64, Bucket>, start: i64, bucket: &Bucket, width: i64) {
    into.entry(floor(start, width))
        .and_modify(|existing| existing.merge(bucket))
        .or_insert_with(|| bucket.clone());
}

/// Encodes the buckets of the row of `tier` starting at `row_start`;
/// buckets outside the row are an error (the caller grouped wrongly).
pub fn encode(
    tier: Tier,
    row_start: i64,
    buckets: &BTreeMap<i64, Bucket>,
) -> Result<Vec<u8>, String> {
    let mut out = Vec::with_capacity(1 + buckets.len() * BUCKET_BYTES);
    out.push(ENCODING_VERSION);
    for (start, bucket) in buckets {
        let offset = start - row_start;
        if offset < 0 || offset >= tier.row_ms() || offset % tier.bucket_ms() != 0 {
            return Err(format!(
                "bucket {start} is not a {} bucket of the row at {row_start}",
                tier.name()
            ));
        }
        out.push((offset / tier.bucket_ms()) as u8);
        out.extend_from_slice(
            &u32::try_from(bucket.count)
                .unwrap_or(u32::MAX)
                .to_le_bytes(),
        );
        for stat in &bucket.stats {
            for value in [stat.min, stat.avg, stat.max] {
                out.extend_from_slice(&(value as f32).to_le_bytes());
            }
        }
    }
    Ok(out)
}

/// Decodes a row written by [`encode`]: its buckets by start time.
pub fn decode(tier: Tier, row_start: i64, data: &[u8]) -> Result<BTreeMap<i64, Bucket>, String> {
    let Some((&version, body)) = data.split_first() else {
        return Err("empty rollup row".into());
    };
    if version != ENCODING_VERSION {
        return Err(format!("unknown rollup encoding {version}"));
    }
    if body.len() % BUCKET_BYTES != 0 {
        return Err(format!("rollup row of {} bytes is truncated", data.len()));
    }
    let slots = tier.row_ms() / tier.bucket_ms();
    let mut buckets = BTreeMap::new();
    for chunk in body.chunks_exact(BUCKET_BYTES) {
        let slot = i64::from(chunk[0]);
        if slot >= slots {
            return Err(format!("rollup slot {slot} is outside its row"));
        }
        let mut count = [0u8; 4];
        count.copy_from_slice(&chunk[1..5]);
        let mut floats = chunk[5..].chunks_exact(4).map(|bytes| {
            let mut word = [0u8; 4];
            word.copy_from_slice(bytes);
            f64::from(f32::from_le_bytes(word))
        });
        let mut stats = [Stat {
            min: 0.0,
            avg: 0.0,
            max: 0.0,
        }; METRIC_COUNT];
        for stat in &mut stats {
            stat.min = floats.next().unwrap_or_default();
            stat.avg = floats.next().unwrap_or_default();
            stat.max = floats.next().unwrap_or_default();
        }
        let bucket = Bucket {
            count: u64::from(u32::from_le_bytes(count)),
            stats,
        };
        buckets.insert(row_start + slot * tier.bucket_ms(), bucket);
    }
    Ok(buckets)
}

/// The step a series is answered at: `step_ms`, raised to the coarsest
/// resolution the data in the window is held at (`resolution_ms`, 0 for
/// raw samples only) and rounded up to a multiple of it, so that every
/// stored bucket falls inside exactly one point.
pub fn effective_step(step_ms: i64, resolution_ms: i64) -> i64 {
    if resolution_ms <= 0 || step_ms % resolution_ms == 0 {
        return step_ms.max(resolution_ms);
    }
    (step_ms / resolution_ms + 1) * resolution_ms
}

/// A raw sample as stored: the report's protobuf encoding (≈ 120 bytes
/// for a typical host against ≈ 625 as JSON), which keeps every field the
/// API shows.
pub fn encode_sample(report: &HealthReport) -> Vec<u8> {
    prost::Message::encode_to_vec(report)
}

/// A stored raw sample, or `None` when the bytes are not a report.
pub fn decode_sample(data: &[u8]) -> Option<HealthReport> {
    <HealthReport as prost::Message>::decode(data).ok()
}

/// A sample stored as JSON by a release before 0007, re-encoded as
/// [`encode_sample`] does; `None` when the text is not a report.
pub fn legacy_sample(json: &str) -> Option<Vec<u8>> {
    serde_json::from_str::<HealthReport>(json)
        .ok()
        .map(|report| encode_sample(&report))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use rollcall_proto::v1::{FilesystemUsage, InterfaceRate};

    const T0: i64 = 1_800_000_000_000 - 1_800_000_000_000 % DAY_MS;

    fn bucket(value: f64) -> Bucket {
        Bucket::of_values(&[value; METRIC_COUNT])
    }

    #[test]
    fn floors_are_aligned_to_the_epoch_also_before_it() {
        assert_eq!(floor(T0 + 299_999, FIVE_MINUTES_MS), T0);
        assert_eq!(floor(T0 + 300_000, FIVE_MINUTES_MS), T0 + 300_000);
        assert_eq!(floor(-1, HOUR_MS), -HOUR_MS);
        assert_eq!(floor(T0 + DAY_MS - 1, DAY_MS), T0);
    }

    #[test]
    fn merging_keeps_min_max_and_the_count_weighted_mean_in_any_order() {
        let mut left = bucket(10.0);
        left.merge(&bucket(20.0));
        left.merge(&bucket(60.0));
        assert_eq!(left.count, 3);
        assert_eq!(
            left.stats[0],
            Stat {
                min: 10.0,
                avg: 30.0,
                max: 60.0
            }
        );
        let mut right = bucket(60.0);
        let mut pair = bucket(20.0);
        pair.merge(&bucket(10.0));
        right.merge(&pair);
        assert_eq!(left, right);
        let mut empty = Bucket {
            count: 0,
            ..bucket(0.0)
        };
        empty.merge(&Bucket {
            count: 0,
            ..bucket(5.0)
        });
        assert_eq!(empty.count, 0);
    }

    #[test]
    fn a_report_gives_its_metrics_with_the_fullest_filesystem_and_summed_rates() {
        let report = HealthReport {
            cpu_percent: 12.5,
            load1: 0.75,
            memory_used_bytes: 1024,
            swap_used_bytes: 2048,
            process_count: 300,
            filesystems: vec![
                FilesystemUsage {
                    used_percent: 40.0,
                    ..Default::default()
                },
                FilesystemUsage {
                    used_percent: 91.5,
                    ..Default::default()
                },
            ],
            interfaces: vec![
                InterfaceRate {
                    name: "eth0".into(),
                    rx_bytes_per_s: 100.0,
                    tx_bytes_per_s: 1.0,
                },
                InterfaceRate {
                    name: "eth1".into(),
                    rx_bytes_per_s: 50.0,
                    tx_bytes_per_s: 2.0,
                },
            ],
            ..Default::default()
        };
        assert_eq!(
            values(&report),
            [12.5, 0.75, 1024.0, 2048.0, 300.0, 91.5, 150.0, 3.0]
        );
        assert_eq!(values(&HealthReport::default())[5], 0.0);
    }

    #[test]
    fn buckets_are_added_into_the_span_that_contains_them() {
        let mut hourly = BTreeMap::new();
        add(&mut hourly, T0 + 5 * FIVE_MINUTES_MS, &bucket(1.0), HOUR_MS);
        add(
            &mut hourly,
            T0 + 11 * FIVE_MINUTES_MS,
            &bucket(3.0),
            HOUR_MS,
        );
        add(&mut hourly, T0 + HOUR_MS, &bucket(7.0), HOUR_MS);
        assert_eq!(hourly.len(), 2);
        assert_eq!(hourly[&T0].count, 2);
        assert_eq!(hourly[&T0].stats[3].avg, 2.0);
        assert_eq!(hourly[&(T0 + HOUR_MS)].stats[3].max, 7.0);
    }

    #[test]
    fn rows_round_trip_and_are_101_bytes_a_bucket() {
        let mut buckets = BTreeMap::new();
        buckets.insert(T0, bucket(1.5));
        let mut busy = bucket(2.0);
        busy.merge(&bucket(4.0));
        buckets.insert(T0 + 11 * HOUR_MS, busy);
        let data = encode(Tier::Hourly, T0, &buckets).unwrap();
        assert_eq!(data.len(), 1 + 2 * BUCKET_BYTES);
        assert_eq!(BUCKET_BYTES, 101);
        assert_eq!(decode(Tier::Hourly, T0, &data).unwrap(), buckets);
    }

    #[test]
    fn bad_rows_and_misplaced_buckets_are_refused() {
        let outside = BTreeMap::from([(T0 + HOUR_MS, bucket(1.0))]);
        assert!(encode(Tier::FiveMinutes, T0, &outside).is_err());
        let unaligned = BTreeMap::from([(T0 + 1, bucket(1.0))]);
        assert!(encode(Tier::FiveMinutes, T0, &unaligned).is_err());
        let good = encode(Tier::FiveMinutes, T0, &BTreeMap::from([(T0, bucket(1.0))])).unwrap();
        assert!(decode(Tier::FiveMinutes, T0, &[]).is_err());
        assert!(decode(Tier::FiveMinutes, T0, &good[..good.len() - 1]).is_err());
        let mut wrong_version = good.clone();
        wrong_version[0] = 9;
        assert!(decode(Tier::FiveMinutes, T0, &wrong_version).is_err());
        let mut wrong_slot = good;
        wrong_slot[1] = 12;
        assert!(decode(Tier::FiveMinutes, T0, &wrong_slot).is_err());
    }

    #[test]
    fn the_step_is_raised_to_the_coarsest_resolution_and_a_multiple_of_it() {
        assert_eq!(effective_step(60_000, 0), 60_000);
        assert_eq!(effective_step(60_000, FIVE_MINUTES_MS), FIVE_MINUTES_MS);
        assert_eq!(effective_step(600_000, FIVE_MINUTES_MS), 600_000);
        assert_eq!(effective_step(400_000, FIVE_MINUTES_MS), 600_000);
        assert_eq!(effective_step(5_400_000, HOUR_MS), 2 * HOUR_MS);
        assert_eq!(effective_step(DAY_MS, HOUR_MS), DAY_MS);
    }

    #[test]
    fn samples_round_trip_and_legacy_json_converts() {
        let report = HealthReport {
            sampled_at_ms: T0,
            cpu_percent: 3.0,
            failed_units: vec!["nginx.service".into()],
            ..Default::default()
        };
        let data = encode_sample(&report);
        assert_eq!(decode_sample(&data), Some(report.clone()));
        let json = serde_json::to_string(&report).unwrap();
        assert!(
            data.len() * 3 < json.len(),
            "{} vs {}",
            data.len(),
            json.len()
        );
        assert_eq!(legacy_sample(&json), Some(data));
        assert_eq!(legacy_sample("not json"), None);
        assert_eq!(decode_sample(&[0xff, 0xff]), None);
    }

    #[test]
    fn tiers_name_their_widths() {
        assert_eq!(Tier::FiveMinutes.code(), 300);
        assert_eq!(Tier::Hourly.code(), 3600);
        assert_eq!(Tier::Hourly.row_ms() / Tier::Hourly.bucket_ms(), 12);
        assert_eq!(
            Tier::FiveMinutes.row_ms() / Tier::FiveMinutes.bucket_ms(),
            12
        );
    }
}
