//! Outage detection end to end with real agent processes: silent failure
//! (SIGSTOP), clean stop, planned absence with a goodbye, collector restart,
//! storm control and dependencies; and the bounds on report and
//! maintenance windows against the real collector process.

use std::time::{Duration, Instant};

use anyhow::Result;
use rollcall_tests::{Agent, Collector, CollectorOptions, Process, fake_host_root, wait_for};
use serde_json::{Value, json};

/// Heartbeat 1 s, so down_after is 3 s and the startup grace 6 s.
const DOWN_AFTER_MS: i64 = 3_000;

struct Fleet {
    collector: Collector,
    agents: Vec<(Agent, Process, String)>,
    _dir: tempfile::TempDir,
    started: Instant,
}

/// A collector and `count` agents on distinct fake hosts, all up and past the startup grace.
async fn fleet(count: usize, extra_toml: &str) -> Result<Fleet> {
    let dir = tempfile::tempdir()?;
    let options = CollectorOptions {
        extra_toml: format!("{}{extra_toml}", CollectorOptions::default().extra_toml),
        ..Default::default()
    };
    let collector = Collector::start(dir.path(), &options)?;
    let started = Instant::now();
    let token = collector.enrollment_token(count as i64, 600).await?;
    let mut agents = Vec::new();
    for index in 0..count {
        let name = format!("node-{index:02}");
        let root = fake_host_root(dir.path(), &name, index)?;
        let agent = Agent::new(
            dir.path(),
            &name,
            &[&collector.grpc_url],
            &format!("root = {:?}\n", root.display().to_string()),
        )?;
        let (ok, output) = agent.enroll(&collector.grpc_url, &token, &collector.ca_fingerprint)?;
        assert!(ok, "{output}");
        let process = agent.run()?;
        agents.push((agent, process, name));
    }
    let mut fleet = Fleet {
        collector,
        agents,
        _dir: dir,
        started,
    };
    let names: Vec<String> = fleet
        .agents
        .iter()
        .map(|(_, _, name)| name.clone())
        .collect();
    let ids = wait_for("every host up", Duration::from_secs(90), || async {
        let hosts = fleet.collector.hosts().await.ok()?;
        let ids: Vec<String> = names
            .iter()
            .map(|name| {
                hosts
                    .iter()
                    .find(|host| host["hostname"] == name.as_str() && host["presence"] == "up")
                    .and_then(|host| host["id"].as_str().map(String::from))
            })
            .collect::<Option<_>>()?;
        Some(ids)
    })
    .await?;
    for (agent, id) in fleet.agents.iter_mut().zip(ids) {
        agent.2 = id;
    }
    // Past the startup grace (2 × down_after), so outages can be declared.
    let grace = Duration::from_millis(2 * DOWN_AFTER_MS as u64 + 500);
    if let Some(rest) = grace.checked_sub(fleet.started.elapsed()) {
        tokio::time::sleep(rest).await;
    }
    Ok(fleet)
}

async fn incidents(collector: &Collector) -> Result<Vec<Value>> {
    Ok(collector.get("/api/v1/incidents?state=all").await?["items"]
        .as_array()
        .cloned()
        .unwrap_or_default())
}

async fn host(collector: &Collector, id: &str) -> Result<Value> {
    Ok(collector.get(&format!("/api/v1/hosts/{id}")).await?["host"].clone())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn silent_failure_opens_one_incident_within_down_after_and_recovery_resolves_it() -> Result<()>
{
    let fleet = fleet(1, "").await?;
    let (_, process, host_id) = &fleet.agents[0];
    let stopped_at = rollcall_proto::now_ms();
    process.signal(libc::SIGSTOP);
    let incident = wait_for("a host-down incident", Duration::from_secs(15), || async {
        incidents(&fleet.collector)
            .await
            .ok()?
            .into_iter()
            .find(|incident| incident["rule"] == "host_down")
    })
    .await?;
    let opened = incident["opened_at"].as_i64().unwrap_or(0);
    assert!(
        opened - stopped_at <= DOWN_AFTER_MS + 1_000,
        "detected {} ms after the failure",
        opened - stopped_at
    );
    assert_eq!(incident["ci_id"], host_id.as_str());
    assert_eq!(incident["suppressed"], 0);
    let outages = fleet
        .collector
        .get(&format!("/api/v1/outages?host_id={host_id}"))
        .await?["items"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert_eq!(outages.len(), 1);
    let began = outages[0]["began_at"].as_i64().unwrap_or(0);
    assert!(
        began <= stopped_at && stopped_at - began <= 1_500,
        "outage begins at the last heartbeat ({began}), not at detection"
    );
    assert_eq!(outages[0]["kind"], "unplanned");
    assert_eq!(outages[0]["incident_id"], incident["id"]);
    assert_eq!(host(&fleet.collector, host_id).await?["presence"], "down");
    // The CLI shows and acknowledges it.
    let (ok, output) = fleet.collector.cli(&["incidents", "list"])?;
    assert!(
        ok && output.contains("host_down") && output.contains(host_id.as_str()),
        "{output}"
    );
    let (ok, output) = fleet.collector.cli(&[
        "incidents",
        "ack",
        incident["id"].as_str().unwrap_or_default(),
    ])?;
    assert!(ok, "{output}");
    let (ok, output) = fleet
        .collector
        .cli(&["outages", "--host", host_id, "--output", "csv"])?;
    assert!(
        ok && output.starts_with("host_id,kind,cause") && output.contains("unplanned"),
        "{output}"
    );
    let (ok, output) = fleet
        .collector
        .cli(&["incidents", "ack", "no-such-incident"])?;
    assert!(!ok && output.contains("not found"), "{output}");

    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(
        incidents(&fleet.collector).await?.len(),
        1,
        "one incident for one outage"
    );
    let resumed_at = rollcall_proto::now_ms();
    process.signal(libc::SIGCONT);
    let resolved = wait_for(
        "the incident to resolve",
        Duration::from_secs(15),
        || async {
            let all = incidents(&fleet.collector).await.ok()?;
            all.into_iter()
                .find(|i| i["id"] == incident["id"] && i["state"] == "resolved")
        },
    )
    .await?;
    assert!(resolved["resolved_at"].as_i64().unwrap_or(0) >= resumed_at);
    let outage = fleet
        .collector
        .get(&format!("/api/v1/outages?host_id={host_id}"))
        .await?["items"][0]
        .clone();
    let ended = outage["ended_at"].as_i64().unwrap_or(0);
    assert!(
        ended >= resumed_at && ended - resumed_at < 5_000,
        "outage ends when the host is heard again"
    );
    assert_eq!(outage["began_at"].as_i64(), Some(began));
    assert_eq!(host(&fleet.collector, host_id).await?["presence"], "up");
    let availability = fleet
        .collector
        .get(&format!("/api/v1/availability?window=1h&host_id={host_id}"))
        .await?;
    let downtime = availability["hosts"][0]["availability"]["unplanned_downtime_ms"]
        .as_i64()
        .unwrap_or(0);
    assert_eq!(downtime, ended - began);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clean_kill_is_suspect_at_once_and_down_after_down_after() -> Result<()> {
    let fleet = fleet(1, "").await?;
    let (_, process, host_id) = &fleet.agents[0];
    let killed_at = rollcall_proto::now_ms();
    process.signal(libc::SIGTERM);
    let suspect_at = wait_for("suspect", Duration::from_secs(15), || async {
        (host(&fleet.collector, host_id).await.ok()?["presence"] == "suspect")
            .then(rollcall_proto::now_ms)
    })
    .await?;
    let down_at = wait_for("down", Duration::from_secs(30), || async {
        (host(&fleet.collector, host_id).await.ok()?["presence"] == "down")
            .then(rollcall_proto::now_ms)
    })
    .await?;
    assert!(
        down_at - suspect_at >= DOWN_AFTER_MS - 1_500,
        "down only after down_after ({} ms)",
        down_at - suspect_at
    );
    let all = incidents(&fleet.collector).await?;
    assert_eq!(all.len(), 1);
    assert_eq!(all[0]["rule"], "host_down");
    // Upper bounds, generous for a loaded machine (a correctness bound, not
    // a benchmark): suspect within 5 s of the kill, and the incident opened
    // (the collector's own timestamp) within down_after + 5 s of it.
    assert!(
        suspect_at - killed_at <= 5_000,
        "suspect {} ms after the kill",
        suspect_at - killed_at
    );
    let opened = all[0]["opened_at"].as_i64().unwrap_or(i64::MAX);
    assert!(
        opened >= killed_at && opened - killed_at <= DOWN_AFTER_MS + 5_000,
        "host_down opened {} ms after the kill (down_after {DOWN_AFTER_MS} ms)",
        opened.saturating_sub(killed_at)
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn collector_restart_with_twenty_agents_opens_no_incident() -> Result<()> {
    let mut fleet = fleet(20, "").await?;
    fleet.collector.crash_and_restart()?;
    // Past the grace period and several down_after intervals.
    tokio::time::sleep(Duration::from_millis(4 * DOWN_AFTER_MS as u64)).await;
    let collector = &fleet.collector;
    wait_for("every host up again", Duration::from_secs(30), || async {
        let hosts = collector.hosts().await.ok()?;
        (hosts.len() == 20 && hosts.iter().all(|host| host["presence"] == "up")).then_some(())
    })
    .await?;
    tokio::time::sleep(Duration::from_millis(2 * DOWN_AFTER_MS as u64)).await;
    assert_eq!(
        incidents(collector).await?,
        Vec::<Value>::new(),
        "a collector restart opens no incident"
    );
    let outages = collector.get("/api/v1/outages?kind=unplanned").await?["items"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert!(outages.is_empty(), "{outages:?}");
    Ok(())
}

fn stop_agent(agent: &Agent, reason: &str, back_within: &str) -> Result<()> {
    let output = std::process::Command::new(rollcall_tests::bin("rollcall-agent"))
        .arg("--config")
        .arg(&agent.config_path)
        .args(["stop", "--reason", reason, "--back-within", back_within])
        .output()?;
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn goodbye_makes_a_planned_absence_until_its_deadline() -> Result<()> {
    let mut fleet = fleet(1, "").await?;
    let host_id = fleet.agents[0].2.clone();
    stop_agent(&fleet.agents[0].0, "kernel upgrade", "30s")?;
    assert!(
        fleet.agents[0]
            .1
            .wait_exit(Duration::from_secs(10))
            .is_some_and(|status| status.success())
    );
    let away = host(&fleet.collector, &host_id).await?;
    assert_eq!(away["presence"], "away");
    assert_eq!(away["away_reason"], "kernel upgrade");
    // Back well within the deadline, after what would otherwise be down_after.
    tokio::time::sleep(Duration::from_millis(DOWN_AFTER_MS as u64 + 2_000)).await;
    fleet.agents[0].1 = fleet.agents[0].0.run()?;
    wait_for("up again", Duration::from_secs(15), || async {
        (host(&fleet.collector, &host_id).await.ok()?["presence"] == "up").then_some(())
    })
    .await?;
    assert!(
        incidents(&fleet.collector).await?.is_empty(),
        "a planned absence within its deadline opens no incident"
    );
    let outages = fleet
        .collector
        .get(&format!("/api/v1/outages?host_id={host_id}"))
        .await?["items"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert_eq!(outages.len(), 1);
    assert_eq!(
        (outages[0]["kind"].as_str(), outages[0]["cause"].as_str()),
        (Some("planned"), Some("kernel upgrade"))
    );
    assert!(outages[0]["ended_at"].is_i64());

    // Not back by the deadline: an incident once it passes.
    stop_agent(&fleet.agents[0].0, "reboot", "4s")?;
    let said_at = rollcall_proto::now_ms();
    assert!(
        fleet.agents[0]
            .1
            .wait_exit(Duration::from_secs(10))
            .is_some()
    );
    let incident = wait_for(
        "an incident after the deadline",
        Duration::from_secs(15),
        || async {
            incidents(&fleet.collector)
                .await
                .ok()?
                .into_iter()
                .find(|incident| incident["rule"] == "host_down")
        },
    )
    .await?;
    let opened = incident["opened_at"].as_i64().unwrap_or(0);
    assert!(
        opened >= said_at + 4_000 && opened <= said_at + 4_000 + 1_500,
        "opened {} ms after the goodbye",
        opened - said_at
    );
    let outages = fleet
        .collector
        .get(&format!("/api/v1/outages?host_id={host_id}"))
        .await?["items"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let unplanned: Vec<&Value> = outages
        .iter()
        .filter(|outage| outage["kind"] == "unplanned")
        .collect();
    assert_eq!(unplanned.len(), 1);
    let planned_reboot = outages
        .iter()
        .find(|outage| outage["cause"] == "reboot")
        .cloned()
        .unwrap_or_default();
    assert_eq!(planned_reboot["kind"], "planned");
    assert_eq!(
        planned_reboot["ended_at"], unplanned[0]["began_at"],
        "the planned part ends at the deadline, where the unplanned begins"
    );
    Ok(())
}

fn database(collector: &Collector) -> String {
    format!(
        "sqlite://{}?mode=ro",
        collector.data_dir.join("rollcall.db").display()
    )
}

async fn notified_incidents(collector: &Collector) -> Result<Vec<String>> {
    use sqlx::Row;
    sqlx::any::install_default_drivers();
    let pool = sqlx::AnyPool::connect(&database(collector)).await?;
    let rows = sqlx::query("SELECT DISTINCT incident_id FROM incident_events")
        .fetch_all(&pool)
        .await?;
    Ok(rows
        .iter()
        .filter_map(|row| row.try_get::<String, _>("incident_id").ok())
        .collect())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_of_twelve_going_dark_open_one_parent_with_ten_silent_children() -> Result<()> {
    let fleet = fleet(12, "").await?;
    for (_, process, _) in fleet.agents.iter().take(10) {
        process.signal(libc::SIGSTOP);
    }
    let collector = &fleet.collector;
    let all = wait_for(
        "ten host-down incidents",
        Duration::from_secs(20),
        || async {
            let all = incidents(collector).await.ok()?;
            (all.iter()
                .filter(|incident| incident["rule"] == "host_down")
                .count()
                == 10)
                .then_some(all)
        },
    )
    .await?;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let all = incidents(collector).await.unwrap_or(all);
    let parents: Vec<&Value> = all
        .iter()
        .filter(|incident| incident["rule"] == "storm")
        .collect();
    assert_eq!(parents.len(), 1, "one parent incident: {all:#?}");
    assert!(
        parents[0]["summary"]
            .as_str()
            .is_some_and(|summary| summary.contains("hosts unreachable from collector"))
    );
    let children: Vec<&Value> = all
        .iter()
        .filter(|incident| incident["rule"] == "host_down")
        .collect();
    assert_eq!(children.len(), 10);
    for child in &children {
        assert_eq!(child["parent_id"], parents[0]["id"], "{child}");
        assert_eq!(child["suppressed"], 1);
    }
    let notified = notified_incidents(collector).await?;
    assert_eq!(
        notified,
        vec![parents[0]["id"].as_str().unwrap_or_default().to_string()],
        "only the parent notifies"
    );
    for (_, process, _) in fleet.agents.iter().take(10) {
        process.signal(libc::SIGCONT);
    }
    wait_for(
        "the storm to resolve with its children",
        Duration::from_secs(20),
        || async {
            let all = incidents(collector).await.ok()?;
            all.iter()
                .all(|incident| incident["state"] == "resolved")
                .then_some(())
        },
    )
    .await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_child_behind_a_down_parent_is_not_notified_until_the_parent_recovers_first() -> Result<()>
{
    let fleet = fleet(2, "").await?;
    let (parent, child) = (&fleet.agents[0], &fleet.agents[1]);
    let (status, body) = fleet
        .collector
        .api(
            reqwest::Method::POST,
            "/api/v1/relationships",
            Some(&fleet.collector.admin_token),
            Some(serde_json::json!({ "parent_id": parent.2, "child_id": child.2, "kind": "Depends on::Used by" })),
        )
        .await?;
    assert_eq!(status, 201, "{body}");
    parent.1.signal(libc::SIGSTOP);
    wait_for("the parent down", Duration::from_secs(10), || async {
        incidents(&fleet.collector)
            .await
            .ok()?
            .into_iter()
            .find(|incident| incident["ci_id"] == parent.2.as_str())
    })
    .await?;
    child.1.signal(libc::SIGSTOP);
    let child_incident = wait_for("the child's outage", Duration::from_secs(10), || async {
        incidents(&fleet.collector)
            .await
            .ok()?
            .into_iter()
            .find(|incident| incident["ci_id"] == child.2.as_str())
    })
    .await?;
    let parent_incident = incidents(&fleet.collector)
        .await?
        .into_iter()
        .find(|incident| incident["ci_id"] == parent.2.as_str())
        .unwrap_or_default();
    assert_eq!(child_incident["suppressed"], 1);
    assert_eq!(child_incident["parent_id"], parent_incident["id"]);
    let outages = fleet
        .collector
        .get(&format!("/api/v1/outages?host_id={}", child.2))
        .await?["items"]
        .as_array()
        .map(Vec::len);
    assert_eq!(outages, Some(1), "the child's outage is recorded");
    let notified = notified_incidents(&fleet.collector).await?;
    assert!(
        notified.contains(
            &parent_incident["id"]
                .as_str()
                .unwrap_or_default()
                .to_string()
        )
    );
    assert!(
        !notified.contains(
            &child_incident["id"]
                .as_str()
                .unwrap_or_default()
                .to_string()
        ),
        "no separate notification for the child"
    );
    // The parent recovers first: the child, still down, now notifies.
    parent.1.signal(libc::SIGCONT);
    let child_id = child_incident["id"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let parent_id = parent_incident["id"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let unsuppressed = wait_for(
        "the child no longer suppressed",
        Duration::from_secs(15),
        || async {
            let all = incidents(&fleet.collector).await.ok()?;
            let parent_resolved = all.iter().any(|incident| {
                incident["id"] == parent_id.as_str() && incident["state"] == "resolved"
            });
            all.into_iter()
                .find(|incident| incident["id"] == child_id.as_str() && incident["suppressed"] == 0)
                .filter(|_| parent_resolved)
        },
    )
    .await?;
    assert_eq!(unsuppressed["state"], "open");
    assert!(
        notified_incidents(&fleet.collector)
            .await?
            .contains(&child_id),
        "the child's trigger is delivered once its parent has recovered"
    );
    child.1.signal(libc::SIGCONT);
    wait_for("the child resolved", Duration::from_secs(15), || async {
        incidents(&fleet.collector)
            .await
            .ok()?
            .into_iter()
            .find(|incident| incident["id"] == child_id.as_str() && incident["state"] == "resolved")
    })
    .await?;
    let all = incidents(&fleet.collector).await?;
    assert_eq!(all.len(), 2, "still one incident each: {all:#?}");
    Ok(())
}

/// Issue 12, finding 1: with a daily window on a business service, a viewer
/// asking for `until=i64::MAX` made the collector allocate until it died,
/// and a window starting at `i64::MIN` poisoned every later report. Both
/// are 400s now, nothing is written, and the collector keeps serving.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_endless_report_window_is_a_400_and_the_collector_keeps_serving() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let collector = Collector::start(dir.path(), &CollectorOptions::default())?;
    let admin = Some(collector.admin_token.as_str());
    let post = reqwest::Method::POST;
    let (status, service) = collector
        .api(
            post.clone(),
            "/api/v1/services",
            admin,
            Some(json!({ "name": "shop", "min_up": 1 })),
        )
        .await?;
    assert_eq!(status, 201, "{service}");
    let now = rollcall_proto::now_ms();
    let window = |starts_at: i64, ends_at: i64| {
        json!({
            "scope": "service", "target": service["id"], "starts_at": starts_at,
            "ends_at": ends_at, "recurrence": "daily", "reason": "nightly backup",
        })
    };
    let (status, body) = collector
        .api(
            post.clone(),
            "/api/v1/maintenance",
            admin,
            Some(window(now - 3_600_000, now)),
        )
        .await?;
    assert_eq!(status, 201, "{body}");
    let (status, viewer) = collector
        .api(
            post.clone(),
            "/api/v1/api-tokens",
            admin,
            Some(json!({ "name": "probe", "role": "viewer" })),
        )
        .await?;
    assert_eq!(status, 201, "{viewer}");
    let viewer = viewer["token"].as_str().unwrap_or_default().to_string();

    let endless = format!("/api/v1/availability?since={now}&until={}", i64::MAX);
    let (status, body) = collector
        .api(reqwest::Method::GET, &endless, Some(&viewer), None)
        .await?;
    assert_eq!(status, 400, "{body}");
    let error = body["error"].as_str().unwrap_or_default();
    assert!(
        error.contains("until 9223372036854775807 is out of range"),
        "{error}"
    );
    assert!(
        error.contains("7258118400000 (2200-01-01)"),
        "names the limit: {error}"
    );
    for poison in [window(i64::MIN, now), window(now, i64::MAX)] {
        let (status, body) = collector
            .api(post.clone(), "/api/v1/maintenance", admin, Some(poison))
            .await?;
        assert_eq!(status, 400, "{body}");
    }

    let (status, _) = collector
        .api(reqwest::Method::GET, "/healthz", None, None)
        .await?;
    assert_eq!(status, 200, "the collector is still serving");
    let report = collector.get("/api/v1/availability?window=1d").await?;
    assert_eq!(report["services"][0]["name"], "shop", "{report}");
    let listed = collector.get("/api/v1/maintenance").await?;
    assert_eq!(
        listed["items"].as_array().map(Vec::len),
        Some(1),
        "nothing written: {listed}"
    );
    Ok(())
}
