//! Server time of the console's pages with `HOSTS` hosts in the store
//! (default 10,000; SQLite), printed as numbers: every host enrolled and
//! attached through the `Store` trait, the first `FULL` (default 50) with
//! this machine's real inventory applied, then each page requested `RUNS`
//! times (default 30) through the real router (`tower::ServiceExt::oneshot`,
//! no socket) with a logged-in session: p50, p99 and max wall time per
//! request, and the process CPU time per request (the benchmark is the only
//! thing running in the process). The first inventories are 35 days old;
//! the first host upgrades its first package a day later (so `as_of` a
//! month back replays history) and has a day of raw health samples (one a
//! minute, five filesystems), so its page draws every chart. Beside the
//! pages, the API's version query, `as_of` a month back and a package's
//! rollout are timed the same way (bearer token).
//!
//! `cargo run --release -p rollcall-collector --example console_bench -- DIR [HOSTS] [FULL] [RUNS]`
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)]

mod support;

use std::sync::Arc;
use std::time::Instant;

use axum::body::Body;
use axum::http::{Request, header};
use rollcall_collector::auth;
use rollcall_collector::config::Config;
use rollcall_collector::ingest::validate;
use rollcall_collector::integrations::Integrations;
use rollcall_collector::pki::Pki;
use rollcall_collector::state::{Parts, State};
use rollcall_collector::store::{self, ApplyContext, NewOutage};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tower::ServiceExt;

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let mut args = std::env::args().skip(1);
    let dir = std::path::PathBuf::from(args.next().expect("DIR"));
    let hosts: usize = args.next().map_or(10_000, |a| a.parse().unwrap());
    let full: usize = args.next().map_or(50, |a| a.parse().unwrap());
    let runs: usize = args.next().map_or(30, |a| a.parse().unwrap());
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let config =
        Config::from_toml(&format!("data_dir = {:?}\n", dir.display().to_string())).unwrap();
    let url = format!(
        "sqlite://{}?mode=rwc",
        dir.join("console-bench.db").display()
    );
    let store = store::sql::connect(&url).await.unwrap();
    let now = rollcall_proto::now_ms();
    let t0 = now - 35 * 86_400_000;
    let started = Instant::now();
    let mut ids = Vec::new();
    for index in 0..hosts {
        ids.push(support::enrolled_host(store.as_ref(), index, t0).await);
    }
    let mut real = rollcall_agent::discovery::collect_inventory(std::path::Path::new("/"));
    real.collected_at_ms = t0;
    for (index, (agent, host)) in ids.iter().take(full).enumerate() {
        let mut inventory = real.clone();
        if let Some(identity) = inventory.identity.as_mut() {
            identity.hostname = format!("host-{index}");
            identity.machine_id = format!("{index:032x}");
        }
        let change = validate::snapshot_change(&inventory, t0).unwrap();
        let context = ApplyContext {
            agent_id: agent.clone(),
            host_id: host.clone(),
            seq: 1,
            at: t0,
        };
        store.apply_inventory(&context, change).await.unwrap();
    }
    // The first host: its first package upgraded a day later, and a day of
    // health samples.
    let (first_agent, first_host) = &ids[0];
    let mut upgraded = real.clone();
    if let Some(identity) = upgraded.identity.as_mut() {
        identity.hostname = "host-0".into();
        identity.machine_id = format!("{:032x}", 0);
    }
    if let Some(package) = upgraded.packages.first_mut() {
        package.version = format!("{}+bench1", package.version);
    }
    upgraded.collected_at_ms = t0 + 86_400_000;
    let change = validate::snapshot_change(&upgraded, t0 + 86_400_000).unwrap();
    let context = |seq: i64, at: i64| ApplyContext {
        agent_id: first_agent.clone(),
        host_id: first_host.clone(),
        seq,
        at,
    };
    store
        .apply_inventory(&context(2, t0 + 86_400_000), change)
        .await
        .unwrap();
    for minute in 0..1_440_i64 {
        let at = now - 86_400_000 + minute * 60_000;
        let report = rollcall_proto::v1::HealthReport {
            sampled_at_ms: at,
            cpu_percent: (minute % 100) as f32,
            memory_used_bytes: 1 << 30,
            memory_total_bytes: 4 << 30,
            filesystems: ["/", "/boot", "/var", "/home", "/srv"]
                .iter()
                .map(|mount| rollcall_proto::v1::FilesystemUsage {
                    mount_point: (*mount).into(),
                    size_bytes: 100 << 30,
                    used_bytes: 40 << 30,
                    used_percent: 40.0,
                })
                .collect(),
            ..Default::default()
        };
        let data = rollcall_collector::cmdb::rollup::encode_sample(&report);
        store
            .record_health(&context(3 + minute, at), at, &data)
            .await
            .unwrap();
    }
    for (index, (_, host)) in ids.iter().enumerate().filter(|(i, _)| i % 100 == 0) {
        store
            .open_outage(&NewOutage {
                id: format!("outage-{index}"),
                host_id: host.clone(),
                kind: "unplanned".into(),
                cause: "bench".into(),
                began_at: now - 600_000,
                detected_at: now - 597_000,
            })
            .await
            .unwrap();
    }
    println!(
        "store: {hosts} hosts, {full} with this machine's inventory ({} packages), {} open outages, filled in {:.1} s",
        real.packages.len(),
        hosts / 100,
        started.elapsed().as_secs_f64()
    );

    let pki = Pki::load_or_create(&config.data_dir, &config.tls, &config.server_names).unwrap();
    let shutdown = CancellationToken::new();
    let tasks = TaskTracker::new();
    let monitor = rollcall_collector::availability::monitor::start(
        store.clone(),
        config.clone(),
        shutdown.clone(),
        &tasks,
    )
    .await
    .unwrap();
    let integrations = Arc::new(Integrations::new(&config.integrations).unwrap());
    let (seen_sender, _seen_receiver) = tokio::sync::mpsc::channel(16);
    let state = Arc::new(State::new(Parts {
        config,
        store: store.clone(),
        pki,
        monitor,
        integrations,
        seen_sender,
        shutdown: shutdown.clone(),
    }));
    let secret = auth::generate_secret("rcapi");
    store
        .create_api_token(
            &auth::new_id(),
            "bench",
            "admin",
            &auth::hash_secret(&secret),
            now,
        )
        .await
        .unwrap();
    let router = rollcall_collector::api::router(state.clone())
        .merge(rollcall_collector::console::router(state.clone()));

    // Log in as a browser would.
    let form = router
        .clone()
        .oneshot(Request::get("/login").body(Body::empty()).unwrap())
        .await
        .unwrap();
    let nonce = form.headers()[header::SET_COOKIE]
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .trim_start_matches("rollcall_login=")
        .to_string();
    let login = router
        .clone()
        .oneshot(
            Request::post("/login")
                .header(header::COOKIE, format!("rollcall_login={nonce}"))
                .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
                .body(Body::from(format!("csrf={nonce}&token={secret}")))
                .unwrap(),
        )
        .await
        .unwrap();
    let session = login
        .headers()
        .get_all(header::SET_COOKIE)
        .iter()
        .map(|value| {
            value
                .to_str()
                .unwrap()
                .split(';')
                .next()
                .unwrap()
                .to_string()
        })
        .find(|cookie| cookie.starts_with("rollcall_session="))
        .expect("a session");

    let full_host = &ids[0].1;
    let package = real
        .packages
        .first()
        .expect("this machine has packages")
        .clone();
    let bare_host = &ids[hosts - 1].1;
    let openssl = real
        .packages
        .iter()
        .find(|package| package.name == "openssl")
        .unwrap_or(&package)
        .clone();
    let pages = [
        ("overview", "/".to_string()),
        ("host list (first 200 of all)", "/hosts".to_string()),
        ("host list by name", format!("/hosts?q=host-{}", hosts / 2)),
        ("host list by package", "/hosts?package=openssl".to_string()),
        ("host page (full inventory)", format!("/hosts/{full_host}")),
        (
            "host page as_of",
            format!(
                "/hosts/{full_host}?as_of={}",
                jiff::Timestamp::from_millisecond(t0 + 60_000)
                    .unwrap()
                    .strftime("%Y-%m-%dT%H:%M:%S")
            ),
        ),
        ("host page (no inventory)", format!("/hosts/{bare_host}")),
        ("software catalogue", "/software".to_string()),
        (
            "package page with its 30-day rollout",
            format!("/software/{}", support::encode(&package.name)),
        ),
        (
            "API: hosts with the package older than its version",
            format!(
                "/api/v1/hosts?software={}&version={}&op=%3C",
                support::encode(&package.name),
                support::encode(&package.version)
            ),
        ),
        (
            "API: hosts with openssl older than its version (none match)",
            format!(
                "/api/v1/hosts?software=openssl&version={}&op=%3C",
                support::encode(&openssl.version)
            ),
        ),
        (
            "API: hosts with openssl at most its version (all match; page of 100)",
            format!(
                "/api/v1/hosts?software=openssl&version={}&op=%3C%3D&limit=100",
                support::encode(&openssl.version)
            ),
        ),
        (
            "API: host as_of 30 days back",
            format!("/api/v1/hosts/{full_host}?as_of={}", now - 30 * 86_400_000),
        ),
        (
            "API: rollout, 30 days in days",
            format!(
                "/api/v1/software/{}/rollout?version_ge={}",
                support::encode(&package.name),
                support::encode(&package.version)
            ),
        ),
    ];
    println!(
        "page: p50 / p99 / max wall ms, CPU ms per request, bytes ({runs} runs, debug={})",
        cfg!(debug_assertions)
    );
    for (name, path) in &pages {
        let mut times = Vec::new();
        let mut bytes = 0;
        let cpu = support::cpu_ms();
        for _ in 0..runs {
            let request = Request::get(path.as_str())
                .header(header::COOKIE, &session)
                .header(header::AUTHORIZATION, format!("Bearer {secret}"))
                .body(Body::empty())
                .unwrap();
            let started = Instant::now();
            let response = router.clone().oneshot(request).await.unwrap();
            assert!(
                response.status().is_success(),
                "{name}: {}",
                response.status()
            );
            let body = axum::body::to_bytes(response.into_body(), usize::MAX)
                .await
                .unwrap();
            times.push(started.elapsed().as_secs_f64() * 1000.0);
            bytes = body.len();
        }
        let cpu = (support::cpu_ms() - cpu) / runs as f64;
        times.sort_by(f64::total_cmp);
        let at = |q: f64| times[((times.len() as f64 - 1.0) * q).round() as usize];
        println!(
            "{name}: {:.1} / {:.1} / {:.1} ms, {cpu:.1} ms CPU, {bytes} bytes",
            at(0.5),
            at(0.99),
            times[times.len() - 1]
        );
    }
    shutdown.cancel();
}
