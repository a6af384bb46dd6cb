//! Build stamp shared by the agent's and the collector's build scripts:
//! the git commit and the build date that `--version` prints.
//!
//! - The commit is `git rev-parse --short=12 HEAD`, or `ROLLCALL_GIT_COMMIT`
//!   when set (a packager building from a tarball knows it), or `unknown`
//!   outside a git checkout or without git.
//! - The build date honours `SOURCE_DATE_EPOCH`
//!   (<https://reproducible-builds.org/specs/source-date-epoch/>), so two
//!   builds of one commit with the same epoch are byte-identical; without it
//!   it is the time the build script last ran. The script reruns only when
//!   HEAD moves or one of those variables changes, not on every edit, so a
//!   debug build's date can be older than its last compile.
//!
//! Hand-written rather than a crate (`vergen`, `built`): two `git` calls and
//! a civil-date conversion do not earn a dependency tree in every build.

use std::path::{Path, PathBuf};
use std::process::Command;

/// Sets `ROLLCALL_GIT_COMMIT`, `ROLLCALL_BUILD_DATE` and
/// `ROLLCALL_LONG_VERSION` (`0.1.0 (commit 0123456789ab, built
/// 2026-12-02T18:25:16Z)`) for the package's compilation.
pub fn emit() {
    let manifest_dir = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").unwrap_or_default());
    println!("cargo:rerun-if-env-changed=ROLLCALL_GIT_COMMIT");
    println!("cargo:rerun-if-env-changed=SOURCE_DATE_EPOCH");
    let commit = match std::env::var("ROLLCALL_GIT_COMMIT") {
        Ok(commit) if !commit.trim().is_empty() => commit.trim().to_string(),
        _ => git_commit(&manifest_dir).unwrap_or_else(|| "unknown".to_string()),
    };
    let epoch = match std::env::var("SOURCE_DATE_EPOCH") {
        Ok(text) => text.trim().parse::<i64>().unwrap_or_else(|_| {
            panic!("SOURCE_DATE_EPOCH={text:?} is not a number of seconds since 1970")
        }),
        Err(_) => std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|elapsed| elapsed.as_secs() as i64)
            .unwrap_or(0),
    };
    let date = utc_timestamp(epoch);
    let version = std::env::var("CARGO_PKG_VERSION").unwrap_or_default();
    println!("cargo:rustc-env=ROLLCALL_GIT_COMMIT={commit}");
    println!("cargo:rustc-env=ROLLCALL_BUILD_DATE={date}");
    println!("cargo:rustc-env=ROLLCALL_LONG_VERSION={version} (commit {commit}, built {date})");
}

/// HEAD's short hash, watching the files that change when HEAD moves.
fn git_commit(dir: &Path) -> Option<String> {
    let commit = git(dir, &["rev-parse", "--short=12", "HEAD"])?;
    // HEAD itself (checkout of another branch) and the branch's ref (a new
    // commit); in a worktree both live outside the worktree's directory.
    let mut watched = vec![git(dir, &["rev-parse", "--git-path", "HEAD"])?];
    if let Some(branch) = git(dir, &["symbolic-ref", "-q", "HEAD"]) {
        watched.push(git(dir, &["rev-parse", "--git-path", &branch])?);
        watched.push(git(dir, &["rev-parse", "--git-path", "packed-refs"])?);
    }
    for path in watched {
        let path = dir.join(path);
        // A missing file would make cargo rerun the script on every build.
        if path.exists() {
            println!("cargo:rerun-if-changed={}", path.display());
        }
    }
    Some(commit)
}

fn git(dir: &Path, args: &[&str]) -> Option<String> {
    let output = Command::new("git")
        .args(args)
        .current_dir(dir)
        .output()
        .ok()?;
    if !output.status.success() {
        return None;
    }
    let text = String::from_utf8(output.stdout).ok()?.trim().to_string();
    (!text.is_empty()).then_some(text)
}

/// `YYYY-MM-DDTHH:MM:SSZ` for seconds since 1970 (proleptic Gregorian, UTC;
/// Howard Hinnant's `civil_from_days`).
pub fn utc_timestamp(epoch: i64) -> String {
    let days = epoch.div_euclid(86_400);
    let seconds = epoch.rem_euclid(86_400);
    let shifted = days + 719_468;
    let era = shifted.div_euclid(146_097);
    let day_of_era = shifted.rem_euclid(146_097);
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_index = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * month_index + 2) / 5 + 1;
    let month = if month_index < 10 {
        month_index + 3
    } else {
        month_index - 9
    };
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        seconds / 3600,
        seconds % 3600 / 60,
        seconds % 60
    )
}
