//! The monitor: feeds session and heartbeat signals into the presence state
//! machine, ticks it, and records what follows: presence changes at once,
//! outages (beginning at the last heartbeat), host-down incidents with
//! maintenance windows (a host silent inside one is in `maintenance` until
//! it ends, then `down`), storm control, dependencies and flap damping.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use serde_json::json;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::availability::maintenance;
use crate::availability::presence::{HostPresence, Presence, State, Transition};
use crate::config::Config;
use crate::error::Result;
use crate::incidents::engine::{Engine, IncidentSpec, Opened, dedup_key};
use crate::incidents::event::Severity;
use crate::store::Store;
use crate::store::{DEPENDS_ON, NewOutage};

/// Rule name of host-down incidents (declared beside degraded time, which
/// every other critical incident records).
pub use crate::incidents::degraded::HOST_DOWN;
/// CI id of collector-wide incidents (storms).
pub const COLLECTOR_CI: &str = "collector";

/// Feeds presence; shared with the gRPC service.
#[derive(Debug)]
pub struct Monitor {
    presence: Mutex<Presence>,
    sender: mpsc::UnboundedSender<Transition>,
    /// Clock time of the last tick whose outages and incidents are recorded.
    ticked: AtomicI64,
}

impl Monitor {
    fn lock(&self) -> MutexGuard<'_, Presence> {
        self.presence
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn forward(&self, transitions: Vec<Transition>) {
        for transition in transitions {
            let _ = self.sender.send(transition);
        }
    }

    /// Any message from a host.
    pub fn heard(&self, host_id: &str, at: i64) {
        let transitions = self.lock().heard(host_id, at);
        self.forward(transitions);
    }

    /// A session closed without goodbye.
    pub fn session_closed(&self, host_id: &str, at: i64) {
        let transitions = self.lock().session_closed(host_id, at);
        self.forward(transitions);
    }

    /// A planned absence.
    pub fn goodbye(&self, host_id: &str, reason: &str, back_within_ms: i64, at: i64) {
        let transitions = self.lock().goodbye(host_id, reason, back_within_ms, at);
        self.forward(transitions);
    }

    /// The host's CI was retired: no longer watched; its open outages end
    /// and its host-down incident resolves at `at`.
    pub fn retire(&self, host_id: &str, at: i64) {
        let transitions = self.lock().retire(host_id, at);
        self.forward(transitions);
    }

    /// Hosts per presence state.
    pub fn counts(&self) -> HashMap<State, usize> {
        self.lock().counts()
    }

    /// Clock time (ms) of the last tick that has been recorded in full:
    /// everything heard before that tick and every outage and incident it
    /// found are in the store (0 before the first tick).
    pub fn last_tick_ms(&self) -> i64 {
        self.ticked.load(Ordering::SeqCst)
    }
}

struct Recorder {
    store: Arc<dyn Store>,
    engine: Engine,
    config: Config,
    storm: Option<(String, i64)>,
    clock: Clock,
    downs: HashMap<String, VecDeque<i64>>,
    pending_resolve: HashMap<String, i64>,
}

/// Starts the monitor: restores presence from the store and spawns its task.
pub async fn start(
    store: Arc<dyn Store>,
    config: Config,
    shutdown: CancellationToken,
    tasks: &tokio_util::task::TaskTracker,
) -> Result<Arc<Monitor>> {
    start_with_clock(
        store,
        config,
        Arc::new(rollcall_proto::now_ms),
        shutdown,
        tasks,
    )
    .await
}

/// The time source of the monitor, in ms since the Unix epoch.
pub type Clock = Arc<dyn Fn() -> i64 + Send + Sync>;

/// Like `start`, with a given clock (tests drive time with it).
pub async fn start_with_clock(
    store: Arc<dyn Store>,
    config: Config,
    clock: Clock,
    shutdown: CancellationToken,
    tasks: &tokio_util::task::TaskTracker,
) -> Result<Arc<Monitor>> {
    let now = clock();
    let mut presence = Presence::new(
        config.down_after_ms(),
        now.saturating_add(config.startup_grace_ms()),
    );
    for row in store.load_presence().await? {
        let state = match State::parse(&row.presence) {
            Some(state) => state,
            None => continue,
        };
        // A stored maintenance without its end (never written so) is down.
        let state = match (state, row.away_until) {
            (State::Maintenance, None) => State::Down,
            (state, _) => state,
        };
        presence.restore(
            row.id,
            HostPresence {
                state,
                last_heartbeat: row.last_seen_at,
                away_until: row.away_until,
            },
        );
    }
    let (sender, receiver) = mpsc::unbounded_channel();
    let monitor = Arc::new(Monitor {
        presence: Mutex::new(presence),
        sender,
        ticked: AtomicI64::new(0),
    });
    let recorder = Recorder {
        engine: Engine::new(store.clone()),
        store,
        config,
        storm: None,
        clock,
        downs: HashMap::new(),
        pending_resolve: HashMap::new(),
    };
    tasks.spawn(run(monitor.clone(), recorder, receiver, shutdown));
    Ok(monitor)
}

async fn run(
    monitor: Arc<Monitor>,
    mut recorder: Recorder,
    mut receiver: mpsc::UnboundedReceiver<Transition>,
    shutdown: CancellationToken,
) {
    let mut ticker =
        tokio::time::interval(Duration::from_millis(recorder.config.availability.tick_ms));
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let late_ms = 1500 * i64::from(recorder.config.agents.heartbeat_interval_s);
    loop {
        tokio::select! {
            transition = receiver.recv() => {
                let Some(transition) = transition else { return };
                if let Err(error) = recorder.record(&monitor, vec![transition], 0, 0).await {
                    tracing::error!(error = %error, "cannot record presence transition");
                }
            }
            _ = ticker.tick() => {
                let now = (recorder.clock)();
                // Transitions forwarded before this tick are recorded first, in order.
                let mut queued = Vec::new();
                while let Ok(transition) = receiver.try_recv() {
                    queued.push(transition);
                }
                if !queued.is_empty()
                    && let Err(error) = recorder.record(&monitor, queued, 0, 0).await
                {
                    tracing::error!(error = %error, "cannot record presence transitions");
                }
                let (transitions, late, total) = {
                    let mut presence = monitor.lock();
                    let transitions = presence.tick(now);
                    let late = presence.late(now, late_ms);
                    (transitions, late, presence.counts().values().sum::<usize>())
                };
                if let Err(error) = recorder.record(&monitor, transitions, late, total).await {
                    tracing::error!(error = %error, "cannot record outages");
                }
                if let Err(error) = recorder.resolve_stable(&monitor, now).await {
                    tracing::error!(error = %error, "cannot resolve recovered incidents");
                }
                monitor.ticked.store(now, Ordering::SeqCst);
            }
            _ = shutdown.cancelled() => return,
        }
    }
}

impl Recorder {
    async fn record(
        &mut self,
        monitor: &Monitor,
        transitions: Vec<Transition>,
        late: usize,
        total: usize,
    ) -> Result<()> {
        let went_down = transitions
            .iter()
            .filter(|t| {
                matches!(
                    t,
                    Transition::WentDown { .. } | Transition::MissedDeadline { .. }
                )
            })
            .count();
        let storm = self.storm_parent(went_down, late, total).await?;
        for transition in transitions {
            match transition {
                Transition::Changed { host_id, state, at } => {
                    let (until, reason) = match state {
                        State::Away => match self.store.host(&host_id).await? {
                            Some(host) => (host.away_until, host.away_reason),
                            None => (None, None),
                        },
                        _ => (None, None),
                    };
                    self.store
                        .set_presence(&host_id, state.as_str(), at, until, reason.as_deref())
                        .await?;
                }
                Transition::WentDown {
                    host_id,
                    last_heartbeat,
                    at,
                } => {
                    let planned = self
                        .down(
                            &host_id,
                            last_heartbeat,
                            at,
                            "no heartbeat".into(),
                            storm.clone(),
                        )
                        .await?;
                    self.maintenance(monitor, &host_id, at, planned).await?;
                }
                Transition::MissedDeadline {
                    host_id,
                    was,
                    deadline,
                    at,
                } => {
                    self.store.close_outages(&host_id, deadline).await?;
                    let cause = if was == State::Maintenance {
                        "still silent when its maintenance window ended"
                    } else {
                        "did not return by the announced deadline"
                    };
                    let planned = self
                        .down(&host_id, deadline, at, cause.into(), storm.clone())
                        .await?;
                    self.maintenance(monitor, &host_id, at, planned).await?;
                }
                Transition::WentAway {
                    host_id,
                    reason,
                    last_heartbeat,
                    until,
                } => {
                    self.store
                        .set_presence(
                            &host_id,
                            State::Away.as_str(),
                            last_heartbeat,
                            Some(until),
                            Some(&reason),
                        )
                        .await?;
                    let outage = NewOutage {
                        id: crate::auth::new_id(),
                        host_id: host_id.clone(),
                        kind: "planned".into(),
                        cause: reason,
                        began_at: last_heartbeat,
                        detected_at: last_heartbeat,
                    };
                    self.store.open_outage(&outage).await?;
                }
                Transition::Recovered { host_id, at, .. } => self.recovered(&host_id, at).await?,
                Transition::Retired { host_id, at } => self.retired(&host_id, at).await?,
            }
        }
        Ok(())
    }

    /// Opens (or keeps) the storm parent when many hosts go dark together.
    async fn storm_parent(
        &mut self,
        went_down: usize,
        late: usize,
        total: usize,
    ) -> Result<Option<String>> {
        let now = (self.clock)();
        let window = self.config.down_after_ms().saturating_mul(2);
        if let Some((incident_id, started)) = &self.storm {
            let still_open = self
                .store
                .incident(incident_id)
                .await?
                .is_some_and(|incident| incident.state != "resolved");
            if still_open && now.saturating_sub(*started) <= window {
                return Ok(Some(incident_id.clone()));
            }
            self.storm = None;
        }
        let affected = went_down + late;
        let availability = &self.config.availability;
        if went_down == 0
            || total == 0
            || affected < availability.storm_min_hosts
            || (affected as f64) < availability.storm_share * total as f64
        {
            return Ok(None);
        }
        let spec = IncidentSpec {
            ci_id: COLLECTOR_CI.into(),
            rule: "storm".into(),
            severity: Severity::Critical,
            summary: format!("{affected} hosts unreachable from collector"),
            description: format!(
                "{affected} of {total} monitored hosts went silent within one detection window; per-host incidents are linked to this one and not notified"
            ),
            details: json!({ "hosts": affected, "monitored": total }),
            suppressed: false,
            parent_id: None,
        };
        let opened = self.engine.open(spec, now).await?;
        let id = opened.incident().id.clone();
        tracing::warn!(incident_id = %id, hosts = affected, "outage storm: one parent incident");
        self.storm = Some((id.clone(), now));
        Ok(Some(id))
    }

    /// A host declared down inside a maintenance window is in
    /// `maintenance` until the window ends (unless heard from meanwhile).
    async fn maintenance(
        &self,
        monitor: &Monitor,
        host_id: &str,
        at: i64,
        planned: Option<(String, i64)>,
    ) -> Result<()> {
        let Some((reason, until)) = planned else {
            return Ok(());
        };
        if monitor.lock().enter_maintenance(host_id, until) {
            self.store
                .set_presence(
                    host_id,
                    State::Maintenance.as_str(),
                    at,
                    Some(until),
                    Some(&reason),
                )
                .await?;
        }
        Ok(())
    }

    /// The reason of a maintenance window covering the host at `at` and
    /// when that maintenance ends; stored windows out of bounds are skipped
    /// (see `maintenance::usable`).
    async fn in_maintenance(&self, host_id: &str, at: i64) -> Result<Option<(String, i64)>> {
        let windows = self.store.maintenance_windows().await?;
        if windows.is_empty() {
            return Ok(None);
        }
        let tags = self
            .store
            .host(host_id)
            .await?
            .map(|host| host.tags_list())
            .unwrap_or_default();
        let memberships = self.store.services_of(host_id).await?;
        Ok(maintenance::covering_until(
            windows,
            host_id,
            &tags,
            &memberships,
            at,
        ))
    }

    /// The open host-down incident of a parent this host depends on, when that parent is not up.
    async fn down_parent(&self, host_id: &str) -> Result<Option<(String, Option<String>)>> {
        for relationship in self.store.relationships(Some(host_id)).await? {
            if relationship.kind != DEPENDS_ON || relationship.child_id != host_id {
                continue;
            }
            let Some(parent) = self.store.host(&relationship.parent_id).await? else {
                continue;
            };
            if parent.presence != State::Up.as_str() {
                let incident = self
                    .store
                    .open_incident(&dedup_key(&parent.id, HOST_DOWN))
                    .await?
                    .map(|incident| incident.id);
                return Ok(Some((parent.id, incident)));
            }
        }
        Ok(None)
    }

    async fn down(
        &mut self,
        host_id: &str,
        began_at: i64,
        at: i64,
        cause: String,
        storm: Option<String>,
    ) -> Result<Option<(String, i64)>> {
        let maintenance = self.in_maintenance(host_id, at).await?;
        let outage = NewOutage {
            id: crate::auth::new_id(),
            host_id: host_id.to_string(),
            kind: if maintenance.is_some() {
                "planned".into()
            } else {
                "unplanned".into()
            },
            cause: maintenance
                .as_ref()
                .map_or_else(|| cause.clone(), |(reason, _)| reason.clone()),
            began_at,
            detected_at: at,
        };
        self.store.open_outage(&outage).await?;
        if maintenance.is_some() {
            tracing::info!(
                host_id,
                "host down inside a maintenance window: planned outage, no incident"
            );
            return Ok(maintenance);
        }
        let flaps = self.downs.entry(host_id.to_string()).or_default();
        flaps.push_back(at);
        let window_ms = i64::try_from(self.config.availability.flap_window_s)
            .unwrap_or(i64::MAX)
            .saturating_mul(1000);
        while flaps
            .front()
            .is_some_and(|first| at.saturating_sub(*first) > window_ms)
        {
            flaps.pop_front();
        }
        let host = self.store.host(host_id).await?;
        let name = host
            .as_ref()
            .map(|host| host.hostname.clone())
            .unwrap_or_else(|| host_id.to_string());
        let (parent_id, suppressed, why) = match (storm, self.down_parent(host_id).await?) {
            (Some(storm), _) => (Some(storm), true, "part of an outage storm".to_string()),
            (None, Some((parent_host, parent_incident))) => (
                parent_incident,
                true,
                format!("depends on {parent_host}, which is down"),
            ),
            (None, None) => (None, false, String::new()),
        };
        let silence_s = at.saturating_sub(began_at) as f64 / 1000.0;
        let spec = IncidentSpec {
            ci_id: host_id.to_string(),
            rule: HOST_DOWN.into(),
            severity: Severity::Critical,
            summary: format!("{name} is down"),
            description: format!(
                "no heartbeat from {name} for {silence_s:.1} s ({cause}); outage began at the last heartbeat"
            ),
            details: json!({ "outage_id": outage.id, "last_heartbeat_ms": began_at, "detected_at_ms": at, "cause": cause, "suppressed_because": why }),
            suppressed,
            parent_id,
        };
        self.pending_resolve.remove(host_id);
        match self.engine.open(spec, at).await? {
            Opened::New(incident) => self.store.link_outage(&outage.id, &incident.id).await?,
            Opened::Existing(incident) => {
                self.store.count_flap(&incident.id, at).await?;
                self.store.link_outage(&outage.id, &incident.id).await?;
            }
        }
        Ok(None)
    }

    /// Ends what was open on a retired host (its down and degraded time,
    /// its host-down incident) and stores it as `retired`.
    async fn retired(&mut self, host_id: &str, at: i64) -> Result<()> {
        self.downs.remove(host_id);
        self.pending_resolve.remove(host_id);
        self.store.close_outages(host_id, at).await?;
        self.store.close_degraded(host_id, at).await?;
        self.engine.resolve(host_id, HOST_DOWN, at).await?;
        self.store
            .set_presence(host_id, State::Retired.as_str(), at, None, None)
            .await?;
        tracing::info!(host_id, "host retired: no longer watched");
        Ok(())
    }

    async fn recovered(&mut self, host_id: &str, at: i64) -> Result<()> {
        self.store.close_outages(host_id, at).await?;
        let flapping = self
            .downs
            .get(host_id)
            .is_some_and(|downs| downs.len() >= self.config.availability.flap_count);
        if flapping {
            let due = at.saturating_add(
                i64::try_from(self.config.availability.flap_stable_s)
                    .unwrap_or(i64::MAX)
                    .saturating_mul(1000),
            );
            tracing::info!(
                host_id,
                "flapping host recovered: incident stays open until it is stable"
            );
            self.pending_resolve.insert(host_id.to_string(), due);
            return Ok(());
        }
        self.engine.resolve(host_id, HOST_DOWN, at).await?;
        Ok(())
    }

    async fn resolve_stable(&mut self, monitor: &Monitor, now: i64) -> Result<()> {
        let due: Vec<String> = self
            .pending_resolve
            .iter()
            .filter(|(_, due)| **due <= now)
            .map(|(host, _)| host.clone())
            .collect();
        for host_id in due {
            self.pending_resolve.remove(&host_id);
            let up = monitor
                .lock()
                .get(&host_id)
                .is_some_and(|presence| presence.state == State::Up);
            if up {
                self.downs.remove(&host_id);
                self.engine.resolve(&host_id, HOST_DOWN, now).await?;
            }
        }
        Ok(())
    }
}
