//! A partition's consume queue: one 20-byte entry per batch, in offset order, pointing
//! into the commit log (RocketMQ's ConsumeQueue, with a base offset where RocketMQ keeps
//! a tag hash). Stored in preallocated mapped files of a fixed number of entries, named
//! by the index of their first entry.
//!
//! Entry: commit-log position of the batch (u64), batch size (u32), base offset (i64),
//! big-endian. A queue is derived data: after a crash it is rebuilt from the commit log.

use std::collections::VecDeque;
use std::fs;
use std::path::{Path, PathBuf};

use super::mapped::{self, MappedFile};
use crate::error::{Error, Result};

/// Size of one consume queue entry.
pub const QUEUE_ENTRY: usize = 20;

/// An entry of a consume queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QueueEntry {
    /// Position of the batch in the commit log.
    pub position: u64,
    /// Size of the batch.
    pub size: u32,
    /// Offset of the batch's first record.
    pub base_offset: i64,
}

impl QueueEntry {
    /// The 20 bytes stored for this entry.
    pub fn encode(&self) -> [u8; QUEUE_ENTRY] {
        let mut b = [0u8; QUEUE_ENTRY];
        b[..8].copy_from_slice(&self.position.to_be_bytes());
        b[8..12].copy_from_slice(&self.size.to_be_bytes());
        b[12..].copy_from_slice(&self.base_offset.to_be_bytes());
        b
    }

    /// Decodes an entry from its 20 bytes.
    pub fn decode(b: &[u8; QUEUE_ENTRY]) -> QueueEntry {
        let mut position = [0u8; 8];
        position.copy_from_slice(&b[..8]);
        let mut base = [0u8; 8];
        base.copy_from_slice(&b[12..]);
        QueueEntry {
            position: u64::from_be_bytes(position),
            size: u32::from_be_bytes([b[8], b[9], b[10], b[11]]),
            base_offset: i64::from_be_bytes(base),
        }
    }
}

pub(crate) struct ConsumeQueue {
    dir: PathBuf,
    files: VecDeque<MappedFile>,
    per_file: u64,
    /// Index the next entry gets.
    count: u64,
    /// First entry whose batch retention kept.
    first: u64,
}

impl ConsumeQueue {
    /// A new, empty queue in `dir` (any old files removed).
    pub(crate) fn create(dir: &Path, per_file: u64) -> Result<ConsumeQueue> {
        if dir.exists() {
            fs::remove_dir_all(dir).map_err(Error::io("remove", dir))?;
        }
        fs::create_dir_all(dir).map_err(Error::io("create directory", dir))?;
        Ok(ConsumeQueue {
            dir: dir.to_owned(),
            files: VecDeque::new(),
            per_file,
            count: 0,
            first: 0,
        })
    }

    /// Opens a queue a clean shutdown left with `count` entries.
    pub(crate) fn open(dir: &Path, per_file: u64, count: u64) -> Result<ConsumeQueue> {
        let mut files = VecDeque::new();
        for (start, path) in mapped::list(dir)? {
            if start % per_file != 0
                || files
                    .back()
                    .is_some_and(|f: &MappedFile| f.start + per_file != start)
            {
                return Err(Error::BadFile {
                    file: path,
                    reason: format!("does not follow the queue's files of {per_file} entries"),
                });
            }
            let mut file = MappedFile::open(&path, start, per_file * QUEUE_ENTRY as u64)?;
            let used = count.saturating_sub(start).min(per_file) as usize * QUEUE_ENTRY;
            file.map.commit(used);
            files.push_back(file);
        }
        let first = files.front().map_or(count, |f| f.start);
        let covers = files.back().map_or(count == first, |f| {
            f.start + per_file >= count && f.start <= count
        });
        if !covers {
            return Err(Error::BadFile {
                file: dir.to_owned(),
                reason: format!(
                    "queue files do not hold the {count} entries the shutdown recorded"
                ),
            });
        }
        Ok(ConsumeQueue {
            dir: dir.to_owned(),
            files,
            per_file,
            count,
            first,
        })
    }

    /// Index the next entry gets.
    pub(crate) fn count(&self) -> u64 {
        self.count
    }

    /// First live entry index.
    pub(crate) fn first(&self) -> u64 {
        self.first
    }

    fn file_of(&self, index: u64) -> Option<&MappedFile> {
        self.files.get(self.file_number(index)?)
    }

    /// Which of the files holds entry `index`.
    fn file_number(&self, index: u64) -> Option<usize> {
        let front = self.files.front()?.start;
        Some(((index.checked_sub(front)?) / self.per_file) as usize)
    }

    /// Entry `index`, if live.
    pub(crate) fn get(&self, index: u64) -> Option<QueueEntry> {
        if index < self.first || index >= self.count {
            return None;
        }
        let file = self.file_of(index)?;
        let at = ((index - file.start) as usize) * QUEUE_ENTRY;
        let b = file.map.committed_bytes(at, QUEUE_ENTRY)?;
        Some(QueueEntry::decode(b.try_into().ok()?))
    }

    /// The last live entry whose base offset is at most `offset`.
    pub(crate) fn search(&self, offset: i64) -> Option<u64> {
        let (mut lo, mut hi) = (self.first, self.count);
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            if self.get(mid).is_some_and(|e| e.base_offset <= offset) {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        (lo > self.first).then(|| lo - 1)
    }

    /// Allocates queue files so that `more` entries fit, before anything is written: a
    /// full disk fails here, while the append can still be refused whole.
    pub(crate) fn reserve(&mut self, more: u64) -> Result<()> {
        let need = self.count + more;
        loop {
            let end = self
                .files
                .back()
                .map_or(self.count - self.count % self.per_file, |f| {
                    f.start + self.per_file
                });
            if end >= need && !self.files.is_empty() {
                return Ok(());
            }
            let file =
                MappedFile::create(&self.dir, end, self.per_file * QUEUE_ENTRY as u64, false)?;
            self.files.push_back(file);
        }
    }

    /// Appends entries; [`ConsumeQueue::reserve`] must have made room. All are written
    /// before any is committed, so a failed write (a full copy-on-write filesystem)
    /// leaves the queue as it was.
    pub(crate) fn push_all(&mut self, entries: &[QueueEntry]) -> Result<()> {
        self.stage(entries)?;
        self.publish(entries.len() as u64);
        Ok(())
    }

    /// Writes entries after the last without making them visible: [`ConsumeQueue::get`]
    /// and [`ConsumeQueue::count`] do not see them until [`ConsumeQueue::publish`]. A
    /// failure leaves the queue as it was.
    pub(crate) fn stage(&mut self, entries: &[QueueEntry]) -> Result<()> {
        for (i, entry) in entries.iter().enumerate() {
            let (file, at) = self.slot(self.count + i as u64)?;
            file.map
                .write_at(at, &entry.encode())
                .map_err(Error::io("write", &file.path))?;
        }
        Ok(())
    }

    /// Makes the next `n` entries [`ConsumeQueue::stage`] wrote part of the queue. It
    /// cannot fail: staging found their slots.
    pub(crate) fn publish(&mut self, n: u64) {
        for i in 0..n {
            if let Ok((file, at)) = self.slot(self.count + i) {
                file.map.commit(at + QUEUE_ENTRY);
            }
        }
        self.count += n;
    }

    /// The file and byte position of entry `index`, in room made by `reserve`.
    fn slot(&mut self, index: u64) -> Result<(&mut MappedFile, usize)> {
        let dir = self.dir.clone();
        let file = self
            .file_number(index)
            .and_then(|n| self.files.get_mut(n))
            .ok_or_else(|| Error::BadFile {
                file: dir,
                reason: format!("no room reserved for entry {index}"),
            })?;
        let at = ((index - file.start) as usize) * QUEUE_ENTRY;
        Ok((file, at))
    }

    /// Retention: entries whose batch lies below commit-log position `min_position` are
    /// dropped; files holding only such entries are deleted.
    pub(crate) fn drop_below(&mut self, min_position: u64) -> Result<()> {
        while self
            .get(self.first)
            .is_some_and(|e| e.position < min_position)
        {
            self.first += 1;
        }
        while self.files.len() > 1 && self.files.get(1).is_some_and(|f| f.start <= self.first) {
            let file = self.files.pop_front().expect("more than one file");
            file.delete()?;
        }
        Ok(())
    }

    /// fsync(2) of every file.
    pub(crate) fn sync(&self) -> Result<()> {
        self.files.iter().try_for_each(MappedFile::sync)
    }

    /// Sets the first live entry (after a clean open, from the commit log's start).
    pub(crate) fn set_first(&mut self, first: u64) {
        self.first = first.clamp(
            self.files.front().map_or(self.count, |f| f.start),
            self.count,
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_entry_round_trips_big_endian() {
        let e = QueueEntry {
            position: 0x0102_0304_0506_0708,
            size: 0x090a_0b0c,
            base_offset: 42,
        };
        let b = e.encode();
        assert_eq!(&b[..12], &[1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]);
        assert_eq!(QueueEntry::decode(&b), e);
    }

    #[test]
    fn entries_span_files_and_survive_a_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let qdir = dir.path().join("q");
        let mut q = ConsumeQueue::create(&qdir, 3).unwrap();
        q.reserve(7).unwrap();
        // Pushed in pieces that cross file boundaries.
        let entries: Vec<QueueEntry> = (0..7u64)
            .map(|i| QueueEntry {
                position: i * 100,
                size: 50,
                base_offset: i as i64 * 10,
            })
            .collect();
        q.push_all(&entries[..2]).unwrap();
        q.push_all(&entries[2..7]).unwrap();
        assert_eq!(q.search(35), Some(3));
        assert_eq!(q.search(-1), None);
        q.drop_below(350).unwrap();
        assert_eq!((q.first(), q.files.len()), (4, 2));
        drop(q);
        let mut q = ConsumeQueue::open(&qdir, 3, 7).unwrap();
        q.set_first(4);
        assert_eq!(q.get(6).unwrap().base_offset, 60);
        assert_eq!(q.get(3), None);
    }
}
