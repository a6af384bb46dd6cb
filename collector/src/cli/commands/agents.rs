//! `rollcall agents list|show|revoke`: the agents with their versions
//! (`/api/v1/agents[?outdated=true]`), one agent's record, and revoking it
//! (`/api/v1/agents/{id}`), which ends its live session.

use crate::cli::client::Endpoint;
use crate::cli::commands::Context;
use crate::cli::error::Result;
use crate::cli::output::{self, Column, Format};

const RESOURCE: &str = "agents";

const COLUMNS: &[Column] = &[
    Column::plain("id"),
    Column::plain("hostname"),
    Column::plain("version"),
    Column::plain("outdated"),
    Column::time("last_seen_at"),
    Column::time("revoked_at"),
];

/// Lists agents, or only the outdated ones; `json` prints the API's answer.
pub async fn list(context: &Context, outdated: bool, json: bool) -> Result<()> {
    let mut endpoint = Endpoint::new(RESOURCE);
    if outdated {
        endpoint = endpoint.param("outdated", true);
    }
    let list = context.client.get(&endpoint).await?;
    let format = if json { Format::Json } else { context.format };
    output::print(&output::list(&list, COLUMNS, format))
}

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
