//! The walking skeleton: enrollment over TLS, the inventory round trip,
//! every refusal with a clear error, hostile messages, and a collector crash.

use std::time::Duration;

use anyhow::Result;
use prost::Message;
use rollcall_proto::v1::{AgentMessage, Hello, agent_message::Body};
use rollcall_tests::{
    Agent, Collector, CollectorOptions, Process, dpkg_installed_count, raw, wait_for,
};
use serde_json::Value;

fn meminfo_total_bytes() -> i64 {
    let text = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
    text.lines()
        .find_map(|line| line.strip_prefix("MemTotal:"))
        .and_then(|rest| {
            rest.trim()
                .trim_end_matches("kB")
                .trim()
                .parse::<i64>()
                .ok()
        })
        .map(|kb| kb * 1024)
        .unwrap_or(0)
}

fn os_release_pretty_name() -> String {
    let text = std::fs::read_to_string("/etc/os-release").unwrap_or_default();
    text.lines()
        .find_map(|line| line.strip_prefix("PRETTY_NAME="))
        .map(|value| value.trim_matches('"').to_string())
        .unwrap_or_default()
}

/// A collector in `dir` and a real agent on this machine's own root,
/// enrolled and running; returns them, the agent's process and its host
/// once the host has an inventory.
async fn live_host(dir: &std::path::Path) -> Result<(Collector, Agent, Process, Value)> {
    let collector = Collector::start(dir, &CollectorOptions::default())?;
    let token = collector.enrollment_token(1, 600).await?;
    let agent = Agent::new(dir, "agent", &[&collector.grpc_url], "")?;
    let (ok, output) = agent.enroll(&collector.grpc_url, &token, &collector.ca_fingerprint)?;
    assert!(ok, "enroll failed: {output}");
    let process = agent.run()?;
    let host = collector.host_with_inventory().await?;
    Ok((collector, agent, process, host))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn agent_enrolls_over_tls_and_its_inventory_reads_back_through_the_api() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let (collector, agent, _process, host) = live_host(dir.path()).await?;

    assert_eq!(
        host["package_count"].as_i64(),
        Some(dpkg_installed_count() as i64),
        "package count vs dpkg status"
    );
    let hostname = std::fs::read_to_string("/proc/sys/kernel/hostname")?
        .trim()
        .to_string();
    assert_eq!(host["hostname"], hostname);
    assert_eq!(host["os_name"], os_release_pretty_name());
    assert_eq!(host["memory_bytes"].as_i64(), Some(meminfo_total_bytes()));
    assert_eq!(host["agent_id"], agent.agent_id()?);

    let id = host["id"].as_str().unwrap_or_default();
    let detail = collector.get(&format!("/api/v1/hosts/{id}")).await?;
    let packages = detail["inventory"]["software"]
        .as_array()
        .map(Vec::len)
        .unwrap_or(0);
    assert_eq!(packages, dpkg_installed_count());
    assert!(
        detail["inventory"]["os"]["kernel"]
            .as_str()
            .is_some_and(|kernel| !kernel.is_empty())
    );
    assert!(
        detail["inventory"]["network_adapter"]
            .as_array()
            .is_some_and(|list| !list.is_empty())
    );
    let csv = reqwest::Client::new()
        .get(format!("{}/api/v1/hosts?format=csv", collector.api_url))
        .bearer_auth(&collector.admin_token)
        .send()
        .await?
        .text()
        .await?;
    assert!(
        csv.starts_with("agent_id,") && csv.contains(&hostname),
        "{csv}"
    );
    // Asset queries: hosts by package version with dpkg ordering, and the catalogue.
    let output = std::process::Command::new("dpkg-query")
        .args(["-W", "-f=${Version}", "bash"])
        .output()?;
    let bash = String::from_utf8_lossy(&output.stdout).trim().to_string();
    // `+` must be percent-encoded in a query string (it would read as a space).
    let query = |condition: &str| {
        format!(
            "/api/v1/hosts?software=bash&{}",
            condition.replace('+', "%2B")
        )
    };
    let count = |value: Value| value["items"].as_array().map(Vec::len).unwrap_or(99);
    assert_eq!(
        count(collector.get(&query(&format!("version_ge={bash}"))).await?),
        1
    );
    assert_eq!(
        count(collector.get(&query(&format!("version_eq={bash}"))).await?),
        1
    );
    assert_eq!(
        count(collector.get(&query(&format!("version_lt={bash}"))).await?),
        0
    );
    assert_eq!(
        count(
            collector
                .get(&query(&format!("version_lt={bash}~really1")))
                .await?
        ),
        0,
        "a ~ suffix sorts before the release"
    );
    assert_eq!(
        count(
            collector
                .get(&query(&format!("version_lt={bash}+1")))
                .await?
        ),
        1
    );
    assert_eq!(
        count(
            collector
                .get("/api/v1/hosts?software=no-such-package")
                .await?
        ),
        0
    );
    let (status, _) = collector
        .api(
            reqwest::Method::GET,
            "/api/v1/hosts?version_lt=1",
            Some(&collector.admin_token),
            None,
        )
        .await?;
    assert_eq!(
        status, 400,
        "a version bound without a package name is refused"
    );
    let catalogue = collector.get("/api/v1/software?name=bash").await?;
    assert_eq!(catalogue["items"][0]["version"], bash.as_str());
    assert_eq!(catalogue["items"][0]["hosts"], 1);
    let names = collector.get("/api/v1/software").await?;
    let distinct: std::collections::BTreeSet<&str> = detail["inventory"]["software"]
        .as_array()
        .map(|list| list.iter().filter_map(|p| p["name"].as_str()).collect())
        .unwrap_or_default();
    assert_eq!(
        names["items"].as_array().map(Vec::len),
        Some(distinct.len())
    );
    let metrics = collector.metrics().await?;
    assert!(
        metrics.contains("rollcall_hosts{presence=\"up\"} 1"),
        "{metrics}"
    );
    assert!(metrics.contains("rollcall_sessions_open 1"), "{metrics}");
    assert!(
        metrics.contains("rollcall_messages_total{type=\"snapshot\"}"),
        "{metrics}"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn enrollment_refusals_are_clear() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let collector = Collector::start(dir.path(), &CollectorOptions::default())?;
    let url = collector.grpc_url.clone();

    // A wrong CA fingerprint: the agent refuses to trust the collector.
    let token = collector.enrollment_token(5, 600).await?;
    let agent = Agent::new(dir.path(), "wrong-fingerprint", &[&url], "")?;
    let (ok, output) = agent.enroll(&url, &token, &"ab".repeat(32))?;
    assert!(
        !ok && output.contains("CA fingerprint mismatch"),
        "{output}"
    );
    assert!(!agent.state_dir.join("cert.pem").exists());

    // An unknown token.
    let (ok, output) = agent.enroll(&url, "rcenr_not-a-token", &collector.ca_fingerprint)?;
    assert!(
        !ok && output.contains("enrollment token is not valid"),
        "{output}"
    );

    // A used-up token: one use, two agents.
    let single = collector.enrollment_token(1, 600).await?;
    let first = Agent::new(dir.path(), "first", &[&url], "")?;
    let (ok, output) = first.enroll(&url, &single, &collector.ca_fingerprint)?;
    assert!(ok, "{output}");
    let second = Agent::new(dir.path(), "second", &[&url], "")?;
    let (ok, output) = second.enroll(&url, &single, &collector.ca_fingerprint)?;
    assert!(!ok && output.contains("used up"), "{output}");

    // An expired token.
    let short = collector.enrollment_token(1, 1).await?;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let late = Agent::new(dir.path(), "late", &[&url], "")?;
    let (ok, output) = late.enroll(&url, &short, &collector.ca_fingerprint)?;
    assert!(!ok && output.contains("expired"), "{output}");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessions_without_a_valid_client_certificate_are_refused() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let collector = Collector::start(dir.path(), &CollectorOptions::default())?;
    let other = Collector::start(&dir.path().join("other"), &CollectorOptions::default())?;
    let ca_pem = std::fs::read_to_string(collector.data_dir.join("ca.pem"))?;

    // No client certificate at all.
    let channel = raw::channel(&collector.grpc_url, &ca_pem, None).await?;
    let hello = AgentMessage {
        seq: 0,
        sent_at_ms: 0,
        body: Some(Body::Hello(Box::default())),
    }
    .encode_to_vec();
    let status = raw::session(channel, vec![hello.clone()])
        .await
        .expect_err("session without certificate");
    assert_eq!(status.code(), tonic::Code::Unauthenticated);
    assert!(
        status.message().contains("client certificate is required"),
        "{}",
        status.message()
    );

    // The agent binary says so too when it was never enrolled.
    let unenrolled = Agent::new(dir.path(), "unenrolled", &[&collector.grpc_url], "")?;
    let mut process = unenrolled.run()?;
    let exit = process.wait_exit(Duration::from_secs(20));
    assert!(exit.is_some_and(|status| !status.success()));
    assert!(
        process.stderr_text().contains("not enrolled"),
        "{}",
        process.stderr_text()
    );

    // A certificate from another collector's CA, trusting this collector's CA.
    let token = other.enrollment_token(1, 600).await?;
    let foreign = Agent::new(dir.path(), "foreign", &[&other.grpc_url], "")?;
    let (ok, output) = foreign.enroll(&other.grpc_url, &token, &other.ca_fingerprint)?;
    assert!(ok, "{output}");
    std::fs::write(foreign.state_dir.join("ca.pem"), &ca_pem)?;
    let cert = std::fs::read_to_string(foreign.state_dir.join("cert.pem"))?;
    let key = std::fs::read_to_string(foreign.state_dir.join("key.pem"))?;
    let refused = match raw::channel(&collector.grpc_url, &ca_pem, Some((&cert, &key))).await {
        Err(error) => format!("{error:?}"),
        Ok(channel) => format!(
            "{:?}",
            raw::session(channel, vec![hello])
                .await
                .expect_err("foreign certificate accepted")
        ),
    };
    assert!(
        refused.to_lowercase().contains("certificate")
            || refused.contains("UnknownCA")
            || refused.contains("transport"),
        "{refused}"
    );
    // And the real agent binary, pointed at the wrong collector, explains it.
    let misdirected = Agent::new(dir.path(), "foreign", &[&collector.grpc_url], "")?;
    let process = misdirected.run()?;
    let message = wait_for(
        "a clear certificate error",
        Duration::from_secs(30),
        || async {
            let text = process.stderr_text();
            text.contains("rejected this agent's certificate")
                .then_some(text)
        },
    )
    .await?;
    assert!(message.contains(&collector.grpc_url), "{message}");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_requires_a_valid_token_with_the_right_role() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let collector = Collector::start(dir.path(), &CollectorOptions::default())?;
    let (status, body) = collector
        .api(reqwest::Method::GET, "/api/v1/hosts", None, None)
        .await?;
    assert_eq!(status, 401);
    assert!(
        body["error"]
            .as_str()
            .is_some_and(|text| text.contains("Authorization")),
        "{body}"
    );
    let (status, body) = collector
        .api(
            reqwest::Method::GET,
            "/api/v1/hosts",
            Some("rcapi_forged"),
            None,
        )
        .await?;
    assert_eq!(status, 401);
    assert!(
        body["error"]
            .as_str()
            .is_some_and(|text| text.contains("not valid")),
        "{body}"
    );
    let (status, _) = collector
        .api(reqwest::Method::GET, "/healthz", None, None)
        .await?;
    assert_eq!(status, 200);

    let (status, viewer) = collector
        .api(
            reqwest::Method::POST,
            "/api/v1/api-tokens",
            Some(&collector.admin_token),
            Some(serde_json::json!({"name": "ro", "role": "viewer"})),
        )
        .await?;
    assert_eq!(status, 201);
    let viewer = viewer["token"].as_str().unwrap_or_default().to_string();
    let (status, _) = collector
        .api(reqwest::Method::GET, "/api/v1/hosts", Some(&viewer), None)
        .await?;
    assert_eq!(status, 200);
    let (status, body) = collector
        .api(
            reqwest::Method::POST,
            "/api/v1/enrollment-tokens",
            Some(&viewer),
            Some(serde_json::json!({})),
        )
        .await?;
    assert_eq!(status, 403, "{body}");

    // Bad queries get a 400 with a reason, never a 500.
    for path in [
        "/api/v1/hosts?limit=0",
        "/api/v1/hosts?limit=abc",
        "/api/v1/hosts?format=xml",
        "/api/v1/changes?cursor=zz",
        "/api/v1/hosts?bogus=1",
    ] {
        let (status, body) = collector
            .api(reqwest::Method::GET, path, Some(&viewer), None)
            .await?;
        assert_eq!(status, 400, "{path}: {body}");
        assert!(body["error"].is_string(), "{path}: {body}");
    }
    let (status, _) = collector
        .api(
            reqwest::Method::GET,
            "/api/v1/hosts/nope",
            Some(&viewer),
            None,
        )
        .await?;
    assert_eq!(status, 404);
    let (status, body) = collector
        .api(
            reqwest::Method::POST,
            "/api/v1/enrollment-tokens",
            Some(&collector.admin_token),
            Some(serde_json::json!({"max_uses": -3})),
        )
        .await?;
    assert_eq!(status, 400, "{body}");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_and_oversized_messages_get_a_status_and_other_agents_carry_on() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let collector = Collector::start(dir.path(), &CollectorOptions::default())?;
    let token = collector.enrollment_token(2, 600).await?;
    let good = Agent::new(dir.path(), "good", &[&collector.grpc_url], "")?;
    let bad = Agent::new(dir.path(), "bad", &[&collector.grpc_url], "")?;
    for agent in [&good, &bad] {
        let (ok, output) = agent.enroll(&collector.grpc_url, &token, &collector.ca_fingerprint)?;
        assert!(ok, "{output}");
    }
    let good_process = good.run()?;
    let host = collector.host_with_inventory().await?;
    let host_id = host["id"].as_str().unwrap_or_default().to_string();

    let hello = AgentMessage {
        seq: 0,
        sent_at_ms: rollcall_proto::now_ms(),
        body: Some(Body::Hello(Box::new(Hello {
            agent_id: bad.agent_id()?,
            ..Default::default()
        }))),
    }
    .encode_to_vec();
    // Not protobuf at all.
    let channel = raw::agent_channel(&collector.grpc_url, &bad.state_dir).await?;
    let status = raw::session(channel, vec![hello.clone(), vec![0xff; 64]])
        .await
        .expect_err("garbage accepted");
    assert_eq!(status.code(), tonic::Code::InvalidArgument, "{status:?}");
    assert!(
        status.message().contains("malformed message"),
        "{}",
        status.message()
    );
    // Larger than the 4 MiB limit.
    let channel = raw::agent_channel(&collector.grpc_url, &bad.state_dir).await?;
    let status = raw::session(channel, vec![hello.clone(), vec![0u8; 5 << 20]])
        .await
        .expect_err("oversized accepted");
    assert!(
        matches!(
            status.code(),
            tonic::Code::ResourceExhausted | tonic::Code::OutOfRange
        ),
        "{status:?}"
    );
    // Valid protobuf, hostile values: a 5 KB package name.
    let hostile = AgentMessage {
        seq: 1,
        sent_at_ms: rollcall_proto::now_ms(),
        body: Some(Body::Snapshot(Box::new(
            rollcall_proto::v1::InventorySnapshot {
                inventory: Some(rollcall_proto::v1::Inventory {
                    packages: vec![rollcall_proto::v1::Package {
                        name: "x".repeat(5000),
                        ..Default::default()
                    }],
                    ..Default::default()
                }),
            },
        ))),
    }
    .encode_to_vec();
    // Refused alone (and acknowledged, so an agent's spool lets it go); the
    // session is not ended for it.
    let channel = raw::agent_channel(&collector.grpc_url, &bad.state_dir).await?;
    let replies = raw::session(channel, vec![hello, hostile]).await?;
    match raw::refusals(&replies).as_slice() {
        [(1, reason)] => assert!(reason.contains("limit"), "{reason}"),
        other => anyhow::bail!("expected one refusal of seq 1, got {other:?}"),
    }
    let metrics = collector.metrics().await?;
    let rejected = metrics
        .lines()
        .find_map(|line| line.strip_prefix("rollcall_messages_rejected_total "))
        .and_then(|value| value.trim().parse::<u64>().ok())
        .unwrap_or(0);
    assert!(rejected >= 2, "every hostile message is counted: {metrics}");
    assert!(
        metrics.contains("rollcall_messages_refused_total 1"),
        "the refused snapshot is counted: {metrics}"
    );

    // The good agent is still served: its host keeps being seen.
    let before = collector.get(&format!("/api/v1/hosts/{host_id}")).await?["host"]["last_seen_at"]
        .as_i64()
        .unwrap_or(0);
    wait_for(
        "the good agent's next heartbeat",
        Duration::from_secs(15),
        || async {
            let now = collector
                .get(&format!("/api/v1/hosts/{host_id}"))
                .await
                .ok()?["host"]["last_seen_at"]
                .as_i64()?;
            (now > before).then_some(())
        },
    )
    .await?;
    for other in collector
        .hosts()
        .await?
        .iter()
        .filter(|other| other["id"] != host_id.as_str())
    {
        assert_eq!(
            other["package_count"], 0,
            "nothing of the hostile snapshot was stored: {other}"
        );
        let detail = collector
            .get(&format!(
                "/api/v1/hosts/{}",
                other["id"].as_str().unwrap_or_default()
            ))
            .await?;
        assert_eq!(detail["inventory"], serde_json::json!({}), "{detail}");
    }
    drop(good_process);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn collector_kill_9_and_restart_loses_nothing_and_the_agent_reconnects() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let mut collector = Collector::start(dir.path(), &CollectorOptions::default())?;
    let token = collector.enrollment_token(1, 600).await?;
    let agent = Agent::new(dir.path(), "agent", &[&collector.grpc_url], "")?;
    let (ok, output) = agent.enroll(&collector.grpc_url, &token, &collector.ca_fingerprint)?;
    assert!(ok, "{output}");
    let process = agent.run()?;
    let host = collector.host_with_inventory().await?;
    let id = host["id"].as_str().unwrap_or_default().to_string();
    let before = collector.get(&format!("/api/v1/hosts/{id}")).await?;
    let changes_before = collector
        .get(&format!("/api/v1/hosts/{id}/changes?limit=1000"))
        .await?["items"]
        .as_array()
        .map(Vec::len)
        .unwrap_or(0);

    collector.crash_and_restart()?;
    let restarted_at = rollcall_proto::now_ms();
    wait_for(
        "the agent to reconnect by itself",
        Duration::from_secs(30),
        || async {
            let detail = collector.get(&format!("/api/v1/hosts/{id}")).await.ok()?;
            (detail["host"]["last_seen_at"].as_i64()? > restarted_at).then_some(())
        },
    )
    .await?;
    let after = collector.get(&format!("/api/v1/hosts/{id}")).await?;
    assert_eq!(collector.hosts().await?.len(), 1, "still one host");
    assert_eq!(
        after["host"]["package_count"],
        before["host"]["package_count"]
    );
    assert_eq!(
        after["inventory"]["software"],
        before["inventory"]["software"]
    );
    let changes_after = collector
        .get(&format!("/api/v1/hosts/{id}/changes?limit=1000"))
        .await?["items"]
        .as_array()
        .map(Vec::len)
        .unwrap_or(0);
    assert!(changes_after >= changes_before);
    assert!(process.stderr_text().contains("session established"));
    Ok(())
}

/// Runs `rollcall quickstart` on ports the kernel picks until it prints
/// where to look; returns the process, its output so far, the API base URL,
/// and its stderr so far (for failure messages).
fn quickstart(
    data_dir: &std::path::Path,
    stderr_path: &std::path::Path,
) -> Result<(std::process::Child, Vec<String>, String)> {
    use std::io::BufRead;
    let mut child = std::process::Command::new(rollcall_tests::bin("rollcall"))
        .arg("quickstart")
        .arg("--data-dir")
        .arg(data_dir)
        .args([
            "--grpc-listen",
            "127.0.0.1:0",
            "--api-listen",
            "127.0.0.1:0",
        ])
        .stdout(std::process::Stdio::piped())
        .stderr(std::fs::File::create(stderr_path)?)
        .spawn()?;
    let stdout = child
        .stdout
        .take()
        .ok_or_else(|| anyhow::anyhow!("no stdout"))?;
    let mut lines = Vec::new();
    let mut reader = std::io::BufReader::new(stdout).lines();
    for line in reader.by_ref().map_while(|line| line.ok()) {
        let done = line.trim_start().starts_with("ROLLCALL_API_URL=");
        lines.push(line);
        if done {
            break;
        }
    }
    // Keep reading what it prints later, as a terminal would.
    std::thread::spawn(move || reader.map_while(|line| line.ok()).for_each(drop));
    let api = lines
        .iter()
        .find_map(|line| line.trim().strip_prefix("API:"))
        .and_then(|rest| rest.trim().strip_suffix("/api/v1/hosts"))
        .map(String::from)
        .ok_or_else(|| {
            let stderr = std::fs::read_to_string(stderr_path).unwrap_or_default();
            anyhow::anyhow!(
                "quickstart printed no API address:\n{}\nstderr:\n{stderr}",
                lines.join("\n")
            )
        })?;
    Ok((child, lines, api))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quickstart_runs_a_collector_and_a_local_agent_and_reuses_them() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let data_dir = dir.path().join("rollcall-data");
    let stderr_path = dir.path().join("quickstart.err");
    let (mut first, output, api) = quickstart(&data_dir, &stderr_path)?;
    let text = output.join("\n");
    assert!(text.contains("enrolled the local agent as"), "{text}");
    let token = output
        .iter()
        .find_map(|line| line.trim().strip_prefix("admin token:"))
        .map(|token| token.trim().to_string())
        .ok_or_else(|| anyhow::anyhow!("no admin token printed: {text}"))?;
    assert!(token.starts_with("rcapi_"), "{text}");
    assert!(api.starts_with("http://127.0.0.1:"), "{text}");
    let client = reqwest::Client::new();
    let hosts = |client: reqwest::Client, api: String, token: String| async move {
        let response = client
            .get(format!("{api}/api/v1/hosts"))
            .bearer_auth(token)
            .send()
            .await
            .ok()?;
        let body: Value = response.json().await.ok()?;
        body["items"].as_array().cloned()
    };
    let listed = wait_for("the local host", Duration::from_secs(150), || async {
        hosts(client.clone(), api.clone(), token.clone())
            .await
            .filter(|list| {
                list.iter()
                    .any(|host| host["package_count"].as_i64().unwrap_or(0) > 0)
            })
    })
    .await
    .map_err(|error| {
        anyhow::anyhow!(
            "{error}; stderr:\n{}",
            std::fs::read_to_string(&stderr_path).unwrap_or_default()
        )
    })?;
    let agent_id = listed[0]["agent_id"].clone();
    let _ = std::process::Command::new("kill")
        .args(["-INT", &first.id().to_string()])
        .status();
    let _ = first.wait();

    let (mut second, output, api) = quickstart(&data_dir, &stderr_path)?;
    let text = output.join("\n");
    assert!(text.contains("reusing the local agent"), "{text}");
    assert!(
        text.contains(&token),
        "the admin token is shown again: {text}"
    );
    let listed = wait_for("the host again", Duration::from_secs(120), || async {
        hosts(client.clone(), api.clone(), token.clone()).await
    })
    .await?;
    assert_eq!(listed.len(), 1, "no second enrollment");
    assert_eq!(listed[0]["agent_id"], agent_id);
    let _ = second.kill();
    let _ = second.wait();
    Ok(())
}

/// `text` with every byte but ASCII letters and digits percent-encoded.
fn query_value(text: &str) -> String {
    text.bytes()
        .map(|byte| {
            if byte.is_ascii_alphanumeric() {
                (byte as char).to_string()
            } else {
                format!("%{byte:02X}")
            }
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn version_filters_agree_with_dpkg_on_this_machines_packages() -> Result<()> {
    // A real agent on this machine: its packages are dpkg's own.
    let dir = tempfile::tempdir()?;
    let (collector, _agent, _process, host) = live_host(dir.path()).await?;
    let id = host["id"].as_str().unwrap_or_default();
    let detail = collector.get(&format!("/api/v1/hosts/{id}")).await?;
    let mut packages: Vec<(String, String)> = detail["inventory"]["software"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|item| item["manager"] == "dpkg")
        .filter_map(|item| {
            Some((
                item["name"].as_str()?.to_string(),
                item["version"].as_str()?.to_string(),
            ))
        })
        .collect();
    packages.sort();
    // A name listed twice (two architectures) has two versions: left out.
    let twice: Vec<String> = packages
        .windows(2)
        .filter(|pair| pair[0].0 == pair[1].0)
        .map(|pair| pair[0].0.clone())
        .collect();
    packages.retain(|(name, _)| !twice.contains(name));
    assert!(packages.len() > 100, "{} dpkg packages", packages.len());

    // Every 40th package, bounds: its own version, just below and above it
    // (`~`, `+1`), and the real versions of the next five packages; each
    // bound with each comparison, the API against dpkg itself.
    let ops = [
        ("<", "lt"),
        ("<=", "le"),
        ("=", "eq"),
        (">=", "ge"),
        (">", "gt"),
    ];
    let mut checked = 0;
    let mut matched = 0;
    for (index, (name, version)) in packages.iter().enumerate().step_by(40) {
        let installed = std::process::Command::new("dpkg-query")
            .args(["-W", "-f=${Version}", name])
            .output()?;
        assert_eq!(
            String::from_utf8_lossy(&installed.stdout).trim(),
            version,
            "the agent reports dpkg's version of {name}"
        );
        let mut bounds = vec![
            version.clone(),
            format!("{version}~1"),
            format!("{version}+1"),
        ];
        bounds.extend(
            packages
                .iter()
                .cycle()
                .skip(index + 1)
                .take(5)
                .map(|(_, other)| other.clone()),
        );
        for bound in &bounds {
            for (op, dpkg_op) in ops {
                let page = collector
                    .get(&format!(
                        "/api/v1/hosts?software={}&version={}&op={}",
                        query_value(name),
                        query_value(bound),
                        query_value(op)
                    ))
                    .await?;
                let returned = page["items"].as_array().map_or(0, Vec::len);
                let dpkg = std::process::Command::new("dpkg")
                    .args(["--compare-versions", version, dpkg_op, bound])
                    .status()?
                    .success();
                assert_eq!(
                    returned,
                    usize::from(dpkg),
                    "{name} {version} {op} {bound}: the API and dpkg disagree"
                );
                checked += 1;
                matched += returned;
            }
        }
    }
    assert!(checked > 500, "{checked} comparisons");
    assert!(matched > 0 && matched < checked, "{matched} of {checked}");
    Ok(())
}
