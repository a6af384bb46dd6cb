//! Where the workspace binaries the harness starts are: built once per test
//! process, or an already built directory handed in.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

static BIN_DIR: OnceLock<PathBuf> = OnceLock::new();

/// Uses the already built binaries in `dir` instead of building them (for
/// programs like the benchmark, which build nothing). Must be called before
/// the first [`bin_dir`]; returns false if that already happened.
pub fn use_bin_dir(dir: PathBuf) -> bool {
    BIN_DIR.set(dir).is_ok()
}

/// Builds the workspace binaries (collector, agent, agent benchmark, load
/// generator) once
/// per test process and returns the directory holding them.
pub fn bin_dir() -> &'static Path {
    BIN_DIR.get_or_init(|| {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let status = Command::new(cargo)
            .args([
                "build",
                "--quiet",
                "-p",
                "rollcall-collector",
                "-p",
                "rollcall-agent",
                "--bins",
            ])
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .status()
            .expect("cargo build of the rollcall binaries could not start");
        assert!(
            status.success(),
            "cargo build of the rollcall binaries failed"
        );
        // A separate build: selected together with the others, this package
        // would unify features differently and make every run rebuild.
        let status = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
            .args([
                "build",
                "--quiet",
                "-p",
                "rollcall-tests",
                "--bin",
                "rollcall-agent-bench",
                "--bin",
                "rollcall-loadgen",
            ])
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .status()
            .expect("cargo build of the benchmarks could not start");
        assert!(status.success(), "cargo build of the benchmarks failed");
        let exe = std::env::current_exe().expect("current exe");
        // target/debug/deps/e2e-… → target/debug
        exe.parent()
            .and_then(Path::parent)
            .expect("target dir")
            .to_path_buf()
    })
}

/// Path of a workspace binary.
pub fn bin(name: &str) -> PathBuf {
    bin_dir().join(name)
}
