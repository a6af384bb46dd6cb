//! Request extractors whose rejection is our [`Error`]: a malformed query
//! string or JSON body answers 400 with the API's JSON error body
//! (`{"error": "invalid input: …"}`) instead of axum's plain-text rejection.

use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use serde::de::DeserializeOwned;

use crate::error::Error;

/// A query string deserialized into `T`; a bad one is `Error::InvalidInput`.
#[derive(Debug, Clone, Copy, Default)]
pub struct Query<T>(pub T);

impl<T, S> FromRequestParts<S> for Query<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Error> {
        axum::extract::Query::<T>::from_request_parts(parts, state)
            .await
            .map(|axum::extract::Query(value)| Query(value))
            .map_err(|rejection| Error::InvalidInput(rejection.body_text()))
    }
}

/// A JSON body deserialized into `T`; a bad one (or a missing
/// `Content-Type: application/json`) is `Error::InvalidInput`.
#[derive(Debug, Clone, Copy, Default)]
pub struct Json<T>(pub T);

impl<T, S> FromRequest<S> for Json<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = Error;

    async fn from_request(request: Request, state: &S) -> Result<Self, Error> {
        axum::Json::<T>::from_request(request, state)
            .await
            .map(|axum::Json(value)| Json(value))
            .map_err(|rejection| Error::InvalidInput(rejection.body_text()))
    }
}

/// The host `id`, or a 404 naming it: checked by the per-host routes of
/// other resources before their query, so an unknown host is a 404 even when
/// the query is bad too.
pub(crate) async fn known_host(
    state: &crate::state::State,
    id: &str,
) -> Result<crate::store::Host, Error> {
    state
        .store
        .host(id)
        .await?
        .ok_or_else(|| Error::NotFound(format!("host {id}")))
}
