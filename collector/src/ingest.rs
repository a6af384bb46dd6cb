//! The agent-facing pipeline: the tonic service (`grpc`, with `wire` counting
//! its bytes), enrolment (`enroll`), one session's sequence numbers, limits
//! and dispatch (`session`, free of tonic types), the limits on every message
//! (`validate`), the digest check of a reconnecting agent (`resync`), the
//! batched heard-from writes (`liveness`), and certificate renewal (`renew`).

pub mod enroll;
pub mod grpc;
pub mod liveness;
pub mod renew;
pub mod resync;
pub mod session;
pub mod validate;
pub mod wire;
