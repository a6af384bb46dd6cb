//! The system section: hardware vendor and model, chassis, BIOS, and whether
//! the host is a virtual machine or a container.

use rollcall_proto::v1::{Section, SystemInfo};

use super::identity::DMI_DIR;
use super::{HostRoot, StatusLog};

/// Collects the system section; `cpuinfo` is the text of `/proc/cpuinfo`.
pub(crate) fn system(root: &HostRoot, cpuinfo: Option<&str>, status: &mut StatusLog) -> SystemInfo {
    let dmi = |name: &str| {
        root.read_value(&format!("{DMI_DIR}/{name}"))
            .unwrap_or_default()
    };
    if !root.exists(DMI_DIR) {
        status.unavailable(Section::System, "no dmi: vendor, model and bios unknown");
    }
    let mut system = SystemInfo {
        vendor: dmi("sys_vendor"),
        model: dmi("product_name"),
        chassis: dmi("chassis_type")
            .parse::<u32>()
            .map(|number| chassis_name(number).to_owned())
            .unwrap_or_default(),
        bios_vendor: dmi("bios_vendor"),
        bios_version: dmi("bios_version"),
        bios_date: dmi("bios_date"),
        ..Default::default()
    };
    let board_vendor = dmi("board_vendor");
    let hypervisor_flag = cpuinfo.is_some_and(cpu_has_hypervisor_flag);
    system.hypervisor = detect_hypervisor(
        root.read_value("sys/hypervisor/type").as_deref(),
        hypervisor_flag,
        &[
            &system.vendor,
            &system.model,
            &system.bios_vendor,
            &board_vendor,
        ],
    );
    system.container = detect_container(
        root.exists(".dockerenv"),
        root.exists("run/.containerenv"),
        root.read("proc/1/environ").ok().as_deref(),
        root.read("proc/1/cgroup").ok().as_deref(),
    );
    system
}

/// The SMBIOS chassis type name for its number (DMTF DSP0134, table 17).
pub fn chassis_name(number: u32) -> &'static str {
    match number {
        1 => "Other",
        2 => "Unknown",
        3 => "Desktop",
        4 => "Low Profile Desktop",
        5 => "Pizza Box",
        6 => "Mini Tower",
        7 => "Tower",
        8 => "Portable",
        9 => "Laptop",
        10 => "Notebook",
        11 => "Hand Held",
        12 => "Docking Station",
        13 => "All in One",
        14 => "Sub Notebook",
        15 => "Space-saving",
        16 => "Lunch Box",
        17 => "Main Server Chassis",
        18 => "Expansion Chassis",
        19 => "SubChassis",
        20 => "Bus Expansion Chassis",
        21 => "Peripheral Chassis",
        22 => "RAID Chassis",
        23 => "Rack Mount Chassis",
        24 => "Sealed-case PC",
        25 => "Multi-system Chassis",
        26 => "Compact PCI",
        27 => "Advanced TCA",
        28 => "Blade",
        29 => "Blade Enclosure",
        30 => "Tablet",
        31 => "Convertible",
        32 => "Detachable",
        33 => "IoT Gateway",
        34 => "Embedded PC",
        35 => "Mini PC",
        36 => "Stick PC",
        _ => "Unknown",
    }
}

/// Whether any processor in `/proc/cpuinfo` has the `hypervisor` flag (set
/// by the kernel when running under a hypervisor on x86).
pub fn cpu_has_hypervisor_flag(cpuinfo: &str) -> bool {
    cpuinfo.lines().any(|line| {
        line.split_once(':').is_some_and(|(key, value)| {
            key.trim() == "flags" && value.split_whitespace().any(|flag| flag == "hypervisor")
        })
    })
}

/// Names of the hypervisor as DMI strings show them, most specific first
/// (cloud vendors run on KVM or Xen but are more useful to report).
const HYPERVISOR_NAMES: [(&str, &str); 11] = [
    ("Amazon EC2", "amazon"),
    ("Google", "google"),
    ("VMware", "vmware"),
    ("VirtualBox", "virtualbox"),
    ("innotek", "virtualbox"),
    ("Microsoft Corporation", "hyperv"),
    ("Xen", "xen"),
    ("KVM", "kvm"),
    ("QEMU", "qemu"),
    ("Parallels", "parallels"),
    ("Bochs", "bochs"),
];

/// The hypervisor name, or "none" on bare metal. `dmi` holds the DMI vendor
/// and product strings; "unknown" when only the CPU flag says virtual.
pub fn detect_hypervisor(sys_hypervisor: Option<&str>, cpu_flag: bool, dmi: &[&str]) -> String {
    for (needle, name) in HYPERVISOR_NAMES {
        if dmi.iter().any(|value| value.contains(needle)) {
            // Microsoft also makes physical Surface machines.
            if name == "hyperv" && !cpu_flag && !dmi.iter().any(|value| value.contains("Virtual")) {
                continue;
            }
            return name.to_owned();
        }
    }
    if let Some(kind) = sys_hypervisor.filter(|kind| !kind.is_empty()) {
        return kind.to_owned();
    }
    if cpu_flag {
        return "unknown".to_owned();
    }
    "none".to_owned()
}

/// The container runtime, or "none". Evidence is checked from most to least
/// specific: marker files, then pid 1's `container=` variable (set by LXC,
/// podman, systemd-nspawn), then pid 1's cgroup path.
pub fn detect_container(
    dockerenv: bool,
    containerenv: bool,
    pid1_environ: Option<&str>,
    pid1_cgroup: Option<&str>,
) -> String {
    if dockerenv {
        return "docker".to_owned();
    }
    if containerenv {
        return "podman".to_owned();
    }
    if let Some(value) = pid1_environ.and_then(|environ| {
        environ
            .split('\0')
            .find_map(|entry| entry.strip_prefix("container="))
            .filter(|value| !value.is_empty())
    }) {
        return value.to_owned();
    }
    if let Some(cgroup) = pid1_cgroup {
        for (needle, name) in [
            ("kubepods", "kubernetes"),
            ("/docker", "docker"),
            ("libpod", "podman"),
            ("/lxc", "lxc"),
            ("containerd", "containerd"),
        ] {
            if cgroup.contains(needle) {
                return name.to_owned();
            }
        }
    }
    "none".to_owned()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn chassis_names_cover_common_numbers() {
        assert_eq!(chassis_name(3), "Desktop");
        assert_eq!(chassis_name(17), "Main Server Chassis");
        assert_eq!(chassis_name(23), "Rack Mount Chassis");
        assert_eq!(chassis_name(99), "Unknown");
    }

    #[test]
    fn hypervisor_from_dmi_flag_and_sysfs() {
        assert_eq!(
            detect_hypervisor(None, true, &["QEMU", "Standard PC (Q35 + ICH9, 2009)"]),
            "qemu"
        );
        assert_eq!(detect_hypervisor(None, true, &["QEMU", "KVM"]), "kvm");
        assert_eq!(
            detect_hypervisor(None, true, &["VMware, Inc.", "VMware7,1"]),
            "vmware"
        );
        assert_eq!(
            detect_hypervisor(None, true, &["innotek GmbH", "VirtualBox"]),
            "virtualbox"
        );
        assert_eq!(
            detect_hypervisor(None, true, &["Amazon EC2", "m5.large"]),
            "amazon"
        );
        assert_eq!(
            detect_hypervisor(None, true, &["Google", "Google Compute Engine"]),
            "google"
        );
        assert_eq!(
            detect_hypervisor(None, true, &["Microsoft Corporation", "Virtual Machine"]),
            "hyperv"
        );
        assert_eq!(
            detect_hypervisor(None, false, &["Microsoft Corporation", "Surface Pro"]),
            "none"
        );
        assert_eq!(detect_hypervisor(Some("xen"), true, &["", ""]), "xen");
        assert_eq!(detect_hypervisor(None, true, &["", ""]), "unknown");
        assert_eq!(
            detect_hypervisor(None, false, &["Dell Inc.", "PowerEdge R640"]),
            "none"
        );
        assert_eq!(
            detect_hypervisor(
                None,
                false,
                &["To Be Filled By O.E.M.", "To Be Filled By O.E.M."]
            ),
            "none"
        );
    }

    #[test]
    fn container_from_markers_environ_and_cgroup() {
        assert_eq!(detect_container(true, false, None, None), "docker");
        assert_eq!(detect_container(false, true, None, None), "podman");
        assert_eq!(
            detect_container(false, false, Some("PATH=/bin\0container=lxc\0"), None),
            "lxc"
        );
        assert_eq!(
            detect_container(
                false,
                false,
                None,
                Some("0::/kubepods/besteffort/pod1/abc\n")
            ),
            "kubernetes"
        );
        assert_eq!(
            detect_container(false, false, None, Some("12:pids:/docker/0123abcd\n")),
            "docker"
        );
        assert_eq!(
            detect_container(false, false, Some("HOME=/\0"), Some("0::/init.scope\n")),
            "none"
        );
    }

    #[test]
    fn hypervisor_flag_is_read_from_flags_line() {
        assert!(cpu_has_hypervisor_flag(
            "processor\t: 0\nflags\t\t: fpu vme hypervisor lahf_lm\n"
        ));
        assert!(!cpu_has_hypervisor_flag(
            "processor\t: 0\nflags\t\t: fpu vme lahf_lm\n"
        ));
    }
}
