//! The listening sockets section: TCP listeners and bound UDP sockets,
//! from the kernel's sock_diag interface on the live host (`sockets/diag.rs`:
//! the kernel reports only those, not every connection) or else from
//! `/proc/net/{tcp,tcp6,udp,udp6}` (fixture roots, kernels without
//! sock_diag), with the owning process found through the socket inodes in
//! `/proc/<pid>/fd` (`owners.rs`).

mod diag;

use std::collections::HashSet;
use std::net::{Ipv4Addr, Ipv6Addr};

use rollcall_proto::v1::{ListeningSocket, Section};

use super::owners::{Budget, OwnerCache};
use super::{HostRoot, StatusLog};

/// TCP state `LISTEN`.
const TCP_LISTEN: &str = "0A";
/// Socket state `CLOSE`: an unconnected (bound) UDP socket.
const UDP_UNCONNECTED: &str = "07";

/// A listening socket and its inode, before the owner is known.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawSocket {
    /// "tcp", "tcp6", "udp" or "udp6".
    pub protocol: &'static str,
    /// Local address.
    pub address: String,
    /// Local port.
    pub port: u32,
    /// Socket inode (matches `socket:[inode]` links in `/proc/<pid>/fd`).
    pub inode: u64,
}

/// Parses one `/proc/net/{tcp,udp}[6]` table, keeping listening TCP and
/// unconnected UDP sockets.
pub fn parse_proc_net(text: &str, protocol: &'static str) -> Vec<RawSocket> {
    let wanted_state = if protocol.starts_with("tcp") {
        TCP_LISTEN
    } else {
        UDP_UNCONNECTED
    };
    text.lines()
        .skip(1)
        .filter_map(|line| {
            // Most lines are connections: look at the state before
            // splitting the rest (20,000 connections are 20,000 lines).
            if line.split_whitespace().nth(3) != Some(wanted_state) {
                return None;
            }
            let fields: Vec<&str> = line.split_whitespace().collect();
            if fields.len() < 10 || fields[3] != wanted_state {
                return None;
            }
            let (address, port) = fields[1].split_once(':')?;
            Some(RawSocket {
                protocol,
                address: decode_address(address)?,
                port: u32::from_str_radix(port, 16).ok()?,
                inode: fields[9].parse().ok()?,
            })
        })
        .collect()
}

/// Decodes a `/proc/net` address: 8 or 32 hex digits, each 32-bit word in
/// host byte order.
fn decode_address(hex: &str) -> Option<String> {
    if !hex.is_ascii() {
        return None;
    }
    let word = |index: usize| {
        hex.get(index * 8..index * 8 + 8)
            .and_then(|digits| u32::from_str_radix(digits, 16).ok())
            .map(u32::to_ne_bytes)
    };
    match hex.len() {
        8 => Some(Ipv4Addr::from(word(0)?).to_string()),
        32 => {
            let mut bytes = [0u8; 16];
            for index in 0..4 {
                bytes[index * 4..index * 4 + 4].copy_from_slice(&word(index)?);
            }
            Some(Ipv6Addr::from(bytes).to_string())
        }
        _ => None,
    }
}

/// Collects listening sockets with their owning processes (looked up
/// through `owners`, within [`Budget::DEFAULT`]), sorted by protocol,
/// address and port.
pub(crate) fn listening_sockets(
    root: &HostRoot,
    owners: &mut OwnerCache,
    status: &mut StatusLog,
) -> Vec<ListeningSocket> {
    let mut raw = Vec::new();
    let mut readable = 0;
    for protocol in ["tcp", "tcp6", "udp", "udp6"] {
        let reported = if root.is_live() {
            diag::listening(protocol).ok()
        } else {
            None
        };
        if let Some(sockets) = reported {
            readable += 1;
            raw.extend(sockets.into_iter().map(|socket| RawSocket {
                protocol,
                address: socket.address.to_string(),
                port: u32::from(socket.port),
                inode: socket.inode,
            }));
        } else if let Ok(text) = root.read(&format!("proc/net/{protocol}")) {
            readable += 1;
            raw.extend(parse_proc_net(&text, protocol));
        }
    }
    if readable == 0 {
        status.unavailable(Section::Sockets, "/proc/net socket tables unreadable");
        return Vec::new();
    }
    let wanted: HashSet<u64> = raw.iter().map(|socket| socket.inode).collect();
    let owners = owners.owners(root, &wanted, Budget::DEFAULT);
    let mut sockets: Vec<ListeningSocket> = raw
        .into_iter()
        .map(|socket| {
            let (pid, process) = owners.get(&socket.inode).cloned().unwrap_or_default();
            ListeningSocket {
                protocol: socket.protocol.to_owned(),
                address: socket.address,
                port: socket.port,
                pid,
                process,
            }
        })
        .collect();
    sockets.sort_by(|a, b| {
        (&a.protocol, &a.address, a.port, a.pid).cmp(&(&b.protocol, &b.address, b.port, b.pid))
    });
    // SO_REUSEPORT listeners share a key: keep one.
    sockets.dedup_by(|later, earlier| {
        later.protocol == earlier.protocol
            && later.address == earlier.address
            && later.port == earlier.port
    });
    sockets
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::discovery::test_support::{fixture, fixture_text};

    #[test]
    fn tcp_listeners_only() {
        let sockets = parse_proc_net(&fixture_text("host-debian/proc/net/tcp"), "tcp");
        let found: Vec<_> = sockets
            .iter()
            .map(|socket| (socket.address.as_str(), socket.port, socket.inode))
            .collect();
        assert_eq!(
            found,
            vec![("0.0.0.0", 22, 18_123), ("127.0.0.1", 5432, 18_500)]
        );
    }

    #[test]
    fn tcp6_addresses_are_word_swapped() {
        let sockets = parse_proc_net(&fixture_text("host-debian/proc/net/tcp6"), "tcp6");
        let found: Vec<_> = sockets
            .iter()
            .map(|socket| (socket.address.as_str(), socket.port))
            .collect();
        assert_eq!(
            found,
            vec![("::", 22), ("::1", 631), ("2001:db8::10", 8443)]
        );
    }

    #[test]
    fn udp_unconnected_only() {
        let sockets = parse_proc_net(&fixture_text("host-debian/proc/net/udp"), "udp");
        let found: Vec<_> = sockets
            .iter()
            .map(|socket| (socket.address.as_str(), socket.port))
            .collect();
        assert_eq!(found, vec![("127.0.0.53", 53), ("0.0.0.0", 68)]);
    }

    #[test]
    fn garbage_lines_are_skipped() {
        let text = "header\n   0: zz:0016 00000000:0000 0A 0 0 0 0 0 1\nshort line\n";
        assert!(parse_proc_net(text, "tcp").is_empty());
        assert_eq!(decode_address("0100007F").as_deref(), Some("127.0.0.1"));
        assert_eq!(decode_address("0100007"), None);
    }

    #[test]
    fn sock_diag_agrees_with_proc_net_on_this_host() {
        // Listeners come and go (other tests): compare those present in a
        // dump taken before and one taken after reading /proc/net.
        let _listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        for protocol in ["tcp", "tcp6", "udp", "udp6"] {
            let key = |address: String, port: u32, inode: u64| (address, port, inode);
            let dump = || -> HashSet<_> {
                diag::listening(protocol)
                    .unwrap()
                    .into_iter()
                    .map(|socket| {
                        key(
                            socket.address.to_string(),
                            u32::from(socket.port),
                            socket.inode,
                        )
                    })
                    .collect()
            };
            let before = dump();
            let text = std::fs::read_to_string(format!("/proc/net/{protocol}")).unwrap();
            let proc_net: HashSet<_> = parse_proc_net(&text, protocol)
                .into_iter()
                .map(|socket| key(socket.address, socket.port, socket.inode))
                .collect();
            let after = dump();
            let stable: Vec<_> = before.intersection(&after).collect();
            assert!(protocol != "tcp" || !stable.is_empty());
            for socket in stable {
                assert!(proc_net.contains(socket), "{protocol} {socket:?}");
            }
        }
    }

    #[test]
    fn owners_from_fixture_fd_links() {
        let mut status = StatusLog::default();
        let sockets = listening_sockets(
            &HostRoot::new(&fixture("host-debian")),
            &mut OwnerCache::default(),
            &mut status,
        );
        let ssh: Vec<_> = sockets.iter().filter(|socket| socket.port == 22).collect();
        assert_eq!(ssh.len(), 2);
        assert!(
            ssh.iter()
                .all(|socket| socket.pid == 612 && socket.process == "sshd")
        );
        let postgres = sockets.iter().find(|socket| socket.port == 5432).unwrap();
        assert_eq!((postgres.pid, postgres.process.as_str()), (0, ""));
    }
}
