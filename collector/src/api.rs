//! The REST API under `/api/v1` (JSON, CSV where a list is returned, cursor
//! pagination, bearer tokens with roles) and `/healthz`.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::extract::{FromRequestParts, Path, Query, State as AxumState};
use axum::http::request::Parts;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Value, json};

pub mod availability;

use crate::auth::{self, Role};
use crate::error::{Error, Result};
use crate::state::State;
use crate::store::{ChangeFilter, HostFilter, NewEnrollmentToken};

pub(crate) type Shared = Arc<State>;

/// The API's routes.
pub fn router(state: Shared) -> Router {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/metrics", get(metrics))
        .route("/api/v1/info", get(info))
        .route("/api/v1/hosts", get(list_hosts))
        .route("/api/v1/hosts/{id}", get(show_host))
        .route("/api/v1/hosts/{id}/changes", get(host_changes))
        .route("/api/v1/hosts/{id}/health", get(host_health))
        .route("/api/v1/changes", get(fleet_changes))
        .route("/api/v1/software", get(software_catalogue))
        .route(
            "/api/v1/enrollment-tokens",
            post(create_enrollment_token).get(list_enrollment_tokens),
        )
        .route("/api/v1/api-tokens", post(create_api_token))
        .route("/api/v1/agents/{id}", get(show_agent))
        .route("/api/v1/agents/{id}/revoke", post(revoke_agent))
        .merge(availability::routes())
        .route("/api/v1/integrations", get(list_integrations))
        .route("/api/v1/integrations/{name}/test", post(test_integration))
        .route("/api/v1/outbox", get(list_outbox))
        .route("/api/v1/outbox/{id}/retry", post(retry_outbox))
        .route(
            "/api/v1/incidents/{id}/deliveries",
            get(incident_deliveries),
        )
        .fallback(|| async { Error::NotFound("no such API route".into()) })
        .with_state(state)
}

/// The authenticated caller.
#[derive(Debug, Clone)]
pub struct Caller {
    /// Token id.
    pub token_id: String,
    /// Token name (shown as author of acknowledgements and comments).
    pub token_name: String,
    /// The token's role.
    pub role: Role,
}

impl Caller {
    pub(crate) fn require(&self, role: Role) -> Result<()> {
        if self.role >= role {
            Ok(())
        } else {
            Err(Error::PermissionDenied(format!(
                "this needs the {} role; the token has {}",
                role.as_str(),
                self.role.as_str()
            )))
        }
    }
}

impl FromRequestParts<Shared> for Caller {
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, state: &Shared) -> Result<Self> {
        let header = parts.headers.get(header::AUTHORIZATION).ok_or_else(|| {
            Error::Unauthenticated("missing Authorization: Bearer <token> header".into())
        })?;
        let token = header
            .to_str()
            .ok()
            .and_then(|value| value.strip_prefix("Bearer "))
            .filter(|token| !token.trim().is_empty())
            .ok_or_else(|| {
                Error::Unauthenticated("Authorization header must be `Bearer <token>`".into())
            })?;
        let stored = state
            .store
            .api_token_by_hash(&auth::hash_secret(token))
            .await?
            .ok_or_else(|| {
                Error::Unauthenticated("API token is not valid or was revoked".into())
            })?;
        let role = Role::parse(&stored.role)
            .ok_or_else(|| Error::Internal(format!("token {} has unknown role", stored.id)))?;
        Ok(Caller {
            token_id: stored.id,
            token_name: stored.name,
            role,
        })
    }
}

async fn metrics(AxumState(state): AxumState<Shared>) -> Response {
    let mut response = crate::metrics::render(&state).await.into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; version=0.0.4"),
    );
    response
}

async fn healthz(AxumState(state): AxumState<Shared>) -> Response {
    match state.store.api_token_count().await {
        Ok(_) => Json(json!({ "status": "ok" })).into_response(),
        Err(error) => {
            tracing::error!(error = %error, "health check: store unavailable");
            (
                axum::http::StatusCode::SERVICE_UNAVAILABLE,
                Json(json!({ "status": "store unavailable" })),
            )
                .into_response()
        }
    }
}

async fn info(_caller: Caller, AxumState(state): AxumState<Shared>) -> Json<Value> {
    Json(json!({
        "version": env!("CARGO_PKG_VERSION"),
        "ca_fingerprint": state.pki.ca_fingerprint,
        "backend": state.store.backend(),
        "open_sessions": state.open_sessions.load(std::sync::atomic::Ordering::Relaxed),
    }))
}

/// Query parameters common to lists.
#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    name: Option<String>,
    lifecycle: Option<String>,
    limit: Option<i64>,
    cursor: Option<String>,
    format: Option<String>,
    since: Option<i64>,
    until: Option<i64>,
    class: Option<String>,
    key: Option<String>,
    software: Option<String>,
    version_lt: Option<String>,
    version_le: Option<String>,
    version_eq: Option<String>,
    version_ge: Option<String>,
    version_gt: Option<String>,
}

impl ListQuery {
    /// The version conditions given: (ordering that satisfies, bound).
    fn version_conditions(&self) -> Vec<(&'static [std::cmp::Ordering], &str)> {
        use std::cmp::Ordering::{Equal, Greater, Less};
        let mut out: Vec<(&'static [std::cmp::Ordering], &str)> = Vec::new();
        for (allowed, bound) in [
            (&[Less][..], &self.version_lt),
            (&[Less, Equal][..], &self.version_le),
            (&[Equal][..], &self.version_eq),
            (&[Greater, Equal][..], &self.version_ge),
            (&[Greater][..], &self.version_gt),
        ] {
            if let Some(bound) = bound {
                out.push((allowed, bound.as_str()));
            }
        }
        out
    }
}

/// A page size from a query: `default` when absent, at most `max`.
pub(crate) fn page_limit(limit: Option<i64>, default: i64, max: i64) -> Result<i64> {
    match limit {
        None => Ok(default),
        Some(limit) if (1..=max).contains(&limit) => Ok(limit),
        Some(limit) => Err(Error::InvalidInput(format!(
            "limit must be between 1 and {max}, got {limit}"
        ))),
    }
}

/// Whether a query asks for CSV (`format=csv`) rather than JSON.
pub(crate) fn wants_csv(format: Option<&str>) -> Result<bool> {
    match format {
        None | Some("json") => Ok(false),
        Some("csv") => Ok(true),
        Some(other) => Err(Error::InvalidInput(format!(
            "format must be json or csv, got {other:?}"
        ))),
    }
}

impl ListQuery {
    fn limit(&self) -> Result<i64> {
        page_limit(self.limit, 100, 1000)
    }

    fn csv(&self) -> Result<bool> {
        wants_csv(self.format.as_deref())
    }
}

pub(crate) fn query<T: Default>(
    query: std::result::Result<Query<T>, axum::extract::rejection::QueryRejection>,
) -> Result<T> {
    query
        .map(|Query(value)| value)
        .map_err(|rejection| Error::InvalidInput(rejection.body_text()))
}

fn csv_field(value: &Value) -> String {
    let text = match value {
        Value::Null => String::new(),
        Value::String(text) => text.clone(),
        other => other.to_string(),
    };
    if text.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", text.replace('"', "\"\""))
    } else {
        text
    }
}

/// Renders a list as JSON `{items, next_cursor}` or as CSV.
pub(crate) fn list_response(rows: Vec<Value>, next_cursor: Option<String>, csv: bool) -> Response {
    if !csv {
        return Json(json!({ "items": rows, "next_cursor": next_cursor })).into_response();
    }
    let columns: Vec<String> = match rows.first() {
        Some(Value::Object(map)) => map.keys().cloned().collect(),
        _ => Vec::new(),
    };
    let mut out = columns.join(",");
    out.push('\n');
    for row in &rows {
        let line: Vec<String> = columns
            .iter()
            .map(|column| csv_field(row.get(column).unwrap_or(&Value::Null)))
            .collect();
        out.push_str(&line.join(","));
        out.push('\n');
    }
    let mut response = out.into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/csv; charset=utf-8"),
    );
    if let Some(cursor) = next_cursor
        && let Ok(value) = HeaderValue::from_str(&cursor)
    {
        response.headers_mut().insert("x-next-cursor", value);
    }
    response
}

pub(crate) fn to_values<T: serde::Serialize>(rows: &[T]) -> Result<Vec<Value>> {
    rows.iter()
        .map(|row| serde_json::to_value(row).map_err(|error| Error::Internal(error.to_string())))
        .collect()
}

async fn list_hosts(
    _caller: Caller,
    AxumState(state): AxumState<Shared>,
    params: std::result::Result<Query<ListQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Response> {
    let params = query(params)?;
    let limit = params.limit()?;
    let conditions = params.version_conditions();
    let Some(software) = params.software.clone() else {
        if !conditions.is_empty() {
            return Err(Error::InvalidInput(
                "version_lt/le/eq/ge/gt need software=NAME".into(),
            ));
        }
        let filter = HostFilter {
            name: params.name.clone(),
            lifecycle: params.lifecycle.clone(),
            after: params.cursor.clone(),
            limit,
        };
        let hosts = state.store.hosts(&filter).await?;
        let next = (hosts.len() as i64 == limit)
            .then(|| hosts.last().map(|host| host.id.clone()))
            .flatten();
        return Ok(list_response(to_values(&hosts)?, next, params.csv()?));
    };
    // Hosts with a package of that name whose version satisfies every condition,
    // compared by the ordering of the package manager that reported it.
    let matching: std::collections::BTreeSet<String> = state
        .store
        .software(Some(&software))
        .await?
        .into_iter()
        .filter(|row| {
            conditions.iter().all(|(allowed, bound)| {
                allowed.contains(&crate::cmdb::version::compare(
                    &row.manager,
                    &row.version,
                    bound,
                ))
            })
        })
        .map(|row| row.host_id)
        .collect();
    let filter = HostFilter {
        name: params.name.clone(),
        lifecycle: params.lifecycle.clone(),
        after: params.cursor.clone(),
        limit: 1_000_000,
    };
    let hosts: Vec<_> = state
        .store
        .hosts(&filter)
        .await?
        .into_iter()
        .filter(|host| matching.contains(&host.id))
        .take(limit as usize)
        .collect();
    let next = (hosts.len() as i64 == limit)
        .then(|| hosts.last().map(|host| host.id.clone()))
        .flatten();
    Ok(list_response(to_values(&hosts)?, next, params.csv()?))
}

async fn software_catalogue(
    _caller: Caller,
    AxumState(state): AxumState<Shared>,
    params: std::result::Result<Query<ListQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Response> {
    let params = query(params)?;
    let rows = state
        .store
        .software(params.software.as_deref().or(params.name.as_deref()))
        .await?;
    let by_name = params.software.is_none() && params.name.is_none();
    let mut groups: BTreeMap<(String, String, String), std::collections::BTreeSet<String>> =
        BTreeMap::new();
    for row in rows {
        let version = if by_name {
            String::new()
        } else {
            row.version.clone()
        };
        let manager = if by_name {
            String::new()
        } else {
            row.manager.clone()
        };
        groups
            .entry((row.name.clone(), version, manager))
            .or_default()
            .insert(row.host_id);
    }
    let mut items: Vec<(String, String, String, usize)> = groups
        .into_iter()
        .map(|((name, version, manager), hosts)| (name, version, manager, hosts.len()))
        .collect();
    // Newest version first within a name, by the package manager's ordering.
    items.sort_by(|a, b| {
        a.0.cmp(&b.0)
            .then_with(|| crate::cmdb::version::compare(&b.2, &b.1, &a.1))
    });
    let rows: Vec<Value> = items
        .into_iter()
        .map(|(name, version, manager, hosts)| {
            if by_name {
                json!({ "name": name, "hosts": hosts })
            } else {
                json!({ "name": name, "version": version, "manager": manager, "hosts": hosts })
            }
        })
        .collect();
    Ok(list_response(rows, None, params.csv()?))
}

async fn show_host(
    _caller: Caller,
    AxumState(state): AxumState<Shared>,
    Path(id): Path<String>,
) -> Result<Json<Value>> {
    let host = state
        .store
        .host(&id)
        .await?
        .ok_or_else(|| Error::NotFound(format!("host {id}")))?;
    let items = state.store.host_items(&id).await?;
    let mut inventory: BTreeMap<String, Value> = BTreeMap::new();
    for item in items {
        let attrs: Value = serde_json::from_str(&item.attrs).unwrap_or(Value::Null);
        let singleton = rollcall_proto::inventory::section_for_class(&item.class)
            .is_some_and(rollcall_proto::inventory::is_singleton);
        if singleton {
            inventory.insert(item.class, attrs);
        } else if let Value::Array(list) = inventory
            .entry(item.class)
            .or_insert_with(|| Value::Array(Vec::new()))
        {
            list.push(attrs);
        }
    }
    let health = state
        .store
        .health_samples(&id, 1)
        .await?
        .into_iter()
        .next()
        .map(|(_, data)| serde_json::from_str::<Value>(&data).unwrap_or(Value::Null));
    Ok(Json(
        json!({ "host": host, "inventory": inventory, "health": health }),
    ))
}

async fn changes(state: &State, host_id: Option<String>, params: ListQuery) -> Result<Response> {
    let limit = params.limit()?;
    let after_id = match &params.cursor {
        None => None,
        Some(cursor) => Some(
            cursor
                .parse::<i64>()
                .map_err(|_| Error::InvalidInput(format!("cursor {cursor:?} is not valid")))?,
        ),
    };
    let filter = ChangeFilter {
        host_id,
        since: params.since,
        until: params.until,
        class: params.class.clone(),
        item_key: params.key.clone(),
        after_id,
        limit,
    };
    let rows = state.store.changes(&filter).await?;
    let next = (rows.len() as i64 == limit)
        .then(|| rows.last().map(|row| row.id.to_string()))
        .flatten();
    Ok(list_response(to_values(&rows)?, next, params.csv()?))
}

async fn host_health(
    _caller: Caller,
    AxumState(state): AxumState<Shared>,
    Path(id): Path<String>,
    params: std::result::Result<Query<ListQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Response> {
    let params = query(params)?;
    state
        .store
        .host(&id)
        .await?
        .ok_or_else(|| Error::NotFound(format!("host {id}")))?;
    let samples = state.store.health_samples(&id, params.limit()?).await?;
    let rows: Vec<Value> = samples
        .into_iter()
        .map(|(sampled_at, data)| json!({ "sampled_at": sampled_at, "sample": serde_json::from_str::<Value>(&data).unwrap_or(Value::Null) }))
        .collect();
    Ok(list_response(rows, None, params.csv()?))
}

async fn host_changes(
    _caller: Caller,
    AxumState(state): AxumState<Shared>,
    Path(id): Path<String>,
    params: std::result::Result<Query<ListQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Response> {
    state
        .store
        .host(&id)
        .await?
        .ok_or_else(|| Error::NotFound(format!("host {id}")))?;
    changes(&state, Some(id), query(params)?).await
}

async fn fleet_changes(
    _caller: Caller,
    AxumState(state): AxumState<Shared>,
    params: std::result::Result<Query<ListQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Response> {
    changes(&state, None, query(params)?).await
}

/// Body of `POST /api/v1/enrollment-tokens`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewEnrollmentTokenRequest {
    #[serde(default)]
    description: String,
    /// Default 1.
    max_uses: Option<i64>,
    /// Seconds until expiry; default one day.
    ttl_s: Option<i64>,
}

pub(crate) fn json_body<T>(
    body: std::result::Result<Json<T>, axum::extract::rejection::JsonRejection>,
) -> Result<T> {
    body.map(|Json(value)| value)
        .map_err(|rejection| Error::InvalidInput(rejection.body_text()))
}

async fn create_enrollment_token(
    caller: Caller,
    AxumState(state): AxumState<Shared>,
    body: std::result::Result<
        Json<NewEnrollmentTokenRequest>,
        axum::extract::rejection::JsonRejection,
    >,
) -> Result<Response> {
    caller.require(Role::Admin)?;
    let request = json_body(body)?;
    let max_uses = request.max_uses.unwrap_or(1);
    if !(1..=1_000_000).contains(&max_uses) {
        return Err(Error::InvalidInput(
            "max_uses must be between 1 and 1000000".into(),
        ));
    }
    let ttl_s = request.ttl_s.unwrap_or(86_400);
    if !(1..=366 * 86_400).contains(&ttl_s) {
        return Err(Error::InvalidInput(
            "ttl_s must be between 1 second and 366 days".into(),
        ));
    }
    if request.description.len() > 256 {
        return Err(Error::InvalidInput(
            "description is longer than 256 bytes".into(),
        ));
    }
    let secret = auth::generate_secret("rcenr");
    let now = rollcall_proto::now_ms();
    let token = NewEnrollmentToken {
        id: auth::new_id(),
        token_hash: auth::hash_secret(&secret),
        description: request.description,
        max_uses,
        expires_at: now + ttl_s * 1000,
        created_at: now,
    };
    state.store.create_enrollment_token(&token).await?;
    let body = json!({
        "id": token.id,
        "token": secret,
        "max_uses": max_uses,
        "expires_at": token.expires_at,
        "ca_fingerprint": state.pki.ca_fingerprint,
    });
    Ok((axum::http::StatusCode::CREATED, Json(body)).into_response())
}

async fn list_enrollment_tokens(
    caller: Caller,
    AxumState(state): AxumState<Shared>,
) -> Result<Json<Value>> {
    caller.require(Role::Admin)?;
    Ok(Json(
        json!({ "items": state.store.enrollment_tokens().await? }),
    ))
}

/// Body of `POST /api/v1/api-tokens`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewApiTokenRequest {
    name: String,
    role: String,
}

async fn create_api_token(
    caller: Caller,
    AxumState(state): AxumState<Shared>,
    body: std::result::Result<Json<NewApiTokenRequest>, axum::extract::rejection::JsonRejection>,
) -> Result<Response> {
    caller.require(Role::Admin)?;
    let request = json_body(body)?;
    let role = Role::parse(&request.role).ok_or_else(|| {
        Error::InvalidInput(format!(
            "role must be viewer, operator or admin, got {:?}",
            request.role
        ))
    })?;
    if request.name.trim().is_empty() || request.name.len() > 128 {
        return Err(Error::InvalidInput("name must be 1 to 128 bytes".into()));
    }
    let secret = auth::generate_secret("rcapi");
    let id = auth::new_id();
    state
        .store
        .create_api_token(
            &id,
            &request.name,
            role.as_str(),
            &auth::hash_secret(&secret),
            rollcall_proto::now_ms(),
        )
        .await?;
    Ok((
        axum::http::StatusCode::CREATED,
        Json(json!({ "id": id, "token": secret, "role": role })),
    )
        .into_response())
}

async fn show_agent(
    _caller: Caller,
    AxumState(state): AxumState<Shared>,
    Path(id): Path<String>,
) -> Result<Json<Value>> {
    let agent = state
        .store
        .agent(&id)
        .await?
        .ok_or_else(|| Error::NotFound(format!("agent {id}")))?;
    Ok(Json(json!(agent)))
}

async fn revoke_agent(
    caller: Caller,
    AxumState(state): AxumState<Shared>,
    Path(id): Path<String>,
) -> Result<Json<Value>> {
    caller.require(Role::Admin)?;
    if !state
        .store
        .revoke_agent(&id, rollcall_proto::now_ms())
        .await?
    {
        return Err(Error::NotFound(format!("agent {id} (or already revoked)")));
    }
    Ok(Json(json!({ "revoked": id })))
}

async fn list_integrations(
    _caller: Caller,
    AxumState(state): AxumState<Shared>,
) -> Result<Json<Value>> {
    let counts = state.store.outbox_counts().await?;
    let items: Vec<Value> = state
        .integrations
        .status()
        .into_iter()
        .map(|target| {
            let mut by_state = serde_json::Map::new();
            for count in counts.iter().filter(|count| count.target == target.name) {
                by_state.insert(count.state.clone(), json!(count.count));
            }
            json!({
                "name": target.name,
                "kind": target.kind,
                "url": target.url,
                "enabled": target.enabled,
                "circuit": target.circuit.state,
                "consecutive_failures": target.circuit.consecutive_failures,
                "circuit_open_until": target.circuit.open_until_ms,
                "counts": by_state,
            })
        })
        .collect();
    Ok(Json(json!({ "items": items })))
}

async fn test_integration(
    caller: Caller,
    AxumState(state): AxumState<Shared>,
    Path(name): Path<String>,
) -> Result<Json<Value>> {
    caller.require(Role::Operator)?;
    let (trigger, resolve) = state.integrations.test(&name).await?;
    let ok = matches!(trigger, crate::integrations::Outcome::Delivered { .. })
        && matches!(
            resolve,
            Some(crate::integrations::Outcome::Delivered { .. })
        );
    Ok(Json(
        json!({ "target": name, "ok": ok, "trigger": trigger, "resolve": resolve }),
    ))
}

/// Query parameters of `GET /api/v1/outbox`.
#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct OutboxQuery {
    state: Option<String>,
    target: Option<String>,
    incident: Option<String>,
    limit: Option<i64>,
    cursor: Option<i64>,
}

fn outbox_row(entry: &crate::store::outbox::OutboxEntry) -> Value {
    json!({
        "id": entry.id,
        "event_id": entry.event_id,
        "incident_id": entry.incident_id,
        "target": entry.target,
        "transition": entry.transition,
        "dedup_key": entry.dedup_key,
        "state": entry.state,
        "attempts": entry.attempts,
        "next_attempt_at": entry.next_attempt_at,
        "last_error": entry.last_error,
        "created_at": entry.created_at,
        "delivered_at": entry.delivered_at,
    })
}

async fn list_outbox(
    _caller: Caller,
    AxumState(state): AxumState<Shared>,
    params: std::result::Result<Query<OutboxQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Response> {
    let params = query(params)?;
    if let Some(wanted) = &params.state
        && !["pending", "delivered", "dead"].contains(&wanted.as_str())
    {
        return Err(Error::InvalidInput(format!(
            "state must be pending, delivered or dead, got {wanted:?}"
        )));
    }
    let limit = params.limit.unwrap_or(100);
    if !(1..=1000).contains(&limit) {
        return Err(Error::InvalidInput(format!(
            "limit must be between 1 and 1000, got {limit}"
        )));
    }
    let entries = state
        .store
        .outbox_entries(&crate::store::outbox::OutboxFilter {
            state: params.state,
            incident_id: params.incident,
            target: params.target,
            after_id: params.cursor,
            limit,
        })
        .await?;
    let next = (entries.len() as i64 == limit)
        .then(|| entries.last().map(|entry| entry.id.to_string()))
        .flatten();
    Ok(list_response(
        entries.iter().map(outbox_row).collect(),
        next,
        false,
    ))
}

async fn retry_outbox(
    caller: Caller,
    AxumState(state): AxumState<Shared>,
    Path(id): Path<String>,
) -> Result<Json<Value>> {
    caller.require(Role::Operator)?;
    let id: i64 = id
        .parse()
        .map_err(|_| Error::InvalidInput(format!("outbox id {id:?} is not a number")))?;
    let entry = state
        .store
        .outbox_entry(id)
        .await?
        .ok_or_else(|| Error::NotFound(format!("outbox entry {id}")))?;
    if !state.store.retry_dead(id, rollcall_proto::now_ms()).await? {
        return Err(Error::Conflict(format!(
            "outbox entry {id} is {}, only dead entries can be retried",
            entry.state
        )));
    }
    if let Some(target) = state.integrations.target(&entry.target) {
        target.wake.notify_one();
    }
    tracing::info!(outbox_id = id, target_name = %entry.target, token = %caller.token_id, "dead letter queued again");
    Ok(Json(json!({ "retried": id, "target": entry.target })))
}

async fn incident_deliveries(
    _caller: Caller,
    AxumState(state): AxumState<Shared>,
    Path(id): Path<String>,
) -> Result<Json<Value>> {
    let entries = state
        .store
        .outbox_entries(&crate::store::outbox::OutboxFilter {
            incident_id: Some(id.clone()),
            limit: 1000,
            ..Default::default()
        })
        .await?;
    let refs = state.store.external_refs(&id).await?;
    let mut targets: BTreeMap<String, Value> = BTreeMap::new();
    for entry in &entries {
        let slot = targets.entry(entry.target.clone()).or_insert_with(
            || json!({ "target": entry.target, "external_ref": Value::Null, "deliveries": [] }),
        );
        slot["state"] = json!(entry.state);
        slot["last_error"] = json!(entry.last_error);
        if let Some(list) = slot["deliveries"].as_array_mut() {
            list.push(outbox_row(entry));
        }
    }
    for external in refs {
        let slot = targets
            .entry(external.target.clone())
            .or_insert_with(|| json!({ "target": external.target, "deliveries": [] }));
        slot["external_ref"] = json!(external.external_ref);
    }
    Ok(Json(
        json!({ "incident_id": id, "targets": targets.into_values().collect::<Vec<_>>() }),
    ))
}
