//! Detection after the kill: how long until each killed agent's host had an
//! open host_down incident, its webhook deliveries, and host_down incidents
//! opened for agents that were not killed (false incidents).

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use anyhow::{Result, anyhow};
use serde_json::{Value, json};

use super::Options;
use super::metrics::distribution;
use super::session::{Context, Fate};
use super::webhook::{Deliveries, delivery_report};

/// What became of the killed agents.
pub(super) struct Outcome {
    /// Each killed agent: its index, the kill time (ms) and how it died.
    pub killed: Vec<(usize, i64, Fate)>,
    /// The detection report (`null` when nobody was killed).
    pub detection: Value,
    /// The webhook delivery report, when a listener ran.
    pub delivery: Option<Value>,
    /// The false incidents report (`null` when not counted).
    pub false_incidents: Value,
}

/// Waits for the killed agents' incidents, then counts false incidents.
pub(super) async fn observe(
    options: &Options,
    context: &Context,
    deliveries: Option<Deliveries>,
    run_start_ms: i64,
) -> Outcome {
    let killed: Vec<(usize, i64, Fate)> =
        context.killed.lock().map(|k| k.clone()).unwrap_or_default();
    let host_ids: Vec<Option<String>> = context
        .host_ids
        .lock()
        .map(|h| h.clone())
        .unwrap_or_default();
    let detection = detect(options, &killed, &host_ids).await;
    let delivery = deliveries.map(|deliveries| delivery_report(&deliveries, &detection));
    let false_incidents = if options.count_false_incidents {
        count_false_incidents(options, &killed, &host_ids, run_start_ms)
            .await
            .unwrap_or_else(|error| json!({ "error": format!("{error:#}") }))
    } else {
        Value::Null
    };
    Outcome {
        killed,
        detection,
        delivery,
        false_incidents,
    }
}

async fn get_json(options: &Options, path: &str) -> Result<Value> {
    let response = reqwest::Client::new()
        .get(format!("{}{path}", options.api))
        .bearer_auth(&options.admin_token)
        .timeout(Duration::from_secs(30))
        .send()
        .await?;
    let status = response.status();
    let body: Value = response.json().await?;
    if !status.is_success() {
        return Err(anyhow!("GET {path} answered {status}: {body}"));
    }
    Ok(body)
}

/// Polls open host_down incidents until every killed agent's host has one;
/// latency is the incident's `opened_at` minus the kill time.
async fn detect(
    options: &Options,
    killed: &[(usize, i64, Fate)],
    host_ids: &[Option<String>],
) -> Value {
    if killed.is_empty() {
        return Value::Null;
    }
    let mut pending: HashMap<String, (i64, Fate)> = killed
        .iter()
        .filter_map(|(index, at, fate)| Some((host_ids.get(*index)?.clone()?, (*at, *fate))))
        .collect();
    let last_kill = killed.iter().map(|k| k.1).max().unwrap_or(0);
    let deadline = Instant::now() + Duration::from_secs_f64(options.detect_timeout_s);
    let mut opened: HashMap<String, (i64, i64, Fate, String)> = HashMap::new();
    while !pending.is_empty() && Instant::now() < deadline {
        if let Ok(body) = get_json(
            options,
            "/api/v1/incidents?state=open&rule=host_down&limit=10000",
        )
        .await
        {
            for incident in body["items"].as_array().into_iter().flatten() {
                let ci = incident["ci_id"].as_str().unwrap_or_default();
                if let Some((at, fate)) = pending.remove(ci) {
                    let opened_at = incident["opened_at"].as_i64().unwrap_or(0);
                    let id = incident["id"].as_str().unwrap_or_default().to_string();
                    opened.insert(
                        ci.to_string(),
                        (opened_at - at, rollcall_proto::now_ms() - at, fate, id),
                    );
                }
            }
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let by_fate = |fate: Fate| -> Vec<i64> {
        opened
            .values()
            .filter(|o| o.2 == fate)
            .map(|o| o.0)
            .collect()
    };
    json!({
        "killed_hosts": killed.len(),
        "detected": opened.len(),
        "missing": pending.len(),
        "last_kill_ms": last_kill,
        "silent": distribution(by_fate(Fate::Silent)),
        "clean": distribution(by_fate(Fate::Clean)),
        "observed_by_poll": distribution(opened.values().map(|o| o.1).collect()),
        "incident_ids": opened.values().map(|o| o.3.clone()).collect::<Vec<_>>(),
    })
}

/// host_down incidents opened since the run started for hosts that were
/// not killed: false incidents.
async fn count_false_incidents(
    options: &Options,
    killed: &[(usize, i64, Fate)],
    host_ids: &[Option<String>],
    since_ms: i64,
) -> Result<Value> {
    let killed_hosts: HashSet<&str> = killed
        .iter()
        .filter_map(|(index, _, _)| host_ids.get(*index)?.as_deref())
        .collect();
    let ours: HashSet<&str> = host_ids.iter().flatten().map(String::as_str).collect();
    let body = get_json(options, "/api/v1/incidents?limit=10000").await?;
    let mut false_host_down = 0;
    let mut storms = 0;
    for incident in body["items"].as_array().into_iter().flatten() {
        if incident["opened_at"].as_i64().unwrap_or(0) < since_ms {
            continue;
        }
        let ci = incident["ci_id"].as_str().unwrap_or_default();
        let rule = incident["rule"].as_str().unwrap_or_default();
        if rule.starts_with("host_down") && ours.contains(ci) && !killed_hosts.contains(ci) {
            false_host_down += 1;
        } else if rule == "storm" {
            storms += 1;
        }
    }
    Ok(json!({ "host_down": false_host_down, "storm_parents": storms }))
}
