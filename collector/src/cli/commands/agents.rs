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
    let endpoint = Endpoint::new(RESOURCE).segment(id).segment("revoke");
    crate::cli::commands::post_and_print(context, &endpoint, None, |revoked| {
        format!(
            "revoked agent {} ({} live session(s) ended)\n",
            output::cell(&revoked["revoked"]),
            revoked["sessions_ended"]
        )
    })
    .await
}
