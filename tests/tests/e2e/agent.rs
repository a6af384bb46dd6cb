//! The agent against a real collector: inventory deltas from a changing
//! fixture root, an unchanged host sending nothing, health samples spooled
//! across a collector outage, a full snapshot on digest mismatch, gzip on
//! the wire beside uncompressed sessions, and the footprint benchmark still
//! running.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use rollcall_tests::{
    Agent, Collector, CollectorOptions, bin, copy_tree, inventory_by_class, metric,
    normalise_api_inventory, wait_for,
};
use serde_json::Value;

/// Inventory interval of the delta tests, in seconds.
const INVENTORY_INTERVAL_S: u64 = 2;

fn fixture_root(dir: &Path) -> Result<PathBuf> {
    let source = Path::new(env!("CARGO_MANIFEST_DIR")).join("../agent/tests/fixtures/host-debian");
    let root = dir.join("root");
    copy_tree(&source, &root).context("copy the host-debian fixture")?;
    Ok(root)
}

fn fast_inventory_collector(dir: &Path) -> Result<Collector> {
    Collector::start(
        dir,
        &CollectorOptions {
            extra_toml: format!(
                "[agents]\nheartbeat_interval_s = 1\nhealth_interval_s = 2\ninventory_interval_s = {INVENTORY_INTERVAL_S}\n"
            ),
            ..Default::default()
        },
    )
}

async fn enrolled_agent(collector: &Collector, dir: &Path, extra_toml: &str) -> Result<Agent> {
    let token = collector.enrollment_token(1, 600).await?;
    let agent = Agent::new(dir, "agent", &[&collector.grpc_url], extra_toml)?;
    let (ok, output) = agent.enroll(&collector.grpc_url, &token, &collector.ca_fingerprint)?;
    if !ok {
        bail!("enroll failed: {output}");
    }
    Ok(agent)
}

async fn host_with_packages(collector: &Collector, count: i64) -> Result<String> {
    wait_for(
        "a host with its first snapshot",
        Duration::from_secs(60),
        || async {
            collector
                .hosts()
                .await
                .ok()?
                .into_iter()
                .find(|host| host["package_count"].as_i64() == Some(count))
                .and_then(|host| host["id"].as_str().map(String::from))
        },
    )
    .await
}

async fn changes(collector: &Collector, host_id: &str) -> Result<Vec<Value>> {
    Ok(collector
        .get(&format!("/api/v1/hosts/{host_id}/changes?limit=1000"))
        .await?["items"]
        .as_array()
        .cloned()
        .unwrap_or_default())
}

fn max_change_id(changes: &[Value]) -> i64 {
    changes
        .iter()
        .filter_map(|change| change["id"].as_i64())
        .max()
        .unwrap_or(0)
}

/// (class, key, change, field) of every change after `after_id`, sorted.
fn summarise(changes: &[Value], after_id: i64) -> Vec<(String, String, String, String)> {
    let text = |value: &Value| value.as_str().unwrap_or_default().to_string();
    let mut out: Vec<_> = changes
        .iter()
        .filter(|change| change["id"].as_i64().unwrap_or(0) > after_id)
        .map(|change| {
            (
                text(&change["class"]),
                text(&change["item_key"]),
                text(&change["change"]),
                text(&change["field"]),
            )
        })
        .collect();
    out.sort();
    out
}

/// `sampled_at` of a host's stored health samples, oldest first.
async fn health_times(collector: &Collector, host_id: &str) -> Result<Vec<i64>> {
    let body = collector
        .get(&format!("/api/v1/hosts/{host_id}/health?limit=1000"))
        .await?;
    let mut times: Vec<i64> = body["items"]
        .as_array()
        .map(|items| {
            items
                .iter()
                .filter_map(|item| item["sampled_at"].as_i64())
                .collect()
        })
        .unwrap_or_default();
    // Newest first on the API.
    times.reverse();
    Ok(times)
}

fn count_lines(text: &str, needle: &str) -> usize {
    text.lines().filter(|line| line.contains(needle)).count()
}

/// The stored inventory of a host equals a fresh full snapshot of the
/// agent's root, class by class.
async fn assert_stored_equals_local(
    collector: &Collector,
    host_id: &str,
    agent: &Agent,
) -> Result<()> {
    let detail = collector.get(&format!("/api/v1/hosts/{host_id}")).await?;
    let stored = normalise_api_inventory(&detail["inventory"]);
    let local = inventory_by_class(&agent.local_inventory()?)?;
    for class in [
        "identity",
        "system",
        "os",
        "cpu",
        "memory",
        "disk",
        "filesystem",
        "network_adapter",
        "network",
        "software",
        "listening_port",
        "user",
        "group",
    ] {
        assert!(
            local.get(class).is_some(),
            "the fixture inventory has a {class} section"
        );
    }
    assert_eq!(stored, local, "stored inventory vs a fresh full snapshot");
    Ok(())
}

fn edit_dpkg_status(root: &Path) -> Result<()> {
    let path = root.join("var/lib/dpkg/status");
    let text = std::fs::read_to_string(&path)?;
    let mut stanzas: Vec<String> = text
        .split("\n\n")
        .map(|stanza| stanza.trim().to_string())
        .filter(|stanza| !stanza.is_empty())
        .collect();
    // Remove libc6, upgrade openssh-server, install nginx-light.
    stanzas.retain(|stanza| !stanza.starts_with("Package: libc6\n"));
    for stanza in &mut stanzas {
        if stanza.starts_with("Package: openssh-server\n") {
            *stanza = stanza.replace("Version: 1:9.2p1-2+deb12u2", "Version: 1:9.2p1-2+deb12u3");
        }
    }
    stanzas.push(
        "Package: nginx-light\nStatus: install ok installed\nArchitecture: amd64\n\
         Source: nginx\nVersion: 1.22.1-9\nDescription: small web server\n \
         A multi-line description\n ."
            .to_string(),
    );
    // Write and rename, as dpkg does, so the agent never reads half a file.
    let temporary = path.with_extension("new");
    std::fs::write(&temporary, stanzas.join("\n\n") + "\n")?;
    std::fs::rename(&temporary, &path)?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_changed_package_list_reaches_the_collector_as_a_delta_within_one_interval() -> Result<()>
{
    let dir = tempfile::tempdir()?;
    let root = fixture_root(dir.path())?;
    let collector = fast_inventory_collector(dir.path())?;
    let agent = enrolled_agent(&collector, dir.path(), &format!("root = {root:?}\n")).await?;
    let process = agent.run()?;
    let started = Instant::now();
    let host_id = host_with_packages(&collector, 4).await?;
    eprintln!("first snapshot after {:?}", started.elapsed());
    assert_stored_equals_local(&collector, &host_id, &agent).await?;

    // Unchanged: several intervals pass without a delta or a change record.
    let baseline = changes(&collector, &host_id).await?;
    let first_snapshot_id = max_change_id(&baseline);
    let deltas_before = count_lines(&process.stderr_text(), "inventory delta spooled");
    tokio::time::sleep(Duration::from_secs(3 * INVENTORY_INTERVAL_S + 1)).await;
    let log = process.stderr_text();
    assert_eq!(
        count_lines(&log, "inventory delta spooled"),
        deltas_before,
        "an unchanged host sends no inventory: {log}"
    );
    assert_eq!(
        count_lines(&log, "inventory snapshot spooled"),
        1,
        "one snapshot only: {log}"
    );
    assert_eq!(
        summarise(&changes(&collector, &host_id).await?, first_snapshot_id),
        vec![],
        "no change recorded for an unchanged host"
    );

    // Install one package, remove one, upgrade one.
    edit_dpkg_status(&root)?;
    let edited = Instant::now();
    let expected = vec![
        (
            "software".to_string(),
            "libc6:amd64".to_string(),
            "removed".to_string(),
            String::new(),
        ),
        (
            "software".to_string(),
            "nginx-light:amd64".to_string(),
            "added".to_string(),
            String::new(),
        ),
        (
            "software".to_string(),
            "openssh-server:amd64".to_string(),
            "changed".to_string(),
            "version".to_string(),
        ),
    ];
    let seen = wait_for(
        "the package changes in the host's history",
        Duration::from_secs(30),
        || async {
            let now = summarise(
                &changes(&collector, &host_id).await.ok()?,
                first_snapshot_id,
            );
            (now.len() >= expected.len()).then_some(now)
        },
    )
    .await?;
    let latency = edited.elapsed();
    assert_eq!(seen, expected, "exactly the changed packages, nothing else");
    // One inventory interval, plus the heartbeat-paced ack and API polling.
    assert!(
        latency <= Duration::from_secs(INVENTORY_INTERVAL_S + 2),
        "the change took {latency:?}"
    );
    // It went as one delta of two upserts and one removal, not a snapshot.
    let log = process.stderr_text();
    let delta_lines: Vec<&str> = log
        .lines()
        .filter(|line| line.contains("inventory delta spooled"))
        .collect();
    assert_eq!(delta_lines.len(), deltas_before + 1, "{log}");
    let last = delta_lines.last().copied().unwrap_or_default();
    assert!(
        last.contains("upserts=2") && last.contains("removed=1"),
        "{last}"
    );
    assert_eq!(count_lines(&log, "inventory snapshot spooled"), 1, "{log}");

    let host = collector.get(&format!("/api/v1/hosts/{host_id}")).await?;
    assert_eq!(host["host"]["package_count"], 4);
    assert_stored_equals_local(&collector, &host_id, &agent).await?;
    drop(process);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_digest_mismatch_brings_a_full_snapshot_that_repairs_the_stored_inventory() -> Result<()>
{
    let dir = tempfile::tempdir()?;
    let root = fixture_root(dir.path())?;
    let mut collector = fast_inventory_collector(dir.path())?;
    let agent = enrolled_agent(&collector, dir.path(), &format!("root = {root:?}\n")).await?;
    let mut process = agent.run()?;
    let host_id = host_with_packages(&collector, 4).await?;

    // The collector goes away; the agent spools a delta for a change…
    collector.stop();
    edit_dpkg_status(&root)?;
    wait_for(
        "the agent to spool the delta",
        Duration::from_secs(30),
        || async {
            (count_lines(&process.stderr_text(), "inventory delta spooled") >= 1).then_some(())
        },
    )
    .await?;
    // The baseline is saved just after the delta is spooled: wait for it.
    let baseline = agent.state_dir.join("inventory.pb");
    wait_for(
        "the baseline to hold the change",
        Duration::from_secs(10),
        || async {
            let bytes = std::fs::read(&baseline).ok()?;
            bytes
                .windows(b"nginx-light".len())
                .any(|window| window == b"nginx-light")
                .then_some(())
        },
    )
    .await?;
    // …and loses its spool (disk trouble, an operator's rm): the baseline
    // has the change, the collector never gets it.
    process.kill_hard();
    std::fs::remove_dir_all(agent.state_dir.join("spool"))?;
    collector.restart()?;
    let process = agent.run()?;

    // Hello's digests differ from what is stored: a full snapshot follows.
    let repaired = wait_for(
        "the full snapshot after the digest mismatch",
        Duration::from_secs(60),
        || async {
            let detail = collector
                .get(&format!("/api/v1/hosts/{host_id}"))
                .await
                .ok()?;
            let names: Vec<String> = detail["inventory"]["software"]
                .as_array()?
                .iter()
                .filter_map(|package| package["name"].as_str().map(String::from))
                .collect();
            names
                .iter()
                .any(|name| name == "nginx-light")
                .then_some(names)
        },
    )
    .await?;
    assert!(!repaired.iter().any(|name| name == "libc6"), "{repaired:?}");
    let log = process.stderr_text();
    assert!(
        log.contains("collector asked for a full inventory")
            && log.contains("inventory digest mismatch in software"),
        "{log}"
    );
    assert_eq!(count_lines(&log, "inventory delta spooled"), 0, "{log}");
    assert!(
        collector
            .process
            .stderr_text()
            .contains("inventory digest mismatch"),
        "{}",
        collector.process.stderr_text()
    );
    assert_stored_equals_local(&collector, &host_id, &agent).await?;

    // Once in agreement, a reconnect asks for nothing.
    drop(process);
    let process = agent.run()?;
    wait_for("the next session", Duration::from_secs(30), || async {
        process
            .stderr_text()
            .contains("session established")
            .then_some(())
    })
    .await?;
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(
        !process
            .stderr_text()
            .contains("collector asked for a full inventory"),
        "{}",
        process.stderr_text()
    );
    Ok(())
}

/// The (seq, sampled_at_ms) of every health sample the agent logged as
/// spooled (`rollcall_agent::runtime` at debug), in log order.
fn spooled_health(log: &str) -> Vec<(i64, i64)> {
    let field = |line: &str, name: &str| -> Option<i64> {
        let rest = line.split(&format!(" {name}=")).nth(1)?;
        rest.split(|c: char| !c.is_ascii_digit())
            .next()?
            .parse()
            .ok()
    };
    log.lines()
        .filter(|line| line.contains("health sample spooled"))
        .filter_map(|line| Some((field(line, "seq")?, field(line, "sampled_at_ms")?)))
        .collect()
}

/// The (seq, sampled_at) of the host's rows in `health_raw`, by seq.
async fn stored_health(collector: &Collector, host_id: &str) -> Result<Vec<(i64, i64)>> {
    use sqlx::Row;
    sqlx::any::install_default_drivers();
    let url = format!(
        "sqlite://{}?mode=ro",
        collector.data_dir.join("rollcall.db").display()
    );
    let pool = sqlx::AnyPool::connect(&url).await?;
    let rows =
        sqlx::query("SELECT seq, sampled_at FROM health_raw WHERE host_id = $1 ORDER BY seq")
            .bind(host_id)
            .fetch_all(&pool)
            .await?;
    pool.close().await;
    rows.iter()
        .map(|row| Ok((row.try_get("seq")?, row.try_get("sampled_at")?)))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_samples_spooled_during_a_collector_outage_all_arrive_in_order_once() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let mut collector = Collector::start(
        dir.path(),
        &CollectorOptions {
            extra_toml: "[agents]\nheartbeat_interval_s = 1\nhealth_interval_s = 1\ninventory_interval_s = 600\n"
                .into(),
            ..Default::default()
        },
    )?;
    let agent = enrolled_agent(&collector, dir.path(), "").await?;
    // At debug the agent logs the sequence number of every health sample it spools.
    let process = agent.run_with_env(&[("ROLLCALL_LOG", "info,rollcall_agent::runtime=debug")])?;
    let host_id = wait_for("a host", Duration::from_secs(60), || async {
        collector.hosts().await.ok()?.first()?["id"]
            .as_str()
            .map(String::from)
    })
    .await?;
    wait_for("health samples", Duration::from_secs(30), || async {
        (health_times(&collector, &host_id).await.ok()?.len() >= 3).then_some(())
    })
    .await?;
    // The CLI's series over them: raw samples only, at the step asked for.
    let (ok, output) = collector.cli(&[
        "hosts", "health", &host_id, "--hours", "1", "--step", "60", "--output", "json",
    ])?;
    assert!(ok, "{output}");
    // stdout first; anything on stderr after the document is ignored.
    let start = output.find('{').unwrap_or_default();
    let series: serde_json::Value = serde_json::Deserializer::from_str(&output[start..])
        .into_iter()
        .next()
        .transpose()?
        .unwrap_or_default();
    assert_eq!(series["step"], 60, "{series}");
    let counted: u64 = series["items"]
        .as_array()
        .map(|points| points.iter().filter_map(|p| p["count"].as_u64()).sum())
        .unwrap_or_default();
    assert!(counted >= 3, "{series}");
    assert!(
        series["items"][0]["cpu_percent_max"].is_number(),
        "{series}"
    );

    collector.stop();
    let stopped_at = rollcall_proto::now_ms();
    tokio::time::sleep(Duration::from_secs(6)).await;
    collector.restart()?;
    let restarted_at = rollcall_proto::now_ms();
    let times = wait_for(
        "samples taken after the restart",
        Duration::from_secs(60),
        || async {
            let times = health_times(&collector, &host_id).await.ok()?;
            (times.last().copied()? > restarted_at + 1000).then_some(times)
        },
    )
    .await?;

    // Every sample the agent spooled up to one taken after the restart,
    // by the agent's own log (its sequence numbers, in its order) ...
    let restarted_sample = times.iter().copied().find(|at| *at > restarted_at + 1000);
    let spooled: Vec<(i64, i64)> = spooled_health(&process.stderr_text())
        .into_iter()
        .filter(|(_, at)| restarted_sample.is_some_and(|last| *at <= last))
        .collect();
    // ... and the samples the store holds, in the store's sequence column
    // (health_raw.seq, read from the SQLite file, no API sort).
    let stored = stored_health(&collector, &host_id).await?;
    let stored: Vec<(i64, i64)> = stored
        .into_iter()
        .filter(|(_, at)| restarted_sample.is_some_and(|last| *at <= last))
        .collect();
    assert!(
        spooled
            .iter()
            .filter(|(_, at)| *at > stopped_at && *at < restarted_at)
            .count()
            >= 3,
        "the agent sampled while the collector was down: {spooled:?}"
    );
    assert_eq!(
        stored, spooled,
        "every spooled sample stored exactly once, in the agent's order (seq, sampled_at)"
    );
    for pair in stored.windows(2) {
        assert!(
            pair[0].0 < pair[1].0 && pair[0].1 < pair[1].1,
            "the agent's order is sequence and time order: {stored:?}"
        );
    }
    assert!(
        process.stderr_text().matches("session established").count() >= 2,
        "{}",
        process.stderr_text()
    );
    Ok(())
}

#[test]
fn the_footprint_benchmark_runs() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let json_path = dir.path().join("bench.json");
    let output = std::process::Command::new(bin("rollcall-agent-bench"))
        .args([
            "--duration-s",
            "3",
            "--warmup-s",
            "2",
            "--inventory-runs",
            "3",
        ])
        .arg("--agent")
        .arg(bin("rollcall-agent"))
        .arg("--json")
        .arg(&json_path)
        .output()?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(stdout.contains("rss"), "{stdout}");
    let report: Value = serde_json::from_str(&std::fs::read_to_string(&json_path)?)?;
    for field in [
        "rss_kib",
        "cpu_percent",
        "inventory_ms_median",
        "snapshot_bytes",
        "snapshot_gzip_bytes",
        "heartbeat_bytes",
        "delta_bytes",
    ] {
        assert!(report[field].is_number(), "{field}: {report}");
    }
    assert!(report["rss_kib"].as_f64().unwrap_or(0.0) > 0.0, "{report}");

    // A compared tool that is not installed fails the run, naming the
    // Debian package, before anything starts (the suite needs none of them).
    let missing = std::process::Command::new(bin("rollcall-agent-bench"))
        .args(["--compare", "node-exporter", "--node-exporter"])
        .arg(dir.path().join("no-such-node-exporter"))
        .arg("--agent")
        .arg(bin("rollcall-agent"))
        .output()?;
    let stderr = String::from_utf8_lossy(&missing.stderr);
    assert!(!missing.status.success(), "{stderr}");
    assert!(
        stderr.contains("apt-get install prometheus-node-exporter"),
        "{stderr}"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_agent_fails_over_to_the_next_collector_endpoint() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let collector = fast_inventory_collector(dir.path())?;
    let root = fixture_root(dir.path())?;
    let token = collector.enrollment_token(1, 600).await?;
    // The first endpoint answers nothing (nobody listens); the second is the collector.
    let dead = format!("https://127.0.0.1:{}", rollcall_tests::free_port());
    let agent = Agent::new(
        dir.path(),
        "agent",
        &[&dead, &collector.grpc_url],
        &format!("root = {:?}\n", root.display().to_string()),
    )?;
    let (ok, output) = agent.enroll(&collector.grpc_url, &token, &collector.ca_fingerprint)?;
    assert!(ok, "{output}");
    let process = agent.run()?;
    host_with_packages(&collector, 4).await?;
    let log = process.stderr_text();
    assert!(
        log.contains(&dead) && log.contains("connection refused"),
        "the dead endpoint was tried and explained: {log}"
    );
    assert!(
        log.contains(&format!(
            "session established collector={}",
            collector.grpc_url
        )),
        "{log}"
    );
    Ok(())
}

/// The value of an unlabelled or fully labelled metric line of `/metrics`.

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessions_are_gzipped_on_the_wire_and_uncompressed_agents_still_work() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let collector = fast_inventory_collector(dir.path())?;
    let agent = enrolled_agent(&collector, dir.path(), "").await?;
    let mut gzipping = agent.run()?;
    collector.host_with_inventory().await?;
    let metrics = collector.metrics().await?;
    assert_eq!(
        metric(&metrics, "rollcall_sessions_total{encoding=\"gzip\"}"),
        1.0,
        "{metrics}"
    );
    assert_eq!(
        metric(&metrics, "rollcall_sessions_total{encoding=\"identity\"}"),
        0.0,
        "{metrics}"
    );
    // The wire count is what arrived in the request body; the message count
    // what it decoded to. A full snapshot compresses about 3x.
    let wire = metric(&metrics, "rollcall_session_wire_bytes_total");
    let decoded = metric(&metrics, "rollcall_session_message_bytes_total");
    assert!(wire > 0.0 && wire * 2.0 < decoded, "{metrics}");
    gzipping.kill_hard();

    // An agent that sends plain messages, as agents before gzip did.
    let heartbeats_before = metric(
        &collector.metrics().await?,
        "rollcall_messages_total{type=\"heartbeat\"}",
    );
    let _plain = agent.run_with_env(&[("ROLLCALL_COMPRESS", "false")])?;
    let metrics = wait_for(
        "heartbeats over an uncompressed session",
        Duration::from_secs(30),
        || async {
            let metrics = collector.metrics().await.ok()?;
            (metric(&metrics, "rollcall_sessions_total{encoding=\"identity\"}") == 1.0
                && metric(&metrics, "rollcall_messages_total{type=\"heartbeat\"}")
                    >= heartbeats_before + 2.0)
                .then_some(metrics)
        },
    )
    .await?;
    assert_eq!(
        metric(&metrics, "rollcall_sessions_total{encoding=\"gzip\"}"),
        1.0,
        "{metrics}"
    );
    assert_eq!(metric(&metrics, "rollcall_sessions_open"), 1.0, "{metrics}");
    Ok(())
}

/// Adds a package whose key (`name:arch`) is over the collector's 1 KiB key
/// limit, so any inventory holding it is refused.
fn add_oversized_package(root: &Path) -> Result<()> {
    let path = root.join("var/lib/dpkg/status");
    let mut text = std::fs::read_to_string(&path)?;
    text.push_str(&format!(
        "\nPackage: {}\nStatus: install ok installed\nArchitecture: amd64\nVersion: 1.0\n",
        "x".repeat(2000)
    ));
    let temporary = path.with_extension("new");
    std::fs::write(&temporary, text)?;
    std::fs::rename(&temporary, &path)?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_inventory_is_dropped_once_and_the_agent_keeps_its_session() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let root = fixture_root(dir.path())?;
    let pristine = std::fs::read(root.join("var/lib/dpkg/status"))?;
    add_oversized_package(&root)?;
    let collector = fast_inventory_collector(dir.path())?;
    let agent = enrolled_agent(&collector, dir.path(), &format!("root = {root:?}\n")).await?;
    let process = agent.run()?;
    wait_for(
        "the collector to refuse the oversized inventory",
        Duration::from_secs(30),
        || async {
            let metrics = collector.metrics().await.ok()?;
            (metric(&metrics, "rollcall_messages_refused_total") >= 1.0).then_some(())
        },
    )
    .await?;
    // Several inventory intervals: the refused snapshot is not resent from
    // the spool on reconnects (there are none), and the session carries on.
    tokio::time::sleep(Duration::from_secs(3 * INVENTORY_INTERVAL_S + 1)).await;
    let log = process.stderr_text();
    assert!(
        log.contains("the collector refused a message"),
        "the agent logs the refusal: {log}"
    );
    assert_eq!(
        count_lines(&log, "session established"),
        1,
        "no reconnect: {log}"
    );
    let metrics = collector.metrics().await?;
    assert_eq!(
        metric(&metrics, "rollcall_messages_rejected_total"),
        0.0,
        "no session ended on an error: {metrics}"
    );
    let hosts = collector.hosts().await?;
    assert_eq!(hosts.len(), 1, "{hosts:?}");
    assert_eq!(hosts[0]["presence"], "up", "{hosts:?}");
    // Once the package is gone, the next inventory is sent in full (the
    // refused one left the collector without a baseline) and is stored.
    let temporary = root.join("var/lib/dpkg/status.new");
    std::fs::write(&temporary, pristine)?;
    std::fs::rename(&temporary, root.join("var/lib/dpkg/status"))?;
    let host_id = host_with_packages(&collector, 4).await?;
    assert_stored_equals_local(&collector, &host_id, &agent).await?;
    Ok(())
}
