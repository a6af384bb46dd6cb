//! The incident engine: one open incident per CI and rule (dedup key
//! `ci:rule`), opened and resolved together with the event integrations
//! deliver (same transaction), and suppressed children that notify nobody.
//! The health rules are in `health.rs`.

use std::sync::Arc;

use serde_json::Value;

use crate::error::{Error, Result};
use crate::incidents::degraded;
use crate::incidents::event::{CiRef, IncidentEvent, Severity, Transition};
use crate::store::Store;
use crate::store::{Incident, IncidentFilter, IncidentUpdate};

/// What to open.
#[derive(Debug, Clone)]
pub struct IncidentSpec {
    /// The CI (host id, or `collector` for storms).
    pub ci_id: String,
    /// Rule, including its subject (`filesystem_usage:/var`).
    pub rule: String,
    /// Severity.
    pub severity: Severity,
    /// One line.
    pub summary: String,
    /// Longer text.
    pub description: String,
    /// Rule details.
    pub details: Value,
    /// Recorded but not notified (storm or dependency child).
    pub suppressed: bool,
    /// Parent incident (storm or dependency).
    pub parent_id: Option<String>,
}

/// Thresholds of the health rules.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HealthRules {
    /// Filesystem usage warning (%).
    pub filesystem_warning_percent: f32,
    /// Filesystem usage critical (%).
    pub filesystem_critical_percent: f32,
    /// Memory used above this (%) is memory pressure.
    pub memory_pressure_percent: f32,
    /// The rules act only on samples at most this old when they arrive
    /// (default 300 s, five default health intervals): a sample replayed
    /// from an agent's spool, or one that waited in a queue, is stored but
    /// neither opens nor resolves an incident as if it were current.
    pub max_sample_age_s: u64,
}

impl HealthRules {
    /// `max_sample_age_s` in milliseconds (saturating).
    pub fn max_sample_age_ms(&self) -> i64 {
        i64::try_from(self.max_sample_age_s.saturating_mul(1000)).unwrap_or(i64::MAX)
    }
}

impl Default for HealthRules {
    fn default() -> Self {
        Self {
            filesystem_warning_percent: 90.0,
            filesystem_critical_percent: 95.0,
            memory_pressure_percent: 95.0,
            max_sample_age_s: 300,
        }
    }
}

/// Whether `open` created a new incident.
#[derive(Debug, Clone)]
pub enum Opened {
    /// A new incident.
    New(Incident),
    /// One was already open for the dedup key.
    Existing(Incident),
}

impl Opened {
    /// The incident either way.
    pub fn incident(&self) -> &Incident {
        match self {
            Opened::New(incident) | Opened::Existing(incident) => incident,
        }
    }
}

/// The engine.
#[derive(Debug, Clone)]
pub struct Engine {
    pub(crate) store: Arc<dyn Store>,
}

/// The dedup key of a CI and rule.
pub fn dedup_key(ci_id: &str, rule: &str) -> String {
    format!("{ci_id}:{rule}")
}

impl Engine {
    /// An engine over the store.
    pub fn new(store: Arc<dyn Store>) -> Self {
        Self { store }
    }

    async fn ci_ref(&self, ci_id: &str) -> Result<(CiRef, Vec<String>)> {
        let Some(host) = self.store.host(ci_id).await? else {
            return Ok((
                CiRef {
                    id: ci_id.to_string(),
                    name: ci_id.to_string(),
                    class: "collector".into(),
                    ..Default::default()
                },
                Vec::new(),
            ));
        };
        let services = self.store.services().await?;
        let members: Vec<String> = self
            .store
            .services_of(ci_id)
            .await?
            .into_iter()
            .filter_map(|service_id| {
                services
                    .iter()
                    .find(|service| service.id == service_id)
                    .map(|service| service.name.clone())
            })
            .collect();
        let tags = host.tags_list();
        Ok((
            CiRef {
                id: host.id.clone(),
                name: host.hostname.clone(),
                fqdn: host.fqdn.clone(),
                class: host.class.clone(),
                tags,
            },
            members,
        ))
    }

    /// The event payload for a transition of `incident`.
    pub async fn event(
        &self,
        incident: &Incident,
        transition: Transition,
        at: i64,
    ) -> Result<String> {
        let (ci, business_services) = self.ci_ref(&incident.ci_id).await?;
        let details: Value = serde_json::from_str(&incident.details).unwrap_or(Value::Null);
        let description = details
            .get("description")
            .and_then(Value::as_str)
            .unwrap_or(&incident.summary)
            .to_string();
        let event = IncidentEvent {
            event_id: 0,
            incident_id: incident.id.clone(),
            dedup_key: incident.dedup_key.clone(),
            transition,
            rule: incident.rule.clone(),
            severity: Severity::parse(&incident.severity).unwrap_or(Severity::Major),
            summary: incident.summary.clone(),
            description,
            ci,
            business_services,
            opened_at_ms: incident.opened_at,
            resolved_at_ms: (transition == Transition::Resolve).then_some(at),
            occurred_at_ms: at,
            details,
            previous_severity: None,
        };
        Ok(serde_json::to_string(&event).unwrap_or_default())
    }

    /// Opens an incident unless one is open for the same CI and rule. One
    /// that is open at another severity is updated to this one (summary and
    /// details too) with an `update` event, notified like a trigger: a
    /// severity change is one incident, never a second.
    pub async fn open(&self, spec: IncidentSpec, at: i64) -> Result<Opened> {
        let key = dedup_key(&spec.ci_id, &spec.rule);
        if let Some(existing) = self.store.open_incident(&key).await? {
            if existing.severity != spec.severity.as_str() {
                return Ok(Opened::Existing(
                    self.update_severity(existing, &spec, at).await?,
                ));
            }
            return Ok(Opened::Existing(existing));
        }
        let details = details_of(&spec);
        let incident = Incident {
            id: crate::auth::new_id(),
            dedup_key: key.clone(),
            ci_id: spec.ci_id.clone(),
            rule: spec.rule.clone(),
            severity: spec.severity.as_str().to_string(),
            state: "open".into(),
            // Every rule's summary is cleaned here too, whatever built it.
            summary: crate::incidents::text::summary(&spec.summary),
            details: details.to_string(),
            parent_id: spec.parent_id.clone(),
            suppressed: i64::from(spec.suppressed),
            flaps: 0,
            opened_at: at,
            acknowledged_at: None,
            acknowledged_by: None,
            resolved_at: None,
            updated_at: at,
        };
        let event = if spec.suppressed {
            None
        } else {
            Some(self.event(&incident, Transition::Trigger, at).await?)
        };
        if self
            .store
            .insert_incident(&incident, event.as_deref())
            .await?
        {
            tracing::info!(incident_id = %incident.id, dedup_key = %key, suppressed = spec.suppressed, "incident opened");
            degraded::opened(self.store.as_ref(), &incident, at).await?;
            Ok(Opened::New(incident))
        } else {
            match self.store.open_incident(&key).await? {
                Some(existing) => Ok(Opened::Existing(existing)),
                None => Ok(Opened::New(incident)),
            }
        }
    }

    /// `incident` at `spec`'s severity, summary and details, stored with its
    /// `update` event (none while suppressed); the incident as it is now.
    async fn update_severity(
        &self,
        incident: Incident,
        spec: &IncidentSpec,
        at: i64,
    ) -> Result<Incident> {
        let previous = Severity::parse(&incident.severity);
        let updated = Incident {
            severity: spec.severity.as_str().to_string(),
            summary: crate::incidents::text::summary(&spec.summary),
            details: details_of(spec).to_string(),
            updated_at: at,
            ..incident.clone()
        };
        let event = if updated.suppressed != 0 {
            None
        } else {
            let text = self.event(&updated, Transition::Update, at).await?;
            let mut event: IncidentEvent =
                serde_json::from_str(&text).map_err(|error| Error::Internal(error.to_string()))?;
            event.previous_severity = previous;
            Some(serde_json::to_string(&event).unwrap_or_default())
        };
        let change = IncidentUpdate {
            severity: updated.severity.clone(),
            summary: updated.summary.clone(),
            details: updated.details.clone(),
            at,
        };
        if self
            .store
            .update_incident(&incident.id, &change, event.as_deref())
            .await?
        {
            tracing::info!(incident_id = %incident.id, from = %incident.severity, to = %updated.severity, "incident severity changed");
            // Degraded time follows the severity: critical from now opens
            // it, no longer critical closes it unless another incident
            // still degrades the host.
            if degraded::degrades(&updated) && !degraded::degrades(&incident) {
                degraded::opened(self.store.as_ref(), &updated, at).await?;
            } else if degraded::degrades(&incident) && !degraded::degrades(&updated) {
                degraded::resolved(self.store.as_ref(), &incident, at).await?;
            }
            return Ok(updated);
        }
        Ok(self.store.incident(&incident.id).await?.unwrap_or(incident))
    }

    /// Resolves the open incident of a CI and rule, if any.
    pub async fn resolve(&self, ci_id: &str, rule: &str, at: i64) -> Result<Option<Incident>> {
        let Some(incident) = self.store.open_incident(&dedup_key(ci_id, rule)).await? else {
            return Ok(None);
        };
        self.resolve_incident(incident, at).await
    }

    /// Resolves an open incident.
    pub async fn resolve_incident(&self, incident: Incident, at: i64) -> Result<Option<Incident>> {
        let event = if incident.suppressed != 0 {
            None
        } else {
            Some(self.event(&incident, Transition::Resolve, at).await?)
        };
        if !self
            .store
            .resolve_incident(&incident.id, at, event.as_deref())
            .await?
        {
            return Ok(None);
        }
        tracing::info!(incident_id = %incident.id, dedup_key = %incident.dedup_key, "incident resolved");
        degraded::resolved(self.store.as_ref(), &incident, at).await?;
        self.unsuppress_children(&incident, at).await?;
        // A parent resolves when its last child does.
        if let Some(parent_id) = &incident.parent_id {
            let open_children = self
                .store
                .incidents(&IncidentFilter {
                    state: Some("open".into()),
                    parent_id: Some(parent_id.clone()),
                    limit: 1,
                    ..Default::default()
                })
                .await?;
            if open_children.is_empty()
                && let Some(parent) = self.store.incident(parent_id).await?
                && parent.state != "resolved"
                && parent.rule == "storm"
            {
                Box::pin(self.resolve_incident(parent, at)).await?;
            }
        }
        Ok(Some(incident))
    }

    /// The children still open under `parent`, which just resolved, were
    /// suppressed because of it: each now notifies on its own (its trigger
    /// is delivered), since its own problem outlived the parent's.
    async fn unsuppress_children(&self, parent: &Incident, at: i64) -> Result<()> {
        let children = self
            .store
            .incidents(&IncidentFilter {
                state: Some("open".into()),
                parent_id: Some(parent.id.clone()),
                limit: 100_000,
                ..Default::default()
            })
            .await?;
        for child in children.into_iter().filter(|child| child.suppressed != 0) {
            let event = self.event(&child, Transition::Trigger, at).await?;
            if self
                .store
                .unsuppress_incident(&child.id, at, Some(&event))
                .await?
            {
                tracing::info!(incident_id = %child.id, parent_id = %parent.id, "parent recovered first: incident no longer suppressed");
            }
        }
        Ok(())
    }

    /// Acknowledges an incident.
    pub async fn acknowledge(&self, incident_id: &str, by: &str, at: i64) -> Result<bool> {
        let Some(incident) = self.store.incident(incident_id).await? else {
            return Ok(false);
        };
        let event = if incident.suppressed != 0 {
            None
        } else {
            Some(self.event(&incident, Transition::Acknowledge, at).await?)
        };
        self.store
            .acknowledge_incident(incident_id, by, at, event.as_deref())
            .await
    }

    /// Opens the incidents whose conditions hold and resolves the ones of
    /// the same rule family that no longer hold.
    pub(crate) async fn reconcile_family(
        &self,
        host_id: &str,
        family: &str,
        active: Vec<IncidentSpec>,
        at: i64,
    ) -> Result<()> {
        let open = self
            .store
            .incidents(&IncidentFilter {
                state: Some("open".into()),
                ci_id: Some(host_id.to_string()),
                rule_prefix: Some(family.to_string()),
                limit: 1000,
                ..Default::default()
            })
            .await?;
        for incident in open {
            if !active.iter().any(|spec| spec.rule == incident.rule) {
                self.resolve_incident(incident, at).await?;
            }
        }
        for spec in active {
            self.open(spec, at).await?;
        }
        Ok(())
    }
}

/// An incident's stored details: the spec's, with its description.
fn details_of(spec: &IncidentSpec) -> Value {
    let mut details = spec.details.clone();
    if let Value::Object(map) = &mut details {
        map.insert(
            "description".into(),
            Value::String(spec.description.clone()),
        );
    }
    details
}
