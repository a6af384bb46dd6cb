//! `/api/v1/hosts`, `/hosts/{id}` and `/hosts/{id}/health`.

use axum::http::{Method, StatusCode};

use crate::support::App;

fn ids(reply: &crate::support::Reply) -> Vec<String> {
    let mut ids: Vec<String> = reply.body["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|host| host["hostname"].as_str().expect("hostname").to_string())
        .collect();
    ids.sort();
    ids
}

#[tokio::test]
async fn hosts_filter_by_installed_version_in_dpkg_order() {
    let app = App::new().await;
    app.host("old", &[("openssl", "3.0.9")]).await;
    app.host("new", &[("openssl", "3.0.13")]).await;
    app.host("none", &[("bash", "5.2")]).await;

    let all = app.get("/api/v1/hosts", &app.viewer).await;
    assert_eq!(all.status, StatusCode::OK, "{all:?}");
    assert_eq!(ids(&all), ["new", "none", "old"]);
    assert!(all.body["next_cursor"].is_null());

    // 3.0.9 < 3.0.13 in dpkg order (a string comparison says the opposite).
    let below = app
        .get(
            "/api/v1/hosts?software=openssl&version_lt=3.0.13",
            &app.viewer,
        )
        .await;
    assert_eq!(ids(&below), ["old"]);
    let at_least = app
        .get(
            "/api/v1/hosts?software=openssl&version_ge=3.0.13",
            &app.viewer,
        )
        .await;
    assert_eq!(ids(&at_least), ["new"]);
    let any = app.get("/api/v1/hosts?software=openssl", &app.viewer).await;
    assert_eq!(ids(&any), ["new", "old"]);
    let range = app
        .get(
            "/api/v1/hosts?software=openssl&version_gt=3.0.9&version_le=3.0.13",
            &app.viewer,
        )
        .await;
    assert_eq!(ids(&range), ["new"]);
}

#[tokio::test]
async fn hosts_page_by_cursor_and_export_csv() {
    let app = App::new().await;
    for name in ["a", "b", "c"] {
        app.host(name, &[]).await;
    }
    let first = app.get("/api/v1/hosts?limit=2", &app.viewer).await;
    assert_eq!(first.body["items"].as_array().map(Vec::len), Some(2));
    let cursor = first.body["next_cursor"]
        .as_str()
        .expect("a full page has a cursor");
    let second = app
        .get(
            &format!("/api/v1/hosts?limit=2&cursor={cursor}"),
            &app.viewer,
        )
        .await;
    assert_eq!(second.body["items"].as_array().map(Vec::len), Some(1));
    assert!(second.body["next_cursor"].is_null());

    let csv = app
        .get("/api/v1/hosts?format=csv&name=b", &app.viewer)
        .await;
    assert_eq!(csv.status, StatusCode::OK);
    assert_eq!(
        csv.headers["content-type"].to_str().ok(),
        Some("text/csv; charset=utf-8")
    );
    let mut lines = csv.text().lines();
    let header = lines.next().expect("header line");
    assert!(
        header.split(',').any(|column| column == "hostname"),
        "{header}"
    );
    assert_eq!(lines.count(), 1, "one host named b: {}", csv.text());
}

#[tokio::test]
async fn csv_export_writes_a_formula_hostname_as_text() {
    let app = App::new().await;
    app.host("=cmd|/C calc!A0", &[]).await;
    app.host("@SUM(1+1)*cmd|' /C calc'!A0", &[]).await;
    let csv = app.get("/api/v1/hosts?format=csv", &app.viewer).await;
    assert_eq!(csv.status, StatusCode::OK);
    let mut reader = csv::Reader::from_reader(csv.text().as_bytes());
    let column = reader
        .headers()
        .expect("header line")
        .iter()
        .position(|name| name == "hostname")
        .expect("a hostname column");
    let mut hostnames: Vec<String> = reader
        .records()
        .map(|record| record.expect("a CSV record")[column].to_string())
        .collect();
    hostnames.sort();
    // A leading apostrophe makes a spreadsheet show the cell as text.
    assert_eq!(
        hostnames,
        ["'=cmd|/C calc!A0", "'@SUM(1+1)*cmd|' /C calc'!A0"],
        "{}",
        csv.text()
    );
    // No cell of the export begins a formula.
    for line in csv.text().lines().skip(1) {
        for cell in line.split(',') {
            assert!(!cell.starts_with(['=', '+', '@']), "{line}");
        }
    }
}

#[tokio::test]
async fn host_detail_has_inventory_and_health_is_listed() {
    let app = App::new().await;
    let id = app
        .host("db-07", &[("openssl", "3.0.13"), ("bash", "5.2")])
        .await;
    let detail = app.get(&format!("/api/v1/hosts/{id}"), &app.viewer).await;
    assert_eq!(detail.status, StatusCode::OK, "{detail:?}");
    assert_eq!(detail.body["host"]["hostname"], "db-07");
    let software = detail.body["inventory"]["software"]
        .as_array()
        .expect("software list");
    assert_eq!(software.len(), 2);
    assert!(detail.body["health"].is_null(), "no health sample yet");

    let health = app
        .get(&format!("/api/v1/hosts/{id}/health"), &app.viewer)
        .await;
    assert_eq!(health.status, StatusCode::OK, "{health:?}");
    assert_eq!(health.body["items"].as_array().map(Vec::len), Some(0));

    let missing = app.get("/api/v1/hosts/nope", &app.viewer).await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
    assert_eq!(missing.error(), "not found: host nope");
    let missing = app.get("/api/v1/hosts/nope/health", &app.viewer).await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn hosts_need_a_token() {
    let app = App::new().await;
    let id = app.host("h", &[]).await;
    for uri in [
        "/api/v1/hosts".to_string(),
        format!("/api/v1/hosts/{id}"),
        format!("/api/v1/hosts/{id}/health"),
    ] {
        app.assert_needs_token(Method::GET, &uri, None).await;
    }
}

#[tokio::test]
async fn hosts_reject_bad_queries() {
    let app = App::new().await;
    let id = app.host("h", &[]).await;
    let cases = [
        (
            "/api/v1/hosts?version_lt=1.0".to_string(),
            "need software=NAME",
        ),
        (
            "/api/v1/hosts?limit=0".into(),
            "limit must be between 1 and 1000",
        ),
        ("/api/v1/hosts?limit=many".into(), "limit"),
        (
            "/api/v1/hosts?format=xml".into(),
            "format must be json or csv",
        ),
        ("/api/v1/hosts?bogus=1".into(), "unknown parameter `bogus`"),
        (
            format!("/api/v1/hosts/{id}/health?limit=5000"),
            "limit must be between",
        ),
    ];
    for (uri, needle) in cases {
        App::assert_bad_request(&app.get(&uri, &app.viewer).await, needle);
    }
}
