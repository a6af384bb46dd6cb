//! `rollcall outbox dead|retry`: the integrations outbox (`/api/v1/outbox`).

use crate::cli::client::Endpoint;
use crate::cli::commands::Context;
use crate::cli::error::Result;
use crate::cli::output::{self, Column, Format};

const RESOURCE: &str = "outbox";

const COLUMNS: &[Column] = &[
    Column::plain("id"),
    Column::plain("target"),
    Column::plain("incident_id"),
    Column::plain("transition"),
    Column::plain("attempts"),
    Column::plain("last_error"),
];

/// Lists up to 1000 dead letters with their last error.
pub async fn dead(context: &Context) -> Result<()> {
    let endpoint = Endpoint::new(RESOURCE)
        .param("state", "dead")
        .param("limit", 1000);
    let list = context.client.get(&endpoint).await?;
    output::print(&output::list(&list, COLUMNS, context.format))
}

/// Queues dead letter `id` for delivery again.
pub async fn retry(context: &Context, id: i64) -> Result<()> {
    let endpoint = Endpoint::new(RESOURCE).segment(id).segment("retry");
    let answer = context.client.post(&endpoint, None).await?;
    output::print(&match context.format {
        Format::Json => output::compact(&answer),
        Format::Table | Format::Csv => format!(
            "outbox entry {id} queued again for {}\n",
            output::cell(&answer["target"])
        ),
    })
}
