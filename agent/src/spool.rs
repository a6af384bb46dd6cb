//! The on-disk spool: every sequenced message waits here until the
//! collector acknowledges it, survives agent restarts, and is replayed in
//! order after a reconnect. Bounded in size: the oldest health samples go
//! first; inventory is never dropped silently (dropping it forces the next
//! inventory to be a full snapshot). A damaged file is set aside and
//! reported, never fatal.
//!
//! File format: `RCSPOOL1`, then records `len u32 | seq u64 | kind u8 |
//! crc32 u32 | payload`, little-endian; the CRC covers seq, kind and payload.

use std::collections::VecDeque;
use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

const MAGIC: &[u8; 8] = b"RCSPOOL1";
const HEADER: usize = 4 + 8 + 1 + 4;

/// What a spooled message is, for the drop policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A health sample: dropped first when the spool is full.
    Health = 1,
    /// An inventory snapshot or delta: never dropped silently.
    Inventory = 2,
    /// Anything else (check results, goodbye).
    Other = 3,
    /// Marker: inventory was dropped, the next inventory must be full.
    InventoryDropped = 4,
}

impl Kind {
    fn from_byte(byte: u8) -> Option<Kind> {
        match byte {
            1 => Some(Kind::Health),
            2 => Some(Kind::Inventory),
            3 => Some(Kind::Other),
            4 => Some(Kind::InventoryDropped),
            _ => None,
        }
    }
}

/// One spooled message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    /// Its sequence number.
    pub seq: u64,
    /// Its kind.
    pub kind: Kind,
    /// The encoded `AgentMessage`.
    pub payload: Vec<u8>,
}

impl Record {
    fn size(&self) -> u64 {
        (HEADER + self.payload.len()) as u64
    }

    fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&(self.payload.len() as u32).to_le_bytes());
        out.extend_from_slice(&self.seq.to_le_bytes());
        out.push(self.kind as u8);
        out.extend_from_slice(&checksum(self.seq, self.kind as u8, &self.payload).to_le_bytes());
        out.extend_from_slice(&self.payload);
    }
}

fn checksum(seq: u64, kind: u8, payload: &[u8]) -> u32 {
    let mut hasher = crc32fast::Hasher::new();
    hasher.update(&seq.to_le_bytes());
    hasher.update(&[kind]);
    hasher.update(payload);
    hasher.finalize()
}

/// The spool.
#[derive(Debug)]
pub struct Spool {
    path: PathBuf,
    file: File,
    records: VecDeque<Record>,
    bytes: u64,
    max_bytes: u64,
    inventory_dropped: bool,
    /// Health samples dropped because the spool was full, since start.
    pub dropped_health: u64,
}

/// Decodes a spool file; returns the records before the first damage, and
/// a description of the damage if any.
fn decode(bytes: &[u8]) -> (Vec<Record>, Option<String>) {
    if bytes.is_empty() {
        return (Vec::new(), None);
    }
    if bytes.len() < MAGIC.len() || &bytes[..MAGIC.len()] != MAGIC {
        return (Vec::new(), Some("not a spool file (bad header)".into()));
    }
    let mut records = Vec::new();
    let mut offset = MAGIC.len();
    while offset < bytes.len() {
        let Some(header) = bytes.get(offset..offset + HEADER) else {
            return (
                records,
                Some(format!("truncated record header at byte {offset}")),
            );
        };
        let length = u32::from_le_bytes([header[0], header[1], header[2], header[3]]) as usize;
        let mut seq_bytes = [0u8; 8];
        seq_bytes.copy_from_slice(&header[4..12]);
        let seq = u64::from_le_bytes(seq_bytes);
        let kind_byte = header[12];
        let crc = u32::from_le_bytes([header[13], header[14], header[15], header[16]]);
        let Some(payload) = bytes.get(offset + HEADER..offset + HEADER + length) else {
            return (records, Some(format!("truncated record at byte {offset}")));
        };
        let Some(kind) = Kind::from_byte(kind_byte) else {
            return (
                records,
                Some(format!("unknown record kind {kind_byte} at byte {offset}")),
            );
        };
        if checksum(seq, kind_byte, payload) != crc {
            return (records, Some(format!("checksum mismatch at byte {offset}")));
        }
        records.push(Record {
            seq,
            kind,
            payload: payload.to_vec(),
        });
        offset += HEADER + length;
    }
    (records, None)
}

impl Spool {
    /// Opens (or creates) the spool in `dir`. A damaged file is renamed to
    /// `spool.corrupt-<time>`; the intact records before the damage are kept
    /// and the damage is described in the second value.
    pub fn open(dir: &Path, max_bytes: u64) -> Result<(Spool, Option<String>)> {
        crate::files::private_dir(dir)?;
        let path = dir.join("spool");
        crate::files::tighten(&path, crate::files::FILE_MODE)?;
        let mut contents = Vec::new();
        if path.exists() {
            File::open(&path)?.read_to_end(&mut contents)?;
        }
        let (records, damage) = decode(&contents);
        let report = match damage {
            Some(damage) => {
                let aside = dir.join(format!("spool.corrupt-{}", rollcall_proto::now_ms()));
                std::fs::rename(&path, &aside)?;
                Some(format!(
                    "spool file was damaged ({damage}); kept {} intact messages, moved the file to {}",
                    records.len(),
                    aside.display()
                ))
            }
            None => None,
        };
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .mode(crate::files::FILE_MODE)
            .open(&path)?;
        let mut spool = Spool {
            path,
            file,
            records: VecDeque::new(),
            bytes: 0,
            max_bytes,
            inventory_dropped: false,
            dropped_health: 0,
        };
        for record in records {
            if record.kind == Kind::InventoryDropped {
                spool.inventory_dropped = true;
            } else {
                spool.bytes += record.size();
                spool.records.push_back(record);
            }
        }
        spool.rewrite()?;
        Ok((spool, report))
    }

    /// Number of messages waiting.
    pub fn len(&self) -> usize {
        self.records.len()
    }

    /// Whether nothing waits.
    pub fn is_empty(&self) -> bool {
        self.records.is_empty()
    }

    /// Bytes waiting.
    pub fn bytes(&self) -> u64 {
        self.bytes
    }

    /// The highest spooled sequence number, if any.
    pub fn last_seq(&self) -> Option<u64> {
        self.records.back().map(|record| record.seq)
    }

    /// Messages with a sequence number above `after`, in order.
    pub fn after(&self, after: u64) -> impl Iterator<Item = &Record> {
        self.records.iter().filter(move |record| record.seq > after)
    }

    /// Whether inventory had to be dropped (the next inventory must be full);
    /// clears the flag.
    pub fn take_inventory_dropped(&mut self) -> Result<bool> {
        let dropped = std::mem::take(&mut self.inventory_dropped);
        if dropped {
            self.rewrite()?;
        }
        Ok(dropped)
    }

    /// Appends a message (durably), making room by the drop policy.
    pub fn push(&mut self, seq: u64, kind: Kind, payload: Vec<u8>) -> Result<()> {
        if self.last_seq().is_some_and(|last| seq <= last) {
            return Err(Error::Spool(format!(
                "sequence {seq} is not after the last spooled message"
            )));
        }
        let record = Record { seq, kind, payload };
        self.bytes += record.size();
        self.records.push_back(record.clone());
        if self.bytes > self.max_bytes {
            self.make_room();
            return self.rewrite();
        }
        let mut encoded = Vec::with_capacity(record.payload.len() + HEADER);
        record.encode(&mut encoded);
        self.file.write_all(&encoded)?;
        self.file.sync_data()?;
        Ok(())
    }

    fn make_room(&mut self) {
        for victim in [Kind::Health, Kind::Other, Kind::Inventory] {
            while self.bytes > self.max_bytes {
                // Never drop the newest message: it is the one being added.
                let last = self.records.len().saturating_sub(1);
                let Some(index) = self
                    .records
                    .iter()
                    .take(last)
                    .position(|record| record.kind == victim)
                else {
                    break;
                };
                if let Some(record) = self.records.remove(index) {
                    self.bytes -= record.size();
                    match victim {
                        Kind::Health => self.dropped_health += 1,
                        Kind::Inventory => self.inventory_dropped = true,
                        _ => {}
                    }
                }
            }
        }
        if self.inventory_dropped {
            tracing::warn!(
                "spool full: dropped inventory messages; the next inventory will be a full snapshot"
            );
        }
    }

    /// Drops every message up to and including `seq` (acknowledged).
    pub fn ack(&mut self, seq: u64) -> Result<()> {
        let before = self.records.len();
        while self.records.front().is_some_and(|record| record.seq <= seq) {
            if let Some(record) = self.records.pop_front() {
                self.bytes -= record.size();
            }
        }
        if self.records.len() != before {
            self.rewrite()?;
        }
        Ok(())
    }

    /// Rewrites the file with the waiting records (atomically, by rename).
    fn rewrite(&mut self) -> Result<()> {
        let mut encoded = Vec::with_capacity(self.bytes as usize + MAGIC.len() + HEADER);
        encoded.extend_from_slice(MAGIC);
        for record in &self.records {
            record.encode(&mut encoded);
        }
        if self.inventory_dropped {
            Record {
                seq: 0,
                kind: Kind::InventoryDropped,
                payload: Vec::new(),
            }
            .encode(&mut encoded);
        }
        crate::files::write_private(&self.path, &encoded)?;
        self.file = OpenOptions::new().append(true).open(&self.path)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn survives_reopen_and_acks() {
        let dir = tempfile::tempdir().unwrap();
        let (mut spool, report) = Spool::open(dir.path(), 1 << 20).unwrap();
        assert!(report.is_none());
        for seq in 1..=5 {
            spool.push(seq, Kind::Health, vec![seq as u8; 10]).unwrap();
        }
        spool.ack(2).unwrap();
        drop(spool);
        let (spool, report) = Spool::open(dir.path(), 1 << 20).unwrap();
        assert!(report.is_none());
        let seqs: Vec<u64> = spool.after(0).map(|r| r.seq).collect();
        assert_eq!(seqs, vec![3, 4, 5]);
        assert_eq!(spool.after(4).count(), 1);
    }

    #[test]
    fn full_spool_drops_oldest_health_first_and_flags_inventory() {
        let dir = tempfile::tempdir().unwrap();
        let (mut spool, _) = Spool::open(dir.path(), 200).unwrap();
        spool.push(1, Kind::Inventory, vec![0; 40]).unwrap();
        spool.push(2, Kind::Health, vec![0; 40]).unwrap();
        spool.push(3, Kind::Health, vec![0; 40]).unwrap();
        spool.push(4, Kind::Health, vec![0; 40]).unwrap();
        let seqs: Vec<u64> = spool.after(0).map(|r| r.seq).collect();
        assert_eq!(seqs, vec![1, 3, 4]);
        assert_eq!(spool.dropped_health, 1);
        assert!(!spool.take_inventory_dropped().unwrap());
        spool.push(5, Kind::Inventory, vec![0; 150]).unwrap();
        assert_eq!(spool.after(0).map(|r| r.seq).collect::<Vec<_>>(), vec![5]);
        drop(spool);
        let (mut spool, _) = Spool::open(dir.path(), 200).unwrap();
        assert!(
            spool.take_inventory_dropped().unwrap(),
            "the drop marker survives a restart"
        );
        assert!(!spool.take_inventory_dropped().unwrap());
    }

    #[test]
    fn damaged_file_is_set_aside_keeping_intact_records() {
        let dir = tempfile::tempdir().unwrap();
        let (mut spool, _) = Spool::open(dir.path(), 1 << 20).unwrap();
        spool.push(1, Kind::Health, b"first".to_vec()).unwrap();
        spool.push(2, Kind::Health, b"second".to_vec()).unwrap();
        drop(spool);
        let path = dir.path().join("spool");
        let mut bytes = std::fs::read(&path).unwrap();
        let last = bytes.len() - 1;
        bytes[last] ^= 0xff;
        std::fs::write(&path, &bytes).unwrap();
        let (spool, report) = Spool::open(dir.path(), 1 << 20).unwrap();
        let report = report.unwrap();
        assert!(
            report.contains("checksum mismatch") && report.contains("kept 1"),
            "{report}"
        );
        assert_eq!(
            spool
                .after(0)
                .map(|r| r.payload.clone())
                .collect::<Vec<_>>(),
            vec![b"first".to_vec()]
        );
        let aside = std::fs::read_dir(dir.path())
            .unwrap()
            .filter(|e| {
                e.as_ref()
                    .unwrap()
                    .file_name()
                    .to_string_lossy()
                    .starts_with("spool.corrupt-")
            })
            .count();
        assert_eq!(aside, 1);
    }

    #[test]
    fn garbage_file_is_not_fatal() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("spool"), b"hello world").unwrap();
        let (spool, report) = Spool::open(dir.path(), 1 << 20).unwrap();
        assert!(spool.is_empty());
        assert!(report.unwrap().contains("bad header"));
    }

    #[test]
    fn sequence_must_increase() {
        let dir = tempfile::tempdir().unwrap();
        let (mut spool, _) = Spool::open(dir.path(), 1 << 20).unwrap();
        spool.push(5, Kind::Other, vec![]).unwrap();
        assert!(spool.push(5, Kind::Other, vec![]).is_err());
    }
}
