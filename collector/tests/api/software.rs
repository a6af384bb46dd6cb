//! `/api/v1/software`: the catalogue.

use axum::http::{Method, StatusCode};
use serde_json::json;

use crate::support::App;

#[tokio::test]
async fn catalogue_counts_hosts_by_name_and_by_version_newest_first() {
    let app = App::new().await;
    app.host("a", &[("openssl", "3.0.9"), ("bash", "5.2")])
        .await;
    app.host("b", &[("openssl", "3.0.13"), ("bash", "5.2")])
        .await;
    app.host("c", &[("openssl", "3.0.13")]).await;

    let names = app.get("/api/v1/software", &app.viewer).await;
    assert_eq!(names.status, StatusCode::OK, "{names:?}");
    assert_eq!(
        names.body,
        json!({ "items": [
            { "name": "bash", "hosts": 2 },
            { "name": "openssl", "hosts": 3 },
        ], "next_cursor": null })
    );

    // Newest first by dpkg order: 3.0.13 before 3.0.9.
    let versions = app
        .get("/api/v1/software?software=openssl", &app.viewer)
        .await;
    assert_eq!(
        versions.body["items"],
        json!([
            { "name": "openssl", "version": "3.0.13", "manager": "dpkg", "hosts": 2 },
            { "name": "openssl", "version": "3.0.9", "manager": "dpkg", "hosts": 1 },
        ])
    );
    let by_name = app.get("/api/v1/software?name=bash", &app.viewer).await;
    assert_eq!(
        by_name.body["items"],
        json!([{ "name": "bash", "version": "5.2", "manager": "dpkg", "hosts": 2 }])
    );
    let csv = app.get("/api/v1/software?format=csv", &app.viewer).await;
    assert_eq!(csv.text(), "hosts,name\n2,bash\n3,openssl\n");
}

#[tokio::test]
async fn catalogue_needs_a_token() {
    let app = App::new().await;
    app.assert_needs_token(Method::GET, "/api/v1/software", None)
        .await;
}

#[tokio::test]
async fn catalogue_rejects_bad_queries() {
    let app = App::new().await;
    App::assert_bad_request(
        &app.get("/api/v1/software?format=yaml", &app.viewer).await,
        "format must be json or csv",
    );
    App::assert_bad_request(
        &app.get("/api/v1/software?package=x", &app.viewer).await,
        "unknown field `package`",
    );
}
