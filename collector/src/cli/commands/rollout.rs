//! `rollcall rollout NAME --version-ge X`: a package's rollout over time
//! (`/api/v1/software/{name}/rollout`): per step, the hosts at X or newer,
//! older, and without it; then the time-to-remediate figures.

use serde_json::Value;

use crate::cli::client::Endpoint;
use crate::cli::commands::Context;
use crate::cli::error::Result;
use crate::cli::output::{self, Column, Format};

const STEPS: &[Column] = &[
    Column::time("at"),
    Column::plain("at_or_above"),
    Column::plain("below"),
    Column::plain("without"),
];

const HOSTS: &[Column] = &[
    Column::plain("hostname"),
    Column::time("exposed_from"),
    Column::time("remediated_at"),
    Column::plain("seconds_to_remediate"),
    Column::plain("removed"),
    Column::plain("version_at_until"),
];

/// What a rollout asks.
#[derive(Debug, Clone, Default)]
pub struct Query<'a> {
    /// The package.
    pub name: &'a str,
    /// `version_ge=`.
    pub version_ge: &'a str,
    /// `manager=`.
    pub manager: Option<&'a str>,
    /// `since=` (ms or RFC 3339).
    pub since: Option<&'a str>,
    /// `until=`.
    pub until: Option<&'a str>,
    /// `step=` (`1d`, `6h`, seconds).
    pub step: Option<&'a str>,
    /// `within_days=`.
    pub within_days: Option<i64>,
}

/// Prints the rollout: JSON as the API answered, CSV of the steps, or for
/// people the steps, the distribution and the exposed hosts.
pub async fn show(context: &Context, query: &Query<'_>) -> Result<()> {
    let endpoint = Endpoint::new("software")
        .segment(query.name)
        .segment("rollout")
        .param("version_ge", query.version_ge)
        .param_opt("manager", query.manager)
        .param_opt("since", query.since)
        .param_opt("until", query.until)
        .param_opt("step", query.step)
        .param_opt("within_days", query.within_days);
    let answer = context.client.get(&endpoint).await?;
    output::print(&render(&answer, context.format))
}

fn render(answer: &Value, format: Format) -> String {
    let steps = answer["steps"].as_array().map(Vec::as_slice).unwrap_or(&[]);
    match format {
        Format::Json => output::pretty(answer),
        Format::Csv => output::csv(steps, STEPS),
        Format::Table => {
            let r = &answer["remediation"];
            let figure = |key: &str| output::cell(&r[key]);
            let mut text = format!(
                "{} >= {} ({} order), steps of {} s\n\n",
                output::cell(&answer["name"]),
                output::cell(&answer["version_ge"]),
                output::cell(&answer["manager"]),
                output::cell(&answer["step_s"]),
            );
            text.push_str(&output::table(steps, STEPS));
            text.push_str(&format!(
                "\nexposed {}, remediated {}, removed {}, still below {}; \
                 time to remediate p50 {} s, p90 {} s; within {} days: {} ({})\n\n",
                figure("exposed"),
                figure("remediated"),
                figure("removed"),
                figure("still_below"),
                figure("p50_s"),
                figure("p90_s"),
                output::cell(&answer["within_days"]),
                figure("within"),
                figure("share_within"),
            ));
            let hosts = answer["hosts"].as_array().map(Vec::as_slice).unwrap_or(&[]);
            text.push_str(&output::table(hosts, HOSTS));
            text
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_table_shows_steps_figures_and_hosts() {
        let answer = json!({
            "name": "openssl", "version_ge": "3.0.13-1", "manager": "dpkg", "step_s": 86400,
            "within_days": 7,
            "steps": [{ "at": 0, "at_or_above": 1, "below": 2, "without": 0 }],
            "remediation": { "exposed": 2, "remediated": 1, "removed": 0, "still_below": 1,
                "p50_s": 3600, "p90_s": 3600, "within": 1, "share_within": 0.5 },
            "hosts": [{ "hostname": "web-1", "exposed_from": 0, "remediated_at": 3600000,
                "seconds_to_remediate": 3600, "removed": false, "version_at_until": "3.0.13-1" }],
        });
        let table = render(&answer, Format::Table);
        assert!(
            table.starts_with("openssl >= 3.0.13-1 (dpkg order), steps of 86400 s"),
            "{table}"
        );
        assert!(table.contains("exposed 2, remediated 1"), "{table}");
        assert!(table.contains("p50 3600 s"), "{table}");
        assert!(table.contains("web-1"), "{table}");
        assert_eq!(
            render(&answer, Format::Csv).lines().next(),
            Some("at,at_or_above,below,without")
        );
    }
}
