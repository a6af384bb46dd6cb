//! The test environment: whether this is CI, free ports, PostgreSQL
//! schemas, and fake host roots for agents to inventory.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Result, bail};

/// Whether the run is in CI, where a missing dependency fails instead of skipping.
pub fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|value| value == "true" || value == "1")
}

/// The command `name` from `PATH` (a tool installed with pip, such as
/// `schemathesis`), or `None` (skip, with a notice) when it is missing
/// outside CI. In CI a missing tool fails the test.
pub fn tool_on_path(name: &str) -> Option<PathBuf> {
    let found = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|dir| dir.join(name))
            .find(|candidate| candidate.is_file())
    });
    if found.is_none() {
        assert!(
            !in_ci(),
            "{name} must be installed when CI=true (.ci/run installs it): this test may not skip in CI"
        );
        eprintln!("notice: {name} is not installed; skipping the test that needs it");
    }
    found
}

/// A free TCP port on 127.0.0.1.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .map(|addr| addr.port())
        .expect("free port")
}

/// Copies the directory tree `from` into `to` (created), keeping symbolic
/// links as links, so a fixture root can be changed by a test.
pub fn copy_tree(from: &Path, to: &Path) -> Result<()> {
    std::fs::create_dir_all(to)?;
    for entry in std::fs::read_dir(from)? {
        let entry = entry?;
        let target = to.join(entry.file_name());
        let kind = entry.file_type()?;
        if kind.is_symlink() {
            std::os::unix::fs::symlink(std::fs::read_link(entry.path())?, &target)?;
        } else if kind.is_dir() {
            copy_tree(&entry.path(), &target)?;
        } else {
            std::fs::copy(entry.path(), &target)?;
        }
    }
    Ok(())
}

/// A fresh PostgreSQL schema for one test: the database URL to give the
/// collector, or `None` (skip, with a notice) when `ROLLCALL_TEST_DATABASE_URL`
/// is unset outside CI. In CI a missing URL fails the test.
pub async fn postgres_url() -> Option<String> {
    let Ok(base) = std::env::var("ROLLCALL_TEST_DATABASE_URL") else {
        assert!(
            !in_ci(),
            "ROLLCALL_TEST_DATABASE_URL must be set when CI=true: PostgreSQL tests may not skip in CI"
        );
        eprintln!("notice: ROLLCALL_TEST_DATABASE_URL is not set; skipping PostgreSQL test");
        return None;
    };
    sqlx::any::install_default_drivers();
    let schema = format!("rc_test_{}", uuid::Uuid::new_v4().simple());
    let mut admin = <sqlx::AnyConnection as sqlx::Connection>::connect(&base)
        .await
        .expect("connect to ROLLCALL_TEST_DATABASE_URL");
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE SCHEMA {schema}")))
        .execute(&mut admin)
        .await
        .expect("create schema");
    let separator = if base.contains('?') { '&' } else { '?' };
    Some(format!(
        "{base}{separator}options=-c%20search_path%3D{schema}"
    ))
}

/// A copy of the agent's `host-debian` fixture tree under `dir/name`, made
/// into a distinct machine: its own host name, machine-id, MAC and DMI ids.
/// Agents pointed at it (`root = …`) look like separate hosts.
pub fn fake_host_root(dir: &Path, name: &str, index: usize) -> Result<PathBuf> {
    let source = Path::new(env!("CARGO_MANIFEST_DIR")).join("../agent/tests/fixtures/host-debian");
    let root = dir.join(format!("root-{name}"));
    let status = Command::new("cp")
        .arg("-a")
        .arg(&source)
        .arg(&root)
        .status()?;
    if !status.success() {
        bail!("cannot copy {}", source.display());
    }
    let write = |relative: &str, contents: String| -> Result<()> {
        let path = root.join(relative);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)?;
        }
        std::fs::write(&path, contents)?;
        Ok(())
    };
    write("proc/sys/kernel/hostname", format!("{name}\n"))?;
    write(
        "etc/machine-id",
        format!("{:032x}\n", 0xfeed_0000_u64 + index as u64),
    )?;
    write(
        "sys/class/net/enp3s0/address",
        format!("02:00:00:00:{:02x}:{:02x}\n", index / 256, index % 256),
    )?;
    write(
        "sys/class/dmi/id/product_uuid",
        format!("5a1e0000-0000-4000-8000-{:012x}\n", index),
    )?;
    write(
        "sys/class/dmi/id/product_serial",
        format!("FAKE-{index:06}\n"),
    )?;
    Ok(root)
}
