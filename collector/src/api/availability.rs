//! API for outages, availability reports, incidents (acknowledge, comment),
//! maintenance windows, business services, relationships and host tags.

use axum::extract::{Path, Query, State as AxumState};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post, put};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Value, json};

use super::{Caller, Shared, json_body, list_response, query, to_values};
use crate::auth::{self, Role};
use crate::availability::report::{self, OutageSpan, Span};
use crate::error::{Error, Result};
use crate::store::HostFilter;
use crate::store::{
    BusinessService, Comment, IncidentFilter, MEMBER_OF, MaintenanceWindow, OutageFilter,
    RELATIONSHIP_KINDS, Relationship,
};

type QueryResult<T> = std::result::Result<Query<T>, axum::extract::rejection::QueryRejection>;
type JsonResult<T> = std::result::Result<Json<T>, axum::extract::rejection::JsonRejection>;

/// The routes of this module.
pub fn routes() -> Router<Shared> {
    Router::new()
        .route("/api/v1/outages", get(list_outages))
        .route("/api/v1/availability", get(availability))
        .route("/api/v1/incidents", get(list_incidents))
        .route("/api/v1/incidents/{id}", get(show_incident))
        .route("/api/v1/incidents/{id}/acknowledge", post(acknowledge))
        .route("/api/v1/incidents/{id}/comments", post(comment))
        .route(
            "/api/v1/maintenance",
            get(list_maintenance).post(create_maintenance),
        )
        .route("/api/v1/maintenance/{id}", delete(delete_maintenance))
        .route("/api/v1/services", get(list_services).post(create_service))
        .route("/api/v1/services/{id}", delete(delete_service))
        .route("/api/v1/services/{id}/members", post(add_member))
        .route(
            "/api/v1/relationships",
            get(list_relationships)
                .post(create_relationship)
                .delete(remove_relationship),
        )
        .route("/api/v1/hosts/{id}/tags", put(set_tags))
}

/// Query of list endpoints here.
#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct Filters {
    host_id: Option<String>,
    ci_id: Option<String>,
    kind: Option<String>,
    state: Option<String>,
    rule: Option<String>,
    since: Option<i64>,
    until: Option<i64>,
    limit: Option<i64>,
    format: Option<String>,
    window: Option<String>,
    service_id: Option<String>,
}

impl Filters {
    fn limit(&self) -> Result<i64> {
        super::page_limit(self.limit, 500, 10_000)
    }

    fn csv(&self) -> Result<bool> {
        super::wants_csv(self.format.as_deref())
    }
}

/// Parses `30d`, `12h`, `90m`, `3600s` or plain seconds into milliseconds.
pub fn parse_window(text: &str) -> Result<i64> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let value: i64 = number
        .parse()
        .map_err(|_| Error::InvalidInput(format!("window {text:?} is not like 30d, 12h or 90m")))?;
    let unit_ms = match unit {
        "" | "s" => 1_000,
        "m" => 60_000,
        "h" => 3_600_000,
        "d" => 86_400_000,
        "w" => 7 * 86_400_000,
        _ => {
            return Err(Error::InvalidInput(format!(
                "window {text:?}: unit must be s, m, h, d or w"
            )));
        }
    };
    if value <= 0 || value > 3660 * 86_400_000 / unit_ms {
        return Err(Error::InvalidInput(format!(
            "window {text:?} must be positive and at most 10 years"
        )));
    }
    Ok(value * unit_ms)
}

async fn list_outages(
    _caller: Caller,
    AxumState(state): AxumState<Shared>,
    params: QueryResult<Filters>,
) -> Result<Response> {
    let params = query(params)?;
    let filter = OutageFilter {
        host_id: params.host_id.clone(),
        since: params.since,
        until: params.until,
        kind: params.kind.clone(),
        limit: params.limit()?,
    };
    let outages = state.store.outages(&filter).await?;
    let rows: Vec<Value> = outages
        .iter()
        .map(|outage| {
            let mut value = json!(outage);
            value["duration_ms"] = json!(outage.ended_at.map(|end| end - outage.began_at));
            value
        })
        .collect();
    Ok(list_response(rows, None, params.csv()?))
}

/// The window (from, to) of an availability query.
fn window_of(params: &Filters, now: i64) -> Result<Span> {
    match (params.since, params.until, &params.window) {
        (Some(since), until, None) => {
            let to = until.unwrap_or(now);
            if to <= since {
                return Err(Error::InvalidInput("until must be after since".into()));
            }
            Ok((since, to))
        }
        (None, None, window) => {
            let length = parse_window(window.as_deref().unwrap_or("30d"))?;
            Ok((now - length, now))
        }
        _ => Err(Error::InvalidInput(
            "give either window=30d or since (and until)".into(),
        )),
    }
}

async fn availability(
    _caller: Caller,
    AxumState(state): AxumState<Shared>,
    params: QueryResult<Filters>,
) -> Result<Response> {
    let params = query(params)?;
    let now = rollcall_proto::now_ms();
    let window = window_of(&params, now)?;
    let single = match &params.host_id {
        Some(id) => Some(
            state
                .store
                .host(id)
                .await?
                .ok_or_else(|| Error::NotFound(format!("host {id}")))?,
        ),
        None => None,
    };
    let services = state.store.services().await?;
    // Every host once: the host rows without a host_id, and the maintenance
    // of service members (not once per service).
    let all_hosts = if single.is_none() || !services.is_empty() {
        state
            .store
            .hosts(&HostFilter {
                limit: 100_000,
                ..Default::default()
            })
            .await?
    } else {
        Vec::new()
    };
    let hosts = match &single {
        Some(host) => std::slice::from_ref(host),
        None => all_hosts.as_slice(),
    };
    let outages = state
        .store
        .outages(&OutageFilter {
            since: Some(window.0),
            until: Some(window.1),
            limit: 1_000_000,
            ..Default::default()
        })
        .await?;
    let windows = state.store.maintenance_windows().await?;
    let relationships = state.store.relationships(None).await?;
    let members_of = |service_id: &str| -> Vec<String> {
        relationships
            .iter()
            .filter(|relationship| {
                relationship.kind == MEMBER_OF && relationship.parent_id == service_id
            })
            .map(|relationship| relationship.child_id.clone())
            .collect()
    };
    let maintenance_for = |host: &crate::store::Host| -> Vec<Span> {
        let tags = host.tags_list();
        windows
            .iter()
            .filter(|w| match w.scope.as_str() {
                "host" => w.target == host.id,
                "tag" => tags.contains(&w.target),
                "service" => members_of(&w.target).contains(&host.id),
                _ => false,
            })
            .flat_map(|w| report::expand_recurring(w.starts_at, w.ends_at, &w.recurrence, window))
            .collect()
    };
    let spans_for = |host_id: &str| -> Vec<OutageSpan> {
        outages
            .iter()
            .filter(|outage| outage.host_id == host_id)
            .map(|outage| OutageSpan {
                start: outage.began_at,
                end: outage.ended_at,
                kind: outage.kind.clone(),
            })
            .collect()
    };
    let mut host_rows = Vec::new();
    if params.service_id.is_none() {
        for host in hosts {
            let result = report::availability(window, &spans_for(&host.id), &maintenance_for(host));
            host_rows.push(
                json!({ "host_id": host.id, "hostname": host.hostname, "availability": result }),
            );
        }
    }
    let mut service_rows = Vec::new();
    for service in services.iter().filter(|service| {
        params
            .service_id
            .as_ref()
            .is_none_or(|id| *id == service.id)
    }) {
        let members = members_of(&service.id);
        let member_downs: Vec<Vec<Span>> = members
            .iter()
            .map(|member| {
                let maintenance = all_hosts
                    .iter()
                    .find(|host| host.id == *member)
                    .map(&maintenance_for)
                    .unwrap_or_default();
                let unplanned = report::merge(
                    spans_for(member)
                        .into_iter()
                        .filter(|span| span.kind == "unplanned")
                        .map(|span| (span.start, span.end.unwrap_or(window.1))),
                    window,
                );
                report::subtract(&unplanned, &report::merge(maintenance, window))
            })
            .collect();
        let down =
            report::service_down_spans(&member_downs, service.min_up.max(0) as usize, window);
        let service_maintenance: Vec<Span> = windows
            .iter()
            .filter(|w| w.scope == "service" && w.target == service.id)
            .flat_map(|w| report::expand_recurring(w.starts_at, w.ends_at, &w.recurrence, window))
            .collect();
        let spans: Vec<OutageSpan> = down
            .iter()
            .map(|(start, end)| OutageSpan {
                start: *start,
                end: Some(*end),
                kind: "unplanned".into(),
            })
            .collect();
        let result = report::availability(window, &spans, &service_maintenance);
        let allowed_downtime =
            (result.scheduled_ms as f64 * (100.0 - service.sla_target) / 100.0) as i64;
        service_rows.push(json!({
            "service_id": service.id,
            "name": service.name,
            "members": members.len(),
            "min_up": service.min_up,
            "sla_target_percent": service.sla_target,
            "sla_met": result.availability_percent >= service.sla_target,
            "error_budget_ms": allowed_downtime,
            "error_budget_left_ms": allowed_downtime - result.unplanned_downtime_ms,
            "availability": result,
        }));
    }
    if params.csv()? {
        let rows: Vec<Value> = host_rows
            .iter()
            .map(|row| {
                json!({
                    "host_id": row["host_id"], "hostname": row["hostname"],
                    "availability_percent": row["availability"]["availability_percent"],
                    "unplanned_downtime_ms": row["availability"]["unplanned_downtime_ms"],
                    "failures": row["availability"]["failures"],
                    "mtbf_ms": row["availability"]["mtbf_ms"], "mtrs_ms": row["availability"]["mtrs_ms"],
                })
            })
            .collect();
        return Ok(list_response(rows, None, true));
    }
    Ok(Json(
        json!({ "from": window.0, "to": window.1, "hosts": host_rows, "services": service_rows }),
    )
    .into_response())
}

async fn list_incidents(
    _caller: Caller,
    AxumState(state): AxumState<Shared>,
    params: QueryResult<Filters>,
) -> Result<Response> {
    let params = query(params)?;
    let filter = IncidentFilter {
        state: params.state.clone(),
        ci_id: params.ci_id.clone().or(params.host_id.clone()),
        rule_prefix: params.rule.clone(),
        parent_id: None,
        limit: params.limit()?,
    };
    let incidents = state.store.incidents(&filter).await?;
    Ok(list_response(to_values(&incidents)?, None, params.csv()?))
}

async fn show_incident(
    _caller: Caller,
    AxumState(state): AxumState<Shared>,
    Path(id): Path<String>,
) -> Result<Json<Value>> {
    let incident = state
        .store
        .incident(&id)
        .await?
        .ok_or_else(|| Error::NotFound(format!("incident {id}")))?;
    let comments = state.store.comments(&id).await?;
    let children = state
        .store
        .incidents(&IncidentFilter {
            parent_id: Some(id.clone()),
            limit: 10_000,
            ..Default::default()
        })
        .await?;
    let details: Value = serde_json::from_str(&incident.details).unwrap_or(Value::Null);
    Ok(Json(
        json!({ "incident": incident, "details": details, "comments": comments, "children": children }),
    ))
}

async fn acknowledge(
    caller: Caller,
    AxumState(state): AxumState<Shared>,
    Path(id): Path<String>,
) -> Result<Json<Value>> {
    caller.require(Role::Operator)?;
    let incident = state
        .store
        .incident(&id)
        .await?
        .ok_or_else(|| Error::NotFound(format!("incident {id}")))?;
    if !state
        .engine
        .acknowledge(&id, &caller.token_name, rollcall_proto::now_ms())
        .await?
    {
        return Err(Error::Conflict(format!(
            "incident {id} is {}, not open",
            incident.state
        )));
    }
    Ok(Json(json!({ "acknowledged": id })))
}

/// Body of a comment.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CommentRequest {
    body: String,
}

async fn comment(
    caller: Caller,
    AxumState(state): AxumState<Shared>,
    Path(id): Path<String>,
    body: JsonResult<CommentRequest>,
) -> Result<Response> {
    caller.require(Role::Operator)?;
    let request = json_body(body)?;
    if request.body.trim().is_empty() || request.body.len() > 16_384 {
        return Err(Error::InvalidInput(
            "comment body must be 1 to 16384 bytes".into(),
        ));
    }
    state
        .store
        .incident(&id)
        .await?
        .ok_or_else(|| Error::NotFound(format!("incident {id}")))?;
    let comment = Comment {
        id: auth::new_id(),
        incident_id: id,
        author: caller.token_name.clone(),
        body: request.body,
        at: rollcall_proto::now_ms(),
    };
    state.store.add_comment(&comment).await?;
    Ok((StatusCode::CREATED, Json(json!(comment))).into_response())
}

async fn list_maintenance(
    _caller: Caller,
    AxumState(state): AxumState<Shared>,
) -> Result<Json<Value>> {
    Ok(Json(
        json!({ "items": state.store.maintenance_windows().await? }),
    ))
}

/// Body of a new maintenance window.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MaintenanceRequest {
    scope: String,
    target: String,
    starts_at: i64,
    ends_at: i64,
    #[serde(default)]
    recurrence: String,
    #[serde(default)]
    reason: String,
}

async fn create_maintenance(
    caller: Caller,
    AxumState(state): AxumState<Shared>,
    body: JsonResult<MaintenanceRequest>,
) -> Result<Response> {
    caller.require(Role::Operator)?;
    let request = json_body(body)?;
    if !["host", "tag", "service"].contains(&request.scope.as_str()) {
        return Err(Error::InvalidInput(
            "scope must be host, tag or service".into(),
        ));
    }
    if !["", "daily", "weekly"].contains(&request.recurrence.as_str()) {
        return Err(Error::InvalidInput(
            "recurrence must be empty, daily or weekly".into(),
        ));
    }
    if request.ends_at <= request.starts_at {
        return Err(Error::InvalidInput(
            "ends_at must be after starts_at".into(),
        ));
    }
    if request.target.is_empty() || request.target.len() > 256 || request.reason.len() > 1024 {
        return Err(Error::InvalidInput(
            "target must be 1 to 256 bytes and reason at most 1024".into(),
        ));
    }
    let window = MaintenanceWindow {
        id: auth::new_id(),
        scope: request.scope,
        target: request.target,
        starts_at: request.starts_at,
        ends_at: request.ends_at,
        recurrence: request.recurrence,
        reason: request.reason,
        created_at: rollcall_proto::now_ms(),
    };
    state.store.create_maintenance(&window).await?;
    Ok((StatusCode::CREATED, Json(json!(window))).into_response())
}

async fn delete_maintenance(
    caller: Caller,
    AxumState(state): AxumState<Shared>,
    Path(id): Path<String>,
) -> Result<Json<Value>> {
    caller.require(Role::Operator)?;
    if !state.store.delete_maintenance(&id).await? {
        return Err(Error::NotFound(format!("maintenance window {id}")));
    }
    Ok(Json(json!({ "deleted": id })))
}

async fn list_services(
    _caller: Caller,
    AxumState(state): AxumState<Shared>,
) -> Result<Json<Value>> {
    let services = state.store.services().await?;
    let relationships = state.store.relationships(None).await?;
    let items: Vec<Value> = services
        .iter()
        .map(|service| {
            let members: Vec<&String> = relationships
                .iter()
                .filter(|r| r.kind == MEMBER_OF && r.parent_id == service.id)
                .map(|r| &r.child_id)
                .collect();
            let mut value = json!(service);
            value["members"] = json!(members);
            value
        })
        .collect();
    Ok(Json(json!({ "items": items })))
}

/// Body of a new business service.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServiceRequest {
    name: String,
    min_up: i64,
    sla_target: Option<f64>,
    #[serde(default)]
    members: Vec<String>,
}

async fn create_service(
    caller: Caller,
    AxumState(state): AxumState<Shared>,
    body: JsonResult<ServiceRequest>,
) -> Result<Response> {
    caller.require(Role::Operator)?;
    let request = json_body(body)?;
    if request.name.trim().is_empty() || request.name.len() > 128 {
        return Err(Error::InvalidInput("name must be 1 to 128 bytes".into()));
    }
    if request.min_up < 1 {
        return Err(Error::InvalidInput("min_up must be at least 1".into()));
    }
    let sla_target = request.sla_target.unwrap_or(99.9);
    if !(0.0..=100.0).contains(&sla_target) {
        return Err(Error::InvalidInput(
            "sla_target must be a percentage".into(),
        ));
    }
    for member in &request.members {
        state
            .store
            .host(member)
            .await?
            .ok_or_else(|| Error::InvalidInput(format!("member {member} is not a known host")))?;
    }
    let now = rollcall_proto::now_ms();
    let service = BusinessService {
        id: auth::new_id(),
        name: request.name,
        min_up: request.min_up,
        sla_target,
        created_at: now,
    };
    state.store.create_service(&service).await?;
    for member in request.members {
        state
            .store
            .add_relationship(&Relationship {
                parent_id: service.id.clone(),
                child_id: member,
                kind: MEMBER_OF.into(),
                created_at: now,
            })
            .await?;
    }
    Ok((StatusCode::CREATED, Json(json!(service))).into_response())
}

async fn delete_service(
    caller: Caller,
    AxumState(state): AxumState<Shared>,
    Path(id): Path<String>,
) -> Result<Json<Value>> {
    caller.require(Role::Operator)?;
    if !state.store.delete_service(&id).await? {
        return Err(Error::NotFound(format!("business service {id}")));
    }
    Ok(Json(json!({ "deleted": id })))
}

/// Body adding a member.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MemberRequest {
    host_id: String,
}

async fn add_member(
    caller: Caller,
    AxumState(state): AxumState<Shared>,
    Path(id): Path<String>,
    body: JsonResult<MemberRequest>,
) -> Result<Json<Value>> {
    caller.require(Role::Operator)?;
    let request = json_body(body)?;
    if !state
        .store
        .services()
        .await?
        .iter()
        .any(|service| service.id == id)
    {
        return Err(Error::NotFound(format!("business service {id}")));
    }
    state
        .store
        .host(&request.host_id)
        .await?
        .ok_or_else(|| Error::InvalidInput(format!("{} is not a known host", request.host_id)))?;
    let relationship = Relationship {
        parent_id: id,
        child_id: request.host_id,
        kind: MEMBER_OF.into(),
        created_at: rollcall_proto::now_ms(),
    };
    state.store.add_relationship(&relationship).await?;
    Ok(Json(json!(relationship)))
}

async fn list_relationships(
    _caller: Caller,
    AxumState(state): AxumState<Shared>,
    params: QueryResult<Filters>,
) -> Result<Json<Value>> {
    let params = query(params)?;
    Ok(Json(
        json!({ "items": state.store.relationships(params.ci_id.as_deref()).await? }),
    ))
}

/// Body of a relationship.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RelationshipRequest {
    parent_id: String,
    child_id: String,
    kind: String,
}

async fn create_relationship(
    caller: Caller,
    AxumState(state): AxumState<Shared>,
    body: JsonResult<RelationshipRequest>,
) -> Result<Response> {
    caller.require(Role::Operator)?;
    let request = json_body(body)?;
    if !RELATIONSHIP_KINDS.contains(&request.kind.as_str()) {
        return Err(Error::InvalidInput(format!(
            "kind must be one of {}",
            RELATIONSHIP_KINDS.join(", ")
        )));
    }
    if request.parent_id == request.child_id {
        return Err(Error::InvalidInput("a CI cannot relate to itself".into()));
    }
    for id in [&request.parent_id, &request.child_id] {
        let known = state.store.host(id).await?.is_some()
            || state
                .store
                .services()
                .await?
                .iter()
                .any(|service| service.id == *id);
        if !known {
            return Err(Error::InvalidInput(format!(
                "{id} is not a known host or business service"
            )));
        }
    }
    let relationship = Relationship {
        parent_id: request.parent_id,
        child_id: request.child_id,
        kind: request.kind,
        created_at: rollcall_proto::now_ms(),
    };
    state.store.add_relationship(&relationship).await?;
    Ok((StatusCode::CREATED, Json(json!(relationship))).into_response())
}

async fn remove_relationship(
    caller: Caller,
    AxumState(state): AxumState<Shared>,
    body: JsonResult<RelationshipRequest>,
) -> Result<Json<Value>> {
    caller.require(Role::Operator)?;
    let request = json_body(body)?;
    if !state
        .store
        .remove_relationship(&request.parent_id, &request.child_id, &request.kind)
        .await?
    {
        return Err(Error::NotFound("no such relationship".into()));
    }
    Ok(Json(json!({ "removed": true })))
}

/// Body of a tag update.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TagsRequest {
    tags: Vec<String>,
}

async fn set_tags(
    caller: Caller,
    AxumState(state): AxumState<Shared>,
    Path(id): Path<String>,
    body: JsonResult<TagsRequest>,
) -> Result<Json<Value>> {
    caller.require(Role::Operator)?;
    let request = json_body(body)?;
    if request.tags.len() > 64
        || request
            .tags
            .iter()
            .any(|tag| tag.is_empty() || tag.len() > 64 || tag.contains(','))
    {
        return Err(Error::InvalidInput(
            "up to 64 tags of 1 to 64 bytes, without commas".into(),
        ));
    }
    if !state
        .store
        .set_host_tags(&id, &request.tags.join(","))
        .await?
    {
        return Err(Error::NotFound(format!("host {id}")));
    }
    Ok(Json(json!({ "host_id": id, "tags": request.tags })))
}

#[cfg(test)]
mod tests {
    use super::parse_window;

    #[test]
    fn windows_parse() {
        assert_eq!(parse_window("30d").ok(), Some(30 * 86_400_000));
        assert_eq!(parse_window("90m").ok(), Some(90 * 60_000));
        assert_eq!(parse_window("3600").ok(), Some(3_600_000));
        assert!(parse_window("0d").is_err());
        assert!(parse_window("5y").is_err());
        assert!(parse_window("99999999999d").is_err());
    }
}
