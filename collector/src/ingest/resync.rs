//! The digest check of a reconnecting agent: the inventory a host's stored
//! items describe, and the sections whose digests differ from the agent's.

use rollcall_proto::inventory::{self, ItemValue};
use rollcall_proto::v1::{Inventory, Section, SectionDigest};

use crate::store::ItemRow;

/// Rebuilds the inventory a host's stored items describe, so its section
/// digests can be compared with the ones an agent reports in `Hello`.
/// Items whose stored attributes no longer parse are left out, which makes
/// their section differ and brings a full snapshot that overwrites them.
pub fn rebuild_inventory(rows: &[ItemRow]) -> Inventory {
    let mut rebuilt = Inventory::default();
    for row in rows {
        if let Some(section) = inventory::section_for_class(&row.class) {
            inventory::set_item(&mut rebuilt, section, ItemValue::Json(&row.attrs));
        }
    }
    rebuilt
}

/// The sections whose digest the agent reported differently from `stored`
/// (sections the agent did not report are not compared).
pub fn mismatched_sections(stored: &[SectionDigest], reported: &[SectionDigest]) -> Vec<Section> {
    reported
        .iter()
        .filter(|digest| {
            stored
                .iter()
                .find(|candidate| candidate.section == digest.section)
                .is_none_or(|candidate| candidate.digest != digest.digest)
        })
        .filter_map(|digest| Section::try_from(digest.section).ok())
        .collect()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::ingest::validate::snapshot_change;
    use rollcall_proto::v1::{Filesystem, Identity, OsInfo, Package};

    fn rows_of(inventory: &Inventory) -> Vec<ItemRow> {
        snapshot_change(inventory, 0)
            .unwrap()
            .items
            .into_iter()
            .map(|item| ItemRow {
                class: item.class,
                item_key: item.key,
                name: item.name,
                attrs: item.attrs,
                first_seen_at: 0,
                updated_at: 0,
            })
            .collect()
    }

    fn sample() -> Inventory {
        Inventory {
            identity: Some(Identity {
                hostname: "web01".into(),
                macs: vec!["52:54:00:12:34:56".into()],
                ..Default::default()
            }),
            os: Some(OsInfo {
                name: "Debian".into(),
                boot_time_s: 1_700_000_000,
                ..Default::default()
            }),
            filesystems: vec![Filesystem {
                mount_point: "/".into(),
                size_bytes: u64::MAX - 7,
                ..Default::default()
            }],
            packages: vec![
                Package {
                    name: "zlib1g".into(),
                    version: "1:1.2".into(),
                    arch: "amd64".into(),
                    ..Default::default()
                },
                Package {
                    name: "bash".into(),
                    version: "5.2".into(),
                    ..Default::default()
                },
            ],
            ..Default::default()
        }
    }

    #[test]
    fn stored_items_digest_like_the_inventory_they_came_from() {
        let inventory = sample();
        let agent = inventory::digests(&inventory::flatten(&inventory));
        let mut rows = rows_of(&inventory);
        rows.reverse();
        let stored = inventory::digests(&inventory::flatten(&rebuild_inventory(&rows)));
        assert!(mismatched_sections(&stored, &agent).is_empty());
    }

    #[test]
    fn a_missing_or_damaged_item_is_a_mismatch_of_its_section_only() {
        let inventory = sample();
        let agent = inventory::digests(&inventory::flatten(&inventory));
        let mut rows = rows_of(&inventory);
        rows.retain(|row| row.item_key != "bash");
        let stored = inventory::digests(&inventory::flatten(&rebuild_inventory(&rows)));
        assert_eq!(
            mismatched_sections(&stored, &agent),
            vec![Section::Packages]
        );
        let mut rows = rows_of(&inventory);
        for row in &mut rows {
            if row.class == "os" {
                row.attrs = "{not json".into();
            }
        }
        let stored = inventory::digests(&inventory::flatten(&rebuild_inventory(&rows)));
        assert_eq!(mismatched_sections(&stored, &agent), vec![Section::Os]);
        assert!(mismatched_sections(&stored, &[]).is_empty());
    }
}
