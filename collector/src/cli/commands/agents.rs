//! `rollcall agents show|revoke`: one agent's record, and revoking it
//! (`/api/v1/agents/{id}`), which ends its live session.

use crate::cli::client::Endpoint;
use crate::cli::commands::Context;
use crate::cli::error::Result;
use crate::cli::output;

const RESOURCE: &str = "agents";

/// Shows one agent.
pub async fn show(context: &Context, id: &str) -> Result<()> {
    let agent = context
        .client
        .get(&Endpoint::new(RESOURCE).segment(id))
        .await?;
    output::print(&output::pretty(&agent))
}

/// Revokes an agent: its session ends and it can neither reconnect nor renew.
pub async fn revoke(context: &Context, id: &str) -> Result<()> {
    let revoked = context
        .client
        .post(&Endpoint::new(RESOURCE).segment(id).segment("revoke"), None)
        .await?;
    output::print(&match context.format {
        output::Format::Json => output::compact(&revoked),
        output::Format::Table | output::Format::Csv => format!(
            "revoked agent {} ({} live session(s) ended)\n",
            output::cell(&revoked["revoked"]),
            revoked["sessions_ended"]
        ),
    })
}
