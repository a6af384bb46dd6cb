//! Fake webhook receiver: `POST /hook` with a CloudEvents 1.0 structured
//! JSON envelope and `X-Rollcall-Signature: sha256=<hex HMAC-SHA256>` that
//! must verify with `WEBHOOK_SECRET`; redeliveries are recognised by the
//! CloudEvents id.

use std::sync::Arc;

use anyhow::Result;
use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use hmac::{Hmac, Mac};
use serde_json::json;
use sha2::Sha256;

use super::{
    Fake, FakeState, WEBHOOK_SECRET, check_enum, check_string, is_json, is_rfc3339, json_body,
};

/// Starts the fake.
pub async fn start() -> Result<Fake> {
    Fake::start(Router::new().route("/hook", post(hook))).await
}

async fn hook(
    State(state): State<Arc<FakeState>>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    let signature = headers
        .get("x-rollcall-signature")
        .and_then(|value| value.to_str().ok())
        .unwrap_or_default();
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(WEBHOOK_SECRET.as_bytes()) else {
        return StatusCode::INTERNAL_SERVER_ERROR.into_response();
    };
    mac.update(&body);
    let expected = format!("sha256={}", hex::encode(mac.finalize().into_bytes()));
    if signature != expected {
        return (
            StatusCode::UNAUTHORIZED,
            axum::Json(json!({ "error": "bad signature" })),
        )
            .into_response();
    }
    if !is_json(&headers, "application/cloudevents+json") {
        return state.violation(
            "content type is not application/cloudevents+json".into(),
            json!({ "error": "content type" }),
        );
    }
    let envelope = match json_body(&body) {
        Ok(envelope) => envelope,
        Err(problem) => return state.violation(problem.clone(), json!({ "error": problem })),
    };
    let mut problems = Vec::new();
    check_enum(&envelope, "specversion", &["1.0"], &mut problems);
    for field in ["id", "source", "type"] {
        check_string(&envelope, field, true, &mut problems);
    }
    check_enum(
        &envelope,
        "datacontenttype",
        &["application/json"],
        &mut problems,
    );
    if !envelope["time"].as_str().is_some_and(is_rfc3339) {
        problems.push(format!("time is not RFC 3339: {}", envelope["time"]));
    }
    if !envelope["data"].is_object() {
        problems.push("data must be an object".into());
    }
    if !problems.is_empty() {
        return state.violation(problems.join("; "), json!({ "error": problems.join("; ") }));
    }
    let id = envelope["id"].as_str().unwrap_or_default().to_string();
    let seen = state
        .objects
        .lock()
        .map(|mut objects| objects.insert(id.clone(), envelope.clone()).is_some())
        .unwrap_or(false);
    if !seen {
        state.accept(format!(
            "{}:{}",
            envelope["type"].as_str().unwrap_or_default(),
            envelope["data"]["dedup_key"].as_str().unwrap_or_default()
        ));
    }
    state.accept(format!("delivery:{id}"));
    StatusCode::OK.into_response()
}
