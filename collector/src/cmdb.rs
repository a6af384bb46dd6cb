//! The CMDB: identification and reconciliation of hosts, and the diff of an
//! incoming inventory against the stored configuration items, version
//! ordering, and the software catalogue with its version filters.

pub mod catalogue;
pub mod diff;
pub mod history;
pub mod lifecycle;
pub mod reconcile;
pub mod software;
pub mod version;
