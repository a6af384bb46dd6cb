//! `rollcall incidents list|show|ack|comment` (`/api/v1/incidents`).

use serde_json::json;

use crate::cli::client::Endpoint;
use crate::cli::commands::Context;
use crate::cli::error::Result;
use crate::cli::output::{self, Column};

const RESOURCE: &str = "incidents";

const COLUMNS: &[Column] = &[
    Column::plain("id"),
    Column::plain("state"),
    Column::plain("severity"),
    Column::plain("rule"),
    Column::plain("ci_id"),
    Column::plain("summary"),
    Column::time("opened_at"),
];

/// Lists incidents in `state` (open, acknowledged, resolved or all).
pub async fn list(context: &Context, state: &str) -> Result<()> {
    let endpoint = Endpoint::new(RESOURCE).param("state", state);
    let list = context.client.get(&endpoint).await?;
    output::print(&output::list(&list, COLUMNS, context.format))
}

/// Shows one incident with its comments and children, as JSON in every
/// format: it is a tree, not a row.
pub async fn show(context: &Context, id: &str) -> Result<()> {
    let incident = context
        .client
        .get(&Endpoint::new(RESOURCE).segment(id))
        .await?;
    output::print(&output::pretty(&incident))
}

/// Acknowledges an incident.
pub async fn acknowledge(context: &Context, id: &str) -> Result<()> {
    let endpoint = Endpoint::new(RESOURCE).segment(id).segment("acknowledge");
    context.client.post(&endpoint, None).await?;
    output::print(&format!("acknowledged {id}\n"))
}

/// Adds a comment to an incident.
pub async fn comment(context: &Context, id: &str, body: &str) -> Result<()> {
    let endpoint = Endpoint::new(RESOURCE).segment(id).segment("comments");
    context
        .client
        .post(&endpoint, Some(json!({ "body": body })))
        .await?;
    output::print(&format!("commented on {id}\n"))
}
