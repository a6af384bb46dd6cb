//! Enrolment counters: refusals by reason, certificates signed, and the
//! aggregate WARN about refusals (one line per interval with a count, not
//! one per guess, so a token guesser cannot flood the log).

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::time::Instant;

/// At most one refusal WARN per this interval.
pub const REFUSAL_LOG_INTERVAL: Duration = Duration::from_secs(60);

/// Why an `Enroll` call was refused, as the `reason` label of
/// `rollcall_enroll_refused_total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// The caller's source address is over its attempt limit.
    SourceRateLimited,
    /// All sources together are over the attempt limit.
    GlobalRateLimited,
    /// Missing token, fields too long, or a CSR that cannot be signed.
    InvalidRequest,
    /// No such token.
    UnknownToken,
    /// The token was revoked.
    RevokedToken,
    /// The token expired.
    ExpiredToken,
    /// The token has no use left.
    UsedUpToken,
}

impl Refusal {
    /// Every reason, in the order they are rendered.
    pub const ALL: [Refusal; 7] = [
        Refusal::SourceRateLimited,
        Refusal::GlobalRateLimited,
        Refusal::InvalidRequest,
        Refusal::UnknownToken,
        Refusal::RevokedToken,
        Refusal::ExpiredToken,
        Refusal::UsedUpToken,
    ];

    /// The label value.
    pub fn as_str(self) -> &'static str {
        match self {
            Refusal::SourceRateLimited => "source_rate_limited",
            Refusal::GlobalRateLimited => "global_rate_limited",
            Refusal::InvalidRequest => "invalid_request",
            Refusal::UnknownToken => "unknown_token",
            Refusal::RevokedToken => "revoked_token",
            Refusal::ExpiredToken => "expired_token",
            Refusal::UsedUpToken => "used_up_token",
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

/// Enrolment counters, rendered by `api::metrics`.
#[derive(Debug, Default)]
pub struct EnrollCounters {
    refused: [AtomicU64; Refusal::ALL.len()],
    /// Agent certificates signed.
    pub signed: AtomicU64,
    /// Agents enrolled (signed and recorded).
    pub enrolled: AtomicU64,
    log: Mutex<RefusalLog>,
}

#[derive(Debug, Default)]
struct RefusalLog {
    last_warned: Option<Instant>,
    since_warned: u64,
}

impl EnrollCounters {
    /// Counts one refusal and, at most once per [`REFUSAL_LOG_INTERVAL`],
    /// logs how many there were since the last such line. Returns whether
    /// it logged.
    pub fn refused(&self, reason: Refusal) -> bool {
        self.refused[reason.index()].fetch_add(1, Ordering::Relaxed);
        let now = Instant::now();
        let mut log = match self.log.lock() {
            Ok(log) => log,
            Err(poisoned) => poisoned.into_inner(),
        };
        log.since_warned += 1;
        let due = log
            .last_warned
            .is_none_or(|last| now.duration_since(last) >= REFUSAL_LOG_INTERVAL);
        if !due {
            return false;
        }
        let count = std::mem::take(&mut log.since_warned);
        let first = log.last_warned.is_none();
        log.last_warned = Some(now);
        drop(log);
        tracing::warn!(
            refused = count,
            last_reason = reason.as_str(),
            interval_s = REFUSAL_LOG_INTERVAL.as_secs(),
            "enrollment attempts refused{}; see rollcall_enroll_refused_total for reasons",
            if first { "" } else { " since the last report" },
        );
        true
    }

    /// Refusals so far for `reason`.
    pub fn refused_count(&self, reason: Refusal) -> u64 {
        self.refused[reason.index()].load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn refusals_are_counted_each_and_logged_once_per_interval() {
        let counters = EnrollCounters::default();
        assert!(
            counters.refused(Refusal::UnknownToken),
            "the first is logged"
        );
        for _ in 0..999 {
            assert!(!counters.refused(Refusal::UnknownToken));
        }
        assert_eq!(counters.refused_count(Refusal::UnknownToken), 1000);
        tokio::time::advance(REFUSAL_LOG_INTERVAL).await;
        assert!(counters.refused(Refusal::SourceRateLimited));
        assert_eq!(counters.refused_count(Refusal::SourceRateLimited), 1);
        assert_eq!(counters.refused_count(Refusal::ExpiredToken), 0);
    }
}
