//! Request extractors whose rejection is our [`Error`]: a malformed query
//! string or JSON body answers 400 with the API's JSON error body
//! (`{"error": "invalid input: …"}`) instead of axum's plain-text rejection.

use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use serde::de::DeserializeOwned;

use crate::error::Error;

/// Longest query string accepted (bytes, as sent): every filter value is
/// far shorter, and no value reaches a database limit (SQLite refuses LIKE
/// patterns over 50,000 bytes).
pub const MAX_QUERY_BYTES: usize = 8192;

/// A query string deserialized into `T`; a bad one (or one longer than
/// [`MAX_QUERY_BYTES`]) is `Error::InvalidInput`.
#[derive(Debug, Clone, Copy, Default)]
pub struct Query<T>(pub T);

impl<T, S> FromRequestParts<S> for Query<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Error> {
        let length = parts.uri.query().map_or(0, str::len);
        if length > MAX_QUERY_BYTES {
            return Err(Error::InvalidInput(format!(
                "the query string is {length} bytes: at most {MAX_QUERY_BYTES}"
            )));
        }
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

/// The API's error body for what axum's own extractors reject (a path
/// segment that is not UTF-8, a missing body): a plain-text error answer
/// becomes `{"error": "invalid input: …"}` with the same status, so every
/// error the API gives is JSON. Other answers pass untouched.
pub async fn json_errors(response: axum::response::Response) -> axum::response::Response {
    use axum::http::header;
    use axum::response::IntoResponse;
    let plain = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|kind| kind.starts_with("text/plain"));
    let status = response.status();
    if !plain || !(status.is_client_error() || status.is_server_error()) {
        return response;
    }
    // A rejection's text is short; anything longer is cut, not buffered.
    let text = match axum::body::to_bytes(response.into_body(), 4096).await {
        Ok(bytes) => String::from_utf8_lossy(&bytes).into_owned(),
        Err(_) => "the request was refused".to_string(),
    };
    let message = if status.is_client_error() {
        format!("invalid input: {text}")
    } else {
        "internal error".to_string()
    };
    (status, axum::Json(serde_json::json!({ "error": message }))).into_response()
}
