//! The sparse offset index (`.index`): one 8-byte entry per 4 KiB of log, mapping a
//! batch's last offset to its position, so a read finds its batch after a binary search
//! and a scan of at most a few KiB. Also the mapped, preallocated index file both
//! indexes are kept in.
//!
//! Entry: offset relative to the segment's base offset (u32), position in the `.log`
//! (u32), both big-endian, as in Kafka. While its segment is active the file is mapped
//! and allocated ahead of its entries, in steps that double from [`INDEX_STEP`] up to its
//! maximum size, so a nearly empty partition costs kilobytes, not the maximum; every
//! byte is allocated (fallocate) before it is mapped, so a full disk fails the step (the
//! entry is left out, as the index is sparse) and never faults through the mapping. On
//! roll and on close the file is trimmed to the entries written, so an index's length
//! always says how many entries it has.

use std::fs::{File, OpenOptions};
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::files;
use crate::sys::mmap::MapMut;

/// Size of one offset index entry.
pub const OFFSET_INDEX_ENTRY: usize = 8;

/// An entry of the offset index.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OffsetEntry {
    /// Last offset of the indexed batch, relative to the segment's base offset.
    pub relative_offset: u32,
    /// Position of that batch in the segment's `.log`.
    pub position: u32,
}

impl OffsetEntry {
    /// The 8 bytes stored for this entry.
    pub fn encode(&self) -> [u8; OFFSET_INDEX_ENTRY] {
        let mut b = [0u8; OFFSET_INDEX_ENTRY];
        b[..4].copy_from_slice(&self.relative_offset.to_be_bytes());
        b[4..].copy_from_slice(&self.position.to_be_bytes());
        b
    }

    /// Decodes an entry from its 8 bytes.
    pub fn decode(b: &[u8; OFFSET_INDEX_ENTRY]) -> OffsetEntry {
        OffsetEntry {
            relative_offset: u32::from_be_bytes([b[0], b[1], b[2], b[3]]),
            position: u32::from_be_bytes([b[4], b[5], b[6], b[7]]),
        }
    }
}

/// Bytes an active index is first allocated; each step after doubles it.
pub const INDEX_STEP: u64 = 64 << 10;

/// A file of fixed-size entries, mapped while it is written.
pub(crate) struct IndexFile {
    path: PathBuf,
    file: File,
    map: Option<MapMut>,
    entry: usize,
    entries: usize,
    /// The most the file may grow to while writable (whole entries); 0 when read-only.
    max_bytes: u64,
}

impl IndexFile {
    /// Opens an existing index read-only. `None` if it is missing; an error names a
    /// length that is not a whole number of entries.
    pub(crate) fn open(path: &Path, entry: usize) -> Result<Option<IndexFile>> {
        let file = match OpenOptions::new().read(true).write(true).open(path) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(Error::io("open", path)(e)),
        };
        let len = file.metadata().map_err(Error::io("stat", path))?.len();
        if len % entry as u64 != 0 || len > u32::MAX as u64 {
            return Err(Error::BadFile {
                file: path.to_owned(),
                reason: format!("length {len} is not a whole number of {entry}-byte entries"),
            });
        }
        let entries = (len / entry as u64) as usize;
        let map = match len {
            0 => None,
            _ => Some(
                MapMut::new(&file, len as usize, len as usize).map_err(Error::io("mmap", path))?,
            ),
        };
        Ok(Some(IndexFile {
            path: path.to_owned(),
            file,
            map,
            entry,
            entries,
            max_bytes: 0,
        }))
    }

    /// Creates an empty index, replacing any file at `path`.
    pub(crate) fn create(path: &Path, entry: usize) -> Result<IndexFile> {
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .open(path)
            .map_err(Error::io("create", path))?;
        Ok(IndexFile {
            path: path.to_owned(),
            file,
            map: None,
            entry,
            entries: 0,
            max_bytes: 0,
        })
    }

    /// Makes the index writable up to `max_bytes` (rounded down to whole entries):
    /// allocates and maps its first step past the entries it has, ready for
    /// [`IndexFile::push`], which grows it further.
    pub(crate) fn make_writable(&mut self, max_bytes: u64) -> Result<()> {
        self.max_bytes = max_bytes - max_bytes % self.entry as u64;
        let used = (self.entries * self.entry) as u64;
        let first = (used + INDEX_STEP).min(self.max_bytes);
        if first <= used {
            return Ok(());
        }
        self.grow_to(first)
    }

    /// Allocates the file to `len` bytes and maps all of it. The new mapping is made
    /// before the old one is dropped, so a failure leaves the index as it was.
    fn grow_to(&mut self, len: u64) -> Result<()> {
        let len = len - len % self.entry as u64;
        files::allocate(&self.file, &self.path, len)?;
        let used = self.entries * self.entry;
        let map =
            MapMut::new(&self.file, len as usize, used).map_err(Error::io("mmap", &self.path))?;
        self.map = Some(map);
        Ok(())
    }

    /// Cuts the file to the entries written and maps only those.
    pub(crate) fn trim(&mut self) -> Result<()> {
        let used = self.entries * self.entry;
        if self.map.as_ref().map_or(0, |m| m.len()) == used {
            return Ok(());
        }
        // Unmap before shrinking: a mapping past the end of file would fault.
        self.map = None;
        self.file
            .set_len(used as u64)
            .map_err(Error::io("truncate", &self.path))?;
        if used > 0 {
            self.map =
                Some(MapMut::new(&self.file, used, used).map_err(Error::io("mmap", &self.path))?);
        }
        Ok(())
    }

    /// Stores one entry after the last, growing the file a step if it is full. False
    /// if the index is at its maximum, not writable, or the disk has no room for the
    /// next step.
    pub(crate) fn push(&mut self, bytes: &[u8]) -> bool {
        debug_assert_eq!(bytes.len(), self.entry);
        let at = self.entries * self.entry;
        let mapped = self.map.as_ref().map_or(0, |m| m.len());
        if at + bytes.len() > mapped {
            let next = (mapped as u64 * 2).max(INDEX_STEP).min(self.max_bytes);
            if next < (at + bytes.len()) as u64 || self.grow_to(next).is_err() {
                return false;
            }
        }
        let Some(map) = &mut self.map else {
            return false;
        };
        // An entry that cannot be written (a full copy-on-write filesystem) is left
        // out: the index is sparse, and lookups scan on from the entry before.
        if map.write_at(at, bytes).is_err() {
            return false;
        }
        map.commit(at + bytes.len());
        self.entries += 1;
        true
    }

    /// Number of entries.
    pub(crate) fn len(&self) -> usize {
        self.entries
    }

    /// The bytes of entry `i`.
    pub(crate) fn get(&self, i: usize) -> Option<&[u8]> {
        if i >= self.entries {
            return None;
        }
        self.map
            .as_ref()?
            .committed_bytes(i * self.entry, self.entry)
    }

    /// The index of the last entry for which `below(entry)` holds, where `below` is true
    /// for a prefix of the entries (they are sorted). Binary search.
    pub(crate) fn last_where(&self, below: impl Fn(&[u8]) -> bool) -> Option<usize> {
        let (mut lo, mut hi) = (0usize, self.entries);
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            if self.get(mid).is_some_and(&below) {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        lo.checked_sub(1)
    }

    /// fsync(2): the entries are on disk.
    pub(crate) fn sync(&self) -> Result<()> {
        self.file
            .sync_data()
            .map_err(Error::io("fsync", &self.path))
    }

    /// The file's path.
    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    /// The open file, for a flush on another thread.
    pub(crate) fn file(&self) -> &File {
        &self.file
    }
}

/// The offset index of one segment.
pub(crate) struct OffsetIndex {
    pub(crate) file: IndexFile,
}

impl OffsetIndex {
    /// Entry `i`.
    pub(crate) fn entry(&self, i: usize) -> Option<OffsetEntry> {
        let b = self.file.get(i)?;
        Some(OffsetEntry::decode(b.try_into().ok()?))
    }

    /// The last entry.
    pub(crate) fn last(&self) -> Option<OffsetEntry> {
        self.entry(self.file.len().checked_sub(1)?)
    }

    /// The last entry whose relative offset is at most `relative`, with its number: the
    /// batch holding that offset starts at or after its position.
    pub(crate) fn lookup(&self, relative: u32) -> Option<(usize, OffsetEntry)> {
        let i = self.file.last_where(|b| {
            b.try_into()
                .is_ok_and(|b| OffsetEntry::decode(b).relative_offset <= relative)
        })?;
        Some((i, self.entry(i)?))
    }

    /// The last entry at or before log position `position`, with its number.
    pub(crate) fn lookup_position(&self, position: u32) -> Option<(usize, OffsetEntry)> {
        let i = self.file.last_where(|b| {
            b.try_into()
                .is_ok_and(|b| OffsetEntry::decode(b).position <= position)
        })?;
        Some((i, self.entry(i)?))
    }

    /// Appends an entry.
    pub(crate) fn push(&mut self, entry: OffsetEntry) -> bool {
        self.file.push(&entry.encode())
    }

    /// Checks that entries rise strictly in offset and position and point inside a log
    /// of `log_size` bytes. A failure means the index must be rebuilt.
    pub(crate) fn check(&self, log_size: u64) -> std::result::Result<(), String> {
        let mut prev: Option<OffsetEntry> = None;
        for i in 0..self.file.len() {
            let Some(e) = self.entry(i) else {
                return Err(format!("entry {i} cannot be read"));
            };
            if u64::from(e.position) >= log_size {
                return Err(format!(
                    "entry {i} points at byte {}, past the log's {log_size} bytes",
                    e.position
                ));
            }
            // The first entry is made after 4 KiB of log, so position 0 never appears:
            // an all-zero entry is damage, not data.
            let rises = match prev {
                None => e.position > 0,
                Some(p) => e.relative_offset > p.relative_offset && e.position > p.position,
            };
            if !rises {
                return Err(format!(
                    "entry {i} ({e:?}) does not rise above the one before"
                ));
            }
            prev = Some(e);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_entry_round_trips_big_endian() {
        let e = OffsetEntry {
            relative_offset: 0x0102_0304,
            position: 0x0a0b_0c0d,
        };
        assert_eq!(e.encode(), [1, 2, 3, 4, 10, 11, 12, 13]);
        assert_eq!(OffsetEntry::decode(&e.encode()), e);
    }

    #[test]
    fn lookups_find_the_last_entry_at_or_below_and_trim_keeps_the_entries() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("0.index");
        let mut index = OffsetIndex {
            file: IndexFile::create(&path, OFFSET_INDEX_ENTRY).unwrap(),
        };
        index.file.make_writable(4 * 8 + 5).unwrap();
        for (o, p) in [(10, 4096), (20, 8200), (30, 12300), (40, 16400)] {
            assert!(index.push(OffsetEntry {
                relative_offset: o,
                position: p
            }));
        }
        assert!(!index.push(OffsetEntry {
            relative_offset: 50,
            position: 20000
        }));
        assert_eq!(index.lookup(5), None);
        assert_eq!(index.lookup(25).unwrap().1.relative_offset, 20);
        assert_eq!(index.lookup(40).unwrap().1.relative_offset, 40);
        assert_eq!(index.lookup_position(12299).unwrap().1.position, 8200);
        index.file.trim().unwrap();
        drop(index);
        let reopened = OffsetIndex {
            file: IndexFile::open(&path, OFFSET_INDEX_ENTRY).unwrap().unwrap(),
        };
        assert_eq!(reopened.file.len(), 4);
        assert_eq!(reopened.check(20000), Ok(()));
        assert!(reopened.check(16000).is_err());
    }

    #[test]
    fn a_zeroed_index_fails_its_check() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("0.index");
        std::fs::write(&path, [0u8; 64]).unwrap();
        let index = OffsetIndex {
            file: IndexFile::open(&path, OFFSET_INDEX_ENTRY).unwrap().unwrap(),
        };
        assert!(index.check(1 << 20).is_err());
        std::fs::write(&path, [0u8; 63]).unwrap();
        assert!(IndexFile::open(&path, OFFSET_INDEX_ENTRY).is_err());
    }
}
