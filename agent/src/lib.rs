//! Rollcall agent library: discovery of inventory and health on the local
//! host (`discovery`, `health`, `checks`), inventory deltas (`delta`),
//! enrollment (`enroll`) and certificate renewal (`renew`), the on-disk spool (`spool`) and what else survives
//! a restart (`durable`), and the runtime: the producer loops (`runtime`),
//! the session with the collector (`session`) and planned stops (`stop`),
//! which share one lock-guarded state (`shared`).

pub mod checks;
pub mod config;
pub mod delta;
pub mod discovery;
pub mod durable;
pub mod enroll;
pub mod error;
pub mod example_config;
pub use rollcall_proto::files;
pub mod health;
pub mod renew;
pub mod runtime;
pub mod session;
mod shared;
pub mod spool;
pub mod stop;
