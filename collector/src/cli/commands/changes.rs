//! `rollcall changes`: the change history, fleet-wide (`/api/v1/changes`)
//! or of one host (`/api/v1/hosts/{id}/changes`).

use crate::cli::client::Endpoint;
use crate::cli::commands::Context;
use crate::cli::error::Result;
use crate::cli::output::{self, Column};

const COLUMNS: &[Column] = &[
    Column::time("at"),
    Column::plain("host_id"),
    Column::plain("class"),
    Column::plain("item_key"),
    Column::plain("change"),
    Column::plain("field"),
    Column::plain("old_value"),
    Column::plain("new_value"),
    Column::plain("source"),
];

/// Lists up to 1000 changes, of one host or all, optionally of one class.
pub async fn list(context: &Context, host: Option<&str>, class: Option<&str>) -> Result<()> {
    let endpoint = match host {
        Some(host) => Endpoint::new("hosts").segment(host).segment("changes"),
        None => Endpoint::new("changes"),
    }
    .param("limit", 1000)
    .param_opt("class", class);
    let list = context.client.get(&endpoint).await?;
    output::print(&output::list(&list, COLUMNS, context.format))
}
