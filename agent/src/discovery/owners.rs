//! Which process owns each listening socket: the socket inodes in
//! `/proc/<pid>/fd`, found with as few `readlink` calls as possible.
//!
//! The only way to a socket's process is through the processes' open files,
//! and every file costs a `readlink` (plus a kernel dentry the first time):
//! with 20,000 connections open on the host a full scan took 160 ms. But
//! the wanted inodes are few (listening and bound sockets) and the scan
//! stops as soon as every one is found, so what matters is the order:
//!
//! 1. processes with few open files ([`LARGE_FD_TABLE`] or fewer), in pid
//!    order, each read whole: on a typical host every listener is found
//!    here and the processes holding thousands of connections are never
//!    opened;
//! 2. then the processes with large fd tables, in pid order, read in turns
//!    of [`TURN`] descriptors each (lowest descriptor numbers first, which
//!    is the kernel's order and where a server's listening sockets are,
//!    opened before its connections): a server with 10,000 connections is
//!    asked for its listener within its first few descriptors, not after
//!    reading all of another server's.
//!
//! The kernel reports a process's open-file count as the size of its
//! `/proc/<pid>/fd` directory (Linux 6.2 and later); where it reports 0
//! (older kernels) every process is in the first group and the scan is the
//! plain pid-order scan. On a fixture root (no kernel) the entries are
//! counted instead.
//!
//! A socket held by several processes (inherited across `fork`) belongs to
//! the first holder in that order: the lowest pid among the holders with
//! small fd tables, otherwise the holder seen first in the turns (lowest
//! turn, then lowest pid). Only a socket shared between a small and a
//! large process with a lower pid is attributed differently from a plain
//! pid-order scan (to the small one).

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;

use super::HostRoot;

/// Open files above which a process is read after the others, in turns.
pub(crate) const LARGE_FD_TABLE: u64 = 256;
/// Descriptors read from one large process before the next one's turn.
pub(crate) const TURN: usize = 64;
/// Large fd directories open at once (the rest wait for a free slot).
const OPEN_AT_ONCE: usize = 32;

/// The owner found for a socket: pid and command name.
pub(crate) type Owner = (u32, String);

/// Maps the `wanted` socket inodes to their owners. Processes of other
/// users are unreadable without privileges; their sockets stay without an
/// owner.
pub(crate) fn socket_owners(root: &HostRoot, wanted: &HashSet<u64>) -> HashMap<u64, Owner> {
    let mut scan = Scan {
        root,
        wanted,
        owners: HashMap::new(),
    };
    if wanted.is_empty() {
        return scan.owners;
    }
    let Ok(processes) = std::fs::read_dir(root.path("proc")) else {
        return scan.owners;
    };
    let mut pids: Vec<u32> = processes
        .filter_map(|entry| entry.ok()?.file_name().to_str()?.parse().ok())
        .collect();
    pids.sort_unstable();
    let mut large = Vec::new();
    for pid in pids {
        if fd_count(root, pid) > LARGE_FD_TABLE {
            large.push(pid);
            continue;
        }
        let Some(mut process) = Process::open(root, pid) else {
            continue;
        };
        while scan.take(&mut process, usize::MAX) {}
        if scan.done() {
            return scan.owners;
        }
    }
    for group in large.chunks(OPEN_AT_ONCE) {
        let mut open: Vec<Process> = group
            .iter()
            .filter_map(|&pid| Process::open(root, pid))
            .collect();
        while !open.is_empty() && !scan.done() {
            open.retain_mut(|process| !scan.done() && scan.take(process, TURN));
        }
        if scan.done() {
            break;
        }
    }
    scan.owners
}

/// The number of open files of `pid`: the size the kernel reports for its
/// fd directory (0 where it does not), or on a fixture root the entries.
fn fd_count(root: &HostRoot, pid: u32) -> u64 {
    let path = root.path(&format!("proc/{pid}/fd"));
    if root.is_live() {
        std::fs::metadata(path).map(|meta| meta.len()).unwrap_or(0)
    } else {
        std::fs::read_dir(path).map_or(0, |entries| entries.count() as u64)
    }
}

/// One process's fd directory being read, lowest descriptor first.
struct Process {
    pid: u32,
    fds: Box<dyn Iterator<Item = PathBuf>>,
    comm: Option<String>,
}

impl Process {
    /// Opens the fd directory of `pid`; `None` if unreadable. The kernel
    /// lists descriptors in ascending order and is read as it goes; a
    /// fixture directory, listed in whatever order its filesystem keeps,
    /// is sorted first.
    fn open(root: &HostRoot, pid: u32) -> Option<Self> {
        let entries = std::fs::read_dir(root.path(&format!("proc/{pid}/fd"))).ok()?;
        let paths = entries.filter_map(|entry| Some(entry.ok()?.path()));
        let fds: Box<dyn Iterator<Item = PathBuf>> = if root.is_live() {
            Box::new(paths)
        } else {
            let mut sorted: Vec<(u64, PathBuf)> = paths
                .map(|path| {
                    let number = path
                        .file_name()
                        .and_then(|name| name.to_str()?.parse().ok())
                        .unwrap_or(u64::MAX);
                    (number, path)
                })
                .collect();
            sorted.sort();
            Box::new(sorted.into_iter().map(|(_, path)| path))
        };
        Some(Self {
            pid,
            fds,
            comm: None,
        })
    }
}

/// The state of one owner scan.
struct Scan<'a> {
    root: &'a HostRoot,
    wanted: &'a HashSet<u64>,
    owners: HashMap<u64, Owner>,
}

impl Scan<'_> {
    /// Whether every wanted inode has an owner.
    fn done(&self) -> bool {
        self.owners.len() == self.wanted.len()
    }

    /// Reads up to `limit` more descriptors of `process`, stopping early
    /// once every inode is found; returns whether it has more to read.
    fn take(&mut self, process: &mut Process, limit: usize) -> bool {
        for _ in 0..limit {
            let Some(path) = process.fds.next() else {
                return false;
            };
            let Some(inode) = std::fs::read_link(path)
                .ok()
                .and_then(|target| socket_inode(target.to_str()?))
            else {
                continue;
            };
            if self.wanted.contains(&inode) && !self.owners.contains_key(&inode) {
                let name = process
                    .comm
                    .get_or_insert_with(|| {
                        self.root
                            .read_value(&format!("proc/{}/comm", process.pid))
                            .unwrap_or_default()
                    })
                    .clone();
                self.owners.insert(inode, (process.pid, name));
                if self.done() {
                    return false;
                }
            }
        }
        true
    }
}

/// The inode of a `socket:[inode]` link target.
fn socket_inode(target: &str) -> Option<u64> {
    target
        .strip_prefix("socket:[")?
        .strip_suffix(']')?
        .parse()
        .ok()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;
    use std::path::Path;

    /// The scan before this module: every process in pid order, whole,
    /// stopping after a process once every inode is found.
    fn pid_order_scan(root: &HostRoot, wanted: &HashSet<u64>) -> HashMap<u64, Owner> {
        let mut owners = HashMap::new();
        let mut pids: Vec<u32> = std::fs::read_dir(root.path("proc"))
            .unwrap()
            .filter_map(|entry| entry.ok()?.file_name().to_str()?.parse().ok())
            .collect();
        pids.sort_unstable();
        for pid in pids {
            let Ok(fds) = std::fs::read_dir(root.path(&format!("proc/{pid}/fd"))) else {
                continue;
            };
            for fd in fds.filter_map(|entry| entry.ok()) {
                let Some(inode) = std::fs::read_link(fd.path())
                    .ok()
                    .and_then(|target| socket_inode(target.to_str()?))
                else {
                    continue;
                };
                if wanted.contains(&inode) && !owners.contains_key(&inode) {
                    let comm = root.read_value(&format!("proc/{pid}/comm")).unwrap();
                    owners.insert(inode, (pid, comm));
                }
            }
            if owners.len() == wanted.len() {
                break;
            }
        }
        owners
    }

    /// A fixture process: `pid` named `comm` with `files` open files, of
    /// which the listed (fd, inode) pairs are sockets and the rest pipes.
    fn process(base: &Path, pid: u32, comm: &str, files: u32, sockets: &[(u32, u64)]) {
        let dir = base.join(format!("proc/{pid}"));
        std::fs::create_dir_all(dir.join("fd")).unwrap();
        std::fs::write(dir.join("comm"), format!("{comm}\n")).unwrap();
        for fd in 0..files {
            let target = match sockets.iter().find(|(number, _)| *number == fd) {
                Some((_, inode)) => format!("socket:[{inode}]"),
                None => format!(
                    "pipe:[{}]",
                    900_000 + u64::from(pid) * 10_000 + u64::from(fd)
                ),
            };
            symlink(target, dir.join(format!("fd/{fd}"))).unwrap();
        }
    }

    #[test]
    fn large_fd_tables_give_the_same_owners_as_a_pid_order_scan() {
        let dir = tempfile::tempdir().unwrap();
        let base = dir.path();
        // A server with many connections whose listener is fd 3, another
        // whose listener is its last descriptor, small daemons around them,
        // and an inode nobody holds (a kernel socket).
        process(base, 7, "sshd", 5, &[(3, 100)]);
        process(base, 40, "haproxy", 1_500, &[(3, 200), (4, 201)]);
        process(base, 41, "late", 700, &[(699, 300)]);
        process(base, 90, "chronyd", 6, &[(5, 400)]);
        std::fs::create_dir_all(base.join("proc/self")).unwrap();
        let root = HostRoot::new(base);
        for wanted in [
            vec![100, 200, 201, 300, 400],
            vec![100, 400],
            vec![200, 300],
            vec![100, 200, 201, 300, 400, 999],
        ] {
            let wanted: HashSet<u64> = wanted.into_iter().collect();
            assert_eq!(
                socket_owners(&root, &wanted),
                pid_order_scan(&root, &wanted),
                "{wanted:?}"
            );
        }
        let all: HashSet<u64> = [100, 200, 300, 400].into_iter().collect();
        let owners = socket_owners(&root, &all);
        assert_eq!(owners[&200], (40, "haproxy".to_string()));
        assert_eq!(owners[&300], (41, "late".to_string()));
    }

    #[test]
    fn a_shared_socket_belongs_to_its_first_holder_in_scan_order() {
        let dir = tempfile::tempdir().unwrap();
        let base = dir.path();
        // A master and its worker share listener 500; both small: the
        // lower pid, like a pid-order scan.
        process(base, 10, "nginx", 8, &[(6, 500)]);
        process(base, 11, "nginx", 9, &[(6, 500)]);
        // Two large processes share 600: the one that reaches it in an
        // earlier turn (pid 21, at fd 5), not the lower pid (20, at fd 400).
        process(base, 20, "big", 600, &[(400, 600)]);
        process(base, 21, "big2", 600, &[(5, 600)]);
        let root = HostRoot::new(base);
        let wanted: HashSet<u64> = [500, 600].into_iter().collect();
        let owners = socket_owners(&root, &wanted);
        assert_eq!(owners[&500], (10, "nginx".to_string()));
        assert_eq!(owners[&600], (21, "big2".to_string()));
    }

    #[test]
    fn no_proc_or_nothing_wanted_gives_no_owners() {
        let root = HostRoot::new(Path::new("/nonexistent"));
        assert!(socket_owners(&root, &[1].into_iter().collect()).is_empty());
        let dir = tempfile::tempdir().unwrap();
        process(dir.path(), 3, "x", 2, &[(1, 7)]);
        assert!(socket_owners(&HostRoot::new(dir.path()), &HashSet::new()).is_empty());
        assert_eq!(socket_inode("socket:[42]"), Some(42));
        assert_eq!(socket_inode("pipe:[42]"), None);
        assert_eq!(socket_inode("socket:[x]"), None);
    }
}
