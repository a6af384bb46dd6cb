//! Hosts: the list (filters by name, lifecycle, and installed software
//! version), and one host with its full inventory and latest health sample
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
use super::list::{ListQuery, list_response, next_cursor, to_values};
use crate::availability::bounds::{MAX_TIME_MS, MIN_TIME_MS};
use crate::cmdb::software;
use crate::error::{Error, Result};
use crate::store::HostFilter;

/// `GET /api/v1/hosts`: with `software=NAME` (and `version_lt=…` …) only
/// the hosts running that package at a matching version.
pub(super) async fn list(
    _caller: Caller,
    AxumState(state): AxumState<Shared>,
    Query(params): Query<ListQuery>,
) -> Result<Response> {
    let limit = params.limit()?;
    let conditions = params.version_conditions();
    let filter = HostFilter {
        name: params.name.clone(),
        lifecycle: params.lifecycle.clone(),
        after: params.cursor.clone(),
        limit,
    };
    let hosts = match &params.software {
        Some(name) => {
            software::hosts_running(state.store.as_ref(), &filter, name, &conditions).await?
        }
        None if !conditions.is_empty() => {
            return Err(Error::InvalidInput(
                "version_lt/le/eq/ge/gt need software=NAME".into(),
            ));
        }
        None => state.store.hosts(&filter).await?,
    };
    let next = next_cursor(&hosts, limit, |host| host.id.clone());
    Ok(list_response(to_values(&hosts)?, next, params.csv()?))
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
    Ok(Json(
        json!({ "host": host, "inventory": sections, "health": health }),
    ))
}
