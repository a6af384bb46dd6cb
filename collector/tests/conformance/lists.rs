//! Every filter of every list query, its order, its page size and its
//! keyset cursor, on each backend: the list queries share one WHERE/cursor
//! builder, and this is what they must answer.
#![allow(clippy::unwrap_used)]

use std::collections::BTreeSet;
use std::sync::Arc;

use rollcall_collector::cmdb::reconcile::HostIdentity;
use rollcall_collector::error::Error;
use rollcall_collector::store::{
    HostFilter, Incident, IncidentFilter, NewAgent, NewEnrollmentToken, NewOutage, NewOutboxEntry,
    OutageFilter, OutboxFilter, Store,
};

const NOW: i64 = 1_800_000_000_000;
const DAY: i64 = 86_400_000;

/// Enrolls `agent_id` and attaches it to a new host named `hostname`, last seen `at`.
async fn host(store: &Arc<dyn Store>, agent_id: &str, hostname: &str, at: i64) -> String {
    store
        .create_enrollment_token(&NewEnrollmentToken {
            id: format!("token-{agent_id}"),
            token_hash: format!("hash-{agent_id}"),
            description: "lists".into(),
            max_uses: 1,
            expires_at: NOW + DAY,
            created_at: NOW - 30 * DAY,
        })
        .await
        .unwrap();
    store
        .enroll_agent(
            &format!("hash-{agent_id}"),
            &NewAgent {
                id: agent_id.into(),
                cert_fingerprint: format!("fp-{agent_id}"),
                hostname: hostname.into(),
                version: "t".into(),
                enrolled_at: NOW - 30 * DAY,
            },
        )
        .await
        .unwrap()
        .unwrap();
    let identity = HostIdentity {
        machine_id: format!("mid-{agent_id}"),
        hostname: hostname.into(),
        ..Default::default()
    };
    store
        .attach_host(agent_id, &identity, hostname, at)
        .await
        .unwrap()
        .host_id
}

fn names(hosts: &[rollcall_collector::store::Host]) -> BTreeSet<String> {
    hosts.iter().map(|host| host.hostname.clone()).collect()
}

fn set(items: &[&str]) -> BTreeSet<String> {
    items.iter().map(|item| item.to_string()).collect()
}

/// Host lists: name (case-insensitive substring), lifecycle, both, and
/// keyset pages ordered by id.
pub async fn host_lists_filter_and_page(store: Arc<dyn Store>) {
    host(&store, "a1", "web-01", NOW - 10 * DAY).await;
    host(&store, "a2", "web-02", NOW).await;
    host(&store, "a3", "DB-01", NOW).await;
    assert_eq!(
        store
            .update_lifecycle(NOW, 7 * DAY, 60 * DAY)
            .await
            .unwrap(),
        (1, Vec::new())
    );
    let list = |name: Option<&str>, lifecycle: Option<&str>| HostFilter {
        name: name.map(String::from),
        lifecycle: lifecycle.map(String::from),
        after: None,
        limit: 10,
    };
    let hosts = |filter: HostFilter| {
        let store = store.clone();
        async move { store.hosts(&filter).await.unwrap() }
    };
    assert_eq!(
        names(&hosts(list(None, None)).await),
        set(&["web-01", "web-02", "DB-01"])
    );
    assert_eq!(
        names(&hosts(list(Some("WEB"), None)).await),
        set(&["web-01", "web-02"])
    );
    assert_eq!(names(&hosts(list(Some("db"), None)).await), set(&["DB-01"]));
    assert_eq!(
        names(&hosts(list(None, Some("stale"))).await),
        set(&["web-01"])
    );
    assert_eq!(
        names(&hosts(list(Some("web"), Some("active"))).await),
        set(&["web-02"])
    );
    assert!(hosts(list(Some("mail"), None)).await.is_empty());

    let first = hosts(HostFilter {
        limit: 2,
        ..list(None, None)
    })
    .await;
    assert_eq!(first.len(), 2);
    assert!(first[0].id < first[1].id, "pages are ordered by id");
    let second = hosts(HostFilter {
        after: Some(first[1].id.clone()),
        limit: 2,
        ..list(None, None)
    })
    .await;
    assert_eq!(second.len(), 1);
    assert!(second[0].id > first[1].id);
    let mut all: Vec<_> = first
        .iter()
        .chain(&second)
        .map(|host| &host.hostname)
        .collect();
    all.sort();
    assert_eq!(all, ["DB-01", "web-01", "web-02"]);
    // A cursor past one filter's last row gives an empty page, not the start.
    let web = hosts(list(Some("web"), None)).await;
    let past = hosts(HostFilter {
        after: Some(web.last().unwrap().id.clone()),
        ..list(Some("web"), None)
    })
    .await;
    assert!(past.is_empty());
}

fn incident(id: &str, ci_id: &str, rule: &str, parent_id: Option<&str>, at: i64) -> Incident {
    Incident {
        id: id.into(),
        dedup_key: format!("{ci_id}:{rule}"),
        ci_id: ci_id.into(),
        rule: rule.into(),
        severity: "critical".into(),
        state: "open".into(),
        summary: format!("{rule} on {ci_id}"),
        details: "{}".into(),
        parent_id: parent_id.map(String::from),
        suppressed: 0,
        flaps: 0,
        opened_at: at,
        acknowledged_at: None,
        acknowledged_by: None,
        resolved_at: None,
        updated_at: at,
    }
}

async fn incident_ids(store: &Arc<dyn Store>, filter: IncidentFilter) -> Vec<String> {
    store
        .incidents(&filter)
        .await
        .unwrap()
        .into_iter()
        .map(|incident| incident.id)
        .collect()
}

/// Incident lists: each state, CI, rule prefix, parent, newest first, page size.
pub async fn incident_lists_filter_by_state_ci_rule_and_parent(store: Arc<dyn Store>) {
    for (record, event) in [
        (
            incident("i1", "h1", "host_down", None, NOW),
            Some("{\"n\":1}"),
        ),
        (
            incident("i2", "h2", "host_down", Some("i1"), NOW + 1),
            Some("{\"n\":2}"),
        ),
        (incident("i3", "h1", "disk_full", None, NOW + 2), None),
    ] {
        assert!(store.insert_incident(&record, event).await.unwrap());
    }
    assert!(store.resolve_incident("i3", NOW + 3, None).await.unwrap());
    assert!(
        store
            .acknowledge_incident("i2", "ops", NOW + 4, None)
            .await
            .unwrap()
    );
    let filter = |state: Option<&str>| IncidentFilter {
        state: state.map(String::from),
        limit: 10,
        ..Default::default()
    };
    assert_eq!(incident_ids(&store, filter(None)).await, ["i3", "i2", "i1"]);
    assert_eq!(
        incident_ids(&store, filter(Some("all"))).await,
        ["i3", "i2", "i1"]
    );
    assert_eq!(
        incident_ids(&store, filter(Some("open"))).await,
        ["i2", "i1"]
    );
    assert_eq!(incident_ids(&store, filter(Some("resolved"))).await, ["i3"]);
    assert_eq!(
        incident_ids(&store, filter(Some("acknowledged"))).await,
        ["i2"]
    );
    let bogus = store.incidents(&filter(Some("closed"))).await;
    assert!(matches!(bogus, Err(Error::InvalidInput(_))), "{bogus:?}");
    assert_eq!(
        incident_ids(
            &store,
            IncidentFilter {
                ci_id: Some("h1".into()),
                ..filter(None)
            }
        )
        .await,
        ["i3", "i1"]
    );
    assert_eq!(
        incident_ids(
            &store,
            IncidentFilter {
                rule_prefix: Some("host".into()),
                ..filter(None)
            }
        )
        .await,
        ["i2", "i1"]
    );
    assert_eq!(
        incident_ids(
            &store,
            IncidentFilter {
                parent_id: Some("i1".into()),
                ..filter(None)
            }
        )
        .await,
        ["i2"]
    );
    assert_eq!(
        incident_ids(
            &store,
            IncidentFilter {
                ci_id: Some("h1".into()),
                rule_prefix: Some("host".into()),
                ..filter(Some("open"))
            }
        )
        .await,
        ["i1"]
    );
    assert_eq!(
        incident_ids(
            &store,
            IncidentFilter {
                limit: 1,
                ..filter(None)
            }
        )
        .await,
        ["i3"]
    );

    // The two trigger events fan out to two targets; the outbox list filters
    // by state, incident and target, and pages by id.
    let events = store.undispatched_events(NOW + 10, 100).await.unwrap();
    assert_eq!(events.len(), 2);
    let entries: Vec<NewOutboxEntry> = events
        .iter()
        .flat_map(|event| {
            ["a", "b"].map(|target| NewOutboxEntry {
                event_id: event.id,
                incident_id: event.incident_id.clone(),
                target: target.into(),
                transition: event.transition.clone(),
                dedup_key: format!("key-{}", event.incident_id),
                payload: event.payload.clone(),
            })
        })
        .collect();
    let cursor = events.iter().map(|event| event.id).max().unwrap();
    assert_eq!(store.fan_out(&entries, cursor, NOW + 10).await.unwrap(), 4);
    let outbox = |filter: OutboxFilter| {
        let store = store.clone();
        async move {
            store
                .outbox_entries(&OutboxFilter {
                    limit: 10,
                    ..filter
                })
                .await
                .unwrap()
                .into_iter()
                .map(|entry| (entry.id, entry.incident_id, entry.target, entry.state))
                .collect::<Vec<_>>()
        }
    };
    let all = outbox(OutboxFilter::default()).await;
    assert_eq!(all.len(), 4);
    assert!(
        all.windows(2).all(|pair| pair[0].0 < pair[1].0),
        "oldest first"
    );
    let dead_id = all[1].0;
    store
        .mark_failed(dead_id, NOW + 11, "refused", None)
        .await
        .unwrap();
    let dead = outbox(OutboxFilter {
        state: Some("dead".into()),
        ..Default::default()
    })
    .await;
    assert_eq!(dead.iter().map(|row| row.0).collect::<Vec<_>>(), [dead_id]);
    let pending = outbox(OutboxFilter {
        state: Some("pending".into()),
        ..Default::default()
    })
    .await;
    assert_eq!(pending.len(), 3);
    let to_a = outbox(OutboxFilter {
        target: Some("a".into()),
        ..Default::default()
    })
    .await;
    assert_eq!(to_a.len(), 2);
    assert!(to_a.iter().all(|row| row.2 == "a"));
    let of_i2_to_b = outbox(OutboxFilter {
        incident_id: Some("i2".into()),
        target: Some("b".into()),
        ..Default::default()
    })
    .await;
    assert_eq!(of_i2_to_b.len(), 1);
    assert_eq!(
        (of_i2_to_b[0].1.as_str(), of_i2_to_b[0].2.as_str()),
        ("i2", "b")
    );
    let page = store
        .outbox_entries(&OutboxFilter {
            after_id: Some(all[1].0),
            limit: 1,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(
        page.iter().map(|entry| entry.id).collect::<Vec<_>>(),
        [all[2].0]
    );
}

async fn outage_ids(store: &Arc<dyn Store>, filter: OutageFilter) -> Vec<String> {
    store
        .outages(&OutageFilter {
            limit: if filter.limit == 0 { 10 } else { filter.limit },
            ..filter
        })
        .await
        .unwrap()
        .into_iter()
        .map(|outage| outage.id)
        .collect()
}

/// Outage lists: host, kind, and overlap with [since, until), newest first.
pub async fn outage_lists_filter_by_host_kind_and_overlap(store: Arc<dyn Store>) {
    for (id, host_id, kind, began_at) in [
        ("o1", "h1", "unplanned", NOW),
        ("o2", "h2", "planned", NOW + 50),
    ] {
        store
            .open_outage(&NewOutage {
                id: id.into(),
                host_id: host_id.into(),
                kind: kind.into(),
                cause: "silent".into(),
                began_at,
                detected_at: began_at,
            })
            .await
            .unwrap();
    }
    let closed = store.close_outages("h1", NOW + 100).await.unwrap();
    assert_eq!(closed.len(), 1);
    let all = OutageFilter::default();
    assert_eq!(outage_ids(&store, all.clone()).await, ["o2", "o1"]);
    let window = |since: Option<i64>, until: Option<i64>| OutageFilter {
        since,
        until,
        ..Default::default()
    };
    assert_eq!(
        outage_ids(
            &store,
            OutageFilter {
                host_id: Some("h1".into()),
                ..all.clone()
            }
        )
        .await,
        ["o1"]
    );
    assert_eq!(
        outage_ids(
            &store,
            OutageFilter {
                kind: Some("planned".into()),
                ..all.clone()
            }
        )
        .await,
        ["o2"]
    );
    assert_eq!(
        outage_ids(&store, window(Some(NOW + 200), None)).await,
        ["o2"]
    );
    assert_eq!(
        outage_ids(&store, window(Some(NOW + 100), None)).await,
        ["o2", "o1"],
        "an outage ending at `since` overlaps"
    );
    assert_eq!(
        outage_ids(&store, window(None, Some(NOW + 50))).await,
        ["o1"],
        "an outage beginning at `until` does not"
    );
    assert_eq!(
        outage_ids(&store, window(Some(NOW + 60), Some(NOW + 70))).await,
        ["o2", "o1"]
    );
    assert!(
        outage_ids(&store, window(Some(NOW + 200), Some(NOW + 40)))
            .await
            .is_empty()
    );
    assert_eq!(
        outage_ids(
            &store,
            OutageFilter {
                limit: 1,
                ..Default::default()
            }
        )
        .await
        .len(),
        1
    );
}

/// The counts `/metrics` reads: hosts grouped by class, lifecycle and
/// presence; unresolved incidents (open and acknowledged, not resolved)
/// grouped by rule and severity.
pub async fn fleet_counts_group_hosts_and_open_incidents(store: Arc<dyn Store>) {
    use rollcall_collector::store::counts::{HostCount, IncidentCount};
    assert!(store.host_counts().await.unwrap().is_empty());
    let web1 = host(&store, "c1", "web-01", NOW).await;
    let web2 = host(&store, "c2", "web-02", NOW).await;
    host(&store, "c3", "db-01", NOW).await;
    store
        .set_presence(&web1, "up", NOW, None, None)
        .await
        .unwrap();
    store
        .set_presence(&web2, "down", NOW, None, None)
        .await
        .unwrap();
    let count = |presence: &str, count: i64| HostCount {
        class: "linux_server".into(),
        lifecycle: "active".into(),
        presence: presence.into(),
        count,
    };
    assert_eq!(
        store.host_counts().await.unwrap(),
        vec![count("down", 1), count("unknown", 1), count("up", 1)]
    );
    let mut warning = incident("i1", &web1, "filesystem_usage", None, NOW);
    warning.severity = "warning".into();
    warning.dedup_key = "k1".into();
    let mut acknowledged = incident("i2", &web2, "filesystem_usage", None, NOW);
    acknowledged.severity = "warning".into();
    acknowledged.dedup_key = "k2".into();
    let down = incident("i3", &web2, "host_down", None, NOW);
    let mut resolved = incident("i4", &web1, "host_down", None, NOW);
    resolved.dedup_key = "k4".into();
    for record in [&warning, &acknowledged, &down, &resolved] {
        assert!(store.insert_incident(record, None).await.unwrap());
    }
    assert!(
        store
            .acknowledge_incident("i2", "ops", NOW + 1, None)
            .await
            .unwrap()
    );
    assert!(store.resolve_incident("i4", NOW + 1, None).await.unwrap());
    assert_eq!(
        store.open_incident_counts().await.unwrap(),
        vec![
            IncidentCount {
                rule: "filesystem_usage".into(),
                severity: "warning".into(),
                count: 2
            },
            IncidentCount {
                rule: "host_down".into(),
                severity: "critical".into(),
                count: 1
            },
        ]
    );
}

/// A suppressed child whose parent recovered first is unsuppressed once,
/// with its trigger event; a resolved or unsuppressed one is left alone.
pub async fn suppressed_incidents_are_unsuppressed_once(store: Arc<dyn Store>) {
    let mut child = incident("u1", "h1", "host_down", Some("p1"), NOW);
    child.suppressed = 1;
    assert!(store.insert_incident(&child, None).await.unwrap());
    assert!(
        store
            .unsuppress_incident("u1", NOW + 5, Some("{}"))
            .await
            .unwrap()
    );
    let after = store.incident("u1").await.unwrap().unwrap();
    assert_eq!((after.suppressed, after.updated_at), (0, NOW + 5));
    assert!(
        !store
            .unsuppress_incident("u1", NOW + 6, Some("{}"))
            .await
            .unwrap()
    );
    let mut resolved = incident("u2", "h2", "host_down", Some("p1"), NOW);
    resolved.suppressed = 1;
    assert!(store.insert_incident(&resolved, None).await.unwrap());
    assert!(store.resolve_incident("u2", NOW + 1, None).await.unwrap());
    assert!(
        !store
            .unsuppress_incident("u2", NOW + 6, Some("{}"))
            .await
            .unwrap()
    );
    assert_eq!(store.incident("u2").await.unwrap().unwrap().suppressed, 1);
    assert!(
        !store
            .unsuppress_incident("no-such", NOW, None)
            .await
            .unwrap()
    );
}
