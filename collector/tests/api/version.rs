//! `--version` of the collector and the CLI: version, git commit and build
//! date. Here rather than in a third test binary, since linking one more
//! binary costs more than these two tests.

#[allow(dead_code)] // assert_utc_timestamps runs in the agent's tests
#[path = "../../../agent/tests/e2e/version_line.rs"]
mod version_line;

#[test]
fn collector_version_names_the_commit_and_build_date() {
    let collector = env!("CARGO_BIN_EXE_rollcall-collector");
    version_line::assert_version(collector, "rollcall-collector", "--version");
    version_line::assert_version(collector, "rollcall-collector", "-V");
}

#[test]
fn cli_version_names_the_commit_and_build_date() {
    let cli = env!("CARGO_BIN_EXE_rollcall");
    version_line::assert_version(cli, "rollcall", "--version");
    version_line::assert_version(cli, "rollcall", "-V");
}
