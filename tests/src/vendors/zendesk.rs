//! Fake Zendesk: `POST /api/v2/tickets.json` (201 `{"ticket":{"id":…}}`,
//! `Idempotency-Key` replays the first answer), `GET /api/v2/tickets.json?external_id=`,
//! `PUT /api/v2/tickets/{id}.json`; basic auth as `email/token:api_token`.

use std::collections::HashMap;
use std::sync::Arc;

use anyhow::Result;
use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, put};
use serde_json::{Value, json};

use super::{
    Fake, FakeState, PASSWORD, USERNAME, authorized, basic, check_enum, check_string, is_json,
    json_body,
};

/// Starts the fake.
pub async fn start() -> Result<Fake> {
    Fake::start(
        Router::new()
            .route("/api/v2/tickets.json", get(search).post(create))
            .route("/api/v2/tickets/{file}", put(update)),
    )
    .await
}

fn error(description: &str) -> Value {
    json!({ "error": "RecordInvalid", "description": "Record validation errors", "details": { "base": [{ "description": description }] } })
}

fn denied(headers: &HeaderMap) -> Option<Response> {
    if authorized(headers, &basic(&format!("{USERNAME}/token"), PASSWORD)) {
        return None;
    }
    Some(
        (
            StatusCode::UNAUTHORIZED,
            axum::Json(json!({ "error": "Couldn't authenticate you" })),
        )
            .into_response(),
    )
}

async fn search(
    State(state): State<Arc<FakeState>>,
    headers: HeaderMap,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    if let Some(denied) = denied(&headers) {
        return denied;
    }
    let wanted = query.get("external_id").cloned().unwrap_or_default();
    let tickets: Vec<Value> = state
        .objects
        .lock()
        .map(|objects| {
            objects
                .iter()
                .filter(|(key, ticket)| {
                    !key.starts_with("idem:") && ticket["external_id"] == wanted.as_str()
                })
                .map(|(_, ticket)| ticket.clone())
                .collect()
        })
        .unwrap_or_default();
    axum::Json(json!({ "tickets": tickets, "count": tickets.len() })).into_response()
}

async fn create(
    State(state): State<Arc<FakeState>>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    if let Some(denied) = denied(&headers) {
        return denied;
    }
    if !is_json(&headers, "application/json") {
        return state.violation("not application/json".into(), error("content type"));
    }
    let Some(idempotency) = headers
        .get("idempotency-key")
        .and_then(|value| value.to_str().ok())
        .map(String::from)
    else {
        return state.violation(
            "Idempotency-Key header is missing".into(),
            error("Idempotency-Key"),
        );
    };
    if let Some(previous) = state
        .objects
        .lock()
        .ok()
        .and_then(|objects| objects.get(&format!("idem:{idempotency}")).cloned())
    {
        let mut response = (StatusCode::CREATED, axum::Json(previous)).into_response();
        if let Ok(value) = "hit".parse() {
            response.headers_mut().insert("x-idempotency-lookup", value);
        }
        return response;
    }
    let request = match json_body(&body) {
        Ok(request) => request,
        Err(problem) => return state.violation(problem.clone(), error(&problem)),
    };
    let ticket = &request["ticket"];
    let mut problems = Vec::new();
    check_string(ticket, "subject", true, &mut problems);
    check_string(ticket, "external_id", true, &mut problems);
    check_enum(
        ticket,
        "priority",
        &["urgent", "high", "normal", "low"],
        &mut problems,
    );
    check_string(&ticket["comment"], "body", true, &mut problems);
    if !ticket["tags"]
        .as_array()
        .is_some_and(|tags| tags.iter().all(Value::is_string))
    {
        problems.push("tags must be an array of strings".into());
    }
    if !problems.is_empty() {
        return state.violation(problems.join("; "), error(&problems.join("; ")));
    }
    let id = state.next_id();
    let stored = json!({ "id": id, "subject": ticket["subject"], "external_id": ticket["external_id"], "priority": ticket["priority"], "status": "new", "tags": ticket["tags"] });
    let answer = json!({ "ticket": stored });
    state.accept(format!(
        "create:{}",
        ticket["external_id"].as_str().unwrap_or_default()
    ));
    if let Ok(mut objects) = state.objects.lock() {
        objects.insert(id.to_string(), stored);
        objects.insert(format!("idem:{idempotency}"), answer.clone());
    }
    (StatusCode::CREATED, axum::Json(answer)).into_response()
}

async fn update(
    State(state): State<Arc<FakeState>>,
    headers: HeaderMap,
    Path(file): Path<String>,
    body: axum::body::Bytes,
) -> Response {
    if let Some(denied) = denied(&headers) {
        return denied;
    }
    let Some(id) = file
        .strip_suffix(".json")
        .filter(|id| id.parse::<u64>().is_ok())
    else {
        return (
            StatusCode::NOT_FOUND,
            axum::Json(json!({ "error": "InvalidEndpoint" })),
        )
            .into_response();
    };
    let request = match json_body(&body) {
        Ok(request) => request,
        Err(problem) => return state.violation(problem.clone(), error(&problem)),
    };
    let ticket = &request["ticket"];
    let mut problems = Vec::new();
    if ticket.get("status").is_some() {
        check_enum(
            ticket,
            "status",
            &["new", "open", "pending", "hold", "solved", "closed"],
            &mut problems,
        );
    }
    if let Some(comment) = ticket.get("comment") {
        check_string(comment, "body", true, &mut problems);
    }
    if ticket.get("priority").is_some() {
        check_enum(
            ticket,
            "priority",
            &["low", "normal", "high", "urgent"],
            &mut problems,
        );
    }
    if !problems.is_empty() {
        return state.violation(problems.join("; "), error(&problems.join("; ")));
    }
    let mut objects = match state.objects.lock() {
        Ok(objects) => objects,
        Err(_) => return StatusCode::INTERNAL_SERVER_ERROR.into_response(),
    };
    let Some(stored) = objects.get_mut(id) else {
        return (
            StatusCode::NOT_FOUND,
            axum::Json(json!({ "error": "RecordNotFound", "description": "Not found" })),
        )
            .into_response();
    };
    if let Some(status) = ticket.get("status") {
        stored["status"] = status.clone();
    }
    let external_id = stored["external_id"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let answer = json!({ "ticket": stored.clone() });
    drop(objects);
    if ticket["status"] == "solved" {
        state.accept(format!("solve:{external_id}"));
    }
    if let Some(priority) = ticket["priority"].as_str() {
        stored_priority(&state, &external_id, priority);
    }
    axum::Json(answer).into_response()
}

/// Records a priority change of the ticket with `external_id`.
fn stored_priority(state: &FakeState, external_id: &str, priority: &str) {
    state.accept(format!("priority:{external_id}:{priority}"));
}
