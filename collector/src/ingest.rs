//! The agent-facing pipeline: the port's TLS accept loop and its time-outs
//! (`accept`), the tonic service (`grpc`, with `wire` counting its bytes),
//! enrolment (`enroll`), one session's sequence numbers, limits and
//! back-pressure (`session`, free of tonic types, and its `reader`), validation then application of each
//! message (`dispatch`), the limits on every message (`validate`), the digest
//! check of a reconnecting agent (`resync`), the batched heard-from writes
//! (`liveness`), certificate renewal (`renew`), and revocations served by
//! another collector of a group (`revocation_watch`); `stream` holds the
//! session's `Inbound`, `Outbound` and `SessionError`.

pub mod accept;
pub mod dispatch;
pub mod enroll;
pub mod frames;
pub mod grpc;
pub mod liveness;
pub mod reader;
pub mod renew;
pub mod resync;
pub mod revocation_watch;
pub mod session;
pub mod stream;
pub mod validate;
pub mod wire;
