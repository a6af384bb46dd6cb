//! The `rollcall` command: `quickstart` (a collector on SQLite plus an agent
//! for this machine, in one process), and API client commands for tokens
//! and hosts, with table, JSON or CSV output.

use std::path::{Path, PathBuf};

use clap::{Args, Parser, Subcommand, ValueEnum};
use serde_json::Value;
use tokio_util::sync::CancellationToken;

use crate::auth;
use crate::config::Config;
use crate::store::NewEnrollmentToken;

/// Command line of `rollcall`.
#[derive(Debug, Parser)]
#[command(
    name = "rollcall",
    version,
    about = "Rollcall: fleet inventory, availability and incidents"
)]
pub struct Cli {
    /// The command.
    #[command(subcommand)]
    pub command: Command,
}

/// API connection options.
#[derive(Debug, Args, Clone)]
pub struct ApiOptions {
    /// Collector API base URL.
    #[arg(
        long,
        env = "ROLLCALL_API_URL",
        default_value = "http://127.0.0.1:8080",
        global = true
    )]
    pub api_url: String,
    /// API token (bearer).
    #[arg(
        long,
        env = "ROLLCALL_API_TOKEN",
        global = true,
        hide_env_values = true
    )]
    pub api_token: Option<String>,
    /// Output format.
    #[arg(long, value_enum, default_value = "table", global = true)]
    pub output: Output,
}

/// Output formats.
#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq)]
pub enum Output {
    /// Aligned columns.
    Table,
    /// JSON as returned by the API.
    Json,
    /// CSV.
    Csv,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Start a collector on SQLite under ./rollcall-data and an agent for this machine.
    Quickstart {
        /// Data directory.
        #[arg(long, default_value = "./rollcall-data")]
        data_dir: PathBuf,
        /// Agent (gRPC) listen address.
        #[arg(long, default_value = "127.0.0.1:4443")]
        grpc_listen: std::net::SocketAddr,
        /// API listen address.
        #[arg(long, default_value = "127.0.0.1:8080")]
        api_listen: std::net::SocketAddr,
    },
    /// Enrollment tokens.
    Token {
        /// Token command.
        #[command(subcommand)]
        command: TokenCommand,
        /// API options.
        #[command(flatten)]
        api: ApiOptions,
    },
    /// Integration targets (ServiceNow, PagerDuty, …).
    Integrations {
        /// Integrations command.
        #[command(subcommand)]
        command: IntegrationsCommand,
        /// API options.
        #[command(flatten)]
        api: ApiOptions,
    },
    /// The integrations outbox.
    Outbox {
        /// Outbox command.
        #[command(subcommand)]
        command: OutboxCommand,
        /// API options.
        #[command(flatten)]
        api: ApiOptions,
    },
    /// Incidents: list, show, acknowledge, comment.
    Incidents {
        /// Incidents command.
        #[command(subcommand)]
        command: IncidentsCommand,
        /// API options.
        #[command(flatten)]
        api: ApiOptions,
    },
    /// Outage records.
    Outages {
        /// Only this host.
        #[arg(long)]
        host: Option<String>,
        /// API options.
        #[command(flatten)]
        api: ApiOptions,
    },
    /// Availability per host and business service.
    Availability {
        /// Window, e.g. 30d, 12h.
        #[arg(long, default_value = "30d")]
        window: String,
        /// API options.
        #[command(flatten)]
        api: ApiOptions,
    },
    /// Change history, fleet-wide or of one host.
    Changes {
        /// Only this host.
        #[arg(long)]
        host: Option<String>,
        /// Only this class (software, disk, host, …).
        #[arg(long)]
        class: Option<String>,
        /// API options.
        #[command(flatten)]
        api: ApiOptions,
    },
    /// Software catalogue; with --name, versions of one package and where.
    Software {
        /// Package name.
        #[arg(long)]
        name: Option<String>,
        /// API options.
        #[command(flatten)]
        api: ApiOptions,
    },
    /// Hosts in the CMDB.
    Hosts {
        /// Hosts command.
        #[command(subcommand)]
        command: HostsCommand,
        /// API options.
        #[command(flatten)]
        api: ApiOptions,
    },
}

/// `rollcall token …`
#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Create an enrollment token.
    Create {
        /// How many agents may enroll with it.
        #[arg(long, default_value_t = 1)]
        uses: i64,
        /// Lifetime in seconds.
        #[arg(long, default_value_t = 86_400)]
        ttl_s: i64,
        /// Free text.
        #[arg(long, default_value = "")]
        description: String,
    },
    /// List enrollment tokens.
    List,
}

/// `rollcall incidents …`
#[derive(Debug, Subcommand)]
pub enum IncidentsCommand {
    /// List incidents.
    List {
        /// open, acknowledged, resolved or all.
        #[arg(long, default_value = "open")]
        state: String,
    },
    /// Show one incident with its comments and children.
    Show {
        /// Incident id.
        id: String,
    },
    /// Acknowledge an incident.
    Ack {
        /// Incident id.
        id: String,
    },
    /// Comment on an incident.
    Comment {
        /// Incident id.
        id: String,
        /// Text.
        body: String,
    },
}

/// `rollcall hosts …`
#[derive(Debug, Subcommand)]
pub enum HostsCommand {
    /// List hosts.
    List {
        /// Name contains.
        #[arg(long)]
        name: Option<String>,
        /// Lifecycle state (active, stale, retired).
        #[arg(long)]
        lifecycle: Option<String>,
        /// Only hosts with this package installed…
        #[arg(long)]
        software: Option<String>,
        /// …at a version below this one (package manager ordering).
        #[arg(long, requires = "software")]
        version_lt: Option<String>,
    },
    /// Show one host with its inventory.
    Show {
        /// Host id.
        id: String,
    },
}

/// `rollcall integrations …`
#[derive(Debug, Subcommand)]
pub enum IntegrationsCommand {
    /// List configured targets with their circuit state and delivery counts.
    List,
    /// Send a test event (and its resolve) to a target and print the answers.
    Test {
        /// Target name.
        name: String,
    },
}

/// `rollcall outbox …`
#[derive(Debug, Subcommand)]
pub enum OutboxCommand {
    /// List dead letters with their last error.
    Dead,
    /// Queue a dead letter for delivery again.
    Retry {
        /// Outbox entry id.
        id: i64,
    },
}

/// Runs the CLI; returns the process exit code.
pub async fn run(cli: Cli) -> Result<(), String> {
    match cli.command {
        Command::Quickstart {
            data_dir,
            grpc_listen,
            api_listen,
        } => quickstart(data_dir, grpc_listen, api_listen).await,
        Command::Token { command, api } => match command {
            TokenCommand::Create {
                uses,
                ttl_s,
                description,
            } => {
                let body = serde_json::json!({ "max_uses": uses, "ttl_s": ttl_s, "description": description });
                let created = request(
                    &api,
                    reqwest::Method::POST,
                    "/api/v1/enrollment-tokens",
                    Some(body),
                )
                .await?;
                if api.output == Output::Json {
                    println!("{created}");
                } else {
                    println!(
                        "token:          {}",
                        created["token"].as_str().unwrap_or_default()
                    );
                    println!("uses:           {}", created["max_uses"]);
                    println!("expires at:     {}", created["expires_at"]);
                    println!(
                        "ca fingerprint: {}",
                        created["ca_fingerprint"].as_str().unwrap_or_default()
                    );
                }
                Ok(())
            }
            TokenCommand::List => {
                let list = request(
                    &api,
                    reqwest::Method::GET,
                    "/api/v1/enrollment-tokens",
                    None,
                )
                .await?;
                print_list(
                    &list,
                    &["id", "description", "uses", "max_uses", "expires_at"],
                    api.output,
                );
                Ok(())
            }
        },
        Command::Integrations { command, api } => integrations_command(command, &api).await,
        Command::Outbox { command, api } => outbox_command(command, &api).await,
        Command::Incidents { command, api } => match command {
            IncidentsCommand::List { state } => {
                let list = request(
                    &api,
                    reqwest::Method::GET,
                    &format!("/api/v1/incidents?state={}", urlencode(&state)),
                    None,
                )
                .await?;
                print_list(
                    &list,
                    &[
                        "id",
                        "state",
                        "severity",
                        "rule",
                        "ci_id",
                        "summary",
                        "opened_at",
                    ],
                    api.output,
                );
                Ok(())
            }
            IncidentsCommand::Show { id } => {
                let incident = request(
                    &api,
                    reqwest::Method::GET,
                    &format!("/api/v1/incidents/{}", urlencode(&id)),
                    None,
                )
                .await?;
                println!(
                    "{}",
                    serde_json::to_string_pretty(&incident).unwrap_or_default()
                );
                Ok(())
            }
            IncidentsCommand::Ack { id } => {
                request(
                    &api,
                    reqwest::Method::POST,
                    &format!("/api/v1/incidents/{}/acknowledge", urlencode(&id)),
                    None,
                )
                .await?;
                println!("acknowledged {id}");
                Ok(())
            }
            IncidentsCommand::Comment { id, body } => {
                let body = serde_json::json!({ "body": body });
                request(
                    &api,
                    reqwest::Method::POST,
                    &format!("/api/v1/incidents/{}/comments", urlencode(&id)),
                    Some(body),
                )
                .await?;
                println!("commented on {id}");
                Ok(())
            }
        },
        Command::Outages { host, api } => {
            let path = match host {
                Some(host) => format!("/api/v1/outages?host_id={}", urlencode(&host)),
                None => "/api/v1/outages".to_string(),
            };
            let list = request(&api, reqwest::Method::GET, &path, None).await?;
            print_list(
                &list,
                &[
                    "host_id",
                    "kind",
                    "cause",
                    "began_at",
                    "ended_at",
                    "duration_ms",
                    "incident_id",
                ],
                api.output,
            );
            Ok(())
        }
        Command::Availability { window, api } => {
            let report = request(
                &api,
                reqwest::Method::GET,
                &format!("/api/v1/availability?window={}", urlencode(&window)),
                None,
            )
            .await?;
            if api.output == Output::Json {
                println!(
                    "{}",
                    serde_json::to_string_pretty(&report).unwrap_or_default()
                );
                return Ok(());
            }
            let flatten = |rows: &Value, name: &str| -> Value {
                let items: Vec<Value> = rows
                    .as_array()
                    .map(|rows| {
                        rows.iter()
                            .map(|row| {
                                serde_json::json!({
                                    "name": row[name],
                                    "availability_percent": row["availability"]["availability_percent"],
                                    "unplanned_downtime_ms": row["availability"]["unplanned_downtime_ms"],
                                    "failures": row["availability"]["failures"],
                                    "mtbf_ms": row["availability"]["mtbf_ms"],
                                    "mtrs_ms": row["availability"]["mtrs_ms"],
                                })
                            })
                            .collect()
                    })
                    .unwrap_or_default();
                serde_json::json!({ "items": items })
            };
            let columns = [
                "name",
                "availability_percent",
                "unplanned_downtime_ms",
                "failures",
                "mtbf_ms",
                "mtrs_ms",
            ];
            print_list(&flatten(&report["hosts"], "hostname"), &columns, api.output);
            if report["services"]
                .as_array()
                .is_some_and(|services| !services.is_empty())
            {
                println!();
                print_list(&flatten(&report["services"], "name"), &columns, api.output);
            }
            Ok(())
        }
        Command::Changes { host, class, api } => {
            let mut path = match host {
                Some(host) => format!("/api/v1/hosts/{}/changes?limit=1000", urlencode(&host)),
                None => "/api/v1/changes?limit=1000".to_string(),
            };
            if let Some(class) = class {
                path.push_str(&format!("&class={}", urlencode(&class)));
            }
            let list = request(&api, reqwest::Method::GET, &path, None).await?;
            print_list(
                &list,
                &[
                    "at",
                    "host_id",
                    "class",
                    "item_key",
                    "change",
                    "field",
                    "old_value",
                    "new_value",
                    "source",
                ],
                api.output,
            );
            Ok(())
        }
        Command::Software { name, api } => {
            let path = match &name {
                Some(name) => format!("/api/v1/software?name={}", urlencode(name)),
                None => "/api/v1/software".to_string(),
            };
            let list = request(&api, reqwest::Method::GET, &path, None).await?;
            let columns: &[&str] = if name.is_some() {
                &["name", "version", "manager", "hosts"]
            } else {
                &["name", "hosts"]
            };
            print_list(&list, columns, api.output);
            Ok(())
        }
        Command::Hosts { command, api } => match command {
            HostsCommand::List {
                name,
                lifecycle,
                software,
                version_lt,
            } => {
                let mut path = String::from("/api/v1/hosts?limit=1000");
                for (key, value) in [
                    ("name", name),
                    ("lifecycle", lifecycle),
                    ("software", software),
                    ("version_lt", version_lt),
                ] {
                    if let Some(value) = value {
                        path.push_str(&format!("&{key}={}", urlencode(&value)));
                    }
                }
                let list = request(&api, reqwest::Method::GET, &path, None).await?;
                print_list(
                    &list,
                    &[
                        "id",
                        "hostname",
                        "os_name",
                        "kernel",
                        "package_count",
                        "presence",
                        "lifecycle",
                    ],
                    api.output,
                );
                Ok(())
            }
            HostsCommand::Show { id } => {
                let host = request(
                    &api,
                    reqwest::Method::GET,
                    &format!("/api/v1/hosts/{}", urlencode(&id)),
                    None,
                )
                .await?;
                if api.output == Output::Table {
                    print_host(&host);
                } else {
                    println!(
                        "{}",
                        serde_json::to_string_pretty(&host).unwrap_or_default()
                    );
                }
                Ok(())
            }
        },
    }
}

async fn integrations_command(
    command: IntegrationsCommand,
    api: &ApiOptions,
) -> Result<(), String> {
    match command {
        IntegrationsCommand::List => {
            let mut list = request(api, reqwest::Method::GET, "/api/v1/integrations", None).await?;
            if let Some(items) = list["items"].as_array_mut() {
                for item in items {
                    for state in ["pending", "delivered", "dead"] {
                        item[state] = item["counts"][state].as_i64().unwrap_or(0).into();
                    }
                }
            }
            print_list(
                &list,
                &[
                    "name",
                    "kind",
                    "url",
                    "circuit",
                    "pending",
                    "delivered",
                    "dead",
                ],
                api.output,
            );
            Ok(())
        }
        IntegrationsCommand::Test { name } => {
            let answer = request(
                api,
                reqwest::Method::POST,
                &format!("/api/v1/integrations/{}/test", urlencode(&name)),
                None,
            )
            .await?;
            if api.output == Output::Table {
                for step in ["trigger", "resolve"] {
                    let outcome = &answer[step];
                    if outcome.is_null() {
                        continue;
                    }
                    let text = outcome["detail"]
                        .as_str()
                        .or_else(|| outcome["error"].as_str())
                        .unwrap_or_default();
                    println!(
                        "{step:<8} {:<10} {}{text}",
                        cell(&outcome["outcome"]),
                        outcome["external_ref"]
                            .as_str()
                            .map(|reference| format!("ref {reference}: "))
                            .unwrap_or_default()
                    );
                }
            } else {
                println!(
                    "{}",
                    serde_json::to_string_pretty(&answer).unwrap_or_default()
                );
            }
            if answer["ok"].as_bool() == Some(true) {
                Ok(())
            } else {
                Err(format!("target {name} did not accept the test event"))
            }
        }
    }
}

async fn outbox_command(command: OutboxCommand, api: &ApiOptions) -> Result<(), String> {
    match command {
        OutboxCommand::Dead => {
            let list = request(
                api,
                reqwest::Method::GET,
                "/api/v1/outbox?state=dead&limit=1000",
                None,
            )
            .await?;
            print_list(
                &list,
                &[
                    "id",
                    "target",
                    "incident_id",
                    "transition",
                    "attempts",
                    "last_error",
                ],
                api.output,
            );
            Ok(())
        }
        OutboxCommand::Retry { id } => {
            let answer = request(
                api,
                reqwest::Method::POST,
                &format!("/api/v1/outbox/{id}/retry"),
                None,
            )
            .await?;
            if api.output == Output::Json {
                println!("{answer}");
            } else {
                println!(
                    "outbox entry {id} queued again for {}",
                    cell(&answer["target"])
                );
            }
            Ok(())
        }
    }
}

fn urlencode(text: &str) -> String {
    text.bytes()
        .map(|byte| match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (byte as char).to_string()
            }
            _ => format!("%{byte:02X}"),
        })
        .collect()
}

async fn request(
    api: &ApiOptions,
    method: reqwest::Method,
    path: &str,
    body: Option<Value>,
) -> Result<Value, String> {
    let token = api
        .api_token
        .as_deref()
        .ok_or("an API token is required: pass --api-token or set ROLLCALL_API_TOKEN")?;
    let url = format!("{}{}", api.api_url.trim_end_matches('/'), path);
    let client = reqwest::Client::new();
    let mut builder = client.request(method, &url).bearer_auth(token);
    if let Some(body) = body {
        builder = builder.json(&body);
    }
    let response = builder
        .send()
        .await
        .map_err(|error| format!("cannot reach {url}: {error}"))?;
    let status = response.status();
    let value: Value = response.json().await.unwrap_or(Value::Null);
    if !status.is_success() {
        let message = value["error"].as_str().unwrap_or("no details").to_string();
        return Err(format!("{status}: {message}"));
    }
    Ok(value)
}

fn cell(value: &Value) -> String {
    match value {
        Value::Null => String::new(),
        Value::String(text) => text.clone(),
        other => other.to_string(),
    }
}

fn print_list(list: &Value, columns: &[&str], output: Output) {
    let empty = Vec::new();
    let items = list["items"].as_array().unwrap_or(&empty);
    match output {
        Output::Json => println!(
            "{}",
            serde_json::to_string_pretty(items).unwrap_or_default()
        ),
        Output::Csv => {
            println!("{}", columns.join(","));
            for item in items {
                let row: Vec<String> = columns
                    .iter()
                    .map(|column| {
                        let text = cell(&item[*column]);
                        if text.contains([',', '"', '\n']) {
                            format!("\"{}\"", text.replace('"', "\"\""))
                        } else {
                            text
                        }
                    })
                    .collect();
                println!("{}", row.join(","));
            }
        }
        Output::Table => {
            let rows: Vec<Vec<String>> = items
                .iter()
                .map(|item| columns.iter().map(|column| cell(&item[*column])).collect())
                .collect();
            let widths: Vec<usize> = columns
                .iter()
                .enumerate()
                .map(|(index, column)| {
                    rows.iter()
                        .map(|row| row[index].len())
                        .max()
                        .unwrap_or(0)
                        .max(column.len())
                })
                .collect();
            let line = |values: Vec<String>| {
                values
                    .iter()
                    .zip(&widths)
                    .map(|(value, width)| format!("{value:<width$}"))
                    .collect::<Vec<_>>()
                    .join("  ")
                    .trim_end()
                    .to_string()
            };
            println!(
                "{}",
                line(columns.iter().map(|column| column.to_uppercase()).collect())
            );
            for row in rows {
                println!("{}", line(row));
            }
        }
    }
}

fn print_host(detail: &Value) {
    let host = &detail["host"];
    for key in [
        "id",
        "hostname",
        "fqdn",
        "class",
        "os_name",
        "kernel",
        "arch",
        "cpu_model",
        "cpu_threads",
        "memory_bytes",
        "package_count",
        "presence",
        "lifecycle",
        "match_rule",
    ] {
        println!("{:<14} {}", format!("{key}:"), cell(&host[key]));
    }
    if let Some(inventory) = detail["inventory"].as_object() {
        for (class, value) in inventory {
            if let Some(list) = value.as_array() {
                println!("{:<14} {} items", format!("{class}:"), list.len());
            }
        }
    }
}

/// Runs a collector on SQLite in `data_dir` and an agent for this machine in
/// one process until Ctrl-C; enrolls the agent only on the first run.
pub async fn quickstart(
    data_dir: PathBuf,
    grpc_listen: std::net::SocketAddr,
    api_listen: std::net::SocketAddr,
) -> Result<(), String> {
    let config = Config {
        data_dir: data_dir.clone(),
        grpc_listen,
        api_listen,
        ..Config::default()
    };
    let grpc = tokio::net::TcpListener::bind(grpc_listen)
        .await
        .map_err(|error| format!("cannot listen on {grpc_listen}: {error} (use --grpc-listen)"))?;
    let api = tokio::net::TcpListener::bind(api_listen)
        .await
        .map_err(|error| format!("cannot listen on {api_listen}: {error} (use --api-listen)"))?;
    let shutdown = CancellationToken::new();
    let running = crate::server::start(config, grpc, api, shutdown.clone())
        .await
        .map_err(|error| error.to_string())?;
    let token_path = data_dir.join("admin-token");
    let admin_token = match &running.bootstrap_admin_token {
        Some(token) => {
            write_private(&token_path, token)?;
            token.clone()
        }
        None => std::fs::read_to_string(&token_path)
            .map(|token| token.trim().to_string())
            .unwrap_or_else(|_| {
                "(printed at first start; not kept in this data directory)".to_string()
            }),
    };
    let agent_dir = data_dir.join("agent");
    let grpc_url = format!("https://{}", running.grpc_address);
    let fingerprint = running.state.pki.ca_fingerprint.clone();
    if rollcall_agent::enroll::load_credentials(&agent_dir).is_err() {
        let secret = auth::generate_secret("rcenr");
        let now = rollcall_proto::now_ms();
        let token = NewEnrollmentToken {
            id: auth::new_id(),
            token_hash: auth::hash_secret(&secret),
            description: "quickstart agent".into(),
            max_uses: 1,
            expires_at: now + 600_000,
            created_at: now,
        };
        running
            .state
            .store
            .create_enrollment_token(&token)
            .await
            .map_err(|error| error.to_string())?;
        let hostname = std::fs::read_to_string("/proc/sys/kernel/hostname")
            .map(|name| name.trim().to_string())
            .unwrap_or_default();
        let enrollment =
            rollcall_agent::enroll::enroll(&grpc_url, &secret, &fingerprint, &agent_dir, &hostname)
                .await
                .map_err(|error| error.to_string())?;
        println!("enrolled the local agent as {}", enrollment.agent_id);
    } else {
        println!(
            "reusing the local agent enrolled in {}",
            agent_dir.display()
        );
    }
    let agent_config = rollcall_agent::config::AgentConfig {
        collectors: vec![grpc_url.clone()],
        state_dir: agent_dir,
        ..Default::default()
    };
    let agent_shutdown = shutdown.child_token();
    let agent = tokio::spawn(rollcall_agent::runtime::run(agent_config, agent_shutdown));
    print_where_to_look(&data_dir, &running, &admin_token);
    let _ = tokio::signal::ctrl_c().await;
    let _ = std::io::Write::write_all(&mut std::io::stdout(), b"stopping\n");
    shutdown.cancel();
    if let Ok(Err(error)) = agent.await {
        eprintln!("agent: {error}");
    }
    running.wait().await;
    Ok(())
}

/// Prints where to look. Write errors are ignored: a closed stdout (`| head`,
/// a reader that went away) must not take the running collector down.
fn print_where_to_look(data_dir: &Path, running: &crate::server::Running, admin_token: &str) {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    let api = format!("http://{}", running.api_address);
    let _ = writeln!(out);
    let _ = writeln!(out, "Rollcall is running (Ctrl-C to stop).");
    let _ = writeln!(out, "  data directory:  {}", data_dir.display());
    let _ = writeln!(
        out,
        "  agents connect:  https://{}  (CA fingerprint {})",
        running.grpc_address, running.state.pki.ca_fingerprint
    );
    let _ = writeln!(out, "  API:             {api}/api/v1/hosts");
    let _ = writeln!(out, "  admin token:     {admin_token}");
    let _ = writeln!(out);
    let _ = writeln!(out, "Try:");
    let _ = writeln!(
        out,
        "  curl -s -H 'Authorization: Bearer {admin_token}' {api}/api/v1/hosts"
    );
    let _ = writeln!(
        out,
        "  ROLLCALL_API_URL={api} ROLLCALL_API_TOKEN={admin_token} cargo run -q --bin rollcall -- hosts list"
    );
    let _ = writeln!(out);
}

fn write_private(path: &Path, contents: &str) -> Result<(), String> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .map_err(|error| format!("cannot write {}: {error}", path.display()))?;
    file.write_all(contents.as_bytes())
        .map_err(|error| format!("cannot write {}: {error}", path.display()))
}
