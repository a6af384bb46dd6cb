//! Incidents: the events they emit for integrations (`event`), the engine
//! that opens, deduplicates, damps and resolves them, the health rules with
//! their per-host caps (`health`), the degraded time an open critical
//! incident records on its host (`degraded`), and the cleaning of
//! agent-chosen text (`text`).

pub mod degraded;
pub mod engine;
pub mod event;
pub mod health;
pub mod stale;
pub mod text;
