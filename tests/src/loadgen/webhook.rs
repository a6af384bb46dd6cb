//! The webhook listener: receives the collector's deliveries (`POST /hook`)
//! and measures incident → delivery time.

use std::collections::HashSet;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use anyhow::{Context as _, Result};
use serde_json::{Value, json};

use super::metrics::distribution;

/// Deliveries received by the webhook listener: (arrival ms, event data).
pub(super) type Deliveries = Arc<Mutex<Vec<(i64, Value)>>>;

/// Incident → webhook delivery time for every `trigger` event received.
pub(super) fn delivery_report(deliveries: &Deliveries, detection: &Value) -> Value {
    let received = deliveries.lock().map(|d| d.clone()).unwrap_or_default();
    let ours: HashSet<&str> = detection["incident_ids"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect();
    let latencies: Vec<i64> = received
        .iter()
        .filter(|(_, data)| data["transition"] == "trigger")
        .map(|(at, data)| at - data["opened_at_ms"].as_i64().unwrap_or(*at))
        .collect();
    let for_killed = received
        .iter()
        .filter(|(_, data)| {
            data["incident_id"]
                .as_str()
                .is_some_and(|id| ours.contains(id))
        })
        .count();
    json!({
        "events_received": received.len(),
        "events_for_killed_hosts": for_killed,
        "trigger_latency": distribution(latencies),
    })
}

/// Listens on `address` for webhook deliveries and records each.
pub(super) async fn start_webhook(address: SocketAddr) -> Result<Deliveries> {
    use axum::routing::post;
    let deliveries: Deliveries = Arc::default();
    let sink = deliveries.clone();
    let router = axum::Router::new().route(
        "/hook",
        post(move |body: axum::body::Bytes| {
            let sink = sink.clone();
            async move {
                let at = rollcall_proto::now_ms();
                let envelope: Value = serde_json::from_slice(&body).unwrap_or_default();
                if let Ok(mut sink) = sink.lock() {
                    sink.push((at, envelope["data"].clone()));
                }
                axum::http::StatusCode::NO_CONTENT
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind(address)
        .await
        .with_context(|| format!("bind the webhook listener on {address}"))?;
    tokio::spawn(async move {
        let _ = axum::serve(listener, router).await;
    });
    Ok(deliveries)
}
