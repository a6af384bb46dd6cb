//! `rollcall-agent`: enroll with a collector, run, print the local
//! inventory, or stop with a planned-absence notice.

use std::collections::HashMap;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};
use rollcall_agent::config::AgentConfig;
use rollcall_agent::discovery::Platform;
use rollcall_agent::transport::{StopRequest, stop_request_path};

#[derive(Parser)]
#[command(
    name = "rollcall-agent",
    version,
    about = "Rollcall agent: inventory and health of this host, streamed to a collector"
)]
struct Cli {
    /// Agent configuration file (TOML); ROLLCALL_* environment variables override it.
    #[arg(long, global = true, env = "ROLLCALL_AGENT_CONFIG")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Enroll with a collector: pins its CA, stores a key and certificate.
    Enroll {
        /// Collector endpoint, e.g. https://collector.example:4443.
        #[arg(long)]
        collector: String,
        /// Enrollment token from `rollcall token create`.
        #[arg(long, env = "ROLLCALL_ENROLL_TOKEN")]
        token: String,
        /// SHA-256 fingerprint of the collector CA (printed by the collector).
        #[arg(long)]
        ca_fingerprint: String,
    },
    /// Run: stream inventory, health and heartbeats to the collector.
    Run,
    /// Print this host's inventory as the agent sees it.
    Inventory {
        /// Output format.
        #[arg(long, value_enum, default_value = "json")]
        format: Format,
    },
    /// Stop a running agent, telling the collector the absence is planned.
    Stop {
        /// Why (shown on the outage record).
        #[arg(long)]
        reason: String,
        /// When the host is expected back, e.g. 30s, 15m, 2h.
        #[arg(long, value_parser = parse_duration)]
        back_within: u64,
        /// PID of the running agent (default: from the state directory).
        #[arg(long)]
        pid: Option<i32>,
    },
}

#[derive(Clone, Copy, ValueEnum)]
enum Format {
    Json,
    Pretty,
}

fn parse_duration(text: &str) -> Result<u64, String> {
    let text = text.trim();
    let (number, unit) = text.split_at(
        text.find(|c: char| !c.is_ascii_digit())
            .unwrap_or(text.len()),
    );
    let value: u64 = number
        .parse()
        .map_err(|_| format!("{text:?} is not a duration like 30s, 15m or 2h"))?;
    let factor = match unit {
        "" | "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        _ => return Err(format!("{text:?}: unit must be s, m, h or d")),
    };
    value
        .checked_mul(factor)
        .ok_or_else(|| format!("{text:?} is too long"))
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("ROLLCALL_LOG")
                .unwrap_or_else(|_| "info".into()),
        )
        .with_writer(std::io::stderr)
        // Colour codes only for a person at a terminal, not in journald or files.
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    let env: HashMap<String, String> = std::env::vars().collect();
    let config = match AgentConfig::load(cli.config.as_deref(), &env) {
        Ok(config) => config,
        Err(error) => {
            eprintln!("rollcall-agent: {error}");
            return ExitCode::from(2);
        }
    };
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .max_blocking_threads(2)
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("rollcall-agent: cannot start runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(run(cli.command, config));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("rollcall-agent: {error}");
            ExitCode::FAILURE
        }
    }
}

async fn run(command: Command, config: AgentConfig) -> Result<(), String> {
    match command {
        Command::Enroll {
            collector,
            token,
            ca_fingerprint,
        } => {
            let hostname = std::fs::read_to_string(config.root.join("proc/sys/kernel/hostname"))
                .map(|name| name.trim().to_string())
                .unwrap_or_default();
            let enrollment = rollcall_agent::enroll::enroll(
                &collector,
                &token,
                &ca_fingerprint,
                &config.state_dir,
                &hostname,
            )
            .await
            .map_err(|error| error.to_string())?;
            println!(
                "enrolled as agent {} with {}",
                enrollment.agent_id, enrollment.collector
            );
            println!("credentials stored in {}", config.state_dir.display());
            Ok(())
        }
        Command::Run => {
            let shutdown = tokio_util::sync::CancellationToken::new();
            let signal_token = shutdown.clone();
            tokio::spawn(async move {
                wait_for_signal().await;
                signal_token.cancel();
            });
            std::fs::create_dir_all(&config.state_dir)
                .map_err(|error| format!("state directory: {error}"))?;
            let pid_path = config.state_dir.join("agent.pid");
            std::fs::write(&pid_path, std::process::id().to_string())
                .map_err(|error| format!("pid file: {error}"))?;
            let result = rollcall_agent::transport::run(config, shutdown)
                .await
                .map_err(|error| error.to_string());
            let _ = std::fs::remove_file(pid_path);
            result
        }
        Command::Inventory { format } => {
            let root = config.root.clone();
            let inventory = tokio::task::spawn_blocking(move || {
                rollcall_agent::discovery::LinuxPlatform::new(root).inventory()
            })
            .await
            .map_err(|error| error.to_string())?;
            let text = match format {
                Format::Json => serde_json::to_string(&inventory),
                Format::Pretty => serde_json::to_string_pretty(&inventory),
            }
            .map_err(|error| error.to_string())?;
            println!("{text}");
            Ok(())
        }
        Command::Stop {
            reason,
            back_within,
            pid,
        } => {
            let pid = match pid {
                Some(pid) => pid,
                None => std::fs::read_to_string(config.state_dir.join("agent.pid"))
                    .map_err(|_| {
                        format!(
                            "no running agent found (no agent.pid in {})",
                            config.state_dir.display()
                        )
                    })?
                    .trim()
                    .parse()
                    .map_err(|_| "agent.pid is damaged".to_string())?,
            };
            let request = StopRequest {
                reason,
                back_within_s: back_within,
            };
            let json = serde_json::to_string(&request).map_err(|error| error.to_string())?;
            std::fs::write(stop_request_path(&config.state_dir), json)
                .map_err(|error| format!("stop request: {error}"))?;
            let status = std::process::Command::new("kill")
                .args(["-TERM", &pid.to_string()])
                .status()
                .map_err(|error| format!("cannot signal agent {pid}: {error}"))?;
            if !status.success() {
                let _ = std::fs::remove_file(stop_request_path(&config.state_dir));
                return Err(format!("agent process {pid} is not running"));
            }
            println!("asked agent {pid} to stop (planned, back within {back_within}s)");
            Ok(())
        }
    }
}

async fn wait_for_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let (Ok(mut terminate), Ok(mut interrupt)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) else {
        std::future::pending::<()>().await;
        return;
    };
    tokio::select! {
        _ = terminate.recv() => {}
        _ = interrupt.recv() => {}
    }
}

#[cfg(test)]
mod tests {
    use super::parse_duration;

    #[test]
    fn durations_parse() {
        assert_eq!(parse_duration("30s"), Ok(30));
        assert_eq!(parse_duration("15m"), Ok(900));
        assert_eq!(parse_duration("2h"), Ok(7200));
        assert_eq!(parse_duration("45"), Ok(45));
        assert!(parse_duration("soon").is_err());
        assert!(parse_duration("5y").is_err());
    }
}
