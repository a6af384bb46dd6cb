//! `rollcall-collector`: the collector server.

use std::collections::HashMap;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use rollcall_collector::config::Config;

/// jemalloc rather than glibc's malloc: after a burst (thousands of first
/// snapshots at once) glibc kept the freed memory and the collector stayed
/// ~70 % larger per session; jemalloc returns it (docs/performance.md).
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

#[derive(Parser)]
#[command(
    name = "rollcall-collector",
    version = env!("ROLLCALL_LONG_VERSION"),
    about = "Rollcall collector: agent sessions, CMDB, availability, API"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve agents and the API.
    Serve {
        /// Configuration file (TOML); ROLLCALL_* environment variables override it.
        #[arg(long, env = "ROLLCALL_CONFIG")]
        config: Option<PathBuf>,
    },
    /// Check a configuration file and print the effective configuration.
    CheckConfig {
        /// Configuration file.
        #[arg(long)]
        config: Option<PathBuf>,
    },
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("ROLLCALL_LOG")
                .unwrap_or_else(|_| "info".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let env: HashMap<String, String> = std::env::vars().collect();
    match cli.command {
        Command::Serve { config } => {
            let config = match Config::load(config.as_deref(), &env) {
                Ok(config) => config,
                Err(error) => {
                    eprintln!("rollcall-collector: {error}");
                    return ExitCode::from(2);
                }
            };
            let shutdown = tokio_util::sync::CancellationToken::new();
            let signal_token = shutdown.clone();
            tokio::spawn(async move {
                use tokio::signal::unix::{SignalKind, signal};
                if let (Ok(mut terminate), Ok(mut interrupt)) = (
                    signal(SignalKind::terminate()),
                    signal(SignalKind::interrupt()),
                ) {
                    tokio::select! {
                        _ = terminate.recv() => {}
                        _ = interrupt.recv() => {}
                    }
                    signal_token.cancel();
                }
            });
            match rollcall_collector::server::serve(config, shutdown).await {
                Ok(()) => ExitCode::SUCCESS,
                Err(error) => {
                    eprintln!("rollcall-collector: {error}");
                    ExitCode::FAILURE
                }
            }
        }
        Command::CheckConfig { config } => match Config::load(config.as_deref(), &env) {
            Ok(config) => {
                println!("{}", toml::to_string_pretty(&config).unwrap_or_default());
                ExitCode::SUCCESS
            }
            Err(error) => {
                eprintln!("rollcall-collector: {error}");
                ExitCode::from(2)
            }
        },
    }
}
