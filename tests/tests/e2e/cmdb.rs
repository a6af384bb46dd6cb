//! The CMDB end to end: a collector on PostgreSQL with a real agent, a
//! collector killed in the middle of applying a large snapshot, and a second
//! agent claiming a live host's machine-id.

use std::time::Duration;

use anyhow::Result;
use prost::Message;
use rollcall_proto::v1::agent_message::Body;
use rollcall_proto::v1::{
    AgentMessage, Hello, Identity, Inventory, InventorySnapshot, OsInfo, Package,
};
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
    // The first inventory is one `discovered` record (DESIGN §5) holding
    // every package as (catalogue id, install time), not one per package.
    let history = collector
        .get(&format!("/api/v1/hosts/{id}/changes?class=host&limit=1000"))
        .await?;
    let discovered: Vec<&serde_json::Value> = history["items"]
        .as_array()
        .map(|items| {
            items
                .iter()
                .filter(|item| item["change"] == "discovered")
                .collect()
        })
        .unwrap_or_default();
    assert_eq!(discovered.len(), 1, "{history}");
    let snapshot: serde_json::Value =
        serde_json::from_str(discovered[0]["new_value"].as_str().unwrap_or_default())?;
    assert_eq!(
        snapshot["software"].as_array().map(Vec::len),
        Some(dpkg_installed_count()),
        "every installed package is in the discovered record"
    );
    let per_item = collector
        .get(&format!(
            "/api/v1/hosts/{id}/changes?class=software&limit=1000"
        ))
        .await?;
    assert_eq!(
        per_item["items"].as_array().map(Vec::len),
        Some(0),
        "no per-package record for a first inventory"
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
        body: Some(Body::Snapshot(Box::new(InventorySnapshot {
            inventory: Some(Inventory {
                packages,
                ..Default::default()
            }),
        }))),
    }
    .encode_to_vec()
}

/// A log line without its colour codes (`ESC [ … m`).
fn plain(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            for c in chars.by_ref() {
                if c == 'm' {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_while_applying_a_large_snapshot_leaves_old_or_new_never_a_mix() -> Result<()> {
    let dir = tempfile::tempdir()?;
    // The ingest dispatcher logs the start and end of every apply at debug:
    // the markers that show the kill landed while one was in progress.
    let mut collector = Collector::start_logging(
        dir.path(),
        &CollectorOptions::default(),
        "info,sqlx=warn,rollcall_collector::ingest::dispatch=debug",
    )?;
    let token = collector.enrollment_token(1, 600).await?;
    let agent = Agent::new(dir.path(), "raw", &[&collector.grpc_url], "")?;
    let (ok, output) = agent.enroll(&collector.grpc_url, &token, &collector.ca_fingerprint)?;
    assert!(ok, "{output}");
    let hello = AgentMessage {
        seq: 0,
        sent_at_ms: rollcall_proto::now_ms(),
        body: Some(Body::Hello(Box::new(Hello {
            agent_id: agent.agent_id()?,
            identity: Some(Identity {
                hostname: "bulk".into(),
                machine_id: "bulk-machine".into(),
                ..Default::default()
            }),
            ..Default::default()
        }))),
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
    let mut in_progress = 0;
    for (attempt, delay_ms) in [0u64, 100, 300].into_iter().enumerate() {
        let seq = 2 + attempt as u64;
        let prefix = format!("new{attempt}");
        let channel = raw::agent_channel(&collector.grpc_url, &agent.state_dir).await?;
        let frames = vec![hello.clone(), snapshot(seq, packages(&prefix, new_count))];
        let sender = tokio::spawn(raw::session(channel, frames));
        // Kill once the collector has begun applying this snapshot.
        let started = format!("seq={seq}");
        wait_for("the apply to begin", Duration::from_secs(60), || async {
            collector
                .process
                .stderr_text()
                .lines()
                .map(plain)
                .any(|line| line.contains("applying inventory") && line.contains(&started))
                .then_some(())
        })
        .await?;
        tokio::time::sleep(Duration::from_millis(delay_ms)).await;
        collector.stop();
        sender.abort();
        // The stderr reader holds its own handle until the pipe is drained.
        wait_for(
            "the killed collector's log",
            Duration::from_secs(10),
            || async {
                (std::sync::Arc::strong_count(&collector.process.stderr) == 1).then_some(())
            },
        )
        .await?;
        let finished = collector
            .process
            .stderr_text()
            .lines()
            .map(plain)
            .any(|line| line.contains("inventory applied") && line.contains(&started));
        if !finished {
            in_progress += 1;
        }
        collector.restart()?;
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
        outcomes.push((delay_ms, !finished, stored.clone()));
        previous = stored;
    }
    eprintln!(
        "kill -9 during apply, (delay ms after the start marker, killed mid-apply, (snapshot, items stored)): {outcomes:?}"
    );
    assert!(
        in_progress >= 1,
        "no kill landed between an apply's start and end markers: {outcomes:?}"
    );
    Ok(())
}

/// Finding 3 of issue 12: a second enrolled agent sends a Hello with a live
/// host's machine-id (which viewers can read in the API) and a one-package
/// "PWNED OS" snapshot. The host keeps its inventory, OS and agent; the
/// claimant gets its own CI flagged `possible_duplicate_of`, and the
/// conflict is an identity event in the API.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_agent_claiming_a_live_hosts_machine_id_does_not_take_it_over() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let collector = Collector::start(dir.path(), &CollectorOptions::default())?;
    let token = collector.enrollment_token(2, 600).await?;
    let owner = Agent::new(dir.path(), "owner", &[&collector.grpc_url], "")?;
    let (ok, output) = owner.enroll(&collector.grpc_url, &token, &collector.ca_fingerprint)?;
    assert!(ok, "{output}");
    let _process = owner.run()?;
    let before = collector.host_with_inventory().await?;
    let host_a = before["id"].as_str().unwrap_or_default().to_string();
    let machine_id = before["machine_id"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(
        !machine_id.is_empty(),
        "the host shows its machine-id: {before}"
    );

    let intruder = Agent::new(dir.path(), "intruder", &[&collector.grpc_url], "")?;
    let (ok, output) = intruder.enroll(&collector.grpc_url, &token, &collector.ca_fingerprint)?;
    assert!(ok, "{output}");
    let intruder_id = intruder.agent_id()?;
    let hello = AgentMessage {
        seq: 0,
        sent_at_ms: rollcall_proto::now_ms(),
        body: Some(Body::Hello(Box::new(Hello {
            agent_id: intruder_id.clone(),
            identity: Some(Identity {
                machine_id: machine_id.clone(),
                hostname: "pwned".into(),
                ..Default::default()
            }),
            ..Default::default()
        }))),
    }
    .encode_to_vec();
    let pwned = AgentMessage {
        seq: 1,
        sent_at_ms: rollcall_proto::now_ms(),
        body: Some(Body::Snapshot(Box::new(InventorySnapshot {
            inventory: Some(Inventory {
                packages: packages("pwned", 1),
                os: Some(OsInfo {
                    name: "PWNED OS".into(),
                    pretty_name: "PWNED OS".into(),
                    ..Default::default()
                }),
                ..Default::default()
            }),
        }))),
    }
    .encode_to_vec();
    let channel = raw::agent_channel(&collector.grpc_url, &intruder.state_dir).await?;
    let session = tokio::spawn(raw::session(channel, vec![hello, pwned]));

    // The claimant's snapshot lands on a CI of its own.
    let duplicate = wait_for("the claimant's own CI", Duration::from_secs(30), || async {
        collector.hosts().await.ok()?.into_iter().find(|host| {
            host["agent_id"] == intruder_id.as_str() && host["package_count"].as_i64() == Some(1)
        })
    })
    .await?;
    session.abort();
    assert_ne!(duplicate["id"], host_a.as_str());
    assert_eq!(
        duplicate["possible_duplicate_of"],
        host_a.as_str(),
        "{duplicate}"
    );
    assert_eq!(duplicate["os_name"], "PWNED OS");

    let after = collector.get(&format!("/api/v1/hosts/{host_a}")).await?;
    let after = &after["host"];
    for field in [
        "package_count",
        "os_name",
        "os_version",
        "agent_id",
        "machine_id",
        "hostname",
    ] {
        assert_eq!(
            after[field], before[field],
            "host A's {field} changed: {after}"
        );
    }
    assert_ne!(after["os_name"], "PWNED OS");

    let events = collector
        .get(&format!("/api/v1/hosts/{host_a}/identity-events"))
        .await?;
    let items = events["items"].as_array().cloned().unwrap_or_default();
    assert_eq!(items.len(), 1, "{events}");
    assert_eq!(items[0]["kind"], "conflict");
    assert_eq!(items[0]["rule"], "machine_id");
    assert_eq!(items[0]["old_agent_id"], before["agent_id"]);
    assert_eq!(items[0]["new_agent_id"], intruder_id.as_str());
    assert_eq!(items[0]["new_host_id"], duplicate["id"]);
    let fleet = collector
        .get("/api/v1/identity-events?kind=conflict")
        .await?;
    assert_eq!(fleet["items"].as_array().map(Vec::len), Some(1), "{fleet}");
    Ok(())
}
