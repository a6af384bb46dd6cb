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

#[test]
fn enroll_if_not_enrolled_keeps_existing_credentials() {
    let agent = env!("CARGO_BIN_EXE_rollcall-agent");
    let state = tempfile::tempdir().unwrap();
    let enroll = |state: &std::path::Path| {
        std::process::Command::new(agent)
            .args([
                "enroll",
                "--if-not-enrolled",
                "--collector",
                "https://127.0.0.1:9",
            ])
            .args(["--token", "t", "--ca-fingerprint", "00"])
            .env("ROLLCALL_STATE_DIR", state)
            .output()
            .unwrap()
    };
    // Not enrolled: it tries (and fails: nothing listens on port 9).
    let tried = enroll(state.path());
    assert!(!tried.status.success(), "{tried:?}");
    // Enrolled: it succeeds without connecting, the files untouched.
    let meta = r#"{"agent_id":"a-1","collector":"https://c:4443","ca_fingerprint":"00","enrolled_at_ms":1}"#;
    for (file, text) in [
        ("agent.json", meta),
        ("cert.pem", "c"),
        ("key.pem", "k"),
        ("ca.pem", "ca"),
    ] {
        std::fs::write(state.path().join(file), text).unwrap();
    }
    let kept = enroll(state.path());
    assert!(kept.status.success(), "{kept:?}");
    let stdout = String::from_utf8_lossy(&kept.stdout);
    assert!(
        stdout.contains("already enrolled as agent a-1 with https://c:4443"),
        "{stdout}"
    );
    assert_eq!(
        std::fs::read_to_string(state.path().join("cert.pem")).unwrap(),
        "c"
    );
}
