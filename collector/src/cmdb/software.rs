//! The software catalogue: which package versions are installed on how many
//! hosts, and which hosts run a package whose version satisfies conditions
//! like `< 3.0.13`, compared by the reporting package manager's ordering
//! (`cmdb::version`).
//!
//! The store answers "who has package NAME"; the version conditions are
//! applied here because only `cmdb::version` knows dpkg/rpm/apk ordering.

use std::cmp::Ordering;
use std::collections::{BTreeMap, BTreeSet};

use crate::cmdb::version;
use crate::error::Result;
use crate::store::{Host, HostFilter, Store};

/// How an installed version must compare with a bound.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Comparison {
    /// Older than the bound.
    Lt,
    /// Older than or equal to the bound.
    Le,
    /// Equal to the bound.
    Eq,
    /// Newer than or equal to the bound.
    Ge,
    /// Newer than the bound.
    Gt,
}

impl Comparison {
    /// Whether `installed` compared with the bound (`installed.cmp(bound)`) satisfies this.
    pub fn accepts(self, ordering: Ordering) -> bool {
        match self {
            Comparison::Lt => ordering == Ordering::Less,
            Comparison::Le => ordering != Ordering::Greater,
            Comparison::Eq => ordering == Ordering::Equal,
            Comparison::Ge => ordering != Ordering::Less,
            Comparison::Gt => ordering == Ordering::Greater,
        }
    }
}

/// One version condition: installed version `comparison` `bound`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VersionCondition {
    /// How the installed version must compare.
    pub comparison: Comparison,
    /// The version compared with.
    pub bound: String,
}

/// Whether `installed` (reported by `manager`) satisfies every condition.
pub fn satisfies(manager: &str, installed: &str, conditions: &[VersionCondition]) -> bool {
    conditions.iter().all(|condition| {
        condition
            .comparison
            .accepts(version::compare(manager, installed, &condition.bound))
    })
}

/// Ids of the hosts with a package `name` whose version satisfies every condition.
pub async fn hosts_with_package(
    store: &dyn Store,
    name: &str,
    conditions: &[VersionCondition],
) -> Result<BTreeSet<String>> {
    Ok(store
        .software(Some(name))
        .await?
        .into_iter()
        .filter(|row| satisfies(&row.manager, &row.version, conditions))
        .map(|row| row.host_id)
        .collect())
}

/// One page of the hosts that `filter` selects and that run package `name`
/// at a version satisfying every condition (`filter.limit` is the page size).
pub async fn hosts_running(
    store: &dyn Store,
    filter: &HostFilter,
    name: &str,
    conditions: &[VersionCondition],
) -> Result<Vec<Host>> {
    let matching = hosts_with_package(store, name, conditions).await?;
    let everyone = HostFilter {
        limit: 1_000_000,
        ..filter.clone()
    };
    Ok(store
        .hosts(&everyone)
        .await?
        .into_iter()
        .filter(|host| matching.contains(&host.id))
        .take(usize::try_from(filter.limit).unwrap_or(0))
        .collect())
}

/// One line of the catalogue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CatalogueEntry {
    /// Package name.
    pub name: String,
    /// The version, or `None` in the by-name overview.
    pub version: Option<String>,
    /// The package manager that reported it, or `None` in the by-name overview.
    pub manager: Option<String>,
    /// Distinct hosts with it installed.
    pub hosts: usize,
}

/// The catalogue. Without a name: one line per package name with its host
/// count. With a name: one line per (version, manager) of that package,
/// newest version first by the manager's ordering.
pub async fn catalogue(store: &dyn Store, name: Option<&str>) -> Result<Vec<CatalogueEntry>> {
    let rows = store.software(name).await?;
    let by_name = name.is_none();
    let mut groups: BTreeMap<(String, String, String), BTreeSet<String>> = BTreeMap::new();
    for row in rows {
        let key = if by_name {
            (row.name, String::new(), String::new())
        } else {
            (row.name, row.version, row.manager)
        };
        groups.entry(key).or_default().insert(row.host_id);
    }
    let mut items: Vec<((String, String, String), usize)> = groups
        .into_iter()
        .map(|(key, hosts)| (key, hosts.len()))
        .collect();
    // Newest version first within a name, by the package manager's ordering.
    items.sort_by(
        |((a_name, a_version, _), _), ((b_name, b_version, b_manager), _)| {
            a_name
                .cmp(b_name)
                .then_with(|| version::compare(b_manager, b_version, a_version))
        },
    );
    Ok(items
        .into_iter()
        .map(|((name, version, manager), hosts)| CatalogueEntry {
            name,
            version: (!by_name).then_some(version),
            manager: (!by_name).then_some(manager),
            hosts,
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn condition(comparison: Comparison, bound: &str) -> VersionCondition {
        VersionCondition {
            comparison,
            bound: bound.into(),
        }
    }

    #[test]
    fn comparisons_accept_the_orderings_they_name() {
        use Ordering::{Equal, Greater, Less};
        let table = [
            (Comparison::Lt, [true, false, false]),
            (Comparison::Le, [true, true, false]),
            (Comparison::Eq, [false, true, false]),
            (Comparison::Ge, [false, true, true]),
            (Comparison::Gt, [false, false, true]),
        ];
        for (comparison, expected) in table {
            let got = [Less, Equal, Greater].map(|ordering| comparison.accepts(ordering));
            assert_eq!(got, expected, "{comparison:?}");
        }
    }

    #[test]
    fn conditions_use_the_package_managers_ordering() {
        // dpkg: `~` sorts before the release, so 3.0.13~rc1 is older than 3.0.13.
        let below = [condition(Comparison::Lt, "3.0.13")];
        assert!(satisfies("dpkg", "3.0.13~rc1", &below));
        assert!(satisfies("dpkg", "3.0.9", &below));
        assert!(!satisfies("dpkg", "3.0.13", &below));
        assert!(!satisfies("dpkg", "1:1.0", &below), "an epoch wins");
        let range = [
            condition(Comparison::Ge, "1.2"),
            condition(Comparison::Lt, "2.0"),
        ];
        assert!(satisfies("rpm", "1.10", &range));
        assert!(!satisfies("rpm", "2.0", &range));
        assert!(
            satisfies("rpm", "anything", &[]),
            "no conditions: any version"
        );
    }
}
