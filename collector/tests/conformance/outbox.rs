//! The integrations outbox through the `Store` trait, on each backend
//! (issue 14): fan-out is idempotent and advances its cursor, a due row is
//! claimed by one claimer for its lease, transitions of one dedup key go in
//! order, failures are retried at their time or dead-lettered, a dead row
//! can be retried; two claimers at the same time never claim one row; and
//! on PostgreSQL a row another transaction holds locked is skipped, not
//! waited for (`FOR UPDATE SKIP LOCKED`), and an event that commits after a
//! later one was fanned out is still fanned out (the late-commit look-back).
#![allow(clippy::unwrap_used)]

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use rollcall_collector::store::sql::SqlStore;
use rollcall_collector::store::{EventRow, Incident, NewOutboxEntry, OutboxFilter, Store};

use crate::cases::NOW;

const LEASE: i64 = 30_000;

fn incident(id: &str, ci_id: &str, at: i64) -> Incident {
    Incident {
        id: id.into(),
        dedup_key: format!("{ci_id}:host_down"),
        ci_id: ci_id.into(),
        rule: "host_down".into(),
        severity: "critical".into(),
        state: "open".into(),
        summary: format!("{ci_id} is down"),
        details: "{}".into(),
        parent_id: None,
        suppressed: 0,
        flaps: 0,
        opened_at: at,
        acknowledged_at: None,
        acknowledged_by: None,
        resolved_at: None,
        updated_at: at,
    }
}

/// The outbox rows of `events` for each of `targets`, as the dispatcher makes them.
fn entries(events: &[EventRow], targets: &[&str]) -> Vec<NewOutboxEntry> {
    events
        .iter()
        .flat_map(|event| {
            targets.iter().map(move |target| NewOutboxEntry {
                event_id: event.id,
                incident_id: event.incident_id.clone(),
                target: (*target).into(),
                transition: event.transition.clone(),
                // One dedup key per incident, as the engine keys them.
                dedup_key: format!("key-{}", event.incident_id),
                payload: event.payload.clone(),
            })
        })
        .collect()
}

async fn fan_out_all(store: &Arc<dyn Store>, now: i64, targets: &[&str]) -> Vec<EventRow> {
    let events = store.undispatched_events(now, 1000).await.unwrap();
    if let Some(last) = events.iter().map(|event| event.id).max() {
        store
            .fan_out(&entries(&events, targets), last, now)
            .await
            .unwrap();
    }
    events
}

fn incidents_of(rows: &[rollcall_collector::store::OutboxEntry]) -> Vec<(String, String)> {
    rows.iter()
        .map(|row| (row.incident_id.clone(), row.transition.clone()))
        .collect()
}

/// Claim, deliver, retry at its time, dead-letter, retry a dead letter.
pub async fn outbox_claims_delivers_retries_and_dead_letters(store: Arc<dyn Store>) {
    let now = NOW;
    assert!(
        store
            .insert_incident(&incident("i1", "h1", now), Some("{\"n\":1}"))
            .await
            .unwrap()
    );
    assert!(
        store
            .insert_incident(&incident("i2", "h2", now), Some("{\"n\":2}"))
            .await
            .unwrap()
    );
    assert!(
        store
            .resolve_incident("i1", now + 1, Some("{\"n\":3}"))
            .await
            .unwrap()
    );
    let events = store.undispatched_events(now + 2, 100).await.unwrap();
    assert_eq!(
        events
            .iter()
            .map(|event| (event.incident_id.as_str(), event.transition.as_str()))
            .collect::<Vec<_>>(),
        [("i1", "trigger"), ("i2", "trigger"), ("i1", "resolve")],
        "oldest first"
    );
    let last = events.iter().map(|event| event.id).max().unwrap();
    let rows = entries(&events, &["a", "b"]);
    assert_eq!(store.fan_out(&rows, last, now + 2).await.unwrap(), 6);
    assert_eq!(
        store.fan_out(&rows, last, now + 2).await.unwrap(),
        0,
        "fan-out is idempotent by (event, target)"
    );
    assert!(
        store
            .undispatched_events(now + 2, 100)
            .await
            .unwrap()
            .is_empty(),
        "the cursor moved past every event, and every event has its rows"
    );

    // i1's resolve waits behind i1's trigger: one dedup key goes in order.
    let claimed = store.claim_due("a", now + 3, LEASE, 10).await.unwrap();
    assert_eq!(
        incidents_of(&claimed),
        [
            ("i1".into(), "trigger".into()),
            ("i2".into(), "trigger".into())
        ]
    );
    assert!(
        store
            .claim_due("a", now + 4, LEASE, 10)
            .await
            .unwrap()
            .is_empty(),
        "leased rows are not claimed again"
    );
    assert_eq!(
        store.claim_due("b", now + 4, LEASE, 1).await.unwrap().len(),
        1,
        "each target has its own rows; the limit holds"
    );
    let (trigger, other) = (claimed[0].clone(), claimed[1].clone());

    // The target accepted i1's trigger and returned a reference.
    store
        .mark_delivered(trigger.id, now + 5, Some("EXT-1"))
        .await
        .unwrap();
    assert_eq!(
        store.external_ref("i1", "a").await.unwrap().as_deref(),
        Some("EXT-1")
    );
    let delivered = store.outbox_entry(trigger.id).await.unwrap().unwrap();
    assert_eq!(
        (
            delivered.state.as_str(),
            delivered.attempts,
            delivered.delivered_at
        ),
        ("delivered", 1, Some(now + 5))
    );
    // A late failure report of a delivered row changes nothing.
    store
        .mark_failed(trigger.id, now + 6, "late", Some(now + 7))
        .await
        .unwrap();
    assert_eq!(
        store.outbox_entry(trigger.id).await.unwrap().unwrap().state,
        "delivered"
    );
    // Now the resolve is due; i2's trigger is still leased.
    let resolve = store.claim_due("a", now + 6, LEASE, 10).await.unwrap();
    assert_eq!(incidents_of(&resolve), [("i1".into(), "resolve".into())]);
    store.release_claims(&[resolve[0].id]).await.unwrap();
    assert_eq!(
        store
            .claim_due("a", now + 6, LEASE, 10)
            .await
            .unwrap()
            .len(),
        1,
        "a released claim is due again at once"
    );

    // i2's trigger fails; retried at its time, not before.
    store
        .mark_failed(other.id, now + 10, "HTTP 503", Some(now + 5_000))
        .await
        .unwrap();
    let failed = store.outbox_entry(other.id).await.unwrap().unwrap();
    assert_eq!(
        (
            failed.state.as_str(),
            failed.attempts,
            failed.last_error.as_deref()
        ),
        ("pending", 1, Some("HTTP 503"))
    );
    let early = store.claim_due("a", now + 4_999, LEASE, 10).await.unwrap();
    assert!(
        early.iter().all(|row| row.id != other.id),
        "not before its next attempt"
    );
    let due = store.claim_due("a", now + 5_000, LEASE, 10).await.unwrap();
    assert_eq!(due.iter().map(|row| row.id).collect::<Vec<_>>(), [other.id]);

    // Then it is dead-lettered; an operator retries it, once.
    store
        .mark_failed(other.id, now + 5_001, "HTTP 400: bad", None)
        .await
        .unwrap();
    let dead = store.outbox_entry(other.id).await.unwrap().unwrap();
    assert_eq!((dead.state.as_str(), dead.attempts), ("dead", 2));
    assert!(
        store
            .claim_due("a", now + 100_000, LEASE, 10)
            .await
            .unwrap()
            .iter()
            .all(|row| row.id != other.id),
        "a dead row is never claimed"
    );
    let listed = store
        .outbox_entries(&OutboxFilter {
            state: Some("dead".into()),
            limit: 10,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(
        listed.iter().map(|row| row.id).collect::<Vec<_>>(),
        [other.id]
    );
    let counts = store.outbox_counts().await.unwrap();
    let count = |target: &str, state: &str| {
        counts
            .iter()
            .find(|count| count.target == target && count.state == state)
            .map_or(0, |count| count.count)
    };
    assert_eq!(
        (
            count("a", "delivered"),
            count("a", "pending"),
            count("a", "dead")
        ),
        (1, 1, 1)
    );
    assert!(store.retry_dead(other.id, now + 6_000).await.unwrap());
    assert!(
        !store.retry_dead(other.id, now + 6_000).await.unwrap(),
        "only a dead row can be retried"
    );
    let again = store.claim_due("a", now + 6_000, LEASE, 10).await.unwrap();
    assert!(again.iter().any(|row| row.id == other.id), "{again:?}");

    // What is still firing at a: nothing delivered but i1's trigger, not resolved there yet.
    let firing = store.firing("a", 10).await.unwrap();
    assert_eq!(incidents_of(&firing), [("i1".into(), "trigger".into())]);

    // At start, leases left by an earlier process: void on a database only
    // one process serves; kept on a shared one (another collector holds them).
    store.release_orphaned_claims().await.unwrap();
    let leased_b = store.claim_due("b", now + 6_001, LEASE, 10).await.unwrap();
    // (b's i1 resolve waits behind b's i1 trigger either way.)
    let expected: &[(String, String)] = if store.shared() {
        &[("i2".into(), "trigger".into())]
    } else {
        &[
            ("i1".into(), "trigger".into()),
            ("i2".into(), "trigger".into()),
        ]
    };
    assert_eq!(incidents_of(&leased_b), expected, "{}", store.backend());
}

/// Four claimers started together on one database claim 300 rows between
/// them, each row exactly once.
pub async fn concurrent_claimers_never_claim_the_same_row(store: Arc<dyn Store>) {
    const ROWS: usize = 300;
    let now = NOW;
    for index in 0..ROWS {
        let id = format!("c{index:03}");
        assert!(
            store
                .insert_incident(&incident(&id, &id, now), Some("{}"))
                .await
                .unwrap()
        );
    }
    let events = fan_out_all(&store, now, &["t"]).await;
    assert_eq!(events.len(), ROWS);
    let barrier = Arc::new(tokio::sync::Barrier::new(4));
    let mut claimers = Vec::new();
    for _ in 0..4 {
        let store = store.clone();
        let barrier = barrier.clone();
        claimers.push(tokio::spawn(async move {
            barrier.wait().await;
            let mut mine = Vec::new();
            loop {
                let rows = store.claim_due("t", now + 1, LEASE, 7).await.unwrap();
                if rows.is_empty() {
                    return mine;
                }
                mine.extend(rows.iter().map(|row| row.id));
                tokio::task::yield_now().await;
            }
        }));
    }
    let mut all = Vec::new();
    let mut claimers_with_rows = 0;
    for claimer in claimers {
        let mine = claimer.await.unwrap();
        claimers_with_rows += usize::from(!mine.is_empty());
        all.extend(mine);
    }
    let distinct: BTreeSet<i64> = all.iter().copied().collect();
    assert_eq!(all.len(), ROWS, "claimed in total");
    assert_eq!(distinct.len(), ROWS, "no row claimed twice");
    eprintln!(
        "{} backend: {claimers_with_rows} of 4 claimers got rows",
        store.backend()
    );
}

/// PostgreSQL: a claim skips a row another transaction holds locked instead
/// of waiting for it, and an event that commits after a later event was
/// fanned out is still fanned out. SQLite has one writer, so neither can
/// happen there; it checks that nothing at or below the cursor is re-read.
pub async fn locked_rows_are_skipped_and_late_commits_fanned_out(sql: SqlStore) {
    let pool = sql.pool().clone();
    let store: Arc<dyn Store> = Arc::new(sql);
    let now = NOW;
    for id in ["l1", "l2"] {
        assert!(
            store
                .insert_incident(&incident(id, id, now), Some("{}"))
                .await
                .unwrap()
        );
    }
    let events = fan_out_all(&store, now, &["t"]).await;
    assert_eq!(events.len(), 2);
    if !store.shared() {
        assert!(
            store
                .undispatched_events(now, 100)
                .await
                .unwrap()
                .is_empty()
        );
        let claimed = store.claim_due("t", now, LEASE, 10).await.unwrap();
        assert_eq!(claimed.len(), 2);
        return;
    }
    let first = store
        .outbox_entries(&OutboxFilter {
            target: Some("t".into()),
            limit: 1,
            ..Default::default()
        })
        .await
        .unwrap()
        .remove(0);
    // Another collector's claim in progress: the first row locked, uncommitted.
    let mut holder = pool.begin().await.unwrap();
    sqlx::query("SELECT id FROM outbox WHERE id = $1 FOR UPDATE")
        .bind(first.id)
        .fetch_all(&mut *holder)
        .await
        .unwrap();
    let claimed = tokio::time::timeout(
        Duration::from_secs(10),
        store.claim_due("t", now + 1, LEASE, 10),
    )
    .await
    .expect("the claim skips the locked row instead of waiting for it")
    .unwrap();
    assert_eq!(claimed.len(), 1, "{claimed:?}");
    assert_ne!(claimed[0].id, first.id, "the locked row is skipped");
    holder.rollback().await.unwrap();
    assert_eq!(
        store
            .claim_due("t", now + 2, LEASE, 10)
            .await
            .unwrap()
            .iter()
            .map(|row| row.id)
            .collect::<Vec<_>>(),
        [first.id],
        "once the lock is gone the row is claimed"
    );

    // A late commit: an event takes its id, a later event commits and is
    // fanned out (the cursor moves past the first's id), then the first commits.
    let late_at = now + 10_000;
    let mut late = pool.begin().await.unwrap();
    let late_id: (i64,) = sqlx::query_as(
        "INSERT INTO incident_events (incident_id, transition, payload, created_at) \
         VALUES ('late', 'trigger', '{}', $1) RETURNING id",
    )
    .bind(late_at)
    .fetch_one(&mut *late)
    .await
    .unwrap();
    assert!(
        store
            .insert_incident(&incident("after", "after", late_at), Some("{}"))
            .await
            .unwrap()
    );
    let seen = fan_out_all(&store, late_at, &["t"]).await;
    assert_eq!(
        seen.iter()
            .map(|event| event.incident_id.as_str())
            .collect::<Vec<_>>(),
        ["after"],
        "the uncommitted event is not visible yet"
    );
    assert!(seen[0].id > late_id.0, "ids were taken in this order");
    late.commit().await.unwrap();
    let looked_back = fan_out_all(&store, late_at + 1_000, &["t"]).await;
    assert_eq!(
        looked_back.iter().map(|event| event.id).collect::<Vec<_>>(),
        [late_id.0],
        "the late commit below the cursor is fanned out"
    );
    assert!(
        store
            .undispatched_events(late_at + 2_000, 100)
            .await
            .unwrap()
            .is_empty(),
        "once fanned out it is not read again, and the cursor did not go back"
    );
    let rows = store
        .outbox_entries(&OutboxFilter {
            incident_id: Some("late".into()),
            limit: 10,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(rows.len(), 1, "{rows:?}");
}
