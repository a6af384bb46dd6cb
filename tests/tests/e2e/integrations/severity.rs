//! A severity change is one incident, updated and re-notified to every
//! target in its vendor's way: a filesystem goes over the warning threshold,
//! then over the critical one, back to warning, then clears. The health
//! samples come from the raw gRPC client with an enrolled agent's
//! credentials (a real agent on a fixture root reports 0 % used: it reads
//! sizes with statvfs on the live root only); the collector, its incident
//! engine and its deliveries are real, nothing is written into the store
//! by the test. Each vendor stand-in checks the request contract of the
//! update and answers like the vendor.

use std::time::Duration;

use anyhow::Result;
use rollcall_proto::v1::agent_message::Body;
use rollcall_proto::v1::{FilesystemUsage, HealthReport};
use rollcall_tests::vendors::{AllFakes, Fake, correlation_id};
use rollcall_tests::{Agent, Collector, raw, wait_for};
use serde_json::Value;

use super::{FAST, assert_no_violations, deliveries, options};

fn usage(used_percent: f32) -> Body {
    Body::Health(Box::new(HealthReport {
        sampled_at_ms: rollcall_proto::now_ms(),
        memory_used_bytes: 1 << 30,
        memory_total_bytes: 4 << 30,
        filesystems: vec![FilesystemUsage {
            mount_point: "/var".into(),
            size_bytes: 1000,
            used_bytes: (used_percent * 10.0) as u64,
            used_percent,
        }],
        ..Default::default()
    }))
}

/// The incidents of the filesystem rule on the host, every state.
async fn filesystem_incidents(collector: &Collector) -> Result<Vec<Value>> {
    Ok(collector.get("/api/v1/incidents?state=all").await?["items"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|incident| {
            incident["rule"]
                .as_str()
                .is_some_and(|rule| rule.starts_with("filesystem_usage"))
        })
        .cloned()
        .collect())
}

/// Waits until every target has `count` delivered rows of `incident`.
async fn delivered(
    collector: &Collector,
    incident: &str,
    names: &[&str],
    count: usize,
) -> Result<()> {
    wait_for(
        &format!("{count} deliveries of {incident} to each target"),
        Duration::from_secs(60),
        || async {
            let list = deliveries(collector, incident).await.ok()?;
            names
                .iter()
                .all(|name| {
                    list.iter().any(|target| {
                        target["target"] == *name
                            && target["deliveries"].as_array().is_some_and(|rows| {
                                rows.iter()
                                    .filter(|row| row["state"] == "delivered")
                                    .count()
                                    >= count
                            })
                    })
                })
                .then_some(())
        },
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_severity_change_updates_the_one_incident_at_every_target() -> Result<()> {
    let fakes = AllFakes::start().await?;
    let dir = tempfile::tempdir()?;
    let collector = Collector::start(dir.path(), &options(&fakes.toml(FAST)))?;
    let token = collector.enrollment_token(1, 600).await?;
    let agent = Agent::new(dir.path(), "raw-severity", &[&collector.grpc_url], "")?;
    let (ok, output) = agent.enroll(&collector.grpc_url, &token, &collector.ca_fingerprint)?;
    assert!(ok, "{output}");
    let names: Vec<&str> = fakes.all().iter().map(|(name, _)| *name).collect();
    let send = |seq: u64, percent: f32| {
        let agent = &agent;
        let url = collector.grpc_url.clone();
        async move { raw::send_acked(&url, agent, "raw-severity", seq, usage(percent)).await }
    };

    // Warning: one incident, created everywhere.
    send(1, 92.0).await?;
    let incident = wait_for("the warning incident", Duration::from_secs(60), || async {
        let all = filesystem_incidents(&collector).await.ok()?;
        all.first().filter(|i| i["severity"] == "warning").cloned()
    })
    .await?;
    let id = incident["id"].as_str().unwrap_or_default().to_string();
    let key = incident["dedup_key"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let hash = correlation_id(&key);
    delivered(&collector, &id, &names, 1).await?;
    // Critical: the same incident, updated.
    send(2, 97.0).await?;
    wait_for("critical", Duration::from_secs(60), || async {
        let all = filesystem_incidents(&collector).await.ok()?;
        (all.len() == 1 && all[0]["id"] == id.as_str() && all[0]["severity"] == "critical")
            .then_some(())
    })
    .await?;
    delivered(&collector, &id, &names, 2).await?;
    // Back to warning: updated again.
    send(3, 91.0).await?;
    wait_for("warning again", Duration::from_secs(60), || async {
        let all = filesystem_incidents(&collector).await.ok()?;
        (all.len() == 1 && all[0]["severity"] == "warning").then_some(())
    })
    .await?;
    delivered(&collector, &id, &names, 3).await?;
    // Cleared: resolved.
    send(4, 10.0).await?;
    wait_for("resolved", Duration::from_secs(60), || async {
        let all = filesystem_incidents(&collector).await.ok()?;
        (all.len() == 1 && all[0]["state"] == "resolved").then_some(())
    })
    .await?;
    delivered(&collector, &id, &names, 4).await?;
    tokio::time::sleep(Duration::from_secs(2)).await;

    let all = filesystem_incidents(&collector).await?;
    assert_eq!(all.len(), 1, "one incident for the whole episode: {all:?}");
    let once = |fake: &Fake, what: String| assert_eq!(fake.accepted(&what), 1, "{what}");
    // ServiceNow: one record, PATCHed with urgency 1 then 3, then resolved.
    once(&fakes.servicenow, format!("create:{hash}"));
    once(&fakes.servicenow, format!("update:{hash}:1"));
    once(&fakes.servicenow, format!("update:{hash}:3"));
    once(&fakes.servicenow, format!("resolve:{hash}"));
    // Zendesk: one ticket, its priority set to urgent then normal, solved.
    once(&fakes.zendesk, format!("create:{hash}"));
    once(&fakes.zendesk, format!("priority:{hash}:urgent"));
    once(&fakes.zendesk, format!("priority:{hash}:normal"));
    once(&fakes.zendesk, format!("solve:{hash}"));
    // PagerDuty: one incident, re-triggered with the new severities.
    once(&fakes.pagerduty, format!("create:{key}"));
    once(&fakes.pagerduty, format!("retrigger:{key}:critical"));
    once(&fakes.pagerduty, format!("retrigger:{key}:warning"));
    once(&fakes.pagerduty, format!("resolve:{key}"));
    // Jira: one issue, a comment per change, one resolve transition.
    assert_eq!(
        fakes.jira.accepted(&format!(
            "create:{}",
            incident["summary"].as_str().unwrap_or_default()
        )),
        1
    );
    let jira = deliveries(&collector, &id)
        .await?
        .into_iter()
        .find(|target| target["target"] == "jira")
        .and_then(|target| target["external_ref"].as_str().map(String::from))
        .unwrap_or_default();
    assert_eq!(
        fakes.jira.accepted(&format!("comment:{jira}")),
        2,
        "a comment per severity change"
    );
    once(&fakes.jira, format!("transition:{jira}"));
    // Alertmanager: the warning alert resolved when critical fired, and so on.
    assert!(
        fakes
            .alertmanager
            .accepted(&format!("firing:{key}:warning"))
            >= 2
    );
    assert!(
        fakes
            .alertmanager
            .accepted(&format!("firing:{key}:critical"))
            >= 1
    );
    assert!(
        fakes
            .alertmanager
            .accepted(&format!("resolved:{key}:warning"))
            >= 2
    );
    assert!(
        fakes
            .alertmanager
            .accepted(&format!("resolved:{key}:critical"))
            >= 1
    );
    // ServiceNow Event Management: events at severity 4, 1, 4, then a clear.
    assert!(fakes.servicenow_em.accepted(&format!("event:{key}:1")) >= 1);
    assert!(fakes.servicenow_em.accepted(&format!("event:{key}:4")) >= 2);
    once(&fakes.servicenow_em, format!("clear:{key}:0"));
    // Webhook: trigger, two updates, resolve.
    once(
        &fakes.webhook,
        format!("com.rollcall.incident.trigger:{key}"),
    );
    assert_eq!(
        fakes
            .webhook
            .accepted(&format!("com.rollcall.incident.update:{key}")),
        2
    );
    once(
        &fakes.webhook,
        format!("com.rollcall.incident.resolve:{key}"),
    );
    assert_no_violations(&fakes.all());
    Ok(())
}
