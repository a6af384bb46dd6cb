//! API query parsing: arbitrary query strings through axum's `Query`
//! extractor into the list parameter structs, then the collector's own
//! parameter parsing (page sizes, CSV, cursors, windows) and the host list's
//! parser (every filter, version bounds, sort, keyset cursor).
//! A bad query must be an error, never a panic.
#![no_main]

use axum::extract::Query;
use libfuzzer_sys::fuzz_target;
use rollcall_collector::api::availability::parse_window;
use rollcall_collector::api::host_query;
use rollcall_collector::api::list::{Filters, ListQuery};

fuzz_target!(|data: &[u8]| {
    let Ok(query) = std::str::from_utf8(data) else {
        return;
    };
    // The query as a request line would carry it; axum reads `uri.query()`.
    let Ok(uri) = format!("/api/v1/hosts?{query}").parse::<http::Uri>() else {
        return;
    };
    if let Ok(Query(list)) = Query::<ListQuery>::try_from_uri(&uri) {
        let _ = list.limit();
        let _ = list.csv();
        let _ = list.numeric_cursor();
    }
    if let Ok(Query(filters)) = Query::<Filters>::try_from_uri(&uri) {
        let _ = filters.limit();
        let _ = filters.csv();
    }
    // Every value as a window (`window=30d`), and the raw text too.
    let _ = parse_window(query);
    if let Ok(pairs) = serde_urlencoded::from_str::<Vec<(String, String)>>(query) {
        // The host list's own parser (filters, version bounds, sort, cursor).
        if let Ok(request) = host_query::parse(&pairs) {
            let _ = request.query.limit;
        }
        for (_, value) in pairs {
            let _ = parse_window(&value);
        }
    }
});
