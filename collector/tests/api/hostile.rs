//! Hostile query values on every read endpoint that takes them: SQL
//! metacharacters, a 60 KB value (a URI holds at most 64 KiB), bad UTF-8,
//! NUL, huge and negative
//! numbers, absurd dates, path tricks. Each answer is a 200 (a capped or
//! empty answer), a 400 naming the problem or a 404, never a 5xx; and the
//! store is unchanged afterwards (hosts, history and incidents read back
//! identical). Both backends; the router in process, the store seeded
//! through its traits.

use axum::http::StatusCode;

use crate::on_both_backends;
use crate::support::App;

/// Percent-encodes every byte but unreserved ones.
fn encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// Hostile values, already encoded for a URL.
fn values() -> Vec<String> {
    let mut values: Vec<String> = [
        "' OR 1=1 --",
        "\"; DROP TABLE hosts; --",
        "a%' OR host_id LIKE '%",
        "1; DELETE FROM changes",
        "\\",
        "*?[]{}",
        "../../../etc/passwd",
        "-1",
        "0",
        "-9223372036854775808",
        "9223372036854775807",
        "99999999999999999999999999",
        "1e308",
        "NaN",
        "0000-00-00T00:00:00Z",
        "9999-12-31T23:59:59Z",
        "1969-12-31T23:59:59Z",
        "\u{202e}evil",
        "<script>alert(1)</script>",
        "",
    ]
    .iter()
    .map(|value| encode(value))
    .collect();
    values.push("%FF%FE%FD".into()); // not UTF-8
    values.push("a%00b".into()); // NUL
    // The longest value a URI holds (the `http` crate's limit is 64 KiB).
    values.push("x".repeat(60 * 1024));
    values
}

async fn snapshot(app: &App) -> Vec<serde_json::Value> {
    let mut out = Vec::new();
    for uri in [
        "/api/v1/hosts?limit=1000",
        "/api/v1/changes?limit=1000",
        "/api/v1/incidents?limit=1000",
        "/api/v1/outages?limit=1000",
        "/api/v1/maintenance",
    ] {
        out.push(app.get(uri, &app.admin).await.body);
    }
    out
}

async fn hostile_values_never_reach_a_500_or_change_the_store(app: App) {
    let host = app
        .host("hostile-01", &[("openssl", "3.0.11-1"), ("bash", "5.2")])
        .await;
    app.incident(&host).await;
    let before = snapshot(&app).await;
    let templates: Vec<String> = [
        "/api/v1/hosts?name={}",
        "/api/v1/hosts?os={}",
        "/api/v1/hosts?tag={}",
        "/api/v1/hosts?attr.owner={}",
        "/api/v1/hosts?software={}",
        "/api/v1/hosts?software=openssl&version={}&op=%3C",
        "/api/v1/hosts?software=openssl&version=3&op={}",
        "/api/v1/hosts?sort={}",
        "/api/v1/hosts?fields={}",
        "/api/v1/hosts?limit={}",
        "/api/v1/hosts?cursor={}",
        "/api/v1/hosts?last_seen_before={}",
        "/api/v1/hosts?memory_min={}",
        "/api/v1/hosts?port={}",
        "/api/v1/hosts?failed_unit={}",
        "/api/v1/hosts/{}",
        "/api/v1/hosts/HOST?as_of={}",
        "/api/v1/hosts/HOST/diff?from={}",
        "/api/v1/hosts/HOST/changes?cursor={}",
        "/api/v1/hosts/HOST/health?since={}&step=300",
        "/api/v1/hosts/HOST/health?step={}",
        "/api/v1/software?software={}",
        "/api/v1/software?software=openssl&version={}",
        "/api/v1/software/{}/hosts",
        "/api/v1/software/{}/rollout?version_ge=1",
        "/api/v1/software/openssl/rollout?version_ge={}",
        "/api/v1/software/openssl/rollout?version_ge=3&since={}",
        "/api/v1/software/openssl/rollout?version_ge=3&step={}",
        "/api/v1/changes?class={}",
        "/api/v1/changes?field={}",
        "/api/v1/changes?change={}",
        "/api/v1/changes?since={}",
        "/api/v1/changes?limit={}",
        "/api/v1/outages?host_id={}",
        "/api/v1/incidents?rule={}",
        "/api/v1/incidents?state={}",
        "/api/v1/incidents/{}",
        "/api/v1/availability?window={}",
        "/api/v1/availability?period={}",
        "/api/v1/availability?period=2026-11&tz={}",
        "/api/v1/identity-events?limit={}",
        "/api/v1/agents/{}",
        "/api/v1/outbox?state={}",
        "/api/v1/audit?limit={}",
    ]
    .iter()
    .map(|template| template.replace("HOST", &host))
    .collect();
    let mut checked = 0;
    for template in &templates {
        for value in values() {
            let uri = template.replace("{}", &value);
            let reply = app.get(&uri, &app.admin).await;
            let shown = &uri[..uri.len().min(120)];
            assert!(
                matches!(
                    reply.status,
                    StatusCode::OK | StatusCode::BAD_REQUEST | StatusCode::NOT_FOUND
                ),
                "{shown}: {} {:?}",
                reply.status,
                reply.body.to_string().chars().take(300).collect::<String>()
            );
            if reply.status == StatusCode::BAD_REQUEST {
                // A 400 says what was wrong, and does not echo 100 KB back.
                let message = reply.error();
                assert!(!message.is_empty(), "{shown}: {:?}", reply.body);
                assert!(
                    message.len() < 2_000,
                    "{shown}: a {} byte error",
                    message.len()
                );
            }
            checked += 1;
        }
    }
    assert!(checked > 900, "{checked}");
    assert_eq!(snapshot(&app).await, before, "the store is unchanged");
}

/// 100 KB strings in every JSON body that takes text: refused with a 400
/// (or 413 past the body limit), nothing written.
async fn hundred_kilobyte_bodies_are_refused_and_write_nothing(app: App) {
    let host = app.host("hostile-02", &[("bash", "5.2")]).await;
    let incident = app.incident(&host).await;
    let before = snapshot(&app).await;
    let big = "x".repeat(100 * 1024);
    let starts = rollcall_proto::now_ms() + 3_600_000;
    for (method, uri, body) in [
        (
            axum::http::Method::PUT,
            format!("/api/v1/hosts/{host}/tags"),
            serde_json::json!({ "tags": [big.clone()] }),
        ),
        (
            axum::http::Method::PATCH,
            format!("/api/v1/hosts/{host}/attributes"),
            serde_json::json!({ "attributes": { "owner": big.clone() } }),
        ),
        (
            axum::http::Method::PATCH,
            format!("/api/v1/hosts/{host}/attributes"),
            serde_json::json!({ "attributes": { big.clone(): "x" } }),
        ),
        (
            axum::http::Method::POST,
            "/api/v1/maintenance".to_string(),
            serde_json::json!({ "scope": "host", "target": host, "starts_at": starts,
                "ends_at": starts + 3_600_000, "reason": big.clone() }),
        ),
        (
            axum::http::Method::POST,
            format!("/api/v1/incidents/{incident}/comments"),
            serde_json::json!({ "body": big.clone() }),
        ),
        (
            axum::http::Method::POST,
            "/api/v1/services".to_string(),
            serde_json::json!({ "name": big.clone(), "min_up": 1, "sla_target": 99.9 }),
        ),
    ] {
        let reply = app
            .send(method.clone(), &uri, Some(&app.admin), Some(body))
            .await;
        assert!(
            matches!(
                reply.status,
                StatusCode::BAD_REQUEST | StatusCode::PAYLOAD_TOO_LARGE
            ),
            "{method} {uri}: {} {:?}",
            reply.status,
            reply.body.to_string().chars().take(300).collect::<String>()
        );
    }
    assert_eq!(snapshot(&app).await, before, "the store is unchanged");
}

on_both_backends!(
    hostile_values_never_reach_a_500_or_change_the_store,
    hundred_kilobyte_bodies_are_refused_and_write_nothing
);
