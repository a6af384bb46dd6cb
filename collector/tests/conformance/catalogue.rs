//! The software catalogue against the package managers themselves: version
//! filters answered by the database agree with `dpkg --compare-versions`
//! on real Debian versions and with rpm's own `rpmvercmp` vectors; and
//! history rebuilds an earlier state of a host exactly.
#![allow(clippy::unwrap_used)]

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use rollcall_collector::cmdb::diff::CiItem;
use rollcall_collector::cmdb::software::{self, Comparison, VersionCondition};
use rollcall_collector::store::{HostFilter, InventoryChange, Store};

use super::cases::{NOW, attached, context};

/// Real Debian versions in `dpkg --compare-versions` order (equal ones share a line).
const DPKG_ORDER: &str = include_str!("vectors/dpkg_order.txt");
/// rpm's `tests/rpmvercmp.at`: `a b expected`.
const RPMVERCMP: &str = include_str!("vectors/rpmvercmp.txt");

const COMPARISONS: [Comparison; 5] = [
    Comparison::Lt,
    Comparison::Le,
    Comparison::Eq,
    Comparison::Ge,
    Comparison::Gt,
];

fn installed(name: &str, version: &str, manager: &str) -> CiItem {
    CiItem {
        class: "software".into(),
        key: format!("{name}:amd64"),
        name: name.into(),
        attrs: serde_json::json!({
            "name": name, "version": version, "arch": "amd64", "manager": manager,
            "source": name, "installed_at_s": 1_700_000_000,
        })
        .to_string(),
    }
}

async fn snapshot(
    store: &Arc<dyn Store>,
    agent: &str,
    host: &str,
    seq: i64,
    at: i64,
    items: Vec<CiItem>,
) {
    store
        .apply_inventory(
            &context(agent, host, seq, at),
            InventoryChange {
                full: true,
                items,
                removed: vec![],
            },
        )
        .await
        .unwrap();
}

async fn running(
    store: &Arc<dyn Store>,
    name: &str,
    comparison: Comparison,
    bound: &str,
) -> BTreeSet<String> {
    let filter = HostFilter {
        limit: 1000,
        ..Default::default()
    };
    let condition = VersionCondition {
        comparison,
        bound: bound.into(),
    };
    software::hosts_running(store.as_ref(), &filter, name, &[condition])
        .await
        .unwrap()
        .into_iter()
        .map(|host| host.id)
        .collect()
}

fn accepts(comparison: Comparison, ordering: i32) -> bool {
    comparison.accepts(ordering.cmp(&0))
}

pub async fn version_filters_agree_with_dpkg(store: Arc<dyn Store>) {
    let groups: Vec<Vec<&str>> = DPKG_ORDER
        .lines()
        .filter(|line| !line.starts_with('#') && !line.trim().is_empty())
        .map(|line| line.split_whitespace().collect())
        .collect();
    let mut versions: Vec<(&str, usize)> = groups
        .iter()
        .enumerate()
        .flat_map(|(group, list)| list.iter().map(move |version| (*version, group)))
        .collect();
    // Arrive in an order unlike the sorted one: every new version lands
    // between, above or below ranked ones.
    versions.sort_by_key(|(version, _)| {
        version.bytes().fold(7_u64, |hash, byte| {
            hash.wrapping_mul(31).wrapping_add(u64::from(byte))
        })
    });
    let mut hosts: Vec<(String, usize)> = Vec::new();
    for (index, (version, group)) in versions.iter().enumerate() {
        let agent = format!("dpkg-{index}");
        let host = attached(&store, &agent).await;
        snapshot(
            &store,
            &agent,
            &host,
            1,
            NOW,
            vec![installed("libdemo", version, "dpkg")],
        )
        .await;
        hosts.push((host, *group));
    }
    for (bound, bound_group) in &versions {
        for comparison in COMPARISONS {
            let expected: BTreeSet<String> = hosts
                .iter()
                .filter(|(_, group)| accepts(comparison, (*group as i32) - (*bound_group as i32)))
                .map(|(host, _)| host.clone())
                .collect();
            assert_eq!(
                running(&store, "libdemo", comparison, bound).await,
                expected,
                "{comparison:?} {bound}"
            );
        }
    }
    // The catalogue lists the versions newest first, as dpkg orders them.
    let listed = software::catalogue(store.as_ref(), Some("libdemo"))
        .await
        .unwrap();
    assert_eq!(listed.len(), versions.len());
    let group_of: BTreeMap<&str, usize> = versions.iter().copied().collect();
    let order: Vec<usize> = listed
        .iter()
        .map(|entry| group_of[entry.version.as_deref().unwrap()])
        .collect();
    assert!(order.windows(2).all(|pair| pair[0] >= pair[1]), "{order:?}");
    assert!(listed.iter().all(|entry| entry.hosts == 1));
}

/// A fleet's first inventories arrive together: sessions miss the same
/// new packages at once. Each package is stored once, every host gets the
/// ids of its own versions, and the filters answer from them.
pub async fn concurrent_first_inventories_share_one_catalogue(store: Arc<dyn Store>) {
    const HOSTS: usize = 24;
    const PACKAGES: usize = 40;
    let versions = ["1.0-1", "1.0-2", "2.0-1"];
    let mut hosts = Vec::new();
    for index in 0..HOSTS {
        let agent = format!("fleet-{index}");
        let host = attached(&store, &agent).await;
        hosts.push((agent, host));
    }
    let mut applies = tokio::task::JoinSet::new();
    for (index, (agent, host)) in hosts.iter().cloned().enumerate() {
        let store = store.clone();
        let version = versions[index % versions.len()];
        applies.spawn(async move {
            let items = (0..PACKAGES)
                .map(|package| installed(&format!("shared{package}"), version, "dpkg"))
                .collect();
            snapshot(&store, &agent, &host, 1, NOW, items).await;
        });
    }
    while let Some(applied) = applies.join_next().await {
        applied.unwrap();
    }
    for package in 0..PACKAGES {
        let name = format!("shared{package}");
        let listed = software::catalogue(store.as_ref(), Some(&name))
            .await
            .unwrap();
        let listed: Vec<(String, usize)> = listed
            .into_iter()
            .map(|entry| (entry.version.unwrap(), entry.hosts))
            .collect();
        // Newest first, each version once, each on a third of the hosts.
        let per_version = HOSTS / versions.len();
        assert_eq!(
            listed,
            vec![
                ("2.0-1".to_string(), per_version),
                ("1.0-2".to_string(), per_version),
                ("1.0-1".to_string(), per_version),
            ],
            "{name}"
        );
    }
    let older: BTreeSet<String> = hosts
        .iter()
        .enumerate()
        .filter(|(index, _)| versions[index % versions.len()] != "2.0-1")
        .map(|(_, (_, host))| host.clone())
        .collect();
    assert_eq!(
        running(&store, "shared7", Comparison::Lt, "2.0-1").await,
        older
    );
}

pub async fn version_filters_agree_with_rpmvercmp(store: Arc<dyn Store>) {
    let vectors: Vec<(&'static str, &'static str, i32)> = RPMVERCMP
        .lines()
        .filter(|line| !line.starts_with('#') && !line.trim().is_empty())
        .map(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            (fields[0], fields[1], fields[2].parse().unwrap())
        })
        .collect();
    assert!(vectors.len() >= 60);
    // One host has every vector's left side, another its right side, each a
    // package of its own.
    let left = attached(&store, "rpm-left").await;
    let right = attached(&store, "rpm-right").await;
    let side = |pick: fn(&(&'static str, &'static str, i32)) -> &'static str| {
        vectors
            .iter()
            .enumerate()
            .map(|(index, vector)| installed(&format!("v{index:03}"), pick(vector), "rpm"))
            .collect::<Vec<_>>()
    };
    snapshot(&store, "rpm-left", &left, 1, NOW, side(|v| v.0)).await;
    // First only the left side is in the catalogue: the bound is not.
    for (index, (a, b, expected)) in vectors.iter().enumerate() {
        let name = format!("v{index:03}");
        for comparison in COMPARISONS {
            let got = running(&store, &name, comparison, b).await.contains(&left);
            assert_eq!(
                got,
                accepts(comparison, *expected),
                "{a} {comparison:?} {b} (bound not stored)"
            );
        }
    }
    snapshot(&store, "rpm-right", &right, 1, NOW, side(|v| v.1)).await;
    for (index, (a, b, expected)) in vectors.iter().enumerate() {
        let name = format!("v{index:03}");
        for comparison in COMPARISONS {
            let got = running(&store, &name, comparison, b).await;
            assert_eq!(
                got.contains(&left),
                accepts(comparison, *expected),
                "{a} {comparison:?} {b}"
            );
            assert_eq!(
                got.contains(&right),
                accepts(comparison, 0),
                "{b} {comparison:?} {b}"
            );
            let reverse = running(&store, &name, comparison, a).await;
            assert_eq!(
                reverse.contains(&right),
                accepts(comparison, -expected),
                "{b} {comparison:?} {a}"
            );
        }
    }
}

type Items = BTreeMap<(String, String), String>;

async fn current(store: &Arc<dyn Store>, host: &str) -> Items {
    store
        .host_items(host)
        .await
        .unwrap()
        .into_iter()
        .map(|item| ((item.class, item.item_key), item.attrs))
        .collect()
}

fn singleton(class: &str, attrs: serde_json::Value) -> CiItem {
    CiItem {
        class: class.into(),
        key: String::new(),
        name: class.into(),
        attrs: attrs.to_string(),
    }
}

pub async fn history_rebuilds_an_earlier_state_exactly(store: Arc<dyn Store>) {
    let host = attached(&store, "asof").await;
    let os = |kernel: &str| {
        singleton(
            "os",
            serde_json::json!({ "kernel": kernel, "arch": "x86_64" }),
        )
    };
    let first = vec![
        installed("bash", "5.2.15-2+b2", "dpkg"),
        installed("openssl", "3.0.11-1~deb12u2", "dpkg"),
        installed("zsh", "5.9-4+b2", "dpkg"),
        os("6.1.0-13"),
        singleton(
            "memory",
            serde_json::json!({ "total_bytes": 8_000_000_000_i64 }),
        ),
    ];
    snapshot(&store, "asof", &host, 1, NOW, first).await;
    let at_first = current(&store, &host).await;
    let history = store
        .changes(&rollcall_collector::store::ChangeFilter {
            host_id: Some(host.clone()),
            limit: 100,
            ..Default::default()
        })
        .await
        .unwrap();
    // Besides the host CI's own identification record.
    let kinds: Vec<&str> = history
        .iter()
        .filter(|c| c.field != "identification")
        .map(|c| c.change.as_str())
        .collect();
    assert_eq!(kinds, ["discovered"], "one record for the first inventory");
    // A delta: openssl upgraded, zsh removed, curl installed, a new kernel.
    store
        .apply_inventory(
            &context("asof", &host, 2, NOW + 1_000),
            InventoryChange {
                full: false,
                items: vec![
                    installed("openssl", "3.0.13-1~deb12u1", "dpkg"),
                    installed("curl", "7.88.1-10+deb12u5", "dpkg"),
                    os("6.1.0-18"),
                ],
                removed: vec![("software".into(), "zsh:amd64".into())],
            },
        )
        .await
        .unwrap();
    let at_delta = current(&store, &host).await;
    // A snapshot: bash gone, zsh back, memory changed.
    snapshot(
        &store,
        "asof",
        &host,
        3,
        NOW + 2_000,
        vec![
            installed("openssl", "3.0.13-1~deb12u1", "dpkg"),
            installed("curl", "7.88.1-10+deb12u5", "dpkg"),
            installed("zsh", "5.9-4+b2", "dpkg"),
            os("6.1.0-18"),
            singleton(
                "memory",
                serde_json::json!({ "total_bytes": 16_000_000_000_i64 }),
            ),
        ],
    )
    .await;
    let at_last = current(&store, &host).await;
    assert_ne!(at_first, at_delta);
    assert_ne!(at_delta, at_last);
    for (at, expected) in [
        (NOW - 1, Items::new()),
        (NOW, at_first.clone()),
        (NOW + 999, at_first),
        (NOW + 1_000, at_delta.clone()),
        (NOW + 1_999, at_delta),
        (NOW + 2_000, at_last.clone()),
        (NOW + 1_000_000, at_last),
    ] {
        assert_eq!(
            store.items_as_of(&host, at).await.unwrap(),
            expected,
            "as of {at}"
        );
    }
}
