//! Whole lists as CSV: `format=csv` (or `Accept: text/csv`) without `cursor`
//! or `limit` streams every row, page after page, with one header line; the
//! rows are exactly the JSON pages' rows in the same order, hostile names
//! quoted and made spreadsheet-safe on any page; `limit` or `cursor` still
//! answer one page with its `x-next-cursor`. On SQLite and PostgreSQL, over
//! a store seeded through its traits with more hosts than three pages.

use axum::http::{Method, StatusCode, header};
use rollcall_collector::api::list::spreadsheet_safe;
use serde_json::Value;

use crate::on_both_backends;
use crate::support::App;

/// More than two default host-list pages (100 each).
const HOSTS: usize = 230;

/// Hostnames that need quoting or a formula guard, placed on later pages.
const HOSTILE: [(usize, &str); 3] = [
    (120, "evil, \"quoted\"\nsecond line"),
    (150, "=HYPERLINK(\"http://x\",\"y\")"),
    (210, "-2+3"),
];

fn hostname(index: usize) -> String {
    HOSTILE
        .iter()
        .find(|(at, _)| *at == index)
        .map(|(_, name)| name.to_string())
        .unwrap_or_else(|| format!("host-{index:03}"))
}

async fn seed(app: &App) {
    for index in 0..HOSTS {
        app.host(&hostname(index), &[("openssl", "3.0.11-1~deb12u2")])
            .await;
    }
}

/// Every item of the list at `path` (which has a query), read page by page
/// as JSON, 100 a page.
async fn json_items(app: &App, path: &str) -> Vec<Value> {
    let mut items = Vec::new();
    let mut cursor = String::new();
    loop {
        let reply = app
            .get(&format!("{path}&limit=100{cursor}"), &app.viewer)
            .await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
        items.extend(reply.body["items"].as_array().expect("items").clone());
        match reply.body["next_cursor"].as_str() {
            Some(next) => cursor = format!("&cursor={next}"),
            None => return items,
        }
    }
}

/// Every (id, hostname) of the host list, read page by page as JSON.
async fn json_pages(app: &App) -> Vec<(String, String)> {
    json_items(app, "/api/v1/hosts?fields=id,hostname")
        .await
        .iter()
        .map(|item| {
            (
                item["id"].as_str().expect("id").to_string(),
                item["hostname"].as_str().expect("hostname").to_string(),
            )
        })
        .collect()
}

/// The records of a CSV text, header first.
fn records(text: &str) -> Vec<Vec<String>> {
    csv::ReaderBuilder::new()
        .has_headers(false)
        .from_reader(text.as_bytes())
        .records()
        .map(|record| {
            record
                .expect("valid CSV")
                .iter()
                .map(str::to_string)
                .collect()
        })
        .collect()
}

async fn a_whole_csv_list_is_every_row_of_every_page(app: App) {
    seed(&app).await;
    let pages = json_pages(&app).await;
    assert_eq!(pages.len(), HOSTS);

    let whole = app
        .get("/api/v1/hosts?fields=id,hostname&format=csv", &app.viewer)
        .await;
    assert_eq!(whole.status, StatusCode::OK, "{}", whole.body);
    assert_eq!(
        whole.headers[header::CONTENT_TYPE],
        "text/csv; charset=utf-8"
    );
    assert!(whole.headers.get("x-next-cursor").is_none());
    let rows = records(whole.text());
    // Columns in name order (the rows are JSON objects).
    assert_eq!(rows[0], ["hostname", "id"], "one header line");
    let expected: Vec<Vec<String>> = pages
        .iter()
        .map(|(id, name)| vec![spreadsheet_safe(name).into_owned(), id.clone()])
        .collect();
    assert_eq!(rows[1..], expected[..], "the JSON pages' rows, in order");
    // The hostile names, as text, on the second and third pages.
    assert!(
        whole
            .text()
            .contains("\n\"evil, \"\"quoted\"\"\nsecond line\",")
    );
    assert!(
        whole
            .text()
            .contains("\n\"'=HYPERLINK(\"\"http://x\"\",\"\"y\"\")\",")
    );
    assert!(whole.text().contains("\n'-2+3,"));

    // Accept: text/csv streams the same.
    let accepted = app
        .get_accepting("/api/v1/hosts?fields=id,hostname", &app.viewer, "text/csv")
        .await;
    assert_eq!(accepted.text(), whole.text());

    // A filter applies to every page.
    let filtered = app
        .get(
            "/api/v1/hosts?fields=hostname&name=host-1*&format=csv",
            &app.viewer,
        )
        .await;
    let names: Vec<String> = records(filtered.text())
        .into_iter()
        .skip(1)
        .map(|mut record| record.remove(0))
        .collect();
    let mut wanted: Vec<String> = pages
        .iter()
        .map(|(_, name)| name.clone())
        .filter(|name| name.starts_with("host-1"))
        .collect();
    wanted.sort();
    let mut got = names.clone();
    got.sort();
    assert_eq!(got, wanted);

    // limit (or cursor) asks for one page, and gets its cursor.
    let page = app
        .get(
            "/api/v1/hosts?fields=id,hostname&format=csv&limit=100",
            &app.viewer,
        )
        .await;
    assert_eq!(records(page.text()).len(), 101);
    let cursor = page.headers["x-next-cursor"].to_str().expect("cursor");
    let second = app
        .get(
            &format!("/api/v1/hosts?fields=id,hostname&format=csv&cursor={cursor}"),
            &app.viewer,
        )
        .await;
    assert_eq!(records(second.text()).len(), 101);
    assert_eq!(records(second.text())[1][1], pages[100].0);

    // The change feed: the ids of every JSON page, in the same order.
    let changes = app
        .get("/api/v1/changes?format=csv&order=desc", &app.viewer)
        .await;
    assert_eq!(changes.status, StatusCode::OK);
    let rows = records(changes.text());
    let id_column = rows[0].iter().position(|name| name == "id").expect("id");
    let csv_ids: Vec<String> = rows[1..]
        .iter()
        .map(|record| record[id_column].clone())
        .collect();
    let json_ids: Vec<String> = json_items(&app, "/api/v1/changes?order=desc")
        .await
        .iter()
        .map(|item| item["id"].to_string())
        .collect();
    assert!(json_ids.len() > 200, "more than two pages of changes");
    assert_eq!(csv_ids, json_ids);

    // A whole list still needs a token, and bad filters are still 400s.
    let anonymous = app
        .send(Method::GET, "/api/v1/hosts?format=csv", None, None)
        .await;
    assert_eq!(anonymous.status, StatusCode::UNAUTHORIZED);
    let bad = app
        .get("/api/v1/hosts?format=csv&sort=nonsense", &app.viewer)
        .await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
}

on_both_backends!(a_whole_csv_list_is_every_row_of_every_page);
