//! The bounds on every time the availability side accepts from outside,
//! whether an API caller names it or a stored object holds it: timestamps
//! within 2000..2200, report windows of at most 3660 days, maintenance
//! windows of at most 366 days (a recurring one at most its period), and at
//! most `MAX_OCCURRENCES` occurrences of a recurring window per expansion.
//! Inside these bounds no sum or difference of two times can overflow, and
//! the work of a report is bounded by the window, not by the caller.

use crate::error::{Error, Result};
use crate::store::MaintenanceWindow;

/// One day (ms).
pub const DAY_MS: i64 = 86_400_000;
/// One week (ms).
pub const WEEK_MS: i64 = 7 * DAY_MS;
/// Earliest accepted timestamp: 2000-01-01T00:00:00Z (ms since the epoch).
pub const MIN_TIME_MS: i64 = 946_684_800_000;
/// Latest accepted timestamp: 2200-01-01T00:00:00Z (ms since the epoch).
pub const MAX_TIME_MS: i64 = 7_258_118_400_000;
/// Longest report window: 3660 days (ten years and change; `window=` has
/// always been capped there).
pub const MAX_WINDOW_MS: i64 = 3_660 * DAY_MS;
/// Longest one-off maintenance window: 366 days. A recurring window lasts
/// at most its period (one day, one week).
pub const MAX_MAINTENANCE_MS: i64 = 366 * DAY_MS;
/// Most occurrences one expansion of a recurring window yields; later ones
/// are dropped (a clamped result). A daily window over the longest report
/// window has 3661, so no bounded request reaches the cap: it is the
/// backstop for a caller that expands over an unchecked window.
pub const MAX_OCCURRENCES: usize = 4_000;

/// The period of a recurrence (`daily`, `weekly`), `None` for a one-off
/// window (empty), or an error naming the accepted values.
pub fn period_ms(recurrence: &str) -> Result<Option<i64>> {
    match recurrence {
        "" => Ok(None),
        "daily" => Ok(Some(DAY_MS)),
        "weekly" => Ok(Some(WEEK_MS)),
        _ => Err(Error::InvalidInput(
            "recurrence must be empty, daily or weekly".into(),
        )),
    }
}

/// `value` when it is within [`MIN_TIME_MS`]..=[`MAX_TIME_MS`]; otherwise a
/// 400 naming the field and the limits.
pub fn check_time(name: &str, value: i64) -> Result<i64> {
    if (MIN_TIME_MS..=MAX_TIME_MS).contains(&value) {
        return Ok(value);
    }
    Err(Error::InvalidInput(format!(
        "{name} {value} is out of range: times must be between {MIN_TIME_MS} (2000-01-01) \
         and {MAX_TIME_MS} (2200-01-01) ms since the epoch"
    )))
}

/// Optional `since` and `until` of a query, each checked by [`check_time`]
/// when given.
pub fn check_times(since: Option<i64>, until: Option<i64>) -> Result<(Option<i64>, Option<i64>)> {
    let since = since.map(|since| check_time("since", since)).transpose()?;
    let until = until.map(|until| check_time("until", until)).transpose()?;
    Ok((since, until))
}

/// The report window `since..until` when both ends are in range, `until`
/// is after `since` and the window is at most [`MAX_WINDOW_MS`] long.
pub fn check_window(since: i64, until: i64) -> Result<(i64, i64)> {
    check_time("since", since)?;
    check_time("until", until)?;
    if until <= since {
        return Err(Error::InvalidInput("until must be after since".into()));
    }
    // Both ends are in range, so the difference cannot overflow.
    let length = until - since;
    if length > MAX_WINDOW_MS {
        return Err(Error::InvalidInput(format!(
            "the window since..until is {} days long: at most {} days ({MAX_WINDOW_MS} ms)",
            length / DAY_MS,
            MAX_WINDOW_MS / DAY_MS
        )));
    }
    Ok((since, until))
}

/// Checks the times of a maintenance window: both ends in range, the end
/// after the start, a known recurrence, and a length of at most
/// [`MAX_MAINTENANCE_MS`] (one-off) or the period (recurring). The API
/// refuses a window that fails before writing it; readers skip a stored
/// one that fails (written before these bounds existed).
pub fn check_maintenance(window: &MaintenanceWindow) -> Result<()> {
    let period = period_ms(&window.recurrence)?;
    check_time("starts_at", window.starts_at)?;
    check_time("ends_at", window.ends_at)?;
    if window.ends_at <= window.starts_at {
        return Err(Error::InvalidInput(
            "ends_at must be after starts_at".into(),
        ));
    }
    let length = window.ends_at - window.starts_at;
    let (limit, what) = match period {
        None => (MAX_MAINTENANCE_MS, "a one-off window"),
        Some(DAY_MS) => (DAY_MS, "a daily window"),
        Some(_) => (WEEK_MS, "a weekly window"),
    };
    if length > limit {
        return Err(Error::InvalidInput(format!(
            "{what} lasts at most {} days ({limit} ms), this one {length} ms",
            limit / DAY_MS
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_800_000_000_000;

    fn window(starts_at: i64, ends_at: i64, recurrence: &str) -> MaintenanceWindow {
        MaintenanceWindow {
            id: "w".into(),
            scope: "host".into(),
            target: "h".into(),
            starts_at,
            ends_at,
            recurrence: recurrence.into(),
            reason: String::new(),
            created_at: NOW,
        }
    }

    fn message(result: Result<impl std::fmt::Debug>) -> String {
        match result {
            Err(Error::InvalidInput(message)) => message,
            other => panic!("expected invalid input, got {other:?}"),
        }
    }

    #[test]
    fn the_limits_are_the_documented_dates() {
        assert_eq!(MIN_TIME_MS, 30 * 365 * DAY_MS + 7 * DAY_MS, "2000-01-01");
        assert_eq!(MAX_TIME_MS, 230 * 365 * DAY_MS + 56 * DAY_MS, "2200-01-01");
        assert!(MAX_WINDOW_MS / DAY_MS < MAX_OCCURRENCES as i64);
    }

    #[test]
    fn times_outside_the_range_are_refused_by_name() {
        assert_eq!(check_time("since", NOW).ok(), Some(NOW));
        assert!(check_time("since", MIN_TIME_MS).is_ok());
        assert!(check_time("since", MAX_TIME_MS).is_ok());
        for value in [i64::MIN, -1, 0, MIN_TIME_MS - 1, MAX_TIME_MS + 1, i64::MAX] {
            let text = message(check_time("until", value));
            assert!(
                text.starts_with(&format!("until {value} is out of range")),
                "{text}"
            );
            assert!(text.contains("2200-01-01"), "{text}");
        }
    }

    #[test]
    fn windows_are_ordered_and_at_most_ten_years() {
        assert_eq!(
            check_window(NOW, NOW + MAX_WINDOW_MS).ok(),
            Some((NOW, NOW + MAX_WINDOW_MS))
        );
        assert!(message(check_window(NOW, NOW)).contains("until must be after since"));
        assert!(message(check_window(NOW, NOW + MAX_WINDOW_MS + 1)).contains("at most 3660 days"));
        assert!(message(check_window(NOW, i64::MAX)).starts_with("until "));
        assert!(message(check_window(i64::MIN, NOW)).starts_with("since "));
    }

    #[test]
    fn maintenance_windows_are_bounded() {
        assert!(check_maintenance(&window(NOW, NOW + DAY_MS, "daily")).is_ok());
        assert!(check_maintenance(&window(NOW, NOW + WEEK_MS, "weekly")).is_ok());
        assert!(check_maintenance(&window(NOW, NOW + MAX_MAINTENANCE_MS, "")).is_ok());
        for (bad, needle) in [
            (
                window(i64::MIN, NOW, "daily"),
                "starts_at -9223372036854775808",
            ),
            (window(NOW, i64::MAX, ""), "ends_at 9223372036854775807"),
            (window(i64::MIN, i64::MAX, "weekly"), "starts_at"),
            (window(NOW, NOW - 1, ""), "ends_at must be after starts_at"),
            (
                window(NOW, NOW + DAY_MS + 1, "daily"),
                "a daily window lasts",
            ),
            (window(NOW, NOW + WEEK_MS + 1, "weekly"), "a weekly window"),
            (
                window(NOW, NOW + MAX_MAINTENANCE_MS + 1, ""),
                "at most 366 days",
            ),
            (window(NOW, NOW + 1, "hourly"), "recurrence must be"),
        ] {
            let text = message(check_maintenance(&bad));
            assert!(text.contains(needle), "{needle:?} not in {text:?}");
        }
    }
}
