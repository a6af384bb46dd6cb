//! Harness for the end-to-end tests: builds and starts the real
//! `rollcall-collector` and `rollcall-agent` binaries on loopback, talks to
//! the REST API, and waits for conditions with deadlines; `vendors` fakes
//! the integration targets, `events` writes incident events, and `loadgen`
//! and `footprint` are the benchmarks' logic.

use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail};
use serde_json::Value;

pub mod events;
pub mod footprint;
pub mod loadgen;
pub mod source;
pub mod vendors;

/// Whether the run is in CI, where a missing dependency fails instead of skipping.
pub fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|value| value == "true" || value == "1")
}

static BIN_DIR: OnceLock<PathBuf> = OnceLock::new();

/// Uses the already built binaries in `dir` instead of building them (for
/// programs like the benchmark, which build nothing). Must be called before
/// the first [`bin_dir`]; returns false if that already happened.
pub fn use_bin_dir(dir: PathBuf) -> bool {
    BIN_DIR.set(dir).is_ok()
}

/// Builds the workspace binaries (collector, agent, agent benchmark, load
/// generator) once
/// per test process and returns the directory holding them.
pub fn bin_dir() -> &'static Path {
    BIN_DIR.get_or_init(|| {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let status = Command::new(cargo)
            .args([
                "build",
                "--quiet",
                "-p",
                "rollcall-collector",
                "-p",
                "rollcall-agent",
                "--bins",
            ])
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .status()
            .expect("cargo build of the rollcall binaries could not start");
        assert!(
            status.success(),
            "cargo build of the rollcall binaries failed"
        );
        // A separate build: selected together with the others, this package
        // would unify features differently and make every run rebuild.
        let status = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
            .args([
                "build",
                "--quiet",
                "-p",
                "rollcall-tests",
                "--bin",
                "rollcall-agent-bench",
                "--bin",
                "rollcall-loadgen",
            ])
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .status()
            .expect("cargo build of the benchmarks could not start");
        assert!(status.success(), "cargo build of the benchmarks failed");
        let exe = std::env::current_exe().expect("current exe");
        // target/debug/deps/e2e-… → target/debug
        exe.parent()
            .and_then(Path::parent)
            .expect("target dir")
            .to_path_buf()
    })
}

/// Path of a workspace binary.
pub fn bin(name: &str) -> PathBuf {
    bin_dir().join(name)
}

/// A free TCP port on 127.0.0.1.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .map(|addr| addr.port())
        .expect("free port")
}

/// Polls `check` until it returns `Some`, or fails after `timeout`.
pub async fn wait_for<T, F, Fut>(what: &str, timeout: Duration, mut check: F) -> Result<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(value) = check().await {
            return Ok(value);
        }
        if Instant::now() > deadline {
            bail!("timed out after {timeout:?} waiting for {what}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A child process that is killed when dropped.
#[derive(Debug)]
pub struct Process {
    /// The child.
    pub child: Child,
    /// Collected stderr lines.
    pub stderr: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
}

impl Process {
    fn spawn(mut command: Command) -> Result<(Process, std::process::ChildStdout)> {
        command
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = command
            .spawn()
            .with_context(|| format!("spawn {command:?}"))?;
        let stdout = child.stdout.take().ok_or_else(|| anyhow!("no stdout"))?;
        let stderr = child.stderr.take().ok_or_else(|| anyhow!("no stderr"))?;
        let lines = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let sink = lines.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(|line| line.ok()) {
                if std::env::var("ROLLCALL_TEST_VERBOSE").is_ok() {
                    eprintln!("{line}");
                }
                if let Ok(mut lines) = sink.lock() {
                    lines.push(line);
                }
            }
        });
        Ok((
            Process {
                child,
                stderr: lines,
            },
            stdout,
        ))
    }

    /// Everything the process wrote to stderr so far.
    pub fn stderr_text(&self) -> String {
        self.stderr
            .lock()
            .map(|lines| lines.join("\n"))
            .unwrap_or_default()
    }

    /// Sends a signal.
    pub fn signal(&self, signal: i32) {
        let pid = self.child.id() as i32;
        let _ = Command::new("kill")
            .arg(format!("-{signal}"))
            .arg(pid.to_string())
            .status();
    }

    /// `kill -9` and reap.
    pub fn kill_hard(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Waits for the process to exit, up to `timeout`.
    pub fn wait_exit(&mut self, timeout: Duration) -> Option<std::process::ExitStatus> {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        None
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        self.kill_hard();
    }
}

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
}

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
        let data_dir = dir.join("collector");
        std::fs::create_dir_all(&data_dir)?;
        let config_path = dir.join("collector.toml");
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
        std::fs::write(&config_path, toml)?;
        Self::launch(data_dir, config_path, None)
    }

    fn launch(
        data_dir: PathBuf,
        config_path: PathBuf,
        admin_token: Option<String>,
    ) -> Result<Collector> {
        let mut command = Command::new(bin("rollcall-collector"));
        command
            .arg("serve")
            .arg("--config")
            .arg(&config_path)
            .env("ROLLCALL_LOG", "info,sqlx=warn");
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

/// An agent's state directory and configuration.
#[derive(Debug)]
pub struct Agent {
    /// State directory.
    pub state_dir: PathBuf,
    /// Configuration file.
    pub config_path: PathBuf,
}

impl Agent {
    /// Prepares an agent under `dir/name` talking to `collectors`.
    pub fn new(dir: &Path, name: &str, collectors: &[&str], extra_toml: &str) -> Result<Agent> {
        let state_dir = dir.join(name);
        std::fs::create_dir_all(&state_dir)?;
        let config_path = dir.join(format!("{name}.toml"));
        let list: Vec<String> = collectors.iter().map(|url| format!("{url:?}")).collect();
        std::fs::write(
            &config_path,
            format!(
                "collectors = [{}]\nstate_dir = {:?}\nmax_backoff_s = 2\n{extra_toml}",
                list.join(", "),
                state_dir.display().to_string()
            ),
        )?;
        Ok(Agent {
            state_dir,
            config_path,
        })
    }

    /// Runs `rollcall-agent enroll`; returns (success, stdout + stderr).
    pub fn enroll(
        &self,
        collector: &str,
        token: &str,
        fingerprint: &str,
    ) -> Result<(bool, String)> {
        let output = Command::new(bin("rollcall-agent"))
            .arg("--config")
            .arg(&self.config_path)
            .args([
                "enroll",
                "--collector",
                collector,
                "--token",
                token,
                "--ca-fingerprint",
                fingerprint,
            ])
            .output()?;
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        Ok((output.status.success(), text))
    }

    /// Starts `rollcall-agent run`.
    pub fn run(&self) -> Result<Process> {
        self.run_with_env(&[])
    }

    /// Starts `rollcall-agent run` with extra environment.
    pub fn run_with_env(&self, env: &[(&str, &str)]) -> Result<Process> {
        let mut command = Command::new(bin("rollcall-agent"));
        command
            .arg("--config")
            .arg(&self.config_path)
            .arg("run")
            .env("ROLLCALL_LOG", "info");
        for (key, value) in env {
            command.env(key, value);
        }
        let (process, _stdout) = Process::spawn(command)?;
        Ok(process)
    }

    /// The agent id written at enrollment.
    pub fn agent_id(&self) -> Result<String> {
        let meta: Value =
            serde_json::from_str(&std::fs::read_to_string(self.state_dir.join("agent.json"))?)?;
        Ok(meta["agent_id"].as_str().unwrap_or_default().to_string())
    }
}

impl Agent {
    /// Runs `rollcall-agent inventory --format json` with this agent's
    /// configuration (so against its `root`) and parses the output.
    pub fn local_inventory(&self) -> Result<Value> {
        let output = Command::new(bin("rollcall-agent"))
            .arg("--config")
            .arg(&self.config_path)
            .args(["inventory", "--format", "json"])
            .output()?;
        if !output.status.success() {
            bail!(
                "rollcall-agent inventory failed: {}",
                String::from_utf8_lossy(&output.stderr)
            );
        }
        Ok(serde_json::from_slice(&output.stdout)?)
    }
}

/// Copies the directory tree `from` into `to` (created), keeping symbolic
/// links as links, so a fixture root can be changed by a test.
pub fn copy_tree(from: &Path, to: &Path) -> Result<()> {
    std::fs::create_dir_all(to)?;
    for entry in std::fs::read_dir(from)? {
        let entry = entry?;
        let target = to.join(entry.file_name());
        let kind = entry.file_type()?;
        if kind.is_symlink() {
            std::os::unix::fs::symlink(std::fs::read_link(entry.path())?, &target)?;
        } else if kind.is_dir() {
            copy_tree(&entry.path(), &target)?;
        } else {
            std::fs::copy(entry.path(), &target)?;
        }
    }
    Ok(())
}

/// The inventory of `rollcall-agent inventory --format json` grouped the
/// way `GET /api/v1/hosts/{id}` groups stored items: by CMDB class,
/// singletons as objects, list items sorted by their JSON text. Apply
/// [`normalise_api_inventory`] to the API side before comparing.
pub fn inventory_by_class(local: &Value) -> Result<Value> {
    use rollcall_proto::inventory::{class_name, flatten, is_singleton};
    let inventory: rollcall_proto::v1::Inventory = serde_json::from_value(local.clone())?;
    let mut classes = serde_json::Map::new();
    for item in flatten(&inventory) {
        let class = class_name(item.section).to_string();
        if is_singleton(item.section) {
            classes.insert(class, item.attrs);
        } else if let Value::Array(list) = classes
            .entry(class)
            .or_insert_with(|| Value::Array(Vec::new()))
        {
            list.push(item.attrs);
        }
    }
    Ok(normalise_api_inventory(&Value::Object(classes)))
}

/// Sorts every list of an API inventory (`{class: object | [items]}`) by the
/// items' JSON text, so two inventories compare regardless of order.
pub fn normalise_api_inventory(inventory: &Value) -> Value {
    let mut out = inventory.clone();
    if let Value::Object(classes) = &mut out {
        for value in classes.values_mut() {
            if let Value::Array(list) = value {
                list.sort_by_cached_key(|item| item.to_string());
            }
        }
    }
    out
}

/// Counts packages `/var/lib/dpkg/status` lists as installed.
pub fn dpkg_installed_count() -> usize {
    let status = std::fs::read_to_string("/var/lib/dpkg/status").unwrap_or_default();
    status
        .split("\n\n")
        .filter(|stanza| {
            stanza.lines().any(|line| {
                let line = line.trim_end();
                line == "Status: install ok installed" || line == "Status: hold ok installed"
            })
        })
        .count()
}

/// A gRPC client that speaks raw bytes on the Session stream, to send what
/// a well-behaved agent never would.
pub mod raw {
    use std::path::Path;

    use anyhow::Result;
    use bytes::{Buf, BufMut};
    use tonic::Status;
    use tonic::codec::{Codec, DecodeBuf, Decoder, EncodeBuf, Encoder};
    use tonic::transport::{Certificate, Channel, ClientTlsConfig, Endpoint, Identity};

    /// Passes bytes through unchanged.
    #[derive(Debug, Default, Clone)]
    pub struct RawCodec;

    impl Codec for RawCodec {
        type Encode = Vec<u8>;
        type Decode = Vec<u8>;
        type Encoder = RawCodec;
        type Decoder = RawCodec;
        fn encoder(&mut self) -> Self::Encoder {
            RawCodec
        }
        fn decoder(&mut self) -> Self::Decoder {
            RawCodec
        }
    }

    impl Encoder for RawCodec {
        type Item = Vec<u8>;
        type Error = Status;
        fn encode(&mut self, item: Vec<u8>, dst: &mut EncodeBuf<'_>) -> Result<(), Status> {
            dst.put_slice(&item);
            Ok(())
        }
    }

    impl Decoder for RawCodec {
        type Item = Vec<u8>;
        type Error = Status;
        fn decode(&mut self, src: &mut DecodeBuf<'_>) -> Result<Option<Vec<u8>>, Status> {
            let length = src.remaining();
            Ok(Some(src.copy_to_bytes(length).to_vec()))
        }
    }

    /// A TLS channel to `url` trusting `ca_pem`, optionally with a client identity.
    pub async fn channel(
        url: &str,
        ca_pem: &str,
        identity: Option<(&str, &str)>,
    ) -> Result<Channel> {
        let mut tls = ClientTlsConfig::new()
            .ca_certificate(Certificate::from_pem(ca_pem))
            .domain_name("127.0.0.1");
        if let Some((cert, key)) = identity {
            tls = tls.identity(Identity::from_pem(cert, key));
        }
        Ok(Endpoint::from_shared(url.to_string())?
            .tls_config(tls)?
            .connect()
            .await?)
    }

    /// A channel using an enrolled agent's credentials from its state directory.
    pub async fn agent_channel(url: &str, state_dir: &Path) -> Result<Channel> {
        let read = |name: &str| std::fs::read_to_string(state_dir.join(name));
        channel(
            url,
            &read("ca.pem")?,
            Some((&read("cert.pem")?, &read("key.pem")?)),
        )
        .await
    }

    /// Opens a Session sending `frames` (raw message bytes); returns the
    /// replies up to the end of the stream, or the terminating status.
    pub async fn session(
        channel: Channel,
        frames: Vec<Vec<u8>>,
    ) -> std::result::Result<Vec<Vec<u8>>, Status> {
        let mut grpc = tonic::client::Grpc::new(channel)
            .max_decoding_message_size(64 << 20)
            .max_encoding_message_size(64 << 20);
        grpc.ready()
            .await
            .map_err(|error| Status::unavailable(error.to_string()))?;
        let path = http::uri::PathAndQuery::from_static("/rollcall.v1.Rollcall/Session");
        // Keep the request stream open a moment so the collector answers before we hang up.
        let stream = async_stream(frames);
        let response = grpc
            .streaming(tonic::Request::new(stream), path, RawCodec)
            .await?;
        let mut inbound = response.into_inner();
        let mut replies = Vec::new();
        loop {
            match tokio::time::timeout(std::time::Duration::from_secs(10), inbound.message()).await
            {
                Ok(Ok(Some(reply))) => replies.push(reply),
                Ok(Ok(None)) => return Ok(replies),
                Ok(Err(status)) => return Err(status),
                Err(_) => return Ok(replies),
            }
        }
    }

    fn async_stream(
        frames: Vec<Vec<u8>>,
    ) -> impl tokio_stream::Stream<Item = Vec<u8>> + Send + 'static {
        use tokio_stream::StreamExt;
        tokio_stream::iter(frames).chain(tokio_stream::pending())
    }
}

/// A fresh PostgreSQL schema for one test: the database URL to give the
/// collector, or `None` (skip, with a notice) when `ROLLCALL_TEST_DATABASE_URL`
/// is unset outside CI. In CI a missing URL fails the test.
pub async fn postgres_url() -> Option<String> {
    let Ok(base) = std::env::var("ROLLCALL_TEST_DATABASE_URL") else {
        assert!(
            !in_ci(),
            "ROLLCALL_TEST_DATABASE_URL must be set when CI=true: PostgreSQL tests may not skip in CI"
        );
        eprintln!("notice: ROLLCALL_TEST_DATABASE_URL is not set; skipping PostgreSQL test");
        return None;
    };
    sqlx::any::install_default_drivers();
    let schema = format!("rc_test_{}", uuid::Uuid::new_v4().simple());
    let mut admin = <sqlx::AnyConnection as sqlx::Connection>::connect(&base)
        .await
        .expect("connect to ROLLCALL_TEST_DATABASE_URL");
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE SCHEMA {schema}")))
        .execute(&mut admin)
        .await
        .expect("create schema");
    let separator = if base.contains('?') { '&' } else { '?' };
    Some(format!(
        "{base}{separator}options=-c%20search_path%3D{schema}"
    ))
}

/// A copy of the agent's `host-debian` fixture tree under `dir/name`, made
/// into a distinct machine: its own host name, machine-id, MAC and DMI ids.
/// Agents pointed at it (`root = …`) look like separate hosts.
pub fn fake_host_root(dir: &Path, name: &str, index: usize) -> Result<PathBuf> {
    let source = Path::new(env!("CARGO_MANIFEST_DIR")).join("../agent/tests/fixtures/host-debian");
    let root = dir.join(format!("root-{name}"));
    let status = Command::new("cp")
        .arg("-a")
        .arg(&source)
        .arg(&root)
        .status()?;
    if !status.success() {
        bail!("cannot copy {}", source.display());
    }
    let write = |relative: &str, contents: String| -> Result<()> {
        let path = root.join(relative);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)?;
        }
        std::fs::write(&path, contents)?;
        Ok(())
    };
    write("proc/sys/kernel/hostname", format!("{name}\n"))?;
    write(
        "etc/machine-id",
        format!("{:032x}\n", 0xfeed_0000_u64 + index as u64),
    )?;
    write(
        "sys/class/net/enp3s0/address",
        format!("02:00:00:00:{:02x}:{:02x}\n", index / 256, index % 256),
    )?;
    write(
        "sys/class/dmi/id/product_uuid",
        format!("5a1e0000-0000-4000-8000-{:012x}\n", index),
    )?;
    write(
        "sys/class/dmi/id/product_serial",
        format!("FAKE-{index:06}\n"),
    )?;
    Ok(root)
}
