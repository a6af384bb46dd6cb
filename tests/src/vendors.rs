//! Fake vendor endpoints for the integrations tests: one axum server per
//! target on 127.0.0.1:0 that checks the vendor's request contract (method,
//! path, auth, content type, fields, types, enum values), answers as the
//! vendor does, counts what it accepted per dedup key, and can be told to
//! answer 400, 401, 429 with `Retry-After`, or 5xx.

pub mod alertmanager;
pub mod jira;
pub mod pagerduty;
pub mod servicenow;
pub mod servicenow_em;
pub mod webhook;
pub mod zendesk;

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use anyhow::Result;
use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

/// Credentials every fake expects (basic auth) unless a test says otherwise.
pub const USERNAME: &str = "rollcall";
/// Password of `USERNAME`.
pub const PASSWORD: &str = "s3cret";
/// PagerDuty routing key the fake accepts.
pub const ROUTING_KEY: &str = "R0UT1NGKEY0123456789ABCDEFGHIJKL";
/// Webhook signing secret.
pub const WEBHOOK_SECRET: &str = "hook-secret";

/// One request as received.
#[derive(Debug, Clone)]
pub struct Recorded {
    /// Method.
    pub method: String,
    /// Path.
    pub path: String,
    /// Query string.
    pub query: String,
    /// Headers.
    pub headers: HeaderMap,
    /// Body.
    pub body: Vec<u8>,
    /// Status answered.
    pub status: u16,
    /// When it arrived (ms since the epoch).
    pub at_ms: i64,
}

/// A scripted answer.
#[derive(Debug, Clone)]
pub struct Forced {
    /// Status.
    pub status: u16,
    /// `Retry-After` as sent: delta-seconds or an HTTP-date.
    pub retry_after: Option<String>,
    /// Body.
    pub body: Value,
}

/// Shared state of a fake.
#[derive(Debug, Default)]
pub struct FakeState {
    /// Every request.
    pub requests: Mutex<Vec<Recorded>>,
    /// Answers to give before the vendor logic runs.
    pub forced: Mutex<VecDeque<Forced>>,
    /// Contract violations seen.
    pub violations: Mutex<Vec<String>>,
    /// Accepted operations per key (`create:<dedup key>`, `resolve:<key>`, …).
    pub accepted: Mutex<HashMap<String, u32>>,
    /// Vendor objects (incidents, tickets, requests) by id.
    pub objects: Mutex<HashMap<String, Value>>,
    /// When set, every request gets 503.
    pub down: AtomicBool,
    /// Sequence for ids.
    pub sequence: AtomicU64,
    /// The next request to this path is handled (and recorded) at once but
    /// answered only after this many ms: the vendor did the work, the
    /// caller timed out waiting for the answer.
    pub slow: Mutex<Option<(String, u64)>>,
}

impl FakeState {
    /// Records a contract violation and returns the vendor's 400.
    pub fn violation(&self, what: String, answer: Value) -> Response {
        if let Ok(mut violations) = self.violations.lock() {
            violations.push(what);
        }
        (StatusCode::BAD_REQUEST, axum::Json(answer)).into_response()
    }

    /// Counts an accepted operation.
    pub fn accept(&self, key: String) {
        if let Ok(mut accepted) = self.accepted.lock() {
            *accepted.entry(key).or_default() += 1;
        }
    }

    /// Next id.
    pub fn next_id(&self) -> u64 {
        self.sequence.fetch_add(1, Ordering::SeqCst) + 1
    }
}

/// A running fake vendor.
#[derive(Debug, Clone)]
pub struct Fake {
    /// `http://127.0.0.1:PORT`.
    pub url: String,
    /// Its state.
    pub state: Arc<FakeState>,
}

async fn record_and_force(
    State(state): State<Arc<FakeState>>,
    request: Request,
    next: Next,
) -> Response {
    let (parts, body) = request.into_parts();
    let bytes = axum::body::to_bytes(body, 16 << 20)
        .await
        .unwrap_or_default();
    let mut recorded = Recorded {
        method: parts.method.to_string(),
        path: parts.uri.path().to_string(),
        query: parts.uri.query().unwrap_or_default().to_string(),
        headers: parts.headers.clone(),
        body: bytes.to_vec(),
        status: 0,
        at_ms: rollcall_proto::now_ms(),
    };
    let forced = if state.down.load(Ordering::SeqCst) {
        Some(Forced {
            status: 503,
            retry_after: None,
            body: json!({ "error": "service unavailable" }),
        })
    } else {
        state
            .forced
            .lock()
            .ok()
            .and_then(|mut queue| queue.pop_front())
    };
    let response = match forced {
        Some(forced) => {
            let mut response = (
                StatusCode::from_u16(forced.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
                axum::Json(forced.body),
            )
                .into_response();
            if let Some(text) = forced.retry_after
                && let Ok(value) = text.parse()
            {
                response.headers_mut().insert(header::RETRY_AFTER, value);
            }
            response
        }
        None => {
            next.run(Request::from_parts(parts, Body::from(bytes)))
                .await
        }
    };
    recorded.status = response.status().as_u16();
    let path = recorded.path.clone();
    if let Ok(mut requests) = state.requests.lock() {
        requests.push(recorded);
    }
    let hold = state.slow.lock().ok().and_then(|mut slow| {
        slow.as_ref()
            .is_some_and(|(slow_path, _)| *slow_path == path)
            .then(|| slow.take().map(|(_, ms)| ms))
            .flatten()
    });
    if let Some(ms) = hold {
        tokio::time::sleep(std::time::Duration::from_millis(ms)).await;
    }
    response
}

impl Fake {
    /// Serves `router` on 127.0.0.1:0 until the test process ends.
    pub async fn start(router: Router<Arc<FakeState>>) -> Result<Fake> {
        let state = Arc::new(FakeState::default());
        let app = router
            .fallback(|request: Request| async move {
                (
                    StatusCode::NOT_FOUND,
                    axum::Json(json!({ "error": format!("no route {} {}", request.method(), request.uri()) })),
                )
            })
            .layer(axum::middleware::from_fn_with_state(
                state.clone(),
                record_and_force,
            ))
            .with_state(state.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let url = format!("http://{}", listener.local_addr()?);
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Ok(Fake { url, state })
    }

    /// The next `times` requests get `status` (with `Retry-After` seconds).
    pub fn force(&self, status: u16, retry_after: Option<u64>, body: Value, times: usize) {
        self.force_retry_after(
            status,
            retry_after.map(|seconds| seconds.to_string()),
            body,
            times,
        );
    }

    /// The next `times` requests get `status` with `Retry-After: <text>`
    /// as given (an HTTP-date, or anything a hostile vendor might send).
    pub fn force_retry_after(
        &self,
        status: u16,
        retry_after: Option<String>,
        body: Value,
        times: usize,
    ) {
        if let Ok(mut queue) = self.state.forced.lock() {
            for _ in 0..times {
                queue.push_back(Forced {
                    status,
                    retry_after: retry_after.clone(),
                    body: body.clone(),
                });
            }
        }
    }

    /// The next request to `path` is carried out at once but answered only
    /// after `ms` (see `FakeState::slow`).
    pub fn slow_next(&self, path: &str, ms: u64) {
        if let Ok(mut slow) = self.state.slow.lock() {
            *slow = Some((path.to_string(), ms));
        }
    }

    /// Answers 503 to everything while `down`.
    pub fn set_down(&self, down: bool) {
        self.state.down.store(down, Ordering::SeqCst);
    }

    /// Contract violations so far.
    pub fn violations(&self) -> Vec<String> {
        self.state
            .violations
            .lock()
            .map(|violations| violations.clone())
            .unwrap_or_default()
    }

    /// How often `key` was accepted.
    pub fn accepted(&self, key: &str) -> u32 {
        self.state
            .accepted
            .lock()
            .map(|accepted| accepted.get(key).copied().unwrap_or(0))
            .unwrap_or(0)
    }

    /// Every request so far.
    pub fn requests(&self) -> Vec<Recorded> {
        self.state
            .requests
            .lock()
            .map(|requests| requests.clone())
            .unwrap_or_default()
    }

    /// A vendor object by id.
    pub fn object(&self, id: &str) -> Option<Value> {
        self.state.objects.lock().ok()?.get(id).cloned()
    }
}

/// The correlation id the collector writes for `dedup_key` and looks up by
/// (`rollcall:<sha256 hex>`), computed here independently so a change of
/// format shows up as a failing test. The ServiceNow and Zendesk fakes
/// count operations by it (`create:<correlation id>`).
pub fn correlation_id(dedup_key: &str) -> String {
    use sha2::Digest;
    format!(
        "rollcall:{}",
        hex::encode(sha2::Sha256::digest(dedup_key.as_bytes()))
    )
}

/// `Basic base64(user:password)`.
pub fn basic(username: &str, password: &str) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let input = format!("{username}:{password}");
    let bytes = input.as_bytes();
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    format!("Basic {out}")
}

/// Whether the request carries `expected` as `Authorization`.
pub fn authorized(headers: &HeaderMap, expected: &str) -> bool {
    headers
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        == Some(expected)
}

/// Whether the content type is JSON (`application/json`, maybe with parameters).
pub fn is_json(headers: &HeaderMap, media: &str) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| value.split(';').next().map(str::trim) == Some(media))
}

/// Parses a JSON body or explains why not.
pub fn json_body(body: &[u8]) -> Result<Value, String> {
    serde_json::from_slice(body).map_err(|error| format!("body is not JSON: {error}"))
}

/// Checks that `value[field]` is a string (non-empty when `required`).
pub fn check_string(value: &Value, field: &str, required: bool, problems: &mut Vec<String>) {
    match value.get(field) {
        Some(Value::String(text)) if required && text.trim().is_empty() => {
            problems.push(format!("{field} is blank"))
        }
        Some(Value::String(_)) => {}
        None if !required => {}
        None => problems.push(format!("{field} is missing")),
        Some(other) => problems.push(format!("{field} must be a string, got {other}")),
    }
}

/// Checks that `value[field]` is one of `allowed`.
pub fn check_enum(value: &Value, field: &str, allowed: &[&str], problems: &mut Vec<String>) {
    match value.get(field).and_then(Value::as_str) {
        Some(text) if allowed.contains(&text) => {}
        other => problems.push(format!("{field} must be one of {allowed:?}, got {other:?}")),
    }
}

/// Whether `text` looks like RFC 3339 (`YYYY-MM-DDTHH:MM:SS…Z` or offset).
pub fn is_rfc3339(text: &str) -> bool {
    let bytes = text.as_bytes();
    bytes.len() >= 20
        && bytes[4] == b'-'
        && bytes[7] == b'-'
        && (bytes[10] == b'T' || bytes[10] == b't')
        && bytes[13] == b':'
        && bytes[16] == b':'
        && (text.ends_with('Z') || text[19..].contains(['+', '-']))
}

/// Every fake at once, for tests that configure all targets.
#[derive(Debug, Clone)]
pub struct AllFakes {
    /// ServiceNow Table API.
    pub servicenow: Fake,
    /// ServiceNow Event Management.
    pub servicenow_em: Fake,
    /// PagerDuty.
    pub pagerduty: Fake,
    /// Jira Service Management.
    pub jira: Fake,
    /// Zendesk.
    pub zendesk: Fake,
    /// Alertmanager.
    pub alertmanager: Fake,
    /// Webhook receiver.
    pub webhook: Fake,
}

impl AllFakes {
    /// Starts one fake per vendor.
    pub async fn start() -> Result<AllFakes> {
        Ok(AllFakes {
            servicenow: servicenow::start().await?,
            servicenow_em: servicenow_em::start().await?,
            pagerduty: pagerduty::start().await?,
            jira: jira::start().await?,
            zendesk: zendesk::start().await?,
            alertmanager: alertmanager::start().await?,
            webhook: webhook::start().await?,
        })
    }

    /// (target name, fake) pairs, named like the target kinds.
    pub fn all(&self) -> Vec<(&'static str, &Fake)> {
        vec![
            ("servicenow", &self.servicenow),
            ("servicenow_em", &self.servicenow_em),
            ("pagerduty", &self.pagerduty),
            ("jira", &self.jira),
            ("zendesk", &self.zendesk),
            ("alertmanager", &self.alertmanager),
            ("webhook", &self.webhook),
        ]
    }

    /// `[[integrations.targets]]` for every fake, named after its kind.
    pub fn toml(&self, extra: &str) -> String {
        self.all()
            .into_iter()
            .map(|(kind, fake)| target_toml(kind, kind, &fake.url, extra))
            .collect()
    }
}

/// A `[[integrations.targets]]` entry of `kind` at `url` with the
/// credentials the fakes expect, plus `extra` lines (e.g.
/// `"backoff_initial_ms = 100\n"`). Two of these in
/// `CollectorOptions.extra_toml` configure two targets.
pub fn target_toml(name: &str, kind: &str, url: &str, extra: &str) -> String {
    let credentials = match kind {
        "servicenow" | "servicenow_em" | "jira" => {
            format!("username = {USERNAME:?}\npassword = {PASSWORD:?}\n")
        }
        "zendesk" => format!("username = \"{USERNAME}/token\"\npassword = {PASSWORD:?}\n"),
        "pagerduty" => format!("routing_key = {ROUTING_KEY:?}\n"),
        "webhook" => format!("secret = {WEBHOOK_SECRET:?}\n"),
        _ => String::new(),
    };
    let vendor = match kind {
        "jira" => {
            "service_desk_id = \"1\"\nrequest_type_id = \"10\"\nresolve_transition_id = \"761\"\n"
        }
        "webhook" => "",
        _ => "",
    };
    let url = if kind == "webhook" {
        format!("{url}/hook")
    } else {
        url.to_string()
    };
    format!(
        "\n[[integrations.targets]]\nname = {name:?}\nkind = {kind:?}\nurl = {url:?}\n{credentials}{vendor}{extra}"
    )
}
