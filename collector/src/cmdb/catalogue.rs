//! The software catalogue's rules (pure): what identifies a package, how
//! a software item is stored compactly and rendered back, where a version
//! ranks in its package's version order, and which ranks a version
//! condition selects.
//!
//! Ranks: each (manager, name) has its own order. A version's rank is an
//! `i64`; ranks of versions that the package manager's comparator
//! (`cmdb::version`) calls equal are equal, and a lower rank is an older
//! version. New versions take the midpoint of their neighbours' ranks, and
//! the first ranks are [`RANK_GAP`] apart, so about 32 versions can land
//! between two neighbours before the package's ranks are renumbered (all
//! its versions again [`RANK_GAP`] apart, in one transaction that holds the
//! package's lock). A version query reads the package's few distinct
//! versions, turns each condition into a range of ranks ([`rank_ranges`])
//! and lets the database select hosts through its rank index.

use std::cmp::Ordering;

use serde_json::Value;

use crate::cmdb::diff::CiItem;
use crate::cmdb::software::{Comparison, VersionCondition};
use crate::cmdb::version;

/// The distance between neighbouring ranks when a package is (re)numbered.
pub const RANK_GAP: i64 = 1 << 32;

/// What identifies one catalogue entry: stored once however many hosts have it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PackageId {
    /// Package name.
    pub name: String,
    /// `dpkg`, `rpm` or `apk` ("" when not reported).
    pub manager: String,
    /// Version as reported.
    pub version: String,
    /// Architecture ("" when none).
    pub arch: String,
    /// Source package ("" when none).
    pub source: String,
}

/// A package installed on one host: the catalogue entry and what is the host's own.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Installed {
    /// The catalogue entry.
    pub package: PackageId,
    /// When the host installed it (s; 0 when not reported).
    pub installed_at_s: i64,
}

impl Installed {
    /// The package of a software item: its name, and the other fields from
    /// its attributes (absent or mistyped fields are "" and 0, as protobuf
    /// defaults them).
    pub fn of_item(item: &CiItem) -> Self {
        // The agent's own JSON reads straight into the fields; building a
        // `Value` map first cost ~10 k instructions a package (callgrind).
        // Anything it refuses (a mistyped field, a repeated key, not an
        // object) takes the field-by-field reading below, which keeps what
        // it can.
        // (A struct also reads from a JSON array, by position: only an
        // object is taken.)
        if item.attrs.trim_start().starts_with('{')
            && let Ok(attrs) = serde_json::from_str::<PackageAttrs>(&item.attrs)
        {
            return Self {
                package: PackageId {
                    name: item.name.clone(),
                    manager: attrs.manager,
                    version: attrs.version,
                    arch: attrs.arch,
                    source: attrs.source,
                },
                installed_at_s: attrs.installed_at_s,
            };
        }
        let attrs: Value = serde_json::from_str(&item.attrs).unwrap_or(Value::Null);
        let text = |key: &str| {
            attrs
                .get(key)
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string()
        };
        Self {
            package: PackageId {
                name: item.name.clone(),
                manager: text("manager"),
                version: text("version"),
                arch: text("arch"),
                source: text("source"),
            },
            installed_at_s: attrs
                .get("installed_at_s")
                .and_then(Value::as_i64)
                .unwrap_or_default(),
        }
    }

    /// The item as the CMDB shows it: key `name:arch` (or `name`), and every
    /// field of the agent's `Package` message in its JSON form.
    pub fn item(&self) -> CiItem {
        let package = &self.package;
        CiItem {
            class: "software".into(),
            key: package_key(&package.name, &package.arch),
            name: package.name.clone(),
            attrs: serde_json::json!({
                "arch": package.arch,
                "installed_at_s": self.installed_at_s,
                "manager": package.manager,
                "name": package.name,
                "source": package.source,
                "version": package.version,
            })
            .to_string(),
        }
    }
}

/// The attributes of a software item that [`Installed::of_item`] reads,
/// each defaulting as protobuf does when absent.
#[derive(serde::Deserialize)]
struct PackageAttrs {
    #[serde(default)]
    manager: String,
    #[serde(default)]
    version: String,
    #[serde(default)]
    arch: String,
    #[serde(default)]
    source: String,
    #[serde(default)]
    installed_at_s: i64,
}

/// A software item rewritten in the form it is stored and shown in.
pub fn canonical(item: &CiItem) -> CiItem {
    Installed::of_item(item).item()
}

/// The item key of a package (`rollcall_proto::inventory::package_key`).
pub fn package_key(name: &str, arch: &str) -> String {
    if arch.is_empty() {
        name.to_string()
    } else {
        format!("{name}:{arch}")
    }
}

/// Where a new version goes among a package's ranked versions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Placement {
    /// At this rank; no other version moves.
    Rank(i64),
    /// No room between its neighbours: every version of the package gets
    /// the rank given here (the new one included).
    Renumber(Vec<(String, i64)>),
}

/// Places `version` among `ranked`, a package's distinct versions ordered by
/// rank (whose order agrees with `manager`'s comparator).
pub fn place(manager: &str, ranked: &[(String, i64)], version: &str) -> Placement {
    let index = ranked.partition_point(|(existing, _)| {
        version::compare(manager, existing, version) == Ordering::Less
    });
    if let Some((existing, rank)) = ranked.get(index)
        && version::compare(manager, existing, version) == Ordering::Equal
    {
        return Placement::Rank(*rank);
    }
    let lower = index.checked_sub(1).map(|below| ranked[below].1);
    let upper = ranked.get(index).map(|(_, rank)| *rank);
    let rank = match (lower, upper) {
        (None, None) => Some(0),
        (Some(lower), None) => lower.checked_add(RANK_GAP),
        (None, Some(upper)) => upper.checked_sub(RANK_GAP),
        (Some(lower), Some(upper)) => upper
            .checked_sub(lower)
            .filter(|room| *room >= 2)
            .map(|room| lower + room / 2),
    };
    match rank {
        Some(rank) => Placement::Rank(rank),
        None => {
            let mut versions: Vec<&str> = ranked.iter().map(|(v, _)| v.as_str()).collect();
            versions.insert(index, version);
            Placement::Renumber(renumber(manager, &versions))
        }
    }
}

/// Ranks for versions already in order: [`RANK_GAP`] apart, equal
/// versions sharing a rank.
fn renumber(manager: &str, ordered: &[&str]) -> Vec<(String, i64)> {
    let mut out: Vec<(String, i64)> = Vec::with_capacity(ordered.len());
    let mut rank = 0_i64;
    for (index, version) in ordered.iter().enumerate() {
        if index > 0 && version::compare(manager, ordered[index - 1], version) != Ordering::Equal {
            rank = rank.saturating_add(RANK_GAP);
        }
        out.push(((*version).to_string(), rank));
    }
    out
}

/// An inclusive range of ranks of one package manager's versions (`None`: unbounded).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RankRange {
    /// Package manager.
    pub manager: String,
    /// Lowest rank selected.
    pub low: Option<i64>,
    /// Highest rank selected.
    pub high: Option<i64>,
}

/// The ranks of a package's versions that satisfy every condition, per
/// manager: `versions` are its distinct (manager, version, rank). A manager
/// none of whose versions qualifies has no range.
pub fn rank_ranges(
    versions: &[(String, String, i64)],
    conditions: &[VersionCondition],
) -> Vec<RankRange> {
    let mut managers: Vec<&str> = versions.iter().map(|(m, _, _)| m.as_str()).collect();
    managers.sort_unstable();
    managers.dedup();
    let mut out = Vec::new();
    for manager in managers {
        let mine: Vec<(&str, i64)> = versions
            .iter()
            .filter(|(m, _, _)| m == manager)
            .map(|(_, v, rank)| (v.as_str(), *rank))
            .collect();
        let (mut low, mut high) = (None::<i64>, None::<i64>);
        let mut empty = false;
        for condition in conditions {
            let (mut below, mut equal, mut above) = (None::<i64>, None::<i64>, None::<i64>);
            for (version, rank) in &mine {
                match version::compare(manager, version, &condition.bound) {
                    Ordering::Less => below = Some(below.map_or(*rank, |b| b.max(*rank))),
                    Ordering::Equal => equal = Some(*rank),
                    Ordering::Greater => above = Some(above.map_or(*rank, |a| a.min(*rank))),
                }
            }
            // Inclusive (from, to), `None` for unbounded; no interval: nothing qualifies.
            let interval = match condition.comparison {
                Comparison::Lt => below.map(|rank| (None, Some(rank))),
                Comparison::Le => equal.or(below).map(|rank| (None, Some(rank))),
                Comparison::Eq => equal.map(|rank| (Some(rank), Some(rank))),
                Comparison::Ge => equal.or(above).map(|rank| (Some(rank), None)),
                Comparison::Gt => above.map(|rank| (Some(rank), None)),
            };
            let Some((from, to)) = interval else {
                empty = true;
                break;
            };
            if let Some(from) = from {
                low = Some(low.map_or(from, |l| l.max(from)));
            }
            if let Some(to) = to {
                high = Some(high.map_or(to, |h| h.min(to)));
            }
        }
        if empty || matches!((low, high), (Some(l), Some(h)) if l > h) {
            continue;
        }
        out.push(RankRange {
            manager: manager.to_string(),
            low,
            high,
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ranked(manager: &str, versions: &[&str]) -> Vec<(String, i64)> {
        let mut list: Vec<(String, i64)> = Vec::new();
        for version in versions {
            match place(manager, &list, version) {
                Placement::Rank(rank) => {
                    list.push(((*version).to_string(), rank));
                    list.sort_by_key(|(_, rank)| *rank);
                }
                Placement::Renumber(all) => list = all,
            }
        }
        list
    }

    #[test]
    fn versions_placed_in_any_order_rank_as_the_comparator_orders_them() {
        let list = ranked(
            "dpkg",
            &["2.0", "1.0", "1.5", "1.5~rc1", "1:0.1", "1.00", "1.7"],
        );
        let order: Vec<&str> = list.iter().map(|(v, _)| v.as_str()).collect();
        assert_eq!(
            order,
            ["1.0", "1.00", "1.5~rc1", "1.5", "1.7", "2.0", "1:0.1"]
        );
        assert_eq!(list[0].1, list[1].1, "1.0 and 1.00 are equal to dpkg");
        for pair in list.windows(2).skip(1) {
            assert!(pair[0].1 < pair[1].1, "{pair:?}");
        }
    }

    #[test]
    fn no_room_between_neighbours_renumbers_the_package() {
        let full = vec![("1.0".to_string(), 5), ("2.0".to_string(), 6)];
        assert_eq!(
            place("dpkg", &full, "1.5"),
            Placement::Renumber(vec![
                ("1.0".into(), 0),
                ("1.5".into(), RANK_GAP),
                ("2.0".into(), 2 * RANK_GAP)
            ])
        );
        // Many versions squeezed into one gap keep their order.
        let mut versions = vec!["1".to_string(), "2".to_string()];
        // Each new version lands between "1" and the previous one.
        versions.extend((0..80).map(|step| format!("1.{}", 999 - step)));
        let refs: Vec<&str> = versions.iter().map(String::as_str).collect();
        let list = ranked("rpm", &refs);
        for pair in list.windows(2) {
            assert!(pair[0].1 < pair[1].1);
            assert_eq!(
                version::compare("rpm", &pair[0].0, &pair[1].0),
                Ordering::Less
            );
        }
    }

    #[test]
    fn conditions_become_rank_ranges_per_manager() {
        let versions = vec![
            ("dpkg".to_string(), "1.0".to_string(), 0),
            ("dpkg".to_string(), "2.0".to_string(), 10),
            ("dpkg".to_string(), "3.0".to_string(), 20),
            ("rpm".to_string(), "2.0".to_string(), 0),
        ];
        let condition = |comparison, bound: &str| VersionCondition {
            comparison,
            bound: bound.into(),
        };
        let range = |manager: &str, low, high| RankRange {
            manager: manager.into(),
            low,
            high,
        };
        assert_eq!(
            rank_ranges(&versions, &[condition(Comparison::Lt, "2.0")]),
            vec![range("dpkg", None, Some(0))]
        );
        assert_eq!(
            rank_ranges(
                &versions,
                &[
                    condition(Comparison::Ge, "1.5"),
                    condition(Comparison::Le, "2.0")
                ]
            ),
            vec![
                range("dpkg", Some(10), Some(10)),
                range("rpm", Some(0), Some(0))
            ]
        );
        assert_eq!(
            rank_ranges(&versions, &[condition(Comparison::Eq, "2.5")]),
            vec![]
        );
        assert_eq!(
            rank_ranges(
                &versions,
                &[
                    condition(Comparison::Gt, "1.0"),
                    condition(Comparison::Lt, "1.0")
                ]
            ),
            vec![]
        );
        assert_eq!(
            rank_ranges(&versions, &[]),
            vec![range("dpkg", None, None), range("rpm", None, None)]
        );
    }

    #[test]
    fn software_items_render_every_package_field() {
        let item = CiItem {
            class: "software".into(),
            key: "bash:amd64".into(),
            name: "bash".into(),
            attrs: r#"{"arch":"amd64","name":"bash","version":"5.2"}"#.into(),
        };
        let canonical = canonical(&item);
        assert_eq!(
            canonical.attrs,
            r#"{"arch":"amd64","installed_at_s":0,"manager":"","name":"bash","source":"","version":"5.2"}"#
        );
        assert_eq!(canonical.key, "bash:amd64");
        assert_eq!(super::canonical(&canonical), canonical);
    }

    #[test]
    fn a_package_reads_the_same_whichever_way_its_attributes_are_parsed() {
        let read = |attrs: &str| {
            let installed = Installed::of_item(&CiItem {
                class: "software".into(),
                key: "bash".into(),
                name: "bash".into(),
                attrs: attrs.into(),
            });
            let package = installed.package;
            (
                package.manager,
                package.version,
                package.arch,
                package.source,
                installed.installed_at_s,
            )
        };
        let text = |s: &str| s.to_string();
        // The typed reading, with escapes and an unknown field.
        assert_eq!(
            read(r#"{"manager":"dpkg","version":"5.2\u002d1","installed_at_s":7,"extra":[1]}"#),
            (text("dpkg"), text("5.2-1"), text(""), text(""), 7)
        );
        // A mistyped or null field defaults alone; the others are kept.
        assert_eq!(
            read(r#"{"manager":"dpkg","version":5,"arch":null,"installed_at_s":1.5}"#),
            (text("dpkg"), text(""), text(""), text(""), 0)
        );
        // A repeated key: the last one, as a JSON map keeps it.
        assert_eq!(
            read(r#"{"version":"1","version":"2"}"#),
            (text(""), text("2"), text(""), text(""), 0)
        );
        // Not an object (an array would fill a struct by position): nothing.
        assert_eq!(
            read(r#"["dpkg","1","amd64","src",3]"#),
            (text(""), text(""), text(""), text(""), 0)
        );
        assert_eq!(
            read("not json"),
            (text(""), text(""), text(""), text(""), 0)
        );
    }
}
