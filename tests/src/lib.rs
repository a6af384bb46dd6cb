//! Harness for the end-to-end tests: builds and starts the real
//! `rollcall-collector` and `rollcall-agent` binaries on loopback, talks to
//! the REST API, and waits for conditions with deadlines.
//!
//! One module per concern, their items re-exported here so tests name them
//! as `rollcall_tests::Collector`, `rollcall_tests::wait_for` and so on:
//! `binaries` finds (or builds) the workspace binaries, `process` holds a
//! started one, `collector` and `agent` drive the two programs, `wait`
//! polls with a deadline, `inventory` compares inventories, `fixtures`
//! provides ports, PostgreSQL schemas and fake host roots, and `raw` is a
//! gRPC client that sends raw bytes. `vendors` fakes the integration
//! targets, `events` writes incident events, and `loadgen`, `footprint`
//! and `healthbench` are the benchmarks' logic.

mod agent;
mod binaries;
mod collector;
mod fixtures;
mod inventory;
mod process;
mod wait;

pub mod events;
pub mod footprint;
pub mod healthbench;
pub mod loadgen;
pub mod raw;
pub mod source;
pub mod vendors;

pub use agent::Agent;
pub use binaries::{bin, bin_dir, use_bin_dir};
pub use collector::{Collector, CollectorOptions, metric};
pub use fixtures::{copy_tree, fake_host_root, free_port, in_ci, postgres_url, tool_on_path};
pub use inventory::{dpkg_installed_count, inventory_by_class, normalise_api_inventory};
pub use process::Process;
pub use wait::wait_for;
