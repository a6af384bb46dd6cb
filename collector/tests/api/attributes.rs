//! `/api/v1/hosts/{id}/attributes`: custom attributes set with PUT and
//! PATCH (operator), read (viewer), recorded in the host's history and
//! filterable with `attr.<name>=`; bad bodies are 400s that change nothing.
//! On SQLite and PostgreSQL; the store is seeded through its traits.

use axum::http::{Method, StatusCode};
use rollcall_collector::auth::Role;
use serde_json::{Value, json};

use crate::on_both_backends;
use crate::support::App;

fn hostnames(reply: &crate::support::Reply) -> Vec<String> {
    let mut names: Vec<String> = reply.body["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|host| host["hostname"].as_str().expect("hostname").to_string())
        .collect();
    names.sort();
    names
}

/// The `attr.*` records of a host's history: (field, old, new, source).
async fn attribute_history(app: &App, id: &str) -> Vec<(String, Value, Value, String)> {
    let reply = app
        .get(
            &format!("/api/v1/hosts/{id}/changes?limit=1000"),
            &app.viewer,
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{reply:?}");
    let parse = |value: &Value| {
        value
            .as_str()
            .map(|text| serde_json::from_str(text).expect("JSON text"))
            .unwrap_or(Value::Null)
    };
    reply.body["items"]
        .as_array()
        .expect("items")
        .iter()
        .filter(|change| {
            change["field"]
                .as_str()
                .is_some_and(|f| f.starts_with("attr."))
        })
        .map(|change| {
            (
                change["field"].as_str().unwrap_or_default().to_string(),
                parse(&change["old_value"]),
                parse(&change["new_value"]),
                change["source"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect()
}

async fn attributes_are_set_changed_recorded_and_filtered(app: App) {
    let a = app.host("app-1", &[]).await;
    let b = app.host("app-2", &[]).await;
    app.host("app-3", &[]).await;
    let put = app
        .send(
            Method::PUT,
            &format!("/api/v1/hosts/{a}/attributes"),
            Some(&app.operator),
            Some(json!({ "attributes": { "owner": "team-a", "cost_centre": "CC-1042", "location": "ber-1" } })),
        )
        .await;
    assert_eq!(put.status, StatusCode::OK, "{put:?}");
    assert_eq!(put.body["attributes"]["owner"], "team-a");
    let put = app
        .send(
            Method::PUT,
            &format!("/api/v1/hosts/{b}/attributes"),
            Some(&app.operator),
            Some(json!({ "attributes": { "owner": "team-b", "location": "ber-2" } })),
        )
        .await;
    assert_eq!(put.status, StatusCode::OK, "{put:?}");

    let patch = app
        .send(
            Method::PATCH,
            &format!("/api/v1/hosts/{a}/attributes"),
            Some(&app.operator),
            Some(json!({ "attributes": { "owner": "team-c", "location": null } })),
        )
        .await;
    assert_eq!(patch.status, StatusCode::OK, "{patch:?}");
    assert_eq!(
        patch.body["attributes"],
        json!({ "owner": "team-c", "cost_centre": "CC-1042" })
    );
    let shown = app
        .get(&format!("/api/v1/hosts/{a}/attributes"), &app.viewer)
        .await;
    assert_eq!(shown.body["attributes"], patch.body["attributes"]);
    let detail = app.get(&format!("/api/v1/hosts/{a}"), &app.viewer).await;
    assert_eq!(detail.body["attributes"], patch.body["attributes"]);

    // A PUT replaces: cost_centre goes, an unchanged value is not recorded again.
    let put = app
        .send(
            Method::PUT,
            &format!("/api/v1/hosts/{a}/attributes"),
            Some(&app.operator),
            Some(json!({ "attributes": { "owner": "team-c" } })),
        )
        .await;
    assert_eq!(put.body["attributes"], json!({ "owner": "team-c" }));

    let source = "api:operator token".to_string();
    let key = |x: &(String, Value, Value, String)| (x.0.clone(), x.1.to_string(), x.2.to_string());
    let mut history = attribute_history(&app, &a).await;
    history.sort_by_key(key);
    let mut want: Vec<(String, Value, Value, String)> = vec![
        (
            "attr.cost_centre".into(),
            Value::Null,
            json!("CC-1042"),
            source.clone(),
        ),
        (
            "attr.cost_centre".into(),
            json!("CC-1042"),
            Value::Null,
            source.clone(),
        ),
        (
            "attr.location".into(),
            Value::Null,
            json!("ber-1"),
            source.clone(),
        ),
        (
            "attr.location".into(),
            json!("ber-1"),
            Value::Null,
            source.clone(),
        ),
        (
            "attr.owner".into(),
            Value::Null,
            json!("team-a"),
            source.clone(),
        ),
        (
            "attr.owner".into(),
            json!("team-a"),
            json!("team-c"),
            source.clone(),
        ),
    ];
    want.sort_by_key(key);
    assert_eq!(history, want);

    for (query, want) in [
        ("attr.owner=team-c", vec!["app-1"]),
        ("attr.owner=TEAM-*", vec!["app-1", "app-2"]),
        ("attr.location=ber-?", vec!["app-2"]),
        ("attr.owner=team-*&attr.location=ber-2", vec!["app-2"]),
        ("attr.owner=team-a", vec![]),
        ("attr.cost_centre=CC-1042", vec![]),
        ("attr.nothing=x", vec![]),
    ] {
        let reply = app
            .get(&format!("/api/v1/hosts?{query}"), &app.viewer)
            .await;
        assert_eq!(reply.status, StatusCode::OK, "{query}: {reply:?}");
        assert_eq!(hostnames(&reply), want, "{query}");
    }
}

async fn attributes_need_the_operator_role_and_refuse_bad_bodies(app: App) {
    let id = app.host("app-1", &[]).await;
    let uri = format!("/api/v1/hosts/{id}/attributes");
    let good = json!({ "attributes": { "owner": "team-a" } });
    for method in [Method::PUT, Method::PATCH] {
        app.assert_needs_token(method.clone(), &uri, Some(good.clone()))
            .await;
        app.assert_forbidden(
            method,
            &uri,
            &app.viewer,
            Some(good.clone()),
            Role::Operator,
        )
        .await;
    }
    app.assert_needs_token(Method::GET, &uri, None).await;
    let seeded = app
        .send(Method::PUT, &uri, Some(&app.operator), Some(good.clone()))
        .await;
    assert_eq!(seeded.status, StatusCode::OK, "{seeded:?}");
    let changes_before = app.get("/api/v1/changes?limit=1000", &app.admin).await.body;

    let many: serde_json::Map<String, Value> =
        (0..33).map(|n| (format!("k{n}"), json!("v"))).collect();
    let thirty_two: serde_json::Map<String, Value> =
        (0..32).map(|n| (format!("n{n}"), json!("v"))).collect();
    let cases: Vec<(Method, Value, &str)> = vec![
        (
            Method::PUT,
            json!({ "attributes": { "Owner": "x" } }),
            "attribute name",
        ),
        (
            Method::PUT,
            json!({ "attributes": { "own er": "x" } }),
            "attribute name",
        ),
        (
            Method::PUT,
            json!({ "attributes": { "x'; DROP TABLE hosts; --": "x" } }),
            "attribute name",
        ),
        (
            Method::PUT,
            json!({ "attributes": { "owner": "x".repeat(100 * 1024) } }),
            "1 to 256 bytes",
        ),
        (
            Method::PUT,
            json!({ "attributes": { "owner": "" } }),
            "1 to 256 bytes",
        ),
        (
            Method::PUT,
            json!({ "attributes": { "owner": "a\u{0}b" } }),
            "control characters",
        ),
        (
            Method::PUT,
            json!({ "attributes": { "owner": null } }),
            "invalid type: null",
        ),
        (
            Method::PUT,
            json!({ "attributes": { "owner": 5 } }),
            "invalid type",
        ),
        (
            Method::PUT,
            json!({ "attributes": many }),
            "at most 32 attributes",
        ),
        (Method::PUT, json!({ "attrs": {} }), "unknown field `attrs`"),
        (
            Method::PATCH,
            json!({ "attributes": thirty_two }),
            "at most 32 attributes; this would make 33",
        ),
        (
            Method::PATCH,
            json!({ "attributes": { "owner": ["x"] } }),
            "invalid type",
        ),
    ];
    for (method, body, needle) in cases {
        let reply = app
            .send(method.clone(), &uri, Some(&app.operator), Some(body))
            .await;
        App::assert_bad_request(&reply, needle);
    }
    let raw = app
        .send_raw(
            Method::PATCH,
            &uri,
            Some(&app.operator),
            Some("{\"attributes\": {"),
        )
        .await;
    assert_eq!(raw.status, StatusCode::BAD_REQUEST, "{raw:?}");
    let missing = app
        .send(
            Method::PUT,
            "/api/v1/hosts/nope/attributes",
            Some(&app.operator),
            Some(good.clone()),
        )
        .await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND, "{missing:?}");
    // Nothing changed.
    assert_eq!(
        app.get(&uri, &app.viewer).await.body["attributes"],
        json!({ "owner": "team-a" })
    );
    assert_eq!(
        app.get("/api/v1/changes?limit=1000", &app.admin).await.body,
        changes_before
    );
}

on_both_backends!(
    attributes_are_set_changed_recorded_and_filtered,
    attributes_need_the_operator_role_and_refuse_bad_bodies,
);
