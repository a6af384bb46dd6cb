//! `/metrics` in the Prometheus text exposition format: fleet by presence,
//! sessions, ingest counts and apply latency, wire bytes, enrolment refusals
//! and signatures, open incidents and outbox depth. The counters themselves live in `crate::metrics`.

use std::fmt::Write;
use std::sync::atomic::Ordering;

use axum::extract::State as AxumState;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};

use super::Shared;
use crate::metrics::enroll::{EnrollCounters, Refusal};
use crate::state::State;

/// `GET /metrics` (no token, like any Prometheus target).
pub(super) async fn serve(AxumState(state): AxumState<Shared>) -> Response {
    let mut response = render(&state).await.into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; version=0.0.4"),
    );
    response
}

fn line(out: &mut String, name: &str, help: &str, kind: &str) {
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
}

/// A metric with one unlabelled sample: its HELP and TYPE lines, then the value.
fn single(out: &mut String, name: &str, help: &str, kind: &str, value: impl std::fmt::Display) {
    line(out, name, help, kind);
    let _ = writeln!(out, "{name} {value}");
}

/// The enrolment counters.
fn enroll_metrics(out: &mut String, enroll: &EnrollCounters) {
    line(
        out,
        "rollcall_enroll_refused_total",
        "Enroll calls refused, by reason (token guesses are unknown_token or rate limited).",
        "counter",
    );
    for reason in Refusal::ALL {
        let _ = writeln!(
            out,
            "rollcall_enroll_refused_total{{reason=\"{}\"}} {}",
            reason.as_str(),
            enroll.refused_count(reason)
        );
    }
    single(
        out,
        "rollcall_enroll_signed_total",
        "Agent certificates signed (only after the enrollment token was checked).",
        "counter",
        enroll.signed.load(Ordering::Relaxed),
    );
    single(
        out,
        "rollcall_enrolled_total",
        "Agents enrolled.",
        "counter",
        enroll.enrolled.load(Ordering::Relaxed),
    );
}

/// Renders every metric.
pub async fn render(state: &State) -> String {
    let mut out = String::with_capacity(4096);
    let metrics = &state.metrics;
    line(
        &mut out,
        "rollcall_hosts",
        "Hosts by presence state.",
        "gauge",
    );
    let counts = state.monitor.counts();
    for state in crate::availability::presence::State::WATCHED {
        let presence = state.as_str();
        let count = counts.get(&state).copied().unwrap_or(0);
        let _ = writeln!(out, "rollcall_hosts{{presence=\"{presence}\"}} {count}");
    }
    single(
        &mut out,
        "rollcall_sessions_open",
        "Open agent sessions.",
        "gauge",
        state.open_sessions.load(Ordering::Relaxed),
    );
    line(
        &mut out,
        "rollcall_messages_total",
        "Agent messages ingested, by type.",
        "counter",
    );
    for (kind, counter) in [
        ("heartbeat", &metrics.heartbeats),
        ("snapshot", &metrics.snapshots),
        ("delta", &metrics.deltas),
        ("health", &metrics.health),
        ("checks", &metrics.checks),
    ] {
        let _ = writeln!(
            out,
            "rollcall_messages_total{{type=\"{kind}\"}} {}",
            counter.load(Ordering::Relaxed)
        );
    }
    single(
        &mut out,
        "rollcall_messages_rejected_total",
        "Agent messages answered with an error status.",
        "counter",
        metrics.rejected.load(Ordering::Relaxed),
    );
    single(
        &mut out,
        "rollcall_messages_refused_total",
        "Agent messages that failed validation: dropped whole, acknowledged, the session kept.",
        "counter",
        metrics.refused.load(Ordering::Relaxed),
    );
    single(
        &mut out,
        "rollcall_heartbeats_folded_total",
        "Heartbeats that arrived while their session's apply loop was behind and were folded into the next one (heard at arrival, acknowledged with it); counted in rollcall_messages_total too.",
        "counter",
        metrics.heartbeats_folded.load(Ordering::Relaxed),
    );
    single(
        &mut out,
        "rollcall_store_busy_total",
        "Times a session's write found the store busy (no connection in time, or SQLite locked) and waited to try again instead of ending the session.",
        "counter",
        metrics.store_busy.load(Ordering::Relaxed),
    );
    single(
        &mut out,
        "rollcall_sequence_gaps_total",
        "Agent messages applied after a gap in the sequence numbers.",
        "counter",
        metrics.sequence_gaps.load(Ordering::Relaxed),
    );
    single(
        &mut out,
        "rollcall_sequence_missed_total",
        "Sequence numbers skipped in those gaps.",
        "counter",
        metrics.sequence_missed.load(Ordering::Relaxed),
    );
    line(
        &mut out,
        "rollcall_inventory_apply_seconds",
        "Time to apply inventory snapshots and deltas to the store.",
        "summary",
    );
    let _ = writeln!(
        out,
        "rollcall_inventory_apply_seconds_sum {:.6}",
        metrics.apply_micros.load(Ordering::Relaxed) as f64 / 1e6
    );
    let _ = writeln!(
        out,
        "rollcall_inventory_apply_seconds_count {}",
        metrics.applies.load(Ordering::Relaxed)
    );
    line(
        &mut out,
        "rollcall_sessions_total",
        "Agent sessions opened, by the encoding of the agent's messages.",
        "counter",
    );
    for (encoding, counter) in [
        ("gzip", &metrics.sessions_gzip),
        ("identity", &metrics.sessions_identity),
    ] {
        let _ = writeln!(
            out,
            "rollcall_sessions_total{{encoding=\"{encoding}\"}} {}",
            counter.load(Ordering::Relaxed)
        );
    }
    single(
        &mut out,
        "rollcall_session_wire_bytes_total",
        "Bytes of agent Session request bodies as received (gRPC frames, compressed if the agent compresses).",
        "counter",
        metrics.session_wire_bytes.load(Ordering::Relaxed),
    );
    single(
        &mut out,
        "rollcall_session_message_bytes_total",
        "Protobuf bytes of the agent messages decoded from those bodies.",
        "counter",
        metrics.session_message_bytes.load(Ordering::Relaxed),
    );
    enroll_metrics(&mut out, &metrics.enroll);
    fleet_counts(&mut out, state).await;
    line(
        &mut out,
        "rollcall_outbox_entries",
        "Outbox entries by target and state.",
        "gauge",
    );
    if let Ok(counts) = state.store.outbox_counts().await {
        for count in counts {
            let _ = writeln!(
                out,
                "rollcall_outbox_entries{{target=\"{}\",state=\"{}\"}} {}",
                label(&count.target),
                count.state,
                count.count
            );
        }
    }
    metrics.families.render(&mut out);
    out
}

/// A label value as the exposition format needs it: backslash, double quote
/// and newline escaped.
fn label(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// Hosts by class, lifecycle and presence, and open incidents by rule and
/// severity: two grouped queries, timed as the store operation
/// `metrics_counts`. A failed query leaves its family's samples out.
async fn fleet_counts(out: &mut String, state: &State) {
    let families = &state.metrics.families;
    let (hosts, incidents) = families
        .time_store("metrics_counts", async {
            (
                state.store.host_counts().await,
                state.store.open_incident_counts().await,
            )
        })
        .await;
    line(
        out,
        "rollcall_hosts_by_class",
        "Hosts in the CMDB by class, lifecycle and stored presence.",
        "gauge",
    );
    match hosts {
        Ok(counts) => {
            for count in counts {
                let _ = writeln!(
                    out,
                    "rollcall_hosts_by_class{{class=\"{}\",lifecycle=\"{}\",presence=\"{}\"}} {}",
                    label(&count.class),
                    label(&count.lifecycle),
                    label(&count.presence),
                    count.count
                );
            }
        }
        Err(error) => tracing::warn!(%error, "cannot count hosts for /metrics"),
    }
    line(
        out,
        "rollcall_incidents_open",
        "Unresolved incidents (open or acknowledged) by rule and severity.",
        "gauge",
    );
    match incidents {
        Ok(counts) => {
            for count in counts {
                let _ = writeln!(
                    out,
                    "rollcall_incidents_open{{rule=\"{}\",severity=\"{}\"}} {}",
                    label(&count.rule),
                    label(&count.severity),
                    count.count
                );
            }
        }
        Err(error) => tracing::warn!(%error, "cannot count open incidents for /metrics"),
    }
}
