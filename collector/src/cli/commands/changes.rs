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

/// Which changes: of one host or all, by CI, attribute, kind and time.
#[derive(Debug, Clone, Copy, Default)]
pub struct Filter<'a> {
    /// One host's.
    pub host: Option<&'a str>,
    /// `class=`.
    pub class: Option<&'a str>,
    /// `key=` (with `class`: one CI).
    pub key: Option<&'a str>,
    /// `field=`.
    pub field: Option<&'a str>,
    /// `change=`.
    pub change: Option<&'a str>,
    /// `since=` (ms).
    pub since: Option<i64>,
    /// `until=` (ms).
    pub until: Option<i64>,
    /// Newest first.
    pub newest_first: bool,
}

/// Lists up to 1000 changes matching `filter`.
pub async fn list(context: &Context, filter: &Filter<'_>) -> Result<()> {
    let endpoint = match filter.host {
        Some(host) => Endpoint::new("hosts").segment(host).segment("changes"),
        None => Endpoint::new("changes"),
    }
    .param("limit", 1000)
    .param_opt("class", filter.class)
    .param_opt("key", filter.key)
    .param_opt("field", filter.field)
    .param_opt("change", filter.change)
    .param_opt("since", filter.since)
    .param_opt("until", filter.until)
    .param_opt("order", filter.newest_first.then_some("desc"));
    let list = context.client.get(&endpoint).await?;
    output::print(&output::list(&list, COLUMNS, context.format))
}
