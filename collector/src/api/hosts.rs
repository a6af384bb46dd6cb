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
use crate::availability::bounds::{MAX_TIME_MS, MIN_TIME_MS};
use crate::error::Result;

/// `GET /api/v1/hosts`: every filter of `host_query` combined, answered
/// by the database, a page in the requested order, the requested fields.
pub(super) async fn list(
    _caller: Caller,
    AxumState(state): AxumState<Shared>,
    Query(pairs): Query<Vec<(String, String)>>,
) -> Result<Response> {
    host_page(&state, &pairs).await
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
pub(super) async fn show(
    _caller: Caller,
    AxumState(state): AxumState<Shared>,
    Path(id): Path<String>,
) -> Result<Json<Value>> {
    let host = known_host(&state, &id).await?;
    let items = state.store.host_items(&id).await?;
    let mut sections: BTreeMap<String, Value> = BTreeMap::new();
    for item in items {
        let attrs: Value = serde_json::from_str(&item.attrs).unwrap_or(Value::Null);
        let singleton =
            inventory::section_for_class(&item.class).is_some_and(inventory::is_singleton);
        if singleton {
            sections.insert(item.class, attrs);
        } else if let Value::Array(list) = sections
            .entry(item.class)
            .or_insert_with(|| Value::Array(Vec::new()))
        {
            list.push(attrs);
        }
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
