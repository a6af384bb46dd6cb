//! Identity events: claims on a host CI owned by another agent
//! (`conflict`), take-overs of a CI whose owner was revoked or silent
//! (`takeover`), and ambiguous matches — fleet-wide (`/identity-events`) or
//! about one host (`/hosts/{id}/identity-events`), oldest first, paged by
//! event id.

use axum::extract::{Path, State as AxumState};
use axum::response::Response;
use serde::Deserialize;

use super::Shared;
use super::auth::Caller;
use super::extract::Query;
use super::list::{list_response, next_cursor, page_limit, to_values, wants_csv};
use super::schemas;
use crate::error::{Error, Result};
use crate::state::State;
use crate::store::IdentityEventFilter;

/// The kinds of identity event.
const KINDS: &[&str] = &["conflict", "takeover", "ambiguous"];

/// Query parameters of the identity event lists.
#[derive(Debug, Deserialize, Default, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(super) struct EventQuery {
    host_id: Option<String>,
    #[param(inline, value_type = Option<super::schemas::IdentityKind>)]
    kind: Option<String>,
    #[param(minimum = 1, maximum = 1000)]
    limit: Option<i64>,
    cursor: Option<String>,
    #[param(inline, value_type = Option<super::schemas::Format>)]
    format: Option<String>,
}

async fn events(state: &State, host_id: Option<String>, params: EventQuery) -> Result<Response> {
    let limit = page_limit(params.limit, 100, 1000)?;
    let csv = wants_csv(params.format.as_deref())?;
    if let Some(kind) = &params.kind
        && !KINDS.contains(&kind.as_str())
    {
        return Err(Error::InvalidInput(format!(
            "kind must be one of {}, got {kind:?}",
            KINDS.join(", ")
        )));
    }
    let after_id = params
        .cursor
        .as_deref()
        .map(|cursor| {
            cursor
                .parse::<i64>()
                .map_err(|_| Error::InvalidInput(format!("cursor {cursor:?} is not valid")))
        })
        .transpose()?;
    let filter = IdentityEventFilter {
        host_id: host_id.or(params.host_id),
        kind: params.kind,
        after_id,
        limit,
    };
    let rows = state.store.identity_events(&filter).await?;
    let next = next_cursor(&rows, limit, |row| row.id.to_string());
    Ok(list_response(to_values(&rows)?, next, csv))
}

/// `GET /api/v1/hosts/{id}/identity-events`: events where the host is the
/// CI claimed or the CI created for the claimant. An unknown host is a 404.
#[utoipa::path(
    get,
    path = "/api/v1/hosts/{id}/identity-events",
    operation_id = "host_identity_events",
    tag = "identity",
    security(("bearer" = ["viewer"])),
    params(("id" = String, Path, description = "Host id"), EventQuery),
    responses(
        (status = 200, description = "A page of the host's identity events", content((schemas::IdentityEventPage = "application/json"), (String = "text/csv"))),
    ),
)]
pub(super) async fn of_host(
    _caller: Caller,
    AxumState(state): AxumState<Shared>,
    Path(id): Path<String>,
    params: Result<Query<EventQuery>>,
) -> Result<Response> {
    super::extract::known_host(&state, &id).await?;
    let Query(params) = params?;
    events(&state, Some(id), params).await
}

/// `GET /api/v1/identity-events?host_id=&kind=`: the fleet-wide list.
#[utoipa::path(
    get,
    path = "/api/v1/identity-events",
    operation_id = "identity_events",
    tag = "identity",
    security(("bearer" = ["viewer"])),
    params(EventQuery),
    responses(
        (status = 200, description = "A page of identity events", content((schemas::IdentityEventPage = "application/json"), (String = "text/csv"))),
    ),
)]
pub(super) async fn fleet(
    _caller: Caller,
    AxumState(state): AxumState<Shared>,
    Query(params): Query<EventQuery>,
) -> Result<Response> {
    events(&state, None, params).await
}
