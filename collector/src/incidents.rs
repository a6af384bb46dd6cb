//! Incidents: the events they emit for integrations (`event`), the engine
//! that opens, deduplicates, damps and resolves them, the health rules with
//! their per-host caps (`health`), and the cleaning of agent-chosen text
//! (`text`).

pub mod engine;
pub mod event;
pub mod health;
pub mod stale;
pub mod text;
