//! The Kafka-model engine: a directory per topic-partition, each a sequence of segments
//! named by their base offset, appended through the page cache and read as file regions
//! for sendfile.
//!
//! ```text
//! DIR/
//!   .lock                         held while a process has the store open
//!   orders-0/
//!     00000000000000000000.log    batches as produced, base offsets set
//!     00000000000000000000.index  offset → position, every 4 KiB of log
//!     00000000000000000000.timeindex
//!     00000000000000081920.log    ... the next segment
//!     recovery-point              offset below which everything is on disk
//!     clean-shutdown              present only between a clean close and the next open
//! ```

mod index;
mod partition;
#[allow(clippy::module_inception)]
mod segment;
mod timeindex;

use std::collections::BTreeMap;
use std::fs::{self, File};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

pub use index::{INDEX_STEP, OFFSET_INDEX_ENTRY, OffsetEntry};
pub use partition::{CLEAN_SHUTDOWN_FILE, CLEANER_POINT_FILE, RECOVERY_POINT_FILE};
pub(crate) use segment::read_checked;
pub use segment::{INDEX_SUFFIX, LOG_SUFFIX, TIME_INDEX_SUFFIX, file_name};
pub use timeindex::{TIME_INDEX_ENTRY, TimeEntry};

use crate::error::{Error, Result};
use crate::{
    Appended, Chunk, Cleaned, Cleanup, Fsync, Offsets, PartitionConfig, Progress, Store,
    TopicPartition, locks,
};
use partition::PartitionLog;

/// Settings of a segment store, Kafka's defaults unless said otherwise.
#[derive(Clone)]
pub struct Config {
    /// Roll to a new segment before one grows past this (`segment.bytes`, 1 GiB). At most
    /// 2 GiB - 1, as index positions are 32-bit.
    pub segment_bytes: u64,
    /// Roll when the first batch of the active segment is older than this (`segment.ms`,
    /// 7 days).
    pub segment_age: Option<Duration>,
    /// Delete the oldest segments while the partition is larger than this
    /// (`retention.bytes`, unlimited).
    pub retention_bytes: Option<u64>,
    /// Delete segments whose newest batch is older than this (`retention.ms`, 7 days).
    pub retention_age: Option<Duration>,
    /// Bytes of log between offset index entries (`index.interval.bytes`, 4096).
    pub index_interval: u64,
    /// Largest size of each index of the active segment (`segment.index.bytes`,
    /// 10 MiB); it is allocated in steps as entries come.
    pub max_index_bytes: u64,
    /// Whether old segments are deleted by the limits above, compacted, or both
    /// (`cleanup.policy`, `delete`).
    pub cleanup: Cleanup,
    /// How long compaction keeps a tombstone after it was written
    /// (`delete.retention.ms`, 1 day).
    pub delete_retention: Duration,
    /// Compact once the data not yet cleaned is at least this share of the segments that
    /// are not taking appends (`min.cleanable.dirty.ratio`, 0.5).
    pub min_cleanable_ratio: f64,
    /// Bytes of keys one pass of the cleaner holds at most (Kafka's
    /// `log.cleaner.dedupe.buffer.size`, 128 MiB); a pass cleans up to the segment
    /// where it filled.
    pub cleaner_buffer: u64,
    /// When appends are fsynced.
    pub fsync: Fsync,
    /// Truncate at damage that valid data follows, instead of refusing to open.
    pub repair: bool,
    /// Where recovery reports its progress.
    pub progress: Option<Progress>,
}

impl Default for Config {
    fn default() -> Config {
        const DAY: Duration = Duration::from_secs(24 * 3600);
        Config {
            segment_bytes: 1 << 30,
            segment_age: Some(7 * DAY),
            retention_bytes: None,
            retention_age: Some(7 * DAY),
            index_interval: 4096,
            max_index_bytes: 10 << 20,
            cleanup: Cleanup::DELETE,
            delete_retention: DAY,
            min_cleanable_ratio: 0.5,
            cleaner_buffer: 128 << 20,
            fsync: Fsync::None,
            repair: false,
            progress: None,
        }
    }
}

impl Config {
    fn validate(&self) -> Result<()> {
        if self.segment_bytes < crate::batch::HEADER_LEN as u64
            || self.segment_bytes > i32::MAX as u64
        {
            return Err(Error::Config(format!(
                "segment size {} must be between {} bytes and 2 GiB - 1",
                self.segment_bytes,
                crate::batch::HEADER_LEN
            )));
        }
        if self.index_interval == 0 {
            return Err(Error::Config(
                "index interval must be at least 1 byte".into(),
            ));
        }
        if !(0.0..=1.0).contains(&self.min_cleanable_ratio) {
            return Err(Error::Config(format!(
                "cleanable ratio {} must be between 0 and 1",
                self.min_cleanable_ratio
            )));
        }
        if self.max_index_bytes < TIME_INDEX_ENTRY as u64 {
            return Err(Error::Config(format!(
                "index size {} must hold at least one {TIME_INDEX_ENTRY}-byte entry",
                self.max_index_bytes
            )));
        }
        Ok(())
    }
}

/// Suffix a partition directory gets while it is being deleted; such a directory
/// found at open is the remains of a deletion cut short and is removed.
pub const DELETED_SUFFIX: &str = ".deleted";

/// The segment engine: every partition under one directory, each behind its own locks
/// (see `PartitionLog`). The map of partitions is locked only to find one, or to add or
/// remove one; creating and deleting a partition's files happen outside it.
pub struct SegmentStore {
    root: PathBuf,
    config: Arc<Config>,
    partitions: RwLock<BTreeMap<TopicPartition, Arc<PartitionLog>>>,
    /// Serializes creating and deleting partitions, whose directory work runs outside
    /// `partitions`' lock.
    admin: Mutex<()>,
    _lock: File,
}

impl SegmentStore {
    /// Opens the store in `root` (created if missing), recovering any partition that was
    /// not closed cleanly. Fails if another process has it open.
    pub fn open(root: impl AsRef<Path>, config: Config) -> Result<SegmentStore> {
        config.validate()?;
        let root = root.as_ref().to_owned();
        let lock = crate::files::lock_dir(&root)?;
        let config = Arc::new(config);
        let mut partitions = BTreeMap::new();
        for entry in fs::read_dir(&root).map_err(Error::io("list", &root))? {
            let entry = entry.map_err(Error::io("list", &root))?;
            if entry
                .file_name()
                .to_str()
                .is_some_and(|n| n.ends_with(DELETED_SUFFIX))
            {
                fs::remove_dir_all(entry.path()).map_err(Error::io("remove", entry.path()))?;
                continue;
            }
            let Some(tp) = entry.file_name().to_str().and_then(TopicPartition::parse) else {
                continue;
            };
            if entry
                .file_type()
                .map_err(Error::io("stat", entry.path()))?
                .is_dir()
            {
                let log = PartitionLog::open(&entry.path(), tp.clone(), Arc::clone(&config))?;
                partitions.insert(tp, Arc::new(log));
            }
        }
        Ok(SegmentStore {
            root,
            config,
            partitions: RwLock::new(partitions),
            admin: Mutex::new(()),
            _lock: lock,
        })
    }

    fn partition(&self, tp: &TopicPartition) -> Result<Arc<PartitionLog>> {
        locks::read(&self.partitions)
            .get(tp)
            .cloned()
            .ok_or_else(|| Error::UnknownPartition(tp.clone()))
    }

    fn all(&self) -> Vec<Arc<PartitionLog>> {
        locks::read(&self.partitions).values().cloned().collect()
    }
}

impl Store for SegmentStore {
    fn create(&self, tp: &TopicPartition) -> Result<()> {
        tp.validate()?;
        let _admin = locks::lock(&self.admin);
        if !locks::read(&self.partitions).contains_key(tp) {
            let dir = self.root.join(tp.to_string());
            let log = PartitionLog::open(&dir, tp.clone(), Arc::clone(&self.config))?;
            crate::files::sync_dir(&self.root)?;
            locks::write(&self.partitions).insert(tp.clone(), Arc::new(log));
        }
        Ok(())
    }

    fn delete(&self, tp: &TopicPartition) -> Result<()> {
        let _admin = locks::lock(&self.admin);
        let log = locks::write(&self.partitions)
            .remove(tp)
            .ok_or_else(|| Error::UnknownPartition(tp.clone()))?;
        // Renamed first, so a crash mid-removal leaves a directory the next open
        // removes rather than a partition with segments missing.
        let dir = self.root.join(tp.to_string());
        let doomed = self.root.join(format!("{tp}{DELETED_SUFFIX}"));
        log.discard()?;
        fs::rename(&dir, &doomed).map_err(Error::io("rename", &dir))?;
        crate::files::sync_dir(&self.root)?;
        fs::remove_dir_all(&doomed).map_err(Error::io("remove", &doomed))
    }

    fn configure(&self, tp: &TopicPartition, overrides: &PartitionConfig) -> Result<()> {
        let base = &self.config;
        let config = Config {
            segment_bytes: overrides.segment_bytes.unwrap_or(base.segment_bytes),
            segment_age: overrides.segment_age.or(base.segment_age),
            retention_bytes: overrides.retention_bytes.unwrap_or(base.retention_bytes),
            retention_age: overrides.retention_age.unwrap_or(base.retention_age),
            cleanup: overrides.cleanup.unwrap_or(base.cleanup),
            delete_retention: overrides.delete_retention.unwrap_or(base.delete_retention),
            ..(**base).clone()
        };
        config.validate()?;
        self.partition(tp)?.set_config(Arc::new(config));
        Ok(())
    }

    fn partitions(&self) -> Vec<TopicPartition> {
        locks::read(&self.partitions).keys().cloned().collect()
    }

    fn append(&self, tp: &TopicPartition, batches: &mut [u8], now_ms: i64) -> Result<Appended> {
        self.partition(tp)?.append(batches, now_ms)
    }

    fn read_with_end(
        &self,
        tp: &TopicPartition,
        offset: i64,
        max_bytes: u64,
    ) -> Result<(Vec<Chunk>, i64)> {
        self.partition(tp)?.read(offset, max_bytes)
    }

    fn offsets(&self, tp: &TopicPartition) -> Result<Offsets> {
        Ok(self.partition(tp)?.offsets())
    }

    fn size(&self, tp: &TopicPartition) -> Result<u64> {
        Ok(self.partition(tp)?.size())
    }

    fn delete_records(&self, tp: &TopicPartition, offset: i64) -> Result<i64> {
        self.partition(tp)?.delete_records(offset)
    }

    fn offset_for_timestamp(&self, tp: &TopicPartition, timestamp: i64) -> Result<Option<i64>> {
        self.partition(tp)?.offset_for_timestamp(timestamp)
    }

    fn maintain(&self, now_ms: i64) -> Result<()> {
        self.all().iter().try_for_each(|p| p.maintain(now_ms))
    }

    fn clean(&self, now_ms: i64, stop: &AtomicBool) -> Vec<Result<Cleaned>> {
        let mut cleaned = Vec::new();
        for p in self.all() {
            if stop.load(Ordering::Relaxed) {
                break;
            }
            cleaned.extend(p.clean(now_ms, stop).transpose());
        }
        cleaned
    }

    fn flush(&self) -> Result<()> {
        self.all().iter().try_for_each(|p| p.flush())
    }

    fn close(self: Box<Self>) -> Result<()> {
        let _admin = locks::lock(&self.admin);
        self.all().iter().try_for_each(|p| p.close())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::batch::Builder;
    use crate::testing::{batch, finishes};

    /// Bytes of disk the files under `dir` take.
    fn allocated(dir: &Path) -> u64 {
        use std::os::unix::fs::MetadataExt;
        fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().metadata().unwrap().blocks() * 512)
            .sum()
    }

    #[test]
    fn a_partition_of_one_record_costs_kilobytes_and_its_indexes_grow_as_entries_come() {
        // Regression: both indexes of the active segment were allocated whole, 20 MiB
        // for a partition of one record.
        let dir = tempfile::tempdir().unwrap();
        let store = SegmentStore::open(dir.path(), Config::default()).unwrap();
        let tp = TopicPartition::new("t", 0);
        store.create(&tp).unwrap();
        store.append(&tp, &mut batch(), 0).unwrap();
        let part = dir.path().join("t-0");
        let small = allocated(&part);
        assert!(small <= 256 << 10, "{small} bytes for one record");
        // 10 000 batches of 4 KiB and more need more index than the first step: the
        // index grows, and every batch is still found through it.
        let mut big = Builder::new(1_700_000_000_000);
        big.push(1_700_000_000_000, None, Some(&[5u8; 4200]));
        let big = big.finish();
        for _ in 0..10_000 {
            store.append(&tp, &mut big.clone(), 0).unwrap();
        }
        let index = fs::metadata(part.join(file_name(0, INDEX_SUFFIX)))
            .unwrap()
            .len();
        assert!(
            index > INDEX_STEP,
            "the offset index grew past its first step"
        );
        for offset in [1, 5000, 9_999] {
            let (chunks, next) = store.read_with_end(&tp, offset, 1).unwrap();
            assert_eq!((chunks.len(), next), (1, offset + 1));
        }
    }

    #[test]
    fn recovery_after_an_unclean_stop_says_where_it_checked_from_and_what_it_cut() {
        let dir = tempfile::tempdir().unwrap();
        let said = Arc::new(Mutex::new(Vec::<String>::new()));
        let into = Arc::clone(&said);
        let config = || Config {
            progress: Some(Arc::new({
                let into = Arc::clone(&into);
                move |line: &str| into.lock().unwrap().push(line.to_owned())
            })),
            ..Config::default()
        };
        let store = SegmentStore::open(dir.path(), config()).unwrap();
        let tp = TopicPartition::new("t", 0);
        store.create(&tp).unwrap();
        for _ in 0..3 {
            store.append(&tp, &mut batch(), 0).unwrap();
        }
        // The process dies with half a batch written after the third.
        drop(store);
        let log = dir.path().join("t-0").join(file_name(0, LOG_SUFFIX));
        let len = fs::metadata(&log).unwrap().len();
        let mut torn = fs::read(&log).unwrap();
        torn.extend_from_slice(&batch()[..30]);
        fs::write(&log, &torn).unwrap();
        let store = SegmentStore::open(dir.path(), config()).unwrap();
        assert_eq!(store.offsets(&tp).unwrap().end, 3);
        let lines = said.lock().unwrap().clone();
        let summary = lines
            .iter()
            .find(|l| l.starts_with("t-0: recovered after an unclean stop"))
            .unwrap_or_else(|| panic!("no summary in {lines:?}"));
        assert!(
            summary.contains("checked 1 segment(s)")
                && summary.contains(&format!("cut 30 bytes at byte {len} of {}", log.display())),
            "{summary}"
        );
        // A clean stop and open say nothing.
        Box::new(store).close().unwrap();
        said.lock().unwrap().clear();
        drop(SegmentStore::open(dir.path(), config()).unwrap());
        assert!(
            said.lock().unwrap().is_empty(),
            "{:?}",
            said.lock().unwrap()
        );
    }

    #[test]
    fn a_partition_busy_appending_or_syncing_holds_up_no_read_and_no_other_partition() {
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(SegmentStore::open(dir.path(), Config::default()).unwrap());
        let (busy, other) = (TopicPartition::new("t", 0), TopicPartition::new("t", 1));
        for tp in [&busy, &other] {
            store.create(tp).unwrap();
            store.append(tp, &mut batch(), 0).unwrap();
        }
        // What an append or an fsync of `busy` holds while it writes or syncs.
        let log = store.partition(&busy).unwrap();
        let _writing = log.hold_writer();
        let s = Arc::clone(&store);
        assert!(finishes(move || {
            assert_eq!(s.read(&busy, 0, 1 << 20).unwrap().len(), 1);
            assert_eq!(s.offsets(&busy).unwrap().end, 1);
            assert_eq!(s.offset_for_timestamp(&busy, 0).unwrap(), Some(0));
            assert_eq!(s.append(&other, &mut batch(), 0).unwrap().base_offset, 1);
            assert_eq!(s.read(&other, 0, 1 << 20).unwrap().len(), 1);
        }));
    }
}
