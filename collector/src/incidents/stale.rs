//! The `agent_stale` rule: an incident for every host whose agent has been
//! silent past `cmdb.stale_after_s`, resolved once it reports again.

use crate::error::Result;
use crate::incidents::engine::{Engine, IncidentSpec};
use crate::store::IncidentFilter;
use crate::store::Store;

/// Opens an `agent_stale` incident for every stale host and resolves those whose host is active again.
pub async fn stale_agent_incidents(store: &dyn Store, engine: &Engine, now: i64) -> Result<()> {
    let stale = store
        .hosts(&crate::store::HostFilter {
            lifecycle: Some("stale".into()),
            limit: 100_000,
            ..Default::default()
        })
        .await?;
    for host in &stale {
        let spec = IncidentSpec {
            ci_id: host.id.clone(),
            rule: "agent_stale".into(),
            severity: crate::incidents::event::Severity::Warning,
            summary: format!(
                "{}: agent silent since {}",
                host.hostname, host.last_seen_at
            ),
            description: "the host's agent has not reported for longer than cmdb.stale_after_s"
                .into(),
            details: serde_json::json!({ "last_seen_at_ms": host.last_seen_at }),
            suppressed: false,
            parent_id: None,
        };
        engine.open(spec, now).await?;
    }
    let filter = IncidentFilter {
        state: Some("open".into()),
        rule_prefix: Some("agent_stale".into()),
        limit: 100_000,
        ..Default::default()
    };
    for incident in store.incidents(&filter).await? {
        if !stale.iter().any(|host| host.id == incident.ci_id) {
            engine.resolve_incident(incident, now).await?;
        }
    }
    Ok(())
}
