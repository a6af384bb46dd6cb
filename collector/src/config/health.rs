//! `[health]`: how long health samples and their rollups are kept, and how
//! the retention job that rolls them up runs (DESIGN §5 "Health storage
//! is bounded").

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::store::Cutoffs;

/// Longest any retention may be: 3660 days, the longest window the API
/// accepts.
pub const MAX_RETENTION_S: u64 = 3_660 * 86_400;
/// Longest raw retention: 30 days (43,200 samples a host at 60 s).
pub const MAX_RAW_RETENTION_S: u64 = 30 * 86_400;

/// Retention of health samples and rollups.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HealthConfig {
    /// Raw samples are kept this long, then rolled into 5-minute buckets
    /// (default 48 h; DESIGN §5 `health.raw_retention`).
    pub raw_retention_s: u64,
    /// 5-minute buckets are kept this long, then rolled into hourly
    /// buckets (default 30 days).
    pub five_minute_retention_s: u64,
    /// Hourly buckets are kept this long, then deleted (default 400 days).
    pub hourly_retention_s: u64,
    /// Seconds between passes of the retention job (default 300).
    pub rollup_interval_s: u64,
    /// Most rows one step of the job moves in one transaction (default
    /// 1000), which bounds how long it holds SQLite's write lock.
    pub batch_rows: u32,
}

impl Default for HealthConfig {
    fn default() -> Self {
        Self {
            raw_retention_s: 48 * 3600,
            five_minute_retention_s: 30 * 86_400,
            hourly_retention_s: 400 * 86_400,
            rollup_interval_s: 300,
            batch_rows: 1000,
        }
    }
}

impl HealthConfig {
    /// Checks every bound; the error names the option and its limits.
    pub fn validate(&self) -> Result<()> {
        let checks = [
            (
                "health.raw_retention_s",
                self.raw_retention_s,
                3600,
                MAX_RAW_RETENTION_S,
            ),
            (
                "health.five_minute_retention_s",
                self.five_minute_retention_s,
                86_400,
                MAX_RETENTION_S,
            ),
            (
                "health.hourly_retention_s",
                self.hourly_retention_s,
                86_400,
                MAX_RETENTION_S,
            ),
            (
                "health.rollup_interval_s",
                self.rollup_interval_s,
                1,
                86_400,
            ),
            ("health.batch_rows", u64::from(self.batch_rows), 1, 100_000),
        ];
        for (name, value, min, max) in checks {
            if !(min..=max).contains(&value) {
                return Err(Error::Config(format!(
                    "{name} must be between {min} and {max}, got {value}"
                )));
            }
        }
        Ok(())
    }

    /// What the job moves at `now` (ms): every bound is checked, so no
    /// product overflows.
    pub fn cutoffs(&self, now: i64) -> Cutoffs {
        let ms = |seconds: u64| i64::try_from(seconds.saturating_mul(1000)).unwrap_or(i64::MAX);
        Cutoffs {
            raw_before: now.saturating_sub(ms(self.raw_retention_s)),
            five_minute_before: now.saturating_sub(ms(self.five_minute_retention_s)),
            hourly_before: now.saturating_sub(ms(self.hourly_retention_s)),
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::cmdb::rollup::{DAY_MS, HOUR_MS};

    #[test]
    fn defaults_are_the_documented_ones_and_valid() {
        let config = HealthConfig::default();
        config.validate().unwrap();
        let now = 1_800_000_000_000;
        let cutoffs = config.cutoffs(now);
        assert_eq!(cutoffs.raw_before, now - 48 * HOUR_MS);
        assert_eq!(cutoffs.five_minute_before, now - 30 * DAY_MS);
        assert_eq!(cutoffs.hourly_before, now - 400 * DAY_MS);
    }

    #[test]
    fn each_bound_is_refused_by_name() {
        for (config, needle) in [
            (
                HealthConfig {
                    raw_retention_s: 60,
                    ..Default::default()
                },
                "health.raw_retention_s must be between 3600",
            ),
            (
                HealthConfig {
                    raw_retention_s: MAX_RAW_RETENTION_S + 1,
                    ..Default::default()
                },
                "health.raw_retention_s",
            ),
            (
                HealthConfig {
                    five_minute_retention_s: 0,
                    ..Default::default()
                },
                "health.five_minute_retention_s",
            ),
            (
                HealthConfig {
                    hourly_retention_s: u64::MAX,
                    ..Default::default()
                },
                "health.hourly_retention_s",
            ),
            (
                HealthConfig {
                    rollup_interval_s: 0,
                    ..Default::default()
                },
                "health.rollup_interval_s",
            ),
            (
                HealthConfig {
                    batch_rows: 0,
                    ..Default::default()
                },
                "health.batch_rows",
            ),
        ] {
            let error = config.validate().unwrap_err().to_string();
            assert!(error.contains(needle), "{needle:?} not in {error:?}");
        }
    }
}
