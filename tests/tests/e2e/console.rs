//! The web console against a real collector with real agents: its HTTP
//! contract (security headers, cookies, CSRF refusals, roles) from Rust, then
//! a real browser (Debian's chromium, driven by `tests/browser/console.mjs`
//! with playwright-core) logging in, finding a host by a package, opening
//! it, going back to an earlier date, acknowledging an incident and logging
//! out. Hostile strings come from a real agent (its host name) and from a
//! raw session of an enrolled agent (a failed unit's name).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use reqwest::header;
use rollcall_proto::v1::HealthReport;
use rollcall_proto::v1::agent_message::Body;
use rollcall_tests::{Agent, Collector, CollectorOptions, fake_host_root, in_ci, raw, wait_for};
use serde_json::{Value, json};

const WAIT: Duration = Duration::from_secs(60);
const HOSTILE_NAME: &str = "<script>alert(1)</script>";
const HOSTILE_UNIT: &str = "<img src=x onerror=alert(1)>";
const PACKAGE: &str = "openssh-server";
const OLD_VERSION: &str = "1:9.2p1-2+deb12u2";
const NEW_VERSION: &str = "1:9.2p1-2+deb12u3";

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_default()
}

/// Whether chromium and the browser script's node modules are here; in CI
/// they must be.
fn browser_ready() -> bool {
    let chromium = Path::new("/usr/bin/chromium").exists();
    let modules = repo_root()
        .join("tests/browser/node_modules/playwright-core")
        .exists();
    let node = Command::new("node").arg("--version").output().is_ok();
    if chromium && modules && node {
        return true;
    }
    assert!(
        !in_ci(),
        "CI=true needs /usr/bin/chromium (Debian chromium), node and `npm ci --prefix tests/browser`"
    );
    eprintln!(
        "notice: chromium, node or tests/browser/node_modules missing; skipping the browser test"
    );
    false
}

fn client() -> Result<reqwest::Client> {
    Ok(reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()?)
}

/// The value of `name` in a response's `Set-Cookie` headers.
fn set_cookie(response: &reqwest::Response, name: &str) -> Option<(String, String)> {
    response
        .headers()
        .get_all(header::SET_COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .find(|value| value.starts_with(&format!("{name}=")))
        .map(|value| {
            let pair = value.split(';').next().unwrap_or_default();
            (
                pair.split_once('=')
                    .map(|(_, v)| v)
                    .unwrap_or_default()
                    .to_string(),
                value.to_string(),
            )
        })
}

/// The value of the first hidden `csrf` field in `html`.
fn csrf_in(html: &str) -> Option<String> {
    let start = html.find("name=\"csrf\" value=\"")? + "name=\"csrf\" value=\"".len();
    let end = html[start..].find('"')? + start;
    Some(html[start..end].to_string())
}

/// Logs in with `token`; returns the session cookie and a page's CSRF token.
async fn login(base: &str, token: &str) -> Result<(String, String)> {
    let http = client()?;
    let form = http.get(format!("{base}/login")).send().await?;
    let (nonce, _) = set_cookie(&form, "rollcall_login").context("no login cookie")?;
    let html = form.text().await?;
    assert_eq!(csrf_in(&html).as_deref(), Some(nonce.as_str()));
    let response = http
        .post(format!("{base}/login"))
        .header(header::COOKIE, format!("rollcall_login={nonce}"))
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(format!("csrf={nonce}&token={token}"))
        .send()
        .await?;
    if response.status() != 303 {
        bail!("login answered {}", response.status());
    }
    let (session, cookie) = set_cookie(&response, "rollcall_session").context("no session")?;
    assert!(
        cookie.contains("HttpOnly")
            && cookie.contains("SameSite=Strict")
            && cookie.contains("Path=/"),
        "{cookie}"
    );
    let overview = http
        .get(format!("{base}/"))
        .header(header::COOKIE, format!("rollcall_session={session}"))
        .send()
        .await?
        .text()
        .await?;
    let csrf = csrf_in(&overview).context("no CSRF token on the overview")?;
    Ok((session, csrf))
}

/// POSTs a form with the session cookie; returns status and body.
async fn post(base: &str, path: &str, session: &str, body: &str) -> Result<(u16, String)> {
    let response = client()?
        .post(format!("{base}{path}"))
        .header(header::COOKIE, format!("rollcall_session={session}"))
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(body.to_string())
        .send()
        .await?;
    Ok((response.status().as_u16(), response.text().await?))
}

/// A real agent on a fake host root named `name`; returns it and the root.
async fn real_agent(
    collector: &Collector,
    dir: &Path,
    name: &str,
    hostname: &str,
    index: usize,
) -> Result<(rollcall_tests::Process, PathBuf)> {
    let root = fake_host_root(dir, name, index)?;
    std::fs::write(
        root.join("proc/sys/kernel/hostname"),
        format!("{hostname}\n"),
    )?;
    let token = collector.enrollment_token(1, 600).await?;
    let agent = Agent::new(
        dir,
        name,
        &[&collector.grpc_url],
        &format!("root = {:?}\n", root.display().to_string()),
    )?;
    let (ok, output) = agent.enroll(&collector.grpc_url, &token, &collector.ca_fingerprint)?;
    assert!(ok, "{output}");
    Ok((agent.run()?, root))
}

async fn host_id(collector: &Collector, hostname: &str) -> Result<String> {
    wait_for("the host with its inventory", WAIT, || async {
        collector
            .hosts()
            .await
            .ok()?
            .into_iter()
            .find(|host| host["hostname"] == hostname && host["package_count"].as_i64() > Some(0))
            .and_then(|host| host["id"].as_str().map(String::from))
    })
    .await
}

async fn installed_version(collector: &Collector, id: &str) -> Option<String> {
    let host = collector.get(&format!("/api/v1/hosts/{id}")).await.ok()?;
    host["inventory"]["software"]
        .as_array()?
        .iter()
        .find(|package| package["name"] == PACKAGE)
        .and_then(|package| package["version"].as_str().map(String::from))
}

/// A raw session of a newly enrolled agent: Hello as `raw-units`, then a
/// health report naming `HOSTILE_UNIT` failed; returns the incident id.
async fn hostile_unit_incident(collector: &Collector, dir: &Path) -> Result<String> {
    let token = collector.enrollment_token(1, 600).await?;
    let agent = Agent::new(dir, "raw-units", &[&collector.grpc_url], "")?;
    let (ok, output) = agent.enroll(&collector.grpc_url, &token, &collector.ca_fingerprint)?;
    assert!(ok, "{output}");
    let health = Body::Health(Box::new(HealthReport {
        sampled_at_ms: rollcall_proto::now_ms(),
        memory_used_bytes: 1 << 30,
        memory_total_bytes: 4 << 30,
        failed_units: vec![HOSTILE_UNIT.into()],
        ..Default::default()
    }));
    raw::send_acked(&collector.grpc_url, &agent, "raw-units", 1, health).await?;
    wait_for("the failed-unit incident", WAIT, || async {
        collector.get("/api/v1/incidents?state=open").await.ok()?["items"]
            .as_array()?
            .iter()
            .find(|incident| {
                incident["rule"]
                    .as_str()
                    .is_some_and(|rule| rule.starts_with("failed_unit"))
            })
            .and_then(|incident| incident["id"].as_str().map(String::from))
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_console_in_chromium_with_real_agents() -> Result<()> {
    if !browser_ready() {
        return Ok(());
    }
    let dir = tempfile::tempdir()?;
    let options = CollectorOptions {
        extra_toml:
            "[agents]\nheartbeat_interval_s = 1\nhealth_interval_s = 2\ninventory_interval_s = 2\n"
                .into(),
        ..Default::default()
    };
    let collector = Collector::start(dir.path(), &options)?;
    let base = collector.api_url.clone();
    let (_web, web_root) = real_agent(&collector, dir.path(), "web", "console-web", 0).await?;
    let (_hostile, _) = real_agent(&collector, dir.path(), "hostile", HOSTILE_NAME, 1).await?;
    let web = host_id(&collector, "console-web").await?;
    let hostile = host_id(&collector, HOSTILE_NAME).await?;
    assert_eq!(
        installed_version(&collector, &web).await.as_deref(),
        Some(OLD_VERSION)
    );

    // A moment while the old version was installed, then the upgrade.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    // As Chromium holds a datetime-local value: without `:00` seconds
    // (Playwright's fill refuses a value the input then shows otherwise).
    let as_of = jiff::Timestamp::from_millisecond(rollcall_proto::now_ms())?
        .strftime("%Y-%m-%dT%H:%M:%S")
        .to_string();
    let as_of = as_of.strip_suffix(":00").unwrap_or(&as_of).to_string();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let status_file = web_root.join("var/lib/dpkg/status");
    let status = std::fs::read_to_string(&status_file)?;
    assert!(status.contains(&format!("Version: {OLD_VERSION}")));
    let upgraded = status.replace(
        &format!("Version: {OLD_VERSION}"),
        &format!("Version: {NEW_VERSION}"),
    );
    std::fs::write(status_file.with_extension("new"), upgraded)?;
    std::fs::rename(status_file.with_extension("new"), &status_file)?;
    wait_for("the upgrade in the CMDB", WAIT, || async {
        (installed_version(&collector, &web).await.as_deref() == Some(NEW_VERSION)).then_some(())
    })
    .await?;
    let incident = hostile_unit_incident(&collector, dir.path()).await?;

    // The HTTP contract.
    let plain = client()?.get(format!("{base}/login")).send().await?;
    let csp = plain.headers()[header::CONTENT_SECURITY_POLICY]
        .to_str()?
        .to_string();
    assert!(
        csp.contains("default-src 'none'")
            && csp.contains("frame-ancestors 'none'")
            && !csp.contains("unsafe"),
        "{csp}"
    );
    assert_eq!(plain.headers()[header::X_FRAME_OPTIONS], "DENY");
    let anonymous = client()?.get(format!("{base}/hosts/{web}")).send().await?;
    assert_eq!(anonymous.status(), 303);
    assert_eq!(anonymous.headers()[header::LOCATION], "/login");
    // A login without its double-submit cookie is refused.
    let (status, _) = post(
        &base,
        "/login",
        "none",
        &format!("csrf=abc&token={}", collector.admin_token),
    )
    .await?;
    assert_eq!(status, 403);
    let (session, csrf) = login(&base, &collector.admin_token).await?;
    // State-changing forms without the CSRF token, or with another, are refused
    // and change nothing.
    for body in ["", "csrf=", "csrf=0000"] {
        let (status, page) = post(
            &base,
            &format!("/incidents/{incident}/acknowledge"),
            &session,
            body,
        )
        .await?;
        assert_eq!(status, 403, "{body:?}: {page}");
        assert!(page.contains("CSRF"), "{page}");
        let (status, _) = post(
            &base,
            &format!("/incidents/{incident}/comments"),
            &session,
            &format!("{body}&body=x"),
        )
        .await?;
        assert_eq!(status, 403);
        let (status, _) = post(&base, "/logout", &session, body).await?;
        assert_eq!(status, 403);
    }
    let (_, other) = login(&base, &collector.admin_token).await?;
    let (code, _) = post(
        &base,
        &format!("/incidents/{incident}/acknowledge"),
        &session,
        &format!("csrf={other}"),
    )
    .await?;
    assert_eq!(code, 403, "another session's CSRF token is refused");
    let still = collector
        .get(&format!("/api/v1/incidents/{incident}"))
        .await?;
    assert_eq!(still["incident"]["state"], "open");
    assert!(
        still["comments"].as_array().is_some_and(Vec::is_empty),
        "{still}"
    );
    // A viewer may look but not acknowledge.
    let (code, viewer) = collector
        .api(
            reqwest::Method::POST,
            "/api/v1/api-tokens",
            Some(&collector.admin_token),
            Some(json!({ "name": "console viewer", "role": "viewer" })),
        )
        .await?;
    assert_eq!(code, 201, "{viewer}");
    let viewer_token = viewer["token"].as_str().unwrap_or_default().to_string();
    let (viewer_session, viewer_csrf) = login(&base, &viewer_token).await?;
    let (code, page) = post(
        &base,
        &format!("/incidents/{incident}/acknowledge"),
        &viewer_session,
        &format!("csrf={viewer_csrf}"),
    )
    .await?;
    assert_eq!(code, 403, "{page}");
    assert!(page.contains("operator"), "{page}");
    // Bad input is a clear 400 page.
    let bad = client()?
        .get(format!("{base}/hosts/{web}?as_of=yesterday"))
        .header(header::COOKIE, format!("rollcall_session={session}"))
        .send()
        .await?;
    assert_eq!(bad.status(), 400);
    assert!(bad.text().await?.contains("as_of must be a date"));

    // A maintenance window without the CSRF token is refused and not created.
    let (code, _) = post(
        &base,
        "/maintenance",
        &session,
        "scope=tag&target=db&starts=2030-01-01T00:00:00&ends=2030-01-01T01:00:00",
    )
    .await?;
    assert_eq!(code, 403);
    let windows = collector.get("/api/v1/maintenance").await?;
    assert!(
        windows["items"].as_array().is_some_and(Vec::is_empty),
        "{windows}"
    );
    // With it, but with an end before the start: a 400 naming the problem.
    let (code, page) = post(
        &base,
        "/maintenance",
        &session,
        &format!(
            "csrf={csrf}&scope=tag&target=db&starts=2030-01-01T02:00:00&ends=2030-01-01T01:00:00"
        ),
    )
    .await?;
    assert_eq!(code, 400, "{page}");
    let windows = collector.get("/api/v1/maintenance").await?;
    assert!(
        windows["items"].as_array().is_some_and(Vec::is_empty),
        "{windows}"
    );
    let format = |ms: i64| -> Result<String> {
        Ok(jiff::Timestamp::from_millisecond(ms)?
            .strftime("%Y-%m-%dT%H:%M:%S")
            .to_string())
    };
    let window_starts = format(rollcall_proto::now_ms() + 3_600_000)?;
    let window_ends = format(rollcall_proto::now_ms() + 7_200_000)?;

    // The browser.
    let shots = repo_root().join("target/console-screenshots");
    let output = Command::new("node")
        .arg(repo_root().join("tests/browser/console.mjs"))
        .env("ROLLCALL_URL", &base)
        .env("ROLLCALL_TOKEN", &collector.admin_token)
        .env("PACKAGE", PACKAGE)
        .env("HOST_NAME", "console-web")
        .env("OLD_VERSION", OLD_VERSION)
        .env("NEW_VERSION", NEW_VERSION)
        .env("AS_OF", &as_of)
        .env("HOSTILE_HOST_ID", &hostile)
        .env("HOSTILE_NAME", HOSTILE_NAME)
        .env("HOSTILE_UNIT", HOSTILE_UNIT)
        .env("INCIDENT_ID", &incident)
        .env("SHOTS", &shots)
        .env("WINDOW_STARTS", &window_starts)
        .env("WINDOW_ENDS", &window_ends)
        .output()?;
    let log = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(output.status.success(), "the browser test failed:\n{log}");
    eprintln!("{log}screenshots in {}", shots.display());
    let after: Value = collector
        .get(&format!("/api/v1/incidents/{incident}"))
        .await?;
    assert_eq!(after["incident"]["state"], "acknowledged");
    assert!(
        after["incident"]["acknowledged_by"]
            .as_str()
            .is_some_and(|by| !by.is_empty())
    );
    Ok(())
}
