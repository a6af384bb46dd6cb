//! The API client commands, one file per API resource (mirroring `api/`).
//! Each command asks the [`Client`] and prints through `output`; none parses
//! the command line, which stays in `cli.rs`.

pub mod agents;
pub mod api_tokens;
pub mod audit;
pub mod availability;
pub mod changes;
pub mod diff;
pub mod hosts;
pub mod incidents;
pub mod integrations;
pub mod maintenance;
pub mod outages;
pub mod outbox;
pub mod rollout;
pub mod software;
pub mod tokens;

use crate::cli::client::Client;
use crate::cli::output::Format;

/// What every API command needs: where to ask, and how to print.
#[derive(Debug, Clone)]
pub struct Context {
    /// The API client.
    pub client: Client,
    /// The output format.
    pub format: Format,
}

/// Posts `body` to `endpoint` and prints the answer: compact JSON for
/// `--format json`, `render(answer)` for a table or CSV.
pub(crate) async fn post_and_print(
    context: &Context,
    endpoint: &crate::cli::client::Endpoint,
    body: Option<serde_json::Value>,
    render: impl FnOnce(&serde_json::Value) -> String,
) -> crate::cli::error::Result<()> {
    let answer = context.client.post(endpoint, body).await?;
    crate::cli::output::print(&match context.format {
        Format::Json => crate::cli::output::compact(&answer),
        Format::Table | Format::Csv => render(&answer),
    })
}
