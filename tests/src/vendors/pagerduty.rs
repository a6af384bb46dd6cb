//! Fake PagerDuty Events API v2: `POST /v2/enqueue`, 202 on success, 400
//! with an `errors` array on a contract violation, like PagerDuty.

use std::sync::Arc;

use anyhow::Result;
use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use serde_json::{Value, json};

use super::{
    Fake, FakeState, ROUTING_KEY, check_enum, check_string, is_json, is_rfc3339, json_body,
};

/// Starts the fake.
pub async fn start() -> Result<Fake> {
    Fake::start(Router::new().route("/v2/enqueue", post(enqueue))).await
}

fn invalid(errors: Vec<String>) -> Value {
    json!({ "status": "invalid event", "message": "Event object is invalid", "errors": errors })
}

async fn enqueue(
    State(state): State<Arc<FakeState>>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    if !is_json(&headers, "application/json") {
        return state.violation(
            "content type is not application/json".into(),
            invalid(vec!["Content-Type must be application/json".into()]),
        );
    }
    let event = match json_body(&body) {
        Ok(event) => event,
        Err(error) => return state.violation(error.clone(), invalid(vec![error])),
    };
    let mut problems = Vec::new();
    match event.get("routing_key").and_then(Value::as_str) {
        Some(key) if !key.trim().is_empty() => {
            if key != ROUTING_KEY {
                problems.push("'routing_key' is not a valid integration key".into());
            }
        }
        _ => problems.push("'routing_key' is missing or blank".into()),
    }
    check_enum(
        &event,
        "event_action",
        &["trigger", "acknowledge", "resolve"],
        &mut problems,
    );
    let action = event["event_action"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let dedup_key = event["dedup_key"].as_str().unwrap_or_default().to_string();
    if dedup_key.is_empty() && action != "trigger" {
        problems.push("'dedup_key' is required for acknowledge and resolve".into());
    }
    if dedup_key.len() > 255 {
        problems.push("'dedup_key' is longer than 255 characters".into());
    }
    if action == "trigger" {
        let payload = &event["payload"];
        if !payload.is_object() {
            problems.push("'payload' is missing".into());
        } else {
            check_string(payload, "summary", true, &mut problems);
            check_string(payload, "source", true, &mut problems);
            check_enum(
                payload,
                "severity",
                &["critical", "error", "warning", "info"],
                &mut problems,
            );
            if payload["summary"]
                .as_str()
                .is_some_and(|summary| summary.chars().count() > 1024)
            {
                problems.push("'payload.summary' is longer than 1024 characters".into());
            }
            if let Some(timestamp) = payload.get("timestamp")
                && !timestamp.as_str().is_some_and(is_rfc3339)
            {
                problems.push(format!("'payload.timestamp' is not ISO 8601: {timestamp}"));
            }
            for field in ["component", "group", "class"] {
                check_string(payload, field, false, &mut problems);
            }
            if payload
                .get("custom_details")
                .is_some_and(|details| !details.is_object())
            {
                problems.push("'payload.custom_details' must be an object".into());
            }
        }
    }
    if !problems.is_empty() {
        return state.violation(problems.join("; "), invalid(problems));
    }
    // PagerDuty opens one incident per open dedup key; later triggers are merged.
    let open_key = format!("open:{dedup_key}");
    let open = state
        .objects
        .lock()
        .map(|objects| objects.contains_key(&open_key))
        .unwrap_or(false);
    match action.as_str() {
        "trigger" if !open => {
            state.accept(format!("create:{dedup_key}"));
            if let Ok(mut objects) = state.objects.lock() {
                objects.insert(open_key, event.clone());
            }
        }
        "trigger" => {
            state.accept(format!(
                "retrigger:{dedup_key}:{}",
                event["payload"]["severity"].as_str().unwrap_or_default()
            ));
        }
        "resolve" if open => {
            state.accept(format!("resolve:{dedup_key}"));
            if let Ok(mut objects) = state.objects.lock() {
                objects.remove(&open_key);
            }
        }
        _ => {}
    }
    state.accept(format!("{action}:{dedup_key}:requests"));
    (
        StatusCode::ACCEPTED,
        axum::Json(
            json!({ "status": "success", "message": "Event processed", "dedup_key": dedup_key }),
        ),
    )
        .into_response()
}
