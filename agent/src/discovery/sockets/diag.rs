//! Listening sockets from the kernel's sock_diag netlink interface
//! (`NETLINK_SOCK_DIAG`, what `ss` uses). The kernel filters the dump by
//! socket state, so a dump of listening TCP sockets walks the listening
//! table only, where reading `/proc/net/tcp` and `/proc/net/tcp6` walks
//! every connection on the host (about 300 ms with 20,000 connections open
//! at load 7 on the 2-core test machine; `docs/performance.md`).

use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::Duration;

use rustix::net::netlink::{self, SocketAddrNetlink};
use rustix::net::sockopt::{self, Timeout};
use rustix::net::{AddressFamily, RecvFlags, SendFlags, SocketFlags, SocketType};

/// `SOCK_DIAG_BY_FAMILY`: a request for, and each answer about, sockets.
const SOCK_DIAG_BY_FAMILY: u16 = 20;
/// `NLM_F_REQUEST | NLM_F_DUMP`.
const DUMP_REQUEST: u16 = 0x1 | 0x300;
/// `NLMSG_ERROR`.
const NLMSG_ERROR: u16 = 2;
/// `NLMSG_DONE`.
const NLMSG_DONE: u16 = 3;
/// `struct nlmsghdr`.
const HEADER_LEN: usize = 16;
/// `struct inet_diag_req_v2`.
const REQUEST_LEN: usize = 56;
/// `struct inet_diag_msg` (attributes follow; none are asked for).
const MESSAGE_LEN: usize = 72;
/// Largest datagram read: the kernel fills dump datagrams up to 32 KiB.
const RECEIVE_BUFFER: usize = 64 * 1024;
/// Sockets one dump may report before it is given up as runaway.
const MAX_SOCKETS: usize = 1_000_000;
/// How long the kernel may take to answer one read.
const RECEIVE_TIMEOUT: Duration = Duration::from_secs(2);

/// `AF_INET`.
const AF_INET: u8 = 2;
/// `AF_INET6`.
const AF_INET6: u8 = 10;
/// `IPPROTO_TCP`.
const IPPROTO_TCP: u8 = 6;
/// `IPPROTO_UDP`.
const IPPROTO_UDP: u8 = 17;
/// `TCP_LISTEN`: a listening TCP socket.
const TCP_LISTEN: u8 = 10;
/// `TCP_CLOSE`: an unconnected (bound) UDP socket.
const UDP_UNCONNECTED: u8 = 7;

/// One socket the kernel reported.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct DiagSocket {
    /// Local address.
    pub(crate) address: IpAddr,
    /// Local port.
    pub(crate) port: u16,
    /// Socket inode (as in `/proc/net` and `socket:[inode]` links).
    pub(crate) inode: u64,
}

/// The listening sockets of `protocol` ("tcp", "tcp6", "udp", "udp6"):
/// listening TCP or unconnected UDP sockets of this network namespace.
pub(crate) fn listening(protocol: &str) -> io::Result<Vec<DiagSocket>> {
    let (family, ip_protocol, state) = match protocol {
        "tcp" => (AF_INET, IPPROTO_TCP, TCP_LISTEN),
        "tcp6" => (AF_INET6, IPPROTO_TCP, TCP_LISTEN),
        "udp" => (AF_INET, IPPROTO_UDP, UDP_UNCONNECTED),
        "udp6" => (AF_INET6, IPPROTO_UDP, UDP_UNCONNECTED),
        _ => return Err(io::Error::from(io::ErrorKind::InvalidInput)),
    };
    let socket = rustix::net::socket_with(
        AddressFamily::NETLINK,
        SocketType::RAW,
        SocketFlags::CLOEXEC,
        Some(netlink::SOCK_DIAG),
    )?;
    sockopt::set_socket_timeout(&socket, Timeout::Recv, Some(RECEIVE_TIMEOUT))?;
    rustix::net::sendto(
        &socket,
        &request(family, ip_protocol, state),
        SendFlags::empty(),
        &SocketAddrNetlink::new(0, 0),
    )?;
    let mut sockets = Vec::new();
    let mut buffer = vec![0u8; RECEIVE_BUFFER];
    loop {
        let (_, length) = rustix::net::recv(&socket, &mut buffer[..], RecvFlags::TRUNC)?;
        let datagram = buffer
            .get(..length)
            .ok_or_else(|| invalid("netlink datagram larger than the buffer"))?;
        if parse(datagram, family, state, &mut sockets)? {
            return Ok(sockets);
        }
        if sockets.len() > MAX_SOCKETS {
            return Err(invalid("sock_diag dump does not end"));
        }
    }
}

/// The dump request: `nlmsghdr` then `inet_diag_req_v2` for the sockets of
/// `family` and `protocol` in `state`, any address and port.
fn request(family: u8, protocol: u8, state: u8) -> [u8; HEADER_LEN + REQUEST_LEN] {
    let mut request = [0u8; HEADER_LEN + REQUEST_LEN];
    request[0..4].copy_from_slice(&((HEADER_LEN + REQUEST_LEN) as u32).to_ne_bytes());
    request[4..6].copy_from_slice(&SOCK_DIAG_BY_FAMILY.to_ne_bytes());
    request[6..8].copy_from_slice(&DUMP_REQUEST.to_ne_bytes());
    request[8..12].copy_from_slice(&1u32.to_ne_bytes());
    request[16] = family;
    request[17] = protocol;
    request[20..24].copy_from_slice(&(1u32 << state).to_ne_bytes());
    request
}

/// Adds the sockets of one datagram of the answer to `sockets`; true once
/// the dump is done. Every length is checked: a short or inconsistent
/// message is an error, never a panic.
fn parse(
    datagram: &[u8],
    family: u8,
    state: u8,
    sockets: &mut Vec<DiagSocket>,
) -> io::Result<bool> {
    let mut rest = datagram;
    while !rest.is_empty() {
        let header = rest
            .get(..HEADER_LEN)
            .ok_or_else(|| invalid("short netlink header"))?;
        let length = u32::from_ne_bytes([header[0], header[1], header[2], header[3]]) as usize;
        let kind = u16::from_ne_bytes([header[4], header[5]]);
        let message = rest
            .get(..length)
            .filter(|_| length >= HEADER_LEN)
            .ok_or_else(|| invalid("netlink message length out of range"))?;
        let payload = &message[HEADER_LEN..];
        match kind {
            NLMSG_DONE => return Ok(true),
            NLMSG_ERROR => {
                let code = payload
                    .get(..4)
                    .map(|code| i32::from_ne_bytes([code[0], code[1], code[2], code[3]]))
                    .ok_or_else(|| invalid("short netlink error"))?;
                return Err(io::Error::from_raw_os_error(code.saturating_neg()));
            }
            SOCK_DIAG_BY_FAMILY => {
                let socket = payload
                    .get(..MESSAGE_LEN)
                    .ok_or_else(|| invalid("short inet_diag message"))?;
                if socket[0] == family && socket[1] == state {
                    sockets.push(diag_socket(socket)?);
                }
            }
            _ => {}
        }
        // Messages are 4-byte aligned.
        let next = length.div_ceil(4).saturating_mul(4).min(rest.len());
        rest = &rest[next..];
    }
    Ok(false)
}

/// The address, port and inode of one `inet_diag_msg`.
fn diag_socket(message: &[u8]) -> io::Result<DiagSocket> {
    let field = |range: std::ops::Range<usize>| {
        message
            .get(range)
            .ok_or_else(|| invalid("short inet_diag message"))
    };
    let port = field(4..6)?;
    let source = field(8..24)?;
    let inode = field(68..72)?;
    let address = match message.first() {
        Some(&AF_INET) => IpAddr::V4(Ipv4Addr::new(source[0], source[1], source[2], source[3])),
        _ => {
            let mut bytes = [0u8; 16];
            bytes.copy_from_slice(source);
            IpAddr::V6(Ipv6Addr::from(bytes))
        }
    };
    Ok(DiagSocket {
        address,
        port: u16::from_be_bytes([port[0], port[1]]),
        inode: u64::from(u32::from_ne_bytes([inode[0], inode[1], inode[2], inode[3]])),
    })
}

fn invalid(what: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, what.to_owned())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use std::os::fd::AsRawFd;
    use std::os::unix::fs::MetadataExt;

    /// One answer message about a socket.
    fn answer(family: u8, state: u8, address: &[u8], port: u16, inode: u32) -> Vec<u8> {
        let mut message = vec![0u8; HEADER_LEN + MESSAGE_LEN + 8];
        let length = message.len() as u32;
        message[0..4].copy_from_slice(&length.to_ne_bytes());
        message[4..6].copy_from_slice(&SOCK_DIAG_BY_FAMILY.to_ne_bytes());
        let body = &mut message[HEADER_LEN..];
        body[0] = family;
        body[1] = state;
        body[4..6].copy_from_slice(&port.to_be_bytes());
        body[8..8 + address.len()].copy_from_slice(address);
        body[68..72].copy_from_slice(&inode.to_ne_bytes());
        message
    }

    fn done() -> Vec<u8> {
        let mut message = vec![0u8; HEADER_LEN + 4];
        let length = message.len() as u32;
        message[0..4].copy_from_slice(&length.to_ne_bytes());
        message[4..6].copy_from_slice(&NLMSG_DONE.to_ne_bytes());
        message
    }

    #[test]
    fn answers_are_parsed_and_checked() {
        let mut datagram = answer(AF_INET, TCP_LISTEN, &[127, 0, 0, 1], 5432, 18_500);
        datagram.extend(answer(AF_INET, 1, &[10, 0, 0, 1], 80, 7));
        let mut sockets = Vec::new();
        assert!(!parse(&datagram, AF_INET, TCP_LISTEN, &mut sockets).unwrap());
        assert_eq!(
            sockets,
            vec![DiagSocket {
                address: "127.0.0.1".parse().unwrap(),
                port: 5432,
                inode: 18_500,
            }]
        );
        let mut six = [0u8; 16];
        six[15] = 1;
        let mut datagram = answer(AF_INET6, TCP_LISTEN, &six, 631, 9);
        datagram.extend(done());
        let mut sockets = Vec::new();
        assert!(parse(&datagram, AF_INET6, TCP_LISTEN, &mut sockets).unwrap());
        assert_eq!(sockets[0].address, "::1".parse::<IpAddr>().unwrap());

        // Short, overlong and error messages are errors, not panics.
        for bad in [
            datagram[..10].to_vec(),
            datagram[..HEADER_LEN + 20].to_vec(),
            {
                let mut overlong = done();
                overlong[0..4].copy_from_slice(&1000u32.to_ne_bytes());
                overlong
            },
            {
                let mut zero = done();
                zero[0..4].copy_from_slice(&0u32.to_ne_bytes());
                zero
            },
        ] {
            assert!(parse(&bad, AF_INET6, TCP_LISTEN, &mut Vec::new()).is_err());
        }
        let mut error = done();
        error[4..6].copy_from_slice(&NLMSG_ERROR.to_ne_bytes());
        error[16..20].copy_from_slice(&(-2i32).to_ne_bytes());
        let refused = parse(&error, AF_INET, TCP_LISTEN, &mut Vec::new()).unwrap_err();
        assert_eq!(refused.raw_os_error(), Some(2));
        assert!(listening("sctp").is_err());
    }

    #[test]
    fn the_kernel_reports_this_process_listeners() {
        let tcp = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let udp = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let inode = |fd: i32| {
            std::fs::metadata(format!("/proc/self/fd/{fd}"))
                .unwrap()
                .ino()
        };
        let expected_tcp = DiagSocket {
            address: "127.0.0.1".parse().unwrap(),
            port: tcp.local_addr().unwrap().port(),
            inode: inode(tcp.as_raw_fd()),
        };
        assert!(listening("tcp").unwrap().contains(&expected_tcp));
        let expected_udp = DiagSocket {
            address: "127.0.0.1".parse().unwrap(),
            port: udp.local_addr().unwrap().port(),
            inode: inode(udp.as_raw_fd()),
        };
        assert!(listening("udp").unwrap().contains(&expected_udp));
        // A connected socket is not listening.
        let client = std::net::TcpStream::connect(tcp.local_addr().unwrap()).unwrap();
        let port = client.local_addr().unwrap().port();
        assert!(
            listening("tcp")
                .unwrap()
                .iter()
                .all(|socket| socket.port != port)
        );
        listening("tcp6").unwrap();
        listening("udp6").unwrap();
    }
}
