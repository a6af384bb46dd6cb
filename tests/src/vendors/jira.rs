//! Fake Jira Service Management: `POST /rest/servicedeskapi/request`
//! (201 with `issueKey`), `POST …/request/{key}/comment` (201),
//! `POST …/request/{key}/transition` (204); basic auth.

use std::sync::Arc;

use anyhow::Result;
use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use serde_json::{Value, json};

use super::{
    Fake, FakeState, PASSWORD, USERNAME, authorized, basic, check_string, is_json, json_body,
};

/// Starts the fake.
pub async fn start() -> Result<Fake> {
    Fake::start(
        Router::new()
            .route("/rest/servicedeskapi/request", post(create))
            .route("/rest/servicedeskapi/request/{key}/comment", post(comment))
            .route(
                "/rest/servicedeskapi/request/{key}/transition",
                post(transition),
            ),
    )
    .await
}

fn error(message: &str) -> Value {
    json!({ "errorMessage": message, "i18nErrorMessage": { "i18nKey": "sd.request.error", "parameters": [] } })
}

fn check(state: &FakeState, headers: &HeaderMap, body: &[u8]) -> Result<Value, Box<Response>> {
    if !authorized(headers, &basic(USERNAME, PASSWORD)) {
        return Err(Box::new(
            (
                StatusCode::UNAUTHORIZED,
                axum::Json(error(
                    "Client must be authenticated to access this resource.",
                )),
            )
                .into_response(),
        ));
    }
    if !is_json(headers, "application/json") {
        return Err(Box::new(state.violation(
            "not application/json".into(),
            error("Unsupported Media Type"),
        )));
    }
    json_body(body).map_err(|problem| Box::new(state.violation(problem.clone(), error(&problem))))
}

async fn create(
    State(state): State<Arc<FakeState>>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    let request = match check(&state, &headers, &body) {
        Ok(request) => request,
        Err(response) => return *response,
    };
    let mut problems = Vec::new();
    check_string(&request, "serviceDeskId", true, &mut problems);
    check_string(&request, "requestTypeId", true, &mut problems);
    let fields = &request["requestFieldValues"];
    if !fields.is_object() {
        problems.push("requestFieldValues must be an object".into());
    } else {
        check_string(fields, "summary", true, &mut problems);
        check_string(fields, "description", false, &mut problems);
    }
    if !problems.is_empty() {
        return state.violation(problems.join("; "), error(&problems.join("; ")));
    }
    let id = state.next_id();
    let key = format!("SD-{id}");
    let summary = fields["summary"].as_str().unwrap_or_default().to_string();
    state.accept(format!("create:{summary}"));
    if let Ok(mut objects) = state.objects.lock() {
        objects.insert(
            key.clone(),
            json!({ "issueKey": key, "summary": summary, "status": "Open", "comments": [] }),
        );
    }
    (
        StatusCode::CREATED,
        axum::Json(json!({ "issueId": (10_000 + id).to_string(), "issueKey": key, "requestTypeId": request["requestTypeId"], "serviceDeskId": request["serviceDeskId"], "currentStatus": { "status": "Open" } })),
    )
        .into_response()
}

async fn comment(
    State(state): State<Arc<FakeState>>,
    headers: HeaderMap,
    Path(key): Path<String>,
    body: axum::body::Bytes,
) -> Response {
    let request = match check(&state, &headers, &body) {
        Ok(request) => request,
        Err(response) => return *response,
    };
    let mut problems = Vec::new();
    check_string(&request, "body", true, &mut problems);
    if !request["public"].is_boolean() {
        problems.push("public must be a boolean".into());
    }
    if !problems.is_empty() {
        return state.violation(problems.join("; "), error(&problems.join("; ")));
    }
    let mut objects = match state.objects.lock() {
        Ok(objects) => objects,
        Err(_) => return StatusCode::INTERNAL_SERVER_ERROR.into_response(),
    };
    let Some(issue) = objects.get_mut(&key) else {
        return (
            StatusCode::NOT_FOUND,
            axum::Json(error("Request does not exist")),
        )
            .into_response();
    };
    if let Some(comments) = issue["comments"].as_array_mut() {
        comments.push(request["body"].clone());
    }
    drop(objects);
    state.accept(format!("comment:{key}"));
    (StatusCode::CREATED, axum::Json(json!({ "id": state.next_id().to_string(), "body": request["body"], "public": request["public"] }))).into_response()
}

async fn transition(
    State(state): State<Arc<FakeState>>,
    headers: HeaderMap,
    Path(key): Path<String>,
    body: axum::body::Bytes,
) -> Response {
    let request = match check(&state, &headers, &body) {
        Ok(request) => request,
        Err(response) => return *response,
    };
    let mut problems = Vec::new();
    check_string(&request, "id", true, &mut problems);
    if let Some(comment) = request.get("additionalComment") {
        check_string(comment, "body", true, &mut problems);
    }
    if !problems.is_empty() {
        return state.violation(problems.join("; "), error(&problems.join("; ")));
    }
    let mut objects = match state.objects.lock() {
        Ok(objects) => objects,
        Err(_) => return StatusCode::INTERNAL_SERVER_ERROR.into_response(),
    };
    let Some(issue) = objects.get_mut(&key) else {
        return (
            StatusCode::NOT_FOUND,
            axum::Json(error("Request does not exist")),
        )
            .into_response();
    };
    issue["status"] = json!("Resolved");
    drop(objects);
    state.accept(format!("transition:{key}"));
    StatusCode::NO_CONTENT.into_response()
}
