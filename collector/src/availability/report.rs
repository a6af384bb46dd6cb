//! Availability arithmetic over a window: unplanned downtime with
//! maintenance excluded, degraded time apart, MTBF and MTRS, and k-of-n
//! business services. Pure functions over intervals in milliseconds.

use serde::Serialize;

use super::bounds::{MAX_OCCURRENCES, period_ms};

/// A half-open interval `[start, end)` in ms.
pub type Span = (i64, i64);

/// An outage as the arithmetic needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutageSpan {
    /// Begin (ms).
    pub start: i64,
    /// End (ms); `None` while ongoing.
    pub end: Option<i64>,
    /// `unplanned`, `planned` or `degraded`.
    pub kind: String,
}

/// The availability of one CI over one window.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Availability {
    /// Window start (ms).
    pub from: i64,
    /// Window end (ms).
    pub to: i64,
    /// Window length minus maintenance (ms).
    pub scheduled_ms: i64,
    /// Unplanned downtime outside maintenance (ms).
    pub unplanned_downtime_ms: i64,
    /// Planned downtime (ms), reported apart.
    pub planned_downtime_ms: i64,
    /// Degraded time (ms), reported apart: up with an open critical
    /// incident other than host-down; time the host was down (planned or
    /// not) is downtime and not counted here.
    pub degraded_ms: i64,
    /// (scheduled − unplanned) / scheduled × 100; 100 when nothing was scheduled.
    pub availability_percent: f64,
    /// Unplanned outages that began in the window.
    pub failures: usize,
    /// Mean time between failures (ms): scheduled uptime / failures.
    pub mtbf_ms: Option<i64>,
    /// Mean time to restore service (ms): unplanned downtime / failures.
    pub mtrs_ms: Option<i64>,
}

/// Sorts and merges overlapping spans, clipped to `window`.
pub fn merge(spans: impl IntoIterator<Item = Span>, window: Span) -> Vec<Span> {
    let mut clipped: Vec<Span> = spans
        .into_iter()
        .map(|(start, end)| (start.max(window.0), end.min(window.1)))
        .filter(|(start, end)| start < end)
        .collect();
    clipped.sort_unstable();
    let mut merged: Vec<Span> = Vec::with_capacity(clipped.len());
    for (start, end) in clipped {
        match merged.last_mut() {
            Some(last) if start <= last.1 => last.1 = last.1.max(end),
            _ => merged.push((start, end)),
        }
    }
    merged
}

/// Total length of merged spans (saturating: it cannot overflow).
pub fn total(spans: &[Span]) -> i64 {
    spans.iter().fold(0i64, |sum, (start, end)| {
        sum.saturating_add(end.saturating_sub(*start))
    })
}

/// `spans` minus `cut`, both merged.
pub fn subtract(spans: &[Span], cut: &[Span]) -> Vec<Span> {
    let mut out = Vec::new();
    for &(start, end) in spans {
        let mut cursor = start;
        for &(cut_start, cut_end) in cut {
            if cut_end <= cursor || cut_start >= end {
                continue;
            }
            if cut_start > cursor {
                out.push((cursor, cut_start));
            }
            cursor = cursor.max(cut_end);
        }
        if cursor < end {
            out.push((cursor, end));
        }
    }
    out
}

/// Availability of one CI over `window`, given its outages and maintenance windows.
pub fn availability(window: Span, outages: &[OutageSpan], maintenance: &[Span]) -> Availability {
    let maintenance = merge(maintenance.iter().copied(), window);
    let spans_of = |kind: &str| {
        merge(
            outages
                .iter()
                .filter(|outage| outage.kind == kind)
                .map(|outage| (outage.start, outage.end.unwrap_or(window.1))),
            window,
        )
    };
    let unplanned = subtract(&spans_of("unplanned"), &maintenance);
    let down = merge(
        spans_of("unplanned").into_iter().chain(spans_of("planned")),
        window,
    );
    let degraded = subtract(&spans_of("degraded"), &down);
    let scheduled_ms = window
        .1
        .saturating_sub(window.0)
        .max(0)
        .saturating_sub(total(&maintenance));
    let unplanned_downtime_ms = total(&unplanned);
    let failures = outages
        .iter()
        .filter(|outage| {
            outage.kind == "unplanned" && outage.start >= window.0 && outage.start < window.1
        })
        .filter(|outage| {
            !maintenance
                .iter()
                .any(|(start, end)| outage.start >= *start && outage.start < *end)
        })
        .count();
    let availability_percent = if scheduled_ms > 0 {
        scheduled_ms.saturating_sub(unplanned_downtime_ms) as f64 * 100.0 / scheduled_ms as f64
    } else {
        100.0
    };
    Availability {
        from: window.0,
        to: window.1,
        scheduled_ms,
        unplanned_downtime_ms,
        planned_downtime_ms: total(&spans_of("planned")),
        degraded_ms: total(&degraded),
        availability_percent,
        failures,
        mtbf_ms: (failures > 0)
            .then(|| scheduled_ms.saturating_sub(unplanned_downtime_ms) / failures as i64),
        mtrs_ms: (failures > 0).then(|| unplanned_downtime_ms / failures as i64),
    }
}

/// The down spans of a k-of-n service: the service is up while at least
/// `min_up` of the members are up. `members` holds each member's merged
/// unplanned down spans.
pub fn service_down_spans(members: &[Vec<Span>], min_up: usize, window: Span) -> Vec<Span> {
    if members.len() < min_up {
        return vec![window];
    }
    let allowed_down = members.len() - min_up;
    let mut events: Vec<(i64, i32)> = Vec::new();
    for spans in members {
        for &(start, end) in &merge(spans.iter().copied(), window) {
            events.push((start, 1));
            events.push((end, -1));
        }
    }
    // Ends before starts at the same instant: a hand-over is not an outage.
    events.sort_unstable_by_key(|(at, delta)| (*at, *delta));
    let mut down = 0i32;
    let mut out = Vec::new();
    let mut began: Option<i64> = None;
    for (at, delta) in events {
        down += delta;
        let failing = down as usize > allowed_down;
        match (failing, began) {
            (true, None) => began = Some(at),
            (false, Some(start)) => {
                if at > start {
                    out.push((start, at));
                }
                began = None;
            }
            _ => {}
        }
    }
    if let Some(start) = began {
        out.push((start, window.1));
    }
    merge(out, window)
}

/// Expands a (possibly recurring) maintenance window into spans overlapping
/// `window`, merged and clipped to it. The first occurrence inside the
/// window is computed, not stepped to, so the cost is the number of
/// occurrences in the window, and at most [`MAX_OCCURRENCES`] are produced
/// (later ones are dropped: a clamped result). Any input is safe: the
/// arithmetic is done in `i128`, where sums of a few `i64` cannot overflow.
/// An unknown recurrence counts as a one-off window.
pub fn expand_recurring(starts_at: i64, ends_at: i64, recurrence: &str, window: Span) -> Vec<Span> {
    let Ok(Some(period)) = period_ms(recurrence) else {
        return merge([(starts_at, ends_at)], window);
    };
    if ends_at <= starts_at || window.1 <= window.0 {
        return Vec::new();
    }
    let (period, start, length) = (
        i128::from(period),
        i128::from(starts_at),
        i128::from(ends_at) - i128::from(starts_at),
    );
    let (from, to) = (i128::from(window.0), i128::from(window.1));
    // Occurrence k (k >= 0) is [start + k·period, start + k·period + length);
    // the first that ends after `from` has the least k with k·period > from − start − length.
    let behind = from - start - length;
    let first = if behind < 0 { 0 } else { behind / period + 1 };
    let mut spans = Vec::new();
    let mut begin = start + first * period;
    while begin < to && spans.len() < MAX_OCCURRENCES {
        // Clipped to the window, both ends fit in i64 again.
        let clipped = (begin.max(from), (begin + length).min(to));
        if let (Ok(clip_start), Ok(clip_end)) = (i64::try_from(clipped.0), i64::try_from(clipped.1))
        {
            spans.push((clip_start, clip_end));
        }
        begin += period;
    }
    merge(spans, window)
}

#[cfg(test)]
mod tests {
    use super::*;

    const H: i64 = 3_600_000;

    fn outage(start: i64, end: Option<i64>, kind: &str) -> OutageSpan {
        OutageSpan {
            start,
            end,
            kind: kind.into(),
        }
    }

    #[test]
    fn plain_outage_inside_the_window() {
        let report = availability(
            (0, 100 * H),
            &[outage(10 * H, Some(11 * H), "unplanned")],
            &[],
        );
        assert_eq!(report.unplanned_downtime_ms, H);
        assert!((report.availability_percent - 99.0).abs() < 1e-9);
        assert_eq!(
            (report.failures, report.mtrs_ms, report.mtbf_ms),
            (1, Some(H), Some(99 * H))
        );
    }

    #[test]
    fn outages_crossing_window_edges_are_clipped() {
        let outages = [
            outage(-5 * H, Some(2 * H), "unplanned"),
            outage(99 * H, None, "unplanned"),
        ];
        let report = availability((0, 100 * H), &outages, &[]);
        assert_eq!(report.unplanned_downtime_ms, 3 * H);
        assert_eq!(
            report.failures, 1,
            "only outages that began inside the window count as failures"
        );
    }

    #[test]
    fn overlapping_maintenance_is_excluded_once() {
        let maintenance = [(10 * H, 14 * H), (12 * H, 16 * H)];
        let outages = [outage(13 * H, Some(18 * H), "unplanned")];
        let report = availability((0, 100 * H), &outages, &maintenance);
        assert_eq!(report.scheduled_ms, 94 * H);
        assert_eq!(
            report.unplanned_downtime_ms,
            2 * H,
            "16h to 18h is outside maintenance"
        );
        assert_eq!(report.failures, 0, "it began inside maintenance");
    }

    #[test]
    fn planned_and_degraded_are_reported_apart() {
        let outages = [
            outage(0, Some(H), "planned"),
            outage(2 * H, Some(4 * H), "degraded"),
        ];
        let report = availability((0, 10 * H), &outages, &[]);
        assert_eq!(
            (
                report.planned_downtime_ms,
                report.degraded_ms,
                report.unplanned_downtime_ms
            ),
            (H, 2 * H, 0)
        );
        assert_eq!(report.availability_percent, 100.0);
    }

    #[test]
    fn degraded_time_while_down_is_downtime_not_degradation() {
        // Degraded 1h–6h; down 2h–3h (unplanned) and 4h–5h (planned).
        let outages = [
            outage(H, Some(6 * H), "degraded"),
            outage(2 * H, Some(3 * H), "unplanned"),
            outage(4 * H, Some(5 * H), "planned"),
            // A second degraded record overlapping the first counts once.
            outage(5 * H, None, "degraded"),
        ];
        let report = availability((0, 10 * H), &outages, &[]);
        assert_eq!(report.degraded_ms, 3 * H + 4 * H, "1–2, 3–4, 5–10");
        assert_eq!(report.unplanned_downtime_ms, H);
        assert_eq!(report.planned_downtime_ms, H);
        assert!(
            (report.availability_percent - 90.0).abs() < 1e-9,
            "degraded is up"
        );
    }

    #[test]
    fn k_of_n_service_is_down_only_below_k() {
        let members = vec![vec![(0, 10 * H)], vec![(5 * H, 15 * H)], vec![]];
        assert_eq!(
            service_down_spans(&members, 2, (0, 20 * H)),
            vec![(5 * H, 10 * H)]
        );
        assert_eq!(
            service_down_spans(&members, 1, (0, 20 * H)),
            Vec::<Span>::new()
        );
        assert_eq!(
            service_down_spans(&members, 3, (0, 20 * H)),
            vec![(0, 15 * H)]
        );
        assert_eq!(
            service_down_spans(&members, 4, (0, 20 * H)),
            vec![(0, 20 * H)],
            "fewer members than k"
        );
        let handover = vec![vec![(0, 5 * H)], vec![(5 * H, 10 * H)]];
        assert_eq!(
            service_down_spans(&handover, 2, (0, 20 * H)),
            vec![(0, 10 * H)]
        );
        assert_eq!(
            service_down_spans(&handover, 1, (0, 20 * H)),
            Vec::<Span>::new(),
            "hand-over at one instant"
        );
    }

    #[test]
    fn recurring_windows_expand() {
        let spans = expand_recurring(2 * H, 3 * H, "daily", (0, 72 * H));
        assert_eq!(
            spans,
            vec![(2 * H, 3 * H), (26 * H, 27 * H), (50 * H, 51 * H)]
        );
        let late = expand_recurring(2 * H, 3 * H, "daily", (49 * H, 72 * H));
        assert_eq!(late, vec![(50 * H, 51 * H)]);
        assert_eq!(expand_recurring(0, H, "", (0, 10 * H)), vec![(0, H)]);
    }

    const NOW: i64 = 1_800_000_000_000;
    const DAY: i64 = 24 * H;

    #[test]
    fn a_daily_window_over_ten_years_expands_to_one_span_a_day() {
        use crate::availability::bounds::MAX_WINDOW_MS;
        // Started 30 years before the report window: the first occurrence
        // inside it is computed, not stepped to.
        let starts_at = NOW - 30 * 365 * DAY + 2 * H;
        let window = (NOW, NOW + MAX_WINDOW_MS);
        let started = std::time::Instant::now();
        let spans = expand_recurring(starts_at, starts_at + H, "daily", window);
        assert_eq!(spans.len(), 3_660, "one a day over 3660 days");
        assert!(spans.iter().all(|(start, end)| end - start == H));
        assert!(spans.windows(2).all(|pair| pair[1].0 - pair[0].0 == DAY));
        assert!(spans[0].0 >= NOW && spans[0].0 < NOW + DAY);
        assert!(
            started.elapsed() < std::time::Duration::from_secs(1),
            "bounded work: {:?}",
            started.elapsed()
        );
        let weekly = expand_recurring(starts_at, starts_at + H, "weekly", window);
        assert_eq!(weekly.len(), 523, "3660 days hold 522 weeks and 6 days");
    }

    #[test]
    fn an_occurrence_straddling_the_window_start_is_clipped_in() {
        // Occurrences [22h, 26h) each day; the window opens at 24h.
        let spans = expand_recurring(22 * H, 26 * H, "daily", (24 * H, 49 * H));
        assert_eq!(spans, vec![(24 * H, 26 * H), (46 * H, 49 * H)]);
        assert_eq!(
            expand_recurring(22 * H, 26 * H, "daily", (26 * H, 46 * H)),
            Vec::<Span>::new(),
            "between two occurrences"
        );
    }

    #[test]
    fn extreme_windows_and_times_neither_panic_nor_run_long() {
        let extremes = [
            i64::MIN,
            i64::MIN + 1,
            -1,
            0,
            1,
            NOW,
            i64::MAX - 1,
            i64::MAX,
        ];
        let started = std::time::Instant::now();
        for &starts_at in &extremes {
            for &ends_at in &extremes {
                for recurrence in ["", "daily", "weekly", "hourly"] {
                    for window in [
                        (NOW, i64::MAX),
                        (i64::MIN, i64::MAX),
                        (i64::MIN, NOW),
                        (i64::MAX - 1, i64::MAX),
                        (NOW, NOW + 1),
                        (NOW, NOW),
                    ] {
                        let spans = expand_recurring(starts_at, ends_at, recurrence, window);
                        assert!(spans.len() <= MAX_OCCURRENCES);
                        assert!(spans.iter().all(|(start, end)| {
                            start < end && *start >= window.0 && *end <= window.1
                        }));
                        let report = availability(window, &[], &spans);
                        assert!(report.scheduled_ms >= 0);
                    }
                }
            }
        }
        assert!(started.elapsed() < std::time::Duration::from_secs(10));
        // The finding: a daily window and an endless report window.
        let endless = expand_recurring(NOW, NOW + H, "daily", (NOW, i64::MAX));
        assert_eq!(endless.len(), MAX_OCCURRENCES, "clamped at the cap");
        assert_eq!(
            expand_recurring(i64::MIN, i64::MIN + H, "daily", (NOW, NOW + DAY)).len(),
            1,
            "a window from the start of time still recurs today"
        );
        let outages = [outage(i64::MIN, None, "unplanned")];
        let report = availability((i64::MIN, i64::MAX), &outages, &[(i64::MIN, -1)]);
        assert_eq!(
            report.unplanned_downtime_ms,
            i64::MAX,
            "saturated, not wrapped"
        );
        assert_eq!(total(&[(i64::MIN, i64::MAX), (0, 1)]), i64::MAX);
    }

    #[test]
    fn subtract_handles_nested_cuts() {
        assert_eq!(
            subtract(&[(0, 10)], &[(2, 3), (5, 7)]),
            vec![(0, 2), (3, 5), (7, 10)]
        );
        assert_eq!(subtract(&[(0, 10)], &[(-5, 20)]), Vec::<Span>::new());
    }
}
