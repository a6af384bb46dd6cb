//! One pass of the owner search over the processes' fd tables, in the
//! order `owners.rs` describes, under a budget of descriptors and time; a
//! pass that runs out of budget keeps its place and goes on at the next
//! inventory.
//!
//! Each process's `/proc/<pid>/fd` directory is opened once per turn and
//! its links are read with `readlinkat` relative to that directory (the
//! kernel walks `/proc/<pid>/fd` once, not once per descriptor) into a
//! stack buffer (no allocation per descriptor). A descriptor's type cannot
//! be told without reading its link (the listing gives every entry as a
//! symlink, and `fdinfo` costs as much as the link), so every descriptor
//! read costs one `readlinkat`.

use std::collections::{HashMap, HashSet, VecDeque};
use std::time::{Duration, Instant};

use rustix::fs::{CWD, Dir, Mode, OFlags};

use crate::discovery::root::HostRoot;

/// Open files above which a process is read after the others, in turns.
pub(crate) const LARGE_FD_TABLE: u64 = 256;
/// Descriptors read from one large process before the next one's turn.
pub(crate) const TURN: usize = 64;
/// Large fd directories open at once (the rest wait for a free slot): the
/// agent never holds more than this many descriptors for the search.
const OPEN_AT_ONCE: usize = 32;
/// Room for a link target: `socket:[<20 digits>]` is 29 bytes; a longer
/// target is cut short and is no socket.
const LINK_BUFFER: usize = 64;

/// The most one inventory spends on searching fd tables: descriptors read
/// and time since the owner lookup began, whichever runs out first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Budget {
    /// Descriptors read (one `readlinkat` each).
    pub(crate) descriptors: usize,
    /// Wall time from the start of the lookup (verification included).
    pub(crate) time: Duration,
}

impl Budget {
    /// No limit (tests, and reference scans).
    #[cfg(test)]
    pub(crate) const UNLIMITED: Self = Self {
        descriptors: usize::MAX,
        time: Duration::MAX,
    };
}

/// What is left of a [`Budget`] during one lookup.
#[derive(Debug)]
pub(crate) struct Spend {
    left: usize,
    deadline: Option<Instant>,
    /// Descriptors read so far.
    pub(crate) read: usize,
}

impl Spend {
    /// The budget counted from `started`.
    pub(crate) fn new(budget: Budget, started: Instant) -> Self {
        Self {
            left: budget.descriptors,
            deadline: started.checked_add(budget.time),
            read: 0,
        }
    }

    /// Takes one descriptor from the budget; false once it is spent.
    fn one(&mut self) -> bool {
        if self.left == 0
            || self
                .deadline
                .is_some_and(|deadline| Instant::now() >= deadline)
        {
            return false;
        }
        self.left -= 1;
        self.read += 1;
        true
    }
}

/// Where a socket was seen: a process and one of its descriptor numbers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct Holder {
    /// Process id.
    pub(crate) pid: u32,
    /// Descriptor number in that process.
    pub(crate) fd: u32,
}

impl Holder {
    /// Whether this descriptor still holds socket `inode`: one `readlink`.
    pub(crate) fn holds(self, root: &HostRoot, inode: u64) -> bool {
        let path = root.path(&format!("proc/{}/fd/{}", self.pid, self.fd));
        let mut link = [0u8; LINK_BUFFER];
        rustix::fs::readlinkat_raw(CWD, &path, &mut link)
            .ok()
            .and_then(|length| socket_inode(link.get(..length)?))
            == Some(inode)
    }
}

/// How a pass's turn in one inventory ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// Every inode searched for has a holder.
    AllFound,
    /// Every process of the pass was read.
    Finished,
    /// The budget ran out; the pass goes on from here next time.
    OutOfBudget,
}

/// A process whose descriptors below `next_fd` this pass has read.
#[derive(Debug, Clone, Copy)]
struct Progress {
    pid: u32,
    next_fd: u32,
}

/// One search over every process that existed when it began.
#[derive(Debug)]
pub(crate) struct Pass {
    /// Inodes searched for since the pass began: only these were looked
    /// for in every process, so only these can be found unowned when it
    /// ends.
    pub(crate) sought: HashSet<u64>,
    small: VecDeque<Progress>,
    large: VecDeque<Progress>,
}

impl Pass {
    /// A pass over the processes under `root` now, looking for `sought`.
    pub(crate) fn start(root: &HostRoot, sought: HashSet<u64>) -> Self {
        let mut pids: Vec<u32> = std::fs::read_dir(root.path("proc"))
            .map(|entries| {
                entries
                    .filter_map(|entry| entry.ok()?.file_name().to_str()?.parse().ok())
                    .collect()
            })
            .unwrap_or_default();
        pids.sort_unstable();
        let mut small = VecDeque::new();
        let mut large = VecDeque::new();
        for pid in pids {
            let progress = Progress { pid, next_fd: 0 };
            if fd_count(root, pid) > LARGE_FD_TABLE {
                large.push_back(progress);
            } else {
                small.push_back(progress);
            }
        }
        Self {
            sought,
            small,
            large,
        }
    }

    /// Reads on until every inode of `wanted` has a holder in `found`, the
    /// processes are all read, or `spend` runs out.
    pub(crate) fn run(
        &mut self,
        root: &HostRoot,
        wanted: &HashSet<u64>,
        found: &mut HashMap<u64, Holder>,
        spend: &mut Spend,
    ) -> Outcome {
        let mut search = Search {
            wanted,
            found,
            spend,
        };
        if search.done() {
            return Outcome::AllFound;
        }
        while let Some(progress) = self.small.front_mut() {
            let step = match Process::open(root, *progress) {
                Some(mut process) => search.take(&mut process, progress, usize::MAX),
                None => Step::Exhausted,
            };
            match step {
                Step::Exhausted | Step::More => {
                    self.small.pop_front();
                }
                Step::AllFound => return Outcome::AllFound,
                Step::OutOfBudget => return Outcome::OutOfBudget,
            }
        }
        loop {
            let group = self.large.len().min(OPEN_AT_ONCE);
            if group == 0 {
                return Outcome::Finished;
            }
            let mut exhausted = vec![false; group];
            let mut open: Vec<(usize, Process)> = Vec::with_capacity(group);
            for (index, progress) in self.large.iter().take(group).enumerate() {
                match Process::open(root, *progress) {
                    Some(process) => open.push((index, process)),
                    None => exhausted[index] = true,
                }
            }
            let mut stopped = None;
            'turns: while !open.is_empty() {
                let mut at = 0;
                while let Some((index, process)) = open.get_mut(at) {
                    let Some(progress) = self.large.get_mut(*index) else {
                        break 'turns;
                    };
                    match search.take(process, progress, TURN) {
                        Step::More => at += 1,
                        Step::Exhausted => {
                            exhausted[*index] = true;
                            open.remove(at);
                        }
                        Step::AllFound => return Outcome::AllFound,
                        Step::OutOfBudget => {
                            stopped = Some(Outcome::OutOfBudget);
                            break 'turns;
                        }
                    }
                }
            }
            drop(open);
            let mut index = 0;
            self.large.retain(|_| {
                let keep = exhausted.get(index).is_none_or(|done| !done);
                index += 1;
                keep
            });
            if let Some(outcome) = stopped {
                return outcome;
            }
        }
    }
}

/// How one process's turn ended.
enum Step {
    /// The turn's descriptors were read; the process has more.
    More,
    /// The process has no more descriptors.
    Exhausted,
    /// Every inode searched for has a holder.
    AllFound,
    /// The budget ran out before the turn did.
    OutOfBudget,
}

/// The inodes searched for in one inventory and the holders found.
struct Search<'a> {
    wanted: &'a HashSet<u64>,
    found: &'a mut HashMap<u64, Holder>,
    spend: &'a mut Spend,
}

impl Search<'_> {
    /// Whether every wanted inode has a holder.
    fn done(&self) -> bool {
        self.wanted
            .iter()
            .all(|inode| self.found.contains_key(inode))
    }

    /// Reads up to `limit` descriptors of `process` from
    /// `progress.next_fd` on (lower ones were read in an earlier turn).
    fn take(&mut self, process: &mut Process, progress: &mut Progress, limit: usize) -> Step {
        let mut read = 0;
        while read < limit {
            let Some(fd) = process.next_descriptor() else {
                return Step::Exhausted;
            };
            if fd < progress.next_fd {
                continue;
            }
            if !self.spend.one() {
                return Step::OutOfBudget;
            }
            read += 1;
            progress.next_fd = fd.saturating_add(1);
            let Some(inode) = process.socket_inode(fd) else {
                continue;
            };
            if self.wanted.contains(&inode) && !self.found.contains_key(&inode) {
                self.found.insert(
                    inode,
                    Holder {
                        pid: process.pid,
                        fd,
                    },
                );
                if self.done() {
                    return Step::AllFound;
                }
            }
        }
        Step::More
    }
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

/// One process's fd directory, open (one descriptor) and read lowest
/// descriptor first.
struct Process {
    pid: u32,
    dir: Dir,
    /// On a fixture root, the descriptor numbers sorted (a filesystem lists
    /// them in its own order); the kernel lists them in ascending order and
    /// is read as it goes.
    sorted: Option<std::vec::IntoIter<u32>>,
}

impl Process {
    /// Opens the fd directory of `progress.pid` where `progress` left it;
    /// `None` if unreadable. The kernel numbers the positions in an fd
    /// directory descriptor + 2 (after `.` and `..`), so a pass carried over
    /// seeks straight to its next descriptor rather than listing the ones
    /// it read (which costs the kernel a dentry each); the lower numbers
    /// are skipped in `Search::take` whatever the seek did.
    fn open(root: &HostRoot, progress: Progress) -> Option<Self> {
        let path = root.path(&format!("proc/{}/fd", progress.pid));
        let mut dir = open_dir(&path)?;
        let sorted = if root.is_live() {
            // A failed seek leaves the stream unusable: start over.
            if progress.next_fd > 0 && dir.seek(i64::from(progress.next_fd) + 2).is_err() {
                dir = open_dir(&path)?;
            }
            None
        } else {
            let mut numbers = Vec::new();
            while let Some(Ok(entry)) = dir.read() {
                numbers.extend(descriptor_number(entry.file_name().to_bytes()));
            }
            numbers.sort_unstable();
            Some(numbers.into_iter())
        };
        Some(Self {
            pid: progress.pid,
            dir,
            sorted,
        })
    }

    /// The next descriptor number, `None` at the end (or on an error).
    fn next_descriptor(&mut self) -> Option<u32> {
        if let Some(sorted) = &mut self.sorted {
            return sorted.next();
        }
        loop {
            let entry = self.dir.read()?.ok()?;
            if let Some(fd) = descriptor_number(entry.file_name().to_bytes()) {
                return Some(fd);
            }
        }
    }

    /// The socket inode descriptor `fd` refers to, if it is a socket.
    fn socket_inode(&self, fd: u32) -> Option<u64> {
        let dir = self.dir.fd().ok()?;
        let mut link = [0u8; LINK_BUFFER];
        let length = rustix::fs::readlinkat_raw(dir, fd.to_string().as_str(), &mut link).ok()?;
        socket_inode(link.get(..length)?)
    }
}

/// Opens a directory stream (one descriptor).
fn open_dir(path: &std::path::Path) -> Option<Dir> {
    let fd = rustix::fs::openat(
        CWD,
        path,
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .ok()?;
    Dir::new(fd).ok()
}

/// A descriptor number from an fd directory entry name (`.` and `..` are
/// none).
fn descriptor_number(name: &[u8]) -> Option<u32> {
    std::str::from_utf8(name).ok()?.parse().ok()
}

/// The inode of a `socket:[inode]` link target.
pub(crate) fn socket_inode(target: &[u8]) -> Option<u64> {
    let digits = target.strip_prefix(b"socket:[")?.strip_suffix(b"]")?;
    std::str::from_utf8(digits).ok()?.parse().ok()
}
