//! Presence and availability: the per-host state machine (`presence`), the
//! monitor that drives it and records outages and incidents (`monitor`),
//! and the availability arithmetic (`report`).

pub mod monitor;
pub mod presence;
pub mod report;
