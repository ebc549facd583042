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

mod clean_shutdown;
mod entry;
mod mapped;
mod partition_list;
mod queue;
mod recovery;
mod retention;
mod store;

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
use crate::{
    Appended, Chunk, Fsync, MappedBytes, Offsets, PartitionConfig, Progress, Store, TopicPartition,
    files, recovery_point,
};
use mapped::MappedFile;
use queue::ConsumeQueue;

/// Directory of the commit-log files.
pub const LOG_DIR: &str = "commitlog";
/// Directory of the consume queues.
pub const QUEUE_DIR: &str = "consumequeue";
pub use crate::recovery_point::RECOVERY_POINT_FILE;
pub use clean_shutdown::CLEAN_SHUTDOWN_FILE;
pub use partition_list::{DELETED_FILE, PARTITIONS_FILE};
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
    /// The log start offset DeleteRecords set (kept as the first offset in
    /// `PARTITIONS_FILE`); the partition starts at this or at its first queued batch,
    /// whichever is later.
    log_start: i64,
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
        let checkpoint = recovery_point::read(&root)?;
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
        for (tp, first) in store.read_partitions()? {
            if let Some(part) = store.partitions.get_mut(&tp) {
                part.log_start = first;
                if let Some(entry) = part.queue.search(first) {
                    part.queue.set_first(entry);
                }
            }
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
                let bytes = MappedBytes::new(file.map.shared(), batch_at, e.size as usize)
                    .ok_or_else(|| damaged("queue entry names uncommitted bytes".into()))?;
                Ok((bytes, header))
            }
            _ => Err(damaged(format!(
                "queue entry (offset {}, {} bytes at commit-log position {}) does not point at a batch of {tp}",
                e.base_offset, e.size, e.position
            ))),
        }
    }

    /// Every partition listed, with its first offset.
    fn read_partitions(&self) -> Result<Vec<(TopicPartition, i64)>> {
        let text = files::read_small(&self.root.join(PARTITIONS_FILE))?.unwrap_or_default();
        Ok(partition_list::decode(&text))
    }

    /// The deleted partitions, with the commit-log positions of their deletion.
    fn read_deleted(&self) -> Result<BTreeMap<TopicPartition, u64>> {
        let text = files::read_small(&self.root.join(DELETED_FILE))?.unwrap_or_default();
        Ok(partition_list::decode(&text).into_iter().collect())
    }

    /// Writes the deleted partitions, dropping those whose entries retention removed.
    fn write_deleted(&mut self) -> Result<()> {
        let first = self.files.front().map_or(0, |f| f.start);
        self.deleted.retain(|_, position| *position > first);
        let text = partition_list::encode(self.deleted.iter().map(|(tp, p)| (tp, *p)));
        files::write_atomically(&self.root, DELETED_FILE, text.as_bytes())
    }

    fn write_partitions(&self) -> Result<()> {
        let mut starts = Vec::with_capacity(self.partitions.len());
        for tp in self.partitions.keys() {
            starts.push((tp, self.offsets(tp)?.start));
        }
        let text = partition_list::encode(starts);
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
            recovery_point::write(&self.root, point)?;
            self.recovery_point = point;
        }
        Ok(())
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
