//! The health rules — filesystem usage, memory pressure, failed systemd
//! units, failed checks — with storm control per host: each rule family
//! has at most one open incident per host, naming the items it covers (a
//! truncated list and a count), so one agent reporting 5,000 failed units
//! opens one incident, not 5,000. The open incidents of the fleet are so
//! bounded by hosts × rule families.
//!
//! An incident's rule is `family:<hash>`, the hash of the names it covers
//! (`text::names_hash`): agent-chosen names never make up a dedup key. When
//! the set of failing items changes, the incident for the old set resolves
//! and one for the new set opens, so a new failure notifies.

use std::collections::BTreeSet;

use rollcall_proto::v1::{CheckResult, HealthReport};
use serde_json::{Value, json};

use super::engine::{Engine, HealthRules, IncidentSpec};
use super::event::Severity;
use super::text::{clean, listed, name_list, names_hash, summary};
use crate::error::Result;
use crate::store::IncidentFilter;

/// Family prefix of filesystem usage incidents.
pub const FILESYSTEM_FAMILY: &str = "filesystem_usage:";
/// Family prefix of failed systemd unit incidents.
pub const UNIT_FAMILY: &str = "failed_unit:";
/// Family prefix of failed check incidents.
pub const CHECK_FAMILY: &str = "failed_check:";

fn host_label(hostname: &str) -> String {
    clean(hostname, super::text::MAX_NAME_IN_SUMMARY_CHARS)
}

fn family_spec(
    host_id: &str,
    family: &str,
    names: &[String],
    severity: Severity,
    summary_text: String,
    description: String,
    details: Value,
) -> IncidentSpec {
    IncidentSpec {
        ci_id: host_id.to_string(),
        rule: format!("{family}{}", names_hash(names)),
        severity,
        summary: summary(&summary_text),
        description: clean(&description, super::text::MAX_DESCRIPTION_CHARS),
        details,
        suppressed: false,
        parent_id: None,
    }
}

impl Engine {
    /// Applies the health rules to a health sample of a host that arrived
    /// at `at`; a sample older than `rules.max_sample_age_s` by then is
    /// left alone (it says nothing about the host now).
    pub async fn evaluate_health(
        &self,
        host_id: &str,
        hostname: &str,
        report: &HealthReport,
        rules: &HealthRules,
        at: i64,
    ) -> Result<()> {
        let age_ms = at.saturating_sub(report.sampled_at_ms);
        if age_ms > rules.max_sample_age_ms() {
            tracing::debug!(
                host_id,
                age_ms,
                "health sample too old for the rules; stored only"
            );
            return Ok(());
        }
        let host = host_label(hostname);
        self.reconcile_family(
            host_id,
            FILESYSTEM_FAMILY,
            filesystems(host_id, &host, report, rules)
                .into_iter()
                .collect(),
            at,
        )
        .await?;
        let mut memory = Vec::new();
        if report.memory_total_bytes > 0 {
            let used = report.memory_used_bytes as f64 * 100.0 / report.memory_total_bytes as f64;
            if used >= f64::from(rules.memory_pressure_percent) {
                memory.push(IncidentSpec {
                    ci_id: host_id.to_string(),
                    rule: "memory_pressure".into(),
                    severity: Severity::Major,
                    summary: summary(&format!("{host}: memory {used:.0}% used")),
                    description: format!(
                        "{} of {} bytes of memory in use",
                        report.memory_used_bytes, report.memory_total_bytes
                    ),
                    details: json!({ "used_percent": used }),
                    suppressed: false,
                    parent_id: None,
                });
            }
        }
        self.reconcile_family(host_id, "memory_pressure", memory, at)
            .await?;
        let units: Vec<String> = report
            .failed_units
            .iter()
            .cloned()
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        let spec = (!units.is_empty()).then(|| {
            let what = if units.len() == 1 {
                "systemd unit".to_string()
            } else {
                format!("{} systemd units", units.len())
            };
            family_spec(
                host_id,
                UNIT_FAMILY,
                &units,
                Severity::Major,
                format!("{host}: {what} failed: {}", name_list(&units)),
                format!(
                    "systemd reports {} unit(s) in the failed state: {}",
                    units.len(),
                    listed(&units).join(", ")
                ),
                json!({ "units": listed(&units), "count": units.len() }),
            )
        });
        self.reconcile_family(host_id, UNIT_FAMILY, spec.into_iter().collect(), at)
            .await
    }

    /// Applies the check rule to check results of a host. A message may
    /// report only some checks, so the failing set is the one of the open
    /// incident (its listed names) with these results applied.
    pub async fn evaluate_checks(
        &self,
        host_id: &str,
        hostname: &str,
        results: &[CheckResult],
        at: i64,
    ) -> Result<()> {
        let open = self
            .store
            .incidents(&IncidentFilter {
                state: Some("open".into()),
                ci_id: Some(host_id.to_string()),
                rule_prefix: Some(CHECK_FAMILY.to_string()),
                limit: 1,
                ..Default::default()
            })
            .await?;
        let mut failing: BTreeSet<String> = open
            .first()
            .and_then(|incident| serde_json::from_str::<Value>(&incident.details).ok())
            .and_then(|details| details.get("checks").cloned())
            .and_then(|checks| serde_json::from_value::<Vec<String>>(checks).ok())
            .unwrap_or_default()
            .into_iter()
            .collect();
        let mut messages = serde_json::Map::new();
        for result in results {
            if result.ok {
                failing.remove(&result.name);
            } else {
                failing.insert(result.name.clone());
                if messages.len() < super::text::NAMES_IN_SUMMARY {
                    messages.insert(
                        clean(&result.name, super::text::MAX_LISTED_NAME_CHARS),
                        Value::String(clean(&result.message, 512)),
                    );
                }
            }
        }
        let names: Vec<String> = failing.into_iter().collect();
        let host = host_label(hostname);
        let spec = (!names.is_empty()).then(|| {
            let what = if names.len() == 1 {
                "check".to_string()
            } else {
                format!("{} checks", names.len())
            };
            let first_message = results
                .iter()
                .find(|result| !result.ok)
                .map(|result| result.message.as_str())
                .unwrap_or_default();
            family_spec(
                host_id,
                CHECK_FAMILY,
                &names,
                Severity::Major,
                format!("{host}: {what} failed: {}", name_list(&names)),
                format!("{}: {first_message}", listed(&names).join(", ")),
                json!({ "checks": listed(&names), "count": names.len(), "messages": messages }),
            )
        });
        self.reconcile_family(host_id, CHECK_FAMILY, spec.into_iter().collect(), at)
            .await
    }
}

/// The filesystem usage incident of a report, if any filesystem is over a
/// threshold: one for all of them, at the highest severity.
fn filesystems(
    host_id: &str,
    host: &str,
    report: &HealthReport,
    rules: &HealthRules,
) -> Option<IncidentSpec> {
    let mut full: Vec<(String, f32, Severity)> = Vec::new();
    for filesystem in &report.filesystems {
        let severity = if filesystem.used_percent >= rules.filesystem_critical_percent {
            Severity::Critical
        } else if filesystem.used_percent >= rules.filesystem_warning_percent {
            Severity::Warning
        } else {
            continue;
        };
        full.push((
            filesystem.mount_point.clone(),
            filesystem.used_percent,
            severity,
        ));
    }
    full.sort_by(|a, b| a.0.cmp(&b.0));
    full.dedup_by(|a, b| a.0 == b.0);
    if full.is_empty() {
        return None;
    }
    let critical = full
        .iter()
        .any(|(_, _, severity)| *severity == Severity::Critical);
    // The mounts are the subject; their severity is not: warning turning
    // critical updates the one incident (the engine notifies the change).
    let subjects: Vec<String> = full.iter().map(|(mount, _, _)| mount.clone()).collect();
    let mounts: Vec<String> = full.iter().map(|(mount, _, _)| mount.clone()).collect();
    let text = if let [(mount, percent, _)] = full.as_slice() {
        format!(
            "{host}: filesystem {} is {percent:.0}% full",
            clean(mount, 64)
        )
    } else {
        format!(
            "{host}: {} filesystems nearly full: {}",
            full.len(),
            name_list(&mounts)
        )
    };
    let listed_usage: Vec<Value> = full
        .iter()
        .take(super::text::MAX_LISTED_ITEMS)
        .map(|(mount, percent, _)| {
            json!({ "mount_point": clean(mount, super::text::MAX_LISTED_NAME_CHARS), "used_percent": percent })
        })
        .collect();
    let mut spec = family_spec(
        host_id,
        FILESYSTEM_FAMILY,
        &subjects,
        if critical {
            Severity::Critical
        } else {
            Severity::Warning
        },
        text,
        format!(
            "filesystems over the usage threshold: {}",
            listed(&mounts).join(", ")
        ),
        json!({ "filesystems": listed_usage, "count": full.len() }),
    );
    if let [(mount, percent, _)] = full.as_slice() {
        // One filesystem: keep the fields the single-item incident had.
        spec.details["mount_point"] = json!(clean(mount, super::text::MAX_LISTED_NAME_CHARS));
        spec.details["used_percent"] = json!(percent);
    }
    Some(spec)
}
