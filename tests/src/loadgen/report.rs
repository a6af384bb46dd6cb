//! The report: the JSON assembled from every phase's measurements, and the
//! same as a human-readable table.

use std::sync::atomic::Ordering;

use serde_json::{Value, json};

use super::Options;
use super::connect::{Connected, Running};
use super::detection::Outcome;
use super::metrics::{Kind, ProcessReading};
use super::session::Fate;
use super::steady::Window;

/// The JSON report of a run from what each phase measured.
pub(super) fn assemble(
    options: &Options,
    nofile: u64,
    running: &Running,
    connected: Connected,
    window: Window,
    outcome: Outcome,
) -> Value {
    let agents = options.agents;
    let Running {
        metrics,
        packages_per_agent,
        ..
    } = running;
    let Connected {
        enroll_s,
        missing,
        collector_before,
        connect_s,
        sessions_after_connect,
    } = connected;
    let Window {
        collector_start,
        collector_end,
        acked_start,
        acked_end,
        window_s,
        peak_rss,
        sessions_min,
        sessions_end,
    } = window;
    let Outcome {
        killed,
        detection,
        delivery,
        false_incidents,
    } = outcome;
    let rate =
        |kind: Kind| (acked_end[kind as usize] - acked_start[kind as usize]) as f64 / window_s;
    let collector = collector_report(
        [collector_before, collector_start, collector_end],
        peak_rss,
        (connect_s, window_s),
        sessions_end,
        acked_start[Kind::Snapshot as usize],
    );
    let snapshots = metrics.acked_count(Kind::Snapshot);
    json!({
        "scenario": options.scenario,
        "agents": agents,
        "packages_per_agent": packages_per_agent,
        "open_file_limit": nofile,
        "source_addresses": options.source_addresses,
        "enroll_s": enroll_s,
        "enrolled_new": missing,
        "connect_s": connect_s,
        "window_s": window_s,
        "sessions": {
            "after_connect": sessions_after_connect,
            "peak": metrics.sessions_peak.load(Ordering::Relaxed),
            "min_in_window": if sessions_min == u64::MAX { 0 } else { sessions_min },
            "at_end": sessions_end,
            "opened_total": metrics.sessions_opened.load(Ordering::Relaxed),
            "errors": metrics.session_errors.load(Ordering::Relaxed),
            "last_error": metrics.last_error(),
        },
        "offered": {
            "heartbeat_ms": options.heartbeat_ms,
            "health_ms": options.health_ms,
            "delta_rate": options.delta_rate,
        },
        "sent": Kind::ALL.iter().map(|kind| (kind.name().to_string(), json!(metrics.sent_count(*kind)))).collect::<serde_json::Map<_, _>>(),
        "acked": Kind::ALL.iter().map(|kind| (kind.name().to_string(), json!(metrics.acked_count(*kind)))).collect::<serde_json::Map<_, _>>(),
        "abandoned": Kind::ALL.iter().map(|kind| (kind.name().to_string(), json!(metrics.abandoned_count(*kind)))).collect::<serde_json::Map<_, _>>(),
        "rates_per_s": {
            "heartbeats": rate(Kind::Heartbeat),
            "health": rate(Kind::Health),
            "deltas": rate(Kind::Delta),
            "messages": Kind::ALL.iter().map(|kind| rate(*kind)).sum::<f64>(),
            "snapshots": metrics.snapshot_span_s().filter(|span| *span > 0.0).map(|span| snapshots as f64 / span),
        },
        "snapshots": { "acked": snapshots, "span_s": metrics.snapshot_span_s() },
        "welcome_latency": metrics.welcome_summary(),
        "ack_latency": Kind::ALL.iter().map(|kind| (kind.name().to_string(), metrics.latency_summary(*kind))).collect::<serde_json::Map<_, _>>(),
        "throttles": metrics.throttles.load(Ordering::Relaxed),
        "full_requests": metrics.full_requests.load(Ordering::Relaxed),
        "killed": { "silent": killed.iter().filter(|k| k.2 == Fate::Silent).count(), "clean": killed.iter().filter(|k| k.2 == Fate::Clean).count() },
        "detection": detection,
        "delivery": delivery,
        "false_incidents": false_incidents,
        "collector": collector,
    })
}

/// The collector's memory and CPU from readings before the connect phase,
/// at the start of the measured window and at its end; CPU per snapshot is
/// over the connect phase, where the first snapshots are applied.
fn collector_report(
    [before, start, end]: [Option<ProcessReading>; 3],
    peak_rss_kib: u64,
    (connect_s, window_s): (f64, f64),
    sessions: u64,
    snapshots_in_connect_phase: u64,
) -> Value {
    let (Some(before), Some(start), Some(end)) = (before, start, end) else {
        return Value::Null;
    };
    let cpu_s = end.cpu_s - start.cpu_s;
    let connect_cpu_s = start.cpu_s - before.cpu_s;
    json!({
        "cpu_s_in_connect_phase": connect_cpu_s,
        "cpu_percent_in_connect_phase": connect_cpu_s / connect_s.max(1e-3) * 100.0,
        "cpu_ms_per_snapshot_in_connect_phase": (snapshots_in_connect_phase > 0)
            .then(|| connect_cpu_s * 1000.0 / snapshots_in_connect_phase as f64),
        "rss_kib_before_sessions": before.rss_kib,
        "rss_kib_window_start": start.rss_kib,
        "rss_kib_end": end.rss_kib,
        "rss_kib_peak_in_window": peak_rss_kib,
        "hwm_kib": end.hwm_kib,
        "kib_per_session": (sessions > 0).then(|| end.rss_kib.saturating_sub(before.rss_kib) as f64 / sessions as f64),
        "cpu_s_in_window": cpu_s,
        "cpu_percent_of_one_core": cpu_s / window_s * 100.0,
    })
}

/// The report as a human-readable table.
pub fn table(report: &Value) -> String {
    let number = |value: &Value| match value {
        Value::Number(number) => number
            .as_f64()
            .map(|n| {
                if n.fract() == 0.0 {
                    format!("{n}")
                } else {
                    format!("{n:.2}")
                }
            })
            .unwrap_or_default(),
        Value::Null => "–".into(),
        other => other.to_string(),
    };
    let rows: Vec<(&str, String)> = vec![
        (
            "scenario",
            report["scenario"].as_str().unwrap_or_default().to_string(),
        ),
        ("agents", number(&report["agents"])),
        ("packages per agent", number(&report["packages_per_agent"])),
        (
            "enroll (s) / new",
            format!(
                "{} / {}",
                number(&report["enroll_s"]),
                number(&report["enrolled_new"])
            ),
        ),
        ("connect phase (s)", number(&report["connect_s"])),
        (
            "sessions after connect / peak / min / end",
            format!(
                "{} / {} / {} / {}",
                number(&report["sessions"]["after_connect"]),
                number(&report["sessions"]["peak"]),
                number(&report["sessions"]["min_in_window"]),
                number(&report["sessions"]["at_end"])
            ),
        ),
        ("session errors", number(&report["sessions"]["errors"])),
        ("window (s)", number(&report["window_s"])),
        ("heartbeats/s", number(&report["rates_per_s"]["heartbeats"])),
        ("deltas/s", number(&report["rates_per_s"]["deltas"])),
        ("messages/s", number(&report["rates_per_s"]["messages"])),
        (
            "snapshots acked / per s",
            format!(
                "{} / {}",
                number(&report["snapshots"]["acked"]),
                number(&report["rates_per_s"]["snapshots"])
            ),
        ),
        (
            "Hello → Welcome p50 / p99 / max (ms)",
            format!(
                "{} / {} / {}",
                number(&report["welcome_latency"]["p50_ms"]),
                number(&report["welcome_latency"]["p99_ms"]),
                number(&report["welcome_latency"]["max_ms"])
            ),
        ),
        (
            "heartbeat ack p50 / p99 (ms)",
            format!(
                "{} / {}",
                number(&report["ack_latency"]["heartbeat"]["p50_ms"]),
                number(&report["ack_latency"]["heartbeat"]["p99_ms"])
            ),
        ),
        (
            "delta ack p50 / p99 (ms)",
            format!(
                "{} / {}",
                number(&report["ack_latency"]["delta"]["p50_ms"]),
                number(&report["ack_latency"]["delta"]["p99_ms"])
            ),
        ),
        (
            "snapshot ack p50 / p99 (ms)",
            format!(
                "{} / {}",
                number(&report["ack_latency"]["snapshot"]["p50_ms"]),
                number(&report["ack_latency"]["snapshot"]["p99_ms"])
            ),
        ),
        ("throttles", number(&report["throttles"])),
        (
            "killed silent / clean",
            format!(
                "{} / {}",
                number(&report["killed"]["silent"]),
                number(&report["killed"]["clean"])
            ),
        ),
        (
            "detected / missing",
            format!(
                "{} / {}",
                number(&report["detection"]["detected"]),
                number(&report["detection"]["missing"])
            ),
        ),
        (
            "silent → incident p50 / p99 (ms)",
            format!(
                "{} / {}",
                number(&report["detection"]["silent"]["p50_ms"]),
                number(&report["detection"]["silent"]["p99_ms"])
            ),
        ),
        (
            "incident → webhook p50 / p99 (ms)",
            format!(
                "{} / {}",
                number(&report["delivery"]["trigger_latency"]["p50_ms"]),
                number(&report["delivery"]["trigger_latency"]["p99_ms"])
            ),
        ),
        (
            "false host_down incidents",
            number(&report["false_incidents"]["host_down"]),
        ),
        (
            "collector RSS end / peak (KiB)",
            format!(
                "{} / {}",
                number(&report["collector"]["rss_kib_end"]),
                number(&report["collector"]["rss_kib_peak_in_window"])
            ),
        ),
        (
            "collector KiB per session",
            number(&report["collector"]["kib_per_session"]),
        ),
        (
            "collector CPU (% of a core)",
            number(&report["collector"]["cpu_percent_of_one_core"]),
        ),
        (
            "connect phase: collector CPU % / ms per snapshot",
            format!(
                "{} / {}",
                number(&report["collector"]["cpu_percent_in_connect_phase"]),
                number(&report["collector"]["cpu_ms_per_snapshot_in_connect_phase"])
            ),
        ),
    ];
    let width = rows.iter().map(|(name, _)| name.len()).max().unwrap_or(0);
    rows.iter()
        .map(|(name, value)| format!("{name:<width$}  {value}\n"))
        .collect()
}
