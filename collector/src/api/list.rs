//! Lists: the shared query parameters, page sizes, cursors, and rendering a
//! page as JSON `{items, next_cursor}` or as CSV.

use axum::Json;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::error::{Error, Result};

/// Query parameters of the inventory lists (changes, health), one set for
/// all of them: each accepts every field and ignores those it does not use.
/// The host list (`host_query`) and the catalogue have their own parsers.
#[derive(Debug, Deserialize, Default, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    #[param(minimum = 1, maximum = 1000)]
    pub(crate) limit: Option<i64>,
    pub(crate) cursor: Option<String>,
    #[param(inline, value_type = Option<super::schemas::Format>)]
    pub(crate) format: Option<String>,
    #[param(minimum = 946684800000.0, maximum = 7258118400000.0)]
    pub(crate) since: Option<i64>,
    #[param(minimum = 946684800000.0, maximum = 7258118400000.0)]
    pub(crate) until: Option<i64>,
    #[param(max_length = 256)]
    pub(crate) class: Option<String>,
    #[param(max_length = 256)]
    pub(crate) key: Option<String>,
    #[param(max_length = 256)]
    pub(crate) field: Option<String>,
    #[param(inline, value_type = Option<super::schemas::ChangeKind>)]
    pub(crate) change: Option<String>,
    #[param(inline, value_type = Option<super::schemas::Order>)]
    pub(crate) order: Option<String>,
}

impl ListQuery {
    /// The page size: 100 by default, at most 1000.
    pub fn limit(&self) -> Result<i64> {
        page_limit(self.limit, 100, 1000)
    }

    /// Whether CSV was asked for.
    pub fn csv(&self) -> Result<bool> {
        wants_csv(self.format.as_deref())
    }

    /// The cursor as a numeric id (change ids), if one was given.
    pub fn numeric_cursor(&self) -> Result<Option<i64>> {
        self.cursor
            .as_deref()
            .map(|cursor| {
                cursor
                    .parse::<i64>()
                    .map_err(|_| Error::InvalidInput(format!("cursor {cursor:?} is not valid")))
            })
            .transpose()
    }
}

/// Query parameters of the availability-side lists (outages, availability,
/// incidents, relationships), one set for all of them as for [`ListQuery`].
#[derive(Debug, Deserialize, Default, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct Filters {
    pub(crate) host_id: Option<String>,
    pub(crate) ci_id: Option<String>,
    pub(crate) kind: Option<String>,
    #[param(inline, value_type = Option<super::schemas::IncidentState>)]
    pub(crate) state: Option<String>,
    pub(crate) rule: Option<String>,
    #[param(minimum = 946684800000.0, maximum = 7258118400000.0)]
    pub(crate) since: Option<i64>,
    #[param(minimum = 946684800000.0, maximum = 7258118400000.0)]
    pub(crate) until: Option<i64>,
    #[param(minimum = 1, maximum = 10000)]
    pub(crate) limit: Option<i64>,
    #[param(inline, value_type = Option<super::schemas::Format>)]
    pub(crate) format: Option<String>,
    pub(crate) window: Option<String>,
    pub(crate) period: Option<String>,
    pub(crate) tz: Option<String>,
    pub(crate) service_id: Option<String>,
}

impl Filters {
    /// The page size: 500 by default, at most 10,000.
    pub fn limit(&self) -> Result<i64> {
        page_limit(self.limit, 500, 10_000)
    }

    /// A 400 when a calendar period (`period`, `tz`) is given to a list
    /// that does not take one: only `/availability` does, and silently
    /// ignoring it would answer for the wrong time.
    pub fn refuse_period(&self) -> Result<()> {
        if self.period.is_some() || self.tz.is_some() {
            return Err(Error::InvalidInput(
                "period and tz apply to /api/v1/availability only; give since and until here"
                    .into(),
            ));
        }
        Ok(())
    }

    /// Whether CSV was asked for.
    pub fn csv(&self) -> Result<bool> {
        wants_csv(self.format.as_deref())
    }
}

/// A page size from a query: `default` when absent, at most `max`.
pub fn page_limit(limit: Option<i64>, default: i64, max: i64) -> Result<i64> {
    match limit {
        None => Ok(default),
        Some(limit) if (1..=max).contains(&limit) => Ok(limit),
        Some(limit) => Err(Error::InvalidInput(format!(
            "limit must be between 1 and {max}, got {limit}"
        ))),
    }
}

/// Whether a query asks for CSV (`format=csv`) rather than JSON.
pub fn wants_csv(format: Option<&str>) -> Result<bool> {
    match format {
        None | Some("json") => Ok(false),
        Some("csv") => Ok(true),
        Some(other) => Err(Error::InvalidInput(format!(
            "format must be json or csv, got {other:?}"
        ))),
    }
}

/// `Accept: text/csv` on a `GET` without `format=`: the request as if it
/// said `format=csv` (a list answers CSV; a resource that has no CSV form
/// refuses `format` with a 400 naming it). The first media range of the
/// header decides, so a browser's `text/html,…` or `*/*` stays JSON.
pub async fn accept_csv(mut request: axum::extract::Request) -> axum::extract::Request {
    let wants = request
        .headers()
        .get(header::ACCEPT)
        .and_then(|value| value.to_str().ok())
        .and_then(|accept| accept.split(',').next())
        .is_some_and(|first| {
            first
                .split(';')
                .next()
                .is_some_and(|media| media.trim().eq_ignore_ascii_case("text/csv"))
        });
    if !wants || request.method() != axum::http::Method::GET {
        return request;
    }
    let uri = request.uri();
    let query = uri.query().unwrap_or_default();
    let has_format = query
        .split('&')
        .any(|pair| pair == "format" || pair.starts_with("format="));
    if has_format {
        return request;
    }
    let query = if query.is_empty() {
        "format=csv".to_string()
    } else {
        format!("{query}&format=csv")
    };
    if let Ok(rewritten) = format!("{}?{query}", uri.path()).parse() {
        *request.uri_mut() = rewritten;
    }
    request
}

/// The cursor of the next page: the last row's key when the page is full.
pub fn next_cursor<T>(rows: &[T], limit: i64, key: impl Fn(&T) -> String) -> Option<String> {
    if rows.len() as i64 == limit {
        rows.last().map(key)
    } else {
        None
    }
}

/// Rows as JSON values.
pub fn to_values<T: serde::Serialize>(rows: &[T]) -> Result<Vec<Value>> {
    rows.iter()
        .map(|row| serde_json::to_value(row).map_err(|error| Error::Internal(error.to_string())))
        .collect()
}

/// A cell a spreadsheet will not run: text beginning with `=`, `+`, `-`,
/// `@`, a tab or a carriage return gets a leading `'` (OWASP "CSV
/// injection"), so a hostname `=cmd|/C calc!A0` is shown as text.
pub fn spreadsheet_safe(text: &str) -> std::borrow::Cow<'_, str> {
    if text.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        std::borrow::Cow::Owned(format!("'{text}"))
    } else {
        std::borrow::Cow::Borrowed(text)
    }
}

/// A JSON value as a CSV cell: strings raw but spreadsheet-safe, numbers
/// and booleans as JSON writes them (`-1` is a number, not a formula), null
/// empty, arrays and objects as JSON.
pub fn csv_cell(value: &Value) -> String {
    match value {
        Value::Null => String::new(),
        Value::String(text) => spreadsheet_safe(text).into_owned(),
        Value::Number(_) | Value::Bool(_) => value.to_string(),
        other => spreadsheet_safe(&other.to_string()).into_owned(),
    }
}

/// Rows as CSV (RFC 4180 quoting by the `csv` crate), a header line first.
fn csv_text(columns: &[String], rows: &[Value]) -> String {
    let mut writer = csv::Writer::from_writer(Vec::new());
    // Writing to a Vec fails only on allocation, which aborts anyway.
    let _ = writer.write_record(columns);
    for row in rows {
        let _ = writer.write_record(
            columns
                .iter()
                .map(|column| csv_cell(row.get(column).unwrap_or(&Value::Null))),
        );
    }
    writer
        .into_inner()
        .map(|bytes| String::from_utf8_lossy(&bytes).into_owned())
        .unwrap_or_default()
}

/// Renders a list as JSON `{items, next_cursor}` or as CSV (the columns of
/// the first row; the next cursor in an `x-next-cursor` header).
pub fn list_response(rows: Vec<Value>, next_cursor: Option<String>, csv: bool) -> Response {
    if !csv {
        return Json(json!({ "items": rows, "next_cursor": next_cursor })).into_response();
    }
    let columns: Vec<String> = match rows.first() {
        Some(Value::Object(map)) => map.keys().cloned().collect(),
        _ => Vec::new(),
    };
    let mut response = csv_text(&columns, &rows).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/csv; charset=utf-8"),
    );
    if let Some(cursor) = next_cursor
        && let Ok(value) = HeaderValue::from_str(&cursor)
    {
        response.headers_mut().insert("x-next-cursor", value);
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_fields_quote_separators_and_quotes() {
        let columns = vec!["a".to_string(), "b".to_string()];
        let rows = [
            json!({ "a": "plain", "b": "a,b" }),
            json!({ "a": "say \"hi\"", "b": null }),
            json!({ "a": 42, "b": "two\nlines" }),
        ];
        assert_eq!(
            csv_text(&columns, &rows),
            "a,b\nplain,\"a,b\"\n\"say \"\"hi\"\"\",\n42,\"two\nlines\"\n"
        );
    }

    #[test]
    fn formula_cells_become_text() {
        for (raw, shown) in [
            ("=cmd|/C calc!A0", "'=cmd|/C calc!A0"),
            ("+1", "'+1"),
            ("-2+3", "'-2+3"),
            ("@SUM(A1)", "'@SUM(A1)"),
            ("\tx", "'\tx"),
            ("\rx", "'\rx"),
            ("a=b", "a=b"),
            ("", ""),
        ] {
            assert_eq!(csv_cell(&json!(raw)), shown);
        }
        assert_eq!(csv_cell(&json!(-1)), "-1");
        assert_eq!(csv_cell(&json!(["=x"])), "[\"=x\"]");
    }

    #[test]
    fn page_limits_are_bounded() {
        assert_eq!(page_limit(None, 100, 1000).ok(), Some(100));
        assert_eq!(page_limit(Some(1000), 100, 1000).ok(), Some(1000));
        assert!(page_limit(Some(0), 100, 1000).is_err());
        assert!(page_limit(Some(1001), 100, 1000).is_err());
    }

    #[test]
    fn next_cursor_only_on_a_full_page() {
        assert_eq!(next_cursor(&[1, 2], 2, |n| n.to_string()), Some("2".into()));
        assert_eq!(next_cursor(&[1], 2, |n| n.to_string()), None);
    }
}
