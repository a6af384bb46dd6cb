//! `rollcall`: the command line for operators and scripts. Parses flags,
//! starts tracing, runs the command from the library, and maps its error
//! to a message on stderr and a failing exit code.

use std::process::ExitCode;

use clap::Parser;

#[tokio::main]
async fn main() -> ExitCode {
    let cli = rollcall_collector::cli::Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("ROLLCALL_LOG")
                .unwrap_or_else(|_| "warn".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    match rollcall_collector::cli::run(cli).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            // `{:#}` prints the error and each cause, `a: b: c`.
            eprintln!("rollcall: {:#}", anyhow::Error::from(error));
            ExitCode::FAILURE
        }
    }
}
