//! Network interfaces (`/sys/class/net`, addresses) and the network section
//! (default gateway from the routing tables, DNS from `resolv.conf`).

use std::collections::HashMap;
use std::net::{Ipv4Addr, Ipv6Addr};

use rollcall_proto::v1::{IpAddress, NetInterface, NetworkConfig, Section};

use super::{HostRoot, StatusLog};

/// Route flag: the route goes through a gateway.
const RTF_GATEWAY: u32 = 0x2;

/// Collects network interfaces with their addresses, sorted by name.
pub(crate) fn interfaces(root: &HostRoot, status: &mut StatusLog) -> Vec<NetInterface> {
    let entries = match std::fs::read_dir(root.path("sys/class/net")) {
        Ok(entries) => entries,
        Err(_) => {
            status.unavailable(Section::Interfaces, "/sys/class/net unreadable");
            return Vec::new();
        }
    };
    let mut ipv4 = if root.is_live() {
        live_ipv4_addresses()
    } else {
        let fib = root.read("proc/net/fib_trie").unwrap_or_default();
        let routes = root.read("proc/net/route").unwrap_or_default();
        ipv4_addresses_from_fib(&fib, &parse_ipv4_routes(&routes))
    };
    let mut ipv6 = parse_if_inet6(&root.read("proc/net/if_inet6").unwrap_or_default());

    let mut interfaces: Vec<NetInterface> = entries
        .filter_map(|entry| entry.ok())
        .filter_map(|entry| entry.file_name().into_string().ok())
        .map(|name| {
            let dir = format!("sys/class/net/{name}");
            let attribute = |file: &str| {
                root.read_value(&format!("{dir}/{file}"))
                    .unwrap_or_default()
            };
            let mut addresses = ipv4.remove(&name).unwrap_or_default();
            addresses.extend(ipv6.remove(&name).unwrap_or_default());
            NetInterface {
                mac: attribute("address"),
                mtu: attribute("mtu").parse().unwrap_or(0),
                // Unreadable (EINVAL while down) or -1 both mean unknown.
                speed_mbps: attribute("speed").parse().unwrap_or(0),
                state: attribute("operstate"),
                addresses,
                r#virtual: !root.exists(&format!("{dir}/device")),
                name,
            }
        })
        .collect();
    interfaces.sort_by(|a, b| a.name.cmp(&b.name));
    interfaces
}

/// IPv4 addresses per interface of the live host (getifaddrs via sysinfo).
fn live_ipv4_addresses() -> HashMap<String, Vec<IpAddress>> {
    let mut by_name: HashMap<String, Vec<IpAddress>> = HashMap::new();
    let Ok(networks) = sysinfo::Networks::new_with_refreshed_list() else {
        return by_name;
    };
    for (name, data) in networks.iter() {
        for network in data.ip_networks() {
            if network.addr.is_ipv4() {
                by_name
                    .entry(name.to_string_lossy().into_owned())
                    .or_default()
                    .push(IpAddress {
                        address: network.addr.to_string(),
                        prefix: u32::from(network.prefix),
                        family: "ipv4".to_owned(),
                    });
            }
        }
    }
    for addresses in by_name.values_mut() {
        addresses.sort_by(|a, b| a.address.cmp(&b.address));
    }
    by_name
}

/// One IPv4 route from `/proc/net/route`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ipv4Route {
    /// Outgoing interface.
    pub interface: String,
    /// Destination network.
    pub destination: Ipv4Addr,
    /// Next hop (unspecified for on-link routes).
    pub gateway: Ipv4Addr,
    /// Route flags (`RTF_*`).
    pub flags: u32,
    /// Route metric.
    pub metric: u32,
    /// Destination netmask.
    pub mask: Ipv4Addr,
}

/// An IPv4 address as `/proc/net/route` prints it: the network-order word
/// in host byte order, in hex.
fn hex_ipv4(hex: &str) -> Option<Ipv4Addr> {
    u32::from_str_radix(hex, 16)
        .ok()
        .map(|word| Ipv4Addr::from(word.to_ne_bytes()))
}

/// Parses `/proc/net/route`.
pub fn parse_ipv4_routes(text: &str) -> Vec<Ipv4Route> {
    text.lines()
        .skip(1)
        .filter_map(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            if fields.len() < 8 {
                return None;
            }
            Some(Ipv4Route {
                interface: fields[0].to_owned(),
                destination: hex_ipv4(fields[1])?,
                gateway: hex_ipv4(fields[2])?,
                flags: u32::from_str_radix(fields[3], 16).ok()?,
                metric: fields[6].parse().ok()?,
                mask: hex_ipv4(fields[7])?,
            })
        })
        .collect()
}

/// Local IPv4 addresses from `/proc/net/fib_trie` (the `/32 host LOCAL`
/// leaves), attributed to an interface and prefix by the most specific
/// on-link route that contains them. Used where getifaddrs cannot describe
/// the host (a fixture root).
pub fn ipv4_addresses_from_fib(
    fib_trie: &str,
    routes: &[Ipv4Route],
) -> HashMap<String, Vec<IpAddress>> {
    let mut locals: Vec<Ipv4Addr> = Vec::new();
    let mut last_leaf: Option<Ipv4Addr> = None;
    for line in fib_trie.lines() {
        let trimmed = line.trim();
        if let Some(leaf) = trimmed.strip_prefix("|-- ") {
            last_leaf = leaf.parse().ok();
        } else if trimmed.starts_with("/32 host LOCAL")
            && let Some(address) = last_leaf
            && !locals.contains(&address)
        {
            locals.push(address);
        }
    }
    let mut by_name: HashMap<String, Vec<IpAddress>> = HashMap::new();
    for address in locals {
        let found = if address.is_loopback() {
            Some(("lo".to_owned(), 8))
        } else {
            routes
                .iter()
                .filter(|route| route.flags & RTF_GATEWAY == 0)
                .filter(|route| {
                    let mask = u32::from(route.mask);
                    u32::from(address) & mask == u32::from(route.destination) & mask
                })
                .max_by_key(|route| u32::from(route.mask).count_ones())
                .map(|route| (route.interface.clone(), u32::from(route.mask).count_ones()))
        };
        if let Some((name, prefix)) = found {
            by_name.entry(name).or_default().push(IpAddress {
                address: address.to_string(),
                prefix,
                family: "ipv4".to_owned(),
            });
        }
    }
    by_name
}

/// Parses `/proc/net/if_inet6` into IPv6 addresses per interface.
pub fn parse_if_inet6(text: &str) -> HashMap<String, Vec<IpAddress>> {
    let mut by_name: HashMap<String, Vec<IpAddress>> = HashMap::new();
    for line in text.lines() {
        let fields: Vec<&str> = line.split_whitespace().collect();
        if fields.len() < 6 {
            continue;
        }
        let (Some(address), Ok(prefix)) = (hex_ipv6(fields[0]), u32::from_str_radix(fields[2], 16))
        else {
            continue;
        };
        by_name
            .entry(fields[5].to_owned())
            .or_default()
            .push(IpAddress {
                address: address.to_string(),
                prefix,
                family: "ipv6".to_owned(),
            });
    }
    by_name
}

/// An IPv6 address written as 32 hex digits in network order.
fn hex_ipv6(hex: &str) -> Option<Ipv6Addr> {
    if hex.len() != 32 || !hex.is_ascii() {
        return None;
    }
    u128::from_str_radix(hex, 16).ok().map(Ipv6Addr::from)
}

/// Collects the network section: default gateway and interface, DNS servers.
pub(crate) fn network_config(root: &HostRoot, status: &mut StatusLog) -> NetworkConfig {
    let mut config = NetworkConfig::default();
    let routes = root.read("proc/net/route");
    let routes6 = root.read("proc/net/ipv6_route");
    if routes.is_err() && routes6.is_err() {
        status.note(Section::Network, "routing tables unreadable");
    }
    let default = routes
        .ok()
        .and_then(|text| default_ipv4_gateway(&parse_ipv4_routes(&text)))
        .or_else(|| routes6.ok().and_then(|text| default_ipv6_gateway(&text)));
    if let Some((gateway, interface)) = default {
        config.default_gateway = gateway;
        config.default_interface = interface;
    }
    match root.read("etc/resolv.conf") {
        Ok(text) => config.dns_servers = parse_resolv_conf(&text),
        Err(_) => status.note(Section::Network, "/etc/resolv.conf unreadable"),
    }
    config
}

/// The default IPv4 gateway with the lowest metric, and its interface.
pub fn default_ipv4_gateway(routes: &[Ipv4Route]) -> Option<(String, String)> {
    routes
        .iter()
        .filter(|route| {
            route.destination.is_unspecified()
                && route.mask.is_unspecified()
                && route.flags & RTF_GATEWAY != 0
        })
        .min_by_key(|route| route.metric)
        .map(|route| (route.gateway.to_string(), route.interface.clone()))
}

/// The default IPv6 gateway (`::/0` via a next hop) with the lowest metric
/// from `/proc/net/ipv6_route`, and its interface.
pub fn default_ipv6_gateway(text: &str) -> Option<(String, String)> {
    text.lines()
        .filter_map(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            if fields.len() < 10 || fields[1] != "00" {
                return None;
            }
            let destination = hex_ipv6(fields[0])?;
            let next_hop = hex_ipv6(fields[4])?;
            let metric = u32::from_str_radix(fields[5], 16).ok()?;
            (destination.is_unspecified() && !next_hop.is_unspecified())
                .then(|| (metric, next_hop.to_string(), fields[9].to_owned()))
        })
        .min_by_key(|(metric, _, _)| *metric)
        .map(|(_, gateway, interface)| (gateway, interface))
}

/// The `nameserver` entries of a resolv.conf, in order.
pub fn parse_resolv_conf(text: &str) -> Vec<String> {
    text.lines()
        .filter_map(|line| {
            let mut fields = line.split_whitespace();
            (fields.next() == Some("nameserver"))
                .then(|| fields.next())
                .flatten()
                .map(str::to_owned)
        })
        .collect()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::discovery::test_support::{fixture, fixture_text};
    use std::path::Path;

    #[test]
    fn routes_and_default_gateways() {
        let routes = parse_ipv4_routes(&fixture_text("host-debian/proc/net/route"));
        assert_eq!(routes.len(), 3);
        assert_eq!(
            default_ipv4_gateway(&routes),
            Some(("192.168.1.1".to_owned(), "enp3s0".to_owned()))
        );
        assert_eq!(
            default_ipv6_gateway(&fixture_text("host-debian/proc/net/ipv6_route")),
            Some(("fe80::1".to_owned(), "enp3s0".to_owned()))
        );
        assert_eq!(
            default_ipv4_gateway(&parse_ipv4_routes("Iface\tDestination\n")),
            None
        );
    }

    #[test]
    fn ipv4_from_fib_trie_uses_most_specific_route() {
        let routes = parse_ipv4_routes(&fixture_text("host-debian/proc/net/route"));
        let addresses =
            ipv4_addresses_from_fib(&fixture_text("host-debian/proc/net/fib_trie"), &routes);
        let lan = &addresses["enp3s0"];
        assert_eq!(lan.len(), 1);
        assert_eq!(
            (lan[0].address.as_str(), lan[0].prefix),
            ("192.168.1.20", 24)
        );
        assert_eq!(addresses["lo"][0].address, "127.0.0.1");
    }

    #[test]
    fn ipv6_addresses_with_prefix() {
        let addresses = parse_if_inet6(
            "fe8000000000000000fc00fffe000001 04 40 20 80     eth0\n00000000000000000000000000000001 01 80 10 80       lo\nbad line\n",
        );
        assert_eq!(addresses["eth0"][0].address, "fe80::fc:ff:fe00:1");
        assert_eq!(addresses["eth0"][0].prefix, 64);
        assert_eq!(addresses["lo"][0].address, "::1");
        assert_eq!(addresses["lo"][0].prefix, 128);
    }

    #[test]
    fn resolv_conf_nameservers() {
        let servers = parse_resolv_conf(
            "# generated\nsearch example.com\nnameserver 10.0.0.2\nnameserver\toptions\nnameserver fe80::1%eth0\n",
        );
        assert_eq!(servers, vec!["10.0.0.2", "options", "fe80::1%eth0"]);
    }

    #[test]
    fn interfaces_from_fixture_sysfs() {
        let mut status = StatusLog::default();
        let found = interfaces(&HostRoot::new(&fixture("host-debian")), &mut status);
        let enp = &found[0];
        assert_eq!(enp.name, "enp3s0");
        assert_eq!(enp.mac, "52:54:00:12:34:56");
        assert_eq!((enp.mtu, enp.speed_mbps), (1500, 1000));
        assert_eq!(enp.state, "up");
        assert!(!enp.r#virtual);
        let families: Vec<_> = enp
            .addresses
            .iter()
            .map(|address| address.family.as_str())
            .collect();
        assert_eq!(families, vec!["ipv4", "ipv6"]);
        let lo = &found[1];
        assert!(lo.r#virtual);
        // speed of lo is unreadable or -1: unknown.
        assert_eq!(lo.speed_mbps, 0);
    }

    #[test]
    fn live_interfaces_match_sysfs() {
        let mut status = StatusLog::default();
        let found = interfaces(&HostRoot::new(Path::new("/")), &mut status);
        let mut expected: Vec<(String, String)> = std::fs::read_dir("/sys/class/net")
            .unwrap()
            .map(|entry| {
                let name = entry.unwrap().file_name().into_string().unwrap();
                let mac = std::fs::read_to_string(format!("/sys/class/net/{name}/address"))
                    .unwrap_or_default()
                    .trim()
                    .to_owned();
                (name, mac)
            })
            .collect();
        expected.sort();
        let actual: Vec<(String, String)> = found
            .iter()
            .map(|interface| (interface.name.clone(), interface.mac.clone()))
            .collect();
        assert_eq!(actual, expected);
    }
}
