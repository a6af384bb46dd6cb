//! The CMDB end to end: a collector on PostgreSQL with a real agent, and a
//! collector killed in the middle of applying a large snapshot.

use std::time::Duration;

use anyhow::Result;
use prost::Message;
use rollcall_proto::v1::agent_message::Body;
use rollcall_proto::v1::{AgentMessage, Hello, Identity, Inventory, InventorySnapshot, Package};
use rollcall_tests::{
    Agent, Collector, CollectorOptions, dpkg_installed_count, postgres_url, raw, wait_for,
};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn collector_on_postgresql_serves_host_inventory_and_history() -> Result<()> {
    let Some(url) = postgres_url().await else {
        return Ok(());
    };
    let dir = tempfile::tempdir()?;
    let options = CollectorOptions {
        database_url: Some(url),
        ..CollectorOptions::default()
    };
    let collector = Collector::start(dir.path(), &options)?;
    let info = collector.get("/api/v1/info").await?;
    assert_eq!(info["backend"], "postgres");
    let token = collector.enrollment_token(1, 600).await?;
    let agent = Agent::new(dir.path(), "agent", &[&collector.grpc_url], "")?;
    let (ok, output) = agent.enroll(&collector.grpc_url, &token, &collector.ca_fingerprint)?;
    assert!(ok, "{output}");
    let _process = agent.run()?;
    let host = collector.host_with_inventory().await?;
    assert_eq!(
        host["package_count"].as_i64(),
        Some(dpkg_installed_count() as i64)
    );
    let id = host["id"].as_str().unwrap_or_default();
    let detail = collector.get(&format!("/api/v1/hosts/{id}")).await?;
    assert_eq!(
        detail["inventory"]["software"].as_array().map(Vec::len),
        Some(dpkg_installed_count())
    );
    let history = collector
        .get(&format!(
            "/api/v1/hosts/{id}/changes?class=software&limit=1000"
        ))
        .await?;
    let added = history["items"]
        .as_array()
        .map(|items| {
            items
                .iter()
                .filter(|item| item["change"] == "added")
                .count()
        })
        .unwrap_or(0);
    assert_eq!(
        added,
        dpkg_installed_count(),
        "every installed package has its 'added' record"
    );
    let fleet = collector.get("/api/v1/changes?class=host&limit=10").await?;
    assert!(
        fleet["items"]
            .as_array()
            .is_some_and(|items| items.iter().any(|item| item["field"] == "identification"))
    );
    Ok(())
}

fn packages(prefix: &str, count: usize) -> Vec<Package> {
    (0..count)
        .map(|index| Package {
            name: format!("{prefix}-{index:06}"),
            version: format!("1.{index}"),
            arch: "amd64".into(),
            manager: "dpkg".into(),
            ..Default::default()
        })
        .collect()
}

fn snapshot(seq: u64, packages: Vec<Package>) -> Vec<u8> {
    AgentMessage {
        seq,
        sent_at_ms: rollcall_proto::now_ms(),
        body: Some(Body::Snapshot(InventorySnapshot {
            inventory: Some(Inventory {
                packages,
                ..Default::default()
            }),
        })),
    }
    .encode_to_vec()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_while_applying_a_large_snapshot_leaves_old_or_new_never_a_mix() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let mut collector = Collector::start(dir.path(), &CollectorOptions::default())?;
    let token = collector.enrollment_token(1, 600).await?;
    let agent = Agent::new(dir.path(), "raw", &[&collector.grpc_url], "")?;
    let (ok, output) = agent.enroll(&collector.grpc_url, &token, &collector.ca_fingerprint)?;
    assert!(ok, "{output}");
    let hello = AgentMessage {
        seq: 0,
        sent_at_ms: rollcall_proto::now_ms(),
        body: Some(Body::Hello(Hello {
            agent_id: agent.agent_id()?,
            identity: Some(Identity {
                hostname: "bulk".into(),
                machine_id: "bulk-machine".into(),
                ..Default::default()
            }),
            ..Default::default()
        })),
    }
    .encode_to_vec();
    let old_count = 1_000;
    let channel = raw::agent_channel(&collector.grpc_url, &agent.state_dir).await?;
    raw::session(
        channel,
        vec![hello.clone(), snapshot(1, packages("old", old_count))],
    )
    .await
    .ok();
    let host_id = wait_for("the first snapshot", Duration::from_secs(30), || async {
        let host = collector.hosts().await.ok()?.into_iter().next()?;
        (host["package_count"].as_i64()? == old_count as i64)
            .then(|| host["id"].as_str().map(String::from))
            .flatten()
    })
    .await?;

    let new_count = 60_000;
    let mut outcomes = Vec::new();
    let mut previous = ("old".to_string(), old_count);
    for (attempt, delay_ms) in [150u64, 400, 900].into_iter().enumerate() {
        let seq = 2 + attempt as u64;
        let prefix = format!("new{attempt}");
        let channel = raw::agent_channel(&collector.grpc_url, &agent.state_dir).await?;
        let frames = vec![hello.clone(), snapshot(seq, packages(&prefix, new_count))];
        let sender = tokio::spawn(raw::session(channel, frames));
        tokio::time::sleep(Duration::from_millis(delay_ms)).await;
        collector.crash_and_restart()?;
        sender.abort();
        let detail = collector.get(&format!("/api/v1/hosts/{host_id}")).await?;
        let software = detail["inventory"]["software"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        let prefixes: std::collections::BTreeSet<String> = software
            .iter()
            .filter_map(|item| {
                item["name"]
                    .as_str()
                    .and_then(|name| name.split('-').next())
                    .map(String::from)
            })
            .collect();
        assert!(
            prefixes.len() <= 1,
            "a mix of two snapshots is stored: {prefixes:?}"
        );
        let stored = (
            prefixes.into_iter().next().unwrap_or_default(),
            software.len(),
        );
        assert!(
            stored == previous || stored == (prefix.clone(), new_count),
            "after kill -9 the host holds {stored:?}; expected the previous {previous:?} or the complete new snapshot"
        );
        assert_eq!(
            detail["host"]["package_count"].as_i64(),
            Some(stored.1 as i64),
            "summary agrees with the items"
        );
        outcomes.push((delay_ms, stored.clone()));
        previous = stored;
    }
    eprintln!("kill -9 during apply, (delay ms, items stored, snapshot): {outcomes:?}");
    Ok(())
}
