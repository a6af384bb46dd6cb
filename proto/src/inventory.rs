//! Inventory helpers shared by agent and collector: the stable key of every
//! item, flattening an inventory into keyed items, and per-section digests.

use prost::Message;
use sha2::{Digest, Sha256};

use crate::v1::{Inventory, Section, SectionDigest};

/// Every section, in wire order.
pub const ALL_SECTIONS: [Section; 14] = [
    Section::Identity,
    Section::System,
    Section::Os,
    Section::Cpu,
    Section::Memory,
    Section::Disks,
    Section::Filesystems,
    Section::Interfaces,
    Section::Network,
    Section::Packages,
    Section::Services,
    Section::Sockets,
    Section::Users,
    Section::Groups,
];

/// Whether a section holds a single value (as opposed to a list of items).
pub fn is_singleton(section: Section) -> bool {
    matches!(
        section,
        Section::Identity
            | Section::System
            | Section::Os
            | Section::Cpu
            | Section::Memory
            | Section::Network
    )
}

/// The CMDB class name of a section's items (`package`, `disk`, …).
pub fn class_name(section: Section) -> &'static str {
    match section {
        Section::Unspecified => "unspecified",
        Section::Identity => "identity",
        Section::System => "system",
        Section::Os => "os",
        Section::Cpu => "cpu",
        Section::Memory => "memory",
        Section::Disks => "disk",
        Section::Filesystems => "filesystem",
        Section::Interfaces => "network_adapter",
        Section::Network => "network",
        Section::Packages => "software",
        Section::Services => "service",
        Section::Sockets => "listening_port",
        Section::Users => "user",
        Section::Groups => "group",
    }
}

/// The section whose items have the given CMDB class name.
pub fn section_for_class(class: &str) -> Option<Section> {
    ALL_SECTIONS
        .into_iter()
        .find(|section| class_name(*section) == class)
}

/// One keyed item of an inventory section.
#[derive(Debug, Clone, PartialEq)]
pub struct Item {
    /// Section the item belongs to.
    pub section: Section,
    /// Stable key of the item inside its section ("" for singletons).
    pub key: String,
    /// Display name (package name, mount point, interface name, …).
    pub name: String,
    /// Protobuf encoding of the item, for digests and exact comparison.
    pub encoded: Vec<u8>,
    /// The item as a JSON object.
    pub attrs: serde_json::Value,
}

fn item<M: Message + serde::Serialize>(
    section: Section,
    key: String,
    name: String,
    message: &M,
) -> Item {
    Item {
        section,
        key,
        name,
        encoded: message.encode_to_vec(),
        attrs: serde_json::to_value(message).unwrap_or(serde_json::Value::Null),
    }
}

/// Flattens the sections of `inventory` into keyed items, sorted by section
/// and key. Singleton sections that are absent produce no item.
pub fn flatten(inventory: &Inventory) -> Vec<Item> {
    let mut items = Vec::with_capacity(inventory.packages.len() + 64);
    if let Some(value) = &inventory.identity {
        items.push(item(
            Section::Identity,
            String::new(),
            value.hostname.clone(),
            value,
        ));
    }
    if let Some(value) = &inventory.system {
        items.push(item(
            Section::System,
            String::new(),
            value.model.clone(),
            value,
        ));
    }
    if let Some(value) = &inventory.os {
        items.push(item(
            Section::Os,
            String::new(),
            value.pretty_name.clone(),
            value,
        ));
    }
    if let Some(value) = &inventory.cpu {
        items.push(item(
            Section::Cpu,
            String::new(),
            value.model.clone(),
            value,
        ));
    }
    if let Some(value) = &inventory.memory {
        items.push(item(Section::Memory, String::new(), String::new(), value));
    }
    if let Some(value) = &inventory.network {
        items.push(item(
            Section::Network,
            String::new(),
            value.default_gateway.clone(),
            value,
        ));
    }
    for disk in &inventory.disks {
        items.push(item(
            Section::Disks,
            disk.name.clone(),
            disk.name.clone(),
            disk,
        ));
    }
    for filesystem in &inventory.filesystems {
        items.push(item(
            Section::Filesystems,
            filesystem.mount_point.clone(),
            filesystem.mount_point.clone(),
            filesystem,
        ));
    }
    for interface in &inventory.interfaces {
        items.push(item(
            Section::Interfaces,
            interface.name.clone(),
            interface.name.clone(),
            interface,
        ));
    }
    for package in &inventory.packages {
        items.push(item(
            Section::Packages,
            package_key(package),
            package.name.clone(),
            package,
        ));
    }
    for service in &inventory.services {
        items.push(item(
            Section::Services,
            service.name.clone(),
            service.name.clone(),
            service,
        ));
    }
    for socket in &inventory.sockets {
        let key = format!("{}/{}:{}", socket.protocol, socket.address, socket.port);
        items.push(item(Section::Sockets, key, socket.process.clone(), socket));
    }
    for user in &inventory.users {
        items.push(item(
            Section::Users,
            user.name.clone(),
            user.name.clone(),
            user,
        ));
    }
    for group in &inventory.groups {
        items.push(item(
            Section::Groups,
            group.name.clone(),
            group.name.clone(),
            group,
        ));
    }
    items.sort_by(|a, b| (a.section as i32, &a.key).cmp(&(b.section as i32, &b.key)));
    // Duplicate keys (two identical sockets, say) keep the first occurrence.
    items.dedup_by(|later, earlier| later.section == earlier.section && later.key == earlier.key);
    items
}

/// Key of a package inside the software section: `name:arch` (arch may be empty).
pub fn package_key(package: &crate::v1::Package) -> String {
    if package.arch.is_empty() {
        package.name.clone()
    } else {
        format!("{}:{}", package.name, package.arch)
    }
}

/// Digest of every section from flattened, sorted items: hex SHA-256 over the
/// keys and encodings. Sections without items get the digest of nothing.
pub fn digests(items: &[Item]) -> Vec<SectionDigest> {
    ALL_SECTIONS
        .iter()
        .map(|section| {
            let mut hasher = Sha256::new();
            for item in items.iter().filter(|item| item.section == *section) {
                hasher.update((item.key.len() as u64).to_le_bytes());
                hasher.update(item.key.as_bytes());
                hasher.update((item.encoded.len() as u64).to_le_bytes());
                hasher.update(&item.encoded);
            }
            SectionDigest {
                section: *section as i32,
                digest: hex::encode(&hasher.finalize()[..16]),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::v1::{Disk, OsInfo, Package};

    fn sample() -> Inventory {
        Inventory {
            os: Some(OsInfo {
                name: "Debian".into(),
                ..Default::default()
            }),
            disks: vec![Disk {
                name: "vda".into(),
                size_bytes: 10,
                ..Default::default()
            }],
            packages: vec![
                Package {
                    name: "zlib1g".into(),
                    version: "1.2".into(),
                    arch: "amd64".into(),
                    ..Default::default()
                },
                Package {
                    name: "bash".into(),
                    version: "5.2".into(),
                    arch: "amd64".into(),
                    ..Default::default()
                },
            ],
            ..Default::default()
        }
    }

    #[test]
    fn flatten_sorts_and_keys_items() {
        let items = flatten(&sample());
        let keys: Vec<_> = items
            .iter()
            .map(|item| (item.section, item.key.as_str()))
            .collect();
        assert_eq!(
            keys,
            vec![
                (Section::Os, ""),
                (Section::Disks, "vda"),
                (Section::Packages, "bash:amd64"),
                (Section::Packages, "zlib1g:amd64")
            ]
        );
        assert_eq!(items[2].attrs["version"], "5.2");
    }

    #[test]
    fn digests_change_only_for_changed_section() {
        let before = digests(&flatten(&sample()));
        let mut changed = sample();
        changed.packages[0].version = "1.3".into();
        let after = digests(&flatten(&changed));
        for (old, new) in before.iter().zip(after.iter()) {
            let section = Section::try_from(old.section).unwrap_or(Section::Unspecified);
            assert_eq!(
                old.digest == new.digest,
                section != Section::Packages,
                "{section:?}"
            );
        }
    }
}
