//! A collector group on one PostgreSQL database (issue 14): two real
//! collector processes run the dispatcher and the delivery workers on the
//! same outbox at the same time, and each entry reaches the vendor once.
//! The incident events are written into the shared `incident_events` table
//! as the incident engine writes them (direct store writes); fan-out,
//! claiming and delivery are the collectors' own.

use std::collections::BTreeMap;
use std::time::Duration;

use anyhow::Result;
use rollcall_collector::incidents::event::Transition;
use rollcall_tests::vendors::{self, target_toml};
use rollcall_tests::{Collector, CollectorOptions, events, wait_for};

use super::{FAST, assert_no_violations, options};

/// Incidents written; each becomes one entry per target.
const INCIDENTS: usize = 40;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_collectors_delivering_from_one_postgres_outbox_deliver_each_entry_once() -> Result<()>
{
    let Some(url) = rollcall_tests::postgres_url().await else {
        return Ok(());
    };
    let webhook = vendors::webhook::start().await?;
    let jira = vendors::jira::start().await?;
    // A rate limit per collector and target, so both collectors have rows
    // in flight at once instead of the first sending everything in a burst.
    let limit = format!("rate_per_second = 20\nburst = 4\n{FAST}");
    let targets = format!(
        "{}{}",
        target_toml("hook", "webhook", &webhook.url, &limit),
        target_toml("jira", "jira", &jira.url, &limit)
    );
    let options = CollectorOptions {
        database_url: Some(url.clone()),
        ..options(&targets)
    };
    let dir = tempfile::tempdir()?;
    let first = Collector::start(dir.path(), &options)?;
    let second = Collector::start_peer(dir.path(), "collector-2", &options, &first)?;
    let db = events::open_url(&url).await?;
    for index in 0..INCIDENTS {
        let host = format!("pg{index:02}");
        events::insert_any(
            &db,
            &events::host_down(&format!("inc-{host}"), &host, Transition::Trigger),
        )
        .await?;
    }
    wait_for(
        "every entry delivered to both targets",
        Duration::from_secs(60),
        || async {
            let listed = first
                .get("/api/v1/outbox?state=delivered&limit=500")
                .await
                .ok()?;
            let delivered = listed["items"].as_array()?.len();
            (delivered == 2 * INCIDENTS).then_some(())
        },
    )
    .await?;
    // Time for a duplicate to arrive, were one in flight.
    tokio::time::sleep(Duration::from_secs(3)).await;

    // Each webhook request carries the CloudEvents id of one entry: one request each.
    let mut per_id: BTreeMap<String, usize> = BTreeMap::new();
    for request in webhook.requests() {
        let body: serde_json::Value = serde_json::from_slice(&request.body)?;
        *per_id
            .entry(body["id"].as_str().unwrap_or_default().to_string())
            .or_default() += 1;
    }
    let repeated: Vec<_> = per_id.iter().filter(|(_, count)| **count != 1).collect();
    assert_eq!(per_id.len(), INCIDENTS, "one event id per incident");
    assert!(repeated.is_empty(), "sent more than once: {repeated:?}");
    // Jira creates a new request on every create: one per incident, none twice.
    let creates = jira
        .requests()
        .iter()
        .filter(|request| request.path == "/rest/servicedeskapi/request")
        .count();
    assert_eq!(creates, INCIDENTS, "Jira create requests");
    for index in 0..INCIDENTS {
        assert_eq!(
            jira.accepted(&format!("create:pg{index:02} is down")),
            1,
            "pg{index:02}"
        );
    }
    assert_no_violations(&[("webhook", &webhook), ("jira", &jira)]);

    // Both collectors delivered: the work was shared, not done by one alone.
    let delivered_by = |collector: &Collector| {
        collector
            .process
            .stderr_text()
            .matches("incident event delivered")
            .count()
    };
    let (by_first, by_second) = (delivered_by(&first), delivered_by(&second));
    eprintln!("entries delivered: first collector {by_first}, second {by_second}");
    assert_eq!(
        by_first + by_second,
        2 * INCIDENTS,
        "each entry logged once"
    );
    assert!(
        by_first > 0 && by_second > 0,
        "both collectors delivered: {by_first} and {by_second}"
    );
    Ok(())
}
