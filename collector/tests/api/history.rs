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

/// `GET /api/v1/hosts?as_of=`: the hosts held then, each with its summary
/// as its inventory then gave it.
async fn the_host_list_as_of_a_moment_rebuilds_each_row_from_history(app: App) {
    let os = |kernel: &str| {
        item(
            "os",
            "",
            json!({ "name": "Debian GNU/Linux", "version": "12", "kernel": kernel, "arch": "x86_64" }),
        )
    };
    let first = vec![
        package("bash", "5.1-2"),
        package("curl", "7.88.1-10"),
        package("vim", "2:9.0.1378-2"),
        os("6.1.0-18-amd64"),
    ];
    let a = app.host_with("asof-a", "", first, T1).await;
    app.state
        .store
        .apply_inventory(
            &ApplyContext {
                agent_id: "agent-asof-a".into(),
                host_id: a.clone(),
                seq: 2,
                at: T2,
            },
            InventoryChange {
                full: true,
                items: vec![package("bash", "5.2.15-2"), os("6.1.0-21-amd64")],
                removed: Vec::new(),
            },
        )
        .await
        .expect("second snapshot");
    let b = app
        .host_with(
            "asof-b",
            "",
            vec![package("bash", "5.2.15-2")],
            T2 + 3_600_000,
        )
        .await;
    let rows = |reply: &crate::support::Reply| -> Vec<(String, String, i64)> {
        reply.body["items"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|row| {
                (
                    row["hostname"].as_str().unwrap_or_default().to_string(),
                    row["kernel"].as_str().unwrap_or_default().to_string(),
                    row["package_count"].as_i64().unwrap_or(-1),
                )
            })
            .collect()
    };
    let then = app
        .get(&format!("/api/v1/hosts?as_of={}", T1 + 1000), &app.viewer)
        .await;
    assert_eq!(then.status, StatusCode::OK, "{:?}", then.body);
    assert_eq!(rows(&then), [("asof-a".into(), "6.1.0-18-amd64".into(), 3)]);
    assert_eq!(then.body["items"][0]["os_name"], "Debian GNU/Linux");
    assert_eq!(then.body["items"][0]["as_of"], T1 + 1000);
    let later = app
        .get(&format!("/api/v1/hosts?as_of={}", T2 + 1000), &app.viewer)
        .await;
    assert_eq!(
        rows(&later),
        [("asof-a".into(), "6.1.0-21-amd64".into(), 1)]
    );
    let both = app
        .get(
            &format!("/api/v1/hosts?as_of={}", T2 + 7_200_000),
            &app.viewer,
        )
        .await;
    let mut names: Vec<String> = rows(&both).into_iter().map(|row| row.0).collect();
    names.sort();
    assert_eq!(names, ["asof-a", "asof-b"]);
    // Pages of one, by id.
    let first_page = app
        .get(
            &format!("/api/v1/hosts?as_of={}&limit=1", T2 + 7_200_000),
            &app.viewer,
        )
        .await;
    let cursor = first_page.body["next_cursor"]
        .as_str()
        .expect("cursor")
        .to_string();
    let second_page = app
        .get(
            &format!(
                "/api/v1/hosts?as_of={}&limit=1&cursor={cursor}",
                T2 + 7_200_000
            ),
            &app.viewer,
        )
        .await;
    let mut ids = vec![
        first_page.body["items"][0]["id"]
            .as_str()
            .unwrap_or_default()
            .to_string(),
        second_page.body["items"][0]["id"]
            .as_str()
            .unwrap_or_default()
            .to_string(),
    ];
    ids.sort();
    let mut expected = vec![a.clone(), b.clone()];
    expected.sort();
    assert_eq!(ids, expected);
    let csv = app
        .get(
            &format!("/api/v1/hosts?as_of={}&format=csv", T1 + 1000),
            &app.viewer,
        )
        .await;
    assert!(csv.text().contains("6.1.0-18-amd64"), "{}", csv.text());
    for (query, needle) in [
        (format!("as_of={T1}&name=asof-a"), "selects by the present"),
        ("as_of=2199-01-01T00:00:00Z".to_string(), "future"),
        (
            format!("as_of={T1}&limit=1000"),
            "limit must be between 1 and 200",
        ),
        (format!("as_of={T1}&as_of={T2}"), "given twice"),
        ("as_of=yesterday".to_string(), "RFC 3339"),
    ] {
        let reply = app
            .get(&format!("/api/v1/hosts?{query}"), &app.viewer)
            .await;
        App::assert_bad_request(&reply, needle);
    }
}

on_both_backends!(
    inventory_as_of_and_diff_follow_history,
    the_host_list_as_of_a_moment_rebuilds_each_row_from_history
);
