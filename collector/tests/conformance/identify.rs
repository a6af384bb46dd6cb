//! Identification and reconciliation at `Hello`: which host CI an agent lands on.
#![allow(clippy::unwrap_used)]

use std::sync::Arc;

use rollcall_collector::store::{ChangeFilter, HostFilter, Store};

use super::cases::{NOW, agent, identity};

pub async fn reinstalled_host_lands_on_its_old_ci(store: Arc<dyn Store>) {
    agent(&store, "old").await;
    agent(&store, "new").await;
    let before = identity(
        "machine-old",
        "4C4C4544-0042",
        "CZJ123",
        &["aa:bb:cc:00:00:01"],
        "db-07",
    );
    let first = store
        .attach_host("old", &before, "db-07", NOW)
        .await
        .unwrap();
    assert!(first.created);
    // Re-installed: new machine-id, new agent, same hardware.
    let after = identity(
        "machine-new",
        "4C4C4544-0042",
        "CZJ123",
        &["aa:bb:cc:00:00:01"],
        "db-07",
    );
    let second = store
        .attach_host("new", &after, "db-07", NOW + 1000)
        .await
        .unwrap();
    assert_eq!(second.host_id, first.host_id);
    assert_eq!(second.rule, "dmi_uuid+serial");
    assert!(!second.created);
    let host = store.host(&first.host_id).await.unwrap().unwrap();
    assert_eq!(host.agent_id.as_deref(), Some("new"));
    assert_eq!(host.machine_id, "machine-new");
    assert_eq!(
        store
            .hosts(&HostFilter {
                limit: 10,
                ..Default::default()
            })
            .await
            .unwrap()
            .len(),
        1
    );
    let changes = store
        .changes(&ChangeFilter {
            host_id: Some(first.host_id.clone()),
            limit: 100,
            ..Default::default()
        })
        .await
        .unwrap();
    assert!(changes.iter().any(|change| {
        change.field == "identification"
            && change
                .new_value
                .as_deref()
                .unwrap_or("")
                .contains("dmi_uuid+serial")
    }));
    assert!(
        changes
            .iter()
            .any(|change| change.field == "machine_id" && change.source == "new")
    );
}

pub async fn cloned_vms_do_not_merge(store: Arc<dyn Store>) {
    agent(&store, "vm1").await;
    agent(&store, "vm2").await;
    let one = store
        .attach_host(
            "vm1",
            &identity(
                "golden-image",
                "uuid-1",
                "",
                &["52:54:00:00:00:01"],
                "web-1",
            ),
            "web-1",
            NOW,
        )
        .await
        .unwrap();
    let two = store
        .attach_host(
            "vm2",
            &identity(
                "golden-image",
                "uuid-2",
                "",
                &["52:54:00:00:00:02"],
                "web-2",
            ),
            "web-2",
            NOW,
        )
        .await
        .unwrap();
    assert_ne!(one.host_id, two.host_id);
    assert!(two.created);
    assert_eq!(two.possible_duplicate_of, None);
}

pub async fn placeholder_serials_are_ignored(store: Arc<dyn Store>) {
    agent(&store, "p1").await;
    agent(&store, "p2").await;
    let one = store
        .attach_host(
            "p1",
            &identity(
                "m-1",
                "FFFFFFFF-FFFF-FFFF-FFFF-FFFFFFFFFFFF",
                "To Be Filled By O.E.M.",
                &["00:00:00:00:00:00"],
                "a",
            ),
            "a",
            NOW,
        )
        .await
        .unwrap();
    let two = store
        .attach_host(
            "p2",
            &identity(
                "m-2",
                "03000200-0400-0500-0006-000700080009",
                "To Be Filled By O.E.M.",
                &["00:00:00:00:00:00"],
                "b",
            ),
            "b",
            NOW,
        )
        .await
        .unwrap();
    assert_ne!(
        one.host_id, two.host_id,
        "placeholder serials and UUIDs must not merge hosts"
    );
    let host = store.host(&one.host_id).await.unwrap().unwrap();
    assert_eq!(
        (
            host.dmi_serial.as_str(),
            host.dmi_uuid.as_str(),
            host.macs.as_str()
        ),
        ("", "", "")
    );
}

pub async fn one_nic_changed_still_matches(store: Arc<dyn Store>) {
    agent(&store, "n1").await;
    agent(&store, "n2").await;
    let one = store
        .attach_host(
            "n1",
            &identity(
                "",
                "",
                "",
                &["aa:00:00:00:00:01", "aa:00:00:00:00:02"],
                "nic",
            ),
            "nic",
            NOW,
        )
        .await
        .unwrap();
    let two = store
        .attach_host(
            "n2",
            &identity(
                "",
                "",
                "",
                &["aa:00:00:00:00:01", "aa:00:00:00:00:03"],
                "nic-renamed",
            ),
            "nic-renamed",
            NOW,
        )
        .await
        .unwrap();
    assert_eq!(one.host_id, two.host_id);
    assert_eq!(two.rule, "mac_set");
    let host = store.host(&one.host_id).await.unwrap().unwrap();
    assert_eq!(host.macs, "aa:00:00:00:00:01,aa:00:00:00:00:03");
}

pub async fn hostname_rename_keeps_the_ci(store: Arc<dyn Store>) {
    agent(&store, "r1").await;
    let first = store
        .attach_host(
            "r1",
            &identity("mid-1", "", "", &[], "old-name"),
            "old-name",
            NOW,
        )
        .await
        .unwrap();
    let again = store
        .attach_host(
            "r1",
            &identity("mid-1", "", "", &[], "new-name"),
            "new-name",
            NOW + 10,
        )
        .await
        .unwrap();
    assert_eq!(first.host_id, again.host_id);
    assert_eq!(
        store.host(&first.host_id).await.unwrap().unwrap().hostname,
        "new-name"
    );
    // A re-enrolled agent on the renamed host matches by machine-id.
    agent(&store, "r2").await;
    let third = store
        .attach_host(
            "r2",
            &identity("mid-1", "", "", &[], "newest-name"),
            "newest-name",
            NOW + 20,
        )
        .await
        .unwrap();
    assert_eq!(
        (third.host_id.as_str(), third.rule.as_str()),
        (first.host_id.as_str(), "machine_id")
    );
    let changes = store
        .changes(&ChangeFilter {
            host_id: Some(first.host_id.clone()),
            class: Some("host".into()),
            limit: 100,
            ..Default::default()
        })
        .await
        .unwrap();
    assert!(
        changes.iter().any(|change| change.field == "hostname"
            && change.old_value.as_deref() == Some("\"old-name\""))
    );
}

pub async fn ambiguous_match_is_flagged_not_merged(store: Arc<dyn Store>) {
    for id in ["x1", "x2", "x3"] {
        agent(&store, id).await;
    }
    let one = store
        .attach_host("x1", &identity("", "uuid-a", "", &[], "web"), "web", NOW)
        .await
        .unwrap();
    let two = store
        .attach_host("x2", &identity("", "uuid-b", "", &[], "web"), "web", NOW)
        .await
        .unwrap();
    assert_ne!(
        one.host_id, two.host_id,
        "different DMI UUIDs veto the hostname match"
    );
    let third = store
        .attach_host("x3", &identity("", "", "", &[], "web"), "web", NOW)
        .await
        .unwrap();
    assert!(third.created);
    assert_eq!(third.rule, "ambiguous:hostname");
    assert!(third.possible_duplicate_of.is_some());
    let host = store.host(&third.host_id).await.unwrap().unwrap();
    assert!(host.possible_duplicate_of.is_some());
    assert_eq!(
        store
            .hosts(&HostFilter {
                limit: 10,
                ..Default::default()
            })
            .await
            .unwrap()
            .len(),
        3
    );
}
