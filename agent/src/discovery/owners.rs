//! Which process owns each listening socket: the socket inodes in
//! `/proc/<pid>/fd`, found with as few `readlink` calls as possible, and
//! never more than a [`Budget`] of them per inventory.
//!
//! The only way to a socket's process is through the processes' open files
//! (sock_diag reports a socket's inode and uid, not its holder; `ss -p` and
//! `lsof` scan the same way), and every file costs a `readlink` (plus a
//! kernel dentry the first time): with 20,000 connections open on the host
//! a full scan took 160 ms, and 600 ms at load 10. Three things bound it:
//!
//! - **Remembered holders** ([`OwnerCache`], kept by the running agent
//!   between inventories): the pid and descriptor number where each socket
//!   was found, checked at the next inventory with one `readlink` of
//!   `/proc/<pid>/fd/<fd>`; a holder that no longer holds that inode (the
//!   process exited, or the descriptor was closed or reused) is forgotten
//!   and its socket searched for again.
//! - **Unowned sockets remembered**: an inode that a complete pass over
//!   every process did not find (held by a process outside this pid
//!   namespace, or of another user without privileges) is reported without
//!   an owner and searched for again only every [`RECHECK_UNOWNED_EVERY`]
//!   inventories (6 hours at the default 10-minute interval), not at every
//!   inventory: a socket no visible process holds seldom becomes visible
//!   (the holder would have to pass it to one), and each search of every
//!   fd table takes several budgets on a busy host.
//! - **A budget** ([`Budget::DEFAULT`]: descriptors and time per inventory):
//!   a search that runs out of it keeps its place (which processes are
//!   left, and how far each was read) and goes on at the next inventory;
//!   what it has not found yet is reported without an owner meanwhile. A
//!   one-shot `rollcall-agent inventory` has no earlier inventory to carry
//!   from: it is bounded by the budget alone.
//!
//! The search order (`owners/pass.rs`) makes the budget go far:
//!
//! 1. processes with few open files ([`pass::LARGE_FD_TABLE`] or fewer),
//!    in pid order, each read whole: on a typical host every listener is
//!    found here and the processes holding thousands of connections are
//!    never opened;
//! 2. then the processes with large fd tables, in pid order, read in turns
//!    of [`pass::TURN`] descriptors each (lowest descriptor numbers first,
//!    which is the kernel's order and where a server's listening sockets
//!    are, opened before its connections): a server with 10,000
//!    connections is asked for its listener within its first few
//!    descriptors, not after reading all of another server's.
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
//! turn, then lowest pid); once found, it stays with that holder while the
//! holder keeps it.

mod pass;

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use crate::discovery::root::HostRoot;
pub(crate) use pass::Budget;
use pass::{Holder, Outcome, Pass, Spend};

/// Inventories after which a socket no visible process held is searched
/// for again.
pub(crate) const RECHECK_UNOWNED_EVERY: u64 = 36;

impl Budget {
    /// The budget of one inventory: 4,096 descriptors or 25 ms, whichever
    /// comes first (a few thousand descriptors cover every process with a
    /// small fd table on a typical host, and every large one's first turns).
    pub(crate) const DEFAULT: Self = Self {
        descriptors: 4_096,
        time: Duration::from_millis(25),
    };
}

/// The owner found for a socket: pid and command name.
pub(crate) type Owner = (u32, String);

/// What one lookup did (for tests and diagnostics).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(crate) struct LookupStats {
    /// Remembered holders checked, one `readlink` each.
    pub(crate) verified: usize,
    /// Remembered holders that no longer held their socket.
    pub(crate) stale: usize,
    /// Descriptors the search read (one `readlinkat` each).
    pub(crate) searched: usize,
    /// Whether the search ran out of budget and carries over.
    pub(crate) carried_over: bool,
}

/// The owner search's memory between inventories: the running agent keeps
/// one; a one-shot inventory starts from an empty one.
#[derive(Debug, Default)]
pub(crate) struct OwnerCache {
    /// Where each socket was last seen.
    known: HashMap<u64, Holder>,
    /// Sockets a complete pass found no holder for, with the inventory
    /// number that pass ended in.
    unowned: HashMap<u64, u64>,
    /// The search carried over from an earlier inventory.
    pass: Option<Pass>,
    /// Lookups so far.
    inventories: u64,
    /// What the last lookup did.
    last: LookupStats,
}

impl OwnerCache {
    /// What the last lookup did.
    #[cfg(test)]
    pub(crate) fn last(&self) -> LookupStats {
        self.last
    }

    /// Maps the `wanted` socket inodes to their owners: remembered holders
    /// checked, then a search within `budget` for the rest (sockets found
    /// unowned recently excluded). Processes of other users are unreadable
    /// without privileges; their sockets stay without an owner.
    pub(crate) fn owners(
        &mut self,
        root: &HostRoot,
        wanted: &HashSet<u64>,
        budget: Budget,
    ) -> HashMap<u64, Owner> {
        let mut spend = Spend::new(budget, Instant::now());
        self.inventories = self.inventories.saturating_add(1);
        self.last = LookupStats::default();
        self.known.retain(|inode, _| wanted.contains(inode));
        self.unowned.retain(|inode, _| wanted.contains(inode));

        let mut found: HashMap<u64, Holder> = HashMap::new();
        for (&inode, &holder) in &self.known {
            self.last.verified += 1;
            if holder.holds(root, inode) {
                found.insert(inode, holder);
            } else {
                self.last.stale += 1;
            }
        }
        self.known.retain(|inode, _| found.contains_key(inode));

        let inventories = self.inventories;
        let mut search: HashSet<u64> = wanted
            .iter()
            .filter(|inode| !found.contains_key(inode))
            .filter(|inode| {
                self.unowned
                    .get(inode)
                    .is_none_or(|&at| inventories.saturating_sub(at) >= RECHECK_UNOWNED_EVERY)
            })
            .copied()
            .collect();
        for inode in &search {
            self.unowned.remove(inode);
        }
        while !search.is_empty() {
            let pass = self
                .pass
                .get_or_insert_with(|| Pass::start(root, search.clone()));
            pass.sought.retain(|inode| search.contains(inode));
            let outcome = pass.run(root, &search, &mut found, &mut spend);
            search.retain(|inode| !found.contains_key(inode));
            match outcome {
                Outcome::AllFound => {}
                Outcome::OutOfBudget => {
                    self.last.carried_over = true;
                    break;
                }
                Outcome::Finished => {
                    // Only the inodes sought from the start were looked for
                    // in every process; the others start a new pass.
                    if let Some(pass) = self.pass.take() {
                        for inode in pass.sought {
                            if search.remove(&inode) {
                                self.unowned.insert(inode, inventories);
                            }
                        }
                    }
                }
            }
        }
        if search.is_empty() {
            self.pass = None;
        }
        self.last.searched = spend.read;
        tracing::debug!(
            verified = self.last.verified,
            stale = self.last.stale,
            searched = self.last.searched,
            carried_over = self.last.carried_over,
            unowned = self.unowned.len(),
            "socket owners looked up"
        );
        self.known
            .extend(found.iter().map(|(&inode, &holder)| (inode, holder)));

        let mut names: HashMap<u32, String> = HashMap::new();
        found
            .into_iter()
            .map(|(inode, holder)| {
                let name = names
                    .entry(holder.pid)
                    .or_insert_with(|| {
                        root.read_value(&format!("proc/{}/comm", holder.pid))
                            .unwrap_or_default()
                    })
                    .clone();
                (inode, (holder.pid, name))
            })
            .collect()
    }
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
                    .and_then(|target| pass::socket_inode(target.to_str()?.as_bytes()))
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

    /// One lookup with no memory and no budget.
    fn full_scan(root: &HostRoot, wanted: &HashSet<u64>) -> HashMap<u64, Owner> {
        OwnerCache::default().owners(root, wanted, Budget::UNLIMITED)
    }

    fn set(inodes: &[u64]) -> HashSet<u64> {
        inodes.iter().copied().collect()
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

    /// Points descriptor `fd` of `pid` at `target`, as a process that
    /// closed it and opened something else would.
    fn relink(base: &Path, pid: u32, fd: u32, target: &str) {
        let link = base.join(format!("proc/{pid}/fd/{fd}"));
        let _ = std::fs::remove_file(&link);
        symlink(target, link).unwrap();
    }

    /// Servers with many connections, small daemons around them: 2,711
    /// descriptors in all.
    fn busy_host(base: &Path) {
        // A server whose listener is fd 3, another whose listener is its
        // last descriptor, small daemons around them.
        process(base, 7, "sshd", 5, &[(3, 100)]);
        process(base, 40, "haproxy", 1_500, &[(3, 200), (4, 201)]);
        process(base, 41, "late", 700, &[(699, 300)]);
        process(base, 90, "chronyd", 6, &[(5, 400)]);
        std::fs::create_dir_all(base.join("proc/self")).unwrap();
    }

    #[test]
    fn large_fd_tables_give_the_same_owners_as_a_pid_order_scan() {
        let dir = tempfile::tempdir().unwrap();
        let base = dir.path();
        busy_host(base);
        let root = HostRoot::new(base);
        for wanted in [
            vec![100, 200, 201, 300, 400],
            vec![100, 400],
            vec![200, 300],
            // 999: a kernel socket nobody holds.
            vec![100, 200, 201, 300, 400, 999],
        ] {
            let wanted = set(&wanted);
            assert_eq!(
                full_scan(&root, &wanted),
                pid_order_scan(&root, &wanted),
                "{wanted:?}"
            );
        }
        let owners = full_scan(&root, &set(&[100, 200, 300, 400]));
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
        let owners = full_scan(&root, &set(&[500, 600]));
        assert_eq!(owners[&500], (10, "nginx".to_string()));
        assert_eq!(owners[&600], (21, "big2".to_string()));
    }

    #[test]
    fn remembered_holders_give_the_same_owners_as_a_full_scan() {
        let dir = tempfile::tempdir().unwrap();
        let base = dir.path();
        busy_host(base);
        let root = HostRoot::new(base);
        let mut cache = OwnerCache::default();
        let wanted = set(&[100, 200, 201, 300, 400]);
        let first = cache.owners(&root, &wanted, Budget::UNLIMITED);
        assert_eq!(first, pid_order_scan(&root, &wanted));
        let searched = cache.last().searched;
        // 5 + 6 small, then haproxy and late in turns: late's listener is
        // its 700th descriptor, in its 11th turn, after 11 of haproxy's.
        assert_eq!(searched, 5 + 6 + 11 * 64 + 700);
        for _ in 0..3 {
            assert_eq!(cache.owners(&root, &wanted, Budget::UNLIMITED), first);
            let last = cache.last();
            assert_eq!((last.verified, last.stale, last.searched), (5, 0, 0));
        }
        // A listener closed: forgotten; a new one: searched for at once.
        process(base, 95, "new", 3, &[(2, 500)]);
        let wanted = set(&[100, 200, 201, 400, 500]);
        let owners = cache.owners(&root, &wanted, Budget::UNLIMITED);
        assert_eq!(owners, pid_order_scan(&root, &wanted));
        assert_eq!(owners[&500], (95, "new".to_string()));
        assert_eq!(cache.last().verified, 4);
        assert!(cache.last().searched > 0);
    }

    #[test]
    fn a_stale_holder_is_detected_and_corrected() {
        let dir = tempfile::tempdir().unwrap();
        let base = dir.path();
        busy_host(base);
        let root = HostRoot::new(base);
        let mut cache = OwnerCache::default();
        let wanted = set(&[100, 200, 300, 400]);
        cache.owners(&root, &wanted, Budget::UNLIMITED);

        // sshd (pid 7) exited; its listener now lives in pid 8 (fd 4).
        std::fs::remove_dir_all(base.join("proc/7")).unwrap();
        process(base, 8, "sshd", 5, &[(4, 100)]);
        // chronyd's fd 5 was closed and reused for another socket; its
        // listener was handed to pid 91.
        relink(base, 90, 5, "socket:[777]");
        process(base, 91, "chronyd2", 3, &[(2, 400)]);
        // late's fd 699 now holds a pipe, and listener 300 is nowhere.
        relink(base, 41, 699, "pipe:[1]");

        let owners = cache.owners(&root, &wanted, Budget::UNLIMITED);
        assert_eq!(cache.last().stale, 3);
        assert_eq!(owners, pid_order_scan(&root, &wanted));
        assert_eq!(owners[&100], (8, "sshd".to_string()));
        assert_eq!(owners[&400], (91, "chronyd2".to_string()));
        assert!(!owners.contains_key(&300));
        assert_eq!(owners[&200], (40, "haproxy".to_string()));
        // The corrected holders are the ones remembered.
        let again = cache.owners(&root, &wanted, Budget::UNLIMITED);
        assert_eq!(again, owners);
        assert_eq!((cache.last().stale, cache.last().verified), (0, 3));
    }

    #[test]
    fn an_unowned_listener_is_not_searched_for_at_every_inventory() {
        let dir = tempfile::tempdir().unwrap();
        let base = dir.path();
        busy_host(base);
        let root = HostRoot::new(base);
        let mut cache = OwnerCache::default();
        // 999: held by no visible process (outside this pid namespace).
        let wanted = set(&[100, 200, 201, 300, 400, 999]);
        let every_descriptor = 5 + 1_500 + 700 + 6;
        let owners = cache.owners(&root, &wanted, Budget::UNLIMITED);
        assert_eq!(cache.last().searched, every_descriptor);
        assert_eq!(owners.len(), 5);
        assert!(!owners.contains_key(&999));
        for _ in 1..RECHECK_UNOWNED_EVERY {
            assert_eq!(cache.owners(&root, &wanted, Budget::UNLIMITED), owners);
            assert_eq!(cache.last().searched, 0);
            assert_eq!(cache.last().verified, 5);
        }
        // Then searched for again (and still not found).
        assert_eq!(cache.owners(&root, &wanted, Budget::UNLIMITED), owners);
        assert_eq!(cache.last().searched, every_descriptor);
        assert_eq!(cache.owners(&root, &wanted, Budget::UNLIMITED), owners);
        assert_eq!(cache.last().searched, 0);
        // A holder that appears is found at the next re-check.
        process(base, 96, "visible", 2, &[(1, 999)]);
        let mut found_after = None;
        for inventory in 1..=RECHECK_UNOWNED_EVERY {
            if cache
                .owners(&root, &wanted, Budget::UNLIMITED)
                .contains_key(&999)
            {
                found_after = Some(inventory);
                break;
            }
        }
        assert_eq!(found_after, Some(RECHECK_UNOWNED_EVERY - 1));
    }

    #[test]
    fn the_budget_carries_over_to_the_next_inventory() {
        let dir = tempfile::tempdir().unwrap();
        let base = dir.path();
        process(base, 10, "small", 50, &[]);
        process(base, 20, "server", 600, &[(590, 300)]);
        process(base, 30, "daemon", 6, &[(5, 400)]);
        let root = HostRoot::new(base);
        let budget = Budget {
            descriptors: 100,
            time: Duration::MAX,
        };
        let wanted = set(&[300, 400]);

        // A one-shot lookup stops at its budget: the small processes, then
        // 44 of the server's descriptors.
        let mut one_shot = OwnerCache::default();
        let owners = one_shot.owners(&root, &wanted, budget);
        assert_eq!(owners.keys().collect::<Vec<_>>(), vec![&400]);
        assert_eq!(one_shot.last().searched, 100);
        assert!(one_shot.last().carried_over);

        // The running agent goes on from there: 591 of the server's
        // descriptors reach fd 590, each read once, 100 per inventory.
        let mut total = one_shot.last().searched;
        let mut inventories = 1;
        let owners = loop {
            let owners = one_shot.owners(&root, &wanted, budget);
            inventories += 1;
            let last = one_shot.last();
            assert!(last.searched <= 100);
            assert_eq!(last.verified, 1, "400 is remembered, not searched for");
            total += last.searched;
            if owners.len() == 2 {
                assert!(!last.carried_over);
                break owners;
            }
            assert!(last.carried_over);
            assert!(inventories < 20, "no progress");
        };
        assert_eq!(total, 56 + 591);
        assert_eq!(inventories, 7);
        assert_eq!(owners, full_scan(&root, &wanted));
        one_shot.owners(&root, &wanted, budget);
        assert_eq!(one_shot.last().searched, 0);
    }

    #[test]
    fn a_socket_that_appears_during_a_carried_pass_is_not_declared_unowned() {
        let dir = tempfile::tempdir().unwrap();
        let base = dir.path();
        process(base, 10, "small", 50, &[]);
        process(base, 20, "server", 600, &[]);
        let root = HostRoot::new(base);
        let budget = Budget {
            descriptors: 100,
            time: Duration::MAX,
        };
        let mut cache = OwnerCache::default();
        // 999 is nowhere: the pass reads everything, 100 per inventory.
        cache.owners(&root, &set(&[999]), budget);
        assert!(cache.last().carried_over);
        // Meanwhile pid 10, already read by this pass, opens listener 555.
        relink(base, 10, 49, "socket:[555]");
        let wanted = set(&[999, 555]);
        let mut owners = HashMap::new();
        for _ in 0..10 {
            owners = cache.owners(&root, &wanted, budget);
            if owners.contains_key(&555) {
                break;
            }
        }
        assert_eq!(owners[&555], (10, "small".to_string()));
        assert!(!owners.contains_key(&999));
    }

    #[test]
    fn a_time_budget_bounds_the_lookup() {
        let dir = tempfile::tempdir().unwrap();
        let base = dir.path();
        busy_host(base);
        let root = HostRoot::new(base);
        let spent = Budget {
            descriptors: usize::MAX,
            time: Duration::ZERO,
        };
        let mut cache = OwnerCache::default();
        assert!(cache.owners(&root, &set(&[100, 999]), spent).is_empty());
        assert_eq!(cache.last().searched, 0);
        assert!(cache.last().carried_over);
        // The same pass, given time, finishes.
        let owners = cache.owners(&root, &set(&[100, 999]), Budget::UNLIMITED);
        assert_eq!(owners[&100], (7, "sshd".to_string()));
    }

    #[test]
    fn the_live_host_search_carries_over_through_large_fd_tables() {
        // This process made large (over 256 open files), its listener
        // last; a small budget makes the pass resume inside it (the seek
        // in the kernel's fd directory), more than once.
        let files: Vec<std::fs::File> = (0..300)
            .map(|_| std::fs::File::open("/dev/null").unwrap())
            .collect();
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let inode = {
            use std::os::fd::AsRawFd;
            use std::os::unix::fs::MetadataExt;
            std::fs::metadata(format!("/proc/self/fd/{}", listener.as_raw_fd()))
                .unwrap()
                .ino()
        };
        let root = HostRoot::new(Path::new("/"));
        let budget = Budget {
            descriptors: 100,
            time: Duration::MAX,
        };
        let mut cache = OwnerCache::default();
        let mut lookups = 0;
        let owners = loop {
            let owners = cache.owners(&root, &set(&[inode]), budget);
            lookups += 1;
            if owners.contains_key(&inode) || !cache.last().carried_over || lookups > 100_000 {
                break owners;
            }
        };
        assert_eq!(
            owners[&inode].0,
            std::process::id(),
            "after {lookups} lookups"
        );
        assert!(lookups > 3);
        // Remembered: verified, not searched for.
        assert_eq!(cache.owners(&root, &set(&[inode]), budget), owners);
        assert_eq!((cache.last().verified, cache.last().searched), (1, 0));
        drop(files);
    }

    /// A one-shot lookup as `rollcall-agent inventory` makes it.
    fn socket_owners(root: &HostRoot, wanted: &HashSet<u64>) -> HashMap<u64, Owner> {
        OwnerCache::default().owners(root, wanted, Budget::DEFAULT)
    }

    #[test]
    fn no_proc_or_nothing_wanted_gives_no_owners() {
        let root = HostRoot::new(Path::new("/nonexistent"));
        assert!(socket_owners(&root, &set(&[1])).is_empty());
        let dir = tempfile::tempdir().unwrap();
        process(dir.path(), 3, "x", 2, &[(1, 7)]);
        assert!(socket_owners(&HostRoot::new(dir.path()), &HashSet::new()).is_empty());
        assert_eq!(
            socket_owners(&HostRoot::new(dir.path()), &set(&[7]))[&7].0,
            3
        );
        assert_eq!(pass::socket_inode(b"socket:[42]"), Some(42));
        assert_eq!(pass::socket_inode(b"pipe:[42]"), None);
        assert_eq!(pass::socket_inode(b"socket:[x]"), None);
        assert_eq!(pass::socket_inode(b"socket:[42"), None);
    }
}
