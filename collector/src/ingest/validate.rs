//! Validation of everything an agent sends (sizes, counts, string lengths,
//! control characters, timestamps) and the conversion of inventory into CMDB
//! change sets; the other message kinds are in `validate/report.rs`. The
//! limits are tabled in `docs/operations.md` ("Message limits").

mod report;

pub use report::{
    MAX_BACK_WITHIN_S, MAX_CHECK_RESULTS, MAX_DIGESTS, MAX_FAILED_UNITS, MAX_FILESYSTEMS,
    MAX_HEALTH_SAMPLE_BYTES, MAX_INTERFACES, MAX_LOAD, MAX_NAME_BYTES, MAX_RATE_BYTES_PER_S,
    MAX_TEXT_BYTES, check_free_text, check_name, checks, goodbye, health, hello,
};

use rollcall_proto::inventory::{self, class_name, is_singleton};
use rollcall_proto::v1::{Identity, Inventory, InventoryDelta, Section};

use crate::cmdb::diff::CiItem;
use crate::cmdb::reconcile::HostIdentity;
use crate::error::{Error, Result};
use crate::store::InventoryChange;

/// Longest accepted identifier or key, in bytes.
pub const MAX_KEY_BYTES: usize = 1024;
/// Largest accepted single item, serialised, in bytes.
pub const MAX_ITEM_BYTES: usize = 64 * 1024;
/// Most items accepted in one section.
pub const MAX_ITEMS_PER_SECTION: usize = 100_000;
/// Timestamps further than this in the future are rejected (ms).
pub const MAX_CLOCK_SKEW_MS: i64 = 24 * 3600 * 1000;

fn check_text(what: &str, value: &str) -> Result<()> {
    check_text_named(|| what.to_string(), value)
}

/// [`check_text`] of an item's key or name: the message naming the field
/// is written only for a value that fails (it was two allocations an item,
/// ~5 % of converting a snapshot).
fn check_item_text(section: Section, field: &str, value: &str) -> Result<()> {
    check_text_named(|| format!("{} {field}", class_name(section)), value)
}

/// The rules of [`check_text`], with the value's name made only when it fails.
fn check_text_named(what: impl FnOnce() -> String, value: &str) -> Result<()> {
    let fault = if value.len() > MAX_KEY_BYTES {
        format!(
            "is {} bytes long; the limit is {MAX_KEY_BYTES}",
            value.len()
        )
    } else if value.contains('\0') {
        "contains a NUL character".to_string()
    } else if value.chars().any(char::is_control) {
        "contains a control character".to_string()
    } else {
        return Ok(());
    };
    Err(Error::InvalidInput(format!("{} {fault}", what())))
}

/// Validates a timestamp sent by an agent (0 means "not given").
pub fn check_timestamp(what: &str, ms: i64, now_ms: i64) -> Result<()> {
    if ms < 0 || ms > now_ms + MAX_CLOCK_SKEW_MS {
        return Err(Error::InvalidInput(format!(
            "{what} {ms} is not a plausible time"
        )));
    }
    Ok(())
}

/// Most MAC addresses in one identity.
pub const MAX_MACS: usize = 256;

/// Validates and converts an identity.
pub fn host_identity(identity: &Identity) -> Result<HostIdentity> {
    check_text("identity.machine_id", &identity.machine_id)?;
    check_text("identity.dmi_uuid", &identity.dmi_uuid)?;
    check_text("identity.dmi_serial", &identity.dmi_serial)?;
    check_text("identity.hostname", &identity.hostname)?;
    check_text("identity.fqdn", &identity.fqdn)?;
    check_text("identity.boot_id", &identity.boot_id)?;
    if identity.macs.len() > MAX_MACS {
        return Err(Error::InvalidInput(format!(
            "identity lists more than {MAX_MACS} MAC addresses"
        )));
    }
    for mac in &identity.macs {
        check_text("identity.macs", mac)?;
    }
    Ok(HostIdentity {
        machine_id: identity.machine_id.clone(),
        dmi_uuid: identity.dmi_uuid.clone(),
        dmi_serial: identity.dmi_serial.clone(),
        macs: identity.macs.iter().cloned().collect(),
        hostname: identity.hostname.clone(),
    })
}

fn items(inventory: &Inventory, only_singletons: Option<&[Section]>) -> Result<Vec<CiItem>> {
    let flat = inventory::flatten(inventory);
    let mut counts = [0usize; inventory::SECTIONS.len() + 1];
    let mut out = Vec::with_capacity(flat.len());
    for item in flat {
        let index = item.section as usize;
        counts[index] += 1;
        if counts[index] > MAX_ITEMS_PER_SECTION {
            return Err(Error::InvalidInput(format!(
                "section {} has more than {MAX_ITEMS_PER_SECTION} items",
                class_name(item.section)
            )));
        }
        check_item_text(item.section, "key", &item.key)?;
        check_item_text(item.section, "name", &item.name)?;
        if item.encoded.len() > MAX_ITEM_BYTES {
            return Err(Error::InvalidInput(format!(
                "{} item {:?} is {} bytes; the limit is {MAX_ITEM_BYTES}",
                class_name(item.section),
                item.key,
                item.encoded.len()
            )));
        }
        if is_singleton(item.section)
            && only_singletons.is_some_and(|allowed| !allowed.contains(&item.section))
        {
            continue;
        }
        out.push(CiItem {
            class: class_name(item.section).to_string(),
            key: item.key,
            name: item.name,
            attrs: item.json,
        });
    }
    Ok(out)
}

/// Converts a full snapshot into a change set.
pub fn snapshot_change(inventory: &Inventory, now_ms: i64) -> Result<InventoryChange> {
    check_timestamp(
        "inventory.collected_at_ms",
        inventory.collected_at_ms,
        now_ms,
    )?;
    if let Some(identity) = &inventory.identity {
        host_identity(identity)?;
    }
    Ok(InventoryChange {
        full: true,
        items: items(inventory, None)?,
        removed: Vec::new(),
    })
}

/// Converts a delta into a change set.
pub fn delta_change(delta: &InventoryDelta, now_ms: i64) -> Result<InventoryChange> {
    let changed: Vec<Section> = delta
        .changed_sections
        .iter()
        .map(|value| {
            Section::try_from(*value)
                .map_err(|_| Error::InvalidInput(format!("unknown section {value}")))
        })
        .collect::<Result<_>>()?;
    let upserts = delta.upserts.clone().unwrap_or_default();
    check_timestamp("inventory.collected_at_ms", upserts.collected_at_ms, now_ms)?;
    if delta.removed.len() > MAX_ITEMS_PER_SECTION {
        return Err(Error::InvalidInput("delta removes too many items".into()));
    }
    let removed = delta
        .removed
        .iter()
        .map(|item| {
            let section = Section::try_from(item.section)
                .ok()
                .filter(|section| *section != Section::Unspecified)
                .ok_or_else(|| {
                    Error::InvalidInput(format!(
                        "removed item names unknown section {}",
                        item.section
                    ))
                })?;
            check_text("removed key", &item.key)?;
            Ok((class_name(section).to_string(), item.key.clone()))
        })
        .collect::<Result<_>>()?;
    Ok(InventoryChange {
        full: false,
        items: items(&upserts, Some(&changed))?,
        removed,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use rollcall_proto::v1::{OsInfo, Package, RemovedItem};

    #[test]
    fn oversized_key_is_rejected_with_a_clear_message() {
        let inventory = Inventory {
            packages: vec![Package {
                name: "x".repeat(5000),
                ..Default::default()
            }],
            ..Default::default()
        };
        let error = snapshot_change(&inventory, 0).unwrap_err().to_string();
        assert!(
            error.contains("software key") && error.contains("limit"),
            "{error}"
        );
    }

    #[test]
    fn control_characters_in_keys_and_identity_are_rejected() {
        let inventory = Inventory {
            packages: vec![Package {
                name: "bash\u{1b}[31m".into(),
                ..Default::default()
            }],
            ..Default::default()
        };
        let error = snapshot_change(&inventory, 0).unwrap_err().to_string();
        assert!(error.contains("control character"), "{error}");
        let identity = Identity {
            hostname: "web\r01".into(),
            ..Default::default()
        };
        let error = host_identity(&identity).unwrap_err().to_string();
        assert!(
            error.contains("identity.hostname contains a control"),
            "{error}"
        );
        let identity = Identity {
            macs: vec!["00:11:22:33:44:55".into(); MAX_MACS + 1],
            ..Default::default()
        };
        assert!(host_identity(&identity).is_err());
    }

    #[test]
    fn future_timestamps_are_rejected() {
        let inventory = Inventory {
            collected_at_ms: i64::MAX,
            ..Default::default()
        };
        assert!(snapshot_change(&inventory, 1000).is_err());
    }

    #[test]
    fn delta_keeps_only_changed_singletons() {
        let delta = InventoryDelta {
            upserts: Some(Inventory {
                os: Some(OsInfo {
                    name: "Debian".into(),
                    ..Default::default()
                }),
                packages: vec![Package {
                    name: "bash".into(),
                    ..Default::default()
                }],
                ..Default::default()
            }),
            removed: vec![RemovedItem {
                section: Section::Packages as i32,
                key: "zsh".into(),
            }],
            changed_sections: vec![],
            digests: vec![],
        };
        let change = delta_change(&delta, 0).unwrap();
        assert_eq!(change.items.len(), 1);
        assert_eq!(change.items[0].class, "software");
        assert_eq!(
            change.removed,
            vec![("software".to_string(), "zsh".to_string())]
        );
        let bad = InventoryDelta {
            removed: vec![RemovedItem {
                section: 99,
                key: "k".into(),
            }],
            ..delta
        };
        assert!(delta_change(&bad, 0).is_err());
    }
}
