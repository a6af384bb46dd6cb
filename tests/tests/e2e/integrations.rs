//! Integrations end to end: a real collector delivers incident events
//! (written into its database as the incident engine does) to fake vendor
//! endpoints that check each vendor's contract, and to a real Alertmanager:
//! create, dedup, resolve, retry, dead letters, circuit breaker, `kill -9`.
//! `lookups` covers look-ups by agent-chosen text; `real_agent` drives every
//! target and a real Alertmanager from a real agent's host going down and
//! back, on SQLite and PostgreSQL, with nothing written into the store.

mod lookups;
mod real_agent;
mod severity;
mod shared_outbox;

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use anyhow::{Result, bail};
use rollcall_collector::incidents::event::Transition;
use rollcall_tests::vendors::{self, AllFakes, Fake, correlation_id, target_toml};
use rollcall_tests::{Collector, CollectorOptions, events, free_port, in_ci, wait_for};
use serde_json::{Value, json};

/// Fast retries so tests do not wait on production backoff.
const FAST: &str = "backoff_initial_ms = 200\nbackoff_max_ms = 1000\n";

fn options(targets: &str) -> CollectorOptions {
    let mut options = CollectorOptions::default();
    options
        .extra_toml
        .push_str("[integrations]\npoll_interval_ms = 100\n");
    options.extra_toml.push_str(targets);
    options
}

async fn deliveries(collector: &Collector, incident: &str) -> Result<Vec<Value>> {
    Ok(collector
        .get(&format!("/api/v1/incidents/{incident}/deliveries"))
        .await?["targets"]
        .as_array()
        .cloned()
        .unwrap_or_default())
}

/// Waits until each of `targets` has `count` deliveries of `incident`, all delivered.
async fn wait_delivered(
    collector: &Collector,
    incident: &str,
    targets: &[&str],
    count: usize,
) -> Result<Vec<Value>> {
    wait_for(
        &format!("{count} deliveries of {incident} to {targets:?}"),
        Duration::from_secs(30),
        || async {
            let list = deliveries(collector, incident).await.ok()?;
            let done = targets.iter().all(|name| {
                list.iter().any(|target| {
                    target["target"] == *name
                        && target["deliveries"].as_array().is_some_and(|rows| {
                            rows.len() == count
                                && rows.iter().all(|row| row["state"] == "delivered")
                        })
                })
            });
            done.then_some(list)
        },
    )
    .await
}

fn external_ref(list: &[Value], target: &str) -> String {
    list.iter()
        .find(|entry| entry["target"] == target)
        .and_then(|entry| entry["external_ref"].as_str())
        .unwrap_or_default()
        .to_string()
}

fn assert_no_violations(fakes: &[(&str, &Fake)]) {
    for (name, fake) in fakes {
        assert!(
            fake.violations().is_empty(),
            "{name} contract violations: {:?}",
            fake.violations()
        );
    }
}

fn rollcall_cli(collector: &Collector, args: &[&str]) -> Result<(bool, String)> {
    collector.cli(args)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_target_gets_one_create_no_duplicate_and_one_resolve() -> Result<()> {
    let fakes = AllFakes::start().await?;
    let dir = tempfile::tempdir()?;
    let collector = Collector::start(dir.path(), &options(&fakes.toml(FAST)))?;
    let db = events::open(&collector.data_dir).await?;
    let names: Vec<&str> = fakes.all().iter().map(|(name, _)| *name).collect();
    let key = "web1:host_down";

    events::insert(
        &db,
        &events::host_down("inc-a", "web1", Transition::Trigger),
    )
    .await?;
    let list = wait_delivered(&collector, "inc-a", &names, 1).await?;
    let sys_id = external_ref(&list, "servicenow");
    assert_eq!(sys_id.len(), 32, "servicenow sys_id: {list:?}");
    assert_eq!(external_ref(&list, "jira"), "SD-1");
    assert_eq!(external_ref(&list, "zendesk"), "1");

    // The same incident triggered again (a redelivery upstream): no second record anywhere.
    events::insert(
        &db,
        &events::host_down("inc-a", "web1", Transition::Trigger),
    )
    .await?;
    wait_delivered(&collector, "inc-a", &names, 2).await?;
    assert_eq!(
        fakes
            .servicenow
            .accepted(&format!("create:{}", correlation_id(key))),
        1
    );
    assert_eq!(
        fakes
            .zendesk
            .accepted(&format!("create:{}", correlation_id(key))),
        1
    );
    assert_eq!(fakes.pagerduty.accepted(&format!("create:{key}")), 1);
    assert_eq!(fakes.jira.accepted("create:web1 is down"), 1);
    assert_eq!(fakes.jira.accepted("comment:SD-1"), 1);

    events::insert(
        &db,
        &events::host_down("inc-a", "web1", Transition::Resolve),
    )
    .await?;
    wait_delivered(&collector, "inc-a", &names, 3).await?;
    assert_eq!(
        fakes
            .servicenow
            .accepted(&format!("resolve:{}", correlation_id(key))),
        1
    );
    let incident = fakes.servicenow.object(&sys_id).unwrap_or_default();
    assert_eq!(incident["state"], "6");
    assert_eq!(incident["active"], false);
    assert_eq!(
        fakes
            .zendesk
            .accepted(&format!("solve:{}", correlation_id(key))),
        1
    );
    assert_eq!(fakes.pagerduty.accepted(&format!("resolve:{key}")), 1);
    assert_eq!(fakes.jira.accepted("transition:SD-1"), 1);
    assert_eq!(fakes.servicenow_em.accepted(&format!("clear:{key}")), 1);
    assert_eq!(fakes.alertmanager.accepted(&format!("resolved:{key}")), 1);
    assert_eq!(
        fakes
            .webhook
            .accepted(&format!("com.rollcall.incident.resolve:{key}")),
        1
    );
    // Basic auth and the vendor content types were checked by the fakes.
    assert_no_violations(&fakes.all());

    // The API and CLI show the targets; `integrations test` goes through the real adapter.
    let targets = collector.get("/api/v1/integrations").await?;
    assert_eq!(targets["items"].as_array().map(Vec::len), Some(7));
    assert_eq!(targets["items"][0]["circuit"], "closed");
    let (ok, output) = rollcall_cli(&collector, &["integrations", "list"])?;
    assert!(ok && output.contains("servicenow_em"), "{output}");
    for name in &names {
        let (ok, output) = rollcall_cli(&collector, &["integrations", "test", name])?;
        assert!(ok, "integrations test {name}: {output}");
        assert!(output.contains("delivered"), "{output}");
    }
    assert_no_violations(&fakes.all());
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn servicenow_oauth_token_is_fetched_and_used() -> Result<()> {
    let fake = vendors::servicenow::start().await?;
    let dir = tempfile::tempdir()?;
    let extra = format!(
        "oauth_client_id = {:?}\noauth_client_secret = {:?}\n{FAST}",
        vendors::servicenow::CLIENT_ID,
        vendors::servicenow::CLIENT_SECRET
    );
    let collector = Collector::start(
        dir.path(),
        &options(&target_toml("sn", "servicenow", &fake.url, &extra)),
    )?;
    let db = events::open(&collector.data_dir).await?;
    events::insert(&db, &events::host_down("inc-o", "db1", Transition::Trigger)).await?;
    events::insert(&db, &events::host_down("inc-o", "db1", Transition::Resolve)).await?;
    wait_delivered(&collector, "inc-o", &["sn"], 2).await?;
    assert_eq!(fake.accepted("oauth"), 1, "one token for both requests");
    assert!(
        fake.requests()
            .iter()
            .filter(|request| request.path.starts_with("/api/"))
            .all(|request| request
                .headers
                .get("authorization")
                .and_then(|v| v.to_str().ok())
                == Some("Bearer sn-access-token"))
    );
    assert_eq!(
        fake.accepted(&format!("resolve:{}", correlation_id("db1:host_down"))),
        1
    );
    assert_no_violations(&[("servicenow", &fake)]);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jira_create_whose_answer_was_lost_is_found_by_label_not_created_again() -> Result<()> {
    let fake = vendors::jira::start().await?;
    // The first create is carried out by Jira but answered after 4 s; the
    // collector gives up after its 1 s time-out, so it never records the key.
    fake.slow_next("/rest/servicedeskapi/request", 4_000);
    let dir = tempfile::tempdir()?;
    let collector = Collector::start(
        dir.path(),
        &options(&target_toml(
            "jira",
            "jira",
            &fake.url,
            &format!("timeout_s = 1\n{FAST}"),
        )),
    )?;
    let db = events::open(&collector.data_dir).await?;
    events::insert(
        &db,
        &events::host_down("inc-j", "web7", Transition::Trigger),
    )
    .await?;
    let list = wait_delivered(&collector, "inc-j", &["jira"], 1).await?;
    assert_eq!(external_ref(&list, "jira"), "SD-1", "{list:?}");
    let delivery = &list[0]["deliveries"][0];
    assert!(
        delivery["attempts"].as_i64().is_some_and(|n| n >= 2),
        "the first attempt timed out: {list:?}"
    );
    let paths: Vec<String> = fake
        .requests()
        .iter()
        .map(|r| format!("{} {}", r.method, r.path))
        .collect();
    assert_eq!(
        paths[..3],
        [
            "POST /rest/api/3/search/jql",
            "POST /rest/servicedeskapi/request",
            "POST /rest/api/3/search/jql",
        ],
        "search, create (answer lost), search again: {paths:?}"
    );
    assert_eq!(
        fake.accepted("create:web7 is down"),
        1,
        "created once: {paths:?}"
    );
    let label = rollcall_collector::integrations::jira::incident_label("inc-j");
    assert!(fake.accepted(&format!("search:{label}")) >= 2, "{paths:?}");
    // A later transition reaches the request found.
    events::insert(
        &db,
        &events::host_down("inc-j", "web7", Transition::Resolve),
    )
    .await?;
    wait_delivered(&collector, "inc-j", &["jira"], 2).await?;
    assert_eq!(fake.accepted("transition:SD-1"), 1);
    assert_eq!(fake.accepted("create:web7 is down"), 1);
    assert_no_violations(&[("jira", &fake)]);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retries_after_429_with_retry_after_as_an_http_date() -> Result<()> {
    let fake = vendors::pagerduty::start().await?;
    let dir = tempfile::tempdir()?;
    let collector = Collector::start(
        dir.path(),
        &options(&target_toml("pd", "pagerduty", &fake.url, FAST)),
    )?;
    // Retry-After as an HTTP-date 3 s ahead (second resolution, so 2-3 s
    // from now); the fast backoff alone would retry within 200 ms.
    let at = std::time::SystemTime::now() + Duration::from_secs(3);
    fake.force_retry_after(
        429,
        Some(httpdate::fmt_http_date(at)),
        json!({ "status": "throttled" }),
        1,
    );
    let db = events::open(&collector.data_dir).await?;
    events::insert(
        &db,
        &events::host_down("inc-d", "app2", Transition::Trigger),
    )
    .await?;
    let list = wait_delivered(&collector, "inc-d", &["pd"], 1).await?;
    assert_eq!(list[0]["deliveries"][0]["attempts"], 2, "{list:?}");
    let requests = fake.requests();
    assert_eq!(
        requests.iter().map(|r| r.status).collect::<Vec<_>>(),
        vec![429, 202]
    );
    let waited = requests[1].at_ms - requests[0].at_ms;
    assert!(
        (1_500..10_000).contains(&waited),
        "Retry-After as an HTTP-date honoured, waited {waited} ms"
    );
    assert_eq!(fake.accepted("create:app2:host_down"), 1);
    assert_no_violations(&[("pagerduty", &fake)]);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retries_after_429_with_retry_after_and_after_5xx() -> Result<()> {
    let fake = vendors::pagerduty::start().await?;
    fake.force(429, Some(2), json!({ "status": "throttled" }), 1);
    fake.force(502, None, json!({ "status": "bad gateway" }), 1);
    let dir = tempfile::tempdir()?;
    let collector = Collector::start(
        dir.path(),
        &options(&target_toml("pd", "pagerduty", &fake.url, FAST)),
    )?;
    let db = events::open(&collector.data_dir).await?;
    events::insert(
        &db,
        &events::host_down("inc-r", "app1", Transition::Trigger),
    )
    .await?;
    let list = wait_delivered(&collector, "inc-r", &["pd"], 1).await?;
    assert_eq!(list[0]["deliveries"][0]["attempts"], 3, "{list:?}");
    let requests = fake.requests();
    assert_eq!(requests.len(), 3);
    assert_eq!(
        requests.iter().map(|r| r.status).collect::<Vec<_>>(),
        vec![429, 502, 202]
    );
    let waited = requests[1].at_ms - requests[0].at_ms;
    assert!(
        waited >= 1900,
        "Retry-After 2 s honoured, waited {waited} ms"
    );
    assert_eq!(fake.accepted("create:app1:host_down"), 1);
    assert_no_violations(&[("pagerduty", &fake)]);
    Ok(())
}

/// The per-target rate limit: eight incidents written into the database
/// at once reach a webhook limited to 2 requests a second (burst 1) spread
/// over at least 3 s with never more than 3 in any second, while a second
/// webhook with the default limit (10/s, burst 20) gets all eight at once.
/// The events are written into the store directly (what the engine would
/// write); the deliveries are the collector's.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_target_rate_limit_spaces_its_requests_and_only_its_own() -> Result<()> {
    let limited = vendors::webhook::start().await?;
    let free = vendors::webhook::start().await?;
    let dir = tempfile::tempdir()?;
    let targets = format!(
        "{}{}",
        target_toml(
            "limited",
            "webhook",
            &limited.url,
            &format!("rate_per_second = 2\nburst = 1\n{FAST}")
        ),
        target_toml("free", "webhook", &free.url, FAST),
    );
    let collector = Collector::start(dir.path(), &options(&targets))?;
    let db = events::open(&collector.data_dir).await?;
    for index in 0..8 {
        events::insert(
            &db,
            &events::host_down(
                &format!("inc-rate-{index}"),
                &format!("rate{index}"),
                Transition::Trigger,
            ),
        )
        .await?;
    }
    let arrivals = |fake: &Fake| -> Vec<i64> {
        let mut times: Vec<i64> = fake
            .requests()
            .iter()
            .filter(|request| request.method == "POST")
            .map(|request| request.at_ms)
            .collect();
        times.sort_unstable();
        times
    };
    wait_for(
        "eight deliveries to each webhook",
        Duration::from_secs(60),
        || async { (arrivals(&limited).len() >= 8 && arrivals(&free).len() >= 8).then_some(()) },
    )
    .await?;
    let slow = arrivals(&limited);
    let fast = arrivals(&free);
    assert_eq!(
        (slow.len(), fast.len()),
        (8, 8),
        "each event once per target"
    );
    let span = |times: &[i64]| times[times.len() - 1] - times[0];
    // Ideally 3.5 s (seven gaps of 500 ms); scheduling may shift one a little.
    assert!(
        span(&slow) >= 3_000,
        "2/s over eight requests took {} ms: {slow:?}",
        span(&slow)
    );
    for (index, start) in slow.iter().enumerate() {
        let in_second = slow[index..]
            .iter()
            .take_while(|at| **at < start + 1_000)
            .count();
        assert!(
            in_second <= 3,
            "{in_second} requests within a second: {slow:?}"
        );
    }
    assert!(
        span(&fast) < span(&slow),
        "the other target is not held back: {} ms against {} ms",
        span(&fast),
        span(&slow)
    );
    assert_no_violations(&[("limited", &limited), ("free", &free)]);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn final_errors_are_dead_letters_visible_and_retryable() -> Result<()> {
    let pagerduty = vendors::pagerduty::start().await?;
    let servicenow = vendors::servicenow::start().await?;
    pagerduty.force(
        400,
        None,
        json!({ "status": "invalid event", "message": "Event object is invalid", "errors": ["'routing_key' is missing or blank"] }),
        1,
    );
    let dir = tempfile::tempdir()?;
    let wrong_password =
        target_toml("sn", "servicenow", &servicenow.url, FAST).replace(vendors::PASSWORD, "wrong");
    let targets = format!(
        "{}{wrong_password}",
        target_toml("pd", "pagerduty", &pagerduty.url, FAST)
    );
    let collector = Collector::start(dir.path(), &options(&targets))?;
    let db = events::open(&collector.data_dir).await?;
    events::insert(
        &db,
        &events::host_down("inc-d", "mail1", Transition::Trigger),
    )
    .await?;
    let dead = wait_for("two dead letters", Duration::from_secs(30), || async {
        let list = collector.get("/api/v1/outbox?state=dead").await.ok()?;
        let items = list["items"].as_array()?.clone();
        (items.len() == 2).then_some(items)
    })
    .await?;
    let error_of = |target: &str| {
        dead.iter()
            .find(|row| row["target"] == target)
            .and_then(|row| row["last_error"].as_str())
            .unwrap_or_default()
            .to_string()
    };
    assert!(
        error_of("pd").contains("HTTP 400") && error_of("pd").contains("routing_key"),
        "{dead:?}"
    );
    assert!(error_of("sn").contains("HTTP 401"), "{dead:?}");
    // One attempt each: a final answer is never retried on its own.
    assert_eq!(pagerduty.requests().len(), 1);
    let (ok, output) = rollcall_cli(&collector, &["outbox", "dead"])?;
    assert!(ok && output.contains("HTTP 401"), "{output}");

    // A viewer may not retry; an operator may, and the retried row is delivered once.
    let pd_id = dead
        .iter()
        .find(|row| row["target"] == "pd")
        .and_then(|row| row["id"].as_i64())
        .unwrap_or_default();
    let (status, body) = collector
        .api(
            reqwest::Method::POST,
            "/api/v1/outbox/999999/retry",
            Some(&collector.admin_token),
            None,
        )
        .await?;
    assert_eq!(status, 404, "{body}");
    let (ok, output) = rollcall_cli(&collector, &["outbox", "retry", &pd_id.to_string()])?;
    assert!(ok, "{output}");
    wait_delivered(&collector, "inc-d", &["pd"], 1).await?;
    assert_eq!(pagerduty.accepted("create:mail1:host_down"), 1);
    let (status, _) = collector
        .api(
            reqwest::Method::POST,
            &format!("/api/v1/outbox/{pd_id}/retry"),
            Some(&collector.admin_token),
            None,
        )
        .await?;
    assert_eq!(status, 409, "a delivered row cannot be retried");
    assert_no_violations(&[("pagerduty", &pagerduty), ("servicenow", &servicenow)]);
    Ok(())
}

async fn circuit_of(collector: &Collector, target: &str) -> Option<Value> {
    let list = collector.get("/api/v1/integrations").await.ok()?;
    list["items"]
        .as_array()?
        .iter()
        .find(|item| item["name"] == target)
        .cloned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn circuit_opens_after_failures_and_closes_after_a_probe() -> Result<()> {
    let fake = vendors::webhook::start().await?;
    fake.set_down(true);
    let dir = tempfile::tempdir()?;
    let extra = format!("circuit_failures = 3\ncircuit_cooldown_s = 3\n{FAST}");
    let collector = Collector::start(
        dir.path(),
        &options(&target_toml("hook", "webhook", &fake.url, &extra)),
    )?;
    let db = events::open(&collector.data_dir).await?;
    for host in ["c1", "c2", "c3", "c4"] {
        events::insert(
            &db,
            &events::host_down(&format!("inc-{host}"), host, Transition::Trigger),
        )
        .await?;
    }
    wait_for("circuit open", Duration::from_secs(20), || async {
        let target = circuit_of(&collector, "hook").await?;
        (target["circuit"] == "open").then_some(())
    })
    .await?;
    let sent = fake.requests().len();
    assert_eq!(sent, 3, "requests until the circuit opened");
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(
        fake.requests().len(),
        sent,
        "nothing is sent while the circuit is open"
    );
    fake.set_down(false);
    for host in ["c1", "c2", "c3", "c4"] {
        wait_delivered(&collector, &format!("inc-{host}"), &["hook"], 1).await?;
    }
    let target = circuit_of(&collector, "hook").await.unwrap_or_default();
    assert_eq!(target["circuit"], "closed", "{target}");
    assert_eq!(target["counts"]["delivered"], 4, "{target}");
    assert_no_violations(&[("webhook", &fake)]);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_with_undelivered_entries_delivers_each_once_after_restart() -> Result<()> {
    let pagerduty = vendors::pagerduty::start().await?;
    let zendesk = vendors::zendesk::start().await?;
    let dir = tempfile::tempdir()?;
    let targets = format!(
        "{}{}",
        target_toml("pd", "pagerduty", &pagerduty.url, FAST),
        target_toml("zd", "zendesk", &zendesk.url, FAST)
    );
    let mut collector = Collector::start(dir.path(), &options(&targets))?;
    let db = events::open(&collector.data_dir).await?;
    events::insert(&db, &events::host_down("inc-k0", "k0", Transition::Trigger)).await?;
    wait_delivered(&collector, "inc-k0", &["pd", "zd"], 1).await?;

    pagerduty.set_down(true);
    zendesk.set_down(true);
    let hosts = ["k1", "k2", "k3", "k4", "k5"];
    for host in hosts {
        events::insert(
            &db,
            &events::host_down(&format!("inc-{host}"), host, Transition::Trigger),
        )
        .await?;
    }
    wait_for(
        "failed attempts on every entry",
        Duration::from_secs(30),
        || async {
            let list = collector.get("/api/v1/outbox?state=pending").await.ok()?;
            let items = list["items"].as_array()?.clone();
            (items.len() == 10 && items.iter().all(|row| row["attempts"].as_i64() >= Some(1)))
                .then_some(())
        },
    )
    .await?;
    db.close().await;
    collector.process.kill_hard();
    pagerduty.set_down(false);
    zendesk.set_down(false);
    collector.crash_and_restart()?;
    for host in hosts {
        wait_delivered(&collector, &format!("inc-{host}"), &["pd", "zd"], 1).await?;
    }
    for host in ["k0", "k1", "k2", "k3", "k4", "k5"] {
        let key = format!("{host}:host_down");
        assert_eq!(
            pagerduty.accepted(&format!("trigger:{key}:requests")),
            1,
            "{key} accepted by pagerduty"
        );
        assert_eq!(
            zendesk.accepted(&format!("create:{}", correlation_id(&key))),
            1,
            "{key} ticket"
        );
    }
    assert_no_violations(&[("pagerduty", &pagerduty), ("zendesk", &zendesk)]);
    Ok(())
}

/// A child process killed when dropped.
struct Guard(Child);

impl Drop for Guard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start_alertmanager(dir: &Path) -> Result<Option<(Guard, String)>> {
    let binary = ["prometheus-alertmanager", "alertmanager"]
        .into_iter()
        .find(|name| {
            Command::new("sh")
                .args(["-c", &format!("command -v {name}")])
                .output()
                .is_ok_and(|output| output.status.success())
        });
    let Some(binary) = binary else {
        if in_ci() {
            bail!("prometheus-alertmanager is not installed (.ci/run installs it)");
        }
        eprintln!(
            "skipping: prometheus-alertmanager is not installed (apt-get install prometheus-alertmanager)"
        );
        return Ok(None);
    };
    let config = dir.join("alertmanager.yml");
    std::fs::write(
        &config,
        "route:\n  receiver: \"null\"\n  group_wait: 1s\nreceivers:\n  - name: \"null\"\n",
    )?;
    let port = free_port();
    let child = Command::new(binary)
        .arg(format!("--config.file={}", config.display()))
        .arg(format!("--storage.path={}", dir.join("am-data").display()))
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .arg("--cluster.listen-address=")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()?;
    Ok(Some((Guard(child), format!("http://127.0.0.1:{port}"))))
}

async fn am_alert(url: &str, key: &str) -> Option<Value> {
    let alerts: Value = reqwest::get(format!("{url}/api/v2/alerts"))
        .await
        .ok()?
        .json()
        .await
        .ok()?;
    alerts
        .as_array()?
        .iter()
        .find(|alert| alert["labels"]["dedup_key"] == key)
        .cloned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn real_alertmanager_shows_the_alert_while_firing_and_resolves_it() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let Some((_alertmanager, url)) = start_alertmanager(dir.path())? else {
        return Ok(());
    };
    wait_for("alertmanager ready", Duration::from_secs(30), || async {
        let response = reqwest::get(format!("{url}/-/ready")).await.ok()?;
        response.status().is_success().then_some(())
    })
    .await?;
    let collector = Collector::start(
        dir.path(),
        &options(&target_toml(
            "am",
            "alertmanager",
            &url,
            &format!("resend_interval_s = 1\n{FAST}"),
        )),
    )?;
    let db = events::open(&collector.data_dir).await?;
    let key = "am1:host_down";
    events::insert(
        &db,
        &events::host_down("inc-am", "am1", Transition::Trigger),
    )
    .await?;
    let alert = wait_for(
        "alert active in alertmanager",
        Duration::from_secs(30),
        || async {
            let alert = am_alert(&url, key).await?;
            (alert["status"]["state"] == "active").then_some(alert)
        },
    )
    .await?;
    assert_eq!(alert["labels"]["alertname"], "host_down");
    assert_eq!(alert["labels"]["severity"], "critical");
    assert_eq!(alert["labels"]["instance"], "am1.example.test");
    assert_eq!(alert["annotations"]["summary"], "am1 is down");

    events::insert(
        &db,
        &events::host_down("inc-am", "am1", Transition::Resolve),
    )
    .await?;
    wait_delivered(&collector, "inc-am", &["am"], 2).await?;
    // Re-sends stop after the resolve; the alert leaves the active list.
    wait_for(
        "alert resolved in alertmanager",
        Duration::from_secs(30),
        || async {
            match am_alert(&url, key).await {
                None => Some(()),
                Some(alert) => (alert["status"]["state"] != "active").then_some(()),
            }
        },
    )
    .await?;
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert!(
        am_alert(&url, key)
            .await
            .is_none_or(|alert| alert["status"]["state"] != "active"),
        "a re-send must not revive a resolved alert"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_real_agent_going_down_reaches_two_targets_once_each_and_both_resolve() -> Result<()> {
    let servicenow = vendors::servicenow::start().await?;
    let pagerduty = vendors::pagerduty::start().await?;
    let targets = format!(
        "{}{}",
        target_toml("snow", "servicenow", &servicenow.url, FAST),
        target_toml("pd", "pagerduty", &pagerduty.url, FAST)
    );
    let dir = tempfile::tempdir()?;
    let collector = Collector::start(dir.path(), &options(&targets))?;
    let started = std::time::Instant::now();
    let token = collector.enrollment_token(1, 600).await?;
    let root = rollcall_tests::fake_host_root(dir.path(), "db-07", 7)?;
    let agent = rollcall_tests::Agent::new(
        dir.path(),
        "db-07",
        &[&collector.grpc_url],
        &format!("root = {:?}\n", root.display().to_string()),
    )?;
    let (ok, output) = agent.enroll(&collector.grpc_url, &token, &collector.ca_fingerprint)?;
    assert!(ok, "{output}");
    let mut process = agent.run()?;
    let host_id = wait_for("the host up", Duration::from_secs(60), || async {
        let hosts = collector.hosts().await.ok()?;
        hosts
            .into_iter()
            .find(|host| host["presence"] == "up")
            .and_then(|host| host["id"].as_str().map(String::from))
    })
    .await?;
    // Past the startup grace (2 × down_after = 6 s).
    if let Some(rest) = Duration::from_millis(6_500).checked_sub(started.elapsed()) {
        tokio::time::sleep(rest).await;
    }
    process.signal(libc::SIGSTOP);
    let incident = wait_for("a host-down incident", Duration::from_secs(20), || async {
        let list = collector.get("/api/v1/incidents?state=open").await.ok()?;
        list["items"]
            .as_array()?
            .iter()
            .find(|incident| incident["ci_id"] == host_id.as_str())
            .cloned()
    })
    .await?;
    let id = incident["id"].as_str().unwrap_or_default().to_string();
    let key = format!("{host_id}:host_down");
    let list = wait_delivered(&collector, &id, &["snow", "pd"], 1).await?;
    assert_eq!(
        servicenow.accepted(&format!("create:{}", correlation_id(&key))),
        1
    );
    assert_eq!(pagerduty.accepted(&format!("create:{key}")), 1);
    assert!(
        !external_ref(&list, "snow").is_empty(),
        "the ServiceNow sys_id is kept: {list:?}"
    );
    let sys_id = external_ref(&list, "snow");
    let created = servicenow.object(&sys_id).unwrap_or_default();
    // The correlation id is the hash of the dedup key (no agent-chosen text
    // in a ServiceNow query); the readable key is in the description.
    assert_eq!(created["correlation_id"], correlation_id(&key).as_str());
    assert!(
        created["description"]
            .as_str()
            .is_some_and(|text| text.contains(key.as_str())),
        "{created}"
    );
    assert!(
        created["short_description"]
            .as_str()
            .is_some_and(|text| text.contains("db-07")),
        "{created}"
    );

    process.signal(libc::SIGCONT);
    wait_delivered(&collector, &id, &["snow", "pd"], 2).await?;
    assert_eq!(
        servicenow.accepted(&format!("resolve:{}", correlation_id(&key))),
        1
    );
    assert_eq!(pagerduty.accepted(&format!("resolve:{key}")), 1);
    assert_eq!(servicenow.object(&sys_id).unwrap_or_default()["state"], "6");
    // Once each: no second create after the resolve went through.
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(
        servicenow.accepted(&format!("create:{}", correlation_id(&key))),
        1
    );
    assert_eq!(pagerduty.accepted(&format!("create:{key}")), 1);
    assert_no_violations(&[("snow", &servicenow), ("pd", &pagerduty)]);
    process.kill_hard();
    Ok(())
}

/// `rollcall-collector check-config` on `toml`: success, stdout, stderr.
fn check_config(dir: &Path, toml: &str) -> Result<(Option<i32>, String, String)> {
    let path = dir.join("collector.toml");
    std::fs::write(&path, toml)?;
    let output = Command::new(rollcall_tests::bin("rollcall-collector"))
        .arg("check-config")
        .arg("--config")
        .arg(&path)
        .env_remove("ROLLCALL_CONFIG")
        .output()?;
    Ok((
        output.status.code(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    ))
}

#[test]
fn the_collector_refuses_a_setting_of_another_kind_naming_field_and_target() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let url = "http://127.0.0.1:9";
    let every_kind: String = [
        "servicenow",
        "servicenow_em",
        "pagerduty",
        "jira",
        "zendesk",
        "alertmanager",
        "webhook",
    ]
    .iter()
    .map(|kind| target_toml(kind, kind, url, FAST))
    .collect();
    let (code, stdout, stderr) = check_config(dir.path(), &every_kind)?;
    assert_eq!(code, Some(0), "{stderr}");
    assert!(stdout.contains("kind = \"servicenow_em\""), "{stdout}");
    assert!(
        !stdout.contains(vendors::PASSWORD),
        "secrets are not printed: {stdout}"
    );

    let foreign = target_toml("helpdesk", "jira", url, "routing_key = \"R0123\"\n");
    let (code, _, stderr) = check_config(dir.path(), &foreign)?;
    assert_eq!(code, Some(2), "{stderr}");
    assert!(
        stderr.contains("integrations target \"helpdesk\" (jira): unknown field `routing_key`"),
        "{stderr}"
    );
    Ok(())
}
