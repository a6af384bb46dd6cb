//! Counters and ack-latency samples shared by the simulated agents, readings
//! of the collector process from `/proc`, and percentiles.

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Instant;

use serde_json::{Value, json};

/// Linux reports process CPU times in /proc in units of USER_HZ (100).
const USER_HZ: f64 = 100.0;

/// The kinds of sequenced message a simulated agent sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// `Heartbeat`.
    Heartbeat = 0,
    /// `HealthReport`.
    Health = 1,
    /// `InventorySnapshot`.
    Snapshot = 2,
    /// `InventoryDelta`.
    Delta = 3,
}

impl Kind {
    /// Every kind, in index order.
    pub const ALL: [Kind; 4] = [Kind::Heartbeat, Kind::Health, Kind::Snapshot, Kind::Delta];

    /// The name used in the report.
    pub fn name(self) -> &'static str {
        match self {
            Kind::Heartbeat => "heartbeat",
            Kind::Health => "health",
            Kind::Snapshot => "snapshot",
            Kind::Delta => "delta",
        }
    }
}

/// Everything the agents count while the load runs.
#[derive(Debug, Default)]
pub struct Metrics {
    /// Sessions currently established (Welcome received, not ended).
    pub sessions_up: AtomicU64,
    /// Highest number of sessions established at once.
    pub sessions_peak: AtomicU64,
    /// Sessions established in total (reconnects included).
    pub sessions_opened: AtomicU64,
    /// Sessions that ended with an error (connect, handshake, stream).
    pub session_errors: AtomicU64,
    /// `Throttle` messages received.
    pub throttles: AtomicU64,
    /// `RequestFullInventory` messages received.
    pub full_requests: AtomicU64,
    /// Messages sent, by kind.
    pub sent: [AtomicU64; 4],
    /// Messages acknowledged, by kind.
    pub acked: [AtomicU64; 4],
    /// Messages still unacknowledged when their session ended, by kind
    /// (an agent resends what the collector still wants in its next session).
    pub abandoned: [AtomicU64; 4],
    /// Whether ack latencies are being recorded (the measured window).
    pub measuring: AtomicBool,
    latencies_us: [Mutex<Vec<u32>>; 4],
    welcome_us: Mutex<Vec<u32>>,
    snapshot_span: Mutex<(Option<Instant>, Option<Instant>)>,
    last_error: Mutex<Option<String>>,
}

impl Metrics {
    /// Counts a session that received its Welcome.
    pub fn session_up(&self) {
        self.sessions_opened.fetch_add(1, Ordering::Relaxed);
        let now = self.sessions_up.fetch_add(1, Ordering::Relaxed) + 1;
        self.sessions_peak.fetch_max(now, Ordering::Relaxed);
    }

    /// Counts a session that ended.
    pub fn session_down(&self) {
        self.sessions_up.fetch_sub(1, Ordering::Relaxed);
    }

    /// Counts a failed session and keeps its error for the report.
    pub fn error(&self, error: String) {
        self.session_errors.fetch_add(1, Ordering::Relaxed);
        if let Ok(mut last) = self.last_error.lock() {
            *last = Some(error);
        }
    }

    /// The last session error seen.
    pub fn last_error(&self) -> Option<String> {
        self.last_error.lock().ok().and_then(|last| last.clone())
    }

    /// Counts a message handed to the stream.
    pub fn sent(&self, kind: Kind, at: Instant) {
        self.sent[kind as usize].fetch_add(1, Ordering::Relaxed);
        if kind == Kind::Snapshot
            && let Ok(mut span) = self.snapshot_span.lock()
            && span.0.is_none()
        {
            span.0 = Some(at);
        }
    }

    /// Counts a message left unacknowledged by a session that ended.
    pub fn abandoned(&self, kind: Kind) {
        self.abandoned[kind as usize].fetch_add(1, Ordering::Relaxed);
    }

    /// Messages of `kind` left unacknowledged by sessions that ended.
    pub fn abandoned_count(&self, kind: Kind) -> u64 {
        self.abandoned[kind as usize].load(Ordering::Relaxed)
    }

    /// Counts a message covered by a cumulative Ack, `latency` after it was sent.
    pub fn acked(&self, kind: Kind, sent_at: Instant, now: Instant) {
        self.acked[kind as usize].fetch_add(1, Ordering::Relaxed);
        if kind == Kind::Snapshot
            && let Ok(mut span) = self.snapshot_span.lock()
        {
            span.1 = Some(now);
        }
        if kind == Kind::Snapshot || self.measuring.load(Ordering::Relaxed) {
            let micros = now
                .duration_since(sent_at)
                .as_micros()
                .min(u32::MAX as u128) as u32;
            if let Ok(mut samples) = self.latencies_us[kind as usize].lock() {
                samples.push(micros);
            }
        }
    }

    /// Acknowledged count of one kind.
    pub fn acked_count(&self, kind: Kind) -> u64 {
        self.acked[kind as usize].load(Ordering::Relaxed)
    }

    /// Sent count of one kind.
    pub fn sent_count(&self, kind: Kind) -> u64 {
        self.sent[kind as usize].load(Ordering::Relaxed)
    }

    /// From the first snapshot sent to the last snapshot acknowledged, seconds.
    pub fn snapshot_span_s(&self) -> Option<f64> {
        let span = self.snapshot_span.lock().ok()?;
        Some(span.1?.duration_since(span.0?).as_secs_f64())
    }

    /// Counts the time from a session's Hello to its Welcome.
    pub fn welcomed(&self, hello_at: Instant, now: Instant) {
        let micros = now
            .duration_since(hello_at)
            .as_micros()
            .min(u32::MAX as u128) as u32;
        if let Ok(mut samples) = self.welcome_us.lock() {
            samples.push(micros);
        }
    }

    /// Hello-to-Welcome distribution of every session, in milliseconds.
    pub fn welcome_summary(&self) -> Value {
        summary(&self.welcome_us)
    }

    /// Ack-latency distribution of one kind, in milliseconds.
    pub fn latency_summary(&self, kind: Kind) -> Value {
        summary(&self.latencies_us[kind as usize])
    }
}

/// Count, p50, p99 and max of microsecond samples, in milliseconds.
fn summary(samples: &Mutex<Vec<u32>>) -> Value {
    let mut samples = samples
        .lock()
        .map(|samples| samples.clone())
        .unwrap_or_default();
    samples.sort_unstable();
    let ms = |micros: Option<u32>| micros.map(|value| f64::from(value) / 1000.0);
    json!({
        "count": samples.len(),
        "p50_ms": ms(percentile(&samples, 50.0)),
        "p99_ms": ms(percentile(&samples, 99.0)),
        "max_ms": ms(samples.last().copied()),
    })
}

/// The `p`th percentile (nearest rank) of sorted samples.
pub fn percentile<T: Copy>(sorted: &[T], p: f64) -> Option<T> {
    if sorted.is_empty() {
        return None;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted.get(rank.clamp(1, sorted.len()) - 1).copied()
}

/// Summary (count, p50, p99, max, every value) of millisecond samples.
pub fn distribution(mut values: Vec<i64>) -> Value {
    values.sort_unstable();
    json!({
        "count": values.len(),
        "p50_ms": percentile(&values, 50.0),
        "p99_ms": percentile(&values, 99.0),
        "min_ms": values.first(),
        "max_ms": values.last(),
        "values_ms": values,
    })
}

/// One reading of a process: resident and peak memory, CPU seconds.
#[derive(Debug, Clone, Copy, Default)]
pub struct ProcessReading {
    /// VmRSS, KiB.
    pub rss_kib: u64,
    /// VmHWM (peak RSS), KiB.
    pub hwm_kib: u64,
    /// utime + stime, seconds.
    pub cpu_s: f64,
}

/// Reads `/proc/PID/status` and `/proc/PID/stat`; `None` if the process is gone.
pub fn read_process(pid: u32) -> Option<ProcessReading> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let field = |name: &str| -> u64 {
        status
            .lines()
            .find_map(|line| line.strip_prefix(name))
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|value| value.parse().ok())
            .unwrap_or(0)
    };
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name may contain spaces; fields resume after the last ')'.
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    // After ')' the first field is stat(5) field 3; utime and stime are 14 and 15.
    let ticks = |index: usize| -> u64 {
        fields
            .get(index - 3)
            .and_then(|value| value.parse().ok())
            .unwrap_or(0)
    };
    Some(ProcessReading {
        rss_kib: field("VmRSS:"),
        hwm_kib: field("VmHWM:"),
        cpu_s: (ticks(14) + ticks(15)) as f64 / USER_HZ,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_use_the_nearest_rank() {
        let values: Vec<u32> = (1..=100).collect();
        assert_eq!(percentile(&values, 50.0), Some(50));
        assert_eq!(percentile(&values, 99.0), Some(99));
        assert_eq!(percentile(&values, 100.0), Some(100));
        assert_eq!(percentile(&[7u32], 99.0), Some(7));
        assert_eq!(percentile::<u32>(&[], 50.0), None);
    }

    #[test]
    fn this_process_can_be_read() {
        let reading = read_process(std::process::id());
        assert!(reading.is_some_and(|reading| reading.rss_kib > 0));
    }
}
