//! Which maintenance windows count: stored windows outside the bounds of
//! `bounds` (written before they existed) are skipped with a warning, so
//! one bad row neither crashes nor poisons a report or the monitor; and
//! whether a window applies to a host (by host, tag or service scope) and
//! covers an instant.

use super::bounds;
use super::report::expand_recurring;
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
