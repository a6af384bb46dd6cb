//! CPU, memory and disk sections, from `/proc/cpuinfo`, `/proc/meminfo` and
//! `/sys/block`.

use std::collections::HashSet;

use rollcall_proto::v1::{CpuInfo, Disk, MemoryInfo, Section};

use super::{HostRoot, StatusLog};

/// Collects the CPU section from the text of `/proc/cpuinfo`.
pub(crate) fn cpu(cpuinfo: Option<&str>, status: &mut StatusLog) -> Option<CpuInfo> {
    match cpuinfo {
        Some(text) => Some(parse_cpuinfo(text)),
        None => {
            status.unavailable(Section::Cpu, "/proc/cpuinfo unreadable");
            None
        }
    }
}

/// Parses `/proc/cpuinfo`: threads are processors, sockets distinct
/// `physical id`s, cores distinct (`physical id`, `core id`) pairs. Where the
/// kernel omits topology (ARM, some VMs) every processor counts as one core
/// and there is one socket.
pub fn parse_cpuinfo(text: &str) -> CpuInfo {
    let mut info = CpuInfo::default();
    let mut sockets = HashSet::new();
    let mut cores = HashSet::new();
    let mut physical_id: Option<&str> = None;
    let mut mhz: Option<f64> = None;
    for line in text.lines().chain(std::iter::once("")) {
        if line.trim().is_empty() {
            physical_id = None;
            continue;
        }
        let Some((key, value)) = line.split_once(':') else {
            continue;
        };
        let value = value.trim();
        match key.trim() {
            "processor" => info.threads += 1,
            "model name" | "cpu model" if info.model.is_empty() => info.model = value.to_owned(),
            "vendor_id" | "vendor" if info.vendor.is_empty() => info.vendor = value.to_owned(),
            "physical id" => {
                physical_id = Some(value);
                sockets.insert(value);
            }
            "core id" => {
                cores.insert((physical_id.unwrap_or(""), value));
            }
            "cpu MHz" if mhz.is_none() => mhz = value.parse().ok(),
            "CPU implementer" if info.vendor.is_empty() => {
                info.vendor = arm_implementer(value).to_owned();
            }
            _ => {}
        }
    }
    info.sockets = if sockets.is_empty() {
        u32::from(info.threads > 0)
    } else {
        sockets.len() as u32
    };
    info.cores = if cores.is_empty() {
        info.threads
    } else {
        cores.len() as u32
    };
    info.mhz = mhz.map(|mhz| mhz.round() as u32).unwrap_or(0);
    info
}

/// The vendor of an ARM CPU from its implementer code.
fn arm_implementer(code: &str) -> &str {
    match code {
        "0x41" => "ARM",
        "0x42" => "Broadcom",
        "0x43" => "Cavium",
        "0x48" => "HiSilicon",
        "0x4e" => "NVIDIA",
        "0x51" => "Qualcomm",
        "0x61" => "Apple",
        "0xc0" => "Ampere",
        other => other,
    }
}

/// Collects the memory section from `/proc/meminfo`.
pub(crate) fn memory(root: &HostRoot, status: &mut StatusLog) -> Option<MemoryInfo> {
    match root.read("proc/meminfo") {
        Ok(text) => {
            let meminfo = parse_meminfo(&text);
            Some(MemoryInfo {
                total_bytes: meminfo.total,
                swap_total_bytes: meminfo.swap_total,
            })
        }
        Err(_) => {
            status.unavailable(Section::Memory, "/proc/meminfo unreadable");
            None
        }
    }
}

/// The fields of `/proc/meminfo` the agent uses, in bytes.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Meminfo {
    /// `MemTotal`.
    pub total: u64,
    /// `MemAvailable`, or `MemFree + Buffers + Cached` on old kernels.
    pub available: u64,
    /// `SwapTotal`.
    pub swap_total: u64,
    /// `SwapFree`.
    pub swap_free: u64,
}

/// Parses `/proc/meminfo` (values in kB).
pub fn parse_meminfo(text: &str) -> Meminfo {
    let mut meminfo = Meminfo::default();
    let mut available = None;
    let mut free_buffers_cached = 0;
    for line in text.lines() {
        let Some((key, value)) = line.split_once(':') else {
            continue;
        };
        let bytes = value
            .split_whitespace()
            .next()
            .and_then(|number| number.parse::<u64>().ok())
            .unwrap_or(0)
            .saturating_mul(1024);
        match key {
            "MemTotal" => meminfo.total = bytes,
            "MemAvailable" => available = Some(bytes),
            "MemFree" | "Buffers" | "Cached" => {
                free_buffers_cached = u64::saturating_add(free_buffers_cached, bytes);
            }
            "SwapTotal" => meminfo.swap_total = bytes,
            "SwapFree" => meminfo.swap_free = bytes,
            _ => {}
        }
    }
    meminfo.available = available.unwrap_or(free_buffers_cached);
    meminfo
}

/// Block device name prefixes that are not disks (loop, RAM and swap
/// devices, device-mapper volumes, optical and floppy drives).
const NOT_DISKS: [&str; 8] = ["loop", "ram", "zram", "dm-", "sr", "fd", "nbd", "mtdblock"];

/// Whether a `/sys/block` entry is a disk worth reporting.
pub fn is_disk(name: &str) -> bool {
    !NOT_DISKS.iter().any(|prefix| name.starts_with(prefix))
}

/// The kind of a disk: "nvme", "virtual" (virtio, Xen), "raid" (md), "hdd"
/// (rotational) or "ssd".
pub fn disk_kind(name: &str, rotational: bool) -> &'static str {
    if name.starts_with("nvme") {
        "nvme"
    } else if name.starts_with("vd") || name.starts_with("xvd") {
        "virtual"
    } else if name.starts_with("md") {
        "raid"
    } else if rotational {
        "hdd"
    } else {
        "ssd"
    }
}

/// Collects the disks section from `/sys/block`.
pub(crate) fn disks(root: &HostRoot, status: &mut StatusLog) -> Vec<Disk> {
    let entries = match std::fs::read_dir(root.path("sys/block")) {
        Ok(entries) => entries,
        Err(_) => {
            status.unavailable(Section::Disks, "/sys/block unreadable");
            return Vec::new();
        }
    };
    let mut disks: Vec<Disk> = entries
        .filter_map(|entry| entry.ok())
        .filter_map(|entry| entry.file_name().into_string().ok())
        .filter(|name| is_disk(name))
        .map(|name| {
            let dir = format!("sys/block/{name}");
            let attribute = |file: &str| {
                root.read_value(&format!("{dir}/{file}"))
                    .unwrap_or_default()
            };
            let sectors: u64 = attribute("size").parse().unwrap_or(0);
            let rotational = attribute("queue/rotational") == "1";
            let serial = root
                .read_value(&format!("{dir}/device/serial"))
                .or_else(|| root.read_value(&format!("{dir}/serial")))
                .unwrap_or_default();
            Disk {
                size_bytes: sectors.saturating_mul(512),
                model: attribute("device/model"),
                serial,
                rotational,
                kind: disk_kind(&name, rotational).to_owned(),
                name,
            }
        })
        .collect();
    disks.sort_by(|a, b| a.name.cmp(&b.name));
    disks
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    /// Found by the `proc_sys` fuzz target (fuzz/corpus/proc_sys/meminfo-overflow):
    /// `MemFree` + `Buffers` + `Cached` beyond u64 overflowed the sum.
    #[test]
    fn huge_meminfo_values_saturate_instead_of_overflowing() {
        let text = "MemTotal: 246836 kB\nMemFree: 18000000000000000 kB\nBuffers: 175356 kB\nCached: 100000000000000000000001 kB\nCached: 18000000000000000 kB\n";
        let meminfo = parse_meminfo(text);
        assert_eq!(meminfo.total, 246_836 * 1024);
        assert_eq!(meminfo.available, u64::MAX);
    }
    use crate::discovery::test_support::{fixture, fixture_text};
    use std::path::Path;

    #[test]
    fn cpuinfo_counts_topology() {
        let info = parse_cpuinfo(&fixture_text("cpuinfo/two-socket"));
        assert_eq!(info.model, "Intel(R) Xeon(R) Gold 6130 CPU @ 2.10GHz");
        assert_eq!(info.vendor, "GenuineIntel");
        assert_eq!((info.sockets, info.cores, info.threads), (2, 4, 8));
        assert_eq!(info.mhz, 2101);
    }

    #[test]
    fn cpuinfo_without_topology_arm() {
        let info = parse_cpuinfo(&fixture_text("cpuinfo/arm64"));
        assert_eq!((info.sockets, info.cores, info.threads), (1, 2, 2));
        assert_eq!(info.vendor, "ARM");
        assert_eq!(info.mhz, 0);
        assert_eq!(parse_cpuinfo(""), CpuInfo::default());
    }

    #[test]
    fn meminfo_in_bytes() {
        let meminfo = parse_meminfo(
            "MemTotal:       16318412 kB\nMemFree:  1000 kB\nMemAvailable:   8000000 kB\nSwapTotal:  2097148 kB\nSwapFree: 2097148 kB\n",
        );
        assert_eq!(meminfo.total, 16_318_412 * 1024);
        assert_eq!(meminfo.available, 8_000_000 * 1024);
        assert_eq!(meminfo.swap_total, 2_097_148 * 1024);
        // Kernels before 3.14 have no MemAvailable.
        let old = parse_meminfo("MemTotal: 100 kB\nMemFree: 10 kB\nBuffers: 5 kB\nCached: 20 kB\n");
        assert_eq!(old.available, 35 * 1024);
        assert_eq!(
            parse_meminfo("garbage\nMemTotal: x kB\n"),
            Meminfo::default()
        );
    }

    #[test]
    fn disk_filter_and_kind() {
        for name in ["sda", "vda", "xvda", "nvme0n1", "md0", "mmcblk0"] {
            assert!(is_disk(name), "{name}");
        }
        for name in ["loop0", "ram0", "zram0", "dm-0", "sr0", "nbd3"] {
            assert!(!is_disk(name), "{name}");
        }
        assert_eq!(disk_kind("sda", true), "hdd");
        assert_eq!(disk_kind("sdb", false), "ssd");
        assert_eq!(disk_kind("nvme0n1", false), "nvme");
        assert_eq!(disk_kind("vda", true), "virtual");
    }

    #[test]
    fn disks_from_fixture_sysfs() {
        let mut status = StatusLog::default();
        let found = disks(&HostRoot::new(&fixture("host-debian")), &mut status);
        let names: Vec<_> = found.iter().map(|disk| disk.name.as_str()).collect();
        assert_eq!(names, vec!["nvme0n1", "sda"]);
        assert_eq!(found[0].size_bytes, 1_000_215_216 * 512);
        assert_eq!(found[0].serial, "S4EWNX0R123456");
        assert_eq!(found[1].model, "ST2000DM008-2FR1");
        assert!(found[1].rotational);
        assert_eq!(found[1].kind, "hdd");
        let mut status = StatusLog::default();
        assert!(disks(&HostRoot::new(Path::new("/nonexistent")), &mut status).is_empty());
        assert!(!status.finish()[5].available);
    }
}
