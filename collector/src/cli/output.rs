//! How the CLI prints API answers: aligned tables for people, CSV for
//! spreadsheets, JSON exactly as the API returned it for scripts.
//!
//! Tables show times as RFC 3339 in UTC (`2026-12-01T21:45:53Z`) instead of
//! the API's epoch milliseconds. CSV keeps the raw values, the same as the
//! API's own `format=csv` export (the same cells, spreadsheet-safe), so a
//! script gets one shape from either.
//! Rendering returns strings and does no I/O, so it is unit-tested;
//! [`print`] is the one place that writes to standard output.

use std::io::Write;

use clap::ValueEnum;
use serde_json::Value;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::cli::error::{CliError, Result};

/// Output formats (`--output`).
#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq)]
pub enum Format {
    /// Aligned columns.
    Table,
    /// JSON as returned by the API.
    Json,
    /// CSV.
    Csv,
}

/// How a column's values are shown in a table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// As the API gave it.
    Plain,
    /// Epoch milliseconds, shown as RFC 3339.
    Time,
}

/// One column of a list: the API field and how to show it.
#[derive(Debug, Clone, Copy)]
pub struct Column {
    /// The field name in each item, also the header (upper-cased in tables).
    pub key: &'static str,
    /// How its values are shown in a table.
    pub kind: Kind,
}

impl Column {
    /// A column shown as the API gave it.
    pub const fn plain(key: &'static str) -> Self {
        Self {
            key,
            kind: Kind::Plain,
        }
    }

    /// A column of epoch milliseconds, shown as RFC 3339 in tables.
    pub const fn time(key: &'static str) -> Self {
        Self {
            key,
            kind: Kind::Time,
        }
    }
}

/// Writes `text` to standard output. A reader that went away (`| head`)
/// ends the command quietly, as with any Unix filter, instead of the panic
/// `println!` gives; any other write error is returned.
pub fn print(text: &str) -> Result<()> {
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Err(error) if error.kind() != std::io::ErrorKind::BrokenPipe => {
            Err(CliError::Stdout(error))
        }
        _ => Ok(()),
    }
}

/// Renders the `items` of an API list answer in `format`.
pub fn list(answer: &Value, columns: &[Column], format: Format) -> String {
    let items = answer["items"].as_array().map(Vec::as_slice).unwrap_or(&[]);
    match format {
        Format::Json => pretty(&Value::Array(items.to_vec())),
        Format::Csv => csv(items, columns),
        Format::Table => table(items, columns),
    }
}

/// Pretty-printed JSON with a final newline.
pub fn pretty(value: &Value) -> String {
    let mut text = serde_json::to_string_pretty(value).unwrap_or_default();
    text.push('\n');
    text
}

/// Compact JSON with a final newline, byte for byte what the API sent.
pub fn compact(value: &Value) -> String {
    format!("{value}\n")
}

/// Aligned columns under upper-cased headers, two spaces apart, no trailing
/// blanks; times as RFC 3339.
pub fn table(items: &[Value], columns: &[Column]) -> String {
    let rows: Vec<Vec<String>> = items
        .iter()
        .map(|item| {
            columns
                .iter()
                .map(|column| shown(&item[column.key], column.kind))
                .collect()
        })
        .collect();
    // `format!` pads by characters, so widths are counted in characters too.
    let widths: Vec<usize> = columns
        .iter()
        .enumerate()
        .map(|(index, column)| {
            rows.iter()
                .map(|row| row[index].chars().count())
                .max()
                .unwrap_or(0)
                .max(column.key.chars().count())
        })
        .collect();
    let line = |values: &[String]| {
        let mut text = values
            .iter()
            .zip(&widths)
            .map(|(value, width)| format!("{value:<width$}"))
            .collect::<Vec<_>>()
            .join("  ")
            .trim_end()
            .to_string();
        text.push('\n');
        text
    };
    let header: Vec<String> = columns
        .iter()
        .map(|column| column.key.to_uppercase())
        .collect();
    let mut text = line(&header);
    for row in &rows {
        text.push_str(&line(row));
    }
    text
}

/// A header line and one record per item, quoted where needed, values raw.
pub fn csv(items: &[Value], columns: &[Column]) -> String {
    let mut writer = ::csv::Writer::from_writer(Vec::new());
    let records = std::iter::once(
        columns
            .iter()
            .map(|column| column.key.to_string())
            .collect(),
    )
    .chain(items.iter().map(|item| {
        columns
            .iter()
            .map(|column| crate::api::list::csv_cell(&item[column.key]))
            .collect::<Vec<_>>()
    }));
    for record in records {
        // Writing to a Vec fails only on allocation, which aborts anyway.
        let _ = writer.write_record(&record);
    }
    writer
        .into_inner()
        .map(|bytes| String::from_utf8_lossy(&bytes).into_owned())
        .unwrap_or_default()
}

/// A value as text: strings without quotes, null as empty.
pub fn cell(value: &Value) -> String {
    match value {
        Value::Null => String::new(),
        Value::String(text) => text.clone(),
        other => other.to_string(),
    }
}

/// A value as shown in a table column of this kind.
pub fn shown(value: &Value, kind: Kind) -> String {
    match (kind, value.as_i64()) {
        (Kind::Time, Some(epoch_ms)) => timestamp(epoch_ms),
        _ => cell(value),
    }
}

/// Epoch milliseconds as RFC 3339 in UTC to the second; a value outside
/// the years 0000–9999 is shown as the number it is, never a panic.
pub fn timestamp(epoch_ms: i64) -> String {
    OffsetDateTime::from_unix_timestamp(epoch_ms.div_euclid(1000))
        .ok()
        .and_then(|at| at.format(&Rfc3339).ok())
        .unwrap_or_else(|| epoch_ms.to_string())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    const COLUMNS: &[Column] = &[
        Column::plain("id"),
        Column::plain("summary"),
        Column::time("opened_at"),
    ];

    fn items() -> Value {
        json!({ "items": [
            { "id": "inc-1", "summary": "db-07 down", "opened_at": 1_796_161_265_789_i64 },
            { "id": "inc-22", "summary": "say \"hi\", then go", "opened_at": null },
        ]})
    }

    #[test]
    fn table_shows_times_as_rfc3339_and_aligns_columns() {
        let text = list(&items(), COLUMNS, Format::Table);
        assert_eq!(
            text,
            "ID      SUMMARY            OPENED_AT\n\
             inc-1   db-07 down         2026-12-01T21:41:05Z\n\
             inc-22  say \"hi\", then go\n"
        );
    }

    #[test]
    fn table_of_nothing_is_its_header() {
        assert_eq!(
            list(&json!({ "items": [] }), COLUMNS, Format::Table),
            "ID  SUMMARY  OPENED_AT\n"
        );
        assert_eq!(
            list(&json!({ "error": "x" }), COLUMNS, Format::Table),
            "ID  SUMMARY  OPENED_AT\n"
        );
    }

    #[test]
    fn table_pads_non_ascii_by_characters() {
        let rows = [json!({ "id": "é", "summary": "x" }), json!({ "id": "ab" })];
        let text = table(&rows, &COLUMNS[..2]);
        assert_eq!(text, "ID  SUMMARY\né   x\nab\n");
    }

    #[test]
    fn csv_quotes_where_needed_and_keeps_raw_times() {
        let text = list(&items(), COLUMNS, Format::Csv);
        assert_eq!(
            text,
            "id,summary,opened_at\n\
             inc-1,db-07 down,1796161265789\n\
             inc-22,\"say \"\"hi\"\", then go\",\n"
        );
    }

    #[test]
    fn csv_cells_that_start_a_formula_come_out_as_text() {
        let items =
            json!({ "items": [{ "id": "=cmd|/C calc!A0", "summary": "@x", "opened_at": -1 }] });
        assert_eq!(
            list(&items, COLUMNS, Format::Csv),
            "id,summary,opened_at\n'=cmd|/C calc!A0,'@x,-1\n"
        );
    }

    #[test]
    fn json_is_the_items_as_the_api_sent_them() {
        let text = list(&items(), COLUMNS, Format::Json);
        let back: Value = serde_json::from_str(&text).unwrap_or_default();
        assert_eq!(back, items()["items"]);
    }

    #[test]
    fn timestamps_in_and_out_of_range() {
        assert_eq!(timestamp(0), "1970-01-01T00:00:00Z");
        assert_eq!(timestamp(1_796_161_265_789), "2026-12-01T21:41:05Z");
        assert_eq!(timestamp(-1), "1969-12-31T23:59:59Z");
        assert_eq!(timestamp(i64::MAX), i64::MAX.to_string());
        assert_eq!(timestamp(i64::MIN), i64::MIN.to_string());
        // Year 10000 has no RFC 3339 form.
        assert_eq!(timestamp(253_402_300_800_000), "253402300800000");
    }

    #[test]
    fn time_columns_leave_non_numbers_alone() {
        assert_eq!(shown(&json!("soon"), Kind::Time), "soon");
        assert_eq!(shown(&Value::Null, Kind::Time), "");
        assert_eq!(shown(&json!(1_000), Kind::Plain), "1000");
    }
}
