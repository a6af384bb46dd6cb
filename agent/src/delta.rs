//! Inventory deltas: what changed between two inventories, as the
//! [`InventoryDelta`] the agent sends after its first full snapshot, and how
//! to apply one. Items are compared by their key and protobuf encoding as
//! [`rollcall_proto::inventory::flatten`] defines them, so the agent and
//! the collector agree on what "the same item" means.

use std::collections::BTreeMap;

use rollcall_proto::inventory::{
    self, Item, ItemValue, SECTIONS, digests, flatten, is_singleton, set_item,
};
use rollcall_proto::v1::{Inventory, InventoryDelta, RemovedItem, Section};

/// The change from `previous` to `current`, or `None` when no section
/// changed (`collected_at_ms` and section statuses alone are no change).
///
/// `upserts` holds the changed singleton sections (listed in
/// `changed_sections`; a singleton that disappeared is listed there and
/// absent from `upserts`) and the added or changed items of list sections;
/// `removed` names removed list items; `digests` describe `current`.
pub fn diff(previous: &Inventory, current: &Inventory) -> Option<InventoryDelta> {
    let before = flatten(previous);
    let after = flatten(current);
    let before_by_key: BTreeMap<(i32, &str), &Item> = before
        .iter()
        .map(|item| ((item.section as i32, item.key.as_str()), item))
        .collect();
    let after_by_key: BTreeMap<(i32, &str), &Item> = after
        .iter()
        .map(|item| ((item.section as i32, item.key.as_str()), item))
        .collect();

    let mut upserts = Inventory::default();
    let mut changed_sections = Vec::new();
    let mut removed = Vec::new();
    let mut changed = false;

    for item in &after {
        let unchanged = before_by_key
            .get(&(item.section as i32, item.key.as_str()))
            .is_some_and(|old| old.encoded == item.encoded);
        if unchanged {
            continue;
        }
        changed = true;
        if is_singleton(item.section) {
            changed_sections.push(item.section as i32);
        }
        set_item(
            &mut upserts,
            item.section,
            ItemValue::Encoded(&item.encoded),
        );
    }
    for item in &before {
        if after_by_key.contains_key(&(item.section as i32, item.key.as_str())) {
            continue;
        }
        changed = true;
        if is_singleton(item.section) {
            changed_sections.push(item.section as i32);
        } else {
            removed.push(RemovedItem {
                section: item.section as i32,
                key: item.key.clone(),
            });
        }
    }
    if !changed {
        return None;
    }
    changed_sections.sort_unstable();
    changed_sections.dedup();
    upserts.status = current.status.clone();
    upserts.collected_at_ms = current.collected_at_ms;
    Some(InventoryDelta {
        upserts: Some(upserts),
        removed,
        digests: digests(&after),
        changed_sections,
    })
}

/// Applies `delta` to `base` in place: changed singleton sections are
/// replaced (or cleared), removed items dropped, upserted items added or
/// replaced by key. List sections come out sorted by key.
pub fn apply(base: &mut Inventory, delta: &InventoryDelta) {
    let empty = Inventory::default();
    let upserts = delta.upserts.as_ref().unwrap_or(&empty);
    let upserted = flatten(upserts);

    for section in &delta.changed_sections {
        if let Some(spec) = Section::try_from(*section).ok().and_then(inventory::spec)
            && spec.singleton
        {
            spec.clear(base);
        }
    }
    for item in upserted.iter().filter(|item| is_singleton(item.section)) {
        if delta.changed_sections.contains(&(item.section as i32)) {
            set_item(base, item.section, ItemValue::Encoded(&item.encoded));
        }
    }

    // List sections: merge by key through the flattened items, then rebuild
    // each list from the merged encodings.
    let mut merged: BTreeMap<(i32, String), Vec<u8>> = flatten(base)
        .into_iter()
        .filter(|item| !is_singleton(item.section))
        .map(|item| ((item.section as i32, item.key), item.encoded))
        .collect();
    for removed in &delta.removed {
        merged.remove(&(removed.section, removed.key.clone()));
    }
    for item in upserted {
        if !is_singleton(item.section) {
            merged.insert((item.section as i32, item.key), item.encoded);
        }
    }
    for spec in SECTIONS.iter().filter(|spec| !spec.singleton) {
        spec.clear(base);
    }
    for ((section, _), encoded) in &merged {
        if let Ok(section) = Section::try_from(*section) {
            set_item(base, section, ItemValue::Encoded(encoded));
        }
    }

    if !upserts.status.is_empty() {
        base.status.clone_from(&upserts.status);
    }
    if upserts.collected_at_ms != 0 {
        base.collected_at_ms = upserts.collected_at_ms;
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use rollcall_proto::v1::{
        CpuInfo, Disk, Group, Identity, ListeningSocket, MemoryInfo, NetworkConfig, OsInfo,
        Package, SectionStatus, Service, User,
    };

    fn package(name: &str, version: &str, arch: &str) -> Package {
        Package {
            name: name.into(),
            version: version.into(),
            arch: arch.into(),
            manager: "dpkg".into(),
            ..Default::default()
        }
    }

    fn base() -> Inventory {
        Inventory {
            identity: Some(Identity {
                hostname: "web01".into(),
                machine_id: "abc".into(),
                ..Default::default()
            }),
            os: Some(OsInfo {
                id: "debian".into(),
                version: "12".into(),
                ..Default::default()
            }),
            cpu: Some(CpuInfo {
                threads: 4,
                ..Default::default()
            }),
            memory: Some(MemoryInfo {
                total_bytes: 1 << 30,
                swap_total_bytes: 0,
            }),
            disks: vec![Disk {
                name: "sda".into(),
                size_bytes: 100,
                ..Default::default()
            }],
            packages: vec![
                package("bash", "5.2", "amd64"),
                package("libc6", "2.36", "amd64"),
                package("libc6", "2.36", "i386"),
                package("zlib1g", "1.2", "amd64"),
            ],
            services: vec![Service {
                name: "ssh.service".into(),
                active_state: "active".into(),
                ..Default::default()
            }],
            sockets: vec![ListeningSocket {
                protocol: "tcp".into(),
                address: "0.0.0.0".into(),
                port: 22,
                pid: 10,
                process: "sshd".into(),
            }],
            users: vec![User {
                name: "root".into(),
                ..Default::default()
            }],
            groups: vec![Group {
                name: "root".into(),
                ..Default::default()
            }],
            status: vec![SectionStatus {
                section: Section::Services as i32,
                available: true,
                note: String::new(),
            }],
            collected_at_ms: 1000,
            ..Default::default()
        }
    }

    /// apply(previous, diff(previous, current)) flattens like current, and
    /// the delta's digests are those of current.
    fn assert_round_trip(previous: &Inventory, current: &Inventory) -> Option<InventoryDelta> {
        let delta = diff(previous, current);
        let mut rebuilt = previous.clone();
        if let Some(delta) = &delta {
            apply(&mut rebuilt, delta);
            assert_eq!(delta.digests, digests(&flatten(current)));
        }
        assert_eq!(flatten(&rebuilt), flatten(current));
        delta
    }

    #[test]
    fn unchanged_inventory_has_no_delta() {
        let mut later = base();
        later.collected_at_ms = 99_999;
        later.status[0].note = "different note".into();
        // Order of list items is no change either.
        later.packages.reverse();
        assert!(assert_round_trip(&base(), &later).is_none());
    }

    #[test]
    fn package_upgrade_sends_only_that_package() {
        let mut current = base();
        current.packages[1].version = "2.36-9+deb12u4".into();
        let delta = assert_round_trip(&base(), &current).unwrap();
        let upserts = delta.upserts.as_ref().unwrap();
        assert_eq!(upserts.packages.len(), 1);
        assert_eq!(upserts.packages[0].arch, "amd64");
        assert!(upserts.identity.is_none());
        assert!(delta.changed_sections.is_empty());
        assert!(delta.removed.is_empty());
    }

    #[test]
    fn added_and_removed_items() {
        let mut current = base();
        current.packages.remove(3);
        current.packages.push(package("curl", "7.88", "amd64"));
        current.sockets.clear();
        current.disks.push(Disk {
            name: "sdb".into(),
            ..Default::default()
        });
        let delta = assert_round_trip(&base(), &current).unwrap();
        let removed: Vec<_> = delta
            .removed
            .iter()
            .map(|item| (item.section, item.key.as_str()))
            .collect();
        assert_eq!(
            removed,
            vec![
                (Section::Packages as i32, "zlib1g:amd64"),
                (Section::Sockets as i32, "tcp/0.0.0.0:22"),
            ]
        );
        let upserts = delta.upserts.unwrap();
        assert_eq!(upserts.packages.len(), 1);
        assert_eq!(upserts.disks.len(), 1);
    }

    #[test]
    fn singleton_changes_are_listed() {
        let mut current = base();
        current.os.as_mut().unwrap().version = "13".into();
        current.network = Some(NetworkConfig {
            default_gateway: "10.0.0.1".into(),
            ..Default::default()
        });
        current.cpu = None;
        let delta = assert_round_trip(&base(), &current).unwrap();
        assert_eq!(
            delta.changed_sections,
            vec![
                Section::Os as i32,
                Section::Cpu as i32,
                Section::Network as i32
            ]
        );
        let upserts = delta.upserts.unwrap();
        assert!(upserts.os.is_some() && upserts.network.is_some());
        assert!(upserts.cpu.is_none() && upserts.identity.is_none());
        assert!(upserts.packages.is_empty());
    }

    #[test]
    fn from_and_to_empty_inventory() {
        let empty = Inventory::default();
        let delta = assert_round_trip(&empty, &base()).unwrap();
        assert_eq!(delta.upserts.unwrap().packages.len(), 4);
        let delta = assert_round_trip(&base(), &empty).unwrap();
        assert_eq!(delta.removed.len(), 9);
        assert!(assert_round_trip(&empty, &empty).is_none());
    }

    #[test]
    fn fixture_inventories_round_trip() {
        let fixtures = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
        let debian = crate::discovery::collect_inventory(&fixtures.join("host-debian"));
        let alpine = crate::discovery::collect_inventory(&fixtures.join("host-nodmi"));
        assert_round_trip(&debian, &alpine).unwrap();
        assert_round_trip(&alpine, &debian).unwrap();
        let again = crate::discovery::collect_inventory(&fixtures.join("host-debian"));
        assert!(assert_round_trip(&debian, &again).is_none());
    }

    #[test]
    fn many_random_edits_round_trip() {
        // A small deterministic generator: no extra dependency needed.
        let mut seed: u64 = 0x9E37_79B9_7F4A_7C15;
        let mut next = move |bound: u64| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed % bound
        };
        let mut previous = base();
        for round in 0..200 {
            let mut current = previous.clone();
            for _ in 0..next(4) {
                match next(6) {
                    0 => {
                        let name = format!("pkg{}", next(20));
                        current
                            .packages
                            .push(package(&name, &round.to_string(), "amd64"));
                    }
                    1 if !current.packages.is_empty() => {
                        let index = next(current.packages.len() as u64) as usize;
                        current.packages.remove(index);
                    }
                    2 if !current.packages.is_empty() => {
                        let index = next(current.packages.len() as u64) as usize;
                        current.packages[index].version = format!("v{round}");
                    }
                    3 => {
                        current.memory = Some(MemoryInfo {
                            total_bytes: next(4),
                            swap_total_bytes: 0,
                        })
                    }
                    4 => current.users.push(User {
                        name: format!("user{}", next(5)),
                        uid: next(3) as u32,
                        ..Default::default()
                    }),
                    _ => current.identity = None,
                }
            }
            assert_round_trip(&previous, &current);
            previous = current;
        }
    }
}
