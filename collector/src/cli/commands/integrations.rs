//! `rollcall integrations list|test`: ITSM targets with their circuit and
//! delivery counts (`/api/v1/integrations`).

use serde_json::Value;

use crate::cli::client::Endpoint;
use crate::cli::commands::Context;
use crate::cli::error::{CliError, Result};
use crate::cli::output::{self, Column, Format};

const RESOURCE: &str = "integrations";

const COLUMNS: &[Column] = &[
    Column::plain("name"),
    Column::plain("kind"),
    Column::plain("url"),
    Column::plain("circuit"),
    Column::plain("pending"),
    Column::plain("delivered"),
    Column::plain("dead"),
];

/// The outbox states counted per target, lifted into columns.
const COUNTS: [&str; 3] = ["pending", "delivered", "dead"];

/// Lists targets.
pub async fn list(context: &Context) -> Result<()> {
    let mut list = context.client.get(&Endpoint::new(RESOURCE)).await?;
    lift_counts(&mut list);
    output::print(&output::list(&list, COLUMNS, context.format))
}

/// Sends a test event and its resolve to target `name` and prints each
/// answer; fails unless the target accepted both.
pub async fn test(context: &Context, name: &str) -> Result<()> {
    let endpoint = Endpoint::new(RESOURCE).segment(name).segment("test");
    let answer = context.client.post(&endpoint, None).await?;
    output::print(&match context.format {
        Format::Table => steps(&answer),
        Format::Json | Format::Csv => output::pretty(&answer),
    })?;
    if answer["ok"].as_bool() == Some(true) {
        Ok(())
    } else {
        Err(CliError::TestRejected {
            name: name.to_string(),
        })
    }
}

/// Copies `counts.{pending,delivered,dead}` onto each item (0 when absent),
/// so they can be columns.
fn lift_counts(list: &mut Value) {
    if let Some(items) = list["items"].as_array_mut() {
        for item in items {
            for state in COUNTS {
                item[state] = item["counts"][state].as_i64().unwrap_or(0).into();
            }
        }
    }
}

/// One line per step (trigger, resolve): outcome, external reference, detail.
fn steps(answer: &Value) -> String {
    let mut text = String::new();
    for step in ["trigger", "resolve"] {
        let outcome = &answer[step];
        if outcome.is_null() {
            continue;
        }
        let detail = outcome["detail"]
            .as_str()
            .or_else(|| outcome["error"].as_str())
            .unwrap_or_default();
        let reference = outcome["external_ref"]
            .as_str()
            .map(|reference| format!("ref {reference}: "))
            .unwrap_or_default();
        text.push_str(&format!(
            "{step:<8} {:<10} {reference}{detail}\n",
            output::cell(&outcome["outcome"])
        ));
    }
    text
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn counts_become_columns() {
        let mut list = json!({ "items": [
            { "name": "pd", "counts": { "pending": 2, "dead": 1 } },
            { "name": "sn" },
        ]});
        lift_counts(&mut list);
        assert_eq!(list["items"][0]["pending"], 2);
        assert_eq!(list["items"][0]["delivered"], 0);
        assert_eq!(list["items"][0]["dead"], 1);
        assert_eq!(list["items"][1]["dead"], 0);
    }

    #[test]
    fn steps_show_outcome_reference_and_detail() {
        let answer = json!({
            "ok": false,
            "trigger": { "outcome": "delivered", "external_ref": "INC1", "detail": "created" },
            "resolve": { "outcome": "dead", "error": "HTTP 401" },
        });
        assert_eq!(
            steps(&answer),
            "trigger  delivered  ref INC1: created\nresolve  dead       HTTP 401\n"
        );
        assert_eq!(steps(&json!({ "ok": true })), "");
    }
}
