//! `rollcall-agent`: enroll with a collector, run, print the local
//! inventory, or stop with a planned-absence notice. Parses the command
//! line, starts tracing, loads the configuration and calls the library.

use std::collections::HashMap;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};
use rollcall_agent::config::AgentConfig;
use rollcall_agent::discovery::{self, Platform};
use rollcall_agent::error::Error;
use rollcall_agent::stop::{self, StopRequest};
use rollcall_agent::{enroll, runtime};

#[derive(Parser)]
#[command(
    name = "rollcall-agent",
    version = env!("ROLLCALL_LONG_VERSION"),
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
        /// Do nothing (and succeed) when the state directory already holds
        /// credentials: for an init container that runs at every start.
        #[arg(long)]
        if_not_enrolled: bool,
    },
    /// Run: stream inventory, health and heartbeats to the collector.
    Run,
    /// Print this host's inventory as the agent sees it.
    Inventory {
        /// Output format.
        #[arg(long, value_enum, default_value = "json")]
        format: Format,
        /// Collect this many times in this process, as the running agent
        /// does at each interval (remembering socket owners between
        /// inventories), printing each collection's time on stderr; the
        /// last inventory is printed.
        #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=1000))]
        repeat: u32,
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
    let executor = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .max_blocking_threads(2)
        .build()
    {
        Ok(executor) => executor,
        Err(error) => {
            eprintln!("rollcall-agent: cannot start runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    let result = executor.block_on(run(cli.command, config));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("rollcall-agent: {error}");
            exit_code(&error)
        }
    }
}

/// Exit status of a revoked agent: restarting it cannot help until it is
/// enrolled again, so the systemd unit names it in `RestartPreventExitStatus`.
const EXIT_REVOKED: u8 = 3;

/// The exit status for `error`: [`EXIT_REVOKED`] for a revocation, 1 otherwise.
fn exit_code(error: &Error) -> ExitCode {
    match error {
        Error::Revoked(_) => ExitCode::from(EXIT_REVOKED),
        _ => ExitCode::FAILURE,
    }
}

async fn run(command: Command, config: AgentConfig) -> Result<(), Error> {
    match command {
        Command::Enroll {
            collector,
            token,
            ca_fingerprint,
            if_not_enrolled,
        } => {
            if if_not_enrolled && let Ok(credentials) = enroll::load_credentials(&config.state_dir)
            {
                println!(
                    "already enrolled as agent {} with {}",
                    credentials.enrollment.agent_id, credentials.enrollment.collector
                );
                return Ok(());
            }
            let hostname = discovery::local_hostname(&config.root);
            let enrollment = enroll::enroll(
                &collector,
                &token,
                &ca_fingerprint,
                &config.state_dir,
                &hostname,
            )
            .await?;
            println!(
                "enrolled as agent {} with {}",
                enrollment.agent_id, enrollment.collector
            );
            println!("credentials stored in {}", config.state_dir.display());
        }
        Command::Run => runtime::run_until_signalled(config).await?,
        Command::Inventory { format, repeat } => {
            let platform = discovery::LinuxPlatform::new(config.root)
                .with_systemctl(config.systemctl.as_deref());
            let mut inventory = Default::default();
            for run in 1..=repeat {
                let started = std::time::Instant::now();
                inventory = platform.inventory();
                if repeat > 1 {
                    eprintln!(
                        "inventory {run}: {:.3} ms",
                        started.elapsed().as_secs_f64() * 1000.0
                    );
                }
            }
            let text = match format {
                Format::Json => serde_json::to_string(&inventory),
                Format::Pretty => serde_json::to_string_pretty(&inventory),
            }
            .map_err(std::io::Error::from)?;
            println!("{text}");
        }
        Command::Stop {
            reason,
            back_within,
            pid,
        } => {
            let request = StopRequest {
                reason,
                back_within_s: back_within,
            };
            let pid = stop::request_stop(&config.state_dir, pid, &request)?;
            println!("asked agent {pid} to stop (planned, back within {back_within}s)");
        }
    }
    Ok(())
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
