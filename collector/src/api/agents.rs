//! Agents: the list (with the outdated ones: older than this collector),
//! one agent's record, and revoking it (admin; audited; its live
//! sessions end within a second, its certificate is refused from then on and
//! it cannot renew).

use std::cmp::Ordering;

use axum::Json;
use axum::extract::{Path, State as AxumState};
use axum::response::Response;
use serde::Deserialize;
use serde_json::{Value, json};

use super::Shared;
use super::auth::{Admin, Caller};
use super::extract::Query;
use super::list::list_response;
use super::schemas;
use crate::error::{Error, Result};
use crate::store::{Revocable, Revocation};

/// Query parameters of `GET /api/v1/agents`.
#[derive(Debug, Deserialize, Default, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct AgentsQuery {
    /// Only unrevoked agents older than this collector (`true`), or all.
    #[serde(default)]
    outdated: bool,
}

/// `GET /api/v1/agents[?outdated=true]`: every agent by id, each with
/// `outdated` (its reported version is below the collector's, by semver
/// precedence, or is not a semantic version at all) and the collector's
/// version to compare with.
#[utoipa::path(
    get,
    path = "/api/v1/agents",
    operation_id = "list_agents",
    tag = "agents",
    security(("bearer" = ["viewer"])),
    params(AgentsQuery),
    responses(
        (status = 200, description = "Every agent", body = schemas::AgentPage),
    ),
)]
pub(super) async fn list(
    _caller: Caller,
    AxumState(state): AxumState<Shared>,
    Query(params): Query<AgentsQuery>,
) -> Result<Response> {
    let current = env!("CARGO_PKG_VERSION");
    let rows = state
        .store
        .agents()
        .await?
        .into_iter()
        .map(|agent| {
            let outdated = is_outdated(&agent.version, current);
            (agent, outdated)
        })
        .filter(|(agent, outdated)| !params.outdated || (*outdated && agent.revoked_at.is_none()))
        .map(|(agent, outdated)| {
            let mut row = json!(agent);
            row["outdated"] = json!(outdated);
            row["collector_version"] = json!(current);
            row
        })
        .collect();
    Ok(list_response(rows, None, false))
}

/// Whether `version` is older than `current` (semver 2.0 precedence); a
/// version that does not parse counts as outdated: nobody can tell it is not.
pub(crate) fn is_outdated(version: &str, current: &str) -> bool {
    match (Semver::parse(version), Semver::parse(current)) {
        (Some(version), Some(current)) => version.cmp(&current) == Ordering::Less,
        (None, _) => true,
        (Some(_), None) => false,
    }
}

/// A semantic version: `MAJOR.MINOR.PATCH[-PRERELEASE][+BUILD]`.
#[derive(Debug, PartialEq, Eq)]
struct Semver<'a> {
    core: [u64; 3],
    pre: Vec<&'a str>,
}

impl<'a> Semver<'a> {
    fn parse(text: &'a str) -> Option<Self> {
        let text = text
            .split_once('+')
            .map_or(text, |(version, _build)| version);
        let (core, pre) = match text.split_once('-') {
            Some((core, pre)) => (core, pre.split('.').collect::<Vec<_>>()),
            None => (text, Vec::new()),
        };
        if pre.iter().any(|part| part.is_empty()) {
            return None;
        }
        let mut parts = core.split('.');
        let mut number = || -> Option<u64> {
            let part = parts.next()?;
            if part.is_empty() || !part.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            part.parse().ok()
        };
        let parsed = [number()?, number()?, number()?];
        if parts.next().is_some() {
            return None;
        }
        Some(Self { core: parsed, pre })
    }
}

impl Ord for Semver<'_> {
    fn cmp(&self, other: &Self) -> Ordering {
        self.core.cmp(&other.core).then_with(|| {
            match (self.pre.is_empty(), other.pre.is_empty()) {
                (true, true) => Ordering::Equal,
                // A pre-release is below its release.
                (true, false) => Ordering::Greater,
                (false, true) => Ordering::Less,
                (false, false) => {
                    for (a, b) in self.pre.iter().zip(&other.pre) {
                        let order = match (a.parse::<u64>(), b.parse::<u64>()) {
                            (Ok(a), Ok(b)) => a.cmp(&b),
                            (Ok(_), Err(_)) => Ordering::Less,
                            (Err(_), Ok(_)) => Ordering::Greater,
                            (Err(_), Err(_)) => a.cmp(b),
                        };
                        if order != Ordering::Equal {
                            return order;
                        }
                    }
                    self.pre.len().cmp(&other.pre.len())
                }
            }
        })
    }
}

impl PartialOrd for Semver<'_> {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// `GET /api/v1/agents/{id}`.
#[utoipa::path(
    get,
    path = "/api/v1/agents/{id}",
    operation_id = "show_agent",
    tag = "agents",
    security(("bearer" = ["viewer"])),
    params(("id" = String, Path, description = "Agent id")),
    responses(
        (status = 200, description = "The agent", body = crate::store::Agent),
    ),
)]
pub(super) async fn show(
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

/// `POST /api/v1/agents/{id}/revoke`: stored (and audited) first, then the
/// agent's open sessions are told, so a session that opens in between finds
/// the revocation in the store.
#[utoipa::path(
    post,
    path = "/api/v1/agents/{id}/revoke",
    operation_id = "revoke_agent",
    tag = "agents",
    security(("bearer" = ["admin"])),
    params(("id" = String, Path, description = "Agent id")),
    responses(
        (status = 200, description = "Revoked; its sessions ended", body = schemas::AgentRevoked),
    ),
)]
pub(super) async fn revoke(
    Admin(caller): Admin,
    AxumState(state): AxumState<Shared>,
    Path(id): Path<String>,
) -> Result<Json<Value>> {
    let revocation = Revocation {
        what: Revocable::Agent,
        id: id.clone(),
        by: caller.token_id,
        at: rollcall_proto::now_ms(),
    };
    if !state.store.revoke(&revocation).await? {
        return Err(Error::NotFound(format!("agent {id} (or already revoked)")));
    }
    let sessions = state.revocations.revoke(&id);
    tracing::warn!(agent_id = %id, sessions, "agent revoked");
    Ok(Json(json!({ "revoked": id, "sessions_ended": sessions })))
}

#[cfg(test)]
mod tests {
    use super::is_outdated;

    #[test]
    fn semver_precedence() {
        assert!(is_outdated("0.1.0", "0.2.0"));
        assert!(is_outdated("0.9.0", "0.10.0"), "numeric, not text");
        assert!(
            is_outdated("1.0.0-rc.1", "1.0.0"),
            "pre-release below release"
        );
        assert!(is_outdated("1.0.0-alpha", "1.0.0-alpha.1"));
        assert!(is_outdated("1.0.0-alpha.2", "1.0.0-alpha.10"));
        assert!(
            is_outdated("1.0.0-1", "1.0.0-beta"),
            "numeric below alphanumeric"
        );
        assert!(!is_outdated("1.0.0", "1.0.0"));
        assert!(
            !is_outdated("1.0.0+build.7", "1.0.0"),
            "build metadata ignored"
        );
        assert!(!is_outdated("2.0.0", "1.9.9"));
        for bad in ["", "test", "1.0", "1.0.0.0", "v1.0.0", "1.0.0-", "1..0"] {
            assert!(is_outdated(bad, "1.0.0"), "{bad:?} counts as outdated");
        }
    }
}
