//! The health-based incident rules end to end (issue 14): each condition
//! opens exactly one incident, seen through the API, and resolves it when
//! the condition clears.
//!
//! What drives each rule:
//! - memory pressure and failed check: a real agent on a fixture root
//!   whose files (`proc/meminfo`, a process under `proc/`) the test edits;
//! - agent stale: a real agent stopped with SIGSTOP (its session's
//!   connection stays open, nothing is sent) and continued;
//! - filesystem usage: a real agent on a fixture root whose mount table
//!   names `/data`, where the test mounts a real 1 MiB tmpfs and fills it
//!   (the agent measures what is mounted under its root with statvfs);
//! - failed unit: a real agent on a fixture root whose `systemctl` option
//!   names a stand-in for systemctl 252 (systemd is not PID 1 on the test
//!   machine, so no real unit can fail): a script that accepts exactly the
//!   agent's three calls, refuses anything else as systemctl does, and
//!   answers in systemctl's own format from fixture files the test edits;
//! - freshness: the same real agent and tmpfs, its samples spooled while
//!   the collector is down and replayed when it is back: full samples
//!   older than `max_sample_age_s` open nothing, old empty ones resolve
//!   nothing;
//! - both again from the raw gRPC client with an enrolled agent's
//!   credentials, which sends each condition an exact number of times.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Result;
use rollcall_proto::v1::agent_message::Body;
use rollcall_proto::v1::{FilesystemUsage, HealthReport};
use rollcall_tests::{Agent, Collector, CollectorOptions, Process, fake_host_root, raw, wait_for};
use serde_json::Value;

/// Generous: the machine running the suite is shared and loaded.
const WAIT: Duration = Duration::from_secs(60);

struct Host {
    collector: Collector,
    agent: Agent,
    process: Process,
    root: PathBuf,
    id: String,
    _dir: tempfile::TempDir,
}

/// A collector and one real agent on a fake host root, prepared by
/// `prepare` before the agent starts; returns once the host is up.
async fn host(
    collector_toml: &str,
    agent_toml: &str,
    prepare: impl FnOnce(&Path) -> Result<()>,
) -> Result<Host> {
    let dir = tempfile::tempdir()?;
    let options = CollectorOptions {
        extra_toml: format!("{}{collector_toml}", CollectorOptions::default().extra_toml),
        ..Default::default()
    };
    let collector = Collector::start(dir.path(), &options)?;
    let token = collector.enrollment_token(1, 600).await?;
    let root = fake_host_root(dir.path(), "rules", 0)?;
    prepare(&root)?;
    let agent = Agent::new(
        dir.path(),
        "rules",
        &[&collector.grpc_url],
        &format!("root = {:?}\n{agent_toml}", root.display().to_string()),
    )?;
    let (ok, output) = agent.enroll(&collector.grpc_url, &token, &collector.ca_fingerprint)?;
    assert!(ok, "{output}");
    let process = agent.run()?;
    let id = wait_for("the host up", WAIT, || async {
        collector
            .hosts()
            .await
            .ok()?
            .into_iter()
            .find(|host| host["hostname"] == "rules" && host["presence"] == "up")
            .and_then(|host| host["id"].as_str().map(String::from))
    })
    .await?;
    Ok(Host {
        collector,
        agent,
        process,
        root,
        id,
        _dir: dir,
    })
}

/// Replaces a file of the fixture root in one step (write, then rename), so
/// the agent never reads half of it.
fn write_atomically(path: &Path, contents: &str) -> Result<()> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)?;
    }
    let temporary = path.with_extension("rules-tmp");
    std::fs::write(&temporary, contents)?;
    std::fs::rename(&temporary, path)?;
    Ok(())
}

/// Every incident (open or resolved) of `host_id` whose rule is `rule` or
/// starts with it (`failed_check:` is a family).
async fn incidents_of(collector: &Collector, host_id: &str, rule: &str) -> Result<Vec<Value>> {
    let page = collector
        .get(&format!(
            "/api/v1/incidents?state=all&ci_id={host_id}&limit=1000"
        ))
        .await?;
    Ok(page["items"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .into_iter()
        .filter(|incident| {
            incident["rule"]
                .as_str()
                .is_some_and(|name| name == rule || (rule.ends_with(':') && name.starts_with(rule)))
        })
        .collect())
}

/// Number of health samples the collector stored for `host_id`.
async fn samples(collector: &Collector, host_id: &str) -> Option<usize> {
    collector
        .get(&format!("/api/v1/hosts/{host_id}/health?limit=1000"))
        .await
        .ok()?["items"]
        .as_array()
        .map(Vec::len)
}

/// Waits until the collector has stored `more` further health samples of
/// the host: the rules have then seen the current condition again.
async fn more_samples(collector: &Collector, host_id: &str, more: usize) -> Result<()> {
    let before = samples(collector, host_id).await.unwrap_or(0);
    wait_for("further health samples", WAIT, || async {
        (samples(collector, host_id).await? >= before + more).then_some(())
    })
    .await
}

/// Waits for exactly one open incident of `rule` on the host and returns it.
async fn one_open(collector: &Collector, host_id: &str, rule: &str) -> Result<Value> {
    let incident = wait_for(&format!("a {rule} incident"), WAIT, || async {
        incidents_of(collector, host_id, rule)
            .await
            .ok()?
            .into_iter()
            .find(|incident| incident["state"] == "open")
    })
    .await?;
    Ok(incident)
}

/// Waits for the incident `id` to be resolved.
async fn resolved(collector: &Collector, host_id: &str, rule: &str, id: &str) -> Result<Value> {
    wait_for(&format!("the {rule} incident resolved"), WAIT, || async {
        incidents_of(collector, host_id, rule)
            .await
            .ok()?
            .into_iter()
            .find(|incident| incident["id"] == id && incident["state"] == "resolved")
    })
    .await
}

async fn assert_only(collector: &Collector, host_id: &str, rule: &str, id: &str) -> Result<()> {
    let all = incidents_of(collector, host_id, rule).await?;
    let ids: Vec<&str> = all
        .iter()
        .filter_map(|incident| incident["id"].as_str())
        .collect();
    assert_eq!(ids, vec![id], "exactly one {rule} incident: {all:#?}");
    Ok(())
}

/// Waits for the one open incident of `rule` on the host, checks that its
/// summary says `says`, and that two further samples keep it the only one;
/// returns it.
async fn opened_once(
    collector: &Collector,
    host_id: &str,
    rule: &str,
    says: &str,
) -> Result<Value> {
    let incident = one_open(collector, host_id, rule).await?;
    let id = incident["id"].as_str().unwrap_or_default();
    let summary = incident["summary"].as_str().unwrap_or_default();
    assert!(summary.contains(says), "{summary}");
    more_samples(collector, host_id, 2).await?;
    assert_only(collector, host_id, rule, id).await?;
    Ok(incident)
}

/// `proc/meminfo` of the fixture with `MemAvailable` replaced.
fn meminfo(root: &Path, available_kb: u64) -> Result<String> {
    let text = std::fs::read_to_string(root.join("proc/meminfo"))?;
    Ok(text
        .lines()
        .map(|line| {
            if line.starts_with("MemAvailable:") {
                format!("MemAvailable:   {available_kb} kB")
            } else {
                line.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
        + "\n")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memory_pressure_over_threshold_opens_one_incident_and_clears() -> Result<()> {
    // MemTotal of the fixture is 16,318,412 kB: 100,000 kB available is
    // 99.4 % used, over the default 95 %.
    let host = host("", "", |root| {
        write_atomically(&root.join("proc/meminfo"), &meminfo(root, 100_000)?)
    })
    .await?;
    let (collector, id) = (&host.collector, host.id.as_str());
    let incident = one_open(collector, id, "memory_pressure").await?;
    let incident_id = incident["id"].as_str().unwrap_or_default().to_string();
    let summary = incident["summary"].as_str().unwrap_or_default();
    assert!(summary.contains("memory 99% used"), "{summary}");
    // Further samples under pressure keep the one incident.
    more_samples(collector, id, 2).await?;
    assert_only(collector, id, "memory_pressure", &incident_id).await?;

    // 10,918,412 kB available (the fixture's own value): 33 % used.
    write_atomically(
        &host.root.join("proc/meminfo"),
        &meminfo(&host.root, 10_918_412)?,
    )?;
    resolved(collector, id, "memory_pressure", &incident_id).await?;
    more_samples(collector, id, 2).await?;
    assert_only(collector, id, "memory_pressure", &incident_id).await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_check_opens_one_incident_and_clears() -> Result<()> {
    // A process check on the fixture root: no process `rc-worker` under
    // its `proc/` until the test adds one.
    let checks = "[[checks]]\nname = \"worker\"\ntype = \"process\"\nprocess = \"rc-worker\"\ninterval_s = 1\n";
    let host = host("", checks, |_| Ok(())).await?;
    let (collector, id) = (&host.collector, host.id.as_str());
    let incident = opened_once(collector, id, "failed_check:", "check failed: worker").await?;
    let incident_id = incident["id"].as_str().unwrap_or_default().to_string();

    // The process starts (as the fixture root sees it).
    write_atomically(&host.root.join("proc/4242/comm"), "rc-worker\n")?;
    resolved(collector, id, "failed_check:", &incident_id).await?;
    more_samples(collector, id, 2).await?;
    assert_only(collector, id, "failed_check:", &incident_id).await?;
    Ok(())
}

/// A tmpfs mounted at a path for as long as it lives.
struct Mounted(PathBuf);

impl Mounted {
    fn tmpfs(path: &Path, size: &str) -> Result<Mounted> {
        std::fs::create_dir_all(path)?;
        let status = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(path)
            .status()?;
        anyhow::ensure!(status.success(), "mount a tmpfs at {}", path.display());
        Ok(Mounted(path.to_path_buf()))
    }
}

impl Drop for Mounted {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount")
            .arg("-l")
            .arg(&self.0)
            .status();
    }
}

/// Prepares a fixture root whose mount table names `/data`, an empty
/// directory until a test mounts a filesystem there.
fn with_data_mount_point(root: &Path) -> Result<()> {
    let mounts = root.join("proc/self/mounts");
    let table = std::fs::read_to_string(&mounts)? + "/dev/rcdata /data ext4 rw,relatime 0 0\n";
    write_atomically(&mounts, &table)?;
    std::fs::create_dir_all(root.join("data"))?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn filesystem_usage_of_a_real_agent_opens_one_incident_and_clears() -> Result<()> {
    // The fixture's mount table gains /data; a plain directory there is
    // not measured (0 bytes, no incident) until a filesystem is mounted.
    let host = host("", "", with_data_mount_point).await?;
    let (collector, id) = (&host.collector, host.id.as_str());
    let mounted = Mounted::tmpfs(&host.root.join("data"), "1m")?;
    // 250 pages of 4 KiB in 1 MiB: 97.7 % used, over the default 95 %.
    std::fs::write(mounted.0.join("fill"), vec![7u8; 250 * 4096])?;
    let incident = opened_once(
        collector,
        id,
        "filesystem_usage:",
        "filesystem /data is 98% full",
    )
    .await?;
    let incident_id = incident["id"].as_str().unwrap_or_default().to_string();
    assert_eq!(incident["severity"], "critical");

    // Space freed: resolved, and nothing opens again.
    std::fs::remove_file(mounted.0.join("fill"))?;
    resolved(collector, id, "filesystem_usage:", &incident_id).await?;
    more_samples(collector, id, 2).await?;
    assert_only(collector, id, "filesystem_usage:", &incident_id).await?;
    // The inventory reports the mounted filesystem's real size.
    let detail = collector.get(&format!("/api/v1/hosts/{id}")).await?;
    drop(mounted);
    let data = detail["inventory"]["filesystem"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|item| item["mount_point"] == "/data")
        .cloned();
    let data = data.unwrap_or_else(|| panic!("no /data filesystem in {}", detail["inventory"]));
    assert_eq!(data["size_bytes"], 1024 * 1024, "{data}");
    assert_eq!(data["device"], "/dev/rcdata", "{data}");
    Ok(())
}

/// The `/data` usage (%) of each stored sample of `host_id` sampled at or
/// after `since`, and how many samples there are.
async fn data_usage_since(
    collector: &Collector,
    host_id: &str,
    since: i64,
) -> Result<(Vec<f64>, usize)> {
    let page = collector
        .get(&format!(
            "/api/v1/hosts/{host_id}/health?since={since}&limit=1000"
        ))
        .await?;
    let samples = page["items"].as_array().cloned().unwrap_or_default();
    let usages = samples
        .iter()
        .flat_map(|item| {
            item["sample"]["filesystems"]
                .as_array()
                .cloned()
                .unwrap_or_default()
        })
        .filter(|filesystem| filesystem["mount_point"] == "/data")
        .filter_map(|filesystem| filesystem["used_percent"].as_f64())
        .collect();
    Ok((usages, samples.len()))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replayed_samples_older_than_the_rules_freshness_open_and_resolve_nothing() -> Result<()> {
    // Samples older than 4 s when they arrive are only stored. A real
    // agent, with a real tmpfs at /data, samples every 2 s into its spool
    // while the collector is down.
    let mut host = host(
        "[availability.rules]\nmax_sample_age_s = 4\n",
        "",
        with_data_mount_point,
    )
    .await?;
    let mounted = Mounted::tmpfs(&host.root.join("data"), "1m")?;
    let fill = mounted.0.join("fill");
    let id = host.id.clone();
    more_samples(&host.collector, &id, 1).await?;

    // 1. A full disk only while the collector is away, freed 8 s before it
    //    is back: the full samples arrive at least 8 s old.
    host.collector.stop();
    let away = rollcall_proto::now_ms();
    std::fs::write(&fill, vec![7u8; 250 * 4096])?;
    tokio::time::sleep(Duration::from_secs(8)).await;
    std::fs::remove_file(&fill)?;
    tokio::time::sleep(Duration::from_secs(8)).await;
    host.collector.restart()?;
    let (highest, _) = wait_for("the replayed full samples stored", WAIT, || async {
        let (usages, count) = data_usage_since(&host.collector, &id, away).await.ok()?;
        let highest = usages.into_iter().fold(0.0, f64::max);
        (highest > 95.0 && count >= 6).then_some((highest, count))
    })
    .await?;
    assert!(highest > 95.0);
    more_samples(&host.collector, &id, 2).await?;
    let opened = incidents_of(&host.collector, &id, "filesystem_usage:").await?;
    assert!(
        opened.is_empty(),
        "replayed full samples opened {opened:#?}"
    );

    // 2. Full now: one incident. Then freed only while the collector is
    //    away, and full again 8 s before it is back: the empty samples
    //    arrive old and the incident stays open.
    std::fs::write(&fill, vec![7u8; 250 * 4096])?;
    let incident = one_open(&host.collector, &id, "filesystem_usage:").await?;
    let incident_id = incident["id"].as_str().unwrap_or_default().to_string();
    host.collector.stop();
    let away = rollcall_proto::now_ms();
    std::fs::remove_file(&fill)?;
    tokio::time::sleep(Duration::from_secs(8)).await;
    std::fs::write(&fill, vec![7u8; 250 * 4096])?;
    tokio::time::sleep(Duration::from_secs(8)).await;
    host.collector.restart()?;
    wait_for("the replayed empty samples stored", WAIT, || async {
        let (usages, _) = data_usage_since(&host.collector, &id, away).await.ok()?;
        usages.iter().any(|used| *used < 5.0).then_some(())
    })
    .await?;
    more_samples(&host.collector, &id, 2).await?;
    let all = incidents_of(&host.collector, &id, "filesystem_usage:").await?;
    assert_eq!(all.len(), 1, "{all:#?}");
    assert_eq!(all[0]["id"], incident_id.as_str());
    assert_eq!(all[0]["state"], "open", "old empty samples resolved it");
    drop(mounted);
    Ok(())
}

/// A stand-in for `systemctl` (systemd 252) in `dir`: the agent's three
/// calls answered from `dir/failed`, `dir/units` and `dir/unit-files` (in
/// systemctl's own output format), every call logged to `dir/calls`, any
/// other call refused with systemctl's message and exit status 1.
fn systemctl_standin(dir: &Path) -> Result<PathBuf> {
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("../agent/tests/fixtures/systemctl");
    std::fs::copy(fixtures.join("list-units"), dir.join("units"))?;
    std::fs::copy(fixtures.join("list-unit-files"), dir.join("unit-files"))?;
    std::fs::write(dir.join("failed"), "")?;
    let script = dir.join("systemctl");
    let d = dir.display();
    std::fs::write(
        &script,
        format!(
            "#!/bin/sh\n\
             echo \"$*\" >> '{d}/calls'\n\
             case \"$*\" in\n\
             'list-units --state=failed --no-legend --plain --no-pager') exec cat '{d}/failed' ;;\n\
             'list-units --all --type=service --no-legend --plain --no-pager') exec cat '{d}/units' ;;\n\
             'list-unit-files --type=service --no-legend --no-pager') exec cat '{d}/unit-files' ;;\n\
             *) echo \"Unknown command verb or option: $*\" >&2; exit 1 ;;\n\
             esac\n"
        ),
    )?;
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755))?;
    Ok(script)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_unit_of_a_real_agent_opens_one_incident_and_clears() -> Result<()> {
    let standin = tempfile::tempdir()?;
    let script = systemctl_standin(standin.path())?;
    write_atomically(
        &standin.path().join("failed"),
        "nginx.service loaded failed failed A high performance web server and a reverse proxy server\n",
    )?;
    let agent_toml = format!("systemctl = [{:?}]\n", script.display().to_string());
    // systemd "runs" on the fixture root: /run/systemd/system exists.
    let host = host("", &agent_toml, |root| {
        std::fs::create_dir_all(root.join("run/systemd/system"))?;
        Ok(())
    })
    .await?;
    let (collector, id) = (&host.collector, host.id.as_str());
    let incident = opened_once(
        collector,
        id,
        "failed_unit:",
        "systemd unit failed: nginx.service",
    )
    .await?;
    let incident_id = incident["id"].as_str().unwrap_or_default().to_string();
    // The inventory's services came from the same systemctl.
    let detail = collector.get(&format!("/api/v1/hosts/{id}")).await?;
    let nginx = detail["inventory"]["service"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|service| service["name"] == "nginx.service")
        .cloned()
        .unwrap_or_else(|| panic!("no nginx.service in {}", detail["inventory"]));
    assert_eq!(nginx["active_state"], "failed", "{nginx}");

    // The unit is restarted: nothing fails any more.
    write_atomically(&standin.path().join("failed"), "")?;
    resolved(collector, id, "failed_unit:", &incident_id).await?;
    more_samples(collector, id, 2).await?;
    assert_only(collector, id, "failed_unit:", &incident_id).await?;
    // The agent made only calls systemctl knows.
    let calls = std::fs::read_to_string(standin.path().join("calls"))?;
    assert!(
        calls.lines().all(|call| call.starts_with("list-unit")),
        "{calls}"
    );
    assert!(calls.contains("list-units --state=failed --no-legend --plain --no-pager"));
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn agent_stale_opens_one_incident_and_clears() -> Result<()> {
    // `agent_stale` (incidents/stale.rs) is a host whose agent sent nothing
    // at all — no heartbeat either — for `cmdb.stale_after_s`.
    let cmdb = "[cmdb]\nstale_after_s = 4\nretire_after_s = 3600\nlifecycle_check_interval_s = 1\n";
    let host = host(cmdb, "", |_| Ok(())).await?;
    let (collector, id) = (&host.collector, host.id.as_str());
    more_samples(collector, id, 2).await?;
    assert!(
        incidents_of(collector, id, "agent_stale").await?.is_empty(),
        "no agent_stale incident while the agent reports"
    );
    // The agent stops; its connection stays open, nothing is sent.
    host.process.signal(libc::SIGSTOP);
    let incident = one_open(collector, id, "agent_stale").await?;
    let incident_id = incident["id"].as_str().unwrap_or_default().to_string();
    assert_eq!(incident["ci_id"], id);
    // Further lifecycle passes keep the one incident.
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_only(collector, id, "agent_stale", &incident_id).await?;

    host.process.signal(libc::SIGCONT);
    resolved(collector, id, "agent_stale", &incident_id).await?;
    more_samples(collector, id, 2).await?;
    assert_only(collector, id, "agent_stale", &incident_id).await?;
    let lifecycle =
        collector.get(&format!("/api/v1/hosts/{id}")).await?["host"]["lifecycle"].clone();
    assert_eq!(lifecycle, "active");
    let _ = &host.agent;
    Ok(())
}

/// A raw session of an enrolled agent's credentials: a Hello, then `body`
/// at `seq`; waits for its acknowledgement.
async fn send_raw(collector: &Collector, agent: &Agent, seq: u64, body: Body) -> Result<()> {
    raw::send_acked(&collector.grpc_url, agent, "raw-rules", seq, body).await
}

fn health(used_percent: f32, failed_units: &[&str]) -> Body {
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
        failed_units: failed_units.iter().map(|unit| unit.to_string()).collect(),
        ..Default::default()
    }))
}

/// A collector and an enrolled agent whose messages the raw client sends.
async fn raw_host() -> Result<(Collector, Agent, tempfile::TempDir)> {
    let dir = tempfile::tempdir()?;
    let collector = Collector::start(dir.path(), &CollectorOptions::default())?;
    let token = collector.enrollment_token(1, 600).await?;
    let agent = Agent::new(dir.path(), "raw-rules", &[&collector.grpc_url], "")?;
    let (ok, output) = agent.enroll(&collector.grpc_url, &token, &collector.ca_fingerprint)?;
    assert!(ok, "{output}");
    Ok((collector, agent, dir))
}

async fn raw_host_id(collector: &Collector) -> Result<String> {
    wait_for("the raw host", WAIT, || async {
        collector
            .hosts()
            .await
            .ok()?
            .into_iter()
            .find(|host| host["hostname"] == "raw-rules")
            .and_then(|host| host["id"].as_str().map(String::from))
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn filesystem_usage_over_threshold_opens_one_incident_and_clears() -> Result<()> {
    let (collector, agent, _dir) = raw_host().await?;
    send_raw(&collector, &agent, 1, health(97.0, &[])).await?;
    let id = raw_host_id(&collector).await?;
    let incident = one_open(&collector, &id, "filesystem_usage:").await?;
    let incident_id = incident["id"].as_str().unwrap_or_default().to_string();
    assert_eq!(incident["severity"], "critical");
    let summary = incident["summary"].as_str().unwrap_or_default();
    assert!(summary.contains("filesystem /var is 97% full"), "{summary}");
    // The same condition again: still the one incident.
    send_raw(&collector, &agent, 2, health(97.0, &[])).await?;
    assert_only(&collector, &id, "filesystem_usage:", &incident_id).await?;
    send_raw(&collector, &agent, 3, health(10.0, &[])).await?;
    resolved(&collector, &id, "filesystem_usage:", &incident_id).await?;
    send_raw(&collector, &agent, 4, health(10.0, &[])).await?;
    assert_only(&collector, &id, "filesystem_usage:", &incident_id).await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_unit_opens_one_incident_and_clears() -> Result<()> {
    let (collector, agent, _dir) = raw_host().await?;
    send_raw(&collector, &agent, 1, health(10.0, &["nginx.service"])).await?;
    let id = raw_host_id(&collector).await?;
    let incident = one_open(&collector, &id, "failed_unit:").await?;
    let incident_id = incident["id"].as_str().unwrap_or_default().to_string();
    let summary = incident["summary"].as_str().unwrap_or_default();
    assert!(
        summary.contains("systemd unit failed: nginx.service"),
        "{summary}"
    );
    send_raw(&collector, &agent, 2, health(10.0, &["nginx.service"])).await?;
    assert_only(&collector, &id, "failed_unit:", &incident_id).await?;
    send_raw(&collector, &agent, 3, health(10.0, &[])).await?;
    resolved(&collector, &id, "failed_unit:", &incident_id).await?;
    send_raw(&collector, &agent, 4, health(10.0, &[])).await?;
    assert_only(&collector, &id, "failed_unit:", &incident_id).await?;
    Ok(())
}
