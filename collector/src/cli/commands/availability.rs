//! `rollcall availability`: availability per host and per business
//! service over a window or a calendar period in a time zone
//! (`/api/v1/availability`).

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

/// A service's row: the host columns, then its objective and budget.
const SERVICE_COLUMNS: &[Column] = &[
    Column::plain("name"),
    Column::plain("availability_percent"),
    Column::plain("unplanned_downtime_ms"),
    Column::plain("failures"),
    Column::plain("mtbf_ms"),
    Column::plain("mtrs_ms"),
    Column::plain("sla_target_percent"),
    Column::plain("sla_met"),
    Column::plain("error_budget_left_ms"),
    Column::plain("burn_rate"),
];

/// What the report covers: a window (`30d`) or a period (`2026-11`, with
/// an optional time zone); neither means the API's default, 30 days.
#[derive(Debug, Clone, Copy, Default)]
pub struct Span<'a> {
    /// `window=`.
    pub window: Option<&'a str>,
    /// `period=`.
    pub period: Option<&'a str>,
    /// `tz=`.
    pub tz: Option<&'a str>,
}

/// The request for `span`.
fn endpoint(span: &Span<'_>) -> Endpoint {
    Endpoint::new("availability")
        .param_opt("window", span.window)
        .param_opt("period", span.period)
        .param_opt("tz", span.tz)
}

/// Prints the report over `span`: hosts, then services if any; a period
/// still running is announced as reported up to now.
pub async fn report(context: &Context, span: &Span<'_>) -> Result<()> {
    let report = context.client.get(&endpoint(span)).await?;
    output::print(&render(&report, context.format))
}

fn render(report: &Value, format: Format) -> String {
    if format == Format::Json {
        return output::pretty(report);
    }
    let mut text = String::new();
    let period = &report["period"];
    if format == Format::Table && period.is_object() {
        // Say what a period resolved to, and that a running one stops at now.
        text.push_str(&format!(
            "period {} ({}): {} to {}{}\n\n",
            period["name"].as_str().unwrap_or_default(),
            period["tz"].as_str().unwrap_or_default(),
            period["starts_local"].as_str().unwrap_or_default(),
            period["ends_local"].as_str().unwrap_or_default(),
            if period["partial"] == true {
                ", still running: reported up to now"
            } else {
                ""
            },
        ));
    }
    text.push_str(&output::list(
        &rows(&report["hosts"], "hostname"),
        COLUMNS,
        format,
    ));
    if report["services"]
        .as_array()
        .is_some_and(|services| !services.is_empty())
    {
        text.push('\n');
        text.push_str(&output::list(
            &rows(&report["services"], "name"),
            SERVICE_COLUMNS,
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
                        "sla_target_percent": entry["sla_target_percent"],
                        "sla_met": entry["sla_met"],
                        "error_budget_left_ms": entry["error_budget_left_ms"],
                        "burn_rate": entry["burn_rate"],
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
            &report(json!([{
                "name": "shop", "availability": { "failures": 0 }, "sla_target_percent": 99.9,
                "sla_met": false, "error_budget_left_ms": -5, "burn_rate": 1.25,
            }])),
            Format::Csv,
        );
        assert_eq!(
            text,
            "name,availability_percent,unplanned_downtime_ms,failures,mtbf_ms,mtrs_ms\n\
             db-07,99.5,1000,1,,1000\n\
             \n\
             name,availability_percent,unplanned_downtime_ms,failures,mtbf_ms,mtrs_ms,\
             sla_target_percent,sla_met,error_budget_left_ms,burn_rate\n\
             shop,,,0,,,99.9,false,-5,1.25\n"
        );
    }

    #[test]
    fn a_period_is_requested_and_announced() {
        let span = Span {
            window: None,
            period: Some("2026-Q4"),
            tz: Some("Europe/Berlin"),
        };
        assert_eq!(
            endpoint(&span),
            Endpoint::new("availability")
                .param("period", "2026-Q4")
                .param("tz", "Europe/Berlin")
        );
        assert_eq!(
            endpoint(&Span::default()),
            Endpoint::new("availability"),
            "the API's default window"
        );
        let mut answer = report(json!([]));
        answer["period"] = json!({
            "name": "2026-Q4", "tz": "Europe/Berlin", "partial": true,
            "starts_local": "2026-10-01T00:00:00+02:00[Europe/Berlin]",
            "ends_local": "2027-01-01T00:00:00+01:00[Europe/Berlin]",
        });
        let text = render(&answer, Format::Table);
        assert!(
            text.starts_with(
                "period 2026-Q4 (Europe/Berlin): 2026-10-01T00:00:00+02:00[Europe/Berlin] to \
                 2027-01-01T00:00:00+01:00[Europe/Berlin], still running: reported up to now\n\nNAME "
            ),
            "{text}"
        );
        let csv = render(&answer, Format::Csv);
        assert!(csv.starts_with("name,"), "CSV stays parseable: {csv}");
    }

    #[test]
    fn no_services_no_second_table() {
        let text = render(&report(json!([])), Format::Table);
        assert_eq!(text.lines().count(), 2, "{text}");
        assert!(text.starts_with("NAME "), "{text}");
    }
}
