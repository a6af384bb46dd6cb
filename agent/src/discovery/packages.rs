//! The software section: installed packages from dpkg (status file parsed
//! directly), apk (installed database parsed directly) and rpm (`rpm -qa`).

use std::time::{Duration, UNIX_EPOCH};

use rollcall_proto::v1::{Package, Section};

use super::root::run_command;
use super::{HostRoot, StatusLog};

/// `rpm` query format: one tab-separated line per package.
const RPM_QUERY_FORMAT: &str = "%{NAME}\\t%|EPOCH?{%{EPOCH}:}:{}|%{VERSION}-%{RELEASE}\\t%{ARCH}\\t%{SOURCERPM}\\t%{INSTALLTIME}\\n";

/// Collects installed packages from every package manager present.
pub(crate) fn packages(root: &HostRoot, status: &mut StatusLog) -> Vec<Package> {
    let mut packages = Vec::new();
    let mut found_database = false;

    if root.exists("var/lib/dpkg/status") {
        found_database = true;
        match root.read("var/lib/dpkg/status") {
            Ok(text) => {
                let mut dpkg = parse_dpkg_status(&text);
                add_dpkg_install_dates(root, &mut dpkg);
                packages.extend(dpkg);
            }
            Err(error) => status.note(
                Section::Packages,
                format!("dpkg status unreadable: {error}"),
            ),
        }
    }

    if root.exists("lib/apk/db/installed") {
        found_database = true;
        match root.read("lib/apk/db/installed") {
            Ok(text) => packages.extend(parse_apk_installed(&text)),
            Err(error) => status.note(
                Section::Packages,
                format!("apk database unreadable: {error}"),
            ),
        }
    }

    let rpm_binary = ["usr/bin/rpm", "bin/rpm"]
        .iter()
        .any(|path| root.exists(path));
    let rpm_database = ["var/lib/rpm", "usr/lib/sysimage/rpm"]
        .iter()
        .any(|path| root.exists(path));
    if root.is_live() && rpm_binary && rpm_database {
        found_database = true;
        match run_command(
            "rpm",
            &["-qa", "--queryformat", RPM_QUERY_FORMAT],
            Duration::from_secs(60),
        ) {
            Some(text) => packages.extend(parse_rpm_query(&text)),
            None => status.note(Section::Packages, "rpm query failed"),
        }
    }

    if !found_database {
        status.unavailable(
            Section::Packages,
            "no package database found (dpkg, rpm, apk)",
        );
    }
    packages.sort_by(|a, b| (&a.name, &a.arch, &a.manager).cmp(&(&b.name, &b.arch, &b.manager)));
    packages
}

/// One paragraph of a dpkg status file, borrowing from the text.
#[derive(Default)]
struct DpkgStanza<'a> {
    name: &'a str,
    status: &'a str,
    version: &'a str,
    arch: &'a str,
    source: &'a str,
}

impl DpkgStanza<'_> {
    /// The package, if the stanza describes an installed one (wanted
    /// "install" or "hold", state "installed").
    fn into_package(self) -> Option<Package> {
        let mut words = self.status.split_whitespace();
        let want = words.next()?;
        let state = words.nth(1)?;
        if self.name.is_empty() || state != "installed" || !matches!(want, "install" | "hold") {
            return None;
        }
        // "Source: name (version)" when the source version differs; a
        // missing Source means the source package has the binary's name.
        let source = self.source.split_whitespace().next().unwrap_or(self.name);
        Some(Package {
            name: self.name.to_owned(),
            version: self.version.to_owned(),
            arch: self.arch.to_owned(),
            source: source.to_owned(),
            manager: "dpkg".to_owned(),
            installed_at_s: 0,
        })
    }
}

/// Parses `/var/lib/dpkg/status`, keeping installed and held packages.
/// Stanzas are separated by blank (or whitespace-only) lines; continuation
/// lines (leading blank) belong to the previous field and are skipped.
pub fn parse_dpkg_status(text: &str) -> Vec<Package> {
    let mut packages = Vec::with_capacity(text.len() / 2048);
    let mut stanza = DpkgStanza::default();
    let mut in_stanza = false;
    for line in text.lines() {
        if line.trim().is_empty() {
            if in_stanza {
                packages.extend(std::mem::take(&mut stanza).into_package());
                in_stanza = false;
            }
            continue;
        }
        if line.starts_with([' ', '\t']) {
            continue;
        }
        let Some((key, value)) = line.split_once(':') else {
            continue;
        };
        in_stanza = true;
        let value = value.trim();
        match key {
            "Package" => stanza.name = value,
            "Status" => stanza.status = value,
            "Version" => stanza.version = value,
            "Architecture" => stanza.arch = value,
            "Source" => stanza.source = value,
            _ => {}
        }
    }
    if in_stanza {
        packages.extend(stanza.into_package());
    }
    packages
}

/// Sets each dpkg package's install time from the modification time of its
/// file list (`info/<name>:<arch>.list` for multi-arch, else `<name>.list`).
fn add_dpkg_install_dates(root: &HostRoot, packages: &mut [Package]) {
    let info = root.path("var/lib/dpkg/info");
    for package in packages {
        let candidates = [
            info.join(format!("{}:{}.list", package.name, package.arch)),
            info.join(format!("{}.list", package.name)),
        ];
        package.installed_at_s = candidates
            .iter()
            .find_map(|path| std::fs::metadata(path).ok()?.modified().ok())
            .and_then(|modified| modified.duration_since(UNIX_EPOCH).ok())
            .map(|since| since.as_secs() as i64)
            .unwrap_or(0);
    }
}

/// Parses apk's `lib/apk/db/installed`: stanzas of `X:value` lines (`P`
/// name, `V` version, `A` arch, `o` origin) separated by blank lines.
pub fn parse_apk_installed(text: &str) -> Vec<Package> {
    let mut packages = Vec::new();
    let mut current = Package::default();
    let finish = |package: &mut Package, packages: &mut Vec<Package>| {
        let package = std::mem::take(package);
        if !package.name.is_empty() {
            packages.push(Package {
                manager: "apk".to_owned(),
                ..package
            });
        }
    };
    for line in text.lines() {
        if line.trim().is_empty() {
            finish(&mut current, &mut packages);
            continue;
        }
        let Some((key, value)) = line.split_once(':') else {
            continue;
        };
        match key {
            "P" => current.name = value.to_owned(),
            "V" => current.version = value.to_owned(),
            "A" => current.arch = value.to_owned(),
            "o" => current.source = value.to_owned(),
            _ => {}
        }
    }
    finish(&mut current, &mut packages);
    packages
}

/// Parses the output of `rpm -qa` with [`RPM_QUERY_FORMAT`].
pub fn parse_rpm_query(text: &str) -> Vec<Package> {
    text.lines()
        .filter_map(|line| {
            let mut fields = line.split('\t');
            let name = fields.next()?.trim();
            if name.is_empty() {
                return None;
            }
            let version = fields.next().unwrap_or("");
            let none_to_empty = |value: &str| {
                if value == "(none)" {
                    String::new()
                } else {
                    value.to_owned()
                }
            };
            let arch = none_to_empty(fields.next().unwrap_or(""));
            let source = rpm_source_name(fields.next().unwrap_or(""));
            let installed_at_s = fields
                .next()
                .and_then(|value| value.trim().parse().ok())
                .unwrap_or(0);
            Some(Package {
                name: name.to_owned(),
                version: version.to_owned(),
                arch,
                source,
                manager: "rpm".to_owned(),
                installed_at_s,
            })
        })
        .collect()
}

/// The source package name from a source rpm file name
/// (`bash-5.1.8-6.el9.src.rpm` → `bash`).
fn rpm_source_name(source_rpm: &str) -> String {
    let Some(stem) = source_rpm
        .strip_suffix(".src.rpm")
        .or_else(|| source_rpm.strip_suffix(".nosrc.rpm"))
    else {
        return String::new();
    };
    // Drop "-release" and then "-version".
    stem.rsplitn(3, '-').nth(2).unwrap_or(stem).to_owned()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::discovery::test_support::{fixture, fixture_text};

    #[test]
    fn dpkg_status_keeps_installed_and_held() {
        let packages = parse_dpkg_status(&fixture_text("dpkg/status"));
        let names: Vec<_> = packages
            .iter()
            .map(|package| package.name.as_str())
            .collect();
        assert_eq!(
            names,
            vec![
                "base-files",
                "libc6",
                "libc6",
                "openssh-server",
                "held-pkg",
                "no-arch",
                "last-no-newline"
            ]
        );
        let openssh = &packages[3];
        assert_eq!(openssh.version, "1:9.2p1-2+deb12u2");
        assert_eq!(openssh.arch, "amd64");
        assert_eq!(openssh.source, "openssh");
        assert_eq!(openssh.manager, "dpkg");
        assert_eq!(packages[0].source, "base-files");
        assert_eq!(
            (packages[1].arch.as_str(), packages[2].arch.as_str()),
            ("amd64", "i386")
        );
        assert_eq!(packages[5].arch, "");
        assert_eq!(packages[5].version, "");
    }

    #[test]
    fn dpkg_status_edge_cases() {
        assert!(parse_dpkg_status("").is_empty());
        assert!(parse_dpkg_status("\n\n   \n").is_empty());
        let crlf =
            parse_dpkg_status("Package: a\r\nStatus: install ok installed\r\nVersion: 1\r\n\r\n");
        assert_eq!(crlf.len(), 1);
        assert_eq!(crlf[0].version, "1");
        // Status with missing words is not installed.
        assert!(parse_dpkg_status("Package: a\nStatus: install\n").is_empty());
        assert!(parse_dpkg_status("Status: install ok installed\n").is_empty());
    }

    #[test]
    fn dpkg_install_dates_from_list_files() {
        let root = HostRoot::new(&fixture("host-debian"));
        let mut status = StatusLog::default();
        let found = packages(&root, &mut status);
        assert_eq!(found.len(), 4);
        for package in &found {
            assert!(package.installed_at_s > 0, "{}", package.name);
        }
    }

    #[test]
    fn apk_installed_database() {
        let packages = parse_apk_installed(&fixture_text("host-nodmi/lib/apk/db/installed"));
        assert_eq!(packages.len(), 3);
        assert_eq!(packages[0].name, "musl");
        assert_eq!(packages[0].version, "1.2.4_git20230717-r4");
        assert_eq!(packages[0].arch, "x86_64");
        assert_eq!(packages[2].source, "busybox");
        assert!(packages.iter().all(|package| package.manager == "apk"));
    }

    #[test]
    fn rpm_query_output() {
        let packages = parse_rpm_query(
            "bash\t5.1.8-6.el9\tx86_64\tbash-5.1.8-6.el9.src.rpm\t1700000000\ngpg-pubkey\t8483c65d-5ccc5b19\t(none)\t(none)\t1700000001\nperl-libs\t4:5.32.1-480.el9\tx86_64\tperl-5.32.1-480.el9.src.rpm\t1700000002\n\n",
        );
        assert_eq!(packages.len(), 3);
        assert_eq!(packages[0].source, "bash");
        assert_eq!(packages[0].installed_at_s, 1_700_000_000);
        assert_eq!(packages[1].arch, "");
        assert_eq!(packages[1].source, "");
        assert_eq!(packages[2].version, "4:5.32.1-480.el9");
        assert_eq!(packages[2].source, "perl");
    }

    #[test]
    fn live_dpkg_count_matches_dpkg_query() {
        let Ok(output) = std::process::Command::new("dpkg-query")
            .args(["-W", "-f=${db:Status-Abbrev}\\n"])
            .output()
        else {
            eprintln!("dpkg-query not installed: skipped");
            return;
        };
        let expected = String::from_utf8_lossy(&output.stdout)
            .lines()
            .filter(|line| line.starts_with("ii") || line.starts_with("hi"))
            .count();
        let text = std::fs::read_to_string("/var/lib/dpkg/status").unwrap();
        let started = std::time::Instant::now();
        let parsed = parse_dpkg_status(&text);
        let elapsed = started.elapsed();
        assert_eq!(parsed.len(), expected);
        assert!(elapsed.as_millis() < 500, "{elapsed:?}");
    }
}
