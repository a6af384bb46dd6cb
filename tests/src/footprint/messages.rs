//! The agent's messages encoded as they go on the wire, for the
//! benchmark's bytes per message: a full snapshot, a typical delta, a
//! heartbeat and a health sample of this host.

use std::time::Duration;

use prost::Message;
use rollcall_proto::v1::agent_message::Body;
use rollcall_proto::v1::{
    AgentMessage, HealthReport, Heartbeat, Inventory, InventorySnapshot, Package,
};

/// Encoded messages (protobuf `AgentMessage`s).
#[derive(Debug, Clone)]
pub struct Encoded {
    /// A full snapshot of the inventory.
    pub snapshot: Vec<u8>,
    /// A typical delta: one package upgraded, one installed.
    pub delta: Vec<u8>,
    /// A heartbeat.
    pub heartbeat: Vec<u8>,
    /// A health sample.
    pub health: Vec<u8>,
}

fn message(body: Body) -> AgentMessage {
    AgentMessage {
        seq: 123_456,
        sent_at_ms: rollcall_proto::now_ms(),
        body: Some(body),
    }
}

/// A typical change: one package upgraded, one installed.
fn typical_change(inventory: &Inventory) -> Inventory {
    let mut changed = inventory.clone();
    if let Some(package) = changed.packages.first_mut() {
        package.version.push_str("+security1");
    }
    changed.packages.push(Package {
        name: "nginx-light".into(),
        version: "1.22.1-9".into(),
        arch: "amd64".into(),
        source: "nginx".into(),
        manager: "dpkg".into(),
        installed_at_s: 1_700_000_000,
    });
    changed.collected_at_ms += 600_000;
    changed
}

/// A health sample of this host, taken as the agent takes it (rates need
/// two samples; blocks for 200 ms).
pub fn health_sample() -> HealthReport {
    let mut sampler = rollcall_agent::health::HealthSampler::new("/");
    sampler.sample();
    std::thread::sleep(Duration::from_millis(200));
    sampler.sample()
}

/// The messages the agent would send for `inventory` and `health`.
pub fn encode(inventory: &Inventory, health: &HealthReport) -> Encoded {
    Encoded {
        snapshot: message(Body::Snapshot(Box::new(InventorySnapshot {
            inventory: Some(inventory.clone()),
        })))
        .encode_to_vec(),
        delta: rollcall_agent::delta::diff(inventory, &typical_change(inventory))
            .map(|delta| message(Body::Delta(Box::new(delta))).encode_to_vec())
            .unwrap_or_default(),
        heartbeat: message(Body::Heartbeat(Heartbeat {
            agent_uptime_s: 86_400,
        }))
        .encode_to_vec(),
        health: message(Body::Health(Box::new(health.clone()))).encode_to_vec(),
    }
}
