//! Enrolment under attack: a token guesser at one address gets no
//! signatures and does not stop real agents at another address from
//! enrolling; the guesses show in `/metrics` and in one aggregate log line.

use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use anyhow::{Result, bail};
use rollcall_proto::v1::EnrollRequest;
use rollcall_proto::v1::rollcall_client::RollcallClient;
use rollcall_tests::source::{channel_from, csr_pem};
use rollcall_tests::{Agent, Collector, CollectorOptions};

/// Concurrent guess loops.
const GUESSERS: usize = 8;
/// Real agents that enroll while the guesser runs.
const AGENTS: usize = 4;

/// The value of one sample line of the `/metrics` text, 0 when absent.
fn sample(metrics: &str, series: &str) -> u64 {
    metrics
        .lines()
        .find_map(|line| line.strip_prefix(series)?.trim().parse().ok())
        .unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_guesser_gets_no_signatures_and_does_not_stop_real_enrolments() -> Result<()> {
    let dir = tempfile::tempdir()?;
    // A small global limit, so that an unlimited guesser would spend it all.
    let options = CollectorOptions {
        extra_toml: format!(
            "{}[ingest]\nenroll_rate = 5\nenroll_burst = 10\n\
             enroll_rate_per_source = 2\nenroll_burst_per_source = 4\n",
            CollectorOptions::default().extra_toml
        ),
        ..CollectorOptions::default()
    };
    let collector = Collector::start(dir.path(), &options)?;
    let ca_pem = std::fs::read_to_string(collector.data_dir.join("ca.pem"))?;
    let guesser_address: IpAddr = "127.0.0.2".parse()?;
    let channel = channel_from(guesser_address, &collector.grpc_url, &ca_pem).await?;
    let csr = csr_pem("guesser")?;

    let stop = Arc::new(AtomicBool::new(false));
    let (guesses, accepted) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
    let mut loops = Vec::new();
    for worker in 0..GUESSERS {
        let mut client = RollcallClient::new(channel.clone());
        let (stop, guesses, accepted, csr) =
            (stop.clone(), guesses.clone(), accepted.clone(), csr.clone());
        loops.push(tokio::spawn(async move {
            let mut attempt = 0u64;
            while !stop.load(Ordering::Relaxed) {
                attempt += 1;
                let request = EnrollRequest {
                    token: format!("rcenr_guess-{worker}-{attempt}"),
                    csr_pem: csr.clone(),
                    hostname: "guesser".into(),
                    agent_version: "0".into(),
                };
                guesses.fetch_add(1, Ordering::Relaxed);
                if client.enroll(request).await.is_ok() {
                    accepted.fetch_add(1, Ordering::Relaxed);
                }
            }
        }));
    }
    // Let the guesser spend the global burst before the agents come.
    tokio::time::sleep(Duration::from_millis(500)).await;

    let token = collector.enrollment_token(AGENTS as i64, 600).await?;
    let url = collector.grpc_url.clone();
    let mut failures = Vec::new();
    for index in 0..AGENTS {
        tokio::time::sleep(Duration::from_millis(300)).await;
        let agent = Agent::new(dir.path(), &format!("real-{index}"), &[&url], "")?;
        let (url, token, fingerprint) =
            (url.clone(), token.clone(), collector.ca_fingerprint.clone());
        let (ok, output) =
            tokio::task::spawn_blocking(move || agent.enroll(&url, &token, &fingerprint)).await??;
        if !ok {
            failures.push(output);
        }
    }
    stop.store(true, Ordering::Relaxed);
    for guess_loop in loops {
        guess_loop.await?;
    }
    let guesses = guesses.load(Ordering::Relaxed);
    assert!(
        failures.is_empty(),
        "{} of {AGENTS} real enrolments failed during {guesses} guesses: {failures:?}",
        failures.len()
    );
    assert_eq!(accepted.load(Ordering::Relaxed), 0, "a guess was accepted");
    assert!(guesses >= 100, "the guesser made only {guesses} attempts");

    let metrics = collector.metrics().await?;
    let refused: u64 = [
        "unknown_token",
        "source_rate_limited",
        "global_rate_limited",
    ]
    .iter()
    .map(|reason| {
        sample(
            &metrics,
            &format!("rollcall_enroll_refused_total{{reason=\"{reason}\"}}"),
        )
    })
    .sum();
    if refused < guesses {
        bail!("{guesses} guesses but only {refused} refusals counted:\n{metrics}");
    }
    assert!(
        sample(
            &metrics,
            "rollcall_enroll_refused_total{reason=\"source_rate_limited\"}"
        ) > 0,
        "{metrics}"
    );
    assert_eq!(
        sample(&metrics, "rollcall_enroll_signed_total"),
        AGENTS as u64,
        "only the real agents' requests are signed:\n{metrics}"
    );
    assert_eq!(sample(&metrics, "rollcall_enrolled_total"), AGENTS as u64);

    // Logged in aggregate: the whole run fits in one refusal interval.
    let log = collector.process.stderr_text();
    let warnings = log
        .lines()
        .filter(|line| line.contains("enrollment attempts refused"))
        .count();
    assert_eq!(warnings, 1, "{guesses} guesses logged as {warnings} lines");
    assert!(
        !log.contains("enrollment refused"),
        "a refusal was logged alone"
    );
    Ok(())
}
