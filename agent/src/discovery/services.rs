//! The services section: systemd service units with their active and sub
//! state and enablement, from `systemctl` (only when systemd runs): the
//! live host's, or under another root the command the agent's `systemctl`
//! option names.

use std::collections::BTreeMap;
use std::time::Duration;

use rollcall_proto::v1::{Section, Service};

use super::{HostRoot, StatusLog};

/// How long one `systemctl` call may take.
pub(crate) const SYSTEMCTL_TIMEOUT: Duration = Duration::from_secs(10);

/// Whether systemd is the running init (`/run/systemd/system` exists).
pub(crate) fn systemd_running(root: &HostRoot) -> bool {
    root.exists("run/systemd/system")
}

/// Collects systemd services, or marks the section unavailable.
pub(crate) fn services(root: &HostRoot, status: &mut StatusLog) -> Vec<Service> {
    if !systemd_running(root) {
        status.unavailable(Section::Services, "systemd not running");
        return Vec::new();
    }
    if !root.has_systemctl() {
        status.unavailable(
            Section::Services,
            "no systemctl describes this root (set the agent's `systemctl`)",
        );
        return Vec::new();
    }
    let units = root.systemctl(
        &[
            "list-units",
            "--all",
            "--type=service",
            "--no-legend",
            "--plain",
            "--no-pager",
        ],
        SYSTEMCTL_TIMEOUT,
    );
    let unit_files = root.systemctl(
        &[
            "list-unit-files",
            "--type=service",
            "--no-legend",
            "--no-pager",
        ],
        SYSTEMCTL_TIMEOUT,
    );
    let Some(units) = units else {
        status.unavailable(Section::Services, "systemctl list-units failed");
        return Vec::new();
    };
    if unit_files.is_none() {
        status.note(
            Section::Services,
            "systemctl list-unit-files failed: enablement unknown",
        );
    }
    merge_units(&units, unit_files.as_deref().unwrap_or(""))
}

/// Parses `systemctl list-units --all --plain --no-legend` and
/// `systemctl list-unit-files --no-legend` and merges them: every loaded
/// unit with its states and the enablement of its unit file, plus unit
/// files that are not loaded (inactive/dead). Template units (`foo@.service`)
/// and units whose file was not found are left out. Sorted by name.
pub fn merge_units(list_units: &str, list_unit_files: &str) -> Vec<Service> {
    let mut services: BTreeMap<String, Service> = BTreeMap::new();
    for line in list_units.lines() {
        let mut fields = line
            .split_whitespace()
            .skip_while(|field| *field == "●" || *field == "*");
        let (Some(name), Some(load), Some(active), Some(sub)) =
            (fields.next(), fields.next(), fields.next(), fields.next())
        else {
            continue;
        };
        if load == "not-found" || !name.contains('.') {
            continue;
        }
        let description = fields.collect::<Vec<_>>().join(" ");
        services.insert(
            name.to_owned(),
            Service {
                name: name.to_owned(),
                active_state: active.to_owned(),
                sub_state: sub.to_owned(),
                enablement: String::new(),
                description,
            },
        );
    }
    for (name, enablement) in parse_unit_files(list_unit_files) {
        if name.ends_with("@.service") {
            continue;
        }
        services
            .entry(name.to_owned())
            .or_insert_with(|| Service {
                name: name.to_owned(),
                active_state: "inactive".to_owned(),
                sub_state: "dead".to_owned(),
                ..Default::default()
            })
            .enablement = enablement.to_owned();
    }
    services.into_values().collect()
}

/// Parses `systemctl list-unit-files --no-legend` into (unit, state) pairs.
pub fn parse_unit_files(text: &str) -> Vec<(&str, &str)> {
    text.lines()
        .filter_map(|line| {
            let mut fields = line.split_whitespace();
            let name = fields.next()?;
            let state = fields.next()?;
            name.contains('.').then_some((name, state))
        })
        .collect()
}

/// Parses `systemctl list-units --state=failed --no-legend --plain`: the
/// failed unit names.
pub fn parse_failed_units(text: &str) -> Vec<String> {
    text.lines()
        .filter_map(|line| {
            line.split_whitespace()
                .find(|field| *field != "●" && *field != "*")
                .filter(|name| name.contains('.'))
                .map(str::to_owned)
        })
        .collect()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::discovery::test_support::fixture_text;

    #[test]
    fn merges_units_and_unit_files() {
        let services = merge_units(
            &fixture_text("systemctl/list-units"),
            &fixture_text("systemctl/list-unit-files"),
        );
        let find = |name: &str| {
            services
                .iter()
                .find(|service| service.name == name)
                .unwrap()
        };
        let ssh = find("ssh.service");
        assert_eq!(ssh.active_state, "active");
        assert_eq!(ssh.sub_state, "running");
        assert_eq!(ssh.enablement, "enabled");
        assert_eq!(ssh.description, "OpenBSD Secure Shell server");
        let failed = find("nginx.service");
        assert_eq!(
            (failed.active_state.as_str(), failed.sub_state.as_str()),
            ("failed", "failed")
        );
        // A unit file that is not loaded is inactive.
        let rsync = find("rsync.service");
        assert_eq!(
            (rsync.active_state.as_str(), rsync.enablement.as_str()),
            ("inactive", "disabled")
        );
        // Loaded without a unit file (generated, transient).
        assert_eq!(find("systemd-fsck-root.service").enablement, "");
        // Not-found units and templates are left out.
        assert!(
            services
                .iter()
                .all(|service| service.name != "plymouth-quit.service")
        );
        assert!(
            services
                .iter()
                .all(|service| !service.name.ends_with("@.service"))
        );
        // Instances of templates are kept.
        assert_eq!(find("getty@tty1.service").active_state, "active");
        let names: Vec<_> = services
            .iter()
            .map(|service| service.name.clone())
            .collect();
        let mut sorted = names.clone();
        sorted.sort();
        assert_eq!(names, sorted);
    }

    #[test]
    fn failed_units() {
        assert_eq!(
            parse_failed_units(
                "nginx.service loaded failed failed A high performance web server\n● foo.mount loaded failed failed Foo\n\n"
            ),
            vec!["nginx.service", "foo.mount"]
        );
        assert!(parse_failed_units("").is_empty());
    }

    #[test]
    fn empty_outputs() {
        assert!(merge_units("", "").is_empty());
        assert!(parse_unit_files("0 unit files listed.\n").is_empty());
    }
}
