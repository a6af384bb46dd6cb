//! The software catalogue: package names with host counts, or one
//! package's versions with host counts (`software=NAME` or `name=NAME`),
//! optionally only the versions satisfying a version condition; and the
//! hosts running a package (`/software/{name}/hosts`, every host filter).

use axum::extract::{Path, State as AxumState};
use axum::response::Response;
use serde::Deserialize;
use serde_json::{Value, json};

use super::Shared;
use super::auth::Caller;
use super::extract::Query;
use super::host_query::{comparison, version_bound};
use super::list::{list_response, wants_csv};
use crate::cmdb::software::{self, Comparison, VersionCondition};
use crate::error::{Error, Result};

/// Query parameters of `GET /api/v1/software`.
#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct SoftwareQuery {
    name: Option<String>,
    software: Option<String>,
    version: Option<String>,
    op: Option<String>,
    version_lt: Option<String>,
    version_le: Option<String>,
    version_eq: Option<String>,
    version_ge: Option<String>,
    version_gt: Option<String>,
    format: Option<String>,
}

impl SoftwareQuery {
    /// The version conditions given, each checked.
    fn conditions(&self) -> Result<Vec<VersionCondition>> {
        let mut out = Vec::new();
        for (comparison, bound) in [
            (Comparison::Lt, &self.version_lt),
            (Comparison::Le, &self.version_le),
            (Comparison::Eq, &self.version_eq),
            (Comparison::Ge, &self.version_ge),
            (Comparison::Gt, &self.version_gt),
        ] {
            if let Some(bound) = bound {
                out.push(VersionCondition {
                    comparison,
                    bound: version_bound(bound)?,
                });
            }
        }
        match (&self.version, &self.op) {
            (Some(bound), op) => out.push(VersionCondition {
                comparison: op
                    .as_deref()
                    .map(comparison)
                    .transpose()?
                    .unwrap_or(Comparison::Eq),
                bound: version_bound(bound)?,
            }),
            (None, Some(_)) => return Err(Error::InvalidInput("op needs version=".into())),
            (None, None) => {}
        }
        Ok(out)
    }
}

/// `GET /api/v1/software`.
pub(super) async fn catalogue(
    _caller: Caller,
    AxumState(state): AxumState<Shared>,
    Query(params): Query<SoftwareQuery>,
) -> Result<Response> {
    let csv = wants_csv(params.format.as_deref())?;
    let conditions = params.conditions()?;
    let name = params.software.as_deref().or(params.name.as_deref());
    if let Some(name) = name
        && (name.is_empty() || name.len() > super::host_query::MAX_VALUE_BYTES)
    {
        return Err(Error::InvalidInput(
            "the package name must be 1 to 256 bytes".into(),
        ));
    }
    if name.is_none() && !conditions.is_empty() {
        return Err(Error::InvalidInput(
            "version (and version_lt/le/eq/ge/gt) need software=NAME".into(),
        ));
    }
    let entries = software::catalogue(state.store.as_ref(), name).await?;
    let rows: Vec<Value> = entries
        .into_iter()
        .filter_map(|entry| match (entry.version, entry.manager) {
            (Some(version), Some(manager)) => software::satisfies(&manager, &version, &conditions)
                .then(|| json!({
                    "name": entry.name, "version": version, "manager": manager, "hosts": entry.hosts,
                })),
            _ => Some(json!({ "name": entry.name, "hosts": entry.hosts })),
        })
        .collect();
    Ok(list_response(rows, None, csv))
}

/// `GET /api/v1/software/{name}/hosts`: the host list of the hosts running
/// package `name` (with `version`/`op` at a matching version), taking every
/// host list parameter but `software`.
pub(super) async fn hosts(
    _caller: Caller,
    AxumState(state): AxumState<Shared>,
    Path(name): Path<String>,
    Query(mut pairs): Query<Vec<(String, String)>>,
) -> Result<Response> {
    if pairs.iter().any(|(key, _)| key == "software") {
        return Err(Error::InvalidInput(
            "software is given by the path here".into(),
        ));
    }
    pairs.push(("software".into(), name));
    super::hosts::host_page(&state, &pairs).await
}
