//! Software rollout over time: for one package and a target version X,
//! how many hosts had it at X or newer, older than X, or not at all at each
//! step of a window, and for every host exposed in the window (older than
//! X at some moment) when it reached X: the time to remediate.
//!
//! History is walked backwards from the present: the store's current
//! software rows are the state now, and undoing the package's history
//! records newest first (an `added` is taken away, a `removed` put back
//! from its old value, a `version` change set back to its old value) gives
//! the state at any earlier moment. A host exists from its `first_seen_at`
//! on; its first inventory (the `discovered` record) holds the package
//! without a separate record, so nothing needs to be undone for it.
//!
//! A host with the package under several architectures counts by its
//! oldest instance: one instance older than X makes it exposed.
//!
//! Time to remediate is measured from the moment a host became exposed
//! inside the window (`since` itself for a host already older than X then:
//! `since` is taken as the moment the fix became available) to the first
//! later moment it had X or newer. Hosts that drop the package without
//! reaching X are counted as removed, not remediated.

use std::collections::{BTreeMap, HashMap};

use crate::cmdb::catalogue::package_key;
use crate::cmdb::version;
use crate::error::{Error, Result};
use crate::store::{Change, SoftwareRow, Store};

/// Most history records one rollout reads (more: narrow the window).
pub const MAX_RECORDS: i64 = 2_000_000;
/// Most steps one rollout answers.
pub const MAX_STEPS: i64 = 1_000;
/// Shortest step (ms): one minute.
pub const MIN_STEP_MS: i64 = 60_000;

/// What a rollout is asked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// The package name.
    pub name: String,
    /// The package manager whose ordering compares (`None`: the only one
    /// that reports the package).
    pub manager: Option<String>,
    /// The target version X.
    pub target: String,
    /// Window start (ms, inclusive).
    pub since: i64,
    /// Window end (ms, inclusive: the last step is at or before it).
    pub until: i64,
    /// Step (ms).
    pub step: i64,
    /// "Within N days": the share of exposed hosts remediated within this (ms).
    pub within: i64,
}

impl Request {
    /// Checks the window and step: `since` before `until`, both within the
    /// accepted times, a step of at least [`MIN_STEP_MS`], at most
    /// [`MAX_STEPS`] steps, `within` positive.
    pub fn check(&self) -> Result<()> {
        crate::availability::bounds::check_window(self.since, self.until)?;
        if self.step < MIN_STEP_MS {
            return Err(Error::InvalidInput(format!(
                "step must be at least one minute ({MIN_STEP_MS} ms)"
            )));
        }
        // The window is bounded, so the division is exact and small.
        let steps = (self.until - self.since) / self.step + 1;
        if steps > MAX_STEPS {
            return Err(Error::InvalidInput(format!(
                "since..until in steps of {} s is {steps} steps: at most {MAX_STEPS}",
                self.step / 1000
            )));
        }
        if self.within <= 0 {
            return Err(Error::InvalidInput("within_days must be at least 1".into()));
        }
        Ok(())
    }
}

/// Where a host stands with the package at one moment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Standing {
    /// Not in the fleet yet.
    Absent,
    /// In the fleet without the package.
    Without,
    /// Some instance older than the target.
    Below,
    /// Every instance at the target or newer.
    AtOrAbove,
}

/// The counts at one step.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Step {
    /// The moment (ms).
    pub at: i64,
    /// Hosts at the target version or newer.
    pub at_or_above: u64,
    /// Hosts with an older version.
    pub below: u64,
    /// Hosts in the fleet without the package.
    pub without: u64,
}

/// One exposed host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Exposed {
    /// Host CI id.
    pub host_id: String,
    /// Its name.
    pub hostname: String,
    /// When it became exposed in the window (ms).
    pub exposed_from: i64,
    /// When it first had the target or newer after that (ms), if it did by `until`.
    pub remediated_at: Option<i64>,
    /// Whether it had the package no more at `until` (without reaching X).
    pub removed: bool,
    /// Its version at `until` (the oldest instance), if it had the package.
    pub version_at_until: Option<String>,
}

/// The distribution of the time to remediate.
#[derive(Debug, Clone, PartialEq)]
pub struct Remediation {
    /// Hosts older than the target at some moment of the window.
    pub exposed: u64,
    /// Of those, the ones that reached it by `until`.
    pub remediated: u64,
    /// Of those, the ones that dropped the package instead.
    pub removed: u64,
    /// Still older than the target at `until`.
    pub still_below: u64,
    /// Median time to remediate (ms; nearest rank), if any host did.
    pub p50: Option<i64>,
    /// 90th percentile (ms; nearest rank).
    pub p90: Option<i64>,
    /// Remediated within `within` of becoming exposed.
    pub within: u64,
    /// `within / exposed`, if any host was exposed.
    pub share_within: Option<f64>,
}

/// The answer.
#[derive(Debug, Clone, PartialEq)]
pub struct Rollout {
    /// The manager whose ordering compared.
    pub manager: String,
    /// One entry per step, oldest first.
    pub steps: Vec<Step>,
    /// Every exposed host, by remediation time (unremediated last), then name.
    pub hosts: Vec<Exposed>,
    /// The distribution over `hosts`.
    pub remediation: Remediation,
}

/// A host's package instances: item key → version.
type Instances = BTreeMap<String, String>;

/// Answers `request` from the store: its current software rows, its hosts
/// and the package's history records after `since`.
pub async fn rollout(store: &dyn Store, request: &Request) -> Result<Rollout> {
    let rows = store.software(Some(&request.name)).await?;
    let records = store
        .package_changes(&request.name, request.since, MAX_RECORDS + 1)
        .await?;
    if i64::try_from(records.len()).unwrap_or(i64::MAX) > MAX_RECORDS {
        return Err(Error::InvalidInput(format!(
            "package {:?} has more than {MAX_RECORDS} history records since {}: narrow the window",
            request.name, request.since
        )));
    }
    let hosts = store
        .hosts(&crate::store::HostFilter {
            limit: i64::MAX,
            ..Default::default()
        })
        .await?
        .into_iter()
        .map(|host| (host.id, (host.hostname, host.first_seen_at)))
        .collect();
    compute(request, &rows, &records, &hosts)
}

/// The manager whose ordering compares: the one asked for, or the only one
/// reporting the package now or in its history.
fn manager_of(request: &Request, rows: &[SoftwareRow], records: &[Change]) -> Result<String> {
    if let Some(manager) = &request.manager {
        return Ok(manager.clone());
    }
    let mut managers: Vec<String> = rows.iter().map(|row| row.manager.clone()).collect();
    managers.extend(
        records
            .iter()
            .filter_map(|record| record.old_value.as_deref().or(record.new_value.as_deref()))
            .filter_map(|attrs| attribute(attrs, "manager")),
    );
    managers.sort();
    managers.dedup();
    match managers.as_slice() {
        [] => Err(Error::NotFound(format!(
            "no host has or had package {:?} in this window",
            request.name
        ))),
        [one] => Ok(one.clone()),
        many => Err(Error::InvalidInput(format!(
            "package {:?} is reported by {}: say which with manager=",
            request.name,
            many.join(", ")
        ))),
    }
}

/// A string attribute of an item's attributes (JSON object text).
fn attribute(attrs: &str, name: &str) -> Option<String> {
    let value: serde_json::Value = serde_json::from_str(attrs).ok()?;
    value.get(name)?.as_str().map(str::to_string)
}

/// A version as a `changed` record holds it (a JSON string).
fn json_string(text: Option<&str>) -> Option<String> {
    serde_json::from_str::<String>(text?).ok()
}

/// Where a host stands and its oldest version.
type Placed = (Standing, Option<String>);

/// Every host's standing in `state`, into `out`.
fn snapshot<'h>(
    hosts: &'h HashMap<String, (String, i64)>,
    state: &HashMap<&str, Instances>,
    out: &mut HashMap<&'h str, Placed>,
    standing: &mut dyn FnMut(Option<&Instances>) -> Placed,
) {
    for host in hosts.keys() {
        out.insert(host.as_str(), standing(state.get(host.as_str())));
    }
}

/// The pure computation over rows, records (newest first) and hosts
/// (id → (name, first seen)).
pub fn compute(
    request: &Request,
    rows: &[SoftwareRow],
    records: &[Change],
    hosts: &HashMap<String, (String, i64)>,
) -> Result<Rollout> {
    request.check()?;
    let manager = manager_of(request, rows, records)?;
    let mut ge_cache: HashMap<String, bool> = HashMap::new();
    let mut at_or_above = |version: &str| -> bool {
        *ge_cache.entry(version.to_string()).or_insert_with(|| {
            version::compare(&manager, version, &request.target) != std::cmp::Ordering::Less
        })
    };
    let mut state: HashMap<&str, Instances> = HashMap::new();
    for row in rows.iter().filter(|row| row.manager == manager) {
        state
            .entry(row.host_id.as_str())
            .or_default()
            .insert(package_key(&row.name, &row.arch), row.version.clone());
    }
    let mut standing = |instances: Option<&Instances>| -> Placed {
        let Some(instances) = instances.filter(|instances| !instances.is_empty()) else {
            return (Standing::Without, None);
        };
        let oldest = instances
            .values()
            .min_by(|a, b| version::compare(&manager, a, b))
            .cloned();
        let below = instances.values().any(|version| !at_or_above(version));
        (
            if below {
                Standing::Below
            } else {
                Standing::AtOrAbove
            },
            oldest,
        )
    };
    // Backwards: each record undone, newest first. A host's transitions
    // (moment, standing from then on) are collected newest first, with its
    // version at `until` taken when the walk passes `until`.
    let mut transitions: HashMap<&str, Vec<(i64, Standing)>> = HashMap::new();
    let mut at_until: HashMap<&str, Placed> = HashMap::new();
    let mut passed_until = false;
    for record in records {
        if record.class != "software" || record.at <= request.since {
            continue;
        }
        if !passed_until && record.at <= request.until {
            snapshot(hosts, &state, &mut at_until, &mut standing);
            passed_until = true;
        }
        let Some((host, _)) = hosts.get_key_value(record.host_id.as_str()) else {
            continue;
        };
        let host = host.as_str();
        let before = standing(state.get(host)).0;
        let instances = state.entry(host).or_default();
        match record.change.as_str() {
            "added" => {
                instances.remove(&record.item_key);
            }
            "removed" => {
                let attrs = record.old_value.as_deref().unwrap_or("{}");
                if attribute(attrs, "manager").is_none_or(|m| m == manager)
                    && let Some(version) = attribute(attrs, "version")
                {
                    instances.insert(record.item_key.clone(), version);
                }
            }
            "changed" if record.field == "version" => {
                match json_string(record.old_value.as_deref()) {
                    Some(version) => {
                        instances.insert(record.item_key.clone(), version);
                    }
                    None => {
                        instances.remove(&record.item_key);
                    }
                }
            }
            _ => continue,
        }
        let after_undo = standing(state.get(host)).0;
        if after_undo != before {
            transitions
                .entry(host)
                .or_default()
                .push((record.at, before));
        }
    }
    if !passed_until {
        snapshot(hosts, &state, &mut at_until, &mut standing);
    }
    // Standing at `since` (and before any later record).
    let initial: HashMap<&str, Standing> = hosts
        .keys()
        .map(|host| (host.as_str(), standing(state.get(host.as_str())).0))
        .collect();
    // Per host: its timeline oldest first, from `since` on.
    let timeline = |host: &str| -> Vec<(i64, Standing)> {
        let first_seen = hosts.get(host).map_or(i64::MAX, |(_, first)| *first);
        let mut line = vec![(i64::MIN, Standing::Absent)];
        let start = initial.get(host).copied().unwrap_or(Standing::Without);
        let mut changes: Vec<(i64, Standing)> = transitions
            .get(host)
            .map(|list| list.iter().rev().copied().collect())
            .unwrap_or_default();
        // The standing it had when it joined the fleet: the first state the
        // walk reached at or after that moment.
        let mut joined = start;
        changes.retain(|(at, standing)| {
            if *at <= first_seen {
                joined = *standing;
                false
            } else {
                true
            }
        });
        line.push((first_seen, joined));
        line.extend(changes);
        line
    };
    let standing_at = |line: &[(i64, Standing)], at: i64| -> Standing {
        line.iter()
            .take_while(|(from, _)| *from <= at)
            .last()
            .map_or(Standing::Absent, |(_, standing)| *standing)
    };
    let step_count = (request.until - request.since) / request.step + 1;
    let moments: Vec<i64> = (0..step_count)
        .map(|k| request.since + k * request.step)
        .collect();
    let mut steps: Vec<Step> = moments
        .iter()
        .map(|at| Step {
            at: *at,
            at_or_above: 0,
            below: 0,
            without: 0,
        })
        .collect();
    let mut exposed = Vec::new();
    let mut host_ids: Vec<&String> = hosts.keys().collect();
    host_ids.sort();
    for host in host_ids {
        let line = timeline(host);
        for step in &mut steps {
            match standing_at(&line, step.at) {
                Standing::Absent => {}
                Standing::Without => step.without += 1,
                Standing::Below => step.below += 1,
                Standing::AtOrAbove => step.at_or_above += 1,
            }
        }
        // Exposure inside the window: below at `since`, or a later move to below.
        let mut exposed_from = None;
        let mut remediated_at = None;
        if standing_at(&line, request.since) == Standing::Below {
            exposed_from = Some(request.since);
        }
        for (at, standing) in line
            .iter()
            .filter(|(at, _)| *at > request.since && *at <= request.until)
        {
            match (exposed_from, standing) {
                (None, Standing::Below) => exposed_from = Some(*at),
                (Some(_), Standing::AtOrAbove) if remediated_at.is_none() => {
                    remediated_at = Some(*at);
                }
                _ => {}
            }
        }
        if let Some(exposed_from) = exposed_from {
            let (end, version) = at_until
                .get(host.as_str())
                .cloned()
                .unwrap_or((Standing::Without, None));
            exposed.push(Exposed {
                host_id: host.clone(),
                hostname: hosts
                    .get(host)
                    .map(|(name, _)| name.clone())
                    .unwrap_or_default(),
                exposed_from,
                remediated_at,
                removed: remediated_at.is_none() && end == Standing::Without,
                version_at_until: version,
            });
        }
    }
    let mut times: Vec<i64> = exposed
        .iter()
        .filter_map(|host| host.remediated_at.map(|at| at - host.exposed_from))
        .collect();
    times.sort_unstable();
    let rank = |p: usize| -> Option<i64> {
        if times.is_empty() {
            return None;
        }
        // Nearest rank: the smallest value with at least p % at or below it.
        let index = (p * times.len()).div_ceil(100).max(1) - 1;
        times.get(index).copied()
    };
    let count = |f: &dyn Fn(&Exposed) -> bool| exposed.iter().filter(|host| f(host)).count() as u64;
    let within = count(&|host| {
        host.remediated_at
            .is_some_and(|at| at - host.exposed_from <= request.within)
    });
    let remediation = Remediation {
        exposed: exposed.len() as u64,
        remediated: times.len() as u64,
        removed: count(&|host| host.removed),
        still_below: count(&|host| host.remediated_at.is_none() && !host.removed),
        p50: rank(50),
        p90: rank(90),
        within,
        share_within: (!exposed.is_empty()).then(|| within as f64 / exposed.len() as f64),
    };
    exposed.sort_by(|a, b| {
        let time = |host: &Exposed| host.remediated_at.map(|at| at - host.exposed_from);
        (time(a).is_none(), time(a), &a.hostname).cmp(&(time(b).is_none(), time(b), &b.hostname))
    });
    Ok(Rollout {
        manager,
        steps,
        hosts: exposed,
        remediation,
    })
}
