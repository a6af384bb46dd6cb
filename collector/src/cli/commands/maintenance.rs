//! `rollcall maintenance list|create|delete` (`/api/v1/maintenance`) and
//! `rollcall services list` (`/api/v1/services`).

use serde_json::json;

use crate::cli::client::Endpoint;
use crate::cli::commands::{Context, post_and_print};
use crate::cli::error::Result;
use crate::cli::output::{self, Column};

const WINDOWS: &[Column] = &[
    Column::plain("id"),
    Column::plain("scope"),
    Column::plain("target"),
    Column::time("starts_at"),
    Column::time("ends_at"),
    Column::plain("recurrence"),
    Column::plain("reason"),
];

const SERVICES: &[Column] = &[
    Column::plain("id"),
    Column::plain("name"),
    Column::plain("min_up"),
    Column::plain("sla_target"),
];

/// A new maintenance window.
#[derive(Debug, Clone)]
pub struct NewWindow<'a> {
    /// `host`, `tag` or `service`.
    pub scope: &'a str,
    /// The host id, tag or service.
    pub target: &'a str,
    /// Start (ms since the epoch).
    pub starts_at: i64,
    /// End (ms).
    pub ends_at: i64,
    /// `` (one-off), `daily` or `weekly`.
    pub recurrence: &'a str,
    /// Why.
    pub reason: &'a str,
}

/// Lists the maintenance windows.
pub async fn list(context: &Context) -> Result<()> {
    let list = context.client.get(&Endpoint::new("maintenance")).await?;
    output::print(&output::list(&list, WINDOWS, context.format))
}

/// Creates a window (operator) and prints it.
pub async fn create(context: &Context, window: &NewWindow<'_>) -> Result<()> {
    let body = json!({
        "scope": window.scope, "target": window.target, "starts_at": window.starts_at,
        "ends_at": window.ends_at, "recurrence": window.recurrence, "reason": window.reason,
    });
    post_and_print(
        context,
        &Endpoint::new("maintenance"),
        Some(body),
        |answer| output::table(std::slice::from_ref(answer), WINDOWS),
    )
    .await
}

/// Deletes a window (operator).
pub async fn delete(context: &Context, id: &str) -> Result<()> {
    context
        .client
        .delete(&Endpoint::new("maintenance").segment(id))
        .await?;
    output::print(&format!("deleted maintenance window {id}\n"))
}

/// Lists the business services.
pub async fn services(context: &Context) -> Result<()> {
    let list = context.client.get(&Endpoint::new("services")).await?;
    output::print(&output::list(&list, SERVICES, context.format))
}
