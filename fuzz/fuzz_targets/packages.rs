//! The package database parsers (`/var/lib/dpkg/status`, `rpm -qa` output,
//! `/lib/apk/db/installed`) on arbitrary text: they must never panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rollcall_agent::discovery::packages::{
    parse_apk_installed, parse_dpkg_status, parse_rpm_query,
};

fuzz_target!(|data: &[u8]| {
    // The agent reads these files lossily (`root::read_lossy`), so any bytes
    // reach the parsers as a `&str` with replacement characters.
    let text = String::from_utf8_lossy(data);
    let _ = parse_dpkg_status(&text);
    let _ = parse_rpm_query(&text);
    let _ = parse_apk_installed(&text);
});
