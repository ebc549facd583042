//! The time index (`.timeindex`): 12-byte entries mapping the largest timestamp seen so
//! far to the offset of the batch that carried it, written beside offset index entries
//! when the timestamp grew, and once more when the segment rolls. A lookup by timestamp
//! starts its scan from the last entry below the target.
//!
//! Entry: timestamp (i64, ms) and offset relative to the segment's base (u32),
//! big-endian, as in Kafka.

use super::index::IndexFile;

/// Size of one time index entry.
pub const TIME_INDEX_ENTRY: usize = 12;

/// An entry of the time index.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimeEntry {
    /// Largest timestamp of the segment up to and including the batch at `relative_offset`.
    pub timestamp: i64,
    /// Base offset of the batch that carried it, relative to the segment's base offset.
    pub relative_offset: u32,
}

impl TimeEntry {
    /// The 12 bytes stored for this entry.
    pub fn encode(&self) -> [u8; TIME_INDEX_ENTRY] {
        let mut b = [0u8; TIME_INDEX_ENTRY];
        b[..8].copy_from_slice(&self.timestamp.to_be_bytes());
        b[8..].copy_from_slice(&self.relative_offset.to_be_bytes());
        b
    }

    /// Decodes an entry from its 12 bytes.
    pub fn decode(b: &[u8; TIME_INDEX_ENTRY]) -> TimeEntry {
        let mut ts = [0u8; 8];
        ts.copy_from_slice(&b[..8]);
        TimeEntry {
            timestamp: i64::from_be_bytes(ts),
            relative_offset: u32::from_be_bytes([b[8], b[9], b[10], b[11]]),
        }
    }
}

/// The time index of one segment.
pub(crate) struct TimeIndex {
    pub(crate) file: IndexFile,
}

impl TimeIndex {
    /// Entry `i`.
    pub(crate) fn entry(&self, i: usize) -> Option<TimeEntry> {
        let b = self.file.get(i)?;
        Some(TimeEntry::decode(b.try_into().ok()?))
    }

    /// The last entry.
    pub(crate) fn last(&self) -> Option<TimeEntry> {
        self.entry(self.file.len().checked_sub(1)?)
    }

    /// Appends an entry if its timestamp is larger than the last one's. False only if the
    /// index is full.
    pub(crate) fn maybe_push(&mut self, entry: TimeEntry) -> bool {
        if self
            .last()
            .is_some_and(|last| last.timestamp >= entry.timestamp)
        {
            return true;
        }
        self.file.push(&entry.encode())
    }

    /// The last entry whose timestamp is below `timestamp`, with its number: every batch
    /// before its offset has smaller timestamps, so a search for `timestamp` may start
    /// there.
    pub(crate) fn lookup_below(&self, timestamp: i64) -> Option<(usize, TimeEntry)> {
        let i = self.file.last_where(|b| {
            b.try_into()
                .is_ok_and(|b| TimeEntry::decode(b).timestamp < timestamp)
        })?;
        Some((i, self.entry(i)?))
    }

    /// Checks that timestamps rise strictly and offsets do not fall, and that offsets lie
    /// below `next_relative`. A failure means the index must be rebuilt.
    pub(crate) fn check(&self, next_relative: u64) -> std::result::Result<(), String> {
        let mut prev: Option<TimeEntry> = None;
        for i in 0..self.file.len() {
            let Some(e) = self.entry(i) else {
                return Err(format!("entry {i} cannot be read"));
            };
            if u64::from(e.relative_offset) >= next_relative {
                return Err(format!(
                    "entry {i} names offset {} past the segment",
                    e.relative_offset
                ));
            }
            if prev.is_some_and(|p| {
                e.timestamp <= p.timestamp || e.relative_offset < p.relative_offset
            }) {
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
        let e = TimeEntry {
            timestamp: 0x0102_0304_0506_0708,
            relative_offset: 9,
        };
        assert_eq!(e.encode(), [1, 2, 3, 4, 5, 6, 7, 8, 0, 0, 0, 9]);
        assert_eq!(TimeEntry::decode(&e.encode()), e);
    }

    #[test]
    fn only_rising_timestamps_are_kept_and_lookup_finds_the_last_below() {
        let dir = tempfile::tempdir().unwrap();
        let mut index = TimeIndex {
            file: IndexFile::create(&dir.path().join("0.timeindex"), TIME_INDEX_ENTRY).unwrap(),
        };
        index.file.make_writable(1024).unwrap();
        for (ts, o) in [(100, 0), (100, 5), (90, 6), (200, 7), (300, 9)] {
            assert!(index.maybe_push(TimeEntry {
                timestamp: ts,
                relative_offset: o
            }));
        }
        assert_eq!(index.file.len(), 3);
        assert_eq!(index.lookup_below(100), None);
        assert_eq!(index.lookup_below(250).unwrap().1.relative_offset, 7);
        assert_eq!(index.check(10), Ok(()));
        assert!(index.check(9).is_err());
    }
}
