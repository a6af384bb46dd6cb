//! Transport security of the two listeners (issue 12, finding 6): plain
//! HTTP beyond loopback is refused, the API serves HTTPS that the CLI
//! verifies (CA file or pinned fingerprint), slow or silent connections are
//! closed within their time-outs, and every answer carries the security
//! headers.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use rollcall_tests::{Collector, CollectorOptions, bin, free_port};

/// A collector with the harness's defaults plus `extra` TOML.
fn collector_with(dir: &std::path::Path, extra: &str) -> Result<Collector> {
    let mut options = CollectorOptions::default();
    options.extra_toml.push_str(extra);
    Collector::start(dir, &options)
}

/// `host:port` of an `http(s)://host:port` URL.
fn authority(url: &str) -> &str {
    url.split_once("://").map_or(url, |(_, rest)| rest)
}

/// Opens a TCP connection, writes `sent`, and waits (up to `give_up`) for
/// the peer to close; returns how long that took and what it answered.
fn closed_after(address: &str, sent: &[u8], give_up: Duration) -> Result<(Duration, String)> {
    let mut stream = TcpStream::connect(address)?;
    stream.write_all(sent)?;
    stream.set_read_timeout(Some(give_up))?;
    let started = Instant::now();
    let mut answer = Vec::new();
    let mut buffer = [0u8; 4096];
    loop {
        match stream.read(&mut buffer) {
            Ok(0) => break,
            Ok(read) => answer.extend_from_slice(&buffer[..read]),
            Err(error)
                if matches!(
                    error.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                bail!("the connection to {address} was still open after {give_up:?}")
            }
            // A reset is a close too.
            Err(_) => break,
        }
    }
    Ok((
        started.elapsed(),
        String::from_utf8_lossy(&answer).into_owned(),
    ))
}

#[test]
fn plain_http_beyond_loopback_is_refused_at_start_unless_allowed() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let config = dir.path().join("collector.toml");
    std::fs::write(
        &config,
        format!(
            "data_dir = {:?}\ngrpc_listen = \"127.0.0.1:{}\"\napi_listen = \"0.0.0.0:{}\"\n",
            dir.path().join("data").display().to_string(),
            free_port(),
            free_port()
        ),
    )?;
    // Spawned rather than `output()`: a collector that does start must
    // fail the test, not hang it.
    let mut child = std::process::Command::new(bin("rollcall-collector"))
        .args(["serve", "--config"])
        .arg(&config)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()?;
    let deadline = Instant::now() + Duration::from_secs(20);
    while child.try_wait()?.is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            bail!("the collector started with plain HTTP on 0.0.0.0");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let output = child.wait_with_output()?;
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "it started: {stderr}");
    assert!(
        stderr.contains("0.0.0.0")
            && stderr.contains("allow_plain_http")
            && stderr.contains("tls = true"),
        "{stderr}"
    );
    // `check-config` refuses it the same way.
    let output = std::process::Command::new(bin("rollcall-collector"))
        .args(["check-config", "--config"])
        .arg(&config)
        .output()?;
    assert!(!output.status.success());
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_api_over_https_works_with_the_cli_given_the_ca_and_refuses_a_wrong_fingerprint()
-> Result<()> {
    let dir = tempfile::tempdir()?;
    let collector = collector_with(
        dir.path(),
        "[api]\ntls = true\ntls_handshake_timeout_ms = 1000\n",
    )?;
    assert!(
        collector.api_url.starts_with("https://"),
        "{}",
        collector.api_url
    );
    let ca_file = collector.data_dir.join("ca.pem");
    let ca_file = ca_file.to_str().context("ca path")?;

    let (ok, output) = collector.cli(&["hosts", "list", "--ca-file", ca_file])?;
    assert!(ok, "with --ca-file: {output}");
    let (ok, output) = collector.cli(&[
        "hosts",
        "list",
        "--ca-fingerprint",
        &collector.ca_fingerprint,
    ])?;
    assert!(ok, "with --ca-fingerprint: {output}");

    let wrong = "00".repeat(32);
    let (ok, output) = collector.cli(&["hosts", "list", "--ca-fingerprint", &wrong])?;
    assert!(!ok && output.contains("fingerprint mismatch"), "{output}");
    let (ok, output) = collector.cli(&["hosts", "list"])?;
    assert!(!ok && output.contains("--ca-file"), "no CA given: {output}");

    // Browsers get HSTS under TLS, beside the other headers.
    let ca = reqwest::Certificate::from_pem(&std::fs::read(ca_file)?)?;
    let client = reqwest::Client::builder()
        .add_root_certificate(ca)
        .build()?;
    let response = client
        .get(format!("{}/api/v1/hosts", collector.api_url))
        .bearer_auth(&collector.admin_token)
        .send()
        .await?;
    assert_eq!(response.status(), 200);
    let hsts = response.headers().get("strict-transport-security");
    assert!(
        hsts.is_some_and(|value| value.as_bytes().starts_with(b"max-age=")),
        "{hsts:?}"
    );

    // A connection that never starts TLS is closed within the handshake time-out.
    let (elapsed, _) = closed_after(authority(&collector.api_url), b"", Duration::from_secs(10))?;
    assert!(elapsed < Duration::from_secs(5), "closed after {elapsed:?}");
    Ok(())
}

#[test]
fn a_slowloris_connection_and_a_slow_body_are_cut_off_by_their_time_outs() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let collector = collector_with(
        dir.path(),
        "[api]\nheader_read_timeout_ms = 1000\nrequest_timeout_ms = 1500\n",
    )?;
    let api = authority(&collector.api_url);
    // Half a request header, then nothing.
    let (elapsed, _) = closed_after(
        api,
        b"GET /api/v1/hosts HTTP/1.1\r\nHost: collector\r\nX-Slow: ",
        Duration::from_secs(10),
    )?;
    assert!(
        elapsed >= Duration::from_millis(800) && elapsed < Duration::from_secs(4),
        "closed after {elapsed:?}"
    );
    // Whole headers, but a body that never arrives: 408 within the request time-out.
    let request = format!(
        "POST /api/v1/enrollment-tokens HTTP/1.1\r\nHost: collector\r\nAuthorization: Bearer {}\r\n\
         Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{{\"max_uses\"",
        collector.admin_token
    );
    let (elapsed, answer) = closed_after(api, request.as_bytes(), Duration::from_secs(10))?;
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(
        elapsed < Duration::from_secs(5),
        "answered after {elapsed:?}"
    );
    Ok(())
}

#[test]
fn an_idle_connection_on_the_grpc_port_that_never_starts_tls_is_closed() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let collector = collector_with(dir.path(), "[grpc]\ntls_handshake_timeout_ms = 1000\n")?;
    let (elapsed, _) = closed_after(authority(&collector.grpc_url), b"", Duration::from_secs(10))?;
    assert!(elapsed < Duration::from_secs(4), "closed after {elapsed:?}");
    Ok(())
}

/// Completes TLS with the gRPC port (no client certificate, ALPN h2), writes
/// `sent`, and returns how long the collector took to close the connection.
async fn tls_closed_after(
    collector: &Collector,
    sent: &[u8],
    give_up: Duration,
) -> Result<Duration> {
    use rustls::pki_types::{CertificateDer, ServerName, pem::PemObject};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut roots = rustls::RootCertStore::empty();
    for certificate in CertificateDer::pem_file_iter(collector.data_dir.join("ca.pem"))? {
        roots.add(certificate?)?;
    }
    let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = vec![b"h2".to_vec()];
    let address = authority(&collector.grpc_url);
    let host = address.rsplit_once(':').map_or(address, |(host, _)| host);
    let tcp = tokio::net::TcpStream::connect(address).await?;
    let mut tls = tokio_rustls::TlsConnector::from(std::sync::Arc::new(config))
        .connect(ServerName::try_from(host.to_string())?, tcp)
        .await
        .context("the TLS handshake with the gRPC port")?;
    tls.write_all(sent).await?;
    tls.flush().await?;
    let started = Instant::now();
    let mut buffer = [0u8; 4096];
    loop {
        match tokio::time::timeout(give_up, tls.read(&mut buffer)).await {
            Err(_) => bail!("the TLS connection was still open after {give_up:?}"),
            Ok(Ok(0) | Err(_)) => return Ok(started.elapsed()),
            // The server's SETTINGS and the like; keep waiting for the close.
            Ok(Ok(_)) => {}
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connection_that_finishes_tls_then_stays_silent_is_closed() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let collector = collector_with(
        dir.path(),
        "[grpc]
first_bytes_timeout_ms = 1000
unauthenticated_connection_max_ms = 3000
",
    )?;
    // Nothing after the handshake: closed at the first-bytes time-out.
    let silent = tls_closed_after(&collector, b"", Duration::from_secs(15)).await?;
    assert!(silent < Duration::from_secs(3), "closed after {silent:?}");
    // Half a preface is not a preface.
    let trickle = tls_closed_after(&collector, b"PRI * HTTP/2.0", Duration::from_secs(15)).await?;
    assert!(trickle < Duration::from_secs(3), "closed after {trickle:?}");
    // A whole preface but no client certificate and no call: such a
    // connection is for Enroll only, and it is closed at its maximum age.
    let idle = tls_closed_after(
        &collector,
        b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00\x00\x04\x00\x00\x00\x00\x00",
        Duration::from_secs(15),
    )
    .await?;
    assert!(
        idle >= Duration::from_secs(2) && idle < Duration::from_secs(6),
        "closed after {idle:?}"
    );
    // Real agents still enroll and report through the same accept loop.
    let token = collector.enrollment_token(1, 600).await?;
    let agent = rollcall_tests::Agent::new(dir.path(), "agent", &[&collector.grpc_url], "")?;
    let (ok, output) = agent.enroll(&collector.grpc_url, &token, &collector.ca_fingerprint)?;
    assert!(ok, "{output}");
    let _process = agent.run()?;
    collector.host_with_inventory().await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_api_answer_carries_the_security_headers_and_bodies_are_bounded() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let collector = collector_with(dir.path(), "[api]\nmax_body_bytes = 4096\n")?;
    let client = reqwest::Client::new();
    let hosts = format!("{}/api/v1/hosts", collector.api_url);
    let tokens = format!("{}/api/v1/enrollment-tokens", collector.api_url);
    let answers = [
        client
            .get(&hosts)
            .bearer_auth(&collector.admin_token)
            .send()
            .await?,
        client.get(&hosts).send().await?,
        client
            .post(&tokens)
            .bearer_auth(&collector.admin_token)
            .header("content-type", "application/json")
            .body(format!("{{\"description\":\"{}\"}}", "x".repeat(10_000)))
            .send()
            .await?,
    ];
    let statuses: Vec<u16> = answers
        .iter()
        .map(|answer| answer.status().as_u16())
        .collect();
    assert_eq!(statuses, [200, 401, 413]);
    for answer in &answers {
        let headers = answer.headers();
        let header = |name: &str| headers.get(name).and_then(|value| value.to_str().ok());
        assert_eq!(
            header("x-content-type-options"),
            Some("nosniff"),
            "{headers:?}"
        );
        assert_eq!(header("cache-control"), Some("no-store"), "{headers:?}");
        assert_eq!(
            header("content-security-policy"),
            Some("frame-ancestors 'none'"),
            "{headers:?}"
        );
        assert_eq!(
            header("strict-transport-security"),
            None,
            "no HSTS over plain HTTP"
        );
    }
    Ok(())
}
