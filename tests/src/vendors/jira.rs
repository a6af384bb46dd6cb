//! Fake Jira Service Management: `POST /rest/servicedeskapi/request`
//! (201 with `issueKey`), `POST …/request/{key}/comment` (201),
//! `POST …/request/{key}/transition` (204); and the platform's issue search
//! `POST /rest/api/3/search/jql` (the enhanced search; the old
//! `/rest/api/3/search` answers 410 Gone, as Jira Cloud does since its
//! removal), which evaluates `labels = "<label>"` against the labels
//! requests were created with; anything else in the JQL is refused as a
//! contract violation. Basic auth on every call.

use std::sync::Arc;

use anyhow::Result;
use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, post};
use serde_json::{Value, json};

use super::{
    Fake, FakeState, PASSWORD, USERNAME, authorized, basic, check_string, is_json, json_body,
};

/// Starts the fake.
pub async fn start() -> Result<Fake> {
    Fake::start(
        Router::new()
            .route("/rest/servicedeskapi/request", post(create))
            .route("/rest/api/3/search/jql", post(search))
            .route("/rest/api/3/search", any(removed_search))
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
    let mut labels = Vec::new();
    if !fields.is_object() {
        problems.push("requestFieldValues must be an object".into());
    } else {
        check_string(fields, "summary", true, &mut problems);
        check_string(fields, "description", false, &mut problems);
        match fields.get("labels") {
            None => {}
            Some(Value::Array(items)) => {
                for item in items {
                    // Jira labels: non-empty, at most 255 characters, no spaces.
                    match item.as_str() {
                        Some(label)
                            if !label.is_empty()
                                && label.len() <= 255
                                && !label.contains(char::is_whitespace) =>
                        {
                            labels.push(label.to_string())
                        }
                        _ => problems.push(format!("not a valid label: {item}")),
                    }
                }
            }
            Some(other) => problems.push(format!("labels must be an array: {other}")),
        }
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
            json!({ "issueKey": key, "summary": summary, "status": "Open", "comments": [], "labels": labels }),
        );
    }
    (
        StatusCode::CREATED,
        axum::Json(json!({ "issueId": (10_000 + id).to_string(), "issueKey": key, "requestTypeId": request["requestTypeId"], "serviceDeskId": request["serviceDeskId"], "currentStatus": { "status": "Open" } })),
    )
        .into_response()
}

/// The label a JQL query of exactly `labels = "<label>"` asks for.
fn label_query(jql: &str) -> Option<&str> {
    let value = jql
        .trim()
        .strip_prefix("labels")?
        .trim_start()
        .strip_prefix('=')?;
    let value = value.trim().strip_prefix('"')?.strip_suffix('"')?;
    (!value.is_empty() && !value.contains(['"', '\\', ' '])).then_some(value)
}

async fn search(
    State(state): State<Arc<FakeState>>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    let request = match check(&state, &headers, &body) {
        Ok(request) => request,
        Err(response) => return *response,
    };
    let mut problems = Vec::new();
    check_string(&request, "jql", true, &mut problems);
    if let Some(fields) = request.get("fields")
        && !fields
            .as_array()
            .is_some_and(|fields| fields.iter().all(Value::is_string))
    {
        problems.push("fields must be an array of field names".into());
    }
    if let Some(max) = request.get("maxResults")
        && !max.as_u64().is_some_and(|max| (1..=5000).contains(&max))
    {
        problems.push("maxResults must be an integer 1..5000".into());
    }
    let jql = request["jql"].as_str().unwrap_or_default();
    let Some(label) = label_query(jql) else {
        problems.push(format!("JQL this fake does not evaluate: {jql:?}"));
        return state.violation(
            problems.join("; "),
            json!({ "errorMessages": problems, "errors": {} }),
        );
    };
    if !problems.is_empty() {
        return state.violation(
            problems.join("; "),
            json!({ "errorMessages": problems, "errors": {} }),
        );
    }
    let mut found: Vec<(u64, Value)> = match state.objects.lock() {
        Ok(objects) => objects
            .values()
            .filter(|issue| {
                issue["labels"]
                    .as_array()
                    .is_some_and(|labels| labels.iter().any(|item| item == label))
            })
            .map(|issue| {
                let key = issue["issueKey"].as_str().unwrap_or_default();
                let number = key.trim_start_matches("SD-").parse::<u64>().unwrap_or(0);
                (
                    number,
                    json!({ "id": (10_000 + number).to_string(), "key": key }),
                )
            })
            .collect(),
        Err(_) => return StatusCode::INTERNAL_SERVER_ERROR.into_response(),
    };
    found.sort_by_key(|(number, _)| *number);
    state.accept(format!("search:{label}"));
    let max = request["maxResults"].as_u64().unwrap_or(50) as usize;
    let issues: Vec<Value> = found
        .into_iter()
        .take(max)
        .map(|(_, issue)| issue)
        .collect();
    (
        StatusCode::OK,
        axum::Json(json!({ "issues": issues, "isLast": true })),
    )
        .into_response()
}

async fn removed_search(State(state): State<Arc<FakeState>>) -> Response {
    state.violation(
        "the removed /rest/api/3/search was called".into(),
        json!({}),
    );
    (
        StatusCode::GONE,
        axum::Json(json!({ "errorMessages": ["The requested API has been removed. Please migrate to the /rest/api/3/search/jql API."] })),
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
