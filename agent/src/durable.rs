//! What the agent keeps on disk between runs besides the spool: the
//! sequence-number reservation and the inventory baseline that deltas are
//! computed against.

use std::path::{Path, PathBuf};

use prost::Message;
use rollcall_proto::v1::Inventory;
use serde::{Deserialize, Serialize};

use crate::error::Result;

/// Sequence numbers are reserved on disk in blocks of this size, so a
/// restart never reuses one without writing to disk for every message.
const RESERVATION: u64 = 10_000;

#[derive(Debug, Default, Serialize, Deserialize)]
struct Persisted {
    seq_reserved: u64,
}

/// Hands out strictly increasing sequence numbers across restarts.
#[derive(Debug)]
pub struct SequenceAllocator {
    path: PathBuf,
    next: u64,
    reserved: u64,
}

fn write_atomically(path: &Path, bytes: &[u8]) -> Result<()> {
    Ok(crate::files::write_private(path, bytes)?)
}

impl SequenceAllocator {
    /// Loads the reservation from `state_dir/seq.json`; starts past it.
    pub fn open(state_dir: &Path) -> Result<Self> {
        let path = state_dir.join("seq.json");
        let persisted: Persisted = std::fs::read_to_string(&path)
            .ok()
            .and_then(|text| serde_json::from_str(&text).ok())
            .unwrap_or_default();
        let mut allocator = SequenceAllocator {
            path,
            next: persisted.seq_reserved + 1,
            reserved: persisted.seq_reserved,
        };
        allocator.reserve()?;
        Ok(allocator)
    }

    fn reserve(&mut self) -> Result<()> {
        self.reserved = self.next + RESERVATION;
        let json = serde_json::to_vec(&Persisted {
            seq_reserved: self.reserved,
        })
        .unwrap_or_default();
        write_atomically(&self.path, &json)
    }

    /// The next sequence number.
    pub fn allocate(&mut self) -> Result<u64> {
        if self.next >= self.reserved {
            self.reserve()?;
        }
        let seq = self.next;
        self.next += 1;
        Ok(seq)
    }

    /// Makes sure future numbers are above `seq` (e.g. the collector's last applied).
    pub fn advance_past(&mut self, seq: u64) -> Result<()> {
        if seq >= self.next {
            self.next = seq + 1;
            if self.next >= self.reserved {
                self.reserve()?;
            }
        }
        Ok(())
    }
}

/// Loads the inventory last handed to the spool, if any.
pub fn load_baseline(state_dir: &Path) -> Option<Inventory> {
    let bytes = std::fs::read(state_dir.join("inventory.pb")).ok()?;
    match Inventory::decode(bytes.as_slice()) {
        Ok(inventory) => Some(inventory),
        Err(error) => {
            tracing::warn!(error = %error, "inventory baseline is damaged; the next inventory will be a full snapshot");
            None
        }
    }
}

/// Stores the inventory last handed to the spool.
pub fn save_baseline(state_dir: &Path, inventory: &Inventory) -> Result<()> {
    write_atomically(&state_dir.join("inventory.pb"), &inventory.encode_to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sequence_numbers_never_repeat_across_restarts() {
        let dir = tempfile::tempdir().unwrap();
        let mut first = SequenceAllocator::open(dir.path()).unwrap();
        let a = first.allocate().unwrap();
        let b = first.allocate().unwrap();
        assert!(b > a);
        drop(first);
        let mut second = SequenceAllocator::open(dir.path()).unwrap();
        assert!(second.allocate().unwrap() > b);
        second.advance_past(1_000_000).unwrap();
        assert_eq!(second.allocate().unwrap(), 1_000_001);
        drop(second);
        let mut third = SequenceAllocator::open(dir.path()).unwrap();
        assert!(third.allocate().unwrap() > 1_000_001);
    }
}
