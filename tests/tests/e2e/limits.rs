//! Hostile input from an enrolled agent, end to end (issue 12, findings 4
//! and 7): a flood of failed units and checks opens at most one incident
//! per rule family and host, with cleaned text; a hostile unit name is
//! refused with nothing stored; a sequence number far ahead is refused and
//! the next correct message still applies. The sender is the raw gRPC
//! client, since a real agent cannot be made to send any of this.

use std::time::Duration;

use anyhow::{Result, bail};
use prost::Message;
use rollcall_proto::v1::agent_message::Body;
use rollcall_proto::v1::collector_message::Body as Reply;
use rollcall_proto::v1::{
    AgentMessage, CheckResult, CheckResults, CollectorMessage, FilesystemUsage, HealthReport,
    Heartbeat, Hello, Identity,
};
use rollcall_tests::{Agent, Collector, CollectorOptions, raw, wait_for};
use serde_json::Value;

fn frame(seq: u64, body: Body) -> Vec<u8> {
    AgentMessage {
        seq,
        sent_at_ms: rollcall_proto::now_ms(),
        body: Some(body),
    }
    .encode_to_vec()
}

fn health(failed_units: Vec<String>) -> Body {
    Body::Health(Box::new(HealthReport {
        sampled_at_ms: rollcall_proto::now_ms(),
        cpu_percent: 5.0,
        memory_used_bytes: 1 << 30,
        memory_total_bytes: 4 << 30,
        filesystems: (0..50)
            .map(|index| FilesystemUsage {
                mount_point: format!("/srv/{index}"),
                size_bytes: 100,
                used_bytes: 99,
                used_percent: 99.0,
            })
            .collect(),
        failed_units,
        ..Default::default()
    }))
}

/// The highest acknowledgement among raw replies.
fn last_ack(replies: &[Vec<u8>]) -> Option<u64> {
    replies
        .iter()
        .filter_map(|bytes| CollectorMessage::decode(bytes.as_slice()).ok())
        .filter_map(|message| match message.body {
            Some(Reply::Ack(ack)) => Some(ack.seq),
            _ => None,
        })
        .max()
}

async fn open_incidents(collector: &Collector, host_id: &str) -> Result<Vec<Value>> {
    let page = collector
        .get(&format!(
            "/api/v1/incidents?state=open&ci_id={host_id}&limit=1000"
        ))
        .await?;
    Ok(page["items"].as_array().cloned().unwrap_or_default())
}

fn family_count(incidents: &[Value], family: &str) -> usize {
    incidents
        .iter()
        .filter(|incident| {
            incident["rule"]
                .as_str()
                .is_some_and(|rule| rule.starts_with(family))
        })
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_of_failures_opens_one_incident_per_family_with_clean_text() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let collector = Collector::start(dir.path(), &CollectorOptions::default())?;
    let token = collector.enrollment_token(1, 600).await?;
    let agent = Agent::new(dir.path(), "flood", &[&collector.grpc_url], "")?;
    let (ok, output) = agent.enroll(&collector.grpc_url, &token, &collector.ca_fingerprint)?;
    assert!(ok, "{output}");
    let agent_id = agent.agent_id()?;
    let hello = AgentMessage {
        seq: 0,
        sent_at_ms: rollcall_proto::now_ms(),
        body: Some(Body::Hello(Box::new(Hello {
            agent_id: agent_id.clone(),
            identity: Some(Identity {
                hostname: "flood".into(),
                machine_id: "flood-machine".into(),
                ..Default::default()
            }),
            ..Default::default()
        }))),
    }
    .encode_to_vec();

    // One report with 5,000 failed units, then 2,000 failed checks.
    let units: Vec<String> = (0..5_000).map(|i| format!("unit-{i:04}.service")).collect();
    let checks = Body::Checks(CheckResults {
        results: (0..2_000)
            .map(|i| CheckResult {
                name: format!("check-{i:04}"),
                kind: "command".into(),
                ok: false,
                message: "exit code 1\n\u{1b}[31mfailed\u{1b}[0m".into(),
                checked_at_ms: rollcall_proto::now_ms(),
                duration_ms: 3,
            })
            .collect(),
    });
    let channel = raw::agent_channel(&collector.grpc_url, &agent.state_dir).await?;
    let replies = raw::session(
        channel,
        vec![hello.clone(), frame(1, health(units)), frame(2, checks)],
    )
    .await?;
    assert_eq!(last_ack(&replies), Some(2), "both messages applied");
    let host_id = wait_for("the flood host", Duration::from_secs(30), || async {
        let hosts = collector.hosts().await.ok()?;
        hosts
            .iter()
            .find(|host| host["hostname"] == "flood")
            .and_then(|host| host["id"].as_str().map(String::from))
    })
    .await?;
    let incidents = open_incidents(&collector, &host_id).await?;
    for family in ["failed_unit:", "failed_check:", "filesystem_usage:"] {
        assert_eq!(
            family_count(&incidents, family),
            1,
            "one {family} incident for the host: {incidents:#?}"
        );
    }
    assert!(
        incidents.len() <= 4,
        "at most one incident per rule family: {} open",
        incidents.len()
    );
    let unit = incidents
        .iter()
        .find(|incident| {
            incident["rule"]
                .as_str()
                .unwrap_or_default()
                .starts_with("failed_unit:")
        })
        .cloned()
        .unwrap_or_default();
    let summary = unit["summary"].as_str().unwrap_or_default();
    assert!(
        summary.contains("5000 systemd units failed") && summary.contains("and 4995 more"),
        "{summary}"
    );
    assert!(summary.chars().count() <= 200, "{summary}");
    let details: Value = match &unit["details"] {
        Value::String(text) => serde_json::from_str(text)?,
        other => other.clone(),
    };
    assert_eq!(details["count"], 5_000, "{details}");
    assert_eq!(details["units"].as_array().map(Vec::len), Some(100));
    for incident in &incidents {
        let text = incident.to_string();
        assert!(!text.contains("\\u001b"), "an escape survived: {text}");
        let key = incident["dedup_key"].as_str().unwrap_or_default();
        assert!(key.len() <= 100, "dedup key {key}");
    }

    // A 200 KB unit name with markup and ANSI escapes: refused, nothing
    // stored, and acknowledged so the agent's spool lets it go; the session
    // goes on and its next message applies.
    let samples_before = collector
        .get(&format!("/api/v1/hosts/{host_id}/health"))
        .await?["items"]
        .as_array()
        .map(Vec::len);
    let hostile = format!(
        "<script>alert(1)</script>\u{1b}[2J\u{1b}]0;pwned\u{7}{}",
        "x".repeat(200 * 1024)
    );
    let channel = raw::agent_channel(&collector.grpc_url, &agent.state_dir).await?;
    let replies = raw::session(
        channel,
        vec![
            hello.clone(),
            frame(3, health(vec![hostile])),
            frame(4, Body::Heartbeat(Heartbeat { agent_uptime_s: 1 })),
        ],
    )
    .await?;
    match raw::refusals(&replies).as_slice() {
        [(3, reason)] => assert!(
            reason.contains("failed_units") && reason.contains("limit"),
            "{reason}"
        ),
        other => bail!("expected one refusal of seq 3, got {other:?}"),
    }
    assert_eq!(
        last_ack(&replies),
        Some(4),
        "the refused message is acknowledged and the next one applies"
    );
    let samples_after = collector
        .get(&format!("/api/v1/hosts/{host_id}/health"))
        .await?["items"]
        .as_array()
        .map(Vec::len);
    assert_eq!(
        samples_before, samples_after,
        "nothing of the refused report is stored"
    );
    let all = collector.get("/api/v1/incidents?limit=1000").await?;
    assert!(!all.to_string().contains("<script>"), "{all}");

    // seq = 2^63 - 1 would wedge the agent: refused, and nothing is lost.
    let channel = raw::agent_channel(&collector.grpc_url, &agent.state_dir).await?;
    let far = frame(
        i64::MAX as u64,
        Body::Heartbeat(Heartbeat { agent_uptime_s: 1 }),
    );
    let status = raw::session(channel, vec![hello.clone(), far])
        .await
        .expect_err("seq 2^63-1 was accepted");
    assert_eq!(status.code(), tonic::Code::InvalidArgument, "{status:?}");
    assert!(
        status.message().contains("sequence number"),
        "{}",
        status.message()
    );
    let channel = raw::agent_channel(&collector.grpc_url, &agent.state_dir).await?;
    let far = frame(
        4 + 1_000_001,
        Body::Heartbeat(Heartbeat { agent_uptime_s: 1 }),
    );
    let status = raw::session(channel, vec![hello.clone(), far])
        .await
        .expect_err("a jump of 1,000,001 was accepted");
    assert_eq!(status.code(), tonic::Code::InvalidArgument, "{status:?}");
    // The next correct number applies: one unit fails now, and the
    // incident for the 5,000 resolves in favour of one naming it.
    let channel = raw::agent_channel(&collector.grpc_url, &agent.state_dir).await?;
    let replies = raw::session(
        channel,
        vec![
            hello.clone(),
            frame(5, health(vec!["late.service".into()])),
            // 6 never sent: a gap, applied but reported.
            frame(7, Body::Heartbeat(Heartbeat { agent_uptime_s: 2 })),
        ],
    )
    .await?;
    assert_eq!(
        last_ack(&replies),
        Some(7),
        "the next correct messages are applied"
    );
    let agent_row = collector.get(&format!("/api/v1/agents/{agent_id}")).await?;
    assert_eq!(agent_row["last_seq"], 7, "{agent_row}");
    let incidents = open_incidents(&collector, &host_id).await?;
    let units: Vec<&Value> = incidents
        .iter()
        .filter(|incident| {
            incident["rule"]
                .as_str()
                .unwrap_or_default()
                .starts_with("failed_unit:")
        })
        .collect();
    match units.as_slice() {
        [only] => assert!(
            only["summary"]
                .as_str()
                .unwrap_or_default()
                .contains("late.service"),
            "{only}"
        ),
        other => bail!("expected one failed_unit incident, got {other:#?}"),
    }
    // The gap before 7 was not acknowledged silently: it is in /metrics.
    let metrics = collector
        .api(reqwest::Method::GET, "/metrics", None, None)
        .await?
        .1;
    let metrics = metrics.as_str().unwrap_or_default();
    assert!(
        metrics.contains("rollcall_sequence_gaps_total 1"),
        "{metrics}"
    );
    assert!(
        metrics.contains("rollcall_sequence_missed_total 1"),
        "{metrics}"
    );
    assert!(
        metrics.contains("rollcall_messages_refused_total 1"),
        "{metrics}"
    );
    Ok(())
}
