//! The presence monitor over a real store, with time driven by a manual
//! clock: outage records, maintenance windows, flap damping and degraded time.
#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use rollcall_collector::availability::fleet::{Scope, fleet_report};
use rollcall_collector::availability::monitor::{Monitor, start_with_clock};
use rollcall_collector::cmdb::lifecycle;
use rollcall_collector::config::Config;
use rollcall_collector::incidents::engine::{Engine, IncidentSpec};
use rollcall_collector::incidents::event::Severity;
use rollcall_collector::store::Store;
use rollcall_collector::store::{IncidentFilter, MaintenanceWindow, OutageFilter};
use tokio_util::sync::CancellationToken;

const NOW: i64 = 1_900_000_000_000;

struct Driven {
    monitor: Arc<Monitor>,
    clock: Arc<AtomicI64>,
    shutdown: CancellationToken,
}

impl Driven {
    async fn at(&self, ms: i64) {
        self.clock.store(ms, Ordering::SeqCst);
        // Wait until a tick (every 20 ms) has seen the new time and recorded
        // what follows from it; a loaded machine only makes this slower.
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        while self.monitor.last_tick_ms() < ms {
            assert!(
                std::time::Instant::now() < deadline,
                "the monitor did not tick at {ms} within 30 s"
            );
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }
}

impl Drop for Driven {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

async fn driven(store: &Arc<dyn Store>) -> Driven {
    let mut config = Config::default();
    config.agents.heartbeat_interval_s = 1;
    config.availability.startup_grace_s = Some(0.0);
    config.availability.tick_ms = 20;
    config.availability.flap_count = 3;
    config.availability.flap_window_s = 600;
    config.availability.flap_stable_s = 60;
    let clock = Arc::new(AtomicI64::new(NOW));
    let reader = clock.clone();
    let shutdown = CancellationToken::new();
    let tasks = tokio_util::task::TaskTracker::new();
    let monitor = start_with_clock(
        store.clone(),
        config,
        Arc::new(move || reader.load(Ordering::SeqCst)),
        shutdown.clone(),
        &tasks,
    )
    .await
    .unwrap();
    Driven {
        monitor,
        clock,
        shutdown,
    }
}

async fn host(store: &Arc<dyn Store>, name: &str) -> String {
    super::cases::attached_host(store, name).await
}

async fn incidents(store: &Arc<dyn Store>) -> Vec<rollcall_collector::store::Incident> {
    let mut list = store
        .incidents(&IncidentFilter {
            state: Some("all".into()),
            limit: 100,
            ..Default::default()
        })
        .await
        .unwrap();
    list.sort_by_key(|incident| incident.opened_at);
    list
}

pub async fn silent_host_outage_begins_at_the_last_heartbeat(store: Arc<dyn Store>) {
    let host_id = host(&store, "m1").await;
    let driven = driven(&store).await;
    driven.monitor.heard(&host_id, NOW + 500);
    driven.at(NOW + 3_400).await;
    assert!(
        incidents(&store).await.is_empty(),
        "not down before down_after"
    );
    driven.at(NOW + 3_600).await;
    let list = incidents(&store).await;
    assert_eq!(list.len(), 1);
    assert_eq!(
        (list[0].rule.as_str(), list[0].opened_at),
        ("host_down", NOW + 3_600)
    );
    let outages = store
        .outages(&OutageFilter {
            host_id: Some(host_id.clone()),
            limit: 10,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(
        (
            outages[0].began_at,
            outages[0].detected_at,
            outages[0].kind.as_str()
        ),
        (NOW + 500, NOW + 3_600, "unplanned")
    );
    assert_eq!(outages[0].incident_id.as_deref(), Some(list[0].id.as_str()));
    driven.at(NOW + 10_000).await;
    driven.monitor.heard(&host_id, NOW + 10_000);
    driven.at(NOW + 10_100).await;
    let outages = store
        .outages(&OutageFilter {
            host_id: Some(host_id.clone()),
            limit: 10,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(outages[0].ended_at, Some(NOW + 10_000));
    assert_eq!(incidents(&store).await[0].state, "resolved");
    assert_eq!(store.host(&host_id).await.unwrap().unwrap().presence, "up");
}

pub async fn down_inside_a_maintenance_window_is_planned_without_incident(store: Arc<dyn Store>) {
    let host_id = host(&store, "m2").await;
    let window = MaintenanceWindow {
        id: "mw-1".into(),
        scope: "host".into(),
        target: host_id.clone(),
        starts_at: NOW,
        ends_at: NOW + 3_600_000,
        recurrence: String::new(),
        reason: "firmware update".into(),
        created_at: NOW,
    };
    store.create_maintenance(&window).await.unwrap();
    let driven = driven(&store).await;
    driven.monitor.heard(&host_id, NOW);
    driven.at(NOW + 5_000).await;
    assert!(
        incidents(&store).await.is_empty(),
        "no incident inside maintenance"
    );
    let outages = store
        .outages(&OutageFilter {
            host_id: Some(host_id),
            limit: 10,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(
        (outages[0].kind.as_str(), outages[0].cause.as_str()),
        ("planned", "firmware update")
    );
}

/// Finding 1 of issue 12: a host-scoped window with `starts_at = i64::MIN`
/// (a database written before the bounds) made `in_maintenance` overflow
/// and the monitor die with no API call. Now such rows are skipped: the
/// host's outage is unplanned with an incident, and the monitor ticks on.
pub async fn a_hostile_stored_window_does_not_stop_the_monitor(store: Arc<dyn Store>) {
    let host_id = host(&store, "m4").await;
    for (id, starts_at, ends_at, recurrence) in [
        ("mw-min", i64::MIN, NOW + 3_600_000, "daily"),
        ("mw-max", NOW - 1, i64::MAX, "weekly"),
        ("mw-both", i64::MIN, i64::MAX, ""),
    ] {
        store
            .create_maintenance(&MaintenanceWindow {
                id: id.into(),
                scope: "host".into(),
                target: host_id.clone(),
                starts_at,
                ends_at,
                recurrence: recurrence.into(),
                reason: "poison".into(),
                created_at: NOW,
            })
            .await
            .unwrap();
    }
    let driven = driven(&store).await;
    driven.monitor.heard(&host_id, NOW);
    driven.at(NOW + 5_000).await;
    let outages = store
        .outages(&OutageFilter {
            host_id: Some(host_id.clone()),
            limit: 10,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(outages.len(), 1, "{outages:?}");
    assert_eq!(outages[0].kind, "unplanned", "the poison rows do not count");
    assert_eq!(incidents(&store).await.len(), 1);
    driven.monitor.heard(&host_id, NOW + 6_000);
    driven.at(NOW + 6_100).await;
    assert_eq!(store.host(&host_id).await.unwrap().unwrap().presence, "up");
}

pub async fn flapping_host_keeps_one_incident_open_until_stable(store: Arc<dyn Store>) {
    let host_id = host(&store, "m3").await;
    let driven = driven(&store).await;
    let mut t = NOW;
    for round in 0..4 {
        driven.monitor.heard(&host_id, t);
        driven.at(t + 3_500).await;
        assert_eq!(
            store.host(&host_id).await.unwrap().unwrap().presence,
            "down",
            "round {round}"
        );
        driven.at(t + 5_000).await;
        driven.monitor.heard(&host_id, t + 5_000);
        driven.at(t + 5_100).await;
        t += 10_000;
    }
    let list = incidents(&store).await;
    // The first two outages open and resolve their own incident; from the
    // third down on the host is flapping: one incident stays open.
    assert_eq!(list.len(), 3, "{list:#?}");
    assert_eq!(
        (
            list[0].state.as_str(),
            list[1].state.as_str(),
            list[2].state.as_str()
        ),
        ("resolved", "resolved", "open")
    );
    assert_eq!(
        list[2].flaps, 1,
        "the fourth down counted as a flap of the open incident"
    );
    let outages = store
        .outages(&OutageFilter {
            host_id: Some(host_id.clone()),
            limit: 10,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(outages.len(), 4, "every outage is recorded");
    // Stable for flap_stable_s (60 s): resolved.
    for second in 1..=7 {
        driven.monitor.heard(&host_id, t + second * 10_000);
        driven.at(t + second * 10_000).await;
    }
    assert_eq!(incidents(&store).await[2].state, "resolved");
}

/// A critical incident other than host-down.
fn critical(host_id: &str, rule: &str, severity: Severity) -> IncidentSpec {
    IncidentSpec {
        ci_id: host_id.into(),
        rule: rule.into(),
        severity,
        summary: format!("{rule} on {host_id}"),
        description: String::new(),
        details: serde_json::json!({}),
        suppressed: false,
        parent_id: None,
    }
}

/// Degraded time runs from the first open critical non-host-down incident
/// to the resolution of the last; the host going down and coming back in
/// between does not end it, and the report counts only the time it was up.
pub async fn degraded_time_runs_from_the_first_critical_incident_to_the_last_resolution(
    store: Arc<dyn Store>,
) {
    let host_id = host(&store, "m4").await;
    let driven = driven(&store).await;
    let engine = Engine::new(store.clone());
    driven.monitor.heard(&host_id, NOW + 500);
    let degraded = |store: Arc<dyn Store>, host_id: String| async move {
        store
            .outages(&OutageFilter {
                host_id: Some(host_id),
                kind: Some("degraded".into()),
                limit: 10,
                ..Default::default()
            })
            .await
            .unwrap()
    };
    let disk = engine
        .open(
            critical(&host_id, "filesystem_usage", Severity::Critical),
            NOW + 1_000,
        )
        .await
        .unwrap();
    engine
        .open(
            critical(&host_id, "failed_unit", Severity::Critical),
            NOW + 1_500,
        )
        .await
        .unwrap();
    engine
        .open(
            critical(&host_id, "memory_pressure", Severity::Warning),
            NOW + 1_600,
        )
        .await
        .unwrap();
    engine
        .open(
            critical("collector", "storm", Severity::Critical),
            NOW + 1_700,
        )
        .await
        .unwrap();
    let open = degraded(store.clone(), host_id.clone()).await;
    assert_eq!(open.len(), 1, "one degraded record per host: {open:#?}");
    assert_eq!((open[0].began_at, open[0].ended_at), (NOW + 1_000, None));
    assert_eq!(
        open[0].incident_id.as_deref(),
        Some(disk.incident().id.as_str())
    );
    assert!(
        degraded(store.clone(), "collector".into()).await.is_empty(),
        "not a host"
    );

    // Down at NOW + 3600 (last heartbeat NOW + 500), back at NOW + 10000.
    driven.at(NOW + 3_600).await;
    driven.at(NOW + 10_000).await;
    driven.monitor.heard(&host_id, NOW + 10_000);
    driven.at(NOW + 10_100).await;
    assert_eq!(store.host(&host_id).await.unwrap().unwrap().presence, "up");
    let open = degraded(store.clone(), host_id.clone()).await;
    assert_eq!(
        open[0].ended_at, None,
        "coming back does not end a critical problem"
    );

    engine
        .resolve(&host_id, "filesystem_usage", NOW + 12_000)
        .await
        .unwrap();
    engine
        .resolve(&host_id, "memory_pressure", NOW + 12_500)
        .await
        .unwrap();
    assert_eq!(
        degraded(store.clone(), host_id.clone()).await[0].ended_at,
        None,
        "the failed unit is still open"
    );
    engine
        .resolve(&host_id, "failed_unit", NOW + 14_000)
        .await
        .unwrap();
    let closed = degraded(store.clone(), host_id.clone()).await;
    assert_eq!(closed.len(), 1);
    assert_eq!(closed[0].ended_at, Some(NOW + 14_000));

    let report = fleet_report(
        store.as_ref(),
        (NOW, NOW + 20_000),
        Scope {
            host_id: Some(&host_id),
            service_id: None,
        },
    )
    .await
    .unwrap();
    let figures = &report.hosts[0].availability;
    assert_eq!(
        figures.unplanned_downtime_ms, 9_500,
        "NOW + 500 .. NOW + 10000"
    );
    assert_eq!(
        figures.degraded_ms, 4_000,
        "NOW + 1000 .. NOW + 14000 less the downtime: NOW + 10000 .. NOW + 14000"
    );
}

/// A host silent inside a maintenance window is in `maintenance` (a
/// planned outage, no incident) until the window ends; still silent then,
/// it is `down` with an unplanned outage from the window's end and a
/// host-down incident; heard again, it is `up` and both are closed.
pub async fn a_host_in_maintenance_is_down_when_the_window_ends(store: Arc<dyn Store>) {
    let host_id = host(&store, "m5").await;
    store
        .create_maintenance(&MaintenanceWindow {
            id: "mw-5".into(),
            scope: "host".into(),
            target: host_id.clone(),
            starts_at: NOW + 1_000,
            ends_at: NOW + 8_000,
            recurrence: String::new(),
            reason: "kernel update".into(),
            created_at: NOW,
        })
        .await
        .unwrap();
    let driven = driven(&store).await;
    driven.monitor.heard(&host_id, NOW + 500);
    driven.at(NOW + 3_600).await;
    let host_row = store.host(&host_id).await.unwrap().unwrap();
    assert_eq!(
        (
            host_row.presence.as_str(),
            host_row.away_until,
            host_row.away_reason.as_deref()
        ),
        ("maintenance", Some(NOW + 8_000), Some("kernel update"))
    );
    assert!(incidents(&store).await.is_empty(), "planned: no incident");
    driven.at(NOW + 7_900).await;
    assert_eq!(
        store.host(&host_id).await.unwrap().unwrap().presence,
        "maintenance"
    );

    driven.at(NOW + 8_000).await;
    assert_eq!(
        store.host(&host_id).await.unwrap().unwrap().presence,
        "down"
    );
    let list = incidents(&store).await;
    assert_eq!(list.len(), 1, "{list:#?}");
    assert_eq!(
        (list[0].rule.as_str(), list[0].opened_at),
        ("host_down", NOW + 8_000)
    );
    let outages = |store: Arc<dyn Store>, host_id: String| async move {
        let mut list = store
            .outages(&OutageFilter {
                host_id: Some(host_id),
                limit: 10,
                ..Default::default()
            })
            .await
            .unwrap();
        list.sort_by_key(|outage| outage.began_at);
        list
    };
    let list = outages(store.clone(), host_id.clone()).await;
    let spans: Vec<(&str, i64, Option<i64>)> = list
        .iter()
        .map(|outage| (outage.kind.as_str(), outage.began_at, outage.ended_at))
        .collect();
    assert_eq!(
        spans,
        [
            ("planned", NOW + 500, Some(NOW + 8_000)),
            ("unplanned", NOW + 8_000, None)
        ]
    );
    assert_eq!(
        list[1].cause,
        "still silent when its maintenance window ended"
    );

    driven.monitor.heard(&host_id, NOW + 9_000);
    driven.at(NOW + 9_100).await;
    assert_eq!(store.host(&host_id).await.unwrap().unwrap().presence, "up");
    let list = outages(store.clone(), host_id.clone()).await;
    assert_eq!(list[1].ended_at, Some(NOW + 9_000));
    assert_eq!(incidents(&store).await[0].state, "resolved");
}

/// Heard again inside the window: `up` at once, the planned outage closed,
/// and no incident ever.
pub async fn a_host_back_inside_its_maintenance_window_is_up_without_incident(
    store: Arc<dyn Store>,
) {
    let host_id = host(&store, "m6").await;
    store
        .create_maintenance(&MaintenanceWindow {
            id: "mw-6".into(),
            scope: "host".into(),
            target: host_id.clone(),
            starts_at: NOW,
            ends_at: NOW + 60_000,
            recurrence: String::new(),
            reason: "reboot".into(),
            created_at: NOW,
        })
        .await
        .unwrap();
    let driven = driven(&store).await;
    driven.monitor.heard(&host_id, NOW + 500);
    driven.at(NOW + 3_600).await;
    assert_eq!(
        store.host(&host_id).await.unwrap().unwrap().presence,
        "maintenance"
    );
    driven.monitor.heard(&host_id, NOW + 5_000);
    driven.at(NOW + 5_100).await;
    let row = store.host(&host_id).await.unwrap().unwrap();
    assert_eq!((row.presence.as_str(), row.away_until), ("up", None));
    driven.monitor.heard(&host_id, NOW + 6_000);
    driven.at(NOW + 6_100).await;
    assert!(incidents(&store).await.is_empty(), "never an incident");
    let list = store
        .outages(&OutageFilter {
            host_id: Some(host_id),
            limit: 10,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(list.len(), 1);
    assert_eq!(
        (list[0].kind.as_str(), list[0].ended_at),
        ("planned", Some(NOW + 5_000))
    );
}

/// A host retired by the lifecycle pass is `retired` and no longer
/// watched: its open outage, degraded time and host-down incident end at
/// the retirement; heard again, it is watched anew and `up`.
pub async fn a_retired_host_is_no_longer_watched_and_its_outage_ends(store: Arc<dyn Store>) {
    let host_id = host(&store, "m7").await;
    let driven = driven(&store).await;
    let engine = Engine::new(store.clone());
    driven.monitor.heard(&host_id, NOW + 500);
    engine
        .open(
            critical(&host_id, "failed_unit", Severity::Critical),
            NOW + 600,
        )
        .await
        .unwrap();
    driven.at(NOW + 3_600).await;
    assert_eq!(
        store.host(&host_id).await.unwrap().unwrap().presence,
        "down"
    );

    let config = Config::default().cmdb;
    let last_seen = store.host(&host_id).await.unwrap().unwrap().last_seen_at;
    // The host was attached long before the monitor's NOW: it is silent
    // past retire_after at NOW + 10 s.
    let retire_at = NOW + 10_000;
    assert!(retire_at > last_seen + config.retire_after_s as i64 * 1000);
    lifecycle::pass(store.as_ref(), &engine, &driven.monitor, &config, retire_at).await;
    driven.at(retire_at).await;

    let row = store.host(&host_id).await.unwrap().unwrap();
    assert_eq!(
        (row.lifecycle.as_str(), row.presence.as_str()),
        ("retired", "retired")
    );
    let mut outages = store
        .outages(&OutageFilter {
            host_id: Some(host_id.clone()),
            limit: 10,
            ..Default::default()
        })
        .await
        .unwrap();
    outages.sort_by_key(|outage| outage.began_at);
    let spans: Vec<(&str, Option<i64>)> = outages
        .iter()
        .map(|outage| (outage.kind.as_str(), outage.ended_at))
        .collect();
    assert_eq!(
        spans,
        [
            ("unplanned", Some(retire_at)),
            ("degraded", Some(retire_at))
        ]
    );
    let list = incidents(&store).await;
    let host_down = list
        .iter()
        .find(|incident| incident.rule == "host_down")
        .expect("host down");
    assert_eq!(
        (host_down.state.as_str(), host_down.resolved_at),
        ("resolved", Some(retire_at))
    );
    assert_eq!(
        driven.monitor.counts().values().sum::<usize>(),
        0,
        "not watched"
    );
    driven.at(retire_at + 100_000).await;
    assert_eq!(
        store.host(&host_id).await.unwrap().unwrap().presence,
        "retired",
        "no outage runs on a retired host"
    );

    driven.monitor.heard(&host_id, retire_at + 200_000);
    driven.at(retire_at + 200_100).await;
    assert_eq!(store.host(&host_id).await.unwrap().unwrap().presence, "up");
}

/// Degraded time follows an open incident's severity: warning → critical
/// opens the host's degraded record at the change, critical → warning
/// closes it, critical again opens another, the resolution closes that.
pub async fn degraded_time_follows_a_severity_change(store: Arc<dyn Store>) {
    let host_id = host(&store, "m5").await;
    let engine = Engine::new(store.clone());
    let degraded = || async {
        store
            .outages(&OutageFilter {
                host_id: Some(host_id.clone()),
                kind: Some("degraded".into()),
                limit: 10,
                ..Default::default()
            })
            .await
            .unwrap()
            .into_iter()
            .map(|outage| (outage.began_at, outage.ended_at))
            .collect::<Vec<_>>()
    };
    let rule = "filesystem_usage:m5";
    engine
        .open(critical(&host_id, rule, Severity::Warning), NOW)
        .await
        .unwrap();
    assert_eq!(degraded().await, [], "a warning does not degrade");
    engine
        .open(critical(&host_id, rule, Severity::Critical), NOW + 1_000)
        .await
        .unwrap();
    assert_eq!(degraded().await, [(NOW + 1_000, None)]);
    engine
        .open(critical(&host_id, rule, Severity::Warning), NOW + 3_000)
        .await
        .unwrap();
    assert_eq!(degraded().await, [(NOW + 1_000, Some(NOW + 3_000))]);
    engine
        .open(critical(&host_id, rule, Severity::Critical), NOW + 5_000)
        .await
        .unwrap();
    engine.resolve(&host_id, rule, NOW + 6_000).await.unwrap();
    let mut records = degraded().await;
    records.sort();
    assert_eq!(
        records,
        [
            (NOW + 1_000, Some(NOW + 3_000)),
            (NOW + 5_000, Some(NOW + 6_000))
        ]
    );
}

/// warning → critical → critical → warning → cleared: one incident whose
/// severity follows, and events trigger, update, update, resolve (the
/// repeat at the same severity records nothing); the update events carry
/// the severity before.
pub async fn a_severity_change_updates_the_one_incident_with_an_update_event(
    store: Arc<dyn Store>,
) {
    let engine = Engine::new(store.clone());
    let at = 1_800_000_000_000;
    let rule = "filesystem_usage:abc";
    for (step, severity) in [
        Severity::Warning,
        Severity::Critical,
        Severity::Critical,
        Severity::Warning,
    ]
    .into_iter()
    .enumerate()
    {
        engine
            .open(critical("h-sev", rule, severity), at + step as i64)
            .await
            .unwrap();
        let open = store
            .open_incident(&rollcall_collector::incidents::engine::dedup_key(
                "h-sev", rule,
            ))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(open.severity, severity.as_str(), "step {step}");
    }
    engine.resolve("h-sev", rule, at + 10).await.unwrap();
    let all = store
        .incidents(&IncidentFilter {
            ci_id: Some("h-sev".into()),
            limit: 100,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(all.len(), 1, "{all:?}");
    assert_eq!(all[0].state, "resolved");
    let events = store.undispatched_events(at + 100, 100).await.unwrap();
    let ours: Vec<(String, Option<String>, String)> = events
        .iter()
        .filter(|event| event.incident_id == all[0].id)
        .map(|event| {
            let payload: serde_json::Value = serde_json::from_str(&event.payload).unwrap();
            (
                event.transition.clone(),
                payload["previous_severity"].as_str().map(String::from),
                payload["severity"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect();
    let text = |s: &str| s.to_string();
    assert_eq!(
        ours,
        [
            (text("trigger"), None, text("warning")),
            (text("update"), Some(text("warning")), text("critical")),
            (text("update"), Some(text("critical")), text("warning")),
            (text("resolve"), None, text("warning")),
        ]
    );
}
