//! Degraded time: a host is degraded while it has an open critical incident
//! other than host-down (a full filesystem, a failed unit, a failed check).
//! The engine calls [`opened`] and [`resolved`] for every incident it opens
//! and resolves, and they keep one `degraded` outage per host open from the
//! first such incident to the resolution of the last. The availability
//! report subtracts the host's downtime from it, so degraded time is time
//! up with a critical problem, reported apart from downtime.

use crate::error::Result;
use crate::store::{Incident, IncidentFilter, NewOutage, OutageFilter, Store};

/// Rule name of host-down incidents (the monitor opens them): downtime,
/// never degradation.
pub const HOST_DOWN: &str = "host_down";
/// The outage kind of degraded time.
pub const DEGRADED: &str = "degraded";
/// Most open incidents of one CI read to decide whether one still degrades it.
const MAX_OPEN_INCIDENTS: i64 = 10_000;

/// Whether `incident` makes its host degraded while open.
pub fn degrades(incident: &Incident) -> bool {
    incident.severity == "critical" && incident.rule != HOST_DOWN
}

/// A new incident: opens the host's degraded outage at `at` unless it is
/// not a degrading incident, its CI is not a host, or one is open already.
pub async fn opened(store: &dyn Store, incident: &Incident, at: i64) -> Result<()> {
    if !degrades(incident) || store.host(&incident.ci_id).await?.is_none() {
        return Ok(());
    }
    let open = store
        .outages(&OutageFilter {
            host_id: Some(incident.ci_id.clone()),
            kind: Some(DEGRADED.into()),
            since: Some(at),
            limit: MAX_OPEN_INCIDENTS,
            ..Default::default()
        })
        .await?;
    if open.iter().any(|outage| outage.ended_at.is_none()) {
        return Ok(());
    }
    let outage = NewOutage {
        id: crate::auth::new_id(),
        host_id: incident.ci_id.clone(),
        kind: DEGRADED.into(),
        cause: incident.summary.clone(),
        began_at: at,
        detected_at: at,
    };
    store.open_outage(&outage).await?;
    store.link_outage(&outage.id, &incident.id).await
}

/// A resolved incident: closes the host's degraded outage at `at` when no
/// other degrading incident of the host is still open.
pub async fn resolved(store: &dyn Store, incident: &Incident, at: i64) -> Result<()> {
    if !degrades(incident) {
        return Ok(());
    }
    let still_open = store
        .incidents(&IncidentFilter {
            state: Some("open".into()),
            ci_id: Some(incident.ci_id.clone()),
            limit: MAX_OPEN_INCIDENTS,
            ..Default::default()
        })
        .await?
        .iter()
        .any(|other| other.id != incident.id && degrades(other));
    if !still_open {
        store.close_degraded(&incident.ci_id, at).await?;
    }
    Ok(())
}
