//! Fake ServiceNow Event Management: `POST /api/global/em/jsonv2` with
//! `{"records": [...]}`; string fields, severity "0".."5",
//! `additional_info` a string holding a JSON object, `time_of_event`
//! `YYYY-MM-DD HH:MM:SS`.

use std::sync::Arc;

use anyhow::Result;
use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use serde_json::{Value, json};

use super::{
    Fake, FakeState, PASSWORD, USERNAME, authorized, basic, check_enum, check_string, is_json,
    json_body,
};

/// Starts the fake.
pub async fn start() -> Result<Fake> {
    Fake::start(Router::new().route("/api/global/em/jsonv2", post(events))).await
}

fn failure(detail: &str) -> Value {
    json!({ "error": { "message": "Invalid event", "detail": detail }, "status": "failure" })
}

fn is_gmt_datetime(text: &str) -> bool {
    let bytes = text.as_bytes();
    bytes.len() == 19
        && bytes.iter().enumerate().all(|(index, byte)| match index {
            4 | 7 => *byte == b'-',
            10 => *byte == b' ',
            13 | 16 => *byte == b':',
            _ => byte.is_ascii_digit(),
        })
}

async fn events(
    State(state): State<Arc<FakeState>>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    if !authorized(&headers, &basic(USERNAME, PASSWORD)) {
        return (
            StatusCode::UNAUTHORIZED,
            axum::Json(
                json!({ "error": { "message": "User Not Authenticated" }, "status": "failure" }),
            ),
        )
            .into_response();
    }
    if !is_json(&headers, "application/json") {
        return state.violation("not application/json".into(), failure("content type"));
    }
    let request = match json_body(&body) {
        Ok(request) => request,
        Err(error) => return state.violation(error.clone(), failure(&error)),
    };
    let Some(records) = request["records"]
        .as_array()
        .filter(|records| !records.is_empty())
    else {
        return state.violation("records is missing or empty".into(), failure("records"));
    };
    let mut problems = Vec::new();
    for record in records {
        check_string(record, "source", true, &mut problems);
        for field in [
            "node",
            "type",
            "resource",
            "metric_name",
            "message_key",
            "description",
        ] {
            check_string(record, field, true, &mut problems);
        }
        check_enum(
            record,
            "severity",
            &["0", "1", "2", "3", "4", "5"],
            &mut problems,
        );
        match record["additional_info"]
            .as_str()
            .map(serde_json::from_str::<Value>)
        {
            Some(Ok(Value::Object(_))) => {}
            other => problems.push(format!(
                "additional_info must be a string holding a JSON object, got {other:?}"
            )),
        }
        if !record["time_of_event"]
            .as_str()
            .is_some_and(is_gmt_datetime)
        {
            problems.push(format!(
                "time_of_event must be YYYY-MM-DD HH:MM:SS, got {}",
                record["time_of_event"]
            ));
        }
    }
    if !problems.is_empty() {
        return state.violation(problems.join("; "), failure(&problems.join("; ")));
    }
    for record in records {
        let key = record["message_key"].as_str().unwrap_or_default();
        let kind = if record["severity"] == "0" {
            "clear"
        } else {
            "event"
        };
        state.accept(format!("{kind}:{key}"));
        state.accept(format!(
            "{kind}:{key}:{}",
            record["severity"].as_str().unwrap_or_default()
        ));
    }
    axum::Json(json!({ "result": { "Default Bulk Endpoint": format!("{} events were inserted", records.len()) } })).into_response()
}
