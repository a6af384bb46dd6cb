//! The load generator keeps working: a small fleet against a harness
//! collector, with two silent failures whose incidents it must time.

use anyhow::Result;
use rollcall_tests::{Collector, CollectorOptions, bin};
use serde_json::Value;
use tokio::io::AsyncBufReadExt;

/// The load generator pointed at `collector`, with its admin token and CA.
fn loadgen(collector: &Collector) -> tokio::process::Command {
    let mut command = tokio::process::Command::new(bin("rollcall-loadgen"));
    command
        .args(["--collector", &collector.grpc_url])
        .args(["--api", &collector.api_url])
        .args(["--admin-token", &collector.admin_token])
        .args(["--ca-fingerprint", &collector.ca_fingerprint]);
    command
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_load_generator_holds_sessions_and_times_silent_failures() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let collector = Collector::start(
        dir.path(),
        &CollectorOptions {
            extra_toml: "[agents]\nheartbeat_interval_s = 1\nhealth_interval_s = 2\ninventory_interval_s = 600\n\
                         [availability]\ndown_after_s = 3\nstartup_grace_s = 1\n"
                .into(),
            database_url: None,
        },
    )?;
    let json_path = dir.path().join("loadgen.json");
    let output = loadgen(&collector)
        .args(["--agents", "20", "--duration-s", "4", "--kill-at-s", "1"])
        .args([
            "--kill-silent",
            "2",
            "--detect-timeout-s",
            "30",
            "--delta-rate",
            "10",
        ])
        .args(["--source-addresses", "5", "--scenario", "e2e"])
        .arg("--collector-pid")
        .arg(collector.process.child.id().to_string())
        .arg("--cache-dir")
        .arg(dir.path().join("cache"))
        .arg("--json")
        .arg(&json_path)
        .output()
        .await?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}{}\ncollector:\n{}",
        String::from_utf8_lossy(&output.stderr),
        collector.process.stderr_text()
    );
    assert!(stdout.contains("heartbeats/s"), "{stdout}");
    let report: Value = serde_json::from_str(&std::fs::read_to_string(&json_path)?)?;
    assert_eq!(report["sessions"]["after_connect"], 20, "{report}");
    assert_eq!(report["sessions"]["peak"], 20, "{report}");
    assert!(
        report["acked"]["heartbeat"].as_u64().unwrap_or(0) > 0,
        "{report}"
    );
    assert!(
        report["rates_per_s"]["heartbeats"].as_f64().unwrap_or(0.0) > 0.0,
        "{report}"
    );
    // A new host has no inventory on record: the collector asks each for one.
    assert_eq!(report["snapshots"]["acked"], 20, "{report}");
    assert!(
        report["acked"]["delta"].as_u64().unwrap_or(0) > 0,
        "{report}"
    );
    assert_eq!(report["killed"]["silent"], 2, "{report}");
    assert_eq!(report["detection"]["detected"], 2, "{report}");
    assert_eq!(
        report["detection"]["silent"]["values_ms"]
            .as_array()
            .map(Vec::len),
        Some(2),
        "{report}"
    );
    let p99 = report["detection"]["silent"]["p99_ms"]
        .as_i64()
        .unwrap_or(-1);
    // Latency is ~down_after (3 s); generous bounds, this is no timing assertion.
    assert!((1_000..30_000).contains(&p99), "{report}");
    assert_eq!(report["false_incidents"]["host_down"], 0, "{report}");
    assert!(
        report["collector"]["rss_kib_end"].as_u64().unwrap_or(0) > 0,
        "{report}"
    );

    // A rerun uses the cached credentials: nothing new is enrolled. It kills
    // on command: one agent closes its stream when the run gets SIGUSR1.
    let mut child = loadgen(&collector)
        .args([
            "--agents",
            "20",
            "--duration-s",
            "3",
            "--detect-timeout-s",
            "30",
        ])
        .args(["--kill-on-signal", "--kill-clean", "1"])
        .arg("--cache-dir")
        .arg(dir.path().join("cache"))
        .arg("--json")
        .arg(&json_path)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()?;
    let pid = child.id().unwrap_or_default().to_string();
    let mut stderr = tokio::io::BufReader::new(child.stderr.take().expect("piped stderr")).lines();
    let mut seen = String::new();
    while let Some(line) = stderr.next_line().await? {
        seen.push_str(&line);
        seen.push('\n');
        if line.starts_with("measured window started") {
            let status = std::process::Command::new("kill")
                .args(["-USR1", &pid])
                .status()?;
            assert!(status.success());
        }
    }
    let status = child.wait().await?;
    assert!(status.success(), "{seen}");
    assert!(seen.contains("killing 1 agents"), "{seen}");
    let report: Value = serde_json::from_str(&std::fs::read_to_string(&json_path)?)?;
    assert_eq!(report["enrolled_new"], 0, "{report}");
    assert_eq!(report["sessions"]["after_connect"], 20, "{report}");
    assert_eq!(report["killed"]["clean"], 1, "{report}");
    Ok(())
}
