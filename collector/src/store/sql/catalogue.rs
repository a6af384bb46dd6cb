//! The software catalogue in SQL: package ids (added and ranked on first
//! sight, cached once committed), host surrogate keys, a host's software,
//! and the version-filtered and counted queries (rules: `cmdb::catalogue`).

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;

use sqlx::{AnyConnection, AnyPool, Row};

use super::dialect::Dialect;
use super::statements::Statement;
use crate::cmdb::catalogue::{self, Installed, PackageId, Placement};
use crate::cmdb::software::VersionCondition;
use crate::error::{Error, Result};

/// Package ids held in memory: past this many the cache starts over.
const CACHE_LIMIT: usize = 500_000;

/// Committed package ids by identity (ids never change; ranks may).
#[derive(Debug, Default)]
pub(crate) struct Catalogue {
    cache: Mutex<HashMap<PackageId, i64>>,
    /// Held while packages are added, so that one transaction at a time
    /// adds what the cache lacks. Sessions that miss the same packages at
    /// once (a fleet's first inventories) wait for it and then find them
    /// cached, instead of each walking every package of its inventory
    /// under the catalogue's locks (on PostgreSQL, writers waited on each
    /// other's advisory locks; on SQLite, each took the write lock).
    adding: tokio::sync::Mutex<()>,
}

impl Catalogue {
    fn cached(&self) -> std::sync::MutexGuard<'_, HashMap<PackageId, i64>> {
        self.cache
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The packages of `packages` whose ids are not cached (each once).
    fn missing(&self, packages: &[&PackageId]) -> Vec<PackageId> {
        let cache = self.cached();
        let mut missing: Vec<PackageId> = packages
            .iter()
            .filter(|package| !cache.contains_key(**package))
            .map(|package| (*package).clone())
            .collect();
        missing.sort_unstable();
        missing.dedup();
        missing
    }

    /// The ids of `packages`, in their order, adding those the catalogue
    /// lacks in a transaction of their own (committed before the
    /// inventory that needs them is applied, so concurrent writers never
    /// hold package locks while they wait for each other).
    pub(crate) async fn ids(
        &self,
        pool: &AnyPool,
        dialect: Dialect,
        packages: &[&PackageId],
    ) -> Result<Vec<i64>> {
        let found: Option<Vec<i64>> = {
            let cache = self.cached();
            packages
                .iter()
                .map(|package| cache.get(*package).copied())
                .collect()
        };
        if let Some(ids) = found {
            return Ok(ids);
        }
        // Only adders empty the cache, and they hold `adding`: from here on
        // every package is cached or added by this call.
        let _adding = self.adding.lock().await;
        // Another session may have added them while this one waited.
        let missing = self.missing(packages);
        let added = if missing.is_empty() {
            HashMap::new()
        } else {
            let mut tx = dialect.begin_write(pool).await?;
            let added = add_packages(&mut tx, dialect, &missing).await?;
            tx.commit().await?;
            added
        };
        let mut cache = self.cached();
        let ids = packages
            .iter()
            .map(|package| {
                cache
                    .get(*package)
                    .or_else(|| added.get(*package))
                    .copied()
                    .ok_or_else(|| {
                        Error::Internal(format!("no catalogue id for package {}", package.name))
                    })
            })
            .collect::<Result<Vec<i64>>>()?;
        if cache.len() + added.len() > CACHE_LIMIT {
            cache.clear();
        }
        cache.extend(added);
        Ok(ids)
    }
}

/// The ids of `packages`, inserting and ranking the ones not yet in the
/// catalogue, on `connection`'s transaction. Packages are taken one
/// (name, manager) at a time in sorted order, each under its lock.
pub(super) async fn add_packages(
    connection: &mut AnyConnection,
    dialect: Dialect,
    packages: &[PackageId],
) -> Result<HashMap<PackageId, i64>> {
    let mut groups: BTreeMap<(&str, &str), Vec<&PackageId>> = BTreeMap::new();
    for package in packages {
        groups
            .entry((package.name.as_str(), package.manager.as_str()))
            .or_default()
            .push(package);
    }
    let mut ids = HashMap::with_capacity(packages.len());
    for ((name, manager), wanted) in groups {
        dialect.lock_package(connection, name, manager).await?;
        let rows = sqlx::query(
            "SELECT id, version, arch, source, rank FROM packages WHERE name = $1 AND manager = $2 ORDER BY rank, id",
        )
        .bind(name)
        .bind(manager)
        .fetch_all(&mut *connection)
        .await?;
        let mut ranked: Vec<(String, i64)> = Vec::new();
        let mut versions = std::collections::HashSet::new();
        for row in &rows {
            let id: i64 = row.try_get("id")?;
            let version: String = row.try_get("version")?;
            let arch: String = row.try_get("arch")?;
            let source: String = row.try_get("source")?;
            let rank: i64 = row.try_get("rank")?;
            if versions.insert(version.clone()) {
                ranked.push((version.clone(), rank));
            }
            let package = PackageId {
                name: name.to_string(),
                manager: manager.to_string(),
                version,
                arch,
                source,
            };
            ids.insert(package, id);
        }
        for package in wanted {
            if ids.contains_key(package) {
                continue;
            }
            let rank = match ranked
                .iter()
                .find(|(version, _)| *version == package.version)
            {
                Some((_, rank)) => *rank,
                None => match catalogue::place(manager, &ranked, &package.version) {
                    Placement::Rank(rank) => {
                        let at = ranked.partition_point(|(_, existing)| *existing <= rank);
                        ranked.insert(at, (package.version.clone(), rank));
                        rank
                    }
                    Placement::Renumber(all) => {
                        for (version, rank) in &all {
                            sqlx::query(
                                "UPDATE packages SET rank = $1 WHERE name = $2 AND manager = $3 AND version = $4",
                            )
                            .bind(*rank)
                            .bind(name)
                            .bind(manager)
                            .bind(version)
                            .execute(&mut *connection)
                            .await?;
                        }
                        ranked = all;
                        ranked
                            .iter()
                            .find(|(version, _)| *version == package.version)
                            .map(|(_, rank)| *rank)
                            .ok_or_else(|| Error::Internal("renumbering lost a version".into()))?
                    }
                },
            };
            let row = sqlx::query(
                "INSERT INTO packages (manager, name, version, arch, source, rank) VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
            )
            .bind(manager)
            .bind(name)
            .bind(&package.version)
            .bind(&package.arch)
            .bind(&package.source)
            .bind(rank)
            .fetch_one(&mut *connection)
            .await?;
            ids.insert(package.clone(), row.try_get("id")?);
        }
    }
    Ok(ids)
}

/// The surrogate key of a host, created on first use.
pub(super) async fn host_key(connection: &mut AnyConnection, host_id: &str) -> Result<i64> {
    let select = "SELECT host_key FROM host_keys WHERE host_id = $1";
    if let Some(row) = sqlx::query(select)
        .bind(host_id)
        .fetch_optional(&mut *connection)
        .await?
    {
        return Ok(row.try_get("host_key")?);
    }
    let row = sqlx::query("INSERT INTO host_keys (host_id) VALUES ($1) RETURNING host_key")
        .bind(host_id)
        .fetch_one(&mut *connection)
        .await?;
    Ok(row.try_get("host_key")?)
}

/// One package on one host as stored.
#[derive(Debug, Clone)]
pub(super) struct HostPackage {
    /// The package and the host's install time.
    pub installed: Installed,
    /// First seen on this host (ms).
    pub first_seen_at: i64,
    /// Last changed on this host (ms).
    pub updated_at: i64,
}

const HOST_PACKAGE_COLUMNS: &str = "p.name AS name, p.manager AS manager, p.version AS version, p.arch AS arch, \
     p.source AS source, hs.installed_at_s AS installed_at_s, \
     hs.first_seen_at AS first_seen_at, hs.updated_at AS updated_at";

/// A host's package from a row with the columns `name`, `manager`,
/// `version`, `arch`, `source` and `installed_at_s`.
pub(super) fn installed_of(row: &sqlx::any::AnyRow) -> std::result::Result<Installed, sqlx::Error> {
    Ok(Installed {
        package: PackageId {
            name: row.try_get("name")?,
            manager: row.try_get("manager")?,
            version: row.try_get("version")?,
            arch: row.try_get("arch")?,
            source: row.try_get("source")?,
        },
        installed_at_s: row.try_get("installed_at_s")?,
    })
}

fn host_package(row: &sqlx::any::AnyRow) -> std::result::Result<HostPackage, sqlx::Error> {
    Ok(HostPackage {
        installed: installed_of(row)?,
        first_seen_at: row.try_get("first_seen_at")?,
        updated_at: row.try_get("updated_at")?,
    })
}

/// The software of a host by its id (none if it never reported any).
pub(super) async fn host_packages_of(pool: &AnyPool, host_id: &str) -> Result<Vec<HostPackage>> {
    let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {HOST_PACKAGE_COLUMNS} FROM host_keys hk JOIN host_software hs ON hs.host_key = hk.host_key \
         JOIN packages p ON p.id = hs.package_id WHERE hk.host_id = $1"
    )))
    .bind(host_id)
    .fetch_all(pool)
    .await?;
    rows.iter()
        .map(host_package)
        .collect::<std::result::Result<_, _>>()
        .map_err(Error::from)
}

/// Catalogue entries by id.
pub(super) async fn packages_by_id(
    connection: &mut AnyConnection,
    dialect: Dialect,
    ids: &[i64],
) -> Result<HashMap<i64, PackageId>> {
    let mut out = HashMap::with_capacity(ids.len());
    for chunk in ids.chunks(dialect.insert_chunk() * 4) {
        let mut statement = Statement::new(
            dialect,
            "SELECT id, name, manager, version, arch, source FROM packages WHERE id IN ",
        );
        statement.bind_list(chunk.iter().copied());
        for row in statement.query()?.fetch_all(&mut *connection).await? {
            out.insert(
                row.try_get("id")?,
                PackageId {
                    name: row.try_get("name")?,
                    manager: row.try_get("manager")?,
                    version: row.try_get("version")?,
                    arch: row.try_get("arch")?,
                    source: row.try_get("source")?,
                },
            );
        }
    }
    Ok(out)
}

/// Appends the condition "this host runs package `name` at a version
/// satisfying every condition" (`hosts.id IN (…)`), with the version
/// conditions turned into rank ranges from the package's distinct versions,
/// read on `connection` (the caller's snapshot); `false` when no version
/// qualifies (nothing to select).
pub(super) async fn push_runs_package(
    connection: &mut AnyConnection,
    statement: &mut Statement,
    name: &str,
    conditions: &[VersionCondition],
) -> Result<bool> {
    let rows = sqlx::query("SELECT DISTINCT manager, version, rank FROM packages WHERE name = $1")
        .bind(name)
        .fetch_all(&mut *connection)
        .await?;
    let versions = rows
        .iter()
        .map(|row| {
            Ok((
                row.try_get("manager")?,
                row.try_get("version")?,
                row.try_get("rank")?,
            ))
        })
        .collect::<std::result::Result<Vec<(String, String, i64)>, sqlx::Error>>()?;
    let ranges = catalogue::rank_ranges(&versions, conditions);
    if ranges.is_empty() {
        return Ok(false);
    }
    statement
        .push("id IN (SELECT hk.host_id FROM packages p JOIN host_software hs ON hs.package_id = p.id \
               JOIN host_keys hk ON hk.host_key = hs.host_key WHERE p.name = ")
        .bind(name)
        .push(" AND (");
    for (index, range) in ranges.iter().enumerate() {
        if index > 0 {
            statement.push(" OR ");
        }
        statement.push("(p.manager = ").bind(range.manager.as_str());
        if let Some(low) = range.low {
            statement.push(" AND p.rank >= ").bind(low);
        }
        if let Some(high) = range.high {
            statement.push(" AND p.rank <= ").bind(high);
        }
        statement.push(")");
    }
    statement.push("))");
    Ok(true)
}
