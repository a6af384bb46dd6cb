//! `rollcall hosts list|show|health|attributes`: hosts in the CMDB
//! (`/api/v1/hosts` with its filters), a host's health series
//! (`/api/v1/hosts/{id}/health?step=`) and its custom attributes.

use serde_json::Value;

use crate::cli::client::Endpoint;
use crate::cli::commands::Context;
use crate::cli::error::Result;
use crate::cli::output::{self, Column, Format};

const RESOURCE: &str = "hosts";

const COLUMNS: &[Column] = &[
    Column::plain("id"),
    Column::plain("hostname"),
    Column::plain("os_name"),
    Column::plain("kernel"),
    Column::plain("package_count"),
    Column::plain("presence"),
    Column::plain("lifecycle"),
];

/// The columns `hosts health` prints (the JSON has every metric's min/avg/max).
const HEALTH_COLUMNS: &[Column] = &[
    Column::time("start"),
    Column::plain("count"),
    Column::plain("cpu_percent_avg"),
    Column::plain("cpu_percent_max"),
    Column::plain("load1_max"),
    Column::plain("memory_used_bytes_max"),
    Column::plain("filesystem_max_used_percent_max"),
];

/// The host fields `hosts show` prints, in order.
const DETAIL_FIELDS: &[&str] = &[
    "id",
    "hostname",
    "fqdn",
    "class",
    "os_name",
    "kernel",
    "arch",
    "cpu_model",
    "cpu_threads",
    "memory_bytes",
    "package_count",
    "presence",
    "lifecycle",
    "match_rule",
];

/// Lists the hosts the query parameters `params` select (one page).
pub async fn list(context: &Context, params: &[(String, String)]) -> Result<()> {
    let endpoint = params
        .iter()
        .fold(Endpoint::new(RESOURCE), |endpoint, (key, value)| {
            endpoint.param(key.clone(), value)
        });
    let list = context.client.get(&endpoint).await?;
    output::print(&output::list(&list, COLUMNS, context.format))
}

/// Shows a host's custom attributes, or changes them (`body` with
/// `replace` as PUT, else as PATCH) and shows the result.
pub async fn attributes(context: &Context, id: &str, change: Option<(Value, bool)>) -> Result<()> {
    let endpoint = Endpoint::new(RESOURCE).segment(id).segment("attributes");
    let answer = match change {
        None => context.client.get(&endpoint).await?,
        Some((body, true)) => context.client.put(&endpoint, body).await?,
        Some((body, false)) => context.client.patch(&endpoint, body).await?,
    };
    output::print(&match context.format {
        Format::Json => output::compact(&answer),
        Format::Table | Format::Csv => attributes_block(&answer),
    })
}

fn attributes_block(answer: &Value) -> String {
    let mut text = String::new();
    if let Some(attributes) = answer["attributes"].as_object() {
        for (name, value) in attributes {
            text.push_str(&format!(
                "{:<14} {}\n",
                format!("{name}:"),
                output::cell(value)
            ));
        }
    }
    text
}

/// Shows one host: its main fields and an item count per inventory class
/// in a table, the whole answer otherwise.
pub async fn show(context: &Context, id: &str) -> Result<()> {
    let detail = context
        .client
        .get(&Endpoint::new(RESOURCE).segment(id))
        .await?;
    output::print(&match context.format {
        Format::Table => detail_block(&detail),
        Format::Json | Format::Csv => output::pretty(&detail),
    })
}

/// Prints a host's health over the last `hours` hours, one point per
/// `step_s` seconds (the collector may raise the step to the resolution
/// it keeps for older data; the JSON says which step it used).
pub async fn health(context: &Context, id: &str, hours: u32, step_s: u32) -> Result<()> {
    let until = rollcall_proto::now_ms();
    let since = until.saturating_sub(i64::from(hours).saturating_mul(3_600_000));
    let endpoint = Endpoint::new(RESOURCE)
        .segment(id)
        .segment("health")
        .param("since", since)
        .param("until", until)
        .param("step", step_s);
    let series = context.client.get(&endpoint).await?;
    output::print(&match context.format {
        Format::Json => output::pretty(&series),
        Format::Table | Format::Csv => output::list(&series, HEALTH_COLUMNS, context.format),
    })
}

fn detail_block(detail: &Value) -> String {
    let host = &detail["host"];
    let mut text = String::new();
    for key in DETAIL_FIELDS {
        text.push_str(&format!(
            "{:<14} {}\n",
            format!("{key}:"),
            output::cell(&host[*key])
        ));
    }
    if let Some(inventory) = detail["inventory"].as_object() {
        for (class, value) in inventory {
            if let Some(items) = value.as_array() {
                text.push_str(&format!(
                    "{:<14} {} items\n",
                    format!("{class}:"),
                    items.len()
                ));
            }
        }
    }
    text
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn detail_lists_fields_then_inventory_counts() {
        let detail = json!({
            "host": { "id": "h1", "hostname": "db-07", "cpu_threads": 8 },
            "inventory": { "disk": [{}, {}], "os": { "name": "debian" } },
        });
        let text = detail_block(&detail);
        assert!(text.starts_with("id:            h1\nhostname:      db-07\nfqdn:          \n"));
        assert!(text.contains("cpu_threads:   8\n"), "{text}");
        assert!(
            text.ends_with("match_rule:    \ndisk:          2 items\n"),
            "{text}"
        );
    }
}
