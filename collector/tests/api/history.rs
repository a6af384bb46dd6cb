//! The CMDB as of a moment: `GET /api/v1/hosts/{id}?as_of=` rebuilds the
//! inventory from history, and `/hosts/{id}/diff?from=&to=` is exactly the
//! difference of two such states, on both backends. The store is seeded
//! through its traits (a first inventory, then a snapshot at a known time
//! with one package upgraded, one removed, one added and an interface gone);
//! the router is called in process.

use axum::http::StatusCode;
use rollcall_collector::store::{ApplyContext, InventoryChange};
use serde_json::{Value, json};

use crate::on_both_backends;
use crate::support::{App, item, package};

const T1: i64 = 1_790_000_000_000;
const T2: i64 = T1 + 3_600_000;

fn software(reply: &Value) -> Vec<(String, String)> {
    let mut list: Vec<(String, String)> = reply["inventory"]["software"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|package| {
            (
                package["name"].as_str().unwrap_or_default().to_string(),
                package["version"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect();
    list.sort();
    list
}

fn pairs(items: &[(&str, &str)]) -> Vec<(String, String)> {
    items
        .iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect()
}

async fn inventory_as_of_and_diff_follow_history(app: App) {
    let nic = |name: &str| {
        item(
            "network_adapter",
            name,
            json!({ "name": name, "mtu": 1500 }),
        )
    };
    let first = vec![
        package("bash", "5.1-2"),
        package("curl", "7.88.1-10"),
        package("vim", "2:9.0.1378-2"),
        nic("eth0"),
        nic("eth1"),
    ];
    let host = app.host_with("hist-01", "", first, T1).await;
    let second = InventoryChange {
        full: true,
        items: vec![
            package("bash", "5.2.15-2"),
            package("curl", "7.88.1-10"),
            package("zsh", "5.9-4"),
            nic("eth0"),
        ],
        removed: Vec::new(),
    };
    app.state
        .store
        .apply_inventory(
            &ApplyContext {
                agent_id: "agent-hist-01".into(),
                host_id: host.clone(),
                seq: 2,
                at: T2,
            },
            second,
        )
        .await
        .expect("second snapshot");

    let at = |ms: i64| format!("/api/v1/hosts/{host}?as_of={ms}");
    let then = app.get(&at(T1 + 1000), &app.viewer).await;
    assert_eq!(then.status, StatusCode::OK, "{:?}", then.body);
    assert_eq!(then.body["as_of"], T1 + 1000);
    assert_eq!(
        software(&then.body),
        pairs(&[
            ("bash", "5.1-2"),
            ("curl", "7.88.1-10"),
            ("vim", "2:9.0.1378-2")
        ])
    );
    assert_eq!(
        then.body["inventory"]["network_adapter"]
            .as_array()
            .map(Vec::len),
        Some(2)
    );
    let later = app.get(&at(T2 + 1000), &app.viewer).await;
    assert_eq!(
        software(&later.body),
        pairs(&[
            ("bash", "5.2.15-2"),
            ("curl", "7.88.1-10"),
            ("zsh", "5.9-4")
        ])
    );
    assert_eq!(
        later.body["inventory"]["network_adapter"]
            .as_array()
            .map(Vec::len),
        Some(1)
    );
    // Now equals the latest moment; RFC 3339 works too.
    let now = app.get(&format!("/api/v1/hosts/{host}"), &app.viewer).await;
    assert_eq!(software(&now.body), software(&later.body));
    let rfc = app
        .get(
            &format!("/api/v1/hosts/{host}?as_of=2026-09-21T14:13:21Z"),
            &app.viewer,
        )
        .await;
    assert_eq!(software(&rfc.body), software(&then.body), "{:?}", rfc.body);

    let diff = app
        .get(
            &format!(
                "/api/v1/hosts/{host}/diff?from={}&to={}",
                T1 + 1000,
                T2 + 1000
            ),
            &app.viewer,
        )
        .await;
    assert_eq!(diff.status, StatusCode::OK, "{:?}", diff.body);
    let sections = &diff.body["sections"];
    let keys = |section: &str, kind: &str| -> Vec<String> {
        sections[section][kind]
            .as_array()
            .into_iter()
            .flatten()
            .map(|entry| entry["key"].as_str().unwrap_or_default().to_string())
            .collect()
    };
    assert_eq!(keys("software", "added"), ["zsh:amd64"]);
    assert_eq!(keys("software", "removed"), ["vim:amd64"]);
    assert_eq!(keys("software", "changed"), ["bash:amd64"]);
    assert_eq!(
        sections["software"]["changed"][0]["fields"],
        json!({ "version": { "old": "5.1-2", "new": "5.2.15-2" } })
    );
    assert_eq!(keys("network_adapter", "removed"), ["eth1"]);
    assert!(keys("network_adapter", "added").is_empty());
    assert_eq!(
        sections.as_object().map(|map| map.len()),
        Some(2),
        "only the sections that changed: {sections}"
    );
    // Nothing changed inside one state.
    let none = app
        .get(
            &format!("/api/v1/hosts/{host}/diff?from={}&to={}", T2 + 1, T2 + 2),
            &app.viewer,
        )
        .await;
    assert_eq!(none.body["sections"], json!({}));

    // Refusals: a clear 400 (or 404), nothing changed.
    for (uri, status, says) in [
        (
            format!("/api/v1/hosts/{host}?as_of=yesterday"),
            400,
            "as_of must be",
        ),
        (
            format!("/api/v1/hosts/{host}?as_of=99999999999999"),
            400,
            "between",
        ),
        (
            format!("/api/v1/hosts/{host}?as_of=4102444700000"),
            400,
            "future",
        ),
        (format!("/api/v1/hosts/{host}?asof=1"), 400, "unknown field"),
        (
            format!("/api/v1/hosts/{host}/diff?from={T2}&to={T1}"),
            400,
            "must be before",
        ),
        (format!("/api/v1/hosts/{host}/diff?to={T2}"), 400, "from"),
        (
            format!("/api/v1/hosts/{host}/diff?from=x"),
            400,
            "from must be",
        ),
        (
            "/api/v1/hosts/no-such-host/diff?from=1790000000000".to_string(),
            404,
            "host",
        ),
    ] {
        let reply = app.get(&uri, &app.viewer).await;
        assert_eq!(reply.status.as_u16(), status, "{uri}: {:?}", reply.body);
        assert!(
            reply.body.to_string().contains(says),
            "{uri}: {:?}",
            reply.body
        );
    }
    let after = app.get(&format!("/api/v1/hosts/{host}"), &app.viewer).await;
    assert_eq!(software(&after.body), software(&later.body));
}

on_both_backends!(inventory_as_of_and_diff_follow_history);
