//! Counters the ingest path bumps. They are rendered for Prometheus by
//! `api::metrics` (`/metrics`).

pub mod enroll;
pub mod families;

use std::sync::atomic::{AtomicU64, Ordering};

/// Counters of the ingest path.
#[derive(Debug, Default)]
pub struct Metrics {
    /// Heartbeats received (folded ones included).
    pub heartbeats: AtomicU64,
    /// Heartbeats folded into a newer one while their session's apply loop
    /// was behind (`ingest::reader`).
    pub heartbeats_folded: AtomicU64,
    /// Snapshots applied.
    pub snapshots: AtomicU64,
    /// Deltas applied.
    pub deltas: AtomicU64,
    /// Health samples stored.
    pub health: AtomicU64,
    /// Check result batches.
    pub checks: AtomicU64,
    /// Messages answered with an error status.
    pub rejected: AtomicU64,
    /// Messages refused by validation (dropped and acknowledged; the session went on).
    pub refused: AtomicU64,
    /// Times a session's write found the store busy and waited to try again.
    pub store_busy: AtomicU64,
    /// Sequence gaps: messages that arrived with numbers skipped before them.
    pub sequence_gaps: AtomicU64,
    /// Sequence numbers skipped in those gaps (never sent, or dropped by the
    /// agent's spool).
    pub sequence_missed: AtomicU64,
    /// Sum of inventory apply times (µs).
    pub apply_micros: AtomicU64,
    /// Inventory applies.
    pub applies: AtomicU64,
    /// Sessions whose agent sends gzip-compressed messages.
    pub sessions_gzip: AtomicU64,
    /// Sessions whose agent sends uncompressed messages.
    pub sessions_identity: AtomicU64,
    /// Bytes of `Session` request bodies as received: gRPC frames, compressed
    /// when the agent compresses (counted by `ingest::wire`).
    pub session_wire_bytes: AtomicU64,
    /// Protobuf bytes of the agent messages decoded from those bodies.
    pub session_message_bytes: AtomicU64,
    /// Enrolment: refusals by reason, signatures, enrolments.
    pub enroll: enroll::EnrollCounters,
    /// Histograms and labelled families (ingest and store latency,
    /// deliveries, enrolment attempts).
    pub families: families::Families,
}

impl Metrics {
    /// Counts one inventory apply that took `elapsed`.
    pub fn applied(&self, elapsed: std::time::Duration) {
        self.apply_micros
            .fetch_add(elapsed.as_micros() as u64, Ordering::Relaxed);
        self.applies.fetch_add(1, Ordering::Relaxed);
    }
}
