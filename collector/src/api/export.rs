//! Whole lists as CSV, streamed. A `GET` of a list in CSV (`format=csv` or
//! `Accept: text/csv`) that names neither `cursor` nor `limit` answers every
//! row, not one page: the first page goes out as soon as it is rendered, then
//! this layer asks the router for the next page (its `x-next-cursor`, the
//! caller's own token and filters) and sends it, without its header line,
//! until a page has no next cursor. The collector holds one page at a time,
//! whatever the list's size. A request naming `cursor` or `limit` gets that
//! one page and its `x-next-cursor`, as before.
//!
//! A page that fails after the first has gone out (the token revoked, the
//! store down) ends the body with an error, so the client sees a broken
//! transfer, never a list that looks complete.

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{StatusCode, header, request::Parts};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use futures::StreamExt as _;
use futures::stream;
use tower::ServiceExt;

use super::list::accept_csv;
use crate::error::Error;

/// The header naming the next page's cursor (set by `list::list_response`).
const NEXT_CURSOR: &str = "x-next-cursor";

/// At most this many bytes of one page are held (a page is at most 10,000
/// rows; a row of the widest list is a few KiB).
const PAGE_BYTES_MAX: usize = 256 * 1024 * 1024;

/// `router` answering whole CSV lists as streams; every other request goes to
/// `router` unchanged.
pub fn stream_csv_lists(router: Router) -> Router {
    router
        .clone()
        .layer(axum::middleware::from_fn_with_state(router, stream_csv))
}

async fn stream_csv(State(router): State<Router>, request: Request, next: Next) -> Response {
    let request = accept_csv(request).await;
    if !whole_csv_list(&request) {
        return next.run(request).await;
    }
    let (parts, _) = request.into_parts();
    let first = next
        .run(Request::from_parts(parts.clone(), Body::empty()))
        .await;
    let Some(cursor) = csv_next_cursor(&first) else {
        return first;
    };
    let (mut head, body) = first.into_parts();
    head.headers.remove(NEXT_CURSOR);
    head.headers.remove(header::CONTENT_LENGTH);
    let first_page = match axum::body::to_bytes(body, PAGE_BYTES_MAX).await {
        Ok(bytes) => bytes,
        Err(_) => return Error::Busy("the first page could not be read".into()).into_response(),
    };
    let columns = header_line(&first_page).to_vec();
    let pages = Pages {
        router,
        parts,
        columns,
        cursor: Some(cursor),
    };
    let rest = stream::unfold(pages, |mut pages| async move {
        let cursor = pages.cursor.take()?;
        Some(match pages.fetch(&cursor).await {
            Ok((rows, next)) => {
                // A cursor that does not move would repeat the page forever.
                pages.cursor = next.filter(|next| *next != cursor);
                (Ok(rows), pages)
            }
            Err(problem) => (Err(std::io::Error::other(problem)), pages),
        })
    });
    let body = stream::once(async move { Ok::<_, std::io::Error>(first_page) }).chain(rest);
    Response::from_parts(head, Body::from_stream(body))
}

/// The state between two pages of one streamed list.
struct Pages {
    router: Router,
    parts: Parts,
    /// The first page's header line, which every later page must repeat.
    columns: Vec<u8>,
    cursor: Option<String>,
}

impl Pages {
    /// The page after `cursor`: its rows without the header line, and the
    /// next cursor.
    async fn fetch(&self, cursor: &str) -> Result<(Bytes, Option<String>), String> {
        let mut parts = self.parts.clone();
        let path = parts.uri.path();
        let query = parts.uri.query().unwrap_or_default();
        let cursor_pair: String = form_urlencoded::Serializer::new(String::new())
            .append_pair("cursor", cursor)
            .finish();
        parts.uri = format!("{path}?{query}&{cursor_pair}")
            .parse()
            .map_err(|_| "the next page's address is not valid".to_string())?;
        let response = self
            .router
            .clone()
            .oneshot(Request::from_parts(parts, Body::empty()))
            .await
            .unwrap_or_else(|never| match never {});
        if response.status() != StatusCode::OK {
            return Err(format!("a later page failed: {}", response.status()));
        }
        let next = csv_next_cursor(&response);
        let page = axum::body::to_bytes(response.into_body(), PAGE_BYTES_MAX)
            .await
            .map_err(|_| "a later page could not be read".to_string())?;
        let columns = header_line(&page);
        if columns.is_empty() {
            return Ok((Bytes::new(), None));
        }
        if columns != self.columns.as_slice() {
            return Err("a later page has other columns than the first".into());
        }
        Ok((page.slice(columns.len()..), next))
    }
}

/// Whether `request` asks for a whole list in CSV: a `GET` with
/// `format=csv` and neither `cursor` nor `limit`.
fn whole_csv_list(request: &Request) -> bool {
    if request.method() != axum::http::Method::GET {
        return false;
    }
    let query = request.uri().query().unwrap_or_default();
    let mut csv = false;
    for (key, value) in form_urlencoded::parse(query.as_bytes()) {
        match &*key {
            "cursor" | "limit" => return false,
            "format" => csv = value == "csv",
            _ => {}
        }
    }
    csv
}

/// The next cursor of a successful CSV page, if it has one.
fn csv_next_cursor(response: &Response) -> Option<String> {
    let csv = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| value.starts_with("text/csv"));
    if response.status() != StatusCode::OK || !csv {
        return None;
    }
    response
        .headers()
        .get(NEXT_CURSOR)
        .and_then(|value| value.to_str().ok())
        .map(str::to_string)
}

/// A page's header line with its line end (column names have no line
/// breaks, so the first `\n` ends it).
fn header_line(page: &[u8]) -> &[u8] {
    match page.iter().position(|&byte| byte == b'\n') {
        Some(end) => &page[..=end],
        None => page,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(uri: &str) -> Request {
        Request::builder().uri(uri).body(Body::empty()).unwrap()
    }

    #[test]
    fn only_a_csv_get_without_cursor_or_limit_is_streamed() {
        assert!(whole_csv_list(&request("/api/v1/hosts?format=csv")));
        assert!(whole_csv_list(&request("/api/v1/hosts?name=a*&format=csv")));
        assert!(!whole_csv_list(&request("/api/v1/hosts")));
        assert!(!whole_csv_list(&request("/api/v1/hosts?format=json")));
        assert!(!whole_csv_list(&request(
            "/api/v1/hosts?format=csv&limit=5"
        )));
        assert!(!whole_csv_list(&request(
            "/api/v1/hosts?format=csv&cursor=x"
        )));
        // An encoded key is the same key to the handler's parser.
        assert!(!whole_csv_list(&request(
            "/api/v1/hosts?format=csv&%63ursor=x"
        )));
        let post = Request::builder()
            .method("POST")
            .uri("/api/v1/hosts?format=csv")
            .body(Body::empty())
            .unwrap();
        assert!(!whole_csv_list(&post));
    }

    #[test]
    fn the_header_line_ends_at_the_first_line_break() {
        assert_eq!(header_line(b"a,b\n1,2\n"), b"a,b\n");
        assert_eq!(header_line(b"a,b"), b"a,b");
        assert_eq!(header_line(b""), b"");
    }
}
