//! `/metrics` of a real collector with a real agent, checked by Prometheus's
//! own `promtool`; the alert rules checked and unit-tested by `promtool`;
//! and every metric a Grafana dashboard or an alert rule names present in
//! the live output. A host going down (SIGSTOP of its agent) and its
//! incident delivered to a webhook stand-in put a value in every family.

use std::collections::BTreeSet;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use anyhow::{Context, Result, bail};
use rollcall_tests::vendors::{target_toml, webhook};
use rollcall_tests::{Agent, Collector, CollectorOptions, fake_host_root, in_ci, metric, wait_for};
use serde_json::Value;

/// Heartbeat 1 s (the default test options), so down_after is 3 s.
const DOWN_AFTER_MS: u64 = 3_000;

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_default()
}

/// `promtool`, or `None` (skip with a notice) outside CI when it is missing.
fn promtool() -> Option<&'static str> {
    let found = Command::new("promtool")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|status| status.success());
    if found {
        return Some("promtool");
    }
    assert!(
        !in_ci(),
        "promtool (Debian package prometheus) must be installed when CI=true"
    );
    eprintln!("notice: promtool is not installed; skipping");
    None
}

/// Runs promtool with `args` (and `stdin`), failing with its output.
fn run_promtool(args: &[&str], stdin: Option<&str>, dir: &Path) -> Result<String> {
    let mut child = Command::new("promtool")
        .args(args)
        .current_dir(dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()?;
    if let Some(mut input) = child.stdin.take() {
        input.write_all(stdin.unwrap_or_default().as_bytes())?;
    }
    let output = child.wait_with_output()?;
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    if !output.status.success() {
        bail!("promtool {args:?} failed:\n{text}");
    }
    Ok(text)
}

/// Every `rollcall_…` name in `text`.
fn names_in(text: &str) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    let mut rest = text;
    while let Some(start) = rest.find("rollcall_") {
        let tail = &rest[start..];
        let end = tail
            .find(|c: char| !(c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_'))
            .unwrap_or(tail.len());
        names.insert(tail[..end].to_string());
        rest = &tail[end..];
    }
    names
}

/// The names of the samples in exposition `text`.
fn sample_names(text: &str) -> BTreeSet<String> {
    text.lines()
        .filter(|line| !line.starts_with('#') && !line.is_empty())
        .filter_map(|line| line.split(['{', ' ']).next())
        .map(String::from)
        .collect()
}

/// The PromQL of the Prometheus dashboards and the alert rules, by file.
fn promql_sources() -> Result<Vec<(String, String)>> {
    let root = repo_root();
    let mut sources = Vec::new();
    for entry in std::fs::read_dir(root.join("dashboards/grafana"))? {
        let path = entry?.path();
        let dashboard: Value = serde_json::from_str(&std::fs::read_to_string(&path)?)
            .with_context(|| format!("{} is not JSON", path.display()))?;
        let exprs: Vec<String> = dashboard["panels"]
            .as_array()
            .into_iter()
            .flatten()
            .flat_map(|panel| panel["targets"].as_array().cloned().unwrap_or_default())
            .filter_map(|target| target["expr"].as_str().map(String::from))
            .collect();
        if !exprs.is_empty() {
            sources.push((path.display().to_string(), exprs.join("\n")));
        }
    }
    let rules = root.join("dashboards/prometheus/rollcall.rules.yml");
    let text = std::fs::read_to_string(&rules)?;
    // Only the expressions: the annotations quote no metric, but a comment might.
    let exprs: String = text
        .lines()
        .skip_while(|line| !line.contains("groups:"))
        .filter(|line| !line.trim_start().starts_with('#'))
        .collect::<Vec<_>>()
        .join("\n");
    sources.push((rules.display().to_string(), exprs));
    Ok(sources)
}

#[test]
fn alert_rules_pass_promtool_check_and_their_unit_tests() -> Result<()> {
    if promtool().is_none() {
        return Ok(());
    }
    let dir = repo_root().join("dashboards/prometheus");
    let checked = run_promtool(&["check", "rules", "rollcall.rules.yml"], None, &dir)?;
    assert!(checked.contains("SUCCESS: 6 rules found"), "{checked}");
    let tested = run_promtool(&["test", "rules", "rollcall.rules.test.yml"], None, &dir)?;
    assert!(tested.contains("SUCCESS"), "{tested}");
    Ok(())
}

#[test]
fn grafana_dashboards_are_json_with_a_data_source_variable() -> Result<()> {
    let mut seen = BTreeSet::new();
    for entry in std::fs::read_dir(repo_root().join("dashboards/grafana"))? {
        let path = entry?.path();
        let dashboard: Value = serde_json::from_str(&std::fs::read_to_string(&path)?)?;
        let variable = dashboard["templating"]["list"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|variable| variable["type"] == "datasource")
            .with_context(|| format!("{}: no data-source variable", path.display()))?;
        let kind = variable["query"].as_str().unwrap_or_default().to_string();
        let panels = dashboard["panels"].as_array().cloned().unwrap_or_default();
        assert!(!panels.is_empty(), "{}", path.display());
        for panel in &panels {
            assert_eq!(
                panel["datasource"]["uid"],
                "${datasource}",
                "{}",
                path.display()
            );
            assert_eq!(
                panel["datasource"]["type"],
                kind.as_str(),
                "{}",
                path.display()
            );
            let targets = panel["targets"].as_array().cloned().unwrap_or_default();
            assert!(!targets.is_empty(), "{}: {panel}", path.display());
        }
        seen.insert((
            dashboard["uid"].as_str().unwrap_or_default().to_string(),
            kind,
        ));
    }
    let kinds: BTreeSet<&str> = seen.iter().map(|(_, kind)| kind.as_str()).collect();
    assert_eq!(
        kinds,
        BTreeSet::from(["grafana-postgresql-datasource", "prometheus"]),
        "{seen:?}"
    );
    assert_eq!(seen.len(), 4, "four dashboards, unique uids: {seen:?}");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn live_metrics_pass_promtool_and_name_every_metric_the_dashboards_and_rules_use()
-> Result<()> {
    let Some(_) = promtool() else { return Ok(()) };
    let dir = tempfile::tempdir()?;
    let hook = webhook::start().await?;
    let options = CollectorOptions {
        extra_toml: format!(
            "{}{}",
            CollectorOptions::default().extra_toml,
            target_toml("webhook", "webhook", &hook.url, "")
        ),
        ..Default::default()
    };
    let collector = Collector::start(dir.path(), &options)?;
    let token = collector.enrollment_token(1, 600).await?;
    let root = fake_host_root(dir.path(), "metrics-host", 0)?;
    let agent = Agent::new(
        dir.path(),
        "metrics-host",
        &[&collector.grpc_url],
        &format!("root = {:?}\n", root.display().to_string()),
    )?;
    let (ok, output) = agent.enroll(&collector.grpc_url, &token, &collector.ca_fingerprint)?;
    assert!(ok, "{output}");
    let process = agent.run()?;
    collector.host_with_inventory().await?;
    // Past the startup grace (2 × down_after), then a silent failure.
    tokio::time::sleep(Duration::from_millis(2 * DOWN_AFTER_MS + 500)).await;
    process.signal(libc::SIGSTOP);
    let metrics = wait_for(
        "the host-down incident delivered",
        Duration::from_secs(30),
        || async {
            let text = collector.metrics().await.ok()?;
            (metric(
                &text,
                "rollcall_deliveries_total{outcome=\"delivered\",target=\"webhook\"}",
            ) >= 1.0)
                .then_some(text)
        },
    )
    .await?;
    process.signal(libc::SIGCONT);

    let checked = run_promtool(&["check", "metrics"], Some(&metrics), dir.path())?;
    assert!(
        checked.trim().is_empty(),
        "promtool found problems:\n{checked}"
    );

    for (sample, at_least) in [
        (
            "rollcall_incidents_open{rule=\"host_down\",severity=\"critical\"}",
            1.0,
        ),
        ("rollcall_hosts{presence=\"down\"}", 1.0),
        ("rollcall_enroll_attempts_total", 1.0),
        ("rollcall_ingest_seconds_count{type=\"snapshot\"}", 1.0),
        ("rollcall_ingest_seconds_count{type=\"heartbeat\"}", 1.0),
        ("rollcall_store_seconds_count{op=\"apply_inventory\"}", 1.0),
        ("rollcall_store_seconds_count{op=\"record_seen\"}", 1.0),
        ("rollcall_store_seconds_count{op=\"enroll_agent\"}", 1.0),
        ("rollcall_store_seconds_count{op=\"metrics_counts\"}", 1.0),
    ] {
        let value = metric(&metrics, sample);
        assert!(
            value >= at_least,
            "{sample} = {value}, want ≥ {at_least}\n{metrics}"
        );
    }
    assert_eq!(
        metric(
            &metrics,
            "rollcall_deliveries_total{outcome=\"dead\",target=\"webhook\"}"
        ),
        0.0
    );
    let class = metrics
        .lines()
        .find(|line| line.starts_with("rollcall_hosts_by_class{"))
        .context("no rollcall_hosts_by_class sample")?;
    assert!(class.contains("lifecycle=\"active\""), "{class}");

    let live = sample_names(&metrics);
    for (source, text) in promql_sources()? {
        let named = names_in(&text);
        assert!(!named.is_empty(), "{source} names no metric");
        let missing: Vec<&String> = named.iter().filter(|name| !live.contains(*name)).collect();
        assert!(
            missing.is_empty(),
            "{source} names metrics missing from /metrics: {missing:?}"
        );
    }
    Ok(())
}
