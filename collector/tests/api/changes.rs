//! `/api/v1/changes` and `/api/v1/hosts/{id}/changes`.

use axum::http::{Method, StatusCode};

use crate::support::App;

#[tokio::test]
async fn changes_are_listed_per_host_and_fleet_wide_with_cursors() {
    let app = App::new().await;
    let a = app.host("a", &[("bash", "5.2")]).await;
    app.host("b", &[("bash", "5.2")]).await;

    let host = app
        .get(&format!("/api/v1/hosts/{a}/changes"), &app.viewer)
        .await;
    assert_eq!(host.status, StatusCode::OK, "{host:?}");
    let items = host.body["items"].as_array().expect("items");
    assert!(!items.is_empty(), "the first inventory is recorded");
    assert!(
        items.iter().all(|change| change["host_id"] == a.as_str()),
        "{items:?}"
    );

    let fleet = app.get("/api/v1/changes", &app.viewer).await;
    let fleet_items = fleet.body["items"].as_array().expect("items");
    assert!(
        fleet_items.len() > items.len(),
        "both hosts: {fleet_items:?}"
    );

    let page = app.get("/api/v1/changes?limit=1", &app.viewer).await;
    assert_eq!(page.body["items"].as_array().map(Vec::len), Some(1));
    let cursor = page.body["next_cursor"].as_str().expect("cursor");
    assert!(
        cursor.parse::<i64>().is_ok(),
        "change cursors are ids: {cursor}"
    );
    let next = app
        .get(
            &format!("/api/v1/changes?limit=1&cursor={cursor}"),
            &app.viewer,
        )
        .await;
    assert_eq!(next.status, StatusCode::OK);
    assert_ne!(next.body["items"][0]["id"], page.body["items"][0]["id"]);
}

#[tokio::test]
async fn changes_need_a_token() {
    let app = App::new().await;
    let a = app.host("a", &[]).await;
    app.assert_needs_token(Method::GET, "/api/v1/changes", None)
        .await;
    app.assert_needs_token(Method::GET, &format!("/api/v1/hosts/{a}/changes"), None)
        .await;
}

#[tokio::test]
async fn changes_reject_bad_queries() {
    let app = App::new().await;
    let a = app.host("a", &[]).await;
    App::assert_bad_request(
        &app.get("/api/v1/changes?cursor=abc", &app.viewer).await,
        "cursor \"abc\" is not valid",
    );
    App::assert_bad_request(
        &app.get("/api/v1/changes?since=yesterday", &app.viewer)
            .await,
        "since",
    );
    App::assert_bad_request(
        &app.get(&format!("/api/v1/hosts/{a}/changes?limit=0"), &app.viewer)
            .await,
        "limit must be between 1 and 1000",
    );
    // An unknown host is reported before a bad query, as before.
    let missing = app
        .get("/api/v1/hosts/nope/changes?cursor=abc", &app.viewer)
        .await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND, "{missing:?}");
}

#[tokio::test]
async fn change_history_refuses_times_out_of_range() {
    let app = App::new().await;
    let a = app.host("a", &[]).await;
    App::assert_bad_request(
        &app.get("/api/v1/changes?until=9223372036854775807", &app.viewer)
            .await,
        "until 9223372036854775807 is out of range",
    );
    App::assert_bad_request(
        &app.get(
            &format!("/api/v1/hosts/{a}/changes?since=-9223372036854775808"),
            &app.viewer,
        )
        .await,
        "since -9223372036854775808 is out of range",
    );
    let fine = app
        .get(
            "/api/v1/changes?since=946684800000&until=7258118400000",
            &app.viewer,
        )
        .await;
    assert_eq!(fine.status, StatusCode::OK, "{fine:?}");
}

#[tokio::test]
async fn the_feed_filters_by_field_and_kind_and_pages_newest_first() {
    let app = App::new().await;
    let a = app.host("a", &[("bash", "5.1"), ("curl", "7.88")]).await;
    // Upgrade bash, drop curl: one `changed` version record, one `removed`.
    let change = rollcall_collector::store::InventoryChange {
        full: true,
        items: vec![crate::support::package("bash", "5.2")],
        removed: Vec::new(),
    };
    app.state
        .store
        .apply_inventory(
            &rollcall_collector::store::ApplyContext {
                agent_id: "agent-a".into(),
                host_id: a.clone(),
                seq: 2,
                at: rollcall_proto::now_ms(),
            },
            change,
        )
        .await
        .expect("second snapshot");
    let items = |reply: &crate::support::Reply| -> Vec<(String, String, String)> {
        reply.body["items"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|c| {
                (
                    c["change"].as_str().unwrap_or_default().to_string(),
                    c["item_key"].as_str().unwrap_or_default().to_string(),
                    c["field"].as_str().unwrap_or_default().to_string(),
                )
            })
            .collect()
    };
    let version = app
        .get("/api/v1/changes?class=software&field=version", &app.viewer)
        .await;
    assert_eq!(
        items(&version),
        [("changed".into(), "bash:amd64".into(), "version".into())]
    );
    assert_eq!(version.body["items"][0]["old_value"], "\"5.1\"");
    let removed = app.get("/api/v1/changes?change=removed", &app.viewer).await;
    assert_eq!(
        items(&removed),
        [("removed".into(), "curl:amd64".into(), String::new())]
    );
    // Newest first, paged: the ids fall and the pages do not overlap.
    let all = app
        .get("/api/v1/changes?order=desc&limit=1000", &app.viewer)
        .await;
    let ids: Vec<i64> = all.body["items"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|c| c["id"].as_i64())
        .collect();
    assert!(ids.len() >= 3, "{ids:?}");
    assert!(ids.windows(2).all(|w| w[0] > w[1]), "{ids:?}");
    let first = app
        .get("/api/v1/changes?order=desc&limit=2", &app.viewer)
        .await;
    let cursor = first.body["next_cursor"]
        .as_str()
        .expect("cursor")
        .to_string();
    let second = app
        .get(
            &format!("/api/v1/changes?order=desc&limit=2&cursor={cursor}"),
            &app.viewer,
        )
        .await;
    let page_ids = |reply: &crate::support::Reply| -> Vec<i64> {
        reply.body["items"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|c| c["id"].as_i64())
            .collect()
    };
    let mut both = page_ids(&first);
    both.extend(page_ids(&second));
    assert_eq!(both, ids[..both.len()].to_vec());
    for (query, needle) in [
        ("order=sideways", "order must be asc or desc"),
        ("change=exploded", "change must be"),
        (
            &*format!("field={}", "f".repeat(300)),
            "field is longer than 256 bytes",
        ),
    ] {
        App::assert_bad_request(
            &app.get(&format!("/api/v1/changes?{query}"), &app.viewer)
                .await,
            needle,
        );
    }
}

#[tokio::test]
async fn accept_text_csv_answers_csv_and_format_still_decides() {
    let app = App::new().await;
    app.host("a", &[("bash", "5.2")]).await;
    let get = |uri: &'static str, accept: &'static str| {
        let request = axum::http::Request::get(uri)
            .header("authorization", format!("Bearer {}", app.viewer))
            .header("accept", accept)
            .body(axum::body::Body::empty())
            .expect("request");
        let router = app.router.clone();
        async move {
            use tower::ServiceExt;
            let response = router.oneshot(request).await.expect("infallible");
            let kind = response
                .headers()
                .get("content-type")
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_string();
            let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
                .await
                .expect("body");
            (kind, String::from_utf8_lossy(&bytes).into_owned())
        }
    };
    let (kind, body) = get("/api/v1/changes", "text/csv").await;
    assert_eq!(kind, "text/csv; charset=utf-8");
    assert!(body.starts_with("at,change,class,"), "{body}");
    let (kind, _) = get("/api/v1/hosts?limit=5", "text/csv; charset=utf-8").await;
    assert_eq!(kind, "text/csv; charset=utf-8");
    // A browser's Accept, and an explicit format, keep JSON.
    let (kind, _) = get("/api/v1/changes", "text/html,text/csv;q=0.9,*/*").await;
    assert_eq!(kind, "application/json");
    let (kind, _) = get("/api/v1/changes?format=json", "text/csv").await;
    assert_eq!(kind, "application/json");
}
