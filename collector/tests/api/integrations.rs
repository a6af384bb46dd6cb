//! `/api/v1/integrations` and `/api/v1/integrations/{name}/test`
//! (operator). No query or body, so there is no 400 case.

use axum::http::{Method, StatusCode};
use rollcall_collector::auth::Role;

use crate::support::{App, TARGET};

#[tokio::test]
async fn integrations_are_listed_with_their_circuit() {
    let app = App::new().await;
    let list = app.get("/api/v1/integrations", &app.viewer).await;
    assert_eq!(list.status, StatusCode::OK, "{list:?}");
    let target = &list.body["items"][0];
    assert_eq!(target["name"], TARGET);
    assert_eq!(target["kind"], "webhook");
    assert_eq!(target["enabled"], true);
    assert_eq!(target["consecutive_failures"], 0);
    assert!(target["counts"].is_object());
}

#[tokio::test]
async fn a_test_delivery_reports_its_outcome() {
    let app = App::new().await;
    // Nobody listens on port 9: the trigger fails and no resolve is sent.
    let uri = format!("/api/v1/integrations/{TARGET}/test");
    let tested = app
        .send(Method::POST, &uri, Some(&app.operator), None)
        .await;
    assert_eq!(tested.status, StatusCode::OK, "{tested:?}");
    assert_eq!(tested.body["target"], TARGET);
    assert_eq!(tested.body["ok"], false);
    assert!(tested.body["resolve"].is_null());
    let missing = app
        .send(
            Method::POST,
            "/api/v1/integrations/nope/test",
            Some(&app.operator),
            None,
        )
        .await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn integrations_need_a_token() {
    let app = App::new().await;
    app.assert_needs_token(Method::GET, "/api/v1/integrations", None)
        .await;
    let uri = format!("/api/v1/integrations/{TARGET}/test");
    app.assert_needs_token(Method::POST, &uri, None).await;
}

#[tokio::test]
async fn viewers_may_not_send_test_deliveries() {
    let app = App::new().await;
    let uri = format!("/api/v1/integrations/{TARGET}/test");
    app.assert_forbidden(Method::POST, &uri, &app.viewer, None, Role::Operator)
        .await;
}
