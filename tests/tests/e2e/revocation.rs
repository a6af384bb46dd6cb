//! Revocation and certificate renewal (issue 12) with the real collector and
//! agent processes: revoking an agent mid-session ends its stream within a
//! second (`Revoked`, then the end of the stream) and nothing it sends later
//! is applied; an agent with a short certificate renews it on its own and
//! keeps reporting; a revoked agent's `Renew` is refused.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use prost::Message;
use rollcall_proto::v1::agent_message::Body;
use rollcall_proto::v1::collector_message::Body as Reply;
use rollcall_proto::v1::{AgentMessage, CollectorMessage, Heartbeat, Hello, Identity};
use rollcall_tests::{Agent, Collector, CollectorOptions, copy_tree, raw, wait_for};
use serde_json::Value;

fn fixture_root(dir: &Path) -> Result<PathBuf> {
    let source = Path::new(env!("CARGO_MANIFEST_DIR")).join("../agent/tests/fixtures/host-debian");
    let root = dir.join("root");
    copy_tree(&source, &root).context("copy the host-debian fixture")?;
    Ok(root)
}

async fn enrolled_agent(collector: &Collector, dir: &Path, name: &str) -> Result<Agent> {
    let root = fixture_root(&dir.join(name))?;
    let token = collector.enrollment_token(1, 600).await?;
    let agent = Agent::new(
        dir,
        name,
        &[&collector.grpc_url],
        &format!("root = {:?}\n", root.display().to_string()),
    )?;
    let (ok, output) = agent.enroll(&collector.grpc_url, &token, &collector.ca_fingerprint)?;
    if !ok {
        bail!("enroll failed: {output}");
    }
    Ok(agent)
}

async fn agent_record(collector: &Collector, agent_id: &str) -> Result<Value> {
    collector.get(&format!("/api/v1/agents/{agent_id}")).await
}

async fn last_seq(collector: &Collector, agent_id: &str) -> Result<i64> {
    Ok(agent_record(collector, agent_id).await?["last_seq"]
        .as_i64()
        .unwrap_or(0))
}

async fn host(collector: &Collector, host_id: &str) -> Result<Value> {
    Ok(collector.get(&format!("/api/v1/hosts/{host_id}")).await?["host"].clone())
}

/// The identity the host record holds, so a raw Hello lands on the same CI.
fn identity_of(host: &Value) -> Identity {
    let text = |key: &str| host[key].as_str().unwrap_or_default().to_string();
    Identity {
        machine_id: text("machine_id"),
        dmi_uuid: text("dmi_uuid"),
        dmi_serial: text("dmi_serial"),
        hostname: text("hostname"),
        macs: text("macs")
            .split(',')
            .filter(|mac| !mac.is_empty())
            .map(String::from)
            .collect(),
        ..Default::default()
    }
}

/// A Hello followed by `count` heartbeats numbered from `first_seq`: what
/// an agent that ignores revocation would send.
fn frames(agent_id: &str, identity: &Identity, first_seq: u64, count: u64) -> Vec<Vec<u8>> {
    let now = rollcall_proto::now_ms();
    let mut frames = vec![
        AgentMessage {
            seq: 0,
            sent_at_ms: now,
            body: Some(Body::Hello(Box::new(Hello {
                agent_id: agent_id.into(),
                agent_version: "test".into(),
                identity: Some(identity.clone()),
                ..Default::default()
            }))),
        }
        .encode_to_vec(),
    ];
    frames.extend((0..count).map(|offset| {
        AgentMessage {
            seq: first_seq + offset,
            sent_at_ms: now,
            body: Some(Body::Heartbeat(Heartbeat { agent_uptime_s: 1 })),
        }
        .encode_to_vec()
    }));
    frames
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revoking_an_agent_mid_session_ends_its_stream_within_a_second_and_stops_applying()
-> Result<()> {
    let dir = tempfile::tempdir()?;
    let collector = Collector::start(dir.path(), &CollectorOptions::default())?;
    let agent = enrolled_agent(&collector, dir.path(), "agent").await?;
    let agent_id = agent.agent_id()?;
    let mut process = agent.run()?;
    let host_id = wait_for("the agent's host up", Duration::from_secs(60), || async {
        let record = agent_record(&collector, &agent_id).await.ok()?;
        let host_id = record["host_id"].as_str()?.to_string();
        (record["last_seq"].as_i64()? > 2
            && host(&collector, &host_id).await.ok()?["presence"] == "up")
            .then_some(host_id)
    })
    .await?;

    // A second session with the same certificate that keeps sending: it
    // shows when the stream ends and that nothing after the revocation counts.
    let channel = raw::agent_channel(&collector.grpc_url, &agent.state_dir).await?;
    // A few numbers ahead of the agent, which soon passes it again: before
    // the revocation both sessions are being applied.
    let enrolled_version = agent_record(&collector, &agent_id).await?["version"].clone();
    assert_ne!(enrolled_version, "test", "the real agent's version");
    let start_seq = u64::try_from(last_seq(&collector, &agent_id).await?)? + 3;
    let identity = identity_of(&host(&collector, &host_id).await?);
    let hostile = tokio::spawn(raw::session(
        channel,
        frames(&agent_id, &identity, start_seq, 1),
    ));
    wait_for(
        "the agent applying past the raw session's heartbeat",
        Duration::from_secs(30),
        || async {
            (last_seq(&collector, &agent_id).await.ok()? > start_seq as i64 + 2).then_some(())
        },
    )
    .await?;

    // The raw session's Hello said version "test": the collector keeps the
    // version of the latest Hello, and "test" is not semver, so outdated.
    let version = agent_record(&collector, &agent_id).await?["version"].clone();
    assert_eq!(version, "test", "version from the raw session's Hello");
    let outdated = collector.get("/api/v1/agents?outdated=true").await?;
    assert_eq!(outdated["items"][0]["id"], agent_id.as_str(), "{outdated}");

    let revoked_at = Instant::now();
    let (status, body) = collector
        .api(
            reqwest::Method::POST,
            &format!("/api/v1/agents/{agent_id}/revoke"),
            Some(&collector.admin_token),
            None,
        )
        .await?;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body["sessions_ended"], 2,
        "the agent's and the raw one: {body}"
    );
    let replies = hostile
        .await?
        .map_err(|status| anyhow::anyhow!("{status}"))?;
    let ended_after = revoked_at.elapsed();
    let last = replies
        .last()
        .map(|bytes| CollectorMessage::decode(bytes.as_slice()))
        .transpose()?;
    assert!(
        matches!(
            last,
            Some(CollectorMessage {
                body: Some(Reply::Revoked(_))
            })
        ),
        "the last reply is Revoked: {last:?}"
    );
    assert!(
        ended_after < Duration::from_secs(1),
        "the stream ended {ended_after:?} after the revocation"
    );

    // The real agent is told, says so, and stops for good.
    wait_for(
        "the agent to log its revocation",
        Duration::from_secs(1),
        || async { process.stderr_text().contains("revoked").then_some(()) },
    )
    .await?;
    let exit = process.wait_exit(Duration::from_secs(10));
    assert_eq!(
        exit.and_then(|status| status.code()),
        Some(3),
        "the revoked agent exits with status 3 (systemd's RestartPreventExitStatus) instead of reconnecting: {exit:?}\n{}",
        process.stderr_text()
    );
    assert!(
        process.stderr_text().contains("not reconnecting"),
        "{}",
        process.stderr_text()
    );

    // Nothing more is applied: the sequence stands still and the host is no
    // longer up (suspect at once, then down). Liveness is written in
    // batches (up to 200 ms, retried while the store is busy), so a message
    // received before the revocation may be recorded a moment after it:
    // the sequence is read once it has held for a second.
    let mut frozen = last_seq(&collector, &agent_id).await?;
    for _ in 0..10 {
        tokio::time::sleep(Duration::from_secs(1)).await;
        let now = last_seq(&collector, &agent_id).await?;
        if now == frozen {
            break;
        }
        frozen = now;
    }
    let retried = raw::session(
        raw::agent_channel(&collector.grpc_url, &agent.state_dir).await?,
        frames(&agent_id, &identity, start_seq + 10, 3),
    )
    .await;
    assert_eq!(
        retried.err().map(|status| status.code()),
        Some(tonic::Code::PermissionDenied),
        "a revoked agent cannot open a new session"
    );
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(last_seq(&collector, &agent_id).await?, frozen);
    let presence = host(&collector, &host_id).await?["presence"].clone();
    assert!(
        presence == "suspect" || presence == "down",
        "the host is not kept up by a revoked agent: {presence}"
    );
    Ok(())
}

/// SHA-256 of the certificate in `path` (DER), as the collector records it.
fn file_fingerprint(path: &Path) -> Result<String> {
    use sha2::Digest;
    let text = std::fs::read_to_string(path)?;
    let body: String = text
        .lines()
        .filter(|line| !line.starts_with("-----"))
        .collect();
    let der = base64_decode(&body)?;
    Ok(hex::encode(sha2::Sha256::digest(der)))
}

/// Standard base64 without padding rules beyond `=`; enough for PEM bodies.
fn base64_decode(text: &str) -> Result<Vec<u8>> {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = Vec::with_capacity(text.len() * 3 / 4);
    let (mut buffer, mut bits) = (0u32, 0u32);
    for byte in text.bytes().filter(|byte| *byte != b'=') {
        let value = ALPHABET
            .iter()
            .position(|candidate| *candidate == byte)
            .context("not base64")? as u32;
        buffer = (buffer << 6) | value;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((buffer >> bits) as u8);
        }
    }
    Ok(out)
}

fn mode(path: &Path) -> Result<u32> {
    use std::os::unix::fs::PermissionsExt;
    Ok(std::fs::metadata(path)?.permissions().mode() & 0o777)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agent_with_a_sixty_second_certificate_renews_it_and_keeps_its_session() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let collector = Collector::start(
        dir.path(),
        &CollectorOptions {
            extra_toml: "[agents]\nheartbeat_interval_s = 1\nhealth_interval_s = 2\ninventory_interval_s = 3\ncertificate_validity_s = 60\n".into(),
            ..Default::default()
        },
    )?;
    let agent = enrolled_agent(&collector, dir.path(), "agent").await?;
    let enrolled_at = Instant::now();
    let agent_id = agent.agent_id()?;
    let original = agent_record(&collector, &agent_id).await?["cert_fingerprint"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert_eq!(
        original,
        file_fingerprint(&agent.state_dir.join("cert.pem"))?
    );
    let mut process = agent.run()?;
    let host_id = wait_for("the agent's host up", Duration::from_secs(60), || async {
        let record = agent_record(&collector, &agent_id).await.ok()?;
        let host_id = record["host_id"].as_str()?.to_string();
        (host(&collector, &host_id).await.ok()?["presence"] == "up").then_some(host_id)
    })
    .await?;

    // Two thirds of 60 s: renewed about 40 s in.
    let renewed = wait_for(
        "the certificate renewed",
        Duration::from_secs(75),
        || async {
            let record = agent_record(&collector, &agent_id).await.ok()?;
            let current = record["cert_fingerprint"].as_str()?.to_string();
            (current != original).then_some(record)
        },
    )
    .await?;
    let current = renewed["cert_fingerprint"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert_eq!(
        renewed["previous_fingerprint"],
        original.as_str(),
        "{renewed}"
    );
    wait_for(
        "the new certificate on disk",
        Duration::from_secs(5),
        || async {
            (file_fingerprint(&agent.state_dir.join("cert.pem")).ok()? == current).then_some(())
        },
    )
    .await?;
    for name in ["cert.pem", "key.pem"] {
        assert_eq!(mode(&agent.state_dir.join(name))?, 0o600, "{name}");
    }

    // Past the first certificate's expiry the session is still the same one,
    // still heard and still applying.
    let expired_at = enrolled_at + Duration::from_secs(62);
    tokio::time::sleep(expired_at.saturating_duration_since(Instant::now())).await;
    let before = last_seq(&collector, &agent_id).await?;
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert!(
        last_seq(&collector, &agent_id).await? > before,
        "still applying after the first certificate expired"
    );
    assert_eq!(host(&collector, &host_id).await?["presence"], "up");
    let log = process.stderr_text();
    assert_eq!(
        log.matches("session established").count(),
        1,
        "the session was kept across the renewal:\n{log}"
    );
    assert!(log.contains("agent certificate renewed"), "{log}");

    // A restarted agent connects with the new certificate, which retires the old one.
    process.kill_hard();
    let _restarted = agent.run()?;
    wait_for(
        "the old certificate retired",
        Duration::from_secs(30),
        || async {
            let record = agent_record(&collector, &agent_id).await.ok()?;
            (record["previous_fingerprint"].is_null()
                && host(&collector, &host_id).await.ok()?["presence"] == "up")
                .then_some(())
        },
    )
    .await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revoked_agent_cannot_renew_its_certificate() -> Result<()> {
    use rollcall_proto::v1::RenewRequest;
    use rollcall_proto::v1::rollcall_client::RollcallClient;
    let dir = tempfile::tempdir()?;
    let collector = Collector::start(dir.path(), &CollectorOptions::default())?;
    let agent = enrolled_agent(&collector, dir.path(), "agent").await?;
    let agent_id = agent.agent_id()?;
    let renew = |csr_pem: &str| {
        let request = RenewRequest {
            csr_pem: csr_pem.into(),
        };
        let state_dir = agent.state_dir.clone();
        let url = collector.grpc_url.clone();
        async move {
            let channel = raw::agent_channel(&url, &state_dir).await?;
            anyhow::Ok(RollcallClient::new(channel).renew(request).await)
        }
    };
    // Before the revocation the agent is heard: a bad CSR is its own error.
    let answer = renew("not a csr").await?;
    assert_eq!(
        answer.err().map(|status| status.code()),
        Some(tonic::Code::InvalidArgument)
    );
    let (status, body) = collector
        .api(
            reqwest::Method::POST,
            &format!("/api/v1/agents/{agent_id}/revoke"),
            Some(&collector.admin_token),
            None,
        )
        .await?;
    assert_eq!(status, 200, "{body}");
    let before = agent_record(&collector, &agent_id).await?["cert_fingerprint"].clone();
    let answer = renew("not a csr").await?;
    let refused = answer.err().context("a revoked agent's Renew is refused")?;
    assert_eq!(refused.code(), tonic::Code::PermissionDenied, "{refused:?}");
    assert!(refused.message().contains("revoked"), "{refused:?}");
    assert_eq!(
        agent_record(&collector, &agent_id).await?["cert_fingerprint"],
        before,
        "nothing was renewed"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revoke_served_by_one_collector_of_a_group_ends_the_session_on_another() -> Result<()> {
    let Some(url) = rollcall_tests::postgres_url().await else {
        return Ok(());
    };
    let dir = tempfile::tempdir()?;
    let options = CollectorOptions {
        database_url: Some(url),
        ..CollectorOptions::default()
    };
    let first = Collector::start(dir.path(), &options)?;
    let second = Collector::start_peer(dir.path(), "collector-2", &options, &first)?;
    assert_eq!(first.ca_fingerprint, second.ca_fingerprint, "one CA");
    // Enrolled through the first, streaming to the second only.
    let token = first.enrollment_token(1, 600).await?;
    let root = fixture_root(&dir.path().join("agent"))?;
    let agent = Agent::new(
        dir.path(),
        "agent",
        &[&second.grpc_url],
        &format!("root = {:?}\n", root.display().to_string()),
    )?;
    let (ok, output) = agent.enroll(&first.grpc_url, &token, &first.ca_fingerprint)?;
    assert!(ok, "{output}");
    let agent_id = agent.agent_id()?;
    let mut process = agent.run()?;
    wait_for(
        "the agent reporting through the second collector",
        Duration::from_secs(60),
        || async { (last_seq(&first, &agent_id).await.ok()? > 2).then_some(()) },
    )
    .await?;

    let revoked_at = Instant::now();
    let (status, body) = first
        .api(
            reqwest::Method::POST,
            &format!("/api/v1/agents/{agent_id}/revoke"),
            Some(&first.admin_token),
            None,
        )
        .await?;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["sessions_ended"], 0, "none on the first: {body}");
    // The second reads the revocation from the shared audit log (every
    // 500 ms) and ends its session: the agent is told and stops.
    wait_for(
        "the agent to learn of its revocation from the second collector",
        Duration::from_secs(10),
        || async {
            process
                .stderr_text()
                .contains("not reconnecting")
                .then_some(())
        },
    )
    .await?;
    let told_after = revoked_at.elapsed();
    eprintln!("the session on the other collector ended {told_after:?} after the revoke");
    let exit = process.wait_exit(Duration::from_secs(10));
    assert!(
        exit.is_some_and(|status| !status.success()),
        "the revoked agent exits instead of reconnecting: {exit:?}\n{}",
        process.stderr_text()
    );
    assert!(
        second
            .process
            .stderr_text()
            .contains("agent revoked elsewhere; ending its sessions here"),
        "{}",
        second.process.stderr_text()
    );
    let frozen = last_seq(&first, &agent_id).await?;
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(
        last_seq(&first, &agent_id).await?,
        frozen,
        "nothing applied"
    );
    Ok(())
}
