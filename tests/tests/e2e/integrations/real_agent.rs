//! Every integration target, and a real Alertmanager, from a real agent's
//! host going down (SIGSTOP) and coming back (SIGCONT), on SQLite and on
//! PostgreSQL: each target gets exactly one create and one resolve; the
//! real Alertmanager shows the alert firing, receives it again while it
//! fires (its `updatedAt` moves), and no longer shows it active after the
//! recovery. Nothing is written into the store by the test.

use std::time::Duration;

use anyhow::Result;
use rollcall_tests::vendors::{AllFakes, correlation_id, target_toml};
use rollcall_tests::{Agent, Collector, fake_host_root, postgres_url, wait_for};

use super::{FAST, am_alert, assert_no_violations, options, start_alertmanager, wait_delivered};

async fn every_target_from_a_real_agent(database_url: Option<String>) -> Result<()> {
    let dir = tempfile::tempdir()?;
    let Some((_alertmanager, am_url)) = start_alertmanager(dir.path())? else {
        return Ok(());
    };
    wait_for("alertmanager ready", Duration::from_secs(30), || async {
        let response = reqwest::get(format!("{am_url}/-/ready")).await.ok()?;
        response.status().is_success().then_some(())
    })
    .await?;
    let fakes = AllFakes::start().await?;
    let targets = format!(
        "{}{}",
        fakes.toml(FAST),
        target_toml(
            "am-real",
            "alertmanager",
            &am_url,
            &format!("resend_interval_s = 1\n{FAST}")
        )
    );
    let mut collector_options = options(&targets);
    collector_options.database_url = database_url;
    let collector = Collector::start(dir.path(), &collector_options)?;
    let started = std::time::Instant::now();
    let token = collector.enrollment_token(1, 600).await?;
    let root = fake_host_root(dir.path(), "edge-01", 11)?;
    let agent = Agent::new(
        dir.path(),
        "edge-01",
        &[&collector.grpc_url],
        &format!("root = {:?}\n", root.display().to_string()),
    )?;
    let (ok, output) = agent.enroll(&collector.grpc_url, &token, &collector.ca_fingerprint)?;
    assert!(ok, "{output}");
    let process = agent.run()?;
    let host_id = wait_for("the host up", Duration::from_secs(60), || async {
        collector
            .hosts()
            .await
            .ok()?
            .into_iter()
            .find(|host| host["hostname"] == "edge-01" && host["presence"] == "up")
            .and_then(|host| host["id"].as_str().map(String::from))
    })
    .await?;
    // Past the startup grace (2 × down_after = 6 s), then a silent failure.
    if let Some(rest) = Duration::from_millis(6_500).checked_sub(started.elapsed()) {
        tokio::time::sleep(rest).await;
    }
    process.signal(libc::SIGSTOP);
    let incident = wait_for("a host-down incident", Duration::from_secs(20), || async {
        collector.get("/api/v1/incidents?state=open").await.ok()?["items"]
            .as_array()?
            .iter()
            .find(|incident| {
                incident["ci_id"] == host_id.as_str() && incident["rule"] == "host_down"
            })
            .and_then(|incident| incident["id"].as_str().map(String::from))
    })
    .await?;
    let mut names: Vec<&str> = fakes.all().iter().map(|(name, _)| *name).collect();
    names.push("am-real");
    wait_delivered(&collector, &incident, &names, 1).await?;
    let key = format!("{host_id}:host_down");
    let hash = correlation_id(&key);

    // The real Alertmanager has it firing, and hears it again while it fires.
    let first = wait_for(
        "the alert active in alertmanager",
        Duration::from_secs(30),
        || async {
            let alert = am_alert(&am_url, &key).await?;
            (alert["status"]["state"] == "active").then_some(alert)
        },
    )
    .await?;
    assert_eq!(first["labels"]["alertname"], "host_down");
    assert_eq!(first["labels"]["severity"], "critical");
    let updated = first["updatedAt"].as_str().unwrap_or_default().to_string();
    wait_for(
        "the alert re-sent while firing",
        Duration::from_secs(30),
        || async {
            let alert = am_alert(&am_url, &key).await?;
            (alert["status"]["state"] == "active" && alert["updatedAt"].as_str() != Some(&updated))
                .then_some(())
        },
    )
    .await?;

    process.signal(libc::SIGCONT);
    wait_delivered(&collector, &incident, &names, 2).await?;
    wait_for(
        "the alert resolved in alertmanager",
        Duration::from_secs(30),
        || async {
            match am_alert(&am_url, &key).await {
                None => Some(()),
                Some(alert) => (alert["status"]["state"] != "active").then_some(()),
            }
        },
    )
    .await?;
    // Let any duplicate arrive before counting.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let once = |fake: &rollcall_tests::vendors::Fake, what: String| {
        assert_eq!(fake.accepted(&what), 1, "{what}");
    };
    once(&fakes.servicenow, format!("create:{hash}"));
    once(&fakes.servicenow, format!("resolve:{hash}"));
    once(&fakes.zendesk, format!("create:{hash}"));
    once(&fakes.zendesk, format!("solve:{hash}"));
    once(&fakes.pagerduty, format!("create:{key}"));
    once(&fakes.pagerduty, format!("resolve:{key}"));
    once(&fakes.jira, "create:edge-01 is down".into());
    let jira_key = collector
        .get(&format!("/api/v1/incidents/{incident}/deliveries"))
        .await?["targets"]
        .as_array()
        .and_then(|targets| {
            targets
                .iter()
                .find(|target| target["target"] == "jira")
                .cloned()
        })
        .and_then(|target| target["external_ref"].as_str().map(String::from))
        .unwrap_or_default();
    once(&fakes.jira, format!("transition:{jira_key}"));
    once(&fakes.servicenow_em, format!("clear:{key}"));
    once(&fakes.alertmanager, format!("resolved:{key}"));
    once(
        &fakes.webhook,
        format!("com.rollcall.incident.trigger:{key}"),
    );
    once(
        &fakes.webhook,
        format!("com.rollcall.incident.resolve:{key}"),
    );
    // The fake Alertmanager is re-sent the firing alert too (as Alertmanager expects).
    assert!(fakes.alertmanager.accepted(&format!("firing:{key}")) >= 1);
    assert!(fakes.servicenow_em.accepted(&format!("event:{key}")) >= 1);
    assert_no_violations(&fakes.all());
    // One incident for the one outage.
    let all = collector.get("/api/v1/incidents?state=all").await?;
    let host_downs = all["items"].as_array().map(|items| {
        items
            .iter()
            .filter(|incident| incident["rule"] == "host_down")
            .count()
    });
    assert_eq!(host_downs, Some(1), "{all}");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_target_and_a_real_alertmanager_once_each_from_a_real_agent_on_sqlite() -> Result<()>
{
    every_target_from_a_real_agent(None).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_target_and_a_real_alertmanager_once_each_from_a_real_agent_on_postgres() -> Result<()>
{
    let Some(url) = postgres_url().await else {
        return Ok(());
    };
    every_target_from_a_real_agent(Some(url)).await
}
