//! `rollcall diff HOST --from T [--to T]`: what changed in a host's
//! inventory between two moments (`/api/v1/hosts/{id}/diff`), by section.

use serde_json::{Value, json};

use crate::cli::client::Endpoint;
use crate::cli::commands::Context;
use crate::cli::error::Result;
use crate::cli::output::{self, Column, Format};

const COLUMNS: &[Column] = &[
    Column::plain("section"),
    Column::plain("change"),
    Column::plain("key"),
    Column::plain("detail"),
];

/// Prints the difference: JSON as the API answered, or one row per item
/// added, removed or changed (with the changed attributes, old → new).
pub async fn show(context: &Context, host: &str, from: &str, to: Option<&str>) -> Result<()> {
    let endpoint = Endpoint::new("hosts")
        .segment(host)
        .segment("diff")
        .param("from", from)
        .param_opt("to", to);
    let answer = context.client.get(&endpoint).await?;
    output::print(&render(&answer, context.format))
}

/// One row per item of every section.
fn rows(answer: &Value) -> Vec<Value> {
    let mut rows = Vec::new();
    let Some(sections) = answer["sections"].as_object() else {
        return rows;
    };
    for (section, kinds) in sections {
        for kind in ["added", "removed", "changed"] {
            for item in kinds[kind].as_array().into_iter().flatten() {
                let detail = match kind {
                    "changed" => item["fields"]
                        .as_object()
                        .into_iter()
                        .flatten()
                        .map(|(field, values)| {
                            format!(
                                "{field}: {} -> {}",
                                output::cell(&values["old"]),
                                output::cell(&values["new"])
                            )
                        })
                        .collect::<Vec<_>>()
                        .join("; "),
                    _ => output::cell(&item["attrs"]["version"]),
                };
                rows.push(json!({
                    "section": section, "change": kind, "key": item["key"], "detail": detail,
                }));
            }
        }
    }
    rows
}

fn render(answer: &Value, format: Format) -> String {
    match format {
        Format::Json => output::pretty(answer),
        Format::Csv => output::csv(&rows(answer), COLUMNS),
        Format::Table => output::table(&rows(answer), COLUMNS),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn changes_show_old_and_new() {
        let answer = json!({ "sections": { "software": {
            "added": [{ "key": "zsh:amd64", "attrs": { "version": "5.9-4" } }],
            "removed": [],
            "changed": [{ "key": "bash:amd64", "fields": { "version": { "old": "5.1-2", "new": "5.2.15-2" } } }],
        } } });
        let csv = render(&answer, Format::Csv);
        assert_eq!(
            csv,
            "section,change,key,detail\nsoftware,added,zsh:amd64,5.9-4\nsoftware,changed,bash:amd64,version: 5.1-2 -> 5.2.15-2\n"
        );
    }
}
