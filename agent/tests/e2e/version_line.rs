//! What `--version` of a Rollcall binary must print, worked out at test time
//! from git and the environment rather than from the build stamp itself, so
//! a stamp that is wrong (stale commit, ignored `SOURCE_DATE_EPOCH`) fails.
//! Shared by the agent's and the collector's tests by path.

use std::path::Path;
use std::process::Command;

#[allow(dead_code)] // emit() is the build scripts'; the tests use the date formatting
#[path = "../../build_info.rs"]
mod build_info;

/// Runs `binary flag` and checks its whole output is
/// `name version (commit C, built D)`.
pub fn assert_version(binary: &str, name: &str, flag: &str) {
    let output = Command::new(binary)
        .arg(flag)
        .output()
        .unwrap_or_else(|error| panic!("{binary} {flag}: {error}"));
    assert!(output.status.success(), "{binary} {flag}: {:?}", output);
    let printed = String::from_utf8(output.stdout).expect("--version output is UTF-8");
    let expected_commit = expected_commit();
    let prefix = format!(
        "{name} {} (commit {expected_commit}, built ",
        env!("CARGO_PKG_VERSION")
    );
    let date = printed
        .strip_prefix(&prefix)
        .and_then(|rest| rest.strip_suffix(")\n"))
        .unwrap_or_else(|| panic!("{binary} {flag} printed {printed:?}, expected {prefix:?}…)"));
    match std::env::var("SOURCE_DATE_EPOCH") {
        Ok(epoch) => {
            let epoch: i64 = epoch.trim().parse().expect("SOURCE_DATE_EPOCH is a number");
            assert_eq!(date, build_info::utc_timestamp(epoch));
        }
        Err(_) => assert!(
            is_utc_timestamp(date),
            "{binary} {flag}: build date {date:?} is not YYYY-MM-DDTHH:MM:SSZ"
        ),
    }
}

/// The override a packager sets, else HEAD of this checkout, else `unknown`.
fn expected_commit() -> String {
    if let Ok(commit) = std::env::var("ROLLCALL_GIT_COMMIT")
        && !commit.trim().is_empty()
    {
        return commit.trim().to_string();
    }
    let head = Command::new("git")
        .args(["rev-parse", "--short=12", "HEAD"])
        .current_dir(Path::new(env!("CARGO_MANIFEST_DIR")))
        .output();
    match head {
        Ok(output) if output.status.success() => {
            String::from_utf8_lossy(&output.stdout).trim().to_string()
        }
        _ => "unknown".to_string(),
    }
}

fn is_utc_timestamp(text: &str) -> bool {
    let bytes = text.as_bytes();
    bytes.len() == 20
        && bytes.iter().enumerate().all(|(index, byte)| match index {
            4 | 7 => *byte == b'-',
            10 => *byte == b'T',
            13 | 16 => *byte == b':',
            19 => *byte == b'Z',
            _ => byte.is_ascii_digit(),
        })
}

/// The civil-date conversion behind the build date, on dates whose answer
/// is known (leap days, century rules, the epoch itself).
pub fn assert_utc_timestamps() {
    for (epoch, expected) in [
        (0, "1970-01-01T00:00:00Z"),
        (951_782_400, "2000-02-29T00:00:00Z"),
        (4_107_542_399, "2100-02-28T23:59:59Z"),
        (4_107_542_400, "2100-03-01T00:00:00Z"),
        (1_796_235_916, "2026-12-02T18:25:16Z"),
        (-1, "1969-12-31T23:59:59Z"),
    ] {
        assert_eq!(build_info::utc_timestamp(epoch), expected, "epoch {epoch}");
    }
}
