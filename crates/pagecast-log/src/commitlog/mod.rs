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
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
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
    Appended, Chunk, Fsync, MappedBytes, Offsets, PartitionConfig, Progress, Store, TopicPartition,
    files, locks, recovery_point,
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
    /// Set when the partition is deleted: an append that found it before then fails.
    deleted: bool,
}

impl Partition {
    fn new(queue: ConsumeQueue, next_offset: i64) -> Partition {
        Partition {
            queue,
            next_offset,
            log_start: 0,
            deleted: false,
        }
    }

    fn offsets(&self) -> Offsets {
        let end = self.next_offset;
        let first = self
            .queue
            .get(self.queue.first())
            .map_or(end, |e| e.base_offset);
        Offsets {
            start: first.max(self.log_start).min(end),
            end,
        }
    }
}

/// A commit-log file as readers see it: its committed bytes.
#[derive(Clone)]
struct FileView {
    start: u64,
    map: Arc<Mapping>,
}

/// The commit-log files as readers see them, oldest first.
struct Files {
    file_bytes: u64,
    views: VecDeque<FileView>,
}

impl Files {
    fn of(files: &VecDeque<MappedFile>, file_bytes: u64) -> Files {
        let views = files
            .iter()
            .map(|f| FileView {
                start: f.start,
                map: f.map.shared(),
            })
            .collect();
        Files { file_bytes, views }
    }

    /// The file holding commit-log position `position`.
    fn file_at(&self, position: u64) -> Option<&FileView> {
        let first = self.views.front()?.start;
        let i = position.checked_sub(first)? / self.file_bytes;
        self.views.get(i as usize)
    }

    fn header_at(&self, position: u64) -> Option<Header> {
        let f = self.file_at(position)?;
        let bytes = f
            .map
            .committed_bytes((position - f.start) as usize, batch::HEADER_LEN)?;
        Header::parse(bytes).ok()
    }
}

/// What appending to the shared log needs: the one part of the store that every
/// partition's appends take in turn.
struct Log {
    /// Never empty; the last one takes appends.
    files: VecDeque<MappedFile>,
    /// Bytes used in the last file.
    write_at: usize,
    /// Deleted partitions and the log position they were deleted at.
    deleted: BTreeMap<TopicPartition, u64>,
    recovery_point: u64,
    flushers: files::Flushers,
    dirty_since: Option<Instant>,
    next_file: Option<JoinHandle<Result<MappedFile>>>,
}

impl Log {
    fn current(&self) -> &MappedFile {
        self.files.back().expect("a commit log always has a file")
    }

    /// Commit-log position the next entry gets.
    fn end(&self) -> u64 {
        self.current().start + self.write_at as u64
    }
}

/// The commit-log engine. Locks, taken in this order:
/// - `admin` serializes what rewrites the partition list or the deleted list (create,
///   delete, DeleteRecords, retention);
/// - `log` serializes appends to the shared log, file switches and retention; nothing
///   else waits for it, and no msync runs under it;
/// - each partition's lock is taken for writing only to publish what an append wrote
///   (queue entries and the next offset) or what retention or DeleteRecords dropped;
/// - `files`, the readers' view of the files, is replaced only by a switch or retention.
///
/// A read takes its partition's lock, then `files`, for reading.
pub struct CommitLogStore {
    root: PathBuf,
    config: Config,
    admin: Mutex<()>,
    log: Mutex<Log>,
    partitions: RwLock<BTreeMap<TopicPartition, Arc<RwLock<Partition>>>>,
    files: RwLock<Files>,
    /// Commit-log position below which everything is on disk.
    flushed: Arc<AtomicU64>,
    /// Serializes msyncs, which run after an append has let go of `log`: one that finds
    /// its bytes already synced by another returns at once (a group commit).
    syncing: Mutex<()>,
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
        let checkpoint = recovery_point::read(&root)?.unwrap_or(0);
        let mut loader = Loader {
            root,
            config,
            files: VecDeque::new(),
            write_at: 0,
            partitions: BTreeMap::new(),
            deleted: BTreeMap::new(),
            recovery_point: checkpoint,
        };
        loader.deleted = loader.read_deleted()?;
        let marker = files::read_small(&loader.root.join(CLEAN_SHUTDOWN_FILE))?;
        let opened_clean = match marker {
            Some(text) => match loader.open_clean(&text) {
                Ok(()) => true,
                Err(why) => {
                    loader.report(&format!(
                        "clean shutdown record not usable ({why}); recovering"
                    ));
                    loader.files.clear();
                    loader.partitions.clear();
                    false
                }
            },
            None => false,
        };
        if !opened_clean {
            loader.recover()?;
        }
        for (tp, first) in loader.read_partitions()? {
            if let Some(part) = loader.partitions.get_mut(&tp) {
                part.log_start = first;
                if let Some(entry) = part.queue.search(first) {
                    part.queue.set_first(entry);
                }
            }
        }
        let store = loader.into_store(lock, checkpoint);
        if !opened_clean {
            store.flush()?;
        }
        files::remove(&store.root.join(CLEAN_SHUTDOWN_FILE))?;
        files::sync_dir(&store.root)?;
        store.prepare_next_file(&mut locks::lock(&store.log));
        Ok(store)
    }

    fn log_dir(&self) -> PathBuf {
        self.root.join(LOG_DIR)
    }

    fn queue_dir(&self, tp: &TopicPartition) -> PathBuf {
        self.root.join(QUEUE_DIR).join(tp.to_string())
    }

    fn partition(&self, tp: &TopicPartition) -> Result<Arc<RwLock<Partition>>> {
        locks::read(&self.partitions)
            .get(tp)
            .cloned()
            .ok_or_else(|| Error::UnknownPartition(tp.clone()))
    }

    /// The batch that entry `index` of `tp`'s consume queue points at, checked against
    /// the commit log before it is lent to a reader: the entry header in front of it
    /// must be intact (its CRC covers the batch's offset and length) and name `tp`, and
    /// the batch must have the queue entry's size and base offset. A queue is trusted
    /// after a clean shutdown without being walked, so this is what keeps a damaged one
    /// from serving the wrong bytes: it is reported instead, naming the entry.
    fn queued_batch(
        &self,
        files: &Files,
        tp: &TopicPartition,
        index: u64,
        e: QueueEntry,
    ) -> Result<(MappedBytes, Header)> {
        let damaged = |reason: String| Error::Corrupt {
            file: self.queue_dir(tp),
            position: index * QUEUE_ENTRY as u64,
            reason,
        };
        let file = files.file_at(e.position).ok_or_else(|| {
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
                let bytes = MappedBytes::new(Arc::clone(&file.map), batch_at, e.size as usize)
                    .ok_or_else(|| damaged("queue entry names uncommitted bytes".into()))?;
                Ok((bytes, header))
            }
            _ => Err(damaged(format!(
                "queue entry (offset {}, {} bytes at commit-log position {}) does not point at a batch of {tp}",
                e.base_offset, e.size, e.position
            ))),
        }
    }

    /// Writes the deleted partitions, dropping those whose entries retention removed.
    /// Under `admin`.
    fn write_deleted(&self, log: &mut Log) -> Result<()> {
        let first = log.files.front().map_or(0, |f| f.start);
        log.deleted.retain(|_, position| *position > first);
        let text = partition_list::encode(log.deleted.iter().map(|(tp, p)| (tp, *p)));
        files::write_atomically(&self.root, DELETED_FILE, text.as_bytes())
    }

    /// Writes every partition with its first offset. Under `admin`.
    fn write_partitions(&self) -> Result<()> {
        let starts: Vec<(TopicPartition, i64)> = locks::read(&self.partitions)
            .iter()
            .map(|(tp, part)| (tp.clone(), locks::read(part).offsets().start))
            .collect();
        let text = partition_list::encode(starts.iter().map(|(tp, start)| (tp, *start)));
        files::write_atomically(&self.root, PARTITIONS_FILE, text.as_bytes())
    }

    /// Starts creating the file after the current one on another thread.
    fn prepare_next_file(&self, log: &mut Log) {
        if log.next_file.is_some() {
            return;
        }
        let (dir, len, warm) = (self.log_dir(), self.config.file_bytes, self.config.warm_up);
        let start = log.current().start + len;
        log.next_file = Some(std::thread::spawn(move || {
            MappedFile::create(&dir, start, len, warm)
        }));
    }

    /// Moves appends to the next file: the one prepared ahead if it is ready and sound,
    /// else one created now. The current file gets its blank marker and is flushed on
    /// another thread.
    fn switch_file(&self, log: &mut Log) -> Result<()> {
        let len = self.config.file_bytes;
        let start = log.current().start + len;
        let prepared = log
            .next_file
            .take()
            .and_then(|h| h.join().ok())
            .and_then(Result::ok);
        let next = match prepared {
            Some(f) if f.start == start => f,
            _ => MappedFile::create(&self.log_dir(), start, len, self.config.warm_up)?,
        };
        let write_at = log.write_at;
        let current = log
            .files
            .back_mut()
            .expect("a commit log always has a file");
        if len as usize - write_at >= 4 {
            current
                .map
                .write_at(write_at, &BLANK_MAGIC.to_be_bytes())
                .map_err(Error::io("write", &current.path))?;
        }
        current.map.commit(len as usize);
        let (map, path) = (current.map.shared(), current.path.clone());
        log.flushers.spawn(current.start + len, move || {
            map.sync(0, map.len()).map_err(Error::io("msync", path))
        });
        log.files.push_back(next);
        log.write_at = 0;
        *locks::write(&self.files) = Files::of(&log.files, len);
        self.prepare_next_file(log);
        Ok(())
    }

    /// msync of everything below commit-log position `to` not yet known to be on disk.
    /// Runs without `log`, so appends go on; a caller whose bytes another caller's msync
    /// covered returns without one.
    fn sync_to(&self, to: u64) -> Result<()> {
        let _syncing = locks::lock(&self.syncing);
        let from = self.flushed.load(Ordering::Acquire);
        if from >= to {
            return Ok(());
        }
        let views: Vec<FileView> = locks::read(&self.files)
            .views
            .iter()
            .filter(|f| f.start + self.config.file_bytes > from && f.start < to)
            .cloned()
            .collect();
        for f in views {
            let lo = from.saturating_sub(f.start) as usize;
            let hi = ((to - f.start) as usize).min(f.map.len());
            f.map.sync(lo, hi).map_err(Error::io(
                "msync",
                self.log_dir().join(mapped::file_name(f.start)),
            ))?;
        }
        self.flushed.fetch_max(to, Ordering::AcqRel);
        Ok(())
    }

    fn write_recovery_point(&self, log: &mut Log) -> Result<()> {
        let point = self.flushed.load(Ordering::Acquire).min(log.end());
        if point != log.recovery_point {
            recovery_point::write(&self.root, point)?;
            log.recovery_point = point;
        }
        Ok(())
    }
}

/// The store while it is opened and recovered, before anything else can reach it:
/// plain fields, as recovery mutates everything at once.
struct Loader {
    root: PathBuf,
    config: Config,
    files: VecDeque<MappedFile>,
    write_at: usize,
    partitions: BTreeMap<TopicPartition, Partition>,
    deleted: BTreeMap<TopicPartition, u64>,
    recovery_point: u64,
}

impl Loader {
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

    fn into_store(self, lock: File, checkpoint: u64) -> CommitLogStore {
        let files = Files::of(&self.files, self.config.file_bytes);
        CommitLogStore {
            root: self.root,
            config: self.config,
            admin: Mutex::new(()),
            log: Mutex::new(Log {
                files: self.files,
                write_at: self.write_at,
                deleted: self.deleted,
                recovery_point: self.recovery_point,
                flushers: files::Flushers::default(),
                dirty_since: None,
                next_file: None,
            }),
            partitions: RwLock::new(
                self.partitions
                    .into_iter()
                    .map(|(tp, p)| (tp, Arc::new(RwLock::new(p))))
                    .collect(),
            ),
            files: RwLock::new(files),
            flushed: Arc::new(AtomicU64::new(checkpoint)),
            syncing: Mutex::new(()),
            _lock: lock,
        }
    }
}

impl Drop for CommitLogStore {
    /// Waits for the file being prepared, so that no thread of a store that was dropped
    /// without a close (as after a crash) creates files under a store opened later.
    fn drop(&mut self) {
        let log = self.log.get_mut().unwrap_or_else(|e| e.into_inner());
        if let Some(handle) = log.next_file.take() {
            let _ = handle.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{batch, finishes};

    fn store(dir: &Path) -> Arc<CommitLogStore> {
        let config = Config {
            file_bytes: 64 << 10,
            ..Default::default()
        };
        let store = Arc::new(CommitLogStore::open(dir, config).unwrap());
        for p in 0..2 {
            let tp = TopicPartition::new("t", p);
            store.create(&tp).unwrap();
            store.append(&tp, &mut batch(), 0).unwrap();
        }
        store
    }

    #[test]
    fn recovery_after_an_unclean_stop_says_what_it_walked_and_cut() {
        let dir = tempfile::tempdir().unwrap();
        drop(store(dir.path()));
        let said = Arc::new(Mutex::new(Vec::<String>::new()));
        let into = Arc::clone(&said);
        let config = Config {
            file_bytes: 64 << 10,
            progress: Some(Arc::new(move |line: &str| {
                into.lock().unwrap().push(line.to_owned())
            })),
            ..Default::default()
        };
        let reopened = CommitLogStore::open(dir.path(), config).unwrap();
        assert_eq!(
            reopened.offsets(&TopicPartition::new("t", 1)).unwrap().end,
            1
        );
        let lines = said.lock().unwrap().clone();
        assert!(
            lines.iter().any(
                |l| l.starts_with("commit log: recovered after an unclean stop")
                    && l.contains("rebuilt 2 consume queue(s); nothing cut")
            ),
            "{lines:?}"
        );
    }

    #[test]
    fn an_append_to_the_shared_log_holds_up_no_read() {
        let dir = tempfile::tempdir().unwrap();
        let store = store(dir.path());
        // What an append holds while it writes its bytes into the log.
        let _appending = locks::lock(&store.log);
        let s = Arc::clone(&store);
        assert!(finishes(move || {
            for p in 0..2 {
                let tp = TopicPartition::new("t", p);
                assert_eq!(s.read(&tp, 0, 1 << 20).unwrap().len(), 1);
                assert_eq!(s.offsets(&tp).unwrap().end, 1);
                assert_eq!(s.offset_for_timestamp(&tp, 0).unwrap(), Some(0));
            }
        }));
    }

    #[test]
    fn an_append_waiting_for_its_msync_holds_up_no_other_append_and_no_read() {
        let dir = tempfile::tempdir().unwrap();
        let config = Config {
            file_bytes: 64 << 10,
            fsync: Fsync::Always,
            ..Default::default()
        };
        let store = Arc::new(CommitLogStore::open(dir.path(), config).unwrap());
        let (waits, other) = (TopicPartition::new("t", 0), TopicPartition::new("t", 1));
        for tp in [&waits, &other] {
            store.create(tp).unwrap();
        }
        // Another msync under way: an append must wait for it before it is acknowledged.
        let syncing = locks::lock(&store.syncing);
        let appending = {
            let (store, tp) = (Arc::clone(&store), waits.clone());
            std::thread::spawn(move || store.append(&tp, &mut batch(), 0).unwrap())
        };
        // Its batch is published, and the shared log let go of, while it waits.
        let s = Arc::clone(&store);
        let tp = waits.clone();
        assert!(finishes(move || {
            while s.offsets(&tp).unwrap().end == 0 {
                std::thread::yield_now();
            }
        }));
        assert!(!appending.is_finished(), "the append waits for its msync");
        let s = Arc::clone(&store);
        assert!(finishes(move || {
            let _log = locks::lock(&s.log);
            assert_eq!(s.read(&waits, 0, 1 << 20).unwrap().len(), 1);
        }));
        drop(syncing);
        assert_eq!(appending.join().unwrap().base_offset, 0);
        // With the msync done, the other partition's append is acknowledged as usual.
        assert_eq!(
            store.append(&other, &mut batch(), 0).unwrap().base_offset,
            0
        );
    }
}
