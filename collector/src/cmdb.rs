//! The CMDB: identification and reconciliation of hosts, and the diff of an
//! incoming inventory against the stored configuration items, version
//! ordering, the software catalogue with its version filters, and bounded
//! health storage (`rollup`: the pure bucket arithmetic; `retention`: the
//! background job that rolls raw samples up and expires them).

pub mod catalogue;
pub mod diff;
pub mod history;
pub mod lifecycle;
pub mod reconcile;
pub mod retention;
pub mod rollout;
pub mod rollup;
pub mod series;
pub mod software;
pub mod summary;
pub mod version;
