//! The software catalogue: which package versions are installed on how many
//! hosts, and which hosts run a package whose version satisfies conditions
//! like `< 3.0.13`, compared by the reporting package manager's ordering
//! (`cmdb::version`).
//!
//! The store answers both from the catalogue (`cmdb::catalogue` ranks each
//! package's versions by `cmdb::version`, so the database can compare).

use std::cmp::Ordering;

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

/// One page of the hosts that `filter` selects and that run package `name`
/// at a version satisfying every condition (`filter.limit` is the page
/// size); the store selects them from the catalogue's rank index.
pub async fn hosts_running(
    store: &dyn Store,
    filter: &HostFilter,
    name: &str,
    conditions: &[VersionCondition],
) -> Result<Vec<Host>> {
    store.hosts_running(filter, name, conditions).await
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
    let mut counts = store.software_counts(name).await?;
    counts
        .sort_by(|a, b| (&a.name, &a.version, &a.manager).cmp(&(&b.name, &b.version, &b.manager)));
    // Newest version first within a name, by the package manager's ordering.
    counts.sort_by(|a, b| {
        a.name
            .cmp(&b.name)
            .then_with(|| match (&a.version, &b.version) {
                (Some(a_version), Some(b_version)) => version::compare(
                    b.manager.as_deref().unwrap_or_default(),
                    b_version,
                    a_version,
                ),
                _ => Ordering::Equal,
            })
    });
    Ok(counts
        .into_iter()
        .map(|count| CatalogueEntry {
            name: count.name,
            version: count.version,
            manager: count.manager,
            hosts: usize::try_from(count.hosts).unwrap_or(0),
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
