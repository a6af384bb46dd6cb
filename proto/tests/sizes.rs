//! The in-memory size of the messages a session queues: every queued
//! `AgentMessage` costs its full inline size, whatever its kind, so the
//! large oneof variants are boxed (`build.rs`). Prints the sizes (run with
//! `--nocapture`) and fails if a large variant is stored inline again.

use std::mem::size_of;

use rollcall_proto::v1::{
    AgentMessage, CheckResults, CollectorMessage, Goodbye, HealthReport, Heartbeat, Hello,
    InventoryDelta, InventorySnapshot, agent_message, collector_message,
};

/// What a queued heartbeat may cost: the message and a small body.
const QUEUED_HEARTBEAT_MAX: usize = 128;

#[test]
fn queued_messages_are_small() {
    let sizes = [
        ("AgentMessage", size_of::<AgentMessage>()),
        ("agent_message::Body", size_of::<agent_message::Body>()),
        ("CollectorMessage", size_of::<CollectorMessage>()),
        (
            "collector_message::Body",
            size_of::<collector_message::Body>(),
        ),
        ("Hello (boxed)", size_of::<Hello>()),
        ("Heartbeat", size_of::<Heartbeat>()),
        ("HealthReport (boxed)", size_of::<HealthReport>()),
        ("InventorySnapshot (boxed)", size_of::<InventorySnapshot>()),
        ("InventoryDelta (boxed)", size_of::<InventoryDelta>()),
        ("CheckResults", size_of::<CheckResults>()),
        ("Goodbye", size_of::<Goodbye>()),
    ];
    for (name, size) in sizes {
        println!("size_of::<{name}>() = {size} bytes");
    }
    assert!(
        size_of::<AgentMessage>() <= QUEUED_HEARTBEAT_MAX,
        "AgentMessage is {} bytes inline; box its large variants in build.rs",
        size_of::<AgentMessage>()
    );
    assert!(size_of::<CollectorMessage>() <= QUEUED_HEARTBEAT_MAX);
}
