//! Rollcall agent library: discovery of inventory and health on the local
//! host (`discovery`, `health`, `checks`), inventory deltas (`delta`),
//! enrollment (`enroll`), the on-disk spool (`spool`, `state`) and the
//! session with the collector (`transport`).

pub mod checks;
pub mod config;
pub mod delta;
pub mod discovery;
pub mod enroll;
pub mod error;
pub mod health;
pub mod spool;
pub mod state;
pub mod transport;
