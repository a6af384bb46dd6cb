//! Rollcall wire protocol `rollcall.v1`: generated messages and the gRPC
//! client and server for the agent-facing service, plus small helpers shared
//! by the agent and the collector.

/// Generated code for the `rollcall.v1` package (documented in
/// `protos/rollcall/v1/rollcall.proto`; prost copies only some comments).
#[allow(missing_docs)]
pub mod v1 {
    tonic::include_proto!("rollcall.v1");
}

/// Largest message either side accepts on the wire (4 MiB).
pub const MAX_MESSAGE_BYTES: usize = 4 * 1024 * 1024;

/// Milliseconds since the Unix epoch, now.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|elapsed| elapsed.as_millis() as i64)
        .unwrap_or(0)
}

pub mod codec;
pub mod files;
pub mod inventory;
