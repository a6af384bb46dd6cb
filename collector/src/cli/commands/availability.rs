//! `rollcall availability`: availability per host and per business
//! service over a window (`/api/v1/availability`).

use serde_json::{Value, json};

use crate::cli::client::Endpoint;
use crate::cli::commands::Context;
use crate::cli::error::Result;
use crate::cli::output::{self, Column, Format};

const COLUMNS: &[Column] = &[
    Column::plain("name"),
    Column::plain("availability_percent"),
    Column::plain("unplanned_downtime_ms"),
    Column::plain("failures"),
    Column::plain("mtbf_ms"),
    Column::plain("mtrs_ms"),
];

/// Prints the report for `window` (e.g. `30d`): hosts, then services if any.
pub async fn report(context: &Context, window: &str) -> Result<()> {
    let endpoint = Endpoint::new("availability").param("window", window);
    let report = context.client.get(&endpoint).await?;
    output::print(&render(&report, context.format))
}

fn render(report: &Value, format: Format) -> String {
    if format == Format::Json {
        return output::pretty(report);
    }
    let mut text = output::list(&rows(&report["hosts"], "hostname"), COLUMNS, format);
    if report["services"]
        .as_array()
        .is_some_and(|services| !services.is_empty())
    {
        text.push('\n');
        text.push_str(&output::list(
            &rows(&report["services"], "name"),
            COLUMNS,
            format,
        ));
    }
    text
}

/// The report's entries as a list of flat rows named by `name_field`.
fn rows(entries: &Value, name_field: &str) -> Value {
    let items: Vec<Value> = entries
        .as_array()
        .map(|entries| {
            entries
                .iter()
                .map(|entry| {
                    let availability = &entry["availability"];
                    json!({
                        "name": entry[name_field],
                        "availability_percent": availability["availability_percent"],
                        "unplanned_downtime_ms": availability["unplanned_downtime_ms"],
                        "failures": availability["failures"],
                        "mtbf_ms": availability["mtbf_ms"],
                        "mtrs_ms": availability["mtrs_ms"],
                    })
                })
                .collect()
        })
        .unwrap_or_default();
    json!({ "items": items })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report(services: Value) -> Value {
        json!({
            "hosts": [{ "hostname": "db-07", "availability": {
                "availability_percent": 99.5, "unplanned_downtime_ms": 1000,
                "failures": 1, "mtbf_ms": null, "mtrs_ms": 1000,
            }}],
            "services": services,
        })
    }

    #[test]
    fn hosts_then_services_after_a_blank_line() {
        let text = render(
            &report(json!([{ "name": "shop", "availability": { "failures": 0 } }])),
            Format::Csv,
        );
        assert_eq!(
            text,
            "name,availability_percent,unplanned_downtime_ms,failures,mtbf_ms,mtrs_ms\n\
             db-07,99.5,1000,1,,1000\n\
             \n\
             name,availability_percent,unplanned_downtime_ms,failures,mtbf_ms,mtrs_ms\n\
             shop,,,0,,\n"
        );
    }

    #[test]
    fn no_services_no_second_table() {
        let text = render(&report(json!([])), Format::Table);
        assert_eq!(text.lines().count(), 2, "{text}");
        assert!(text.starts_with("NAME "), "{text}");
    }
}
