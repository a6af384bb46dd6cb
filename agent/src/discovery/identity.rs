//! The identity section: the facts the collector uses to recognise a host
//! (machine id, DMI UUID and serial, hostname, FQDN, MACs, boot id).

use std::io::ErrorKind;

use rollcall_proto::v1::{Identity, NetInterface, Section};

use super::{HostRoot, StatusLog};

/// Directory of the DMI (SMBIOS) attributes in sysfs.
pub(crate) const DMI_DIR: &str = "sys/class/dmi/id";

/// Collects the identity section; `interfaces` are the already discovered
/// network interfaces (their MACs identify the host).
pub(crate) fn identity(
    root: &HostRoot,
    interfaces: &[NetInterface],
    status: &mut StatusLog,
) -> Identity {
    let machine_id = root
        .read_value("etc/machine-id")
        .or_else(|| root.read_value("var/lib/dbus/machine-id"))
        .unwrap_or_default();
    if machine_id.is_empty() {
        status.note(Section::Identity, "machine-id unknown");
    }

    let (dmi_uuid, dmi_serial) = if root.exists(DMI_DIR) {
        let mut unreadable = Vec::new();
        let uuid = read_dmi(root, "product_uuid", &mut unreadable);
        let serial = read_dmi(root, "product_serial", &mut unreadable);
        if !unreadable.is_empty() {
            status.note(
                Section::Identity,
                format!(
                    "dmi {} unknown (readable by root only)",
                    unreadable.join(", ")
                ),
            );
        }
        (uuid, serial)
    } else {
        status.note(Section::Identity, "no dmi: uuid and serial unknown");
        (String::new(), String::new())
    };

    let hostname = root
        .read_value("proc/sys/kernel/hostname")
        .or_else(|| root.read_value("etc/hostname"))
        .unwrap_or_default();
    let fqdn = match root.read("etc/hosts") {
        Ok(hosts) => fqdn_from_hosts(&hostname, &hosts),
        Err(_) => fqdn_from_hosts(&hostname, ""),
    };

    Identity {
        machine_id,
        dmi_uuid,
        dmi_serial,
        fqdn,
        hostname,
        macs: physical_macs(interfaces),
        boot_id: root
            .read_value("proc/sys/kernel/random/boot_id")
            .unwrap_or_default(),
    }
}

/// Reads one DMI attribute; permission errors are recorded in `unreadable`.
fn read_dmi(root: &HostRoot, name: &'static str, unreadable: &mut Vec<&'static str>) -> String {
    match root.read(&format!("{DMI_DIR}/{name}")) {
        Ok(text) => text.trim().to_owned(),
        Err(error) => {
            if error.kind() == ErrorKind::PermissionDenied {
                unreadable.push(name);
            }
            String::new()
        }
    }
}

/// The fully qualified name of `hostname`: itself if it already has a dot,
/// else the canonical name of the `/etc/hosts` line naming it (as the
/// resolver would answer, without any DNS lookup), else the hostname.
pub fn fqdn_from_hosts(hostname: &str, hosts: &str) -> String {
    if hostname.contains('.') || hostname.is_empty() {
        return hostname.to_owned();
    }
    let qualified_prefix = format!("{hostname}.");
    for line in hosts.lines() {
        let line = line.split('#').next().unwrap_or("");
        let mut fields = line.split_whitespace();
        if fields.next().is_none() {
            continue;
        }
        let names: Vec<&str> = fields.collect();
        if !names
            .iter()
            .any(|name| *name == hostname || name.starts_with(&qualified_prefix))
        {
            continue;
        }
        // The canonical name comes first; fall back to any qualified alias.
        if let Some(name) = names
            .iter()
            .find(|name| name.starts_with(&qualified_prefix))
        {
            return (*name).to_owned();
        }
    }
    hostname.to_owned()
}

/// MACs of physical (device-backed), non-loopback interfaces, sorted and
/// without duplicates (bond members may share an address).
pub fn physical_macs(interfaces: &[NetInterface]) -> Vec<String> {
    let mut macs: Vec<String> = interfaces
        .iter()
        .filter(|interface| !interface.r#virtual && interface.name != "lo")
        .map(|interface| interface.mac.clone())
        .filter(|mac| !mac.is_empty() && mac != "00:00:00:00:00:00")
        .collect();
    macs.sort();
    macs.dedup();
    macs
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn fqdn_prefers_dotted_hostname_then_hosts_line() {
        let hosts = "127.0.0.1 localhost\n# 10.0.0.1 web01.wrong.example\n127.0.1.1\tweb01.example.com web01\n";
        assert_eq!(fqdn_from_hosts("web01", hosts), "web01.example.com");
        assert_eq!(fqdn_from_hosts("db.example.org", hosts), "db.example.org");
        assert_eq!(fqdn_from_hosts("other", hosts), "other");
        // Alias order reversed: still finds the qualified name.
        assert_eq!(
            fqdn_from_hosts("app", "10.1.1.1 app app.corp.local\n"),
            "app.corp.local"
        );
        assert_eq!(fqdn_from_hosts("", hosts), "");
    }

    #[test]
    fn macs_skip_virtual_and_loopback() {
        let interface = |name: &str, mac: &str, is_virtual: bool| NetInterface {
            name: name.into(),
            mac: mac.into(),
            r#virtual: is_virtual,
            ..Default::default()
        };
        let interfaces = [
            interface("lo", "00:00:00:00:00:00", true),
            interface("eth1", "52:54:00:00:00:02", false),
            interface("eth0", "52:54:00:00:00:01", false),
            interface("docker0", "02:42:ac:11:00:01", true),
            interface("bond-member", "52:54:00:00:00:01", false),
        ];
        assert_eq!(
            physical_macs(&interfaces),
            vec!["52:54:00:00:00:01", "52:54:00:00:00:02"]
        );
    }
}
