//! Fake Alertmanager API v2: `POST /api/v2/alerts` with a JSON array of
//! alerts whose labels and annotations are string maps and whose times are
//! RFC 3339; 200 with an empty body.

use std::sync::Arc;

use anyhow::Result;
use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use serde_json::{Value, json};

use super::{Fake, FakeState, is_json, is_rfc3339, json_body};

/// Starts the fake.
pub async fn start() -> Result<Fake> {
    Fake::start(Router::new().route("/api/v2/alerts", post(alerts))).await
}

fn string_map(value: &Value) -> bool {
    value
        .as_object()
        .is_some_and(|map| map.values().all(Value::is_string))
}

async fn alerts(
    State(state): State<Arc<FakeState>>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    if !is_json(&headers, "application/json") {
        return state.violation(
            "not application/json".into(),
            json!("content type must be application/json"),
        );
    }
    let alerts = match json_body(&body) {
        Ok(Value::Array(alerts)) => alerts,
        Ok(other) => {
            return state.violation(
                format!("body must be an array, got {other}"),
                json!("body must be an array"),
            );
        }
        Err(problem) => return state.violation(problem.clone(), json!(problem)),
    };
    let mut problems = Vec::new();
    for alert in &alerts {
        if !string_map(&alert["labels"])
            || alert["labels"]["alertname"]
                .as_str()
                .is_none_or(str::is_empty)
        {
            problems.push(format!(
                "labels must be a string map with alertname: {}",
                alert["labels"]
            ));
        }
        if alert.get("annotations").is_some() && !string_map(&alert["annotations"]) {
            problems.push("annotations must be a string map".into());
        }
        for field in ["startsAt", "endsAt"] {
            if let Some(time) = alert.get(field)
                && !time.as_str().is_some_and(is_rfc3339)
            {
                problems.push(format!("{field} is not RFC 3339: {time}"));
            }
        }
        if let Some(url) = alert.get("generatorURL")
            && !url.as_str().is_some_and(|url| url.starts_with("http"))
        {
            problems.push(format!("generatorURL is not a URI: {url}"));
        }
    }
    if !problems.is_empty() {
        return state.violation(problems.join("; "), json!(problems.join("; ")));
    }
    for alert in &alerts {
        let key = alert["labels"]["dedup_key"].as_str().unwrap_or_default();
        let kind = if alert.get("endsAt").is_some() {
            "resolved"
        } else {
            "firing"
        };
        state.accept(format!("{kind}:{key}"));
        state.accept(format!(
            "{kind}:{key}:{}",
            alert["labels"]["severity"].as_str().unwrap_or_default()
        ));
    }
    StatusCode::OK.into_response()
}
