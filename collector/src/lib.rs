//! Rollcall collector: receives agent sessions over gRPC with mTLS
//! and validates and applies what they send (`ingest`), keeps the CMDB
//! (`cmdb`, `store`), serves the REST API (`api`), and owns its certificate
//! authority (`pki`), and delivers incidents to ITSM targets
//! (`integrations`). `server` wires them together; `cli` is the `rollcall`
//! command.

pub mod api;
pub mod auth;
pub mod availability;
pub mod cli;
pub mod cmdb;
pub mod config;
pub mod console;
pub mod error;
pub use rollcall_proto::files;
pub mod incidents;
pub mod ingest;
pub mod integrations;
pub mod metrics;
pub mod net;
pub mod pki;
pub mod rate;
pub mod revocation;
pub mod server;
pub mod state;
pub mod store;
