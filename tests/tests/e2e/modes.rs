//! File modes (issue 12, finding 7): what a real collector and a real
//! agent write (database, CA key, agent key, certificates, spool, sequence
//! reservation) is mode 0600 in directories of mode 0700, and a data or
//! state directory or database left with looser modes is tightened at
//! start with a WARN.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::time::Duration;

use anyhow::{Context, Result};
use rollcall_tests::{Agent, Collector, CollectorOptions, wait_for};

fn mode(path: &Path) -> Result<u32> {
    Ok(std::fs::metadata(path)
        .with_context(|| format!("stat {}", path.display()))?
        .permissions()
        .mode()
        & 0o777)
}

/// Every entry under `dir` (and `dir`): directories 0700, files 0600.
fn assert_private_tree(dir: &Path) -> Result<Vec<String>> {
    let mut seen = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(path) = stack.pop() {
        let metadata = std::fs::symlink_metadata(&path)?;
        let actual = metadata.permissions().mode() & 0o777;
        if metadata.is_dir() {
            assert_eq!(actual, 0o700, "directory {} is {actual:o}", path.display());
            for entry in std::fs::read_dir(&path)? {
                stack.push(entry?.path());
            }
        } else {
            assert_eq!(actual, 0o600, "file {} is {actual:o}", path.display());
        }
        seen.push(path.strip_prefix(dir)?.display().to_string());
    }
    Ok(seen)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn collector_and_agent_write_0600_files_in_0700_directories() -> Result<()> {
    let dir = tempfile::tempdir()?;
    // The harness makes the data directory 0755 first, as an older
    // version did: the collector tightens it at start.
    let mut collector = Collector::start(dir.path(), &CollectorOptions::default())?;
    let token = collector.enrollment_token(1, 600).await?;
    let agent = Agent::new(dir.path(), "agent", &[&collector.grpc_url], "")?;
    assert_eq!(mode(&agent.state_dir)?, 0o755, "the harness made it loose");
    let (ok, output) = agent.enroll(&collector.grpc_url, &token, &collector.ca_fingerprint)?;
    assert!(ok, "{output}");
    let _running = agent.run()?;
    let spool = agent.state_dir.join("spool").join("spool");
    wait_for(
        "the agent's spool and sequence files",
        Duration::from_secs(30),
        || async {
            let files = std::fs::read_dir(&agent.state_dir).ok()?.count();
            (spool.exists() && files >= 6).then_some(())
        },
    )
    .await?;

    let collector_files = assert_private_tree(&collector.data_dir)?;
    for name in ["rollcall.db", "ca.pem", "ca-key.pem"] {
        assert!(
            collector_files.iter().any(|seen| seen == name),
            "{name} in {collector_files:?}"
        );
    }
    let agent_files = assert_private_tree(&agent.state_dir)?;
    for name in ["key.pem", "cert.pem", "ca.pem", "agent.json", "spool/spool"] {
        assert!(
            agent_files.iter().any(|seen| seen == name),
            "{name} in {agent_files:?}"
        );
    }
    assert!(
        collector
            .process
            .stderr_text()
            .contains("tightened the mode"),
        "the loose data directory is reported at WARN"
    );

    // Loosened by hand while stopped: tightened again at the next start.
    collector.stop();
    let database = collector.data_dir.join("rollcall.db");
    std::fs::set_permissions(&collector.data_dir, std::fs::Permissions::from_mode(0o755))?;
    std::fs::set_permissions(&database, std::fs::Permissions::from_mode(0o644))?;
    collector.restart()?;
    assert_eq!(mode(&collector.data_dir)?, 0o700);
    assert_eq!(mode(&database)?, 0o600);
    let stderr = collector.process.stderr_text();
    assert!(
        stderr.contains("rollcall.db") && stderr.contains("tightened the mode"),
        "{stderr}"
    );
    Ok(())
}
