//! Inventory sections, declared once: [`SECTIONS`] is the table that yields
//! the section list, which sections hold a single value, their CMDB class
//! names, flattening an inventory into keyed items and setting an item back
//! into an inventory. The agent's deltas, the collector's ingest and its
//! rebuild of stored items all go through it, so adding a section is one
//! row here (plus the field in `rollcall.proto` and its discovery file).

use prost::Message;
use serde::Serialize;
use serde::de::DeserializeOwned;
use sha2::{Digest, Sha256};

use crate::v1::{Inventory, ListeningSocket, Package, Section, SectionDigest};

/// One inventory section: its wire value, its CMDB class, whether it holds
/// a single value, and how its items are read from and written into an
/// [`Inventory`].
#[derive(Debug)]
pub struct SectionSpec {
    /// The section's value on the wire.
    pub section: Section,
    /// The CMDB class name of the section's items (`software`, `disk`, …).
    pub class: &'static str,
    /// Whether the section holds one value (as opposed to a list of items).
    pub singleton: bool,
    /// Appends the section's items of an inventory, unsorted.
    items: fn(&Inventory, &mut ItemSink<'_>),
    /// Stores one decoded item: replaces a singleton, appends a list item.
    set: fn(&mut Inventory, ItemValue<'_>),
    /// Empties the section.
    clear: fn(&mut Inventory),
}

impl SectionSpec {
    /// Stores one item's value in this section of `inventory`: a singleton
    /// is replaced, a list item appended. A value that does not decode
    /// clears a singleton and adds no list item, so the section's digest
    /// differs from the one of the inventory the value came from.
    pub fn set(&self, inventory: &mut Inventory, value: ItemValue<'_>) {
        (self.set)(inventory, value)
    }

    /// Empties this section of `inventory`.
    pub fn clear(&self, inventory: &mut Inventory) {
        (self.clear)(inventory)
    }
}

/// Every section, in wire order (`SECTIONS[n].section as i32 == n + 1`).
pub const SECTIONS: [SectionSpec; 14] = [
    SectionSpec {
        section: Section::Identity,
        class: "identity",
        singleton: true,
        items: |inventory, sink| sink.one(&inventory.identity, |value| value.hostname.clone()),
        set: |inventory, value| inventory.identity = value.decode(),
        clear: |inventory| inventory.identity = None,
    },
    SectionSpec {
        section: Section::System,
        class: "system",
        singleton: true,
        items: |inventory, sink| sink.one(&inventory.system, |value| value.model.clone()),
        set: |inventory, value| inventory.system = value.decode(),
        clear: |inventory| inventory.system = None,
    },
    SectionSpec {
        section: Section::Os,
        class: "os",
        singleton: true,
        items: |inventory, sink| sink.one(&inventory.os, |value| value.pretty_name.clone()),
        set: |inventory, value| inventory.os = value.decode(),
        clear: |inventory| inventory.os = None,
    },
    SectionSpec {
        section: Section::Cpu,
        class: "cpu",
        singleton: true,
        items: |inventory, sink| sink.one(&inventory.cpu, |value| value.model.clone()),
        set: |inventory, value| inventory.cpu = value.decode(),
        clear: |inventory| inventory.cpu = None,
    },
    SectionSpec {
        section: Section::Memory,
        class: "memory",
        singleton: true,
        items: |inventory, sink| sink.one(&inventory.memory, |_| String::new()),
        set: |inventory, value| inventory.memory = value.decode(),
        clear: |inventory| inventory.memory = None,
    },
    SectionSpec {
        section: Section::Disks,
        class: "disk",
        singleton: false,
        items: |inventory, sink| sink.keyed(&inventory.disks, |disk| disk.name.clone()),
        set: |inventory, value| inventory.disks.extend(value.decode()),
        clear: |inventory| inventory.disks.clear(),
    },
    SectionSpec {
        section: Section::Filesystems,
        class: "filesystem",
        singleton: false,
        items: |inventory, sink| {
            sink.keyed(&inventory.filesystems, |filesystem| {
                filesystem.mount_point.clone()
            })
        },
        set: |inventory, value| inventory.filesystems.extend(value.decode()),
        clear: |inventory| inventory.filesystems.clear(),
    },
    SectionSpec {
        section: Section::Interfaces,
        class: "network_adapter",
        singleton: false,
        items: |inventory, sink| {
            sink.keyed(&inventory.interfaces, |interface| interface.name.clone())
        },
        set: |inventory, value| inventory.interfaces.extend(value.decode()),
        clear: |inventory| inventory.interfaces.clear(),
    },
    SectionSpec {
        section: Section::Network,
        class: "network",
        singleton: true,
        items: |inventory, sink| {
            sink.one(&inventory.network, |value| value.default_gateway.clone())
        },
        set: |inventory, value| inventory.network = value.decode(),
        clear: |inventory| inventory.network = None,
    },
    SectionSpec {
        section: Section::Packages,
        class: "software",
        singleton: false,
        items: |inventory, sink| {
            sink.many_json(
                &inventory.packages,
                package_key,
                |package| package.name.clone(),
                package_json,
            )
        },
        set: |inventory, value| inventory.packages.extend(value.decode()),
        clear: |inventory| inventory.packages.clear(),
    },
    SectionSpec {
        section: Section::Services,
        class: "service",
        singleton: false,
        items: |inventory, sink| sink.keyed(&inventory.services, |service| service.name.clone()),
        set: |inventory, value| inventory.services.extend(value.decode()),
        clear: |inventory| inventory.services.clear(),
    },
    SectionSpec {
        section: Section::Sockets,
        class: "listening_port",
        singleton: false,
        items: |inventory, sink| {
            sink.many(&inventory.sockets, socket_key, |socket| {
                socket.process.clone()
            })
        },
        set: |inventory, value| inventory.sockets.extend(value.decode()),
        clear: |inventory| inventory.sockets.clear(),
    },
    SectionSpec {
        section: Section::Users,
        class: "user",
        singleton: false,
        items: |inventory, sink| sink.keyed(&inventory.users, |user| user.name.clone()),
        set: |inventory, value| inventory.users.extend(value.decode()),
        clear: |inventory| inventory.users.clear(),
    },
    SectionSpec {
        section: Section::Groups,
        class: "group",
        singleton: false,
        items: |inventory, sink| sink.keyed(&inventory.groups, |group| group.name.clone()),
        set: |inventory, value| inventory.groups.extend(value.decode()),
        clear: |inventory| inventory.groups.clear(),
    },
];

/// Every section, in wire order (the `section` column of [`SECTIONS`]).
pub const ALL_SECTIONS: [Section; SECTIONS.len()] = {
    let mut sections = [Section::Unspecified; SECTIONS.len()];
    let mut index = 0;
    while index < SECTIONS.len() {
        sections[index] = SECTIONS[index].section;
        index += 1;
    }
    sections
};

/// The table row of `section`; `None` for [`Section::Unspecified`].
pub fn spec(section: Section) -> Option<&'static SectionSpec> {
    // Rows are in wire order from 1 (a unit test holds the table to it).
    (section as usize)
        .checked_sub(1)
        .and_then(|index| SECTIONS.get(index))
        .filter(|spec| spec.section == section)
}

/// Whether a section holds a single value (as opposed to a list of items).
pub fn is_singleton(section: Section) -> bool {
    spec(section).is_some_and(|spec| spec.singleton)
}

/// The CMDB class name of a section's items (`software`, `disk`, …).
pub fn class_name(section: Section) -> &'static str {
    spec(section).map_or("unspecified", |spec| spec.class)
}

/// The section whose items have the given CMDB class name.
pub fn section_for_class(class: &str) -> Option<Section> {
    SECTIONS
        .iter()
        .find(|spec| spec.class == class)
        .map(|spec| spec.section)
}

/// One item's value, as the agent sends it or the collector stores it.
#[derive(Debug, Clone, Copy)]
pub enum ItemValue<'a> {
    /// The protobuf encoding ([`Item::encoded`]).
    Encoded(&'a [u8]),
    /// The JSON object ([`Item::attrs`] as text).
    Json(&'a str),
}

impl ItemValue<'_> {
    fn decode<M: Message + Default + DeserializeOwned>(self) -> Option<M> {
        match self {
            ItemValue::Encoded(bytes) => M::decode(bytes).ok(),
            ItemValue::Json(text) => serde_json::from_str(text).ok(),
        }
    }
}

/// Stores one item's value in its section of `inventory` (see
/// [`SectionSpec::set`]); [`Section::Unspecified`] is ignored.
pub fn set_item(inventory: &mut Inventory, section: Section, value: ItemValue<'_>) {
    if let Some(spec) = spec(section) {
        spec.set(inventory, value);
    }
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
    /// The item as a JSON object, as text, object keys in sorted order (the
    /// form the collector stores; [`Item::attrs`] parses it).
    pub json: String,
}

impl Item {
    /// The item as a JSON object.
    pub fn attrs(&self) -> serde_json::Value {
        serde_json::from_str(&self.json).unwrap_or(serde_json::Value::Null)
    }
}

/// A message as JSON text with its object keys sorted, through a
/// `serde_json::Value` (whose maps sort their keys).
fn json_text<M: Serialize>(message: &M) -> String {
    serde_json::to_value(message)
        .and_then(|value| serde_json::to_string(&value))
        .unwrap_or_else(|_| String::from("null"))
}

/// [`json_text`] of a package, written straight from its fields in sorted
/// order: packages are most of an inventory, and the `Value` tree cost
/// about 9,000 instructions a package to build, write and drop (callgrind,
/// docs/performance.md). A test holds it equal to [`json_text`].
fn package_json(package: &Package) -> String {
    #[derive(Serialize)]
    struct Sorted<'p> {
        arch: &'p str,
        installed_at_s: i64,
        manager: &'p str,
        name: &'p str,
        source: &'p str,
        version: &'p str,
    }
    serde_json::to_string(&Sorted {
        arch: &package.arch,
        installed_at_s: package.installed_at_s,
        manager: &package.manager,
        name: &package.name,
        source: &package.source,
        version: &package.version,
    })
    .unwrap_or_else(|_| json_text(package))
}

/// Collects the items of one section during [`flatten`].
struct ItemSink<'a> {
    section: Section,
    items: &'a mut Vec<Item>,
}

impl ItemSink<'_> {
    fn push<M: Message>(&mut self, key: String, name: String, message: &M, json: fn(&M) -> String) {
        self.items.push(Item {
            section: self.section,
            key,
            name,
            encoded: message.encode_to_vec(),
            json: json(message),
        });
    }

    fn one<M: Message + Serialize>(&mut self, value: &Option<M>, name: fn(&M) -> String) {
        if let Some(value) = value {
            self.push(String::new(), name(value), value, json_text);
        }
    }

    /// List items whose key is also their display name.
    fn keyed<M: Message + Serialize>(&mut self, values: &[M], key: fn(&M) -> String) {
        self.many(values, key, key);
    }

    fn many<M: Message + Serialize>(
        &mut self,
        values: &[M],
        key: fn(&M) -> String,
        name: fn(&M) -> String,
    ) {
        self.many_json(values, key, name, json_text);
    }

    /// [`ItemSink::many`] with a JSON writer of the items' own.
    fn many_json<M: Message>(
        &mut self,
        values: &[M],
        key: fn(&M) -> String,
        name: fn(&M) -> String,
        json: fn(&M) -> String,
    ) {
        for value in values {
            self.push(key(value), name(value), value, json);
        }
    }
}

/// Flattens the sections of `inventory` into keyed items, sorted by section
/// and key. Singleton sections that are absent produce no item.
pub fn flatten(inventory: &Inventory) -> Vec<Item> {
    let mut items = Vec::with_capacity(inventory.packages.len() + 64);
    for spec in &SECTIONS {
        (spec.items)(
            inventory,
            &mut ItemSink {
                section: spec.section,
                items: &mut items,
            },
        );
    }
    items.sort_by(|a, b| (a.section as i32, &a.key).cmp(&(b.section as i32, &b.key)));
    // Duplicate keys (two identical sockets, say) keep the first occurrence.
    items.dedup_by(|later, earlier| later.section == earlier.section && later.key == earlier.key);
    items
}

/// Key of a package inside the software section: `name:arch` (arch may be empty).
pub fn package_key(package: &Package) -> String {
    if package.arch.is_empty() {
        package.name.clone()
    } else {
        format!("{}:{}", package.name, package.arch)
    }
}

/// Key of a listening socket: `protocol/address:port`.
fn socket_key(socket: &ListeningSocket) -> String {
    format!("{}/{}:{}", socket.protocol, socket.address, socket.port)
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
    use crate::v1::{
        CpuInfo, Disk, Filesystem, Group, Identity, IpAddress, MemoryInfo, NetInterface,
        NetworkConfig, OsInfo, Service, SystemInfo, User,
    };

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
        assert_eq!(items[2].attrs()["version"], "5.2");
    }

    #[test]
    fn a_package_is_written_as_its_json_value_would_be() {
        // Every field set (a field added to `Package` and missed by
        // `package_json` fails here), with text that needs escaping.
        let packages = [
            Package {
                name: "lib\"odd\"\\name\u{1}".into(),
                version: "1:2.3~rc1+dfsg-4\u{e9}".into(),
                arch: "amd64".into(),
                source: "src (1.0)".into(),
                manager: "dpkg".into(),
                installed_at_s: -5,
            },
            Package::default(),
        ];
        for package in &packages {
            assert_eq!(package_json(package), json_text(package));
            assert_eq!(
                package_json(package),
                serde_json::to_value(package).unwrap().to_string()
            );
        }
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

    /// An inventory with every section filled, list sections with two items
    /// in key order (the order a rebuild from items produces).
    fn every_section() -> Inventory {
        let text = |value: &str| value.to_string();
        Inventory {
            identity: Some(Identity {
                machine_id: text("m1"),
                hostname: text("web01"),
                macs: vec![text("52:54:00:12:34:56")],
                ..Default::default()
            }),
            system: Some(SystemInfo {
                vendor: text("QEMU"),
                model: text("Standard PC"),
                ..Default::default()
            }),
            os: Some(OsInfo {
                name: text("Debian"),
                boot_time_s: 1_700_000_000,
                ..Default::default()
            }),
            cpu: Some(CpuInfo {
                model: text("EPYC"),
                threads: 4,
                ..Default::default()
            }),
            memory: Some(MemoryInfo {
                total_bytes: u64::MAX - 7,
                swap_total_bytes: 1,
            }),
            disks: vec![
                Disk {
                    name: text("sda"),
                    rotational: true,
                    ..Default::default()
                },
                Disk {
                    name: text("sdb"),
                    ..Default::default()
                },
            ],
            filesystems: vec![
                Filesystem {
                    mount_point: text("/"),
                    size_bytes: 10,
                    ..Default::default()
                },
                Filesystem {
                    mount_point: text("/boot"),
                    ..Default::default()
                },
            ],
            interfaces: vec![
                NetInterface {
                    name: text("eth0"),
                    addresses: vec![IpAddress {
                        address: text("10.0.0.2"),
                        prefix: 24,
                        family: text("ipv4"),
                    }],
                    ..Default::default()
                },
                NetInterface {
                    name: text("lo"),
                    ..Default::default()
                },
            ],
            network: Some(NetworkConfig {
                default_gateway: text("10.0.0.1"),
                dns_servers: vec![text("10.0.0.53")],
                ..Default::default()
            }),
            packages: vec![
                Package {
                    name: text("bash"),
                    version: text("5.2"),
                    ..Default::default()
                },
                Package {
                    name: text("zlib1g"),
                    version: text("1:1.2"),
                    arch: text("amd64"),
                    ..Default::default()
                },
            ],
            services: vec![
                Service {
                    name: text("cron.service"),
                    ..Default::default()
                },
                Service {
                    name: text("ssh.service"),
                    active_state: text("active"),
                    ..Default::default()
                },
            ],
            sockets: vec![
                ListeningSocket {
                    protocol: text("tcp"),
                    address: text("0.0.0.0"),
                    port: 22,
                    pid: 10,
                    process: text("sshd"),
                },
                ListeningSocket {
                    protocol: text("udp"),
                    address: text("::"),
                    port: 53,
                    ..Default::default()
                },
            ],
            users: vec![
                User {
                    name: text("daemon"),
                    uid: 1,
                    ..Default::default()
                },
                User {
                    name: text("root"),
                    ..Default::default()
                },
            ],
            groups: vec![
                Group {
                    name: text("adm"),
                    members: vec![text("syslog")],
                    ..Default::default()
                },
                Group {
                    name: text("root"),
                    ..Default::default()
                },
            ],
            ..Default::default()
        }
    }

    #[test]
    fn the_table_is_the_proto_enum_in_wire_order() {
        let mut enum_sections = Vec::new();
        for value in 1..=i32::from(u8::MAX) {
            if let Ok(section) = Section::try_from(value) {
                enum_sections.push(section);
            }
        }
        assert_eq!(enum_sections, ALL_SECTIONS);
        for (index, spec) in SECTIONS.iter().enumerate() {
            assert_eq!(spec.section as usize, index + 1, "{spec:?}");
            assert_eq!(
                self::spec(spec.section).map(|found| found.section),
                Some(spec.section)
            );
            assert_eq!(
                section_for_class(spec.class),
                Some(spec.section),
                "{spec:?}"
            );
        }
        assert!(self::spec(Section::Unspecified).is_none());
        assert_eq!(class_name(Section::Unspecified), "unspecified");
        assert!(!is_singleton(Section::Unspecified));
    }

    #[test]
    fn every_section_round_trips_through_its_items() {
        let inventory = every_section();
        let items = flatten(&inventory);
        for spec in &SECTIONS {
            let count = items
                .iter()
                .filter(|item| item.section == spec.section)
                .count();
            assert_eq!(count, if spec.singleton { 1 } else { 2 }, "{spec:?}");
        }
        // From protobuf encodings (the agent) and from JSON attributes (the
        // collector's stored items), in any order.
        for from_json in [false, true] {
            let mut rebuilt = Inventory::default();
            for item in &items {
                let attrs = item.json.clone();
                let value = if from_json {
                    ItemValue::Json(&attrs)
                } else {
                    ItemValue::Encoded(&item.encoded)
                };
                set_item(&mut rebuilt, item.section, value);
            }
            assert_eq!(rebuilt, inventory, "from_json: {from_json}");
            assert_eq!(flatten(&rebuilt), items);
        }
        // Clearing every section leaves nothing.
        let mut cleared = inventory.clone();
        for spec in &SECTIONS {
            spec.clear(&mut cleared);
        }
        assert_eq!(cleared, Inventory::default());
        // A damaged stored value clears a singleton and adds no list item.
        let mut damaged = inventory;
        set_item(&mut damaged, Section::Os, ItemValue::Json("{not json"));
        set_item(&mut damaged, Section::Disks, ItemValue::Encoded(&[0xff]));
        assert!(damaged.os.is_none());
        assert_eq!(damaged.disks.len(), 2);
    }

    #[test]
    fn every_inventory_field_but_status_and_time_has_a_section() {
        // Setting one default item in each section touches exactly one
        // field, and together they touch every field of `Inventory` that
        // is a section: a field added to the proto without a row here fails.
        let fields = |inventory: &Inventory| match serde_json::to_value(inventory) {
            Ok(serde_json::Value::Object(fields)) => fields,
            other => panic!("inventory is not a JSON object: {other:?}"),
        };
        let empty = fields(&Inventory::default());
        let mut touched = std::collections::BTreeSet::new();
        for spec in &SECTIONS {
            let mut inventory = Inventory::default();
            spec.set(&mut inventory, ItemValue::Encoded(&[]));
            let changed: Vec<String> = fields(&inventory)
                .into_iter()
                .filter(|(name, value)| empty.get(name) != Some(value))
                .map(|(name, _)| name)
                .collect();
            assert_eq!(changed.len(), 1, "{spec:?}: {changed:?}");
            touched.extend(changed);
        }
        let mut sections: std::collections::BTreeSet<String> = empty.keys().cloned().collect();
        sections.remove("status");
        sections.remove("collected_at_ms");
        assert_eq!(touched, sections);
    }
}
