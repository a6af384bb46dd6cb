//! Fake ServiceNow Table API: basic auth or an OAuth bearer token from
//! `/oauth_token.do`; `GET/POST /api/now/table/incident`,
//! `PATCH /api/now/table/incident/{sys_id}`, `GET /api/now/table/cmdb_ci`.
//! Answers `{"result": …}`, 201 on create; resolving (state 6) requires
//! `close_code` and `close_notes`. Look-ups evaluate `sysparm_query` as an
//! instance does (`encoded_query`), honour `sysparm_fields` and
//! `sysparm_limit`, and return records in `sys_id` (creation) order, so an
//! injected `^OR` finds here what it would find on a real instance. The
//! `cmdb_ci` table holds the CIs a test adds with `add_ci`.

pub mod encoded_query;

use std::collections::HashMap;
use std::sync::Arc;

use anyhow::Result;
use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, patch, post};
use serde_json::{Value, json};

use super::{
    Fake, FakeState, PASSWORD, USERNAME, authorized, basic, check_enum, check_string, is_json,
    json_body,
};

/// OAuth client id the fake accepts.
pub const CLIENT_ID: &str = "rollcall-client";
/// OAuth client secret.
pub const CLIENT_SECRET: &str = "client-secret";
const ACCESS_TOKEN: &str = "sn-access-token";
/// Fields of the fake's `incident` table.
const INCIDENT_FIELDS: &[&str] = &[
    "sys_id",
    "number",
    "state",
    "active",
    "short_description",
    "description",
    "impact",
    "urgency",
    "category",
    "assignment_group",
    "cmdb_ci",
    "correlation_id",
    "correlation_display",
    "close_code",
    "close_notes",
    "work_notes",
];
/// Fields of the fake's `cmdb_ci` table.
const CI_FIELDS: &[&str] = &["sys_id", "name", "sys_class_name"];
/// Key prefix of CIs in `FakeState::objects` (incidents are keyed by bare sys_id).
const CI_PREFIX: &str = "ci:";

/// Adds a CI named `name` to the fake's `cmdb_ci` table; returns its sys_id.
pub fn add_ci(fake: &Fake, name: &str) -> String {
    let sys_id = format!("{:032x}", 0xc1_0000_0000_u64 + fake.state.next_id());
    if let Ok(mut objects) = fake.state.objects.lock() {
        objects.insert(
            format!("{CI_PREFIX}{sys_id}"),
            json!({ "sys_id": sys_id, "name": name, "sys_class_name": "cmdb_ci_linux_server" }),
        );
    }
    sys_id
}

/// Starts the fake.
pub async fn start() -> Result<Fake> {
    Fake::start(
        Router::new()
            .route("/oauth_token.do", post(token))
            .route("/api/now/table/incident", get(find).post(create))
            .route("/api/now/table/incident/{sys_id}", patch(update))
            .route("/api/now/table/cmdb_ci", get(find_ci)),
    )
    .await
}

fn failure(message: &str, detail: &str) -> Value {
    json!({ "error": { "message": message, "detail": detail }, "status": "failure" })
}

fn unauthenticated(headers: &HeaderMap) -> Option<Response> {
    if authorized(headers, &basic(USERNAME, PASSWORD))
        || authorized(headers, &format!("Bearer {ACCESS_TOKEN}"))
    {
        return None;
    }
    Some(
        (
            StatusCode::UNAUTHORIZED,
            axum::Json(failure(
                "User Not Authenticated",
                "Required to provide Auth information",
            )),
        )
            .into_response(),
    )
}

async fn token(
    State(state): State<Arc<FakeState>>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    if !is_json(&headers, "application/x-www-form-urlencoded") {
        return state.violation(
            "oauth request is not form encoded".into(),
            json!({"error": "invalid_request"}),
        );
    }
    let form: HashMap<String, String> = url_pairs(&String::from_utf8_lossy(&body));
    let ok = form.get("grant_type").map(String::as_str) == Some("password")
        && form.get("client_id").map(String::as_str) == Some(CLIENT_ID)
        && form.get("client_secret").map(String::as_str) == Some(CLIENT_SECRET)
        && form.get("username").map(String::as_str) == Some(USERNAME)
        && form.get("password").map(String::as_str) == Some(PASSWORD);
    if !ok {
        return (
            StatusCode::UNAUTHORIZED,
            axum::Json(json!({"error_description": "access_denied", "error": "server_error"})),
        )
            .into_response();
    }
    state.accept("oauth".into());
    axum::Json(json!({ "access_token": ACCESS_TOKEN, "refresh_token": "r", "scope": "useraccount", "token_type": "Bearer", "expires_in": 1799 })).into_response()
}

fn url_pairs(text: &str) -> HashMap<String, String> {
    text.split('&')
        .filter_map(|pair| pair.split_once('='))
        .map(|(key, value)| (decode(key), decode(value)))
        .collect()
}

fn decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::new();
    let mut index = 0;
    while index < bytes.len() {
        match bytes[index] {
            b'+' => out.push(b' '),
            b'%' if index + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[index + 1..index + 3]).unwrap_or("");
                out.push(u8::from_str_radix(hex, 16).unwrap_or(b'?'));
                index += 2;
            }
            byte => out.push(byte),
        }
        index += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Runs a Table API read of the records in `objects` that `is_member` of
/// the table: the contract (`sysparm_query` parses
/// against the table's fields and pins `pinned` with `=`, `sysparm_fields`
/// names fields, `sysparm_limit` is a positive number), then the query.
fn table_read(
    state: &FakeState,
    query: &HashMap<String, String>,
    fields: &[&str],
    is_member: fn(&str) -> bool,
    pinned: &str,
) -> Response {
    let text = query.get("sysparm_query").cloned().unwrap_or_default();
    let parsed = match encoded_query::parse(&text, fields) {
        Ok(parsed) => parsed,
        Err(problem) => {
            return state.violation(
                format!("sysparm_query {text:?}: {problem}"),
                failure("Invalid query", &problem),
            );
        }
    };
    if !parsed.pins(pinned) {
        // Recorded, but answered as an instance would: the test then sees
        // what the widened query found.
        let _ = state.violation(
            format!("lookup does not pin {pinned} to one value: {text:?}"),
            Value::Null,
        );
    }
    let wanted_fields: Vec<String> = match query.get("sysparm_fields") {
        Some(list) => list.split(',').map(str::to_string).collect(),
        None => fields.iter().map(|field| field.to_string()).collect(),
    };
    if let Some(unknown) = wanted_fields
        .iter()
        .find(|field| !fields.contains(&field.as_str()))
    {
        return state.violation(
            format!("sysparm_fields names unknown field {unknown:?}"),
            failure("Invalid fields", unknown),
        );
    }
    let limit = match query
        .get("sysparm_limit")
        .map(|limit| limit.parse::<usize>())
    {
        None => 10_000,
        Some(Ok(limit)) if limit > 0 => limit,
        Some(_) => {
            return state.violation(
                format!(
                    "sysparm_limit {:?} is not a positive number",
                    query.get("sysparm_limit")
                ),
                failure("Invalid limit", ""),
            );
        }
    };
    let mut records: Vec<(String, Value)> = state
        .objects
        .lock()
        .map(|objects| {
            objects
                .iter()
                .filter(|(key, _)| is_member(key))
                .map(|(key, record)| (key.clone(), record.clone()))
                .collect()
        })
        .unwrap_or_default();
    records.sort_by(|a, b| a.0.cmp(&b.0));
    let mut records: Vec<Value> = records
        .into_iter()
        .map(|(_, record)| record)
        .filter(|record| parsed.matches(record))
        .collect();
    parsed.sort(&mut records);
    let result: Vec<Value> = records
        .iter()
        .take(limit)
        .map(|record| {
            let projected: serde_json::Map<String, Value> = wanted_fields
                .iter()
                .map(|field| {
                    (
                        field.clone(),
                        record.get(field).cloned().unwrap_or(json!("")),
                    )
                })
                .collect();
            Value::Object(projected)
        })
        .collect();
    axum::Json(json!({ "result": result })).into_response()
}

async fn find(
    State(state): State<Arc<FakeState>>,
    headers: HeaderMap,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    if let Some(denied) = unauthenticated(&headers) {
        return denied;
    }
    table_read(
        &state,
        &query,
        INCIDENT_FIELDS,
        |key| !key.starts_with(CI_PREFIX),
        "correlation_id",
    )
}

async fn find_ci(
    State(state): State<Arc<FakeState>>,
    headers: HeaderMap,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    if let Some(denied) = unauthenticated(&headers) {
        return denied;
    }
    table_read(
        &state,
        &query,
        CI_FIELDS,
        |key| key.starts_with(CI_PREFIX),
        "name",
    )
}

async fn create(
    State(state): State<Arc<FakeState>>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    if let Some(denied) = unauthenticated(&headers) {
        return denied;
    }
    if !is_json(&headers, "application/json") {
        return state.violation(
            "create is not application/json".into(),
            failure("Invalid content type", ""),
        );
    }
    let incident = match json_body(&body) {
        Ok(incident) => incident,
        Err(error) => {
            return state.violation(
                error.clone(),
                failure("Exception while reading request", &error),
            );
        }
    };
    let mut problems = Vec::new();
    for field in ["short_description", "correlation_id", "correlation_display"] {
        check_string(&incident, field, true, &mut problems);
    }
    for field in ["description", "cmdb_ci", "category", "assignment_group"] {
        check_string(&incident, field, false, &mut problems);
    }
    // The instance truncates `correlation_id` to its 100 characters, after
    // which a look-up by the full value never finds the record again.
    if incident["correlation_id"]
        .as_str()
        .is_some_and(|value| value.chars().count() > 100)
    {
        problems.push("correlation_id is longer than its 100 characters".into());
    }
    check_enum(&incident, "impact", &["1", "2", "3"], &mut problems);
    check_enum(&incident, "urgency", &["1", "2", "3"], &mut problems);
    if !problems.is_empty() {
        return state.violation(
            problems.join("; "),
            failure("Invalid request", &problems.join("; ")),
        );
    }
    let number = state.next_id();
    let sys_id = format!("{:032x}", number);
    let mut stored = incident.clone();
    stored["sys_id"] = json!(sys_id);
    stored["number"] = json!(format!("INC{:07}", 10_000 + number));
    stored["state"] = json!("1");
    stored["active"] = json!(true);
    state.accept(format!(
        "create:{}",
        incident["correlation_id"].as_str().unwrap_or_default()
    ));
    if let Ok(mut objects) = state.objects.lock() {
        objects.insert(sys_id, stored.clone());
    }
    (StatusCode::CREATED, axum::Json(json!({ "result": stored }))).into_response()
}

async fn update(
    State(state): State<Arc<FakeState>>,
    headers: HeaderMap,
    Path(sys_id): Path<String>,
    body: axum::body::Bytes,
) -> Response {
    if let Some(denied) = unauthenticated(&headers) {
        return denied;
    }
    let changes = match json_body(&body) {
        Ok(changes) => changes,
        Err(error) => {
            return state.violation(
                error.clone(),
                failure("Exception while reading request", &error),
            );
        }
    };
    let mut problems = Vec::new();
    if changes.get("state").is_some() {
        check_enum(
            &changes,
            "state",
            &["1", "2", "3", "6", "7", "8"],
            &mut problems,
        );
    }
    if changes["state"] == "6" {
        check_string(&changes, "close_code", true, &mut problems);
        check_string(&changes, "close_notes", true, &mut problems);
    }
    // A severity change sets impact and urgency together (1 high .. 3 low).
    if changes.get("impact").is_some() || changes.get("urgency").is_some() {
        check_enum(&changes, "impact", &["1", "2", "3"], &mut problems);
        check_enum(&changes, "urgency", &["1", "2", "3"], &mut problems);
    }
    if !problems.is_empty() {
        return state.violation(
            problems.join("; "),
            failure("Data Policy Exception", &problems.join("; ")),
        );
    }
    let mut objects = match state.objects.lock() {
        Ok(objects) => objects,
        Err(_) => return StatusCode::INTERNAL_SERVER_ERROR.into_response(),
    };
    let Some(incident) = objects.get_mut(&sys_id) else {
        return (
            StatusCode::NOT_FOUND,
            axum::Json(failure(
                "No Record found",
                "Record doesn't exist or ACL restricts the record retrieval",
            )),
        )
            .into_response();
    };
    if let (Some(target), Some(source)) = (incident.as_object_mut(), changes.as_object()) {
        for (key, value) in source {
            target.insert(key.clone(), value.clone());
        }
    }
    if changes["state"] == "6" {
        incident["active"] = json!(false);
        let key = format!(
            "resolve:{}",
            incident["correlation_id"].as_str().unwrap_or_default()
        );
        drop(objects);
        state.accept(key);
        return axum::Json(json!({ "result": { "sys_id": sys_id, "state": "6" } })).into_response();
    }
    let answer = json!({ "result": incident.clone() });
    if let Some(urgency) = changes["urgency"].as_str() {
        let key = format!(
            "update:{}:{urgency}",
            incident["correlation_id"].as_str().unwrap_or_default()
        );
        drop(objects);
        state.accept(key);
    }
    axum::Json(answer).into_response()
}
