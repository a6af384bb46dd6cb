//! The shared state handed to the API (`api`) and the agent pipeline
//! (`ingest`). A leaf: it imports neither, so both can depend on it and
//! tests can build one without starting a server.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::availability::monitor::Monitor;
use crate::config::Config;
use crate::incidents::engine::Engine;
use crate::integrations::Integrations;
use crate::metrics::Metrics;
use crate::pki::Pki;
use crate::rate::{Limiter, SourceLimiter};
use crate::revocation::Revocations;
use crate::store::{Seen, Store};

/// State shared by the gRPC service and the API.
#[derive(Debug)]
pub struct State {
    /// Configuration in effect.
    pub config: Config,
    /// The store.
    pub store: Arc<dyn Store>,
    /// The CA and server identity.
    pub pki: Pki,
    /// Global ingest limit.
    pub global_limiter: Limiter,
    /// Enrollment attempts limit, all sources together.
    pub enroll_limiter: Limiter,
    /// Enrollment attempts limit per source address.
    pub enroll_source_limiter: SourceLimiter,
    /// Cancelled at shutdown.
    pub shutdown: CancellationToken,
    /// Agent session tasks (and their readers), so shutdown can wait for them.
    pub sessions: TaskTracker,
    /// Open agent sessions.
    pub open_sessions: AtomicI64,
    /// The open sessions of each agent, ended when it is revoked.
    pub revocations: Revocations,
    /// Ingest counters.
    pub metrics: Metrics,
    /// Presence of every host.
    pub monitor: Arc<Monitor>,
    /// Incidents.
    pub engine: Engine,
    /// Integration targets and their delivery state.
    pub integrations: Arc<Integrations>,
    seen_sender: mpsc::Sender<Seen>,
}

/// The parts a `State` is built from; the rest (limiters, engine, counters)
/// follows from the configuration.
#[derive(Debug)]
pub struct Parts {
    /// Configuration in effect.
    pub config: Config,
    /// The store.
    pub store: Arc<dyn Store>,
    /// The CA and server identity.
    pub pki: Pki,
    /// Presence of every host.
    pub monitor: Arc<Monitor>,
    /// Integration targets.
    pub integrations: Arc<Integrations>,
    /// Where liveness signals go (the batch writer in `ingest::liveness`).
    pub seen_sender: mpsc::Sender<Seen>,
    /// Cancelled at shutdown.
    pub shutdown: CancellationToken,
}

impl State {
    /// Builds the state from its parts.
    pub fn new(parts: Parts) -> Self {
        let Parts {
            config,
            store,
            pki,
            monitor,
            integrations,
            seen_sender,
            shutdown,
        } = parts;
        State {
            engine: Engine::new(store.clone()),
            global_limiter: Limiter::new(config.ingest.global_rate, config.ingest.global_rate),
            enroll_limiter: Limiter::new(config.ingest.enroll_rate, config.ingest.enroll_burst),
            enroll_source_limiter: SourceLimiter::new(
                config.ingest.enroll_rate_per_source,
                config.ingest.enroll_burst_per_source,
            ),
            config,
            store,
            pki,
            shutdown,
            sessions: TaskTracker::new(),
            open_sessions: AtomicI64::new(0),
            revocations: Revocations::default(),
            metrics: Metrics::default(),
            monitor,
            integrations,
            seen_sender,
        }
    }

    /// Queues a liveness signal for the batch writer.
    pub async fn seen(&self, seen: Seen) {
        if self.seen_sender.send(seen).await.is_err() {
            tracing::debug!("liveness writer stopped; signal dropped at shutdown");
        }
    }

    pub(crate) fn sessions_opened(&self) {
        self.open_sessions.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn sessions_closed(&self) {
        self.open_sessions.fetch_sub(1, Ordering::Relaxed);
    }
}
