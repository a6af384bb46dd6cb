//! The filesystems section: mounted real filesystems from `/proc/self/mounts`
//! with their size and free space. The same filter serves health sampling.

use std::collections::HashMap;

use rollcall_proto::v1::{Filesystem, Section};

use super::{HostRoot, StatusLog};

/// Pseudo and virtual filesystem types that hold no user data.
const PSEUDO_FS: [&str; 30] = [
    "autofs",
    "binfmt_misc",
    "bpf",
    "cgroup",
    "cgroup2",
    "configfs",
    "debugfs",
    "devpts",
    "devtmpfs",
    "efivarfs",
    "fuse.gvfsd-fuse",
    "fuse.lxcfs",
    "fuse.portal",
    "fusectl",
    "hugetlbfs",
    "mqueue",
    "nsfs",
    "proc",
    "pstore",
    "ramfs",
    "rootfs",
    "rpc_pipefs",
    "securityfs",
    "selinuxfs",
    "squashfs",
    "sysfs",
    "tmpfs",
    "tracefs",
    "iso9660",
    "none",
];

/// One line of a mounts table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MountEntry {
    /// The mounted device (`/dev/sda1`, `server:/export`, `overlay`).
    pub device: String,
    /// Where it is mounted, with octal escapes decoded.
    pub mount_point: String,
    /// Filesystem type.
    pub fs_type: String,
}

/// Whether a mount holds a real filesystem worth reporting: not a pseudo
/// filesystem, not under `/proc`, `/sys` or `/dev`, and an `overlay` only
/// as a container's root.
pub fn is_reported_mount(entry: &MountEntry) -> bool {
    if PSEUDO_FS.contains(&entry.fs_type.as_str()) {
        return false;
    }
    if entry.fs_type == "overlay" && entry.mount_point != "/" {
        return false;
    }
    !["/proc", "/sys", "/dev"].iter().any(|prefix| {
        entry.mount_point == *prefix || entry.mount_point.starts_with(&format!("{prefix}/"))
    })
}

/// Parses a mounts table (`/proc/self/mounts` format) and keeps reported
/// mounts; a mount point mounted twice keeps the later (visible) entry.
/// The result is sorted by mount point.
pub fn parse_mounts(text: &str) -> Vec<MountEntry> {
    let mut by_mount_point: HashMap<String, MountEntry> = HashMap::new();
    for line in text.lines() {
        let mut fields = line.split_whitespace();
        let (Some(device), Some(mount_point), Some(fs_type)) =
            (fields.next(), fields.next(), fields.next())
        else {
            continue;
        };
        let entry = MountEntry {
            device: decode_octal(device),
            mount_point: decode_octal(mount_point),
            fs_type: fs_type.to_owned(),
        };
        if is_reported_mount(&entry) {
            by_mount_point.insert(entry.mount_point.clone(), entry);
        } else {
            // An over-mount with a pseudo filesystem hides the earlier one.
            by_mount_point.remove(&entry.mount_point);
        }
    }
    let mut entries: Vec<MountEntry> = by_mount_point.into_values().collect();
    entries.sort_by(|a, b| a.mount_point.cmp(&b.mount_point));
    entries
}

/// Decodes the `\040`-style octal escapes the kernel uses for blanks.
fn decode_octal(field: &str) -> String {
    if !field.contains('\\') {
        return field.to_owned();
    }
    let bytes = field.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut index = 0;
    while index < bytes.len() {
        if bytes[index] == b'\\' && index + 4 <= bytes.len() {
            let digits = &bytes[index + 1..index + 4];
            if digits.iter().all(|digit| (b'0'..=b'7').contains(digit)) {
                let value = digits
                    .iter()
                    .fold(0u32, |value, digit| value * 8 + u32::from(digit - b'0'));
                if let Ok(value) = u8::try_from(value) {
                    out.push(value);
                    index += 4;
                    continue;
                }
            }
        }
        out.push(bytes[index]);
        index += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Reads the mounts table of the host under `root`.
pub(crate) fn read_mounts(root: &HostRoot) -> Option<Vec<MountEntry>> {
    root.read("proc/self/mounts")
        .or_else(|_| root.read("proc/mounts"))
        .or_else(|_| root.read("etc/mtab"))
        .ok()
        .map(|text| parse_mounts(&text))
}

/// Total and available bytes per mount point of the live host, from
/// `statvfs` through sysinfo (which also skips network filesystems that
/// could hang).
pub(crate) fn live_sizes() -> HashMap<String, (u64, u64)> {
    let refresh = sysinfo::DiskRefreshKind::nothing().with_storage();
    match sysinfo::Disks::new_with_refreshed_list_specifics(refresh) {
        Ok(disks) => sizes_of(&disks),
        Err(_) => HashMap::new(),
    }
}

/// Total and available bytes of the mounts of a host under a root that is
/// not the live host's (a container's `/host`, a test's fixture root): each
/// mount point that is mounted there, its device not its parent
/// directory's, measured with `statvfs`. A plain directory is not measured
/// (it would report the filesystem holding the root), nor is a network
/// filesystem (a dead server would hang the call).
pub(crate) fn root_sizes(root: &HostRoot, entries: &[MountEntry]) -> HashMap<String, (u64, u64)> {
    entries
        .iter()
        .filter(|entry| !is_network_fs(&entry.fs_type))
        .filter_map(|entry| {
            let path = root.path(&entry.mount_point);
            if !is_mounted_at(&path) {
                return None;
            }
            let stats = rustix::fs::statvfs(&path).ok()?;
            let total = stats.f_blocks.saturating_mul(stats.f_frsize);
            let available = stats.f_bavail.saturating_mul(stats.f_frsize).min(total);
            Some((entry.mount_point.clone(), (total, available)))
        })
        .collect()
}

/// Whether a filesystem type is served over the network.
fn is_network_fs(fs_type: &str) -> bool {
    fs_type.starts_with("nfs")
        || fs_type.starts_with("fuse.")
        || matches!(
            fs_type,
            "cifs" | "smb3" | "smbfs" | "9p" | "ceph" | "glusterfs" | "afs" | "lustre"
        )
}

/// Whether `path` is a mount point: its device differs from its parent's.
fn is_mounted_at(path: &std::path::Path) -> bool {
    use std::os::unix::fs::MetadataExt as _;
    match (std::fs::metadata(path), std::fs::metadata(path.join(".."))) {
        (Ok(here), Ok(parent)) => here.is_dir() && here.dev() != parent.dev(),
        _ => false,
    }
}

/// Total and available bytes per mount point of already refreshed disks.
pub(crate) fn sizes_of(disks: &sysinfo::Disks) -> HashMap<String, (u64, u64)> {
    disks
        .iter()
        .map(|disk| {
            (
                disk.mount_point().to_string_lossy().into_owned(),
                (disk.total_space(), disk.available_space()),
            )
        })
        .collect()
}

/// Free space rounded down to a whole percent of the filesystem's size.
/// Inventory is the host's configuration: exact free space changes with
/// every log line and would make an otherwise unchanged host send a delta
/// every interval. The exact figure is in every health sample.
pub(crate) fn coarse_free_bytes(free_bytes: u64, size_bytes: u64) -> u64 {
    let step = size_bytes / 100;
    if step == 0 {
        return free_bytes;
    }
    free_bytes - free_bytes % step
}

/// Collects the filesystems section. Sizes come from the live host, or
/// under another root from the filesystems mounted there ([`root_sizes`]);
/// a mount point that is a plain directory of a fixture reports 0.
pub(crate) fn filesystems(root: &HostRoot, status: &mut StatusLog) -> Vec<Filesystem> {
    let Some(entries) = read_mounts(root) else {
        status.unavailable(Section::Filesystems, "mount table unreadable");
        return Vec::new();
    };
    let sizes = if root.is_live() {
        live_sizes()
    } else {
        root_sizes(root, &entries)
    };
    entries
        .into_iter()
        .map(|entry| {
            let (size_bytes, free_bytes) = sizes.get(&entry.mount_point).copied().unwrap_or((0, 0));
            let free_bytes = coarse_free_bytes(free_bytes, size_bytes);
            Filesystem {
                mount_point: entry.mount_point,
                device: entry.device,
                fs_type: entry.fs_type,
                size_bytes,
                free_bytes,
            }
        })
        .collect()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::discovery::test_support::fixture_text;

    #[test]
    fn free_space_is_reported_in_whole_percents() {
        assert_eq!(coarse_free_bytes(12_345, 100_000), 12_000);
        assert_eq!(coarse_free_bytes(12_999, 100_000), 12_000);
        assert_eq!(coarse_free_bytes(100_000, 100_000), 100_000);
        assert_eq!(coarse_free_bytes(42, 99), 42);
        assert_eq!(coarse_free_bytes(0, 0), 0);
    }

    #[test]
    fn mounts_keep_real_filesystems() {
        let entries = parse_mounts(&fixture_text("mounts/server"));
        let points: Vec<_> = entries
            .iter()
            .map(|entry| entry.mount_point.as_str())
            .collect();
        assert_eq!(
            points,
            vec!["/", "/boot/efi", "/data", "/mnt/my disk", "/srv/nfs"]
        );
        assert_eq!(entries[0].device, "/dev/mapper/vg0-root");
        assert_eq!(entries[0].fs_type, "ext4");
        assert_eq!(entries[4].fs_type, "nfs4");
    }

    #[test]
    fn container_overlay_root_is_kept() {
        let entries = parse_mounts(
            "overlay / overlay rw,lowerdir=/a:/b 0 0\nproc /proc proc rw 0 0\n/dev/vda /etc/hosts ext4 rw 0 0\noverlay /var/lib/docker/overlay2/x/merged overlay rw 0 0\n",
        );
        let points: Vec<_> = entries
            .iter()
            .map(|entry| entry.mount_point.as_str())
            .collect();
        assert_eq!(points, vec!["/", "/etc/hosts"]);
    }

    #[test]
    fn octal_escapes_are_decoded() {
        assert_eq!(decode_octal("/mnt/my\\040disk"), "/mnt/my disk");
        assert_eq!(decode_octal("/a\\134b"), "/a\\b");
        assert_eq!(decode_octal("/trailing\\04"), "/trailing\\04");
        assert_eq!(decode_octal("/plain"), "/plain");
    }

    #[test]
    fn under_another_root_only_what_is_mounted_there_is_measured() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("data")).unwrap();
        std::fs::create_dir_all(dir.path().join("share")).unwrap();
        let root = HostRoot::new(dir.path());
        let entry = |mount_point: &str, fs_type: &str| MountEntry {
            device: "/dev/x".into(),
            mount_point: mount_point.into(),
            fs_type: fs_type.into(),
        };
        let entries = [
            entry("/", "ext4"),
            entry("/data", "ext4"),
            entry("/missing", "ext4"),
            entry("/share", "nfs4"),
        ];
        // Plain directories (the root among them) and absent paths: none.
        assert!(root_sizes(&root, &entries).is_empty());

        // A real 1 MiB filesystem at /data, a quarter full, and one at
        // /share, which the table says is NFS.
        let mount = |path: &std::path::Path| {
            std::process::Command::new("mount")
                .args(["-t", "tmpfs", "-o", "size=1m", "tmpfs"])
                .arg(path)
                .status()
                .is_ok_and(|status| status.success())
        };
        let data = dir.path().join("data");
        let share = dir.path().join("share");
        if !mount(&data) || !mount(&share) {
            let _ = std::process::Command::new("umount").arg(&data).status();
            assert_ne!(
                std::env::var("CI").as_deref(),
                Ok("true"),
                "CI must be able to mount a tmpfs (root)"
            );
            eprintln!("skipped the mounted half: cannot mount a tmpfs here");
            return;
        }
        std::fs::write(data.join("fill"), vec![1u8; 256 * 1024]).unwrap();
        let sizes = root_sizes(&root, &entries);
        for path in [&data, &share] {
            std::process::Command::new("umount")
                .arg(path)
                .status()
                .unwrap();
        }
        // The NFS entry is never asked, though something is mounted there.
        assert_eq!(sizes.len(), 1, "{sizes:?}");
        let (total, available) = sizes["/data"];
        assert_eq!(total, 1024 * 1024);
        assert_eq!(available, 768 * 1024);
    }
}
