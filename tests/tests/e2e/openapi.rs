//! schemathesis against a live collector (the real `rollcall-collector`
//! binary), on SQLite and on PostgreSQL: every operation of the served
//! OpenAPI document, with an admin token, must give no 5xx
//! (`not_a_server_error`), no answer that breaks the document's schema
//! (`response_schema_conformance`), no status and no content type the
//! document does not list (`status_code_conformance`,
//! `content_type_conformance`).
//!
//! The store is seeded first with what a fleet has: a real agent's host
//! (inventory, health, software, changes), that host down with an open
//! incident, an outage and a pending delivery, a business service with the
//! host as member, a maintenance window and an integration target. Path
//! parameters of the operations that read them are pinned to those ids (in
//! a schemathesis config file), so their success answers are checked too;
//! every other path parameter is generated, and answers 404.
//!
//! Nothing is excluded. schemathesis reuses ids it read in earlier answers,
//! so it would revoke the admin token it runs with (after which every
//! operation is a 401) and delete the seeded service and window: the
//! revoking and deleting operations have their path parameter pinned to a
//! token, service and window made to be revoked and deleted instead (the
//! first call succeeds, the rest are 404s). Creations only add rows.
//!
//! The run is bounded: at most `MAX_EXAMPLES` cases per operation and
//! phase (coverage and fuzzing; no stateful phase, the document has no
//! links), a fixed seed, one worker: about 30 s of requests a backend.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use reqwest::Method;
use rollcall_tests::{
    Agent, Collector, CollectorOptions, fake_host_root, postgres_url, tool_on_path, wait_for,
};
use serde_json::{Value, json};

/// Cases per operation and phase: small, so a run stays well under three
/// minutes on two cores.
const MAX_EXAMPLES: &str = "40";

/// The seed of every run, so a failure can be reproduced; another with
/// `ROLLCALL_SCHEMATHESIS_SEED=N` (to look further, by hand).
const SEED: &str = "20261203";

/// The ids the pinned path parameters take.
struct Seeded {
    host_id: String,
    agent_id: String,
    incident_id: String,
    /// The incident's delivery to the webhook (pending: nobody listens).
    outbox_id: String,
    service_id: String,
    /// An API token, a service and a window for the run to revoke and delete.
    doomed_token_id: String,
    doomed_service_id: String,
    doomed_window_id: String,
}

/// A collector with a real agent's host, that host's incident, a service,
/// a maintenance window and an integration target.
async fn seeded_collector(dir: &Path, database_url: Option<String>) -> Result<(Collector, Seeded)> {
    let collector = Collector::start(
        dir,
        &CollectorOptions {
            extra_toml: format!(
                "{}\n[availability]\nstartup_grace_s = 0\n\n\
                 [[integrations.targets]]\nname = \"hook\"\nkind = \"webhook\"\n\
                 url = \"http://127.0.0.1:9/hook\"\nsecret = \"schemathesis\"\n",
                CollectorOptions::default().extra_toml
            ),
            database_url,
        },
    )?;
    let root = fake_host_root(dir, "fuzzed", 1)?;
    let agent = Agent::new(
        dir,
        "agent",
        &[&collector.grpc_url],
        &format!("root = {root:?}\n"),
    )?;
    let token = collector.enrollment_token(1, 600).await?;
    let (ok, output) = agent.enroll(&collector.grpc_url, &token, &collector.ca_fingerprint)?;
    if !ok {
        bail!("enroll failed: {output}");
    }
    let mut process = agent.run()?;
    let host = collector.host_with_inventory().await?;
    let host_id = host["id"].as_str().context("host id")?.to_string();
    let agent_id = agent.agent_id()?;
    wait_for("a health sample", Duration::from_secs(30), || async {
        let page = collector
            .get(&format!("/api/v1/hosts/{host_id}/health"))
            .await
            .ok()?;
        (!page["items"].as_array()?.is_empty()).then_some(())
    })
    .await?;
    // The host goes silent: down, an outage and an open host-down incident.
    process.kill_hard();
    let incident_id = wait_for("a host-down incident", Duration::from_secs(30), || async {
        let page = collector
            .get(&format!("/api/v1/incidents?ci_id={host_id}"))
            .await
            .ok()?;
        page["items"].as_array()?.first()?["id"]
            .as_str()
            .map(String::from)
    })
    .await?;
    let outbox_id = wait_for(
        "the incident's delivery",
        Duration::from_secs(30),
        || async {
            let page = collector
                .get(&format!("/api/v1/outbox?incident={incident_id}"))
                .await
                .ok()?;
            page["items"].as_array()?.first()?["id"]
                .as_i64()
                .map(|id| id.to_string())
        },
    )
    .await?;
    let create = |path: &'static str, body: Value| {
        let collector = &collector;
        async move {
            let (status, created) = collector
                .api(Method::POST, path, Some(&collector.admin_token), Some(body))
                .await?;
            if status != 201 {
                bail!("POST {path} answered {status}: {created}");
            }
            created["id"]
                .as_str()
                .map(String::from)
                .with_context(|| format!("POST {path}: no id in {created}"))
        }
    };
    let service_id = create(
        "/api/v1/services",
        json!({ "name": "shop", "min_up": 1, "members": [host_id] }),
    )
    .await?;
    let doomed_service_id = create(
        "/api/v1/services",
        json!({ "name": "doomed", "min_up": 1, "members": [host_id] }),
    )
    .await?;
    let now = rollcall_proto::now_ms();
    let window = json!({
        "scope": "host", "target": host_id, "starts_at": now - 60_000,
        "ends_at": now + 3_600_000, "reason": "patching",
    });
    create("/api/v1/maintenance", window.clone()).await?;
    let doomed_window_id = create("/api/v1/maintenance", window).await?;
    let doomed_token_id = create(
        "/api/v1/api-tokens",
        json!({ "name": "doomed", "role": "viewer" }),
    )
    .await?;
    let seeded = Seeded {
        host_id,
        agent_id,
        incident_id,
        outbox_id,
        service_id,
        doomed_token_id,
        doomed_service_id,
        doomed_window_id,
    };
    Ok((collector, seeded))
}

/// The schemathesis configuration: the pinned path parameters.
fn config(seeded: &Seeded) -> String {
    let pin = |paths: &str, name: &str, value: &str| {
        format!(
            "[[operations]]\ninclude-path-regex = {paths:?}\nparameters = {{ \"path.{name}\" = {value:?} }}\n\n"
        )
    };
    [
        pin(r"^/api/v1/hosts/\{id\}", "id", &seeded.host_id),
        pin(r"^/api/v1/incidents/\{id\}", "id", &seeded.incident_id),
        pin(r"^/api/v1/agents/\{id\}$", "id", &seeded.agent_id),
        pin(
            r"^/api/v1/services/\{id\}/members$",
            "id",
            &seeded.service_id,
        ),
        pin(r"^/api/v1/software/\{name\}/", "name", "openssh-server"),
        pin(r"^/api/v1/outbox/\{id\}/retry$", "id", &seeded.outbox_id),
        pin(r"^/api/v1/integrations/\{name\}/test$", "name", "hook"),
        pin(
            r"^/api/v1/api-tokens/\{id\}/revoke$",
            "id",
            &seeded.doomed_token_id,
        ),
        pin(
            r"^/api/v1/services/\{id\}$",
            "id",
            &seeded.doomed_service_id,
        ),
        pin(
            r"^/api/v1/maintenance/\{id\}$",
            "id",
            &seeded.doomed_window_id,
        ),
    ]
    .concat()
}

async fn schemathesis_on(database_url: Option<String>) -> Result<()> {
    let Some(schemathesis) = tool_on_path("schemathesis") else {
        return Ok(());
    };
    let dir = tempfile::tempdir()?;
    let (collector, seeded) = seeded_collector(dir.path(), database_url).await?;
    let config_file = dir.path().join("schemathesis.toml");
    std::fs::write(&config_file, config(&seeded))?;
    // The document as served, from a file: loaded from its URL, schemathesis
    // would leave out the operation that serves it.
    let document: Value = collector.get("/api/v1/openapi.json").await?;
    let document_file = dir.path().join("openapi.json");
    std::fs::write(&document_file, document.to_string())?;
    let seed = std::env::var("ROLLCALL_SCHEMATHESIS_SEED").unwrap_or_else(|_| SEED.into());
    let started = Instant::now();
    let output = Command::new(schemathesis)
        .current_dir(dir.path())
        .env("NO_COLOR", "1")
        .arg("--config-file")
        .arg(&config_file)
        .arg("run")
        .arg(&document_file)
        .args(["--url", &collector.api_url])
        .args([
            "-H",
            &format!("Authorization: Bearer {}", collector.admin_token),
        ])
        .args([
            "--checks",
            "not_a_server_error,response_schema_conformance,content_type_conformance,status_code_conformance",
        ])
        .args(["--phases", "examples,coverage,fuzzing"])
        .args(["--max-examples", MAX_EXAMPLES, "--seed", &seed])
        .args(["--workers", "1", "--request-timeout", "20"])
        .args(["--suppress-health-check", "all", "--no-shrink"])
        .output()
        .context("run schemathesis")?;
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    eprintln!(
        "schemathesis took {:.0} s:\n{said}",
        started.elapsed().as_secs_f64()
    );
    assert!(
        output.status.success(),
        "schemathesis found failures (seed {seed}):\n{said}\ncollector stderr:\n{}",
        collector.process.stderr_text()
    );
    // It tested every operation.
    let operations: usize = document["paths"]
        .as_object()
        .context("paths")?
        .values()
        .map(|item| item.as_object().map_or(0, |methods| methods.len()))
        .sum();
    assert!(
        said.contains(&format!("Selected: {operations}/{operations}"))
            && said.contains(&format!("Tested: {operations}\n")),
        "schemathesis did not test all {operations} operations:\n{said}"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn schemathesis_finds_no_5xx_and_no_schema_break_on_sqlite() -> Result<()> {
    schemathesis_on(None).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn schemathesis_finds_no_5xx_and_no_schema_break_on_postgres() -> Result<()> {
    let Some(url) = postgres_url().await else {
        return Ok(());
    };
    schemathesis_on(Some(url)).await
}
