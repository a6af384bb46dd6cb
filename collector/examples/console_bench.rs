//! Server time of the console's pages with `HOSTS` hosts in the store
//! (default 10,000; SQLite), printed as numbers: every host enrolled and
//! attached through the `Store` trait, the first `FULL` (default 50) with
//! this machine's real inventory applied, then each page requested `RUNS`
//! times (default 30) through the real router (`tower::ServiceExt::oneshot`,
//! no socket) with a logged-in session: p50, p99 and max wall time per
//! request, and the process CPU time per request (the benchmark is the only
//! thing running in the process).
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
    let t0 = now - 3_600_000;
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
    let bare_host = &ids[hosts - 1].1;
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
