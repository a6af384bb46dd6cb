//! Prometheus' node_exporter as Debian packages it, run with its default
//! collectors on a loopback port and scraped the way Prometheus scrapes it
//! (`GET /metrics`, `Accept-Encoding: gzip`) at a fixed interval.

use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use anyhow::{Context, Result, bail};
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

use super::daemon::Daemon;

/// The Debian package.
pub const DEBIAN_PACKAGE: &str = "prometheus-node-exporter";
/// Where the package installs the program.
pub const DEFAULT_BINARY: &str = "/usr/bin/prometheus-node-exporter";

/// Scrapes done and what they returned.
#[derive(Debug, Default)]
pub struct ScrapeCounts {
    /// Successful scrapes.
    pub scrapes: AtomicU64,
    /// Failed scrapes.
    pub failures: AtomicU64,
    /// Body bytes as sent (gzip).
    pub wire_bytes: AtomicU64,
    /// Body bytes once decompressed (the text exposition format).
    pub text_bytes: AtomicU64,
}

impl ScrapeCounts {
    /// The counts as JSON.
    pub fn to_json(&self) -> Value {
        let scrapes = self.scrapes.load(Ordering::Relaxed);
        let per_scrape = |total: &AtomicU64| total.load(Ordering::Relaxed) / scrapes.max(1);
        json!({
            "scrapes": scrapes,
            "failures": self.failures.load(Ordering::Relaxed),
            "bytes_per_scrape_gzip": per_scrape(&self.wire_bytes),
            "bytes_per_scrape_text": per_scrape(&self.text_bytes),
        })
    }
}

/// A running node_exporter.
#[derive(Debug)]
pub struct NodeExporter {
    /// The process.
    pub daemon: Daemon,
    /// Its metrics URL.
    pub url: String,
}

/// Starts `binary` on a free loopback port, logging into `dir`, and waits
/// until it answers a scrape.
pub async fn start(binary: &Path, dir: &Path) -> Result<NodeExporter> {
    let port = crate::free_port();
    let mut command = Command::new(binary);
    command.arg(format!("--web.listen-address=127.0.0.1:{port}"));
    let mut daemon = Daemon::start("node_exporter", command, &dir.join("node_exporter.log"))?;
    let url = format!("http://127.0.0.1:{port}/metrics");
    let client = reqwest::Client::new();
    for _ in 0..100 {
        daemon.ensure_running()?;
        if client
            .get(&url)
            .send()
            .await
            .is_ok_and(|response| response.status().is_success())
        {
            return Ok(NodeExporter { daemon, url });
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    bail!("node_exporter did not answer on {url} within 10 s");
}

async fn scrape(client: &reqwest::Client, url: &str, counts: &ScrapeCounts) -> Result<()> {
    let response = client
        .get(url)
        .header("Accept-Encoding", "gzip")
        .header(
            "Accept",
            "application/openmetrics-text;version=1.0.0;q=0.5,text/plain;version=0.0.4;q=0.4",
        )
        .timeout(Duration::from_secs(10))
        .send()
        .await?;
    if !response.status().is_success() {
        bail!("scrape answered {}", response.status());
    }
    let gzipped = response
        .headers()
        .get("content-encoding")
        .is_some_and(|encoding| encoding.as_bytes() == b"gzip");
    let body = response.bytes().await?;
    let text = if gzipped {
        use std::io::Read;
        let mut text = Vec::new();
        flate2::read::GzDecoder::new(&body[..])
            .read_to_end(&mut text)
            .context("gunzip a scrape")?;
        text
    } else {
        body.to_vec()
    };
    if !String::from_utf8_lossy(&text).contains("node_cpu_seconds_total") {
        bail!("a scrape has no node_cpu_seconds_total");
    }
    counts
        .wire_bytes
        .fetch_add(body.len() as u64, Ordering::Relaxed);
    counts
        .text_bytes
        .fetch_add(text.len() as u64, Ordering::Relaxed);
    counts.scrapes.fetch_add(1, Ordering::Relaxed);
    Ok(())
}

/// Scrapes `url` now and then every `interval` until `stop`.
pub async fn scrape_every(
    url: String,
    interval: Duration,
    counts: Arc<ScrapeCounts>,
    stop: CancellationToken,
) {
    let client = reqwest::Client::new();
    let mut ticks = tokio::time::interval(interval);
    loop {
        tokio::select! {
            _ = ticks.tick() => {}
            _ = stop.cancelled() => return,
        }
        if let Err(error) = scrape(&client, &url, &counts).await {
            eprintln!("node_exporter scrape failed: {error:#}");
            counts.failures.fetch_add(1, Ordering::Relaxed);
        }
    }
}
