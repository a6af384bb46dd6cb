//! A test collector: its configuration on free loopback ports, started and
//! restarted on the same data, and its REST API and CLI driven as an admin.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{Result, anyhow, bail};
use serde_json::Value;

use crate::{Process, bin, free_port, wait_for};

/// A running collector.
#[derive(Debug)]
pub struct Collector {
    /// The process.
    pub process: Process,
    /// Data directory (kept across restarts).
    pub data_dir: PathBuf,
    /// Configuration file.
    pub config_path: PathBuf,
    /// `https://127.0.0.1:PORT`.
    pub grpc_url: String,
    /// `http://127.0.0.1:PORT`.
    pub api_url: String,
    /// CA fingerprint.
    pub ca_fingerprint: String,
    /// Admin API token.
    pub admin_token: String,
    /// `ROLLCALL_LOG` of the process, kept across restarts.
    log_filter: String,
}

/// The collector's `ROLLCALL_LOG` unless a test asks for more.
const DEFAULT_LOG: &str = "info,sqlx=warn";

/// Options for a test collector.
#[derive(Debug, Clone)]
pub struct CollectorOptions {
    /// Extra TOML appended to the generated configuration.
    pub extra_toml: String,
    /// Database URL (default: SQLite in the data directory).
    pub database_url: Option<String>,
}

impl Default for CollectorOptions {
    fn default() -> Self {
        Self { extra_toml: "[agents]\nheartbeat_interval_s = 1\nhealth_interval_s = 2\ninventory_interval_s = 3\n".into(), database_url: None }
    }
}

impl Collector {
    /// Starts a collector in a new data directory under `dir`.
    pub fn start(dir: &Path, options: &CollectorOptions) -> Result<Collector> {
        Self::start_named(dir, "collector", options, "", None, DEFAULT_LOG)
    }

    /// Starts a collector logging with `ROLLCALL_LOG=log_filter` (kept
    /// across restarts), for a test that reads a debug marker in its log.
    pub fn start_logging(
        dir: &Path,
        options: &CollectorOptions,
        log_filter: &str,
    ) -> Result<Collector> {
        Self::start_named(dir, "collector", options, "", None, log_filter)
    }

    /// Starts another collector of `first`'s group: its own data directory
    /// `dir/<name>` and ports, the database of `options` (the same as
    /// `first`'s), and `first`'s CA, as collectors of a group share one.
    pub fn start_peer(
        dir: &Path,
        name: &str,
        options: &CollectorOptions,
        first: &Collector,
    ) -> Result<Collector> {
        let tls = format!(
            "[tls]\nca_cert = {:?}\nca_key = {:?}\n",
            first.data_dir.join("ca.pem").display().to_string(),
            first.data_dir.join("ca-key.pem").display().to_string()
        );
        Self::start_named(
            dir,
            name,
            options,
            &tls,
            Some(first.admin_token.clone()),
            DEFAULT_LOG,
        )
    }

    fn start_named(
        dir: &Path,
        name: &str,
        options: &CollectorOptions,
        sections: &str,
        admin_token: Option<String>,
        log_filter: &str,
    ) -> Result<Collector> {
        let data_dir = dir.join(name);
        std::fs::create_dir_all(&data_dir)?;
        let config_path = dir.join(format!("{name}.toml"));
        let mut toml = format!(
            "data_dir = {:?}\ngrpc_listen = \"127.0.0.1:{}\"\napi_listen = \"127.0.0.1:{}\"\n",
            data_dir.display().to_string(),
            free_port(),
            free_port()
        );
        if let Some(url) = &options.database_url {
            toml.push_str(&format!("database_url = {url:?}\n"));
        }
        toml.push_str(&options.extra_toml);
        toml.push('\n');
        toml.push_str(sections);
        std::fs::write(&config_path, toml)?;
        Self::launch(data_dir, config_path, admin_token, log_filter.to_string())
    }

    fn launch(
        data_dir: PathBuf,
        config_path: PathBuf,
        admin_token: Option<String>,
        log_filter: String,
    ) -> Result<Collector> {
        let mut command = Command::new(bin("rollcall-collector"));
        command
            .arg("serve")
            .arg("--config")
            .arg(&config_path)
            .env("ROLLCALL_LOG", &log_filter);
        let (process, stdout) = Process::spawn(command)?;
        let (sender, receiver) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(|line| line.ok()) {
                if sender.send(line).is_err() {
                    break;
                }
            }
        });
        let (mut grpc, mut api, mut fingerprint, mut token) = (None, None, None, admin_token);
        let deadline = Instant::now() + Duration::from_secs(60);
        while grpc.is_none() || api.is_none() || fingerprint.is_none() || token.is_none() {
            let remaining = deadline.saturating_duration_since(Instant::now());
            let line = receiver.recv_timeout(remaining).map_err(|_| {
                anyhow!(
                    "collector did not report its addresses; stderr:\n{}",
                    process.stderr_text()
                )
            })?;
            if let Some(rest) = line.strip_prefix("grpc listening on ") {
                grpc = Some(format!("https://{rest}"));
            } else if let Some(rest) = line.strip_prefix("api listening on ") {
                api = Some(rest.to_string());
            } else if let Some(rest) = line.strip_prefix("ca fingerprint (sha256): ") {
                fingerprint = Some(rest.to_string());
            } else if let Some(rest) =
                line.strip_prefix("admin API token (shown once, store it now): ")
            {
                token = Some(rest.to_string());
            }
        }
        let collector = Collector {
            process,
            data_dir,
            config_path,
            grpc_url: grpc.unwrap_or_default(),
            api_url: api.unwrap_or_default(),
            ca_fingerprint: fingerprint.unwrap_or_default(),
            admin_token: token.unwrap_or_default(),
            log_filter,
        };
        Ok(collector)
    }

    /// `kill -9`, then starts again on the same data, configuration and ports.
    pub fn crash_and_restart(&mut self) -> Result<()> {
        self.process.kill_hard();
        let restarted = Self::launch(
            self.data_dir.clone(),
            self.config_path.clone(),
            Some(self.admin_token.clone()),
            self.log_filter.clone(),
        )?;
        *self = restarted;
        Ok(())
    }

    /// Stops the collector hard (`kill -9`), keeping its data, configuration
    /// and ports for [`Collector::restart`].
    pub fn stop(&mut self) {
        self.process.kill_hard();
    }

    /// Starts a stopped collector again on the same data, configuration and ports.
    pub fn restart(&mut self) -> Result<()> {
        self.process.kill_hard();
        let restarted = Self::launch(
            self.data_dir.clone(),
            self.config_path.clone(),
            Some(self.admin_token.clone()),
            self.log_filter.clone(),
        )?;
        *self = restarted;
        Ok(())
    }

    /// An API call; returns status and JSON body.
    pub async fn api(
        &self,
        method: reqwest::Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> Result<(u16, Value)> {
        let client = reqwest::Client::new();
        let mut request = client.request(method, format!("{}{}", self.api_url, path));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await?;
        let status = response.status().as_u16();
        let text = response.text().await?;
        Ok((
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        ))
    }

    /// GET with the admin token; fails on a non-2xx status.
    pub async fn get(&self, path: &str) -> Result<Value> {
        let (status, body) = self
            .api(reqwest::Method::GET, path, Some(&self.admin_token), None)
            .await?;
        if !(200..300).contains(&status) {
            bail!("GET {path} answered {status}: {body}");
        }
        Ok(body)
    }

    /// Creates an enrollment token.
    pub async fn enrollment_token(&self, uses: i64, ttl_s: i64) -> Result<String> {
        let body = serde_json::json!({ "max_uses": uses, "ttl_s": ttl_s, "description": "test" });
        let (status, created) = self
            .api(
                reqwest::Method::POST,
                "/api/v1/enrollment-tokens",
                Some(&self.admin_token),
                Some(body),
            )
            .await?;
        if status != 201 {
            bail!("token create answered {status}: {created}");
        }
        Ok(created["token"].as_str().unwrap_or_default().to_string())
    }

    /// Runs the `rollcall` CLI against this collector with the admin token;
    /// returns (success, stdout + stderr).
    pub fn cli(&self, args: &[&str]) -> Result<(bool, String)> {
        let output = Command::new(bin("rollcall"))
            .args(args)
            .args(["--api-url", &self.api_url, "--api-token", &self.admin_token])
            .output()?;
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        Ok((output.status.success(), text))
    }

    /// The Prometheus exposition text of `/metrics` (no token needed).
    pub async fn metrics(&self) -> Result<String> {
        Ok(reqwest::get(format!("{}/metrics", self.api_url))
            .await?
            .text()
            .await?)
    }

    /// Hosts as listed by the API.
    pub async fn hosts(&self) -> Result<Vec<Value>> {
        Ok(self.get("/api/v1/hosts").await?["items"]
            .as_array()
            .cloned()
            .unwrap_or_default())
    }

    /// Waits (up to 60 s) for a host whose inventory has arrived, and returns it.
    pub async fn host_with_inventory(&self) -> Result<Value> {
        wait_for("a host with inventory", Duration::from_secs(60), || async {
            self.hosts()
                .await
                .ok()?
                .into_iter()
                .find(|host| host["package_count"].as_i64().unwrap_or(0) > 0)
        })
        .await
    }
}

/// The value of the unlabelled sample `name` in Prometheus exposition
/// `text`; NaN when it is not there.
pub fn metric(text: &str, name: &str) -> f64 {
    text.lines()
        .find_map(|line| line.strip_prefix(name)?.strip_prefix(' '))
        .and_then(|value| value.trim().parse().ok())
        .unwrap_or(f64::NAN)
}
