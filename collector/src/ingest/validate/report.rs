//! Validation of the messages that are not inventory: `Hello`, health
//! reports, check results and `Goodbye`. Each function refuses the whole
//! message with `InvalidInput` naming the field and the limit; nothing of a
//! refused message is stored. The limits are listed in
//! `docs/operations.md` ("Message limits").

use rollcall_proto::v1::{CheckResult, Goodbye, HealthReport, Hello};

use super::{check_timestamp, host_identity};
use crate::error::{Error, Result};

/// Longest name an agent chooses that is shown to people (unit, mount
/// point, interface, check name and kind, agent version), in bytes.
pub const MAX_NAME_BYTES: usize = 256;
/// Longest free text (a check's message, a goodbye's reason), in bytes.
pub const MAX_TEXT_BYTES: usize = 4096;
/// Most failed units in one health report (a large host has ~1,000 units).
pub const MAX_FAILED_UNITS: usize = 10_000;
/// Most filesystems in one health report.
pub const MAX_FILESYSTEMS: usize = 1_024;
/// Most network interfaces in one health report.
pub const MAX_INTERFACES: usize = 1_024;
/// Most results in one `CheckResults` message.
pub const MAX_CHECK_RESULTS: usize = 10_000;
/// Most section digests in one `Hello` (one per inventory section).
pub const MAX_DIGESTS: usize = 64;
/// Largest health sample stored (its protobuf encoding), in bytes.
pub const MAX_HEALTH_SAMPLE_BYTES: usize = 128 * 1024;
/// Highest load average accepted (finite and not negative below it).
pub const MAX_LOAD: f32 = 1_000_000.0;
/// Highest network rate accepted, bytes a second (10 Tbit/s).
pub const MAX_RATE_BYTES_PER_S: f64 = 1.25e12;
/// Longest planned absence a goodbye may announce, in seconds (366 days).
pub const MAX_BACK_WITHIN_S: u64 = 366 * 86_400;

fn refuse<T>(message: String) -> Result<T> {
    Err(Error::InvalidInput(message))
}

/// A name an agent chose and people will see: at most `MAX_NAME_BYTES`, not
/// empty, no control characters (ANSI escapes, newlines, NUL).
pub fn check_name(what: &str, value: &str) -> Result<()> {
    if value.is_empty() {
        return refuse(format!("{what} is empty"));
    }
    if value.len() > MAX_NAME_BYTES {
        return refuse(format!(
            "{what} is {} bytes long; the limit is {MAX_NAME_BYTES}",
            value.len()
        ));
    }
    if value.chars().any(char::is_control) {
        return refuse(format!("{what} contains a control character"));
    }
    Ok(())
}

/// Free text: at most `MAX_TEXT_BYTES`, no NUL. Other control characters
/// are allowed (command output has newlines) and removed wherever the text
/// is shown.
pub fn check_free_text(what: &str, value: &str) -> Result<()> {
    if value.len() > MAX_TEXT_BYTES {
        return refuse(format!(
            "{what} is {} bytes long; the limit is {MAX_TEXT_BYTES}",
            value.len()
        ));
    }
    if value.contains('\0') {
        return refuse(format!("{what} contains a NUL character"));
    }
    Ok(())
}

fn check_count(what: &str, count: usize, limit: usize) -> Result<()> {
    if count > limit {
        return refuse(format!("{what} has {count} entries; the limit is {limit}"));
    }
    Ok(())
}

fn check_percent(what: &str, value: f32) -> Result<()> {
    if !value.is_finite() || !(0.0..=100.0).contains(&value) {
        return refuse(format!("{what} {value} is not a percentage (0 to 100)"));
    }
    Ok(())
}

fn check_range(what: &str, value: f64, max: f64) -> Result<()> {
    if !value.is_finite() || !(0.0..=max).contains(&value) {
        return refuse(format!("{what} {value} is outside 0 to {max}"));
    }
    Ok(())
}

fn check_used(what: &str, used: u64, total: u64) -> Result<()> {
    if used > total {
        return refuse(format!("{what}: {used} bytes used of {total}"));
    }
    Ok(())
}

/// Validates a `Hello`: agent id and version, the identity, the digests.
pub fn hello(hello: &Hello) -> Result<()> {
    if !hello.agent_id.is_empty() {
        check_name("hello.agent_id", &hello.agent_id)?;
    }
    if !hello.agent_version.is_empty() {
        check_name("hello.agent_version", &hello.agent_version)?;
    }
    if let Some(identity) = &hello.identity {
        host_identity(identity)?;
    }
    check_count("hello.digests", hello.digests.len(), MAX_DIGESTS)?;
    for digest in &hello.digests {
        check_name("hello.digests.digest", &digest.digest)?;
    }
    Ok(())
}

/// Validates a health report and returns the bytes to store
/// (`cmdb::rollup::encode_sample`, at most `MAX_HEALTH_SAMPLE_BYTES`).
pub fn health(report: &HealthReport, now_ms: i64) -> Result<Vec<u8>> {
    check_timestamp("sampled_at_ms", report.sampled_at_ms, now_ms)?;
    check_percent("cpu_percent", report.cpu_percent)?;
    for (what, load) in [
        ("load1", report.load1),
        ("load5", report.load5),
        ("load15", report.load15),
    ] {
        check_range(what, f64::from(load), f64::from(MAX_LOAD))?;
    }
    check_used(
        "memory",
        report.memory_used_bytes,
        report.memory_total_bytes,
    )?;
    check_used("swap", report.swap_used_bytes, report.swap_total_bytes)?;
    check_count("filesystems", report.filesystems.len(), MAX_FILESYSTEMS)?;
    for filesystem in &report.filesystems {
        check_name("filesystems.mount_point", &filesystem.mount_point)?;
        check_percent("filesystems.used_percent", filesystem.used_percent)?;
        check_used(
            &format!("filesystem {}", filesystem.mount_point),
            filesystem.used_bytes,
            filesystem.size_bytes,
        )?;
    }
    check_count("interfaces", report.interfaces.len(), MAX_INTERFACES)?;
    for interface in &report.interfaces {
        check_name("interfaces.name", &interface.name)?;
        check_range(
            "interfaces.rx_bytes_per_s",
            interface.rx_bytes_per_s,
            MAX_RATE_BYTES_PER_S,
        )?;
        check_range(
            "interfaces.tx_bytes_per_s",
            interface.tx_bytes_per_s,
            MAX_RATE_BYTES_PER_S,
        )?;
    }
    check_count("failed_units", report.failed_units.len(), MAX_FAILED_UNITS)?;
    for unit in &report.failed_units {
        check_name("failed_units", unit)?;
    }
    let data = crate::cmdb::rollup::encode_sample(report);
    if data.len() > MAX_HEALTH_SAMPLE_BYTES {
        return refuse(format!(
            "health sample is {} bytes encoded; the limit is {MAX_HEALTH_SAMPLE_BYTES}",
            data.len()
        ));
    }
    Ok(data)
}

/// Validates check results.
pub fn checks(results: &[CheckResult], now_ms: i64) -> Result<()> {
    check_count("checks", results.len(), MAX_CHECK_RESULTS)?;
    for result in results {
        check_name("checks.name", &result.name)?;
        if !result.kind.is_empty() {
            check_name("checks.kind", &result.kind)?;
        }
        check_free_text("checks.message", &result.message)?;
        check_timestamp("checks.checked_at_ms", result.checked_at_ms, now_ms)?;
    }
    Ok(())
}

/// Validates a `Goodbye`.
pub fn goodbye(goodbye: &Goodbye) -> Result<()> {
    check_free_text("goodbye.reason", &goodbye.reason)?;
    if goodbye.back_within_s > MAX_BACK_WITHIN_S {
        return refuse(format!(
            "goodbye.back_within_s {} is beyond the limit of {MAX_BACK_WITHIN_S} s",
            goodbye.back_within_s
        ));
    }
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use rollcall_proto::v1::{FilesystemUsage, Identity, InterfaceRate, SectionDigest};

    const NOW: i64 = 1_800_000_000_000;

    fn report() -> HealthReport {
        HealthReport {
            sampled_at_ms: NOW,
            cpu_percent: 12.5,
            load1: 0.5,
            memory_used_bytes: 1,
            memory_total_bytes: 2,
            filesystems: vec![FilesystemUsage {
                mount_point: "/".into(),
                size_bytes: 10,
                used_bytes: 5,
                used_percent: 50.0,
            }],
            interfaces: vec![InterfaceRate {
                name: "eth0".into(),
                rx_bytes_per_s: 1.0,
                tx_bytes_per_s: 2.0,
            }],
            failed_units: vec!["nginx.service".into()],
            ..Default::default()
        }
    }

    /// A change to a good report that one limit must refuse.
    type Breakage = Box<dyn Fn(&mut HealthReport)>;

    fn refused(result: Result<impl std::fmt::Debug>, expected: &str) {
        let error = result.unwrap_err();
        assert!(matches!(error, Error::InvalidInput(_)), "{error}");
        assert!(error.to_string().contains(expected), "{error}");
    }

    #[test]
    fn a_plausible_report_passes_and_gives_its_encoding() {
        let data = health(&report(), NOW).unwrap();
        assert_eq!(crate::cmdb::rollup::decode_sample(&data), Some(report()));
    }

    #[test]
    fn each_health_limit_refuses() {
        let cases: Vec<(&str, Breakage)> = vec![
            ("sampled_at_ms", Box::new(|r| r.sampled_at_ms = i64::MAX)),
            ("cpu_percent", Box::new(|r| r.cpu_percent = 100.5)),
            ("cpu_percent", Box::new(|r| r.cpu_percent = f32::NAN)),
            ("load5", Box::new(|r| r.load5 = -1.0)),
            ("load15", Box::new(|r| r.load15 = f32::INFINITY)),
            ("memory", Box::new(|r| r.memory_used_bytes = 3)),
            (
                "swap",
                Box::new(|r| {
                    r.swap_used_bytes = 1;
                    r.swap_total_bytes = 0
                }),
            ),
            (
                "filesystems has 1025 entries; the limit is 1024",
                Box::new(|r| r.filesystems = vec![r.filesystems[0].clone(); MAX_FILESYSTEMS + 1]),
            ),
            (
                "mount_point is empty",
                Box::new(|r| r.filesystems[0].mount_point.clear()),
            ),
            (
                "used_percent",
                Box::new(|r| r.filesystems[0].used_percent = 101.0),
            ),
            (
                "filesystem /",
                Box::new(|r| r.filesystems[0].used_bytes = 11),
            ),
            (
                "interfaces has 1025 entries",
                Box::new(|r| r.interfaces = vec![r.interfaces[0].clone(); MAX_INTERFACES + 1]),
            ),
            (
                "interfaces.name contains a control character",
                Box::new(|r| r.interfaces[0].name = "eth\u{1b}[31m0".into()),
            ),
            (
                "rx_bytes_per_s",
                Box::new(|r| r.interfaces[0].rx_bytes_per_s = f64::NAN),
            ),
            (
                "tx_bytes_per_s",
                Box::new(|r| r.interfaces[0].tx_bytes_per_s = 1e13),
            ),
            (
                "failed_units has 10001 entries; the limit is 10000",
                Box::new(|r| r.failed_units = vec!["a.service".into(); MAX_FAILED_UNITS + 1]),
            ),
            (
                "failed_units is 204800 bytes long; the limit is 256",
                Box::new(|r| r.failed_units = vec!["x".repeat(200 * 1024)]),
            ),
            (
                "failed_units contains a control character",
                Box::new(|r| r.failed_units = vec!["<script>\u{1b}[2J.service".into()]),
            ),
            (
                "health sample is",
                Box::new(|r| r.failed_units = vec!["u".repeat(MAX_NAME_BYTES); 2_000]),
            ),
        ];
        for (expected, change) in cases {
            let mut sample = report();
            change(&mut sample);
            refused(health(&sample, NOW), expected);
        }
    }

    #[test]
    fn each_check_limit_refuses() {
        let good = CheckResult {
            name: "http-frontpage".into(),
            kind: "http".into(),
            ok: false,
            message: "503\nService Unavailable".into(),
            checked_at_ms: NOW,
            duration_ms: 5,
        };
        checks(std::slice::from_ref(&good), NOW).unwrap();
        refused(
            checks(&vec![good.clone(); MAX_CHECK_RESULTS + 1], NOW),
            "checks has 10001 entries",
        );
        let cases: Vec<(&str, CheckResult)> = vec![
            (
                "checks.name is empty",
                CheckResult {
                    name: String::new(),
                    ..good.clone()
                },
            ),
            (
                "checks.name contains a control character",
                CheckResult {
                    name: "a\u{7}".into(),
                    ..good.clone()
                },
            ),
            (
                "checks.kind is 257 bytes",
                CheckResult {
                    kind: "k".repeat(257),
                    ..good.clone()
                },
            ),
            (
                "checks.message is 4097 bytes",
                CheckResult {
                    message: "m".repeat(4097),
                    ..good.clone()
                },
            ),
            (
                "checks.message contains a NUL",
                CheckResult {
                    message: "a\0b".into(),
                    ..good.clone()
                },
            ),
            (
                "checks.checked_at_ms",
                CheckResult {
                    checked_at_ms: -5,
                    ..good.clone()
                },
            ),
        ];
        for (expected, result) in cases {
            refused(checks(&[result], NOW), expected);
        }
    }

    #[test]
    fn each_goodbye_limit_refuses() {
        goodbye(&Goodbye {
            reason: "kernel upgrade".into(),
            back_within_s: 900,
        })
        .unwrap();
        refused(
            goodbye(&Goodbye {
                reason: "r".repeat(MAX_TEXT_BYTES + 1),
                back_within_s: 0,
            }),
            "goodbye.reason is 4097 bytes",
        );
        refused(
            goodbye(&Goodbye {
                reason: String::new(),
                back_within_s: MAX_BACK_WITHIN_S + 1,
            }),
            "goodbye.back_within_s",
        );
    }

    #[test]
    fn each_hello_limit_refuses() {
        let good = Hello {
            agent_id: "agent-1".into(),
            agent_version: "0.1.0".into(),
            identity: Some(Identity {
                hostname: "web-01".into(),
                ..Default::default()
            }),
            ..Default::default()
        };
        hello(&good).unwrap();
        let digest = SectionDigest {
            section: 1,
            digest: "abc".into(),
        };
        let cases: Vec<(&str, Hello)> = vec![
            (
                "hello.agent_id is 257 bytes",
                Hello {
                    agent_id: "a".repeat(257),
                    ..good.clone()
                },
            ),
            (
                "hello.agent_version contains a control character",
                Hello {
                    agent_version: "1.0\u{1b}]0;pwned\u{7}".into(),
                    ..good.clone()
                },
            ),
            (
                "identity.hostname contains a control character",
                Hello {
                    identity: Some(Identity {
                        hostname: "web\n01".into(),
                        ..Default::default()
                    }),
                    ..good.clone()
                },
            ),
            (
                "hello.digests has 65 entries",
                Hello {
                    digests: vec![digest.clone(); MAX_DIGESTS + 1],
                    ..good.clone()
                },
            ),
            (
                "hello.digests.digest is 257 bytes",
                Hello {
                    digests: vec![SectionDigest {
                        digest: "d".repeat(257),
                        ..digest
                    }],
                    ..good.clone()
                },
            ),
        ];
        for (expected, message) in cases {
            refused(hello(&message), expected);
        }
    }
}
