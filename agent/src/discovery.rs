//! Inventory discovery: a [`Platform`] collects the full [`Inventory`] of the
//! local host. Linux is the only platform so far ([`LinuxPlatform`]); every
//! file it reads lives under a configurable root so tests run on fixtures.
//!
//! Each section degrades on its own: a missing or unreadable source gives the
//! section a [`SectionStatus`] with `available: false` and a note, and the
//! other sections still report. Parsers are pure functions over text.

use std::path::{Path, PathBuf};
use std::sync::{Mutex, PoisonError};

use rollcall_proto::v1::{Inventory, Section, SectionStatus};

pub mod accounts;
pub mod hardware;
pub mod host;
pub mod identity;
pub mod mounts;
pub mod network;
pub mod os;
mod owners;
pub mod packages;
pub(crate) mod root;
pub mod services;
pub mod sockets;

pub(crate) use root::HostRoot;

/// A source of inventory for one operating system family.
pub trait Platform: Send + Sync {
    /// Collects the full inventory of the host, section by section.
    fn inventory(&self) -> Inventory;
}

/// Discovery on Linux from `/proc`, `/sys`, `/etc` and the package databases.
/// One platform collecting again and again (the running agent) remembers
/// where it found each listening socket's owner (`owners.rs`).
#[derive(Debug)]
pub struct LinuxPlatform {
    root: HostRoot,
    owners: Mutex<owners::OwnerCache>,
}

impl LinuxPlatform {
    /// A platform reading every file under `root` (`/` in production, a
    /// fixture directory in tests). Commands (`systemctl`, `rpm`) and live
    /// statistics (interface addresses) are used only when the root is `/`;
    /// under another root, filesystems mounted there are measured and
    /// [`LinuxPlatform::with_systemctl`] names its `systemctl`.
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self {
            root: HostRoot::new(&root.into()),
            owners: Mutex::default(),
        }
    }

    /// This platform asking `command` (a program and its first arguments)
    /// about systemd units instead of the live host's `systemctl`.
    pub fn with_systemctl(mut self, command: Option<&[String]>) -> Self {
        self.root = self.root.with_systemctl(command);
        self
    }

    /// The filesystem prefix this platform reads from.
    pub fn root(&self) -> &Path {
        self.root.base()
    }
}

impl Platform for LinuxPlatform {
    fn inventory(&self) -> Inventory {
        // A panic mid-lookup leaves at worst a cache entry that the next
        // lookup verifies anyway.
        let mut owners = self.owners.lock().unwrap_or_else(PoisonError::into_inner);
        collect(&self.root, &mut owners)
    }
}

/// The kernel's host name under `root` (`proc/sys/kernel/hostname`), or ""
/// if unreadable: what the agent names itself before its first inventory.
pub fn local_hostname(root: &Path) -> String {
    std::fs::read_to_string(root.join("proc/sys/kernel/hostname"))
        .map(|name| name.trim().to_string())
        .unwrap_or_default()
}

/// Collects the inventory of the Linux host whose files live under `root`,
/// once (nothing remembered from an earlier inventory).
pub fn collect_inventory(root: &Path) -> Inventory {
    collect(&HostRoot::new(root), &mut owners::OwnerCache::default())
}

/// Collects the inventory under `root`, with the owner search's memory.
fn collect(root: &HostRoot, owners: &mut owners::OwnerCache) -> Inventory {
    let mut status = StatusLog::default();
    let mut inventory = Inventory::default();

    let cpuinfo = root.read("proc/cpuinfo").ok();
    let interfaces = network::interfaces(root, &mut status);

    inventory.identity = Some(identity::identity(root, &interfaces, &mut status));
    inventory.system = Some(host::system(root, cpuinfo.as_deref(), &mut status));
    inventory.os = Some(os::os_info(root, &mut status));
    inventory.cpu = hardware::cpu(cpuinfo.as_deref(), &mut status);
    inventory.memory = hardware::memory(root, &mut status);
    inventory.disks = hardware::disks(root, &mut status);
    inventory.filesystems = mounts::filesystems(root, &mut status);
    inventory.network = Some(network::network_config(root, &mut status));
    inventory.interfaces = interfaces;
    inventory.packages = packages::packages(root, &mut status);
    inventory.services = services::services(root, &mut status);
    inventory.sockets = sockets::listening_sockets(root, owners, &mut status);
    inventory.users = accounts::users(root, &mut status);
    inventory.groups = accounts::groups(root, &mut status);

    inventory.status = status.finish();
    inventory.collected_at_ms = rollcall_proto::now_ms();
    inventory
}

/// Collects per-section availability notes while sections are discovered.
#[derive(Debug, Default)]
pub(crate) struct StatusLog {
    entries: Vec<(Section, bool, String)>,
}

impl StatusLog {
    /// Marks `section` unavailable with a reason.
    pub(crate) fn unavailable(&mut self, section: Section, note: impl Into<String>) {
        self.entries.push((section, false, note.into()));
    }

    /// Adds a note to a section that is available but partly unknown.
    pub(crate) fn note(&mut self, section: Section, note: impl Into<String>) {
        self.entries.push((section, true, note.into()));
    }

    /// One status per section, in wire order: unavailable if any source of
    /// the section was marked so, notes joined with "; ".
    fn finish(self) -> Vec<SectionStatus> {
        rollcall_proto::inventory::ALL_SECTIONS
            .iter()
            .map(|section| {
                let mut available = true;
                let mut note = String::new();
                for (_, entry_available, entry_note) in
                    self.entries.iter().filter(|entry| entry.0 == *section)
                {
                    available &= *entry_available;
                    if !note.is_empty() {
                        note.push_str("; ");
                    }
                    note.push_str(entry_note);
                }
                SectionStatus {
                    section: *section as i32,
                    available,
                    note,
                }
            })
            .collect()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
pub(crate) mod test_support {
    //! Helpers shared by the discovery tests.

    use std::path::PathBuf;

    /// Path of a fixture under `agent/tests/fixtures`.
    pub(crate) fn fixture(relative: &str) -> PathBuf {
        PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures")
            .join(relative)
    }

    /// Text of a fixture file.
    pub(crate) fn fixture_text(relative: &str) -> String {
        std::fs::read_to_string(fixture(relative)).unwrap()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use test_support::fixture;

    fn status_of(inventory: &Inventory, section: Section) -> &SectionStatus {
        inventory
            .status
            .iter()
            .find(|status| status.section == section as i32)
            .unwrap()
    }

    #[test]
    fn fixture_host_reports_every_section() {
        let inventory = LinuxPlatform::new(fixture("host-debian")).inventory();
        assert_eq!(inventory.status.len(), 14);
        assert!(inventory.collected_at_ms > 0);
        let identity = inventory.identity.as_ref().unwrap();
        assert_eq!(identity.hostname, "web01");
        assert_eq!(identity.fqdn, "web01.example.com");
        assert_eq!(identity.machine_id, "4c1a2b3c4d5e6f708192a3b4c5d6e7f8");
        assert_eq!(identity.dmi_serial, "To Be Filled By O.E.M.");
        assert_eq!(identity.macs, vec!["52:54:00:12:34:56"]);
        let system = inventory.system.as_ref().unwrap();
        assert_eq!(system.vendor, "To Be Filled By O.E.M.");
        assert_eq!(system.chassis, "Desktop");
        assert_eq!(system.hypervisor, "none");
        assert_eq!(system.container, "none");
        let os = inventory.os.as_ref().unwrap();
        assert_eq!(os.id, "debian");
        assert_eq!(os.kernel, "6.1.0-18-amd64");
        assert_eq!(os.boot_time_s, 1_700_000_000);
        assert_eq!(os.timezone, "Europe/Paris");
        let cpu = inventory.cpu.as_ref().unwrap();
        assert_eq!((cpu.sockets, cpu.cores, cpu.threads), (1, 2, 4));
        assert_eq!(
            inventory.memory.as_ref().unwrap().total_bytes,
            16_318_412 * 1024
        );
        assert_eq!(inventory.disks.len(), 2);
        assert_eq!(inventory.filesystems.len(), 2);
        assert_eq!(inventory.interfaces.len(), 2);
        assert_eq!(inventory.packages.len(), 4);
        assert!(
            inventory
                .sockets
                .iter()
                .any(|socket| socket.port == 22 && socket.process == "sshd")
        );
        assert_eq!(inventory.users.len(), 4);
        assert_eq!(inventory.groups.len(), 4);
        let network = inventory.network.as_ref().unwrap();
        assert_eq!(network.default_gateway, "192.168.1.1");
        assert_eq!(network.dns_servers, vec!["192.168.1.1", "2001:db8::53"]);
        // No systemd in a fixture: the section says why.
        let services = status_of(&inventory, Section::Services);
        assert!(!services.available);
        assert_eq!(services.note, "systemd not running");
        assert!(status_of(&inventory, Section::Packages).available);
    }

    #[test]
    fn missing_dmi_marks_identity_and_system_unknown() {
        let inventory = collect_inventory(&fixture("host-nodmi"));
        let identity = inventory.identity.as_ref().unwrap();
        assert_eq!(identity.dmi_uuid, "");
        assert_eq!(identity.hostname, "ci-runner.internal");
        assert_eq!(identity.fqdn, "ci-runner.internal");
        let note = &status_of(&inventory, Section::Identity).note;
        assert!(note.contains("no dmi"), "{note}");
        assert!(!status_of(&inventory, Section::System).available);
        let system = inventory.system.as_ref().unwrap();
        assert_eq!(system.container, "docker");
        assert_eq!(system.hypervisor, "unknown");
        assert_eq!(inventory.os.as_ref().unwrap().id, "alpine");
        assert_eq!(inventory.packages.len(), 3);
        assert_eq!(inventory.packages[0].manager, "apk");
    }

    #[test]
    fn empty_root_never_panics() {
        let dir = tempfile::tempdir().unwrap();
        let inventory = collect_inventory(dir.path());
        assert_eq!(inventory.status.len(), 14);
        assert!(!status_of(&inventory, Section::Packages).available);
        assert!(!status_of(&inventory, Section::Os).available);
        assert!(!status_of(&inventory, Section::Users).available);
    }

    #[test]
    fn live_host_inventory_is_fast_and_complete() {
        let started = std::time::Instant::now();
        let inventory = collect_inventory(Path::new("/"));
        let elapsed = started.elapsed();
        assert!(inventory.os.is_some());
        assert!(!inventory.users.is_empty());
        // Debug builds are several times slower than the release agent.
        assert!(elapsed.as_millis() < 2000, "{elapsed:?}");
    }
}
