//! The labelled metric families and histograms (the `prometheus` crate):
//! ingest latency by message type, store latency by operation, deliveries
//! by target and outcome, and enrolment attempts. Every label value this
//! collector can produce is created at start, so each series is in
//! `/metrics` (at zero) before its first event, and a dashboard or alert
//! rule that names one never sees it missing.

use std::time::{Duration, Instant};

use prometheus::{
    Encoder, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, Opts, Registry, TextEncoder,
};

/// The message types of `rollcall_ingest_seconds`.
pub const INGEST_TYPES: [&str; 6] = [
    "heartbeat",
    "snapshot",
    "delta",
    "health",
    "checks",
    "goodbye",
];

/// The operations of `rollcall_store_seconds`: the ingest writes (through
/// the store's batching writer, so the wait for a batch is included),
/// liveness batches, enrolment, and the counts `/metrics` reads.
pub const STORE_OPS: [&str; 5] = [
    "apply_inventory",
    "record_health",
    "record_seen",
    "enroll_agent",
    "metrics_counts",
];

/// The outcomes of `rollcall_deliveries_total`.
pub const DELIVERY_OUTCOMES: [&str; 3] = ["delivered", "retry", "dead"];

/// Seconds: 0.5 ms to 20 s, doubling (16 buckets).
fn latency_buckets() -> Vec<f64> {
    prometheus::exponential_buckets(0.0005, 2.0, 16).unwrap_or_default()
}

/// The families, in one registry.
#[derive(Clone)]
pub struct Families {
    registry: Registry,
    /// Time from a message's dispatch to its being applied (or refused), by type.
    pub ingest_seconds: HistogramVec,
    /// Time of one store operation, by operation.
    pub store_seconds: HistogramVec,
    /// Outbox entries sent to a target, by target and outcome.
    pub deliveries: IntCounterVec,
    /// `Enroll` calls received (accepted or refused).
    pub enroll_attempts: IntCounter,
}

impl std::fmt::Debug for Families {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Families").finish_non_exhaustive()
    }
}

impl Default for Families {
    fn default() -> Self {
        Self::new()
    }
}

impl Families {
    /// The families, registered, with every known label value created.
    pub fn new() -> Self {
        let registry = Registry::new();
        let ingest_seconds = HistogramVec::new(
            HistogramOpts::new(
                "rollcall_ingest_seconds",
                "Time from an agent message's dispatch to its being applied to the store, by message type.",
            )
            .buckets(latency_buckets()),
            &["type"],
        )
        .expect("static histogram options");
        let store_seconds = HistogramVec::new(
            HistogramOpts::new(
                "rollcall_store_seconds",
                "Time of one store operation (including waiting for the store's writer or a connection), by operation.",
            )
            .buckets(latency_buckets()),
            &["op"],
        )
        .expect("static histogram options");
        let deliveries = IntCounterVec::new(
            Opts::new(
                "rollcall_deliveries_total",
                "Outbox entries sent to an integration target, by target and outcome (delivered; retry: a retryable failure, sent again later; dead: a final failure, dead-lettered).",
            ),
            &["target", "outcome"],
        )
        .expect("static counter options");
        let enroll_attempts = IntCounter::new(
            "rollcall_enroll_attempts_total",
            "Enroll calls received, accepted or refused (refusals by reason: rollcall_enroll_refused_total).",
        )
        .expect("static counter options");
        for family in [
            Box::new(ingest_seconds.clone()) as Box<dyn prometheus::core::Collector>,
            Box::new(store_seconds.clone()),
            Box::new(deliveries.clone()),
            Box::new(enroll_attempts.clone()),
        ] {
            registry
                .register(family)
                .expect("each family is registered once");
        }
        for kind in INGEST_TYPES {
            ingest_seconds.with_label_values(&[kind]);
        }
        for op in STORE_OPS {
            store_seconds.with_label_values(&[op]);
        }
        Self {
            registry,
            ingest_seconds,
            store_seconds,
            deliveries,
            enroll_attempts,
        }
    }

    /// Creates the delivery series of `target` (every outcome at zero).
    pub fn declare_target(&self, target: &str) {
        for outcome in DELIVERY_OUTCOMES {
            self.deliveries.with_label_values(&[target, outcome]);
        }
    }

    /// Counts one delivery attempt of `target` with `outcome`
    /// (one of [`DELIVERY_OUTCOMES`]).
    pub fn delivered(&self, target: &str, outcome: &str) {
        self.deliveries.with_label_values(&[target, outcome]).inc();
    }

    /// Records one ingest of a message of `kind` that took `elapsed`.
    pub fn ingested(&self, kind: &str, elapsed: Duration) {
        self.ingest_seconds
            .with_label_values(&[kind])
            .observe(elapsed.as_secs_f64());
    }

    /// Records one store operation `op` that took `elapsed`.
    pub fn stored(&self, op: &str, elapsed: Duration) {
        self.store_seconds
            .with_label_values(&[op])
            .observe(elapsed.as_secs_f64());
    }

    /// Awaits `future`, a store operation `op`, and records its time
    /// (whatever its outcome).
    pub async fn time_store<T>(&self, op: &str, future: impl Future<Output = T>) -> T {
        let started = Instant::now();
        let output = future.await;
        self.stored(op, started.elapsed());
        output
    }

    /// The families in the Prometheus text format, appended to `out`.
    pub fn render(&self, out: &mut String) {
        let mut bytes = Vec::with_capacity(8192);
        if let Err(error) = TextEncoder::new().encode(&self.registry.gather(), &mut bytes) {
            tracing::error!(%error, "cannot encode the metric families");
            return;
        }
        out.push_str(&String::from_utf8_lossy(&bytes));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_known_series_is_there_before_its_first_event() {
        let families = Families::new();
        families.declare_target("pd");
        let mut text = String::new();
        families.render(&mut text);
        for kind in INGEST_TYPES {
            assert!(
                text.contains(&format!(
                    "rollcall_ingest_seconds_count{{type=\"{kind}\"}} 0"
                )),
                "{kind}: {text}"
            );
        }
        for op in STORE_OPS {
            assert!(text.contains(&format!("rollcall_store_seconds_count{{op=\"{op}\"}} 0")));
        }
        for outcome in DELIVERY_OUTCOMES {
            assert!(text.contains(&format!(
                "rollcall_deliveries_total{{outcome=\"{outcome}\",target=\"pd\"}} 0"
            )));
        }
        assert!(text.contains("rollcall_enroll_attempts_total 0"));
    }

    #[test]
    fn observations_land_in_their_buckets() {
        let families = Families::new();
        families.stored("record_seen", Duration::from_millis(3));
        families.delivered("pd", "retry");
        let mut text = String::new();
        families.render(&mut text);
        // 3 ms is above the 2 ms bucket and within the 4 ms one.
        assert!(text.contains("rollcall_store_seconds_bucket{op=\"record_seen\",le=\"0.002\"} 0"));
        assert!(text.contains("rollcall_store_seconds_bucket{op=\"record_seen\",le=\"0.004\"} 1"));
        assert!(text.contains("rollcall_store_seconds_count{op=\"record_seen\"} 1"));
        assert!(text.contains("rollcall_deliveries_total{outcome=\"retry\",target=\"pd\"} 1"));
    }
}
