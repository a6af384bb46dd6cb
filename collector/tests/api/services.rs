//! `/api/v1/services`: business services and their members.

use axum::http::{Method, StatusCode};
use rollcall_collector::auth::Role;
use serde_json::json;

use crate::support::App;

#[tokio::test]
async fn services_are_created_listed_grown_and_deleted() {
    let app = App::new().await;
    let a = app.host("a", &[]).await;
    let b = app.host("b", &[]).await;
    let created = app
        .send(
            Method::POST,
            "/api/v1/services",
            Some(&app.operator),
            Some(json!({ "name": "shop", "min_up": 1, "members": [a] })),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{created:?}");
    assert_eq!(created.body["sla_target"], 99.9, "the default objective");
    let id = created.body["id"].as_str().expect("id").to_string();

    let added = app
        .send(
            Method::POST,
            &format!("/api/v1/services/{id}/members"),
            Some(&app.operator),
            Some(json!({ "host_id": b })),
        )
        .await;
    assert_eq!(added.status, StatusCode::OK, "{added:?}");
    assert_eq!(added.body["kind"], "Members::Member of");

    let list = app.get("/api/v1/services", &app.viewer).await;
    let mut members: Vec<String> = list.body["items"][0]["members"]
        .as_array()
        .expect("members")
        .iter()
        .map(|member| member.as_str().expect("id").to_string())
        .collect();
    members.sort();
    let mut expected = vec![a, b];
    expected.sort();
    assert_eq!(members, expected);

    let uri = format!("/api/v1/services/{id}");
    let deleted = app
        .send(Method::DELETE, &uri, Some(&app.operator), None)
        .await;
    assert_eq!(deleted.body, json!({ "deleted": id }));
    let again = app
        .send(Method::DELETE, &uri, Some(&app.operator), None)
        .await;
    assert_eq!(again.status, StatusCode::NOT_FOUND);
    let gone = app
        .send(
            Method::POST,
            &format!("/api/v1/services/{id}/members"),
            Some(&app.operator),
            Some(json!({ "host_id": "x" })),
        )
        .await;
    assert_eq!(gone.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn services_need_a_token() {
    let app = App::new().await;
    app.assert_needs_token(Method::GET, "/api/v1/services", None)
        .await;
    let body = json!({ "name": "shop", "min_up": 1 });
    app.assert_needs_token(Method::POST, "/api/v1/services", Some(body))
        .await;
    app.assert_needs_token(Method::DELETE, "/api/v1/services/x", None)
        .await;
    app.assert_needs_token(
        Method::POST,
        "/api/v1/services/x/members",
        Some(json!({ "host_id": "h" })),
    )
    .await;
}

#[tokio::test]
async fn viewers_may_not_change_services() {
    let app = App::new().await;
    let host = app.host("a", &[]).await;
    let body = json!({ "name": "shop", "min_up": 1 });
    app.assert_forbidden(
        Method::POST,
        "/api/v1/services",
        &app.viewer,
        Some(body.clone()),
        Role::Operator,
    )
    .await;
    let created = app
        .send(
            Method::POST,
            "/api/v1/services",
            Some(&app.operator),
            Some(body),
        )
        .await;
    let id = created.body["id"].as_str().expect("id");
    app.assert_forbidden(
        Method::DELETE,
        &format!("/api/v1/services/{id}"),
        &app.viewer,
        None,
        Role::Operator,
    )
    .await;
    app.assert_forbidden(
        Method::POST,
        &format!("/api/v1/services/{id}/members"),
        &app.viewer,
        Some(json!({ "host_id": host })),
        Role::Operator,
    )
    .await;
    let list = app.get("/api/v1/services", &app.viewer).await;
    assert_eq!(list.body["items"][0]["members"], json!([]));
}

#[tokio::test]
async fn services_reject_bad_bodies() {
    let app = App::new().await;
    for (body, needle) in [
        (
            json!({ "name": "shop", "min_up": 0 }),
            "min_up must be at least 1",
        ),
        (
            json!({ "name": " ", "min_up": 1 }),
            "name must be 1 to 128 bytes",
        ),
        (
            json!({ "name": "shop", "min_up": 1, "sla_target": 101.0 }),
            "sla_target must be a percentage",
        ),
        (
            json!({ "name": "shop", "min_up": 1, "members": ["ghost"] }),
            "member ghost is not a known host",
        ),
        (json!({ "name": "shop" }), "missing field `min_up`"),
    ] {
        let reply = app
            .send(
                Method::POST,
                "/api/v1/services",
                Some(&app.operator),
                Some(body),
            )
            .await;
        App::assert_bad_request(&reply, needle);
    }
    let created = app
        .send(
            Method::POST,
            "/api/v1/services",
            Some(&app.operator),
            Some(json!({ "name": "s", "min_up": 1 })),
        )
        .await;
    let id = created.body["id"].as_str().expect("id");
    let reply = app
        .send(
            Method::POST,
            &format!("/api/v1/services/{id}/members"),
            Some(&app.operator),
            Some(json!({ "host_id": "ghost" })),
        )
        .await;
    App::assert_bad_request(&reply, "ghost is not a known host");
}

/// 2026-10-31T23:00Z and 2026-11-30T23:00Z: Berlin's November 2026, 30 days.
const BERLIN_NOV: i64 = 1_793_487_600_000;
const BERLIN_DEC: i64 = 1_796_079_600_000;
/// 2026-11-10T10:00Z.
const NOV_10_10H: i64 = 1_794_304_800_000;
/// 2026-11-20T00:00Z.
const NOV_20: i64 = 1_795_132_800_000;
const H: i64 = 3_600_000;

/// A service from `body`; returns its id.
async fn service(app: &App, body: serde_json::Value) -> String {
    let created = app
        .send(
            Method::POST,
            "/api/v1/services",
            Some(&app.operator),
            Some(body),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{created:?}");
    created.body["id"].as_str().expect("id").to_string()
}

/// The service rows of the report for `query`, by name.
async fn service_rows(app: &App, query: &str) -> serde_json::Map<String, serde_json::Value> {
    let reply = app
        .get(&format!("/api/v1/availability?{query}"), &app.viewer)
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{reply:?}");
    reply.body["services"]
        .as_array()
        .expect("services")
        .iter()
        .map(|row| (row["name"].as_str().expect("name").to_string(), row.clone()))
        .collect()
}

/// k of n, the SLA target, the error budget left and the burn rate over
/// Berlin's November 2026, from three members' outages written into the
/// store at explicit instants: a down 10:00–12:00 and b down 11:00–13:00
/// on the 10th (both down 11:00–12:00), c down 00:00–03:00 on the 20th.
#[tokio::test]
async fn k_of_n_availability_sla_error_budget_and_burn_rate_are_exact() {
    let app = App::new().await;
    let a = app.host("a", &[]).await;
    let b = app.host("b", &[]).await;
    let c = app.host("c", &[]).await;
    app.outage_between(&a, NOV_10_10H, NOV_10_10H + 2 * H).await;
    app.outage_between(&b, NOV_10_10H + H, NOV_10_10H + 3 * H)
        .await;
    app.outage_between(&c, NOV_20, NOV_20 + 3 * H).await;
    let shop = service(
        &app,
        json!({ "name": "shop", "min_up": 2, "members": [a, b, c] }),
    )
    .await;
    service(
        &app,
        json!({ "name": "api", "min_up": 1, "sla_target": 99.0, "members": [a, c] }),
    )
    .await;
    service(
        &app,
        json!({ "name": "strict", "min_up": 1, "sla_target": 100.0, "members": [b] }),
    )
    .await;
    service(
        &app,
        json!({ "name": "all-three", "min_up": 3, "sla_target": 99.5, "members": [a, b, c] }),
    )
    .await;

    let month = BERLIN_DEC - BERLIN_NOV;
    assert_eq!(month, 30 * 24 * H);
    let rows = service_rows(&app, "period=2026-11&tz=Europe/Berlin").await;
    assert_eq!(rows.len(), 4);
    // (name, members, min_up, target, downtime, failures, budget)
    for (name, members, min_up, target, down, failures, budget) in [
        // Fewer than 2 of 3 up only while a and b are both down.
        ("shop", 3, 2, 99.9, H, 1, 2_592_000),
        // 1 of a, c: they were never down together.
        ("api", 2, 1, 99.0, 0, 0, 25_920_000),
        // b alone, no budget at all.
        ("strict", 1, 1, 100.0, 2 * H, 1, 0),
        // All three needed: any member down is the service down, the
        // overlapping outages of a and b merge into 10:00–13:00.
        ("all-three", 3, 3, 99.5, 6 * H, 2, 12_960_000),
    ] {
        let row = &rows[name];
        assert_eq!(row["members"], members, "{name}");
        assert_eq!(row["min_up"], min_up, "{name}");
        assert_eq!(row["sla_target_percent"], target, "{name}");
        let figures = &row["availability"];
        assert_eq!(figures["scheduled_ms"].as_i64(), Some(month), "{name}");
        assert_eq!(
            figures["unplanned_downtime_ms"].as_i64(),
            Some(down),
            "{name}"
        );
        assert_eq!(figures["failures"].as_u64(), Some(failures), "{name}");
        let percent = figures["availability_percent"].as_f64().expect("percent");
        let expected = (month - down) as f64 * 100.0 / month as f64;
        assert!((percent - expected).abs() < 1e-9, "{name}: {percent}");
        assert_eq!(row["error_budget_ms"].as_i64(), Some(budget), "{name}");
        assert_eq!(
            row["error_budget_left_ms"].as_i64(),
            Some(budget - down),
            "{name}"
        );
        assert_eq!(row["sla_met"], expected >= target, "{name}");
    }
    let burn = |name: &str| rows[name]["burn_rate"].as_f64();
    assert!((burn("shop").expect("shop") - 3_600_000.0 / 2_592_000.0).abs() < 1e-12);
    assert_eq!(burn("api"), Some(0.0));
    assert_eq!(
        rows["strict"]["burn_rate"],
        serde_json::Value::Null,
        "no budget"
    );
    assert!((burn("all-three").expect("all") - 21_600_000.0 / 12_960_000.0).abs() < 1e-12);
    assert_eq!(
        (
            rows["shop"]["sla_met"].clone(),
            rows["api"]["sla_met"].clone()
        ),
        (json!(false), json!(true))
    );

    // Over Berlin's October nothing was down: the whole budget is left.
    let october = service_rows(&app, "period=2026-10&tz=Europe/Berlin").await;
    assert_eq!(
        october["shop"]["error_budget_ms"].as_i64(),
        Some(2_682_000),
        "31 d + 1 h"
    );
    assert_eq!(
        october["shop"]["error_budget_left_ms"].as_i64(),
        Some(2_682_000)
    );
    assert_eq!(october["shop"]["burn_rate"].as_f64(), Some(0.0));
    assert_eq!(october["shop"]["sla_met"], true);

    // One service asked for: only its row, and no host rows.
    let reply = app
        .get(
            &format!("/api/v1/availability?service_id={shop}&period=2026-11&tz=Europe/Berlin"),
            &app.viewer,
        )
        .await;
    assert_eq!(reply.body["hosts"], json!([]));
    assert_eq!(reply.body["services"].as_array().map(Vec::len), Some(1));
    assert_eq!(reply.body["services"][0]["service_id"], shop.as_str());

    // A deleted service leaves the report and the list; its members stay.
    let before = app.get("/api/v1/relationships", &app.viewer).await;
    let memberships = |body: &serde_json::Value| {
        body["items"].as_array().map(|items| {
            items
                .iter()
                .filter(|r| r["parent_id"] == shop.as_str())
                .count()
        })
    };
    assert_eq!(memberships(&before.body), Some(3), "{before:?}");
    let deleted = app
        .send(
            Method::DELETE,
            &format!("/api/v1/services/{shop}"),
            Some(&app.operator),
            None,
        )
        .await;
    assert_eq!(deleted.status, StatusCode::OK, "{deleted:?}");
    let rows = service_rows(&app, "period=2026-11&tz=Europe/Berlin").await;
    assert!(!rows.contains_key("shop"), "{rows:?}");
    assert_eq!(rows.len(), 3);
    let list = app.get("/api/v1/services", &app.viewer).await;
    assert_eq!(list.body["items"].as_array().map(Vec::len), Some(3));
    let relationships = app.get("/api/v1/relationships", &app.viewer).await;
    assert_eq!(relationships.status, StatusCode::OK, "{relationships:?}");
    assert_eq!(
        memberships(&relationships.body),
        Some(0),
        "its memberships went with it: {relationships:?}"
    );
    let hosts = app
        .get("/api/v1/availability?period=2026-11", &app.viewer)
        .await;
    assert_eq!(hosts.body["hosts"].as_array().map(Vec::len), Some(3));
}

/// An added member joins the k-of-n arithmetic (membership is not
/// versioned: the report uses today's members over the whole window): a
/// 1-of-2 service of a and b is down while both are (11:00–12:00); with c
/// added, c was up then, so it is not.
#[tokio::test]
async fn an_added_member_changes_k_of_n() {
    let app = App::new().await;
    let a = app.host("a", &[]).await;
    let b = app.host("b", &[]).await;
    let c = app.host("c", &[]).await;
    app.outage_between(&a, NOV_10_10H, NOV_10_10H + 2 * H).await;
    app.outage_between(&b, NOV_10_10H + H, NOV_10_10H + 3 * H)
        .await;
    app.outage_between(&c, NOV_20, NOV_20 + 3 * H).await;
    let id = service(
        &app,
        json!({ "name": "pair", "min_up": 1, "members": [a, b] }),
    )
    .await;
    let down = |rows: &serde_json::Map<String, serde_json::Value>| {
        rows["pair"]["availability"]["unplanned_downtime_ms"].as_i64()
    };
    let rows = service_rows(&app, "period=2026-11&tz=Europe/Berlin").await;
    assert_eq!(down(&rows), Some(H), "1 of a, b: down while both are");
    let added = app
        .send(
            Method::POST,
            &format!("/api/v1/services/{id}/members"),
            Some(&app.operator),
            Some(json!({ "host_id": c })),
        )
        .await;
    assert_eq!(added.status, StatusCode::OK, "{added:?}");
    let rows = service_rows(&app, "period=2026-11&tz=Europe/Berlin").await;
    assert_eq!(rows["pair"]["members"], 3);
    assert_eq!(down(&rows), Some(0), "c was up while a and b were down");
}
