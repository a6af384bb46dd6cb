//! Hosts: the list (every filter of `host_query`, answered in SQL), and one host with its full inventory and latest health sample
//! (its samples and series are `health.rs`).

use std::collections::BTreeMap;

use axum::Json;
use axum::extract::{Path, State as AxumState};
use axum::response::Response;
use rollcall_proto::inventory;
use serde_json::{Value, json};

use super::Shared;
use super::auth::Caller;
use super::extract::{Query, known_host};
use super::host_query;
use super::list::{list_response, next_cursor, to_values};
use super::schemas;
use crate::availability::bounds::{MAX_TIME_MS, MIN_TIME_MS};
use crate::error::{Error, Result};

/// `GET /api/v1/hosts`: every filter of `host_query` combined, answered
/// by the database, a page in the requested order, the requested fields.
#[utoipa::path(
    get,
    path = "/api/v1/hosts",
    operation_id = "list_hosts",
    tag = "hosts",
    security(("bearer" = ["viewer"])),
    params(schemas::HostListParams),
    responses(
        (status = 200, description = "A page of hosts", content((schemas::HostPage = "application/json"), (String = "text/csv"))),
    ),
)]
pub(super) async fn list(
    _caller: Caller,
    AxumState(state): AxumState<Shared>,
    Query(pairs): Query<Vec<(String, String)>>,
) -> Result<Response> {
    if pairs.iter().any(|(key, _)| key == "as_of") {
        return as_of_page(&state, &pairs).await;
    }
    host_page(&state, &pairs).await
}

/// Most hosts one `as_of` page rebuilds (each from its history).
const AS_OF_PAGE_MAX: i64 = 200;

/// `GET /api/v1/hosts?as_of=T`: the hosts the CMDB held at T (first seen
/// at or before it), by id, each with its summary as its inventory then
/// gave it (rebuilt from history, as the host detail's `as_of` is):
/// identity, OS, CPU, memory, system and the number of packages. Takes
/// `limit` (default 50, at most 200), `cursor` (a host id) and `format`;
/// the other filters select by the present and are refused beside it.
async fn as_of_page(state: &Shared, pairs: &[(String, String)]) -> Result<Response> {
    let mut at = None;
    let mut limit = None;
    let mut cursor = None;
    let mut format = None;
    for (key, value) in pairs {
        match key.as_str() {
            "as_of" if at.is_none() => at = Some(moment("as_of", value)?),
            "limit" if limit.is_none() => {
                limit = Some(value.parse::<i64>().map_err(|_| {
                    Error::InvalidInput(format!("limit must be a number, got {value:?}"))
                })?);
            }
            "cursor" if cursor.is_none() => {
                if value.len() > host_query::MAX_VALUE_BYTES {
                    return Err(Error::InvalidInput("cursor is not valid".into()));
                }
                cursor = Some(value.clone());
            }
            "format" if format.is_none() => format = Some(value.clone()),
            "as_of" | "limit" | "cursor" | "format" => {
                return Err(Error::InvalidInput(format!("{key} is given twice")));
            }
            other => {
                return Err(Error::InvalidInput(format!(
                    "as_of combines only with limit, cursor and format: {other} selects by the present"
                )));
            }
        }
    }
    let at = at.ok_or_else(|| Error::InvalidInput("as_of needs a value".into()))?;
    let limit = super::list::page_limit(limit, 50, AS_OF_PAGE_MAX)?;
    let csv = super::list::wants_csv(format.as_deref())?;
    // Hosts by id after the cursor, those first seen by then, a page of them.
    let mut hosts = Vec::new();
    let mut after = cursor;
    'pages: loop {
        let page = state
            .store
            .hosts(&crate::store::HostFilter {
                after: after.clone(),
                limit: 500,
                ..Default::default()
            })
            .await?;
        let full = page.len() == 500;
        for host in page {
            after = Some(host.id.clone());
            if host.first_seen_at <= at {
                hosts.push(host);
                if hosts.len() as i64 == limit {
                    break 'pages;
                }
            }
        }
        if !full {
            break;
        }
    }
    let mut rows = Vec::with_capacity(hosts.len());
    for host in &hosts {
        let items: Vec<crate::cmdb::diff::CiItem> = state
            .store
            .items_as_of(&host.id, at)
            .await?
            .into_iter()
            .map(|((class, key), attrs)| crate::cmdb::diff::CiItem {
                name: key.clone(),
                class,
                key,
                attrs,
            })
            .collect();
        let packages = items.iter().filter(|item| item.class == "software").count();
        let mut row = serde_json::Map::new();
        row.insert("id".into(), json!(host.id));
        row.insert("hostname".into(), json!(host.hostname));
        for column in [
            "fqdn",
            "os_name",
            "os_version",
            "kernel",
            "arch",
            "cpu_model",
            "vendor",
            "model",
            "virtualization",
        ] {
            row.insert(column.into(), json!(""));
        }
        for column in ["cpu_threads", "memory_bytes"] {
            row.insert(column.into(), json!(0));
        }
        for (column, value) in crate::cmdb::summary::summary_updates(&items) {
            if matches!(column, "machine_id" | "dmi_uuid" | "dmi_serial" | "macs") {
                continue;
            }
            let value = match value {
                crate::cmdb::summary::SummaryValue::Text(text) => json!(text),
                crate::cmdb::summary::SummaryValue::Number(number) => json!(number),
            };
            row.insert(column.into(), value);
        }
        row.insert("package_count".into(), json!(packages));
        row.insert("first_seen_at".into(), json!(host.first_seen_at));
        row.insert("as_of".into(), json!(at));
        rows.push(Value::Object(row));
    }
    let next = next_cursor(&hosts, limit, |host| host.id.clone());
    Ok(list_response(rows, next, csv))
}

/// One page of the host list for the query string `pairs` (also
/// `GET /api/v1/software/{name}/hosts`).
pub(super) async fn host_page(state: &Shared, pairs: &[(String, String)]) -> Result<Response> {
    let request = host_query::parse(pairs)?;
    let hosts = state.store.find_hosts(&request.query).await?;
    let next = next_cursor(&hosts, request.query.limit, |host| {
        host_query::encode_cursor(&request.query, host)
    });
    let mut rows = to_values(&hosts)?;
    if let Some(fields) = &request.fields {
        for row in &mut rows {
            if let Value::Object(map) = row {
                map.retain(|key, _| fields.contains(&key.as_str()));
            }
        }
    }
    Ok(list_response(rows, next, request.csv))
}

/// `GET /api/v1/hosts/{id}`: the host, its inventory by section (an object
/// for singleton sections, a list for the others) and its latest health.
#[utoipa::path(
    get,
    path = "/api/v1/hosts/{id}",
    operation_id = "show_host",
    tag = "hosts",
    security(("bearer" = ["viewer"])),
    params(("id" = String, Path, description = "Host id"), ShowQuery),
    responses(
        (status = 200, description = "The host with its inventory", body = schemas::HostDetail),
    ),
)]
pub(super) async fn show(
    _caller: Caller,
    AxumState(state): AxumState<Shared>,
    Path(id): Path<String>,
    Query(params): Query<ShowQuery>,
) -> Result<Json<Value>> {
    let host = known_host(&state, &id).await?;
    let as_of = params
        .as_of
        .as_deref()
        .map(|text| moment("as_of", text))
        .transpose()?;
    let items: Vec<(String, String)> = match as_of {
        Some(at) => state
            .store
            .items_as_of(&id, at)
            .await?
            .into_iter()
            .map(|((class, _), attrs)| (class, attrs))
            .collect(),
        None => state
            .store
            .host_items(&id)
            .await?
            .into_iter()
            .map(|item| (item.class, item.attrs))
            .collect(),
    };
    let sections = sections(items);
    if let Some(at) = as_of {
        return Ok(Json(
            json!({ "host": host, "as_of": at, "inventory": sections }),
        ));
    }
    let health = state
        .store
        .health_raw(&id, MIN_TIME_MS, MAX_TIME_MS, 1)
        .await?
        .into_iter()
        .next()
        .map(|sample| super::health::sample_json(&sample.data));
    let attributes = state.store.host_attributes(&id).await?;
    Ok(Json(
        json!({ "host": host, "attributes": attributes, "inventory": sections, "health": health }),
    ))
}

/// The query of `GET /api/v1/hosts/{id}`.
#[derive(Debug, serde::Deserialize, Default, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(super) struct ShowQuery {
    /// The inventory as it was then (ms since the epoch or RFC 3339, not
    /// in the future).
    as_of: Option<String>,
}

/// A moment of history: a timestamp in range and not in the future.
pub(super) fn moment(parameter: &str, text: &str) -> Result<i64> {
    let at = super::host_query::timestamp(parameter, text)?;
    if at > rollcall_proto::now_ms() {
        return Err(Error::InvalidInput(format!(
            "{parameter} is in the future: history answers only for moments that have passed"
        )));
    }
    Ok(at)
}

/// Inventory items (class, attributes JSON) by section: an object for
/// singleton sections, a list for the others.
fn sections(items: Vec<(String, String)>) -> BTreeMap<String, Value> {
    let mut sections: BTreeMap<String, Value> = BTreeMap::new();
    for (class, attrs) in items {
        let attrs: Value = serde_json::from_str(&attrs).unwrap_or(Value::Null);
        let singleton = inventory::section_for_class(&class).is_some_and(inventory::is_singleton);
        if singleton {
            sections.insert(class, attrs);
        } else if let Value::Array(list) = sections
            .entry(class)
            .or_insert_with(|| Value::Array(Vec::new()))
        {
            list.push(attrs);
        }
    }
    sections
}

/// The query of `GET /api/v1/hosts/{id}/diff`.
#[derive(Debug, serde::Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(super) struct DiffQuery {
    from: String,
    to: Option<String>,
}

/// `GET /api/v1/hosts/{id}/diff?from=&to=`: what differs between the
/// host's inventory at `from` and at `to` (default now), by section:
/// items added, removed, and changed (with the attributes that changed,
/// old and new), each by item key. Both states are rebuilt from history,
/// so the answer is exactly the difference of `as_of=from` and `as_of=to`.
#[utoipa::path(
    get,
    path = "/api/v1/hosts/{id}/diff",
    operation_id = "diff_host",
    tag = "hosts",
    security(("bearer" = ["viewer"])),
    params(("id" = String, Path, description = "Host id"), DiffQuery),
    responses(
        (status = 200, description = "What differs between the two moments", body = schemas::HostDiff),
    ),
)]
pub(super) async fn diff(
    _caller: Caller,
    AxumState(state): AxumState<Shared>,
    Path(id): Path<String>,
    Query(params): Query<DiffQuery>,
) -> Result<Json<Value>> {
    known_host(&state, &id).await?;
    let from = moment("from", &params.from)?;
    let to = match params.to.as_deref() {
        Some(text) => moment("to", text)?,
        None => rollcall_proto::now_ms(),
    };
    if from >= to {
        return Err(Error::InvalidInput(format!(
            "from ({from}) must be before to ({to})"
        )));
    }
    let before = state.store.items_as_of(&id, from).await?;
    let after = state.store.items_as_of(&id, to).await?;
    let mut by_section: BTreeMap<String, Value> = BTreeMap::new();
    let parse = |text: &str| serde_json::from_str::<Value>(text).unwrap_or(Value::Null);
    for ((class, key), attrs) in &after {
        match before.get(&(class.clone(), key.clone())) {
            None => push(
                &mut by_section,
                class,
                "added",
                json!({ "key": key, "attrs": parse(attrs) }),
            ),
            Some(old) if old != attrs => {
                let (old, new) = (parse(old), parse(attrs));
                let mut fields = serde_json::Map::new();
                if let (Value::Object(old), Value::Object(new)) = (&old, &new) {
                    let names: std::collections::BTreeSet<&String> =
                        old.keys().chain(new.keys()).collect();
                    for name in names {
                        if old.get(name) != new.get(name) {
                            fields.insert(
                                name.clone(),
                                json!({ "old": old.get(name), "new": new.get(name) }),
                            );
                        }
                    }
                }
                push(
                    &mut by_section,
                    class,
                    "changed",
                    json!({ "key": key, "fields": fields }),
                );
            }
            Some(_) => {}
        }
    }
    for ((class, key), attrs) in &before {
        if !after.contains_key(&(class.clone(), key.clone())) {
            push(
                &mut by_section,
                class,
                "removed",
                json!({ "key": key, "attrs": parse(attrs) }),
            );
        }
    }
    Ok(Json(
        json!({ "host_id": id, "from": from, "to": to, "sections": by_section }),
    ))
}

fn push(by_section: &mut BTreeMap<String, Value>, class: &str, kind: &str, item: Value) {
    let section = by_section
        .entry(class.to_string())
        .or_insert_with(|| json!({ "added": [], "removed": [], "changed": [] }));
    if let Some(list) = section.get_mut(kind).and_then(Value::as_array_mut) {
        list.push(item);
    }
}
