//! The OS section: distribution (os-release), kernel, architecture, boot
//! time and timezone.

use std::collections::HashMap;

use rollcall_proto::v1::{OsInfo, Section};

use super::{HostRoot, StatusLog};

/// Collects the OS section.
pub(crate) fn os_info(root: &HostRoot, status: &mut StatusLog) -> OsInfo {
    let release = root
        .read("etc/os-release")
        .or_else(|_| root.read("usr/lib/os-release"));
    let mut info = match release {
        Ok(text) => os_from_release(&parse_os_release(&text)),
        Err(_) => {
            status.unavailable(Section::Os, "no os-release: distribution unknown");
            OsInfo::default()
        }
    };
    info.kernel = root
        .read_value("proc/sys/kernel/osrelease")
        .unwrap_or_default();
    info.arch = arch_name(std::env::consts::ARCH).to_owned();
    info.boot_time_s = root
        .read("proc/stat")
        .ok()
        .and_then(|text| boot_time(&text))
        .unwrap_or(0);
    info.timezone = timezone(root);
    info
}

/// Parses os-release(5): `KEY=value` lines, values optionally in single or
/// double quotes with backslash escapes; comments and junk lines are skipped.
pub fn parse_os_release(text: &str) -> HashMap<String, String> {
    let mut fields = HashMap::new();
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let Some((key, value)) = line.split_once('=') else {
            continue;
        };
        fields.insert(key.trim().to_owned(), unquote(value.trim()));
    }
    fields
}

/// Removes shell-style quotes and backslash escapes from an os-release value.
fn unquote(value: &str) -> String {
    let quote = match value.chars().next() {
        Some(quote @ ('"' | '\'')) if value.len() >= 2 && value.ends_with(quote) => quote,
        _ => return value.to_owned(),
    };
    let inner = &value[1..value.len() - 1];
    if quote == '\'' {
        return inner.to_owned();
    }
    let mut out = String::with_capacity(inner.len());
    let mut chars = inner.chars();
    while let Some(ch) = chars.next() {
        if ch == '\\' {
            if let Some(escaped) = chars.next() {
                out.push(escaped);
            }
        } else {
            out.push(ch);
        }
    }
    out
}

/// Builds the distribution fields of [`OsInfo`] from parsed os-release.
pub fn os_from_release(fields: &HashMap<String, String>) -> OsInfo {
    let get = |key: &str| fields.get(key).cloned().unwrap_or_default();
    let id = get("ID");
    let id_like = get("ID_LIKE");
    let name = get("NAME");
    OsInfo {
        pretty_name: fields
            .get("PRETTY_NAME")
            .cloned()
            .unwrap_or_else(|| name.clone()),
        family: family(&id, &id_like).to_owned(),
        name,
        version: get("VERSION_ID"),
        id,
        ..Default::default()
    }
}

/// The distribution family ("debian", "rhel", "suse", "alpine", "arch") from
/// `ID` and `ID_LIKE`; otherwise the `ID` itself, or "linux".
pub fn family<'a>(id: &'a str, id_like: &str) -> &'a str {
    let words = || std::iter::once(id).chain(id_like.split_whitespace());
    for (member, family) in [
        ("debian", "debian"),
        ("ubuntu", "debian"),
        ("rhel", "rhel"),
        ("fedora", "rhel"),
        ("centos", "rhel"),
        ("suse", "suse"),
        ("opensuse", "suse"),
        ("sles", "suse"),
        ("alpine", "alpine"),
        ("arch", "arch"),
    ] {
        if words().any(|word| word == member) {
            return family;
        }
    }
    if id.is_empty() { "linux" } else { id }
}

/// The boot time in seconds since the epoch from the `btime` line of
/// `/proc/stat`.
pub fn boot_time(proc_stat: &str) -> Option<i64> {
    proc_stat
        .lines()
        .find_map(|line| line.strip_prefix("btime "))
        .and_then(|value| value.trim().parse().ok())
}

/// The architecture as `uname -m` names it.
pub fn arch_name(rust_arch: &str) -> &str {
    match rust_arch {
        "x86" => "i686",
        "powerpc64" if cfg!(target_endian = "little") => "ppc64le",
        "powerpc64" => "ppc64",
        "arm" => "armv7l",
        other => other,
    }
}

/// The configured timezone: `/etc/timezone` (Debian), else the target of
/// the `/etc/localtime` symlink below `zoneinfo/`; empty if neither.
fn timezone(root: &HostRoot) -> String {
    if let Some(zone) = root.read_value("etc/timezone") {
        return zone;
    }
    std::fs::read_link(root.path("etc/localtime"))
        .ok()
        .and_then(|target| zone_from_link(&target.to_string_lossy()))
        .unwrap_or_default()
}

/// The zone name from a localtime link target (`/usr/share/zoneinfo/Etc/UTC`).
pub fn zone_from_link(target: &str) -> Option<String> {
    target
        .split_once("zoneinfo/")
        .map(|(_, zone)| zone.trim_start_matches("posix/").to_owned())
        .filter(|zone| !zone.is_empty())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::discovery::test_support::fixture_text;

    fn os(fixture: &str) -> OsInfo {
        os_from_release(&parse_os_release(&fixture_text(fixture)))
    }

    #[test]
    fn debian_release() {
        let info = os("os-release/debian");
        assert_eq!(info.id, "debian");
        assert_eq!(info.name, "Debian GNU/Linux");
        assert_eq!(info.version, "12");
        assert_eq!(info.pretty_name, "Debian GNU/Linux 12 (bookworm)");
        assert_eq!(info.family, "debian");
    }

    #[test]
    fn ubuntu_release_is_debian_family() {
        let info = os("os-release/ubuntu");
        assert_eq!(info.id, "ubuntu");
        assert_eq!(info.version, "22.04");
        assert_eq!(info.pretty_name, "Ubuntu 22.04.4 LTS");
        assert_eq!(info.family, "debian");
    }

    #[test]
    fn rocky_release_is_rhel_family() {
        let info = os("os-release/rocky");
        assert_eq!(info.id, "rocky");
        assert_eq!(info.version, "9.3");
        assert_eq!(info.name, "Rocky Linux");
        assert_eq!(info.family, "rhel");
        let rhel = os("os-release/rhel");
        assert_eq!((rhel.id.as_str(), rhel.family.as_str()), ("rhel", "rhel"));
        assert_eq!(rhel.pretty_name, "Red Hat Enterprise Linux 8.9 (Ootpa)");
    }

    #[test]
    fn alpine_release_has_unquoted_values() {
        let info = os("os-release/alpine");
        assert_eq!(info.id, "alpine");
        assert_eq!(info.version, "3.19.1");
        assert_eq!(info.name, "Alpine Linux");
        assert_eq!(info.pretty_name, "Alpine Linux v3.19");
        assert_eq!(info.family, "alpine");
    }

    #[test]
    fn quoting_rules() {
        let fields = parse_os_release(
            "# comment\nA=\"say \\\"hi\\\" \\$HOME\"\nB='single $quoted'\nC=plain\nbroken line\nD=\"\nE=\n",
        );
        assert_eq!(fields["A"], "say \"hi\" $HOME");
        assert_eq!(fields["B"], "single $quoted");
        assert_eq!(fields["C"], "plain");
        assert_eq!(fields["D"], "\"");
        assert_eq!(fields["E"], "");
        // Missing PRETTY_NAME falls back to NAME; unknown id keeps itself.
        let info = os_from_release(&parse_os_release("NAME=Gentoo\nID=gentoo\n"));
        assert_eq!(info.pretty_name, "Gentoo");
        assert_eq!(info.family, "gentoo");
        assert_eq!(family("", ""), "linux");
    }

    #[test]
    fn boot_time_timezone_and_arch() {
        assert_eq!(
            boot_time("cpu  1 2 3\nbtime 1700000000\nprocesses 5\n"),
            Some(1_700_000_000)
        );
        assert_eq!(boot_time("cpu  1 2 3\n"), None);
        assert_eq!(
            zone_from_link("/usr/share/zoneinfo/Europe/Paris").as_deref(),
            Some("Europe/Paris")
        );
        assert_eq!(
            zone_from_link("../usr/share/zoneinfo/posix/Etc/UTC").as_deref(),
            Some("Etc/UTC")
        );
        assert_eq!(zone_from_link("/etc/localtime.bak"), None);
        assert_eq!(arch_name("x86_64"), "x86_64");
        assert_eq!(arch_name("x86"), "i686");
    }
}
