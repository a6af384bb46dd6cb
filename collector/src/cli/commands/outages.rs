//! `rollcall outages`: outage records (`/api/v1/outages`).

use crate::cli::client::Endpoint;
use crate::cli::commands::Context;
use crate::cli::error::Result;
use crate::cli::output::{self, Column};

const COLUMNS: &[Column] = &[
    Column::plain("host_id"),
    Column::plain("kind"),
    Column::plain("cause"),
    Column::time("began_at"),
    Column::time("ended_at"),
    Column::plain("duration_ms"),
    Column::plain("incident_id"),
];

/// Lists outages, of one host or of all.
pub async fn list(context: &Context, host: Option<&str>) -> Result<()> {
    let endpoint = Endpoint::new("outages").param_opt("host_id", host);
    let list = context.client.get(&endpoint).await?;
    output::print(&output::list(&list, COLUMNS, context.format))
}
