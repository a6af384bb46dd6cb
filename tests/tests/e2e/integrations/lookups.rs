//! Look-ups by agent-chosen text (issue 12, finding 5): a dedup key or host
//! name written in a vendor's query syntax must not change which record a
//! target's look-up finds. The fakes evaluate queries as the vendor does
//! (ServiceNow encoded queries: `^` AND, `^OR`, `^NQ`), so against the
//! unfixed adapter these tests show the attack succeeding: the hostile
//! incident is matched to the victim's and its resolve closes the victim's.

use anyhow::Result;
use rollcall_collector::incidents::event::{IncidentEvent, Transition};
use rollcall_tests::vendors::{self, target_toml};
use rollcall_tests::{Collector, events};

use super::{FAST, external_ref, options, wait_delivered};

/// An event of incident `id` on a CI named `ci_name` with dedup key `key`.
fn hostile(id: &str, key: &str, ci_name: &str, transition: Transition) -> IncidentEvent {
    let mut event = events::host_down(id, "web2", transition);
    event.dedup_key = key.to_string();
    event.ci.name = ci_name.to_string();
    event
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn servicenow_caret_or_in_a_key_or_host_name_does_not_change_which_incident_is_found()
-> Result<()> {
    let fake = vendors::servicenow::start().await?;
    let web1_ci = vendors::servicenow::add_ci(&fake, "web1");
    let dir = tempfile::tempdir()?;
    let collector = Collector::start(
        dir.path(),
        &options(&target_toml("servicenow", "servicenow", &fake.url, FAST)),
    )?;
    let db = events::open(&collector.data_dir).await?;
    events::insert(
        &db,
        &events::host_down("inc-victim", "web1", Transition::Trigger),
    )
    .await?;
    let list = wait_delivered(&collector, "inc-victim", &["servicenow"], 1).await?;
    let victim = external_ref(&list, "servicenow");
    let victim_record = fake.object(&victim).unwrap_or_default();
    assert_eq!(
        victim_record["cmdb_ci"],
        web1_ci.as_str(),
        "a valid host name is looked up"
    );

    let keys = [
        "web2:failed_check:a^ORactive=true",
        "web2:failed_check:b^NQactive=true",
        "web2:failed_check:c^ORcorrelation_id=web1:host_down",
    ];
    for (n, key) in keys.iter().enumerate() {
        let id = format!("inc-hostile-{n}");
        let event = hostile(&id, key, "evil^ORname=web1", Transition::Trigger);
        events::insert(&db, &event).await?;
        let list = wait_delivered(&collector, &id, &["servicenow"], 1).await?;
        let found = external_ref(&list, "servicenow");
        assert_ne!(
            found, victim,
            "key {key:?} was matched to the victim's incident"
        );
        let record = fake.object(&found).unwrap_or_default();
        assert_eq!(
            record["active"], true,
            "{key:?}: a new incident of its own: {record}"
        );
        assert_ne!(
            record["cmdb_ci"],
            web1_ci.as_str(),
            "a host name with ^OR was matched to another host's CI"
        );
        events::insert(
            &db,
            &hostile(&id, key, "evil^ORname=web1", Transition::Resolve),
        )
        .await?;
        wait_delivered(&collector, &id, &["servicenow"], 2).await?;
        assert_eq!(fake.object(&found).unwrap_or_default()["state"], "6");
    }
    let victim_record = fake.object(&victim).unwrap_or_default();
    assert_eq!(
        victim_record["active"], true,
        "victim resolved by a hostile key"
    );
    assert_eq!(victim_record["state"], "1");
    super::assert_no_violations(&[("servicenow", &fake)]);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn zendesk_hostile_key_finds_only_its_own_ticket() -> Result<()> {
    let fake = vendors::zendesk::start().await?;
    let dir = tempfile::tempdir()?;
    let collector = Collector::start(
        dir.path(),
        &options(&target_toml("zendesk", "zendesk", &fake.url, FAST)),
    )?;
    let db = events::open(&collector.data_dir).await?;
    events::insert(
        &db,
        &events::host_down("inc-victim", "web1", Transition::Trigger),
    )
    .await?;
    let list = wait_delivered(&collector, "inc-victim", &["zendesk"], 1).await?;
    let victim = external_ref(&list, "zendesk");

    // Zendesk's list filter is exact, but the key also travels in a header,
    // where a line break makes the request impossible to send.
    let key = "web2:failed_check:a&external_id=web1:host_down*\r\nX-Evil: 1";
    let event = hostile("inc-hostile", key, "web2", Transition::Trigger);
    events::insert(&db, &event).await?;
    let list = wait_delivered(&collector, "inc-hostile", &["zendesk"], 1).await?;
    let found = external_ref(&list, "zendesk");
    assert_ne!(found, victim, "hostile key matched the victim's ticket");
    events::insert(
        &db,
        &hostile("inc-hostile", key, "web2", Transition::Resolve),
    )
    .await?;
    wait_delivered(&collector, "inc-hostile", &["zendesk"], 2).await?;
    assert_eq!(fake.object(&found).unwrap_or_default()["status"], "solved");
    assert_ne!(fake.object(&victim).unwrap_or_default()["status"], "solved");
    super::assert_no_violations(&[("zendesk", &fake)]);
    Ok(())
}
