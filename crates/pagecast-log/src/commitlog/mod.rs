//! The RocketMQ-model engine: one commit log for every partition, in preallocated files
//! mapped with mmap and written by stores into the mapping, and a consume queue per
//! partition that indexes its batches. A read returns mapped slices of the commit log.
//!
//! ```text
//! DIR/
//!   .lock
//!   commitlog/00000000001073741824    files of 1 GiB, named by their first byte's position
//!   consumequeue/orders-0/00000000000000000000   20-byte entries, named by first entry
//!   recovery-point    commit-log position below which everything is on disk
//!   partitions        every partition and its first offset, so an emptied one keeps counting
//!   clean-shutdown    present only between a clean close and the next open
//! ```
//!
//! The next commit-log file is created, allocated and (with warm-up) touched and locked
//! on another thread while the current one fills, as RocketMQ's allocation service does,
//! so appends neither allocate blocks nor take page faults. After a crash the commit log
//! is walked from its start (batches CRC-checked from the file holding the recovery
//! point), the torn tail is zeroed, and every consume queue is rebuilt from it.

mod entry;
mod mapped;
mod queue;

use std::collections::{BTreeMap, VecDeque};
use std::fs::{self, File};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

pub use entry::{
    BLANK_MAGIC, ENTRY_MAGIC, Found, MAX_ENTRY_HEAD, declared_length as decode_entry_length,
    decode as decode_entry,
};
pub use queue::{QUEUE_ENTRY, QueueEntry};

use crate::batch::{self, Header};
use crate::error::{Error, Result};
use crate::sys::mmap::Mapping;
use crate::{
    Appended, Chunk, Fsync, Offsets, PartitionConfig, Progress, Store, TopicPartition, files,
};
use mapped::MappedFile;
use queue::ConsumeQueue;

/// Directory of the commit-log files.
pub const LOG_DIR: &str = "commitlog";
/// Directory of the consume queues.
pub const QUEUE_DIR: &str = "consumequeue";
/// File holding the commit-log position below which everything is on disk.
pub const RECOVERY_POINT_FILE: &str = "recovery-point";
/// File listing partitions and their first offsets.
pub const PARTITIONS_FILE: &str = "partitions";
/// File listing deleted partitions and the commit-log position of their deletion:
/// recovery skips their entries before it, so a deleted partition stays deleted and one
/// created again with the same name starts from offset 0.
pub const DELETED_FILE: &str = "deleted";
/// File whose presence says the store was closed cleanly; it records the log's end and
/// each queue's length.
pub const CLEAN_SHUTDOWN_FILE: &str = "clean-shutdown";

/// Committed bytes of a mapped commit-log file, lent to a reader. The mapping stays
/// valid while this lives, even if retention deletes the file.
#[derive(Clone)]
pub struct MappedBytes {
    map: Arc<Mapping>,
    start: usize,
    len: usize,
}

impl MappedBytes {
    /// The bytes.
    pub fn bytes(&self) -> &[u8] {
        self.map
            .committed_bytes(self.start, self.len)
            .unwrap_or_default()
    }
}

/// Settings of a commit-log store.
#[derive(Clone)]
pub struct Config {
    /// Size of each commit-log file (RocketMQ's `mappedFileSizeCommitLog`, 1 GiB).
    pub file_bytes: u64,
    /// Entries per consume-queue file (RocketMQ's 300 000, 6 MB).
    pub queue_file_entries: u64,
    /// Touch every page of a new file, mlock it where allowed and madvise WILLNEED, so
    /// appends take no page faults (RocketMQ's `warmMapedFileEnable`, off by default).
    pub warm_up: bool,
    /// Delete the oldest commit-log files while the log is larger than this.
    pub retention_bytes: Option<u64>,
    /// Delete commit-log files last written longer ago than this (7 days).
    pub retention_age: Option<Duration>,
    /// When appends are forced to disk (msync).
    pub fsync: Fsync,
    /// Zero damaged data that valid data follows, instead of refusing to open.
    pub repair: bool,
    /// Where recovery reports its progress.
    pub progress: Option<Progress>,
}

impl Default for Config {
    fn default() -> Config {
        Config {
            file_bytes: 1 << 30,
            queue_file_entries: 300_000,
            warm_up: false,
            retention_bytes: None,
            retention_age: Some(Duration::from_secs(7 * 24 * 3600)),
            fsync: Fsync::None,
            repair: false,
            progress: None,
        }
    }
}

struct Partition {
    queue: ConsumeQueue,
    next_offset: i64,
}

/// The commit-log engine.
pub struct CommitLogStore {
    root: PathBuf,
    config: Config,
    /// Never empty; the last one takes appends.
    files: VecDeque<MappedFile>,
    /// Bytes used in the last file.
    write_at: usize,
    partitions: BTreeMap<TopicPartition, Partition>,
    /// Deleted partitions and the log position they were deleted at.
    deleted: BTreeMap<TopicPartition, u64>,
    recovery_point: u64,
    flushed: Arc<AtomicU64>,
    flushers: files::Flushers,
    dirty_since: Option<Instant>,
    next_file: Option<JoinHandle<Result<MappedFile>>>,
    _lock: File,
}

impl CommitLogStore {
    /// Opens the store in `root` (created if missing), recovering it if it was not closed
    /// cleanly. Fails if another process has it open.
    pub fn open(root: impl AsRef<Path>, config: Config) -> Result<CommitLogStore> {
        if config.file_bytes < 4096 || config.file_bytes > (1 << 40) {
            return Err(Error::Config(format!(
                "commit-log file size {} must be between 4 KiB and 1 TiB",
                config.file_bytes
            )));
        }
        if config.queue_file_entries == 0 {
            return Err(Error::Config(
                "a consume-queue file must hold at least one entry".into(),
            ));
        }
        let root = root.as_ref().to_owned();
        let lock = files::lock_dir(&root)?;
        for dir in [LOG_DIR, QUEUE_DIR] {
            fs::create_dir_all(root.join(dir))
                .map_err(Error::io("create directory", root.join(dir)))?;
        }
        let checkpoint =
            files::read_small(&root.join(RECOVERY_POINT_FILE))?.and_then(|s| s.trim().parse().ok());
        let mut store = CommitLogStore {
            root,
            config,
            files: VecDeque::new(),
            write_at: 0,
            partitions: BTreeMap::new(),
            deleted: BTreeMap::new(),
            recovery_point: checkpoint.unwrap_or(0),
            flushed: Arc::new(AtomicU64::new(checkpoint.unwrap_or(0))),
            flushers: files::Flushers::default(),
            dirty_since: None,
            next_file: None,
            _lock: lock,
        };
        store.deleted = store.read_deleted()?;
        let marker = files::read_small(&store.root.join(CLEAN_SHUTDOWN_FILE))?;
        let opened_clean = match marker {
            Some(text) => match store.open_clean(&text) {
                Ok(()) => true,
                Err(why) => {
                    store.report(&format!(
                        "clean shutdown record not usable ({why}); recovering"
                    ));
                    store.files.clear();
                    store.partitions.clear();
                    false
                }
            },
            None => false,
        };
        if !opened_clean {
            store.recover()?;
            store.flush()?;
        }
        files::remove(&store.root.join(CLEAN_SHUTDOWN_FILE))?;
        files::sync_dir(&store.root)?;
        store.prepare_next_file();
        Ok(store)
    }

    fn log_dir(&self) -> PathBuf {
        self.root.join(LOG_DIR)
    }

    fn queue_dir(&self, tp: &TopicPartition) -> PathBuf {
        self.root.join(QUEUE_DIR).join(tp.to_string())
    }

    fn report(&self, line: &str) {
        if let Some(report) = &self.config.progress {
            report(line);
        }
    }

    fn current(&self) -> &MappedFile {
        self.files.back().expect("a commit log always has a file")
    }

    /// Commit-log position the next entry gets.
    fn end(&self) -> u64 {
        self.current().start + self.write_at as u64
    }

    /// Opens the commit-log files. With the `end` a clean shutdown recorded, files past
    /// it are spares made ahead of time and hold nothing, so they are removed.
    fn open_files(&mut self, end: Option<u64>) -> Result<()> {
        let len = self.config.file_bytes;
        for (start, path) in mapped::list(&self.log_dir())? {
            let past_end =
                end.is_some_and(|e| start > e || (start == e && e > 0 && !self.files.is_empty()));
            if start % len != 0 || past_end {
                files::remove(&path)?;
                continue;
            }
            if let Some(prev) = self.files.back()
                && prev.start + len != start
            {
                return Err(Error::Corrupt {
                    file: path,
                    position: 0,
                    reason: format!(
                        "the file before it ends at {}: a commit-log file is missing",
                        prev.start + len
                    ),
                });
            }
            // A file of the wrong length was damaged from outside: a shorter one is
            // extended with zeros (recovery then finds its torn tail), a longer one cut.
            let file = fs::OpenOptions::new()
                .write(true)
                .open(&path)
                .map_err(Error::io("open", &path))?;
            let have = file.metadata().map_err(Error::io("stat", &path))?.len();
            if have != len {
                if end.is_some() {
                    return Err(Error::BadFile {
                        file: path,
                        reason: format!("is {have} bytes long, files of this log are {len}"),
                    });
                }
                if have > len {
                    file.set_len(len).map_err(Error::io("truncate", &path))?;
                }
                files::allocate(&file, &path, len)?;
            }
            self.files.push_back(MappedFile::open(&path, start, len)?);
        }
        if self.files.is_empty() {
            let first = end.map_or(0, |e| e - e % len);
            self.files.push_back(MappedFile::create(
                &self.log_dir(),
                first,
                len,
                self.config.warm_up,
            )?);
        }
        Ok(())
    }

    /// Opens after a clean shutdown, trusting the record of the log's end and the queue
    /// lengths after checking each queue against the log. An error means: recover.
    fn open_clean(&mut self, marker: &str) -> std::result::Result<(), String> {
        let mut lines = marker.lines();
        let end: u64 = lines
            .next()
            .and_then(|l| l.strip_prefix("end "))
            .and_then(|n| n.parse().ok())
            .ok_or("no end position")?;
        self.open_files(Some(end)).map_err(|e| e.to_string())?;
        let first = self.files.front().map(|f| f.start).unwrap_or(0);
        let last = self.current().start;
        if end < last || end > last + self.config.file_bytes {
            return Err(format!("end {end} is outside the last file"));
        }
        self.write_at = (end - last) as usize;
        for f in self.files.iter_mut() {
            f.map.commit(if f.start == last {
                self.write_at
            } else {
                f.map.len()
            });
        }
        for line in lines {
            let bad = || format!("bad line {line:?}");
            let mut fields = line.split(' ');
            let (Some(topic), Some(partition), Some(count), Some(next)) =
                (fields.next(), fields.next(), fields.next(), fields.next())
            else {
                return Err(bad());
            };
            let tp = TopicPartition::new(topic, partition.parse().map_err(|_| bad())?);
            tp.validate().map_err(|e| e.to_string())?;
            let count: u64 = count.parse().map_err(|_| bad())?;
            let next: i64 = next.parse().map_err(|_| bad())?;
            let mut queue =
                ConsumeQueue::open(&self.queue_dir(&tp), self.config.queue_file_entries, count)
                    .map_err(|e| e.to_string())?;
            let mut i = queue.first();
            while i < count && queue.get(i).is_some_and(|e| e.position < first) {
                i += 1;
            }
            queue.set_first(i);
            let part = Partition {
                queue,
                next_offset: next,
            };
            self.check_queue(&tp, &part, end)?;
            self.partitions.insert(tp, part);
        }
        Ok(())
    }

    /// Entries must rise in position and offset, lie below `end`, and the last must be
    /// the batch the log holds there, ending at the partition's next offset.
    fn check_queue(
        &self,
        tp: &TopicPartition,
        part: &Partition,
        end: u64,
    ) -> std::result::Result<(), String> {
        let q = &part.queue;
        let mut prev: Option<QueueEntry> = None;
        for i in q.first()..q.count() {
            let e = q
                .get(i)
                .ok_or_else(|| format!("{tp}: queue entry {i} cannot be read"))?;
            let rises =
                prev.is_none_or(|p| e.position > p.position && e.base_offset > p.base_offset);
            if !rises || e.position + u64::from(e.size) > end {
                return Err(format!(
                    "{tp}: queue entry {i} ({e:?}) is out of order or past the log"
                ));
            }
            prev = Some(e);
        }
        if let Some(e) = prev {
            let h = self
                .header_at(e.position)
                .ok_or_else(|| format!("{tp}: no batch at {}", e.position))?;
            if h.base_offset != e.base_offset
                || h.next_offset() != part.next_offset
                || h.size() != u64::from(e.size)
            {
                return Err(format!("{tp}: the last queue entry does not match the log"));
            }
        }
        Ok(())
    }

    /// The mapped file holding commit-log position `position`.
    fn file_at(&self, position: u64) -> Option<&MappedFile> {
        let first = self.files.front()?.start;
        let i = position.checked_sub(first)? / self.config.file_bytes;
        self.files.get(i as usize)
    }

    fn header_at(&self, position: u64) -> Option<Header> {
        let f = self.file_at(position)?;
        let bytes = f
            .map
            .committed_bytes((position - f.start) as usize, batch::HEADER_LEN)?;
        Header::parse(bytes).ok()
    }

    /// The batch that entry `index` of `tp`'s consume queue points at, checked against
    /// the commit log before it is lent to a reader: the entry header in front of it
    /// must be intact (its CRC covers the batch's offset and length) and name `tp`, and
    /// the batch must have the queue entry's size and base offset. A queue is trusted
    /// after a clean shutdown without being walked, so this is what keeps a damaged one
    /// from serving the wrong bytes: it is reported instead, naming the entry.
    fn queued_batch(
        &self,
        tp: &TopicPartition,
        index: u64,
        e: QueueEntry,
    ) -> Result<(MappedBytes, Header)> {
        let damaged = |reason: String| Error::Corrupt {
            file: self.queue_dir(tp),
            position: index * QUEUE_ENTRY as u64,
            reason,
        };
        let file = self.file_at(e.position).ok_or_else(|| {
            damaged(format!(
                "queue entry points at commit-log position {}, which is not stored",
                e.position
            ))
        })?;
        let head = entry::header_len(tp);
        let batch_at = (e.position - file.start) as usize;
        let length = head + e.size as usize;
        let found = batch_at
            .checked_sub(head)
            .and_then(|entry_at| file.map.committed_bytes(entry_at, length))
            .map(|bytes| entry::decode(bytes, false));
        match found {
            Some(Ok(Found::Entry {
                tp: owner,
                batch_at: at,
                length: len,
                header,
            })) if owner == *tp
                && at == head
                && len == length
                && header.base_offset == e.base_offset =>
            {
                let bytes = MappedBytes {
                    map: file.map.shared(),
                    start: batch_at,
                    len: e.size as usize,
                };
                Ok((bytes, header))
            }
            _ => Err(damaged(format!(
                "queue entry (offset {}, {} bytes at commit-log position {}) does not point at a batch of {tp}",
                e.base_offset, e.size, e.position
            ))),
        }
    }

    /// Walks the whole commit log, checks batches from the recovery point, cuts a torn
    /// tail and rebuilds every consume queue.
    fn recover(&mut self) -> Result<()> {
        self.open_files(None)?;
        let floors = self.read_partitions()?;
        let queue_root = self.root.join(QUEUE_DIR);
        fs::remove_dir_all(&queue_root).map_err(Error::io("remove", &queue_root))?;
        fs::create_dir_all(&queue_root).map_err(Error::io("create directory", &queue_root))?;
        let total: u64 = self.files.len() as u64 * self.config.file_bytes;
        let report = total >= 64 << 20 && self.config.progress.is_some();
        // Like the segment engine, the whole file holding the recovery point is checked.
        let rp = self.recovery_point - self.recovery_point % self.config.file_bytes;
        let (mut idx, mut at) = (0usize, 0usize);
        let damage: Option<String> = loop {
            if report && at == 0 {
                self.report(&format!(
                    "commit log: recovering file {} of {}",
                    idx + 1,
                    self.files.len()
                ));
            }
            let file = &mut self.files[idx];
            let global = file.start + at as u64;
            let found = entry::decode(&file.map.all()[at..], global >= rp);
            match found {
                Ok(Found::Entry {
                    tp,
                    batch_at,
                    length,
                    header,
                }) => {
                    if header.leader_epoch != batch::LEADER_EPOCH {
                        break Some(format!("batch has leader epoch {}", header.leader_epoch));
                    }
                    if self.deleted.get(&tp).is_some_and(|&until| global < until) {
                        at += length;
                        continue;
                    }
                    let part = match self.partitions.get_mut(&tp) {
                        Some(p) => p,
                        None => {
                            let queue = ConsumeQueue::create(
                                &self.queue_dir(&tp),
                                self.config.queue_file_entries,
                            )?;
                            let next_offset = header.base_offset;
                            self.partitions
                                .entry(tp.clone())
                                .or_insert(Partition { queue, next_offset })
                        }
                    };
                    if header.base_offset != part.next_offset {
                        break Some(format!(
                            "{tp}: batch has base offset {} where {} follows",
                            header.base_offset, part.next_offset
                        ));
                    }
                    part.queue.reserve(1)?;
                    part.queue.push_all(&[QueueEntry {
                        position: global + batch_at as u64,
                        size: header.size() as u32,
                        base_offset: header.base_offset,
                    }])?;
                    part.next_offset = header.next_offset();
                    at += length;
                }
                Ok(Found::Blank) if idx + 1 < self.files.len() => (idx, at) = (idx + 1, 0),
                Ok(Found::Blank) => {
                    at = self.config.file_bytes as usize;
                    break None;
                }
                Ok(Found::End) => break None,
                Err(reason) => break Some(reason),
            }
        };
        let later_valid =
            (idx + 1..self.files.len()).any(|i| valid_entry_from(self.files[i].map.all(), 0));
        let damage = damage.or_else(|| {
            later_valid.then(|| "the log ends here, but later files hold entries".to_string())
        });
        if let Some(reason) = damage {
            let torn = !later_valid && !valid_entry_from(self.files[idx].map.all(), at + 1);
            let path = self.files[idx].path.clone();
            if !torn && !self.config.repair {
                return Err(Error::Corrupt {
                    file: path,
                    position: at as u64,
                    reason,
                });
            }
            let what = if torn {
                "torn tail"
            } else {
                "repairing damage"
            };
            self.report(&format!(
                "{what} at byte {at} of {}: {reason}; zeroing from there",
                path.display()
            ));
            self.files[idx].zero_from(at)?;
        }
        while self.files.len() > idx + 1 {
            self.files.pop_back().expect("more files").delete()?;
        }
        self.write_at = at;
        let last = self.files.len() - 1;
        for (i, f) in self.files.iter_mut().enumerate() {
            let len = f.map.len();
            f.map.commit(if i == last { at } else { len });
        }
        for (tp, floor) in floors {
            match self.partitions.get_mut(&tp) {
                Some(p) => p.next_offset = p.next_offset.max(floor),
                None => {
                    let queue =
                        ConsumeQueue::create(&self.queue_dir(&tp), self.config.queue_file_entries)?;
                    self.partitions.insert(
                        tp,
                        Partition {
                            queue,
                            next_offset: floor,
                        },
                    );
                }
            }
        }
        Ok(())
    }

    fn read_partitions(&self) -> Result<Vec<(TopicPartition, i64)>> {
        let text = files::read_small(&self.root.join(PARTITIONS_FILE))?.unwrap_or_default();
        Ok(text
            .lines()
            .filter_map(|line| {
                let mut f = line.split(' ');
                let tp = TopicPartition::new(f.next()?, f.next()?.parse().ok()?);
                let floor = f.next()?.parse().ok()?;
                tp.validate().ok().map(|()| (tp, floor))
            })
            .collect())
    }

    fn read_deleted(&self) -> Result<BTreeMap<TopicPartition, u64>> {
        let text = files::read_small(&self.root.join(DELETED_FILE))?.unwrap_or_default();
        Ok(text
            .lines()
            .filter_map(|line| {
                let mut f = line.split(' ');
                let tp = TopicPartition::new(f.next()?, f.next()?.parse().ok()?);
                let position = f.next()?.parse().ok()?;
                tp.validate().ok().map(|()| (tp, position))
            })
            .collect())
    }

    /// Writes the deleted partitions, dropping those whose entries retention removed.
    fn write_deleted(&mut self) -> Result<()> {
        let first = self.files.front().map_or(0, |f| f.start);
        self.deleted.retain(|_, position| *position > first);
        let mut text = String::new();
        for (tp, position) in &self.deleted {
            text.push_str(&format!("{} {} {position}\n", tp.topic, tp.partition));
        }
        files::write_atomically(&self.root, DELETED_FILE, text.as_bytes())
    }

    fn write_partitions(&self) -> Result<()> {
        let mut text = String::new();
        for tp in self.partitions.keys() {
            let start = self.offsets(tp)?.start;
            text.push_str(&format!("{} {} {start}\n", tp.topic, tp.partition));
        }
        files::write_atomically(&self.root, PARTITIONS_FILE, text.as_bytes())
    }

    fn part(&self, tp: &TopicPartition) -> Result<&Partition> {
        self.partitions
            .get(tp)
            .ok_or_else(|| Error::UnknownPartition(tp.clone()))
    }

    /// Starts creating the file after the current one on another thread.
    fn prepare_next_file(&mut self) {
        if self.next_file.is_some() {
            return;
        }
        let (dir, len, warm) = (self.log_dir(), self.config.file_bytes, self.config.warm_up);
        let start = self.current().start + len;
        self.next_file = Some(std::thread::spawn(move || {
            MappedFile::create(&dir, start, len, warm)
        }));
    }

    /// Moves appends to the next file: the one prepared ahead if it is ready and sound,
    /// else one created now. The current file gets its blank marker and is flushed on
    /// another thread.
    fn switch_file(&mut self) -> Result<()> {
        let len = self.config.file_bytes;
        let start = self.current().start + len;
        let prepared = self
            .next_file
            .take()
            .and_then(|h| h.join().ok())
            .and_then(Result::ok);
        let next = match prepared {
            Some(f) if f.start == start => f,
            _ => MappedFile::create(&self.log_dir(), start, len, self.config.warm_up)?,
        };
        let current = self
            .files
            .back_mut()
            .expect("a commit log always has a file");
        if len as usize - self.write_at >= 4 {
            current
                .map
                .write_at(self.write_at, &BLANK_MAGIC.to_be_bytes())
                .map_err(Error::io("write", &current.path))?;
        }
        current.map.commit(len as usize);
        let (map, end) = (current.map.shared(), current.start + len);
        let (path, flushed) = (current.path.clone(), Arc::clone(&self.flushed));
        self.flushers.spawn(move || {
            map.sync(0, map.len()).map_err(Error::io("msync", path))?;
            flushed.fetch_max(end, Ordering::AcqRel);
            Ok(())
        });
        self.files.push_back(next);
        self.write_at = 0;
        self.prepare_next_file();
        Ok(())
    }

    /// msync of the current file's unflushed part; earlier files are flushed first.
    fn sync_current(&mut self) -> Result<()> {
        self.flushers.reap(true)?;
        let current = self.current();
        let from = self
            .flushed
            .load(Ordering::Acquire)
            .saturating_sub(current.start) as usize;
        current
            .map
            .sync(from, self.write_at)
            .map_err(Error::io("msync", &current.path))?;
        self.flushed.fetch_max(self.end(), Ordering::AcqRel);
        self.dirty_since = None;
        Ok(())
    }

    fn write_recovery_point(&mut self) -> Result<()> {
        let point = self.flushed.load(Ordering::Acquire).min(self.end());
        if point != self.recovery_point {
            files::write_atomically(
                &self.root,
                RECOVERY_POINT_FILE,
                format!("{point}\n").as_bytes(),
            )?;
            self.recovery_point = point;
        }
        Ok(())
    }

    fn apply_retention(&mut self, now_ms: i64) -> Result<bool> {
        let len = self.config.file_bytes;
        let mut changed = false;
        while self.files.len() > 1 {
            let oldest = self.files.front().expect("more than one file");
            let total = self.end() - oldest.start;
            let by_size = self
                .config
                .retention_bytes
                .is_some_and(|limit| total - len >= limit);
            let by_age = match self.config.retention_age {
                Some(age) => now_ms.saturating_sub(oldest.modified_ms()?) > age.as_millis() as i64,
                None => false,
            };
            if !by_size && !by_age {
                break;
            }
            self.files
                .pop_front()
                .expect("more than one file")
                .delete()?;
            changed = true;
        }
        if changed {
            let min = self.files.front().expect("a file").start;
            for part in self.partitions.values_mut() {
                part.queue.drop_below(min)?;
            }
        }
        Ok(changed)
    }
}

impl Drop for CommitLogStore {
    /// Waits for the file being prepared, so that no thread of a store that was dropped
    /// without a close (as after a crash) creates files under a store opened later.
    fn drop(&mut self) {
        if let Some(handle) = self.next_file.take() {
            let _ = handle.join();
        }
    }
}

/// Whether a valid entry starts anywhere at or after `from` in `bytes`.
fn valid_entry_from(bytes: &[u8], from: usize) -> bool {
    let magic = ENTRY_MAGIC.to_be_bytes();
    let mut at = from;
    while let Some(i) = bytes
        .get(at..)
        .and_then(|rest| rest.windows(4).position(|w| w == magic))
    {
        if matches!(
            entry::decode(&bytes[at + i..], true),
            Ok(Found::Entry { .. })
        ) {
            return true;
        }
        at += i + 1;
    }
    false
}

impl Store for CommitLogStore {
    fn create(&mut self, tp: &TopicPartition) -> Result<()> {
        tp.validate()?;
        if !self.partitions.contains_key(tp) {
            let queue = ConsumeQueue::create(&self.queue_dir(tp), self.config.queue_file_entries)?;
            files::sync_dir(&self.root.join(QUEUE_DIR))?;
            self.partitions.insert(
                tp.clone(),
                Partition {
                    queue,
                    next_offset: 0,
                },
            );
            self.write_partitions()?;
        }
        Ok(())
    }

    fn delete(&mut self, tp: &TopicPartition) -> Result<()> {
        if self.partitions.remove(tp).is_none() {
            return Err(Error::UnknownPartition(tp.clone()));
        }
        // The tombstone is written before the queue goes, so a crash in between
        // recovers without the partition, never with part of it.
        self.deleted.insert(tp.clone(), self.end());
        self.write_deleted()?;
        self.write_partitions()?;
        let dir = self.queue_dir(tp);
        fs::remove_dir_all(&dir).map_err(Error::io("remove", &dir))?;
        files::sync_dir(&self.root.join(QUEUE_DIR))
    }

    fn configure(&mut self, tp: &TopicPartition, config: &PartitionConfig) -> Result<()> {
        self.part(tp)?;
        if config.is_empty() {
            Ok(())
        } else {
            Err(Error::Config(
                "the commitlog engine keeps every partition in one log, so segment size and age and retention are set for the whole store, not per topic".into(),
            ))
        }
    }

    fn partitions(&self) -> Vec<TopicPartition> {
        self.partitions.keys().cloned().collect()
    }

    fn append(&mut self, tp: &TopicPartition, buf: &mut [u8], _now_ms: i64) -> Result<Appended> {
        let headers = crate::appended_batches(buf)?;
        let entry_header = entry::header_len(tp);
        let total = (buf.len() + headers.len() * entry_header) as u64;
        if total > self.config.file_bytes {
            return Err(Error::BatchTooLarge {
                size: total,
                max: self.config.file_bytes,
            });
        }
        let part = self
            .partitions
            .get_mut(tp)
            .ok_or_else(|| Error::UnknownPartition(tp.clone()))?;
        // Everything that can fail for lack of space is done before a byte is written.
        part.queue.reserve(headers.len() as u64)?;
        let base = part.next_offset;
        if self.write_at as u64 + total > self.config.file_bytes {
            self.switch_file()?;
        }
        let part = self.partitions.get_mut(tp).expect("checked above");
        let file = self
            .files
            .back_mut()
            .expect("a commit log always has a file");
        let mut next = base;
        let mut at = self.write_at;
        // Every byte is written before anything is committed or queued: a write that
        // fails (a full copy-on-write filesystem) leaves the log as it was.
        let mut queued = Vec::with_capacity(headers.len());
        for (pos, header) in &headers {
            let bytes = &mut buf[*pos..*pos + header.size() as usize];
            batch::set_base_offset(bytes, next);
            batch::set_leader_epoch(bytes, batch::LEADER_EPOCH);
            let head = entry::encode_header(tp, bytes);
            file.map
                .write_at(at, &head)
                .and_then(|()| file.map.write_at(at + head.len(), bytes))
                .map_err(Error::io("write", &file.path))?;
            queued.push(QueueEntry {
                position: file.start + (at + head.len()) as u64,
                size: header.size() as u32,
                base_offset: next,
            });
            at += head.len() + bytes.len();
            next += i64::from(header.last_offset_delta) + 1;
        }
        part.queue.push_all(&queued)?;
        file.map.commit(at);
        part.next_offset = next;
        self.write_at = at;
        self.dirty_since.get_or_insert_with(Instant::now);
        match self.config.fsync {
            Fsync::Always => self.sync_current()?,
            Fsync::Interval(every) if self.dirty_since.is_some_and(|t| t.elapsed() >= every) => {
                self.sync_current()?
            }
            _ => {}
        }
        Ok(Appended {
            base_offset: base,
            last_offset: next - 1,
        })
    }

    fn read_with_end(
        &self,
        tp: &TopicPartition,
        offset: i64,
        max_bytes: u64,
    ) -> Result<(Vec<Chunk>, i64)> {
        let Offsets { start, end } = self.offsets(tp)?;
        if offset < start || offset > end {
            return Err(Error::OffsetOutOfRange {
                partition: tp.clone(),
                offset,
                start,
                end,
            });
        }
        let queue = &self.part(tp)?.queue;
        let mut chunks = Vec::new();
        let Some(from) = queue.search(offset).filter(|_| offset < end) else {
            return Ok((chunks, offset));
        };
        let mut total = 0u64;
        let mut next = offset;
        for i in from..queue.count() {
            let Some(e) = queue.get(i) else { break };
            if !chunks.is_empty() && total + u64::from(e.size) > max_bytes {
                break;
            }
            let (bytes, header) = self.queued_batch(tp, i, e)?;
            // Batches follow each other without gaps, the first holding `offset`.
            let follows = if chunks.is_empty() {
                header.base_offset <= offset && offset <= header.last_offset()
            } else {
                header.base_offset == next
            };
            if !follows {
                return Err(Error::Corrupt {
                    file: self.queue_dir(tp),
                    position: i * QUEUE_ENTRY as u64,
                    reason: format!(
                        "queue entry names a batch of offsets {}..={} where offset {} was due",
                        header.base_offset,
                        header.last_offset(),
                        if chunks.is_empty() { offset } else { next }
                    ),
                });
            }
            next = header.next_offset();
            chunks.push(Chunk::Mapped(bytes));
            total += u64::from(e.size);
            if total >= max_bytes {
                break;
            }
        }
        Ok((chunks, next))
    }

    /// Sums the live queue entries: a walk of the partition's consume queue, for
    /// metrics, not for the append or read path.
    fn size(&self, tp: &TopicPartition) -> Result<u64> {
        let queue = &self.part(tp)?.queue;
        Ok((queue.first()..queue.count())
            .filter_map(|i| queue.get(i))
            .map(|e| u64::from(e.size))
            .sum())
    }

    fn offsets(&self, tp: &TopicPartition) -> Result<Offsets> {
        let part = self.part(tp)?;
        let end = part.next_offset;
        let start = part
            .queue
            .get(part.queue.first())
            .map_or(end, |e| e.base_offset);
        Ok(Offsets { start, end })
    }

    fn offset_for_timestamp(&self, tp: &TopicPartition, timestamp: i64) -> Result<Option<i64>> {
        let queue = &self.part(tp)?.queue;
        for i in queue.first()..queue.count() {
            let Some(e) = queue.get(i) else { break };
            if self
                .header_at(e.position)
                .is_some_and(|h| h.max_timestamp >= timestamp)
            {
                return Ok(Some(e.base_offset));
            }
        }
        Ok(None)
    }

    fn maintain(&mut self, now_ms: i64) -> Result<()> {
        self.flushers.reap(false)?;
        if let Fsync::Interval(every) = self.config.fsync
            && self.dirty_since.is_some_and(|t| t.elapsed() >= every)
        {
            self.sync_current()?;
        }
        if self.apply_retention(now_ms)? {
            self.write_partitions()?;
        }
        self.write_recovery_point()
    }

    fn flush(&mut self) -> Result<()> {
        self.flushers.reap(true)?;
        let current = self.current().start;
        for f in self.files.iter() {
            if f.start + self.config.file_bytes > self.recovery_point && f.start != current {
                f.map
                    .sync(0, f.map.len())
                    .map_err(Error::io("msync", &f.path))?;
            }
        }
        self.sync_current()?;
        self.write_recovery_point()
    }

    fn close(self: Box<Self>) -> Result<()> {
        let mut store = *self;
        store.flush()?;
        if let Some(spare) = store
            .next_file
            .take()
            .and_then(|h| h.join().ok())
            .and_then(Result::ok)
        {
            spare.delete()?;
        }
        let mut marker = format!("end {}\n", store.end());
        for (tp, part) in &store.partitions {
            part.queue.sync()?;
            marker.push_str(&format!(
                "{} {} {} {}\n",
                tp.topic,
                tp.partition,
                part.queue.count(),
                part.next_offset
            ));
        }
        store.write_partitions()?;
        files::write_atomically(&store.root, CLEAN_SHUTDOWN_FILE, marker.as_bytes())
    }
}
