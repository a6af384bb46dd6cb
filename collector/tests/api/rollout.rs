//! Software rollout over time: `GET /api/v1/software/{name}/rollout` on a
//! store seeded through its traits with known upgrade times (first
//! inventories, then full snapshots upgrading, adding or removing
//! `openssl`), on both backends. The per-step counts and the time to
//! remediate are checked exactly, then every refusal.

use axum::http::StatusCode;
use rollcall_collector::cmdb::diff::CiItem;
use rollcall_collector::store::{ApplyContext, InventoryChange};
use serde_json::{Value, json};

use crate::on_both_backends;
use crate::support::{App, item, package};

const DAY: i64 = 86_400_000;
const HOUR: i64 = 3_600_000;
/// The window's start: the moment the fix 3.0.13-1 became available.
const T0: i64 = 1_790_000_000_000;

fn rpm(name: &str, version: &str) -> CiItem {
    CiItem {
        name: name.into(),
        ..item(
            "software",
            &format!("{name}:x86_64"),
            json!({ "name": name, "version": version, "arch": "x86_64", "manager": "rpm" }),
        )
    }
}

/// A host first seen at `at` with bash and, if given, openssl `version`.
async fn host(app: &App, name: &str, openssl: Option<&str>, at: i64) -> String {
    let mut items = vec![package("bash", "5.2.15-2")];
    items.extend(openssl.map(|version| package("openssl", version)));
    app.host_with(name, "", items, at).await
}

/// A full snapshot at `at` (sequence `seq`): bash and openssl `version`, or
/// bash alone.
async fn snapshot(app: &App, name: &str, host_id: &str, seq: i64, openssl: Option<&str>, at: i64) {
    let mut items = vec![package("bash", "5.2.15-2")];
    items.extend(openssl.map(|version| package("openssl", version)));
    app.state
        .store
        .apply_inventory(
            &ApplyContext {
                agent_id: format!("agent-{name}"),
                host_id: host_id.into(),
                seq,
                at,
            },
            InventoryChange {
                full: true,
                items,
                removed: Vec::new(),
            },
        )
        .await
        .expect("snapshot");
}

fn column(reply: &Value, field: &str) -> Vec<i64> {
    reply["steps"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|step| step[field].as_i64().unwrap_or(-1))
        .collect()
}

async fn rollout_counts_and_time_to_remediate_are_exact(app: App) {
    let (old, fixed) = (Some("3.0.11-1~deb12u2"), Some("3.0.13-1"));
    let before = T0 - 5 * DAY;
    let a = host(&app, "roll-a", old, before).await;
    snapshot(&app, "roll-a", &a, 2, fixed, T0 + 2 * DAY + HOUR).await;
    let b = host(&app, "roll-b", old, before).await;
    snapshot(&app, "roll-b", &b, 2, fixed, T0 + 8 * DAY).await;
    host(&app, "roll-c", fixed, before).await;
    host(&app, "roll-d", old, before).await;
    let e = host(&app, "roll-e", old, T0 + 3 * DAY + 12 * HOUR).await;
    snapshot(&app, "roll-e", &e, 2, fixed, T0 + 4 * DAY + 12 * HOUR).await;
    let f = host(&app, "roll-f", None, before).await;
    snapshot(&app, "roll-f", &f, 2, Some("3.0.14-1"), T0 + 5 * DAY).await;
    let g = host(&app, "roll-g", old, before).await;
    snapshot(&app, "roll-g", &g, 2, None, T0 + 6 * DAY).await;
    let h = host(&app, "roll-h", old, before).await;
    snapshot(&app, "roll-h", &h, 2, fixed, T0 - DAY).await;
    host(&app, "roll-i", old, T0 + 11 * DAY).await;

    let uri = format!(
        "/api/v1/software/openssl/rollout?version_ge=3.0.13-1&since={T0}&until={}&step=1d",
        T0 + 10 * DAY
    );
    let reply = app.get(&uri, &app.viewer).await;
    assert_eq!(reply.status, StatusCode::OK, "{:?}", reply.body);
    let body = &reply.body;
    let first_answer = body.clone();
    assert_eq!(body["manager"], "dpkg");
    assert_eq!(body["step_s"], 86_400);
    assert_eq!(
        column(body, "at"),
        (0..=10).map(|k| T0 + k * DAY).collect::<Vec<_>>()
    );
    // By hand from the seed: a fixed after step 2, b at step 8, e joins
    // (below) at 3.5 d and is fixed at 4.5 d, f gets 3.0.14 at step 5,
    // g drops openssl at step 6; c and h are fixed throughout, d never, i
    // joins after the window.
    assert_eq!(
        column(body, "at_or_above"),
        [2, 2, 2, 3, 3, 5, 5, 5, 6, 6, 6]
    );
    assert_eq!(column(body, "below"), [4, 4, 4, 3, 4, 3, 2, 2, 1, 1, 1]);
    assert_eq!(column(body, "without"), [1, 1, 1, 1, 1, 0, 1, 1, 1, 1, 1]);

    let remediation = &body["remediation"];
    assert_eq!(remediation["exposed"], 5, "{remediation}");
    assert_eq!(remediation["remediated"], 3);
    assert_eq!(remediation["removed"], 1);
    assert_eq!(remediation["still_below"], 1);
    // Times: e 24 h, a 49 h, b 192 h; nearest rank.
    assert_eq!(remediation["p50_s"], 49 * 3600);
    assert_eq!(remediation["p90_s"], 192 * 3600);
    assert_eq!(remediation["within"], 2);
    assert_eq!(remediation["share_within"], 0.4);
    let hosts: Vec<(&str, Option<i64>, bool)> = body["hosts"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|host| {
            (
                host["hostname"].as_str().unwrap_or_default(),
                host["seconds_to_remediate"].as_i64(),
                host["removed"].as_bool().unwrap_or_default(),
            )
        })
        .collect();
    assert_eq!(
        hosts,
        [
            ("roll-e", Some(24 * 3600), false),
            ("roll-a", Some(49 * 3600), false),
            ("roll-b", Some(192 * 3600), false),
            ("roll-d", None, false),
            ("roll-g", None, true),
        ]
    );
    assert_eq!(body["hosts"][1]["exposed_from"], T0);
    assert_eq!(body["hosts"][0]["exposed_from"], T0 + 3 * DAY + 12 * HOUR);
    assert_eq!(body["hosts"][3]["version_at_until"], "3.0.11-1~deb12u2");

    // Share within 10 days: all three remediated of five exposed.
    let wider = app.get(&format!("{uri}&within_days=10"), &app.viewer).await;
    assert_eq!(wider.body["remediation"]["share_within"], 0.6);
    // A cap on the host list keeps the totals.
    let capped = app.get(&format!("{uri}&limit=2"), &app.viewer).await;
    assert_eq!(capped.body["hosts"].as_array().map(Vec::len), Some(2));
    assert_eq!(capped.body["hosts_total"], 5);

    // CSV: the steps.
    let csv = app.get(&format!("{uri}&format=csv"), &app.viewer).await;
    assert_eq!(csv.status, StatusCode::OK);
    let mut lines = csv.text().lines();
    assert_eq!(lines.next(), Some("at,at_or_above,below,without"));
    assert_eq!(lines.next(), Some(format!("{T0},2,4,1").as_str()));
    assert_eq!(lines.count(), 10);

    // A package two managers report needs manager=.
    let rpm_host = app
        .host_with("roll-rpm", "", vec![rpm("zlib", "1.2.13-5.el9")], before)
        .await;
    assert!(!rpm_host.is_empty());
    app.host_with(
        "roll-deb",
        "",
        vec![package("zlib", "1:1.2.13.dfsg-1")],
        before,
    )
    .await;
    let zlib = format!(
        "/api/v1/software/zlib/rollout?version_ge=1.2.13&since={T0}&until={}",
        T0 + 10 * DAY
    );
    let ambiguous = app.get(&zlib, &app.viewer).await;
    App::assert_bad_request(&ambiguous, "dpkg, rpm");
    let one = app.get(&format!("{zlib}&manager=rpm"), &app.viewer).await;
    assert_eq!(one.status, StatusCode::OK, "{:?}", one.body);
    assert_eq!(one.body["manager"], "rpm");
    assert_eq!(column(&one.body, "at_or_above")[0], 1, "{:?}", one.body);

    // Refusals, each naming the problem.
    let base = "/api/v1/software/openssl/rollout";
    let window = format!("since={T0}&until={}", T0 + 10 * DAY);
    for (query, needle) in [
        (window.clone(), "version_ge"),
        (
            format!("version_ge=3.0.13;DROP&{window}"),
            "not a package version",
        ),
        (
            format!("version_ge=3.0.13-1&{window}&step=0"),
            "at least one minute",
        ),
        (
            format!("version_ge=3.0.13-1&{window}&step=30s"),
            "at least one minute",
        ),
        (
            format!("version_ge=3.0.13-1&{window}&step=1w"),
            "step must be",
        ),
        (
            format!("version_ge=3.0.13-1&{window}&step=99999999999d"),
            "step must be",
        ),
        (
            format!(
                "version_ge=3.0.13-1&since={T0}&until={}&step=1m",
                T0 + 10 * DAY
            ),
            "at most 1000",
        ),
        (
            format!("version_ge=3.0.13-1&{window}&manager=pip"),
            "manager",
        ),
        (
            format!("version_ge=3.0.13-1&{window}&within_days=0"),
            "within_days",
        ),
        (format!("version_ge=3.0.13-1&{window}&colour=red"), "colour"),
        (
            format!("version_ge=3.0.13-1&since={}&until={T0}", T0 + DAY),
            "until must be after since",
        ),
        (
            "version_ge=3.0.13-1&until=2199-01-01T00:00:00Z".to_string(),
            "future",
        ),
        (
            format!("version_ge=3.0.13-1&since=yesterday&until={T0}"),
            "RFC 3339",
        ),
        (
            format!("version_ge=3.0.13-1&{window}&limit=1000000"),
            "limit",
        ),
    ] {
        let reply = app.get(&format!("{base}?{query}"), &app.viewer).await;
        App::assert_bad_request(&reply, needle);
    }
    let long = "x".repeat(300);
    let reply = app
        .get(
            &format!("/api/v1/software/{long}/rollout?version_ge=1"),
            &app.viewer,
        )
        .await;
    App::assert_bad_request(&reply, "1 to 256 bytes");
    let unknown = app
        .get(
            "/api/v1/software/no-such-package/rollout?version_ge=1",
            &app.viewer,
        )
        .await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND, "{:?}", unknown.body);
    app.assert_needs_token(axum::http::Method::GET, &uri, None)
        .await;
    // Nothing refused above changed the store: the same question (over a
    // window the zlib hosts, seeded before it, are in as without-openssl
    // hosts) gives the same steps but for those two hosts.
    let again = app.get(&uri, &app.viewer).await;
    let without: Vec<i64> = column(&first_answer, "without")
        .iter()
        .map(|n| n + 2)
        .collect();
    assert_eq!(column(&again.body, "without"), without);
    assert_eq!(again.body["remediation"], first_answer["remediation"]);
}

on_both_backends!(rollout_counts_and_time_to_remediate_are_exact);
