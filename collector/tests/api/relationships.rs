//! `/api/v1/relationships` and `/api/v1/hosts/{id}/tags`.

use axum::http::{Method, StatusCode};
use rollcall_collector::auth::Role;
use serde_json::{Value, json};

use crate::support::App;

fn depends(parent: &str, child: &str) -> Value {
    json!({ "parent_id": parent, "child_id": child, "kind": "Depends on::Used by" })
}

#[tokio::test]
async fn relationships_are_created_listed_and_removed() {
    let app = App::new().await;
    let gateway = app.host("gw", &[]).await;
    let web = app.host("web", &[]).await;
    let other = app.host("other", &[]).await;
    let created = app
        .send(
            Method::POST,
            "/api/v1/relationships",
            Some(&app.operator),
            Some(depends(&gateway, &web)),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{created:?}");
    assert_eq!(created.body["parent_id"], gateway.as_str());

    let of_web = app
        .get(&format!("/api/v1/relationships?ci_id={web}"), &app.viewer)
        .await;
    assert_eq!(of_web.body["items"].as_array().map(Vec::len), Some(1));
    let of_other = app
        .get(&format!("/api/v1/relationships?ci_id={other}"), &app.viewer)
        .await;
    assert_eq!(of_other.body["items"], json!([]));

    let removed = app
        .send(
            Method::DELETE,
            "/api/v1/relationships",
            Some(&app.operator),
            Some(depends(&gateway, &web)),
        )
        .await;
    assert_eq!(removed.body, json!({ "removed": true }));
    let again = app
        .send(
            Method::DELETE,
            "/api/v1/relationships",
            Some(&app.operator),
            Some(depends(&gateway, &web)),
        )
        .await;
    assert_eq!(again.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn host_tags_are_replaced() {
    let app = App::new().await;
    let host = app.host("web", &[]).await;
    let uri = format!("/api/v1/hosts/{host}/tags");
    let set = app
        .send(
            Method::PUT,
            &uri,
            Some(&app.operator),
            Some(json!({ "tags": ["prod", "web"] })),
        )
        .await;
    assert_eq!(set.status, StatusCode::OK, "{set:?}");
    assert_eq!(
        set.body,
        json!({ "host_id": host, "tags": ["prod", "web"] })
    );
    let detail = app.get(&format!("/api/v1/hosts/{host}"), &app.viewer).await;
    assert_eq!(detail.body["host"]["tags"], "prod,web");
    // Recorded once in the host's history; the same tags again record nothing.
    let again = app
        .send(
            Method::PUT,
            &uri,
            Some(&app.operator),
            Some(json!({ "tags": ["prod", "web"] })),
        )
        .await;
    assert_eq!(again.status, StatusCode::OK, "{again:?}");
    let changes = app
        .get(
            &format!("/api/v1/hosts/{host}/changes?limit=1000"),
            &app.viewer,
        )
        .await;
    let tags: Vec<&serde_json::Value> = changes.body["items"]
        .as_array()
        .expect("items")
        .iter()
        .filter(|change| change["field"] == "tags")
        .collect();
    assert_eq!(tags.len(), 1, "{changes:?}");
    assert_eq!(tags[0]["old_value"], "\"\"");
    assert_eq!(tags[0]["new_value"], "\"prod,web\"");
    assert_eq!(tags[0]["source"], "api:operator token");
    let missing = app
        .send(
            Method::PUT,
            "/api/v1/hosts/nope/tags",
            Some(&app.operator),
            Some(json!({ "tags": [] })),
        )
        .await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn relationships_and_tags_need_a_token() {
    let app = App::new().await;
    app.assert_needs_token(Method::GET, "/api/v1/relationships", None)
        .await;
    app.assert_needs_token(
        Method::POST,
        "/api/v1/relationships",
        Some(depends("a", "b")),
    )
    .await;
    app.assert_needs_token(
        Method::DELETE,
        "/api/v1/relationships",
        Some(depends("a", "b")),
    )
    .await;
    app.assert_needs_token(
        Method::PUT,
        "/api/v1/hosts/a/tags",
        Some(json!({ "tags": [] })),
    )
    .await;
}

#[tokio::test]
async fn viewers_may_not_change_relationships_or_tags() {
    let app = App::new().await;
    let a = app.host("a", &[]).await;
    let b = app.host("b", &[]).await;
    app.assert_forbidden(
        Method::POST,
        "/api/v1/relationships",
        &app.viewer,
        Some(depends(&a, &b)),
        Role::Operator,
    )
    .await;
    app.send(
        Method::POST,
        "/api/v1/relationships",
        Some(&app.operator),
        Some(depends(&a, &b)),
    )
    .await;
    app.assert_forbidden(
        Method::DELETE,
        "/api/v1/relationships",
        &app.viewer,
        Some(depends(&a, &b)),
        Role::Operator,
    )
    .await;
    app.assert_forbidden(
        Method::PUT,
        &format!("/api/v1/hosts/{a}/tags"),
        &app.viewer,
        Some(json!({ "tags": ["x"] })),
        Role::Operator,
    )
    .await;
    let list = app.get("/api/v1/relationships", &app.viewer).await;
    assert_eq!(
        list.body["items"].as_array().map(Vec::len),
        Some(1),
        "not removed"
    );
    let detail = app.get(&format!("/api/v1/hosts/{a}"), &app.viewer).await;
    assert_eq!(detail.body["host"]["tags"], "", "not tagged");
}

#[tokio::test]
async fn relationships_and_tags_reject_bad_input() {
    let app = App::new().await;
    let a = app.host("a", &[]).await;
    let mut loves = depends(&a, "b");
    loves["kind"] = json!("Loves::Loved by");
    for (body, needle) in [
        (loves, "kind must be one of"),
        (depends(&a, &a), "a CI cannot relate to itself"),
        (
            depends(&a, "ghost"),
            "ghost is not a known host or business service",
        ),
        (json!({ "parent_id": a }), "missing field"),
    ] {
        let reply = app
            .send(
                Method::POST,
                "/api/v1/relationships",
                Some(&app.operator),
                Some(body),
            )
            .await;
        App::assert_bad_request(&reply, needle);
    }
    App::assert_bad_request(
        &app.get("/api/v1/relationships?parent=x", &app.viewer).await,
        "unknown field `parent`",
    );
    let uri = format!("/api/v1/hosts/{a}/tags");
    for (body, needle) in [
        (json!({ "tags": ["a,b"] }), "without commas"),
        (json!({ "tags": [""] }), "without commas"),
        (json!({ "tags": "prod" }), "tags"),
    ] {
        let reply = app
            .send(Method::PUT, &uri, Some(&app.operator), Some(body))
            .await;
        App::assert_bad_request(&reply, needle);
    }
}

/// The limits on tags, at and just past each bound, and a refusal leaves
/// the stored tags as they were.
#[tokio::test]
async fn tag_limits_are_exact_and_a_refusal_changes_nothing() {
    let app = App::new().await;
    let host = app.host("web", &[]).await;
    let uri = format!("/api/v1/hosts/{host}/tags");
    let put = |body: Value| {
        let (app, uri) = (&app, &uri);
        async move {
            app.send(Method::PUT, uri, Some(&app.operator), Some(body))
                .await
        }
    };
    let most: Vec<String> = (0..64).map(|i| format!("{i:0>64}")).collect();
    let accepted = put(json!({ "tags": most })).await;
    assert_eq!(accepted.status, StatusCode::OK, "64 tags of 64 bytes");
    let detail = app.get(&format!("/api/v1/hosts/{host}"), &app.viewer).await;
    assert_eq!(detail.body["host"]["tags"], most.join(","));
    let set = put(json!({ "tags": ["prod"] })).await;
    assert_eq!(set.status, StatusCode::OK, "{set:?}");
    let too_many: Vec<String> = (0..65).map(|i| format!("t{i}")).collect();
    for body in [
        json!({ "tags": too_many }),
        json!({ "tags": ["x".repeat(65)] }),
        json!({ "tags": ["ok", ""] }),
        json!({ "tags": ["ok", "a,b"] }),
    ] {
        App::assert_bad_request(&put(body).await, "up to 64 tags of 1 to 64 bytes");
    }
    App::assert_bad_request(
        &put(json!({ "tags": ["a"], "x": 1 })).await,
        "unknown field",
    );
    let detail = app.get(&format!("/api/v1/hosts/{host}"), &app.viewer).await;
    assert_eq!(
        detail.body["host"]["tags"], "prod",
        "unchanged by the refusals"
    );
}
