//! End-to-end tests of the `rollcall-agent` binary itself (the fleet-level
//! ones, with a collector, live in the `rollcall-tests` crate).

mod version_line;

#[test]
fn version_names_the_commit_and_build_date() {
    let agent = env!("CARGO_BIN_EXE_rollcall-agent");
    version_line::assert_version(agent, "rollcall-agent", "--version");
    version_line::assert_version(agent, "rollcall-agent", "-V");
}

#[test]
fn build_date_is_a_correct_utc_timestamp() {
    version_line::assert_utc_timestamps();
}
