//! Set-up shared by the store benchmarks (`catalogue_bench`, `delta_bench`):
//! enrolled agents with hosts of their own, and the process's CPU time.
#![allow(dead_code)]

use std::collections::BTreeSet;

use rollcall_collector::cmdb::reconcile::HostIdentity;
use rollcall_collector::store::{NewAgent, NewEnrollmentToken, Store};

/// Process CPU time (user + system) in ms, from /proc/self/stat.
pub fn cpu_ms() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap();
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .unwrap()
        .1
        .split_whitespace()
        .collect();
    let ticks: f64 = fields[11].parse::<f64>().unwrap() + fields[12].parse::<f64>().unwrap();
    ticks * 10.0
}

/// Agent `agent-INDEX`, enrolled with a token of its own at `at`, attached
/// to a new host `host-INDEX` (machine-id INDEX): (agent id, host id).
pub async fn enrolled_host<S: Store + ?Sized>(
    store: &S,
    index: usize,
    at: i64,
) -> (String, String) {
    let agent = format!("agent-{index}");
    store
        .create_enrollment_token(&NewEnrollmentToken {
            id: format!("tok-{index}"),
            token_hash: format!("hash-{index}"),
            description: "bench".into(),
            max_uses: 1,
            expires_at: at + 86_400_000,
            created_at: at,
        })
        .await
        .unwrap();
    store
        .enroll_agent(
            &format!("hash-{index}"),
            &NewAgent {
                id: agent.clone(),
                cert_fingerprint: format!("fp-{index}"),
                hostname: format!("host-{index}"),
                version: "bench".into(),
                enrolled_at: at,
            },
        )
        .await
        .unwrap()
        .unwrap();
    let identity = HostIdentity {
        machine_id: format!("{index:032x}"),
        dmi_uuid: String::new(),
        dmi_serial: String::new(),
        macs: BTreeSet::new(),
        hostname: format!("host-{index}"),
    };
    let host = store
        .attach_host(&agent, &identity, &format!("host-{index}"), at)
        .await
        .unwrap()
        .host_id;
    (agent, host)
}

/// `text` percent-encoded for a URL path segment or query value.
pub fn encode(text: &str) -> String {
    rollcall_collector::integrations::encode_component(text)
}
