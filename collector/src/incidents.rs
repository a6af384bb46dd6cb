//! Incidents: the events they emit for integrations (`event`), and the
//! engine that opens, deduplicates, damps and resolves them.

pub mod engine;
pub mod event;
pub mod stale;
