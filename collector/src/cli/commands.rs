//! The API client commands, one file per API resource (mirroring `api/`).
//! Each command asks the [`Client`] and prints through `output`; none parses
//! the command line, which stays in `cli.rs`.

pub mod agents;
pub mod api_tokens;
pub mod audit;
pub mod availability;
pub mod changes;
pub mod hosts;
pub mod incidents;
pub mod integrations;
pub mod outages;
pub mod outbox;
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
