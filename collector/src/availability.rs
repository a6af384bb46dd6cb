//! Presence and availability: the per-host state machine (`presence`), the
//! monitor that drives it and records outages and incidents (`monitor`),
//! the availability arithmetic (`report`), and the fleet report over a
//! window that reads the store and uses it (`fleet`).

pub mod fleet;
pub mod monitor;
pub mod presence;
pub mod report;
