//! Which maintenance windows count: stored windows outside the bounds of
//! `bounds` (written before they existed) are skipped with a warning, so
//! one bad row neither crashes nor poisons a report or the monitor; and
//! whether a window applies to a host (by host, tag or service scope),
//! covers an instant, and until when.

use super::bounds;
use super::report::expand_recurring;
use crate::error::{Error, Result};
use crate::store::MaintenanceWindow;

/// The windows that pass [`bounds::check_maintenance`]; each one that does
/// not is logged at WARN (an operator should delete it) and left out.
pub fn usable(windows: Vec<MaintenanceWindow>) -> Vec<MaintenanceWindow> {
    windows
        .into_iter()
        .filter(|window| match bounds::check_maintenance(window) {
            Ok(()) => true,
            Err(error) => {
                tracing::warn!(
                    window_id = %window.id,
                    error = %error,
                    "stored maintenance window out of bounds: skipped, delete it"
                );
                false
            }
        })
        .collect()
}

/// Whether `window` applies to the host with `tags` that is a member of
/// the services `memberships`.
pub fn applies(
    window: &MaintenanceWindow,
    host_id: &str,
    tags: &[String],
    memberships: &[String],
) -> bool {
    match window.scope.as_str() {
        "host" => window.target == host_id,
        "tag" => tags.contains(&window.target),
        "service" => memberships.contains(&window.target),
        _ => false,
    }
}

/// The reason of the first usable window that applies to the host and
/// covers `at`, if any.
pub fn covering(
    windows: Vec<MaintenanceWindow>,
    host_id: &str,
    tags: &[String],
    memberships: &[String],
    at: i64,
) -> Option<String> {
    let instant = (at, at.saturating_add(1));
    usable(windows)
        .into_iter()
        .find(|window| {
            applies(window, host_id, tags, memberships)
                && !expand_recurring(
                    window.starts_at,
                    window.ends_at,
                    &window.recurrence,
                    instant,
                )
                .is_empty()
        })
        .map(|window| {
            if window.reason.is_empty() {
                "maintenance window".into()
            } else {
                window.reason
            }
        })
}

/// The reason of the first usable window that applies to the host and
/// covers `at`, and when the maintenance covering `at` ends: the end of
/// the span that the applicable windows' occurrences, merged, form around
/// `at` (an occurrence of one window may run on into another's). Looked at
/// up to [`bounds::MAX_MAINTENANCE_MS`] ahead, so a span is cut there.
pub fn covering_until(
    windows: Vec<MaintenanceWindow>,
    host_id: &str,
    tags: &[String],
    memberships: &[String],
    at: i64,
) -> Option<(String, i64)> {
    let applicable: Vec<MaintenanceWindow> = usable(windows)
        .into_iter()
        .filter(|window| applies(window, host_id, tags, memberships))
        .collect();
    let reason = covering(applicable.clone(), host_id, tags, memberships, at)?;
    let horizon = (at, at.saturating_add(bounds::MAX_MAINTENANCE_MS));
    let spans = super::report::merge(
        applicable.iter().flat_map(|window| {
            expand_recurring(
                window.starts_at,
                window.ends_at,
                &window.recurrence,
                horizon,
            )
        }),
        horizon,
    );
    let until = spans
        .iter()
        .find(|(start, end)| *start <= at && at < *end)
        .map_or(horizon.1, |span| span.1);
    Some((reason, until))
}

/// A new window, every field checked: `scope` `host`, `tag` or `service`,
/// `target` 1 to 256 bytes, `reason` at most 1024, and the times and
/// recurrence by [`bounds::check_maintenance`]. The API and the console
/// both create windows through this.
pub fn new_window(
    scope: String,
    target: String,
    (starts_at, ends_at): (i64, i64),
    recurrence: String,
    reason: String,
) -> Result<MaintenanceWindow> {
    if !["host", "tag", "service"].contains(&scope.as_str()) {
        return Err(Error::InvalidInput(
            "scope must be host, tag or service".into(),
        ));
    }
    if target.is_empty() || target.len() > 256 || reason.len() > 1024 {
        return Err(Error::InvalidInput(
            "target must be 1 to 256 bytes and reason at most 1024".into(),
        ));
    }
    let window = MaintenanceWindow {
        id: crate::auth::new_id(),
        scope,
        target,
        starts_at,
        ends_at,
        recurrence,
        reason,
        created_at: rollcall_proto::now_ms(),
    };
    bounds::check_maintenance(&window)?;
    Ok(window)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::availability::bounds::DAY_MS;

    const NOW: i64 = 1_800_000_000_000;

    fn window(id: &str, starts_at: i64, ends_at: i64, recurrence: &str) -> MaintenanceWindow {
        MaintenanceWindow {
            id: id.into(),
            scope: "host".into(),
            target: "h".into(),
            starts_at,
            ends_at,
            recurrence: recurrence.into(),
            reason: format!("reason {id}"),
            created_at: NOW,
        }
    }

    /// Rows a database written before the bounds may hold.
    fn hostile() -> Vec<MaintenanceWindow> {
        vec![
            window("min", i64::MIN, NOW + DAY_MS, "daily"),
            window("max", NOW, i64::MAX, "daily"),
            window("both", i64::MIN, i64::MAX, "weekly"),
            window("long", NOW - 100 * DAY_MS, NOW + 100 * DAY_MS, "daily"),
            window("odd", NOW - 1, NOW + 1, "hourly"),
        ]
    }

    #[test]
    fn hostile_stored_windows_are_skipped_and_never_cover() {
        assert!(usable(hostile()).is_empty());
        for at in [i64::MIN, 0, NOW, i64::MAX - 1, i64::MAX] {
            assert_eq!(covering(hostile(), "h", &[], &[], at), None, "at {at}");
        }
    }

    #[test]
    fn a_good_window_beside_hostile_ones_still_covers() {
        let mut windows = hostile();
        windows.push(window("good", NOW - 3_600_000, NOW + 3_600_000, "daily"));
        assert_eq!(
            covering(windows.clone(), "h", &[], &[], NOW + DAY_MS),
            Some("reason good".into()),
            "the next day's occurrence"
        );
        assert_eq!(
            covering(windows, "other", &[], &[], NOW),
            None,
            "another host"
        );
    }

    #[test]
    fn maintenance_lasts_until_the_merged_span_around_the_instant_ends() {
        let h = 3_600_000;
        let windows = vec![
            window("first", NOW, NOW + 2 * h, ""),
            // Overlaps the first: together they run to NOW + 3h.
            window("second", NOW + h, NOW + 3 * h, ""),
            window("later", NOW + 5 * h, NOW + 6 * h, ""),
        ];
        assert_eq!(
            covering_until(windows.clone(), "h", &[], &[], NOW + h / 2),
            Some(("reason first".into(), NOW + 3 * h))
        );
        assert_eq!(
            covering_until(windows.clone(), "h", &[], &[], NOW + 4 * h),
            None
        );
        assert_eq!(
            covering_until(windows.clone(), "h", &[], &[], NOW + 5 * h).map(|(_, until)| until),
            Some(NOW + 6 * h)
        );
        assert_eq!(covering_until(windows, "other", &[], &[], NOW), None);
        // A daily window: today's occurrence ends, not the first one's.
        let daily = vec![window(
            "d",
            NOW - 10 * DAY_MS,
            NOW - 10 * DAY_MS + h,
            "daily",
        )];
        assert_eq!(
            covering_until(daily, "h", &[], &[], NOW + h / 2),
            Some(("reason d".into(), NOW + h))
        );
        assert_eq!(covering_until(hostile(), "h", &[], &[], NOW), None);
    }

    #[test]
    fn scopes_match_host_tag_and_service() {
        let mut by_tag = window("t", NOW, NOW + 1, "");
        by_tag.scope = "tag".into();
        by_tag.target = "db".into();
        let mut by_service = by_tag.clone();
        by_service.scope = "service".into();
        by_service.target = "shop".into();
        let tags = ["db".to_string()];
        let services = ["shop".to_string()];
        assert!(applies(&by_tag, "x", &tags, &[]));
        assert!(!applies(&by_tag, "x", &[], &services));
        assert!(applies(&by_service, "x", &[], &services));
        assert!(!applies(&by_service, "x", &tags, &[]));
    }
}
