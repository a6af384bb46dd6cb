//! Protobuf decoding plus validation: arbitrary bytes decoded as an
//! `AgentMessage` (as the collector's codec does) and every validation the
//! session applies to its body. Nothing may panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use prost::Message;
use rollcall_collector::ingest::validate;
use rollcall_proto::v1::AgentMessage;
use rollcall_proto::v1::agent_message::Body;

/// A fixed "now" (2026-01-01), so a crash reproduces on any day.
const NOW_MS: i64 = 1_767_225_600_000;

fuzz_target!(|data: &[u8]| {
    let Ok(message) = AgentMessage::decode(data) else {
        return;
    };
    let _ = validate::check_timestamp("sent_at_ms", message.sent_at_ms, NOW_MS);
    match message.body {
        Some(Body::Hello(hello)) => {
            let _ = validate::host_identity(&hello.identity.unwrap_or_default());
        }
        Some(Body::Snapshot(snapshot)) => {
            let _ = validate::snapshot_change(&snapshot.inventory.unwrap_or_default(), NOW_MS);
        }
        Some(Body::Delta(delta)) => {
            let _ = validate::delta_change(&delta, NOW_MS);
        }
        Some(Body::Health(report)) => {
            let _ = validate::check_timestamp("sampled_at_ms", report.sampled_at_ms, NOW_MS);
        }
        Some(Body::Heartbeat(_) | Body::Checks(_) | Body::Goodbye(_)) | None => {}
    }
});
