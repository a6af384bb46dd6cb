//! Presence and availability: the per-host state machine (`presence`), the
//! monitor that drives it and records outages and incidents (`monitor`),
//! the availability arithmetic (`report`), the fleet report over a window
//! that reads the store and uses it (`fleet`), the bounds on every time
//! they accept (`bounds`), calendar periods in a time zone (`period`), and
//! which maintenance windows count (`maintenance`).

pub mod bounds;
pub mod fleet;
pub mod maintenance;
pub mod monitor;
pub mod period;
pub mod presence;
pub mod report;
