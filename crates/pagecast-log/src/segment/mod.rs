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
use std::sync::Arc;
use std::time::Duration;

pub use index::{OFFSET_INDEX_ENTRY, OffsetEntry};
pub use partition::{CLEAN_SHUTDOWN_FILE, RECOVERY_POINT_FILE};
pub(crate) use segment::read_checked;
pub use segment::{INDEX_SUFFIX, LOG_SUFFIX, TIME_INDEX_SUFFIX, file_name};
pub use timeindex::{TIME_INDEX_ENTRY, TimeEntry};

use crate::error::{Error, Result};
use crate::{Appended, Chunk, Fsync, Offsets, PartitionConfig, Progress, Store, TopicPartition};
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
    /// Preallocated size of each index of the active segment (`segment.index.bytes`,
    /// 10 MiB).
    pub max_index_bytes: u64,
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

/// The segment engine: every partition under one directory.
pub struct SegmentStore {
    root: PathBuf,
    config: Arc<Config>,
    partitions: BTreeMap<TopicPartition, PartitionLog>,
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
                partitions.insert(tp, log);
            }
        }
        Ok(SegmentStore {
            root,
            config,
            partitions,
            _lock: lock,
        })
    }

    fn partition(&self, tp: &TopicPartition) -> Result<&PartitionLog> {
        self.partitions
            .get(tp)
            .ok_or_else(|| Error::UnknownPartition(tp.clone()))
    }
}

impl Store for SegmentStore {
    fn create(&mut self, tp: &TopicPartition) -> Result<()> {
        tp.validate()?;
        if !self.partitions.contains_key(tp) {
            let dir = self.root.join(tp.to_string());
            let log = PartitionLog::open(&dir, tp.clone(), Arc::clone(&self.config))?;
            crate::files::sync_dir(&self.root)?;
            self.partitions.insert(tp.clone(), log);
        }
        Ok(())
    }

    fn delete(&mut self, tp: &TopicPartition) -> Result<()> {
        let log = self
            .partitions
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

    fn configure(&mut self, tp: &TopicPartition, overrides: &PartitionConfig) -> Result<()> {
        let base = &self.config;
        let config = Config {
            segment_bytes: overrides.segment_bytes.unwrap_or(base.segment_bytes),
            segment_age: overrides.segment_age.or(base.segment_age),
            retention_bytes: overrides.retention_bytes.unwrap_or(base.retention_bytes),
            retention_age: overrides.retention_age.unwrap_or(base.retention_age),
            ..(**base).clone()
        };
        config.validate()?;
        self.partitions
            .get_mut(tp)
            .ok_or_else(|| Error::UnknownPartition(tp.clone()))?
            .set_config(Arc::new(config));
        Ok(())
    }

    fn partitions(&self) -> Vec<TopicPartition> {
        self.partitions.keys().cloned().collect()
    }

    fn append(&mut self, tp: &TopicPartition, batches: &mut [u8], now_ms: i64) -> Result<Appended> {
        self.partitions
            .get_mut(tp)
            .ok_or_else(|| Error::UnknownPartition(tp.clone()))?
            .append(batches, now_ms)
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

    fn delete_records(&mut self, tp: &TopicPartition, offset: i64) -> Result<i64> {
        self.partitions
            .get_mut(tp)
            .ok_or_else(|| Error::UnknownPartition(tp.clone()))?
            .delete_records(offset)
    }

    fn offset_for_timestamp(&self, tp: &TopicPartition, timestamp: i64) -> Result<Option<i64>> {
        self.partition(tp)?.offset_for_timestamp(timestamp)
    }

    fn maintain(&mut self, now_ms: i64) -> Result<()> {
        self.partitions
            .values_mut()
            .try_for_each(|p| p.maintain(now_ms))
    }

    fn flush(&mut self) -> Result<()> {
        self.partitions
            .values_mut()
            .try_for_each(PartitionLog::flush)
    }

    fn close(self: Box<Self>) -> Result<()> {
        let store = *self;
        store
            .partitions
            .into_values()
            .try_for_each(PartitionLog::close)
    }
}
