//! Version ordering (dpkg, rpm, apk): no panic on any pair, and the
//! ordering is consistent: `compare(a, a)` is `Equal` and
//! `compare(a, b)` is `compare(b, a).reverse()`.
#![no_main]

use std::cmp::Ordering;

use libfuzzer_sys::fuzz_target;
use rollcall_collector::cmdb::version::compare;

fuzz_target!(|data: &[u8]| {
    // Two versions separated by the first newline (the corpus files are
    // `a\nb`); versions come from agents as protobuf strings, so UTF-8.
    let text = String::from_utf8_lossy(data);
    let (a, b) = text.split_once('\n').unwrap_or((&text, ""));
    for manager in ["dpkg", "rpm", "apk"] {
        assert_eq!(
            compare(manager, a, a),
            Ordering::Equal,
            "{manager}: {a:?} vs itself"
        );
        assert_eq!(
            compare(manager, b, b),
            Ordering::Equal,
            "{manager}: {b:?} vs itself"
        );
        let forward = compare(manager, a, b);
        let backward = compare(manager, b, a);
        assert_eq!(forward, backward.reverse(), "{manager}: {a:?} vs {b:?}");
    }
});
