//! The CMDB: identification and reconciliation of hosts, and the diff of an
//! incoming inventory against the stored configuration items.

pub mod diff;
pub mod lifecycle;
pub mod reconcile;
pub mod version;
