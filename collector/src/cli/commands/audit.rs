//! `rollcall audit`: the audit log, newest first (`/api/v1/audit`).

use crate::cli::client::Endpoint;
use crate::cli::commands::Context;
use crate::cli::error::Result;
use crate::cli::output::{self, Column};

const COLUMNS: &[Column] = &[
    Column::time("at"),
    Column::plain("actor"),
    Column::plain("action"),
    Column::plain("target"),
];

/// Lists the newest `limit` audit entries.
pub async fn list(context: &Context, limit: i64) -> Result<()> {
    let list = context
        .client
        .get(&Endpoint::new("audit").param("limit", limit))
        .await?;
    output::print(&output::list(&list, COLUMNS, context.format))
}
