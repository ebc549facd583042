//! Storage engines for Kafka record batches, built so that reads reach the network
//! without a copy in user space.
//!
//! - [`segment`]: the Kafka model. A directory per topic-partition, segments of appended
//!   batches in the page cache, mapped sparse offset and time indexes; a read returns
//!   file regions for sendfile.
//! - [`commitlog`]: the RocketMQ model. One append log for every partition in
//!   preallocated mapped files, per-partition consume queues; a read returns mapped
//!   slices, written with mmap + write.
//!
//! Both store batches in Kafka's v2 format ([`batch`]) exactly as produced, with only the
//! base offset set, and both implement [`Store`], so the broker runs on either. Both
//! recover from a crash to an exact prefix of what was appended: a torn tail is cut,
//! indexes are rebuilt, and damage followed by valid data stops the open with the file
//! and position named, unless repair is asked for.

pub mod batch;
pub mod commitlog;
pub mod dump;
mod error;
mod files;
mod locks;
pub mod recovery_point;
pub mod segment;
pub mod snapshot;
mod sys;

use std::fmt;
use std::fs::File;
use std::os::unix::fs::FileExt;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

pub use error::{Error, Result};
pub use files::lock_dir;

/// A topic and partition number: the unit of ordering and of offsets.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TopicPartition {
    /// Topic name: 1 to 249 characters of `[a-zA-Z0-9._-]`, as Kafka allows.
    pub topic: String,
    /// Partition number, from 0.
    pub partition: i32,
}

impl TopicPartition {
    /// A topic-partition; the name is checked when a store creates it.
    pub fn new(topic: impl Into<String>, partition: i32) -> TopicPartition {
        TopicPartition {
            topic: topic.into(),
            partition,
        }
    }

    /// Checks the name against Kafka's rules, which also keep it a safe directory name
    /// (no `/`, and `.` and `..` are refused).
    pub fn validate(&self) -> Result<()> {
        let t = &self.topic;
        let legal = t
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b));
        if t.is_empty() || t.len() > 249 || !legal || t == "." || t == ".." {
            return Err(Error::Config(format!(
                "topic name {t:?} must be 1 to 249 characters of a-z, A-Z, 0-9, '.', '_' and '-', and not '.' or '..'"
            )));
        }
        if self.partition < 0 {
            return Err(Error::Config(format!(
                "partition {} is negative",
                self.partition
            )));
        }
        Ok(())
    }

    /// Parses the `topic-partition` form used for directory names.
    pub fn parse(name: &str) -> Option<TopicPartition> {
        let (topic, partition) = name.rsplit_once('-')?;
        let tp = TopicPartition::new(topic, partition.parse().ok()?);
        tp.validate().ok()?;
        (tp.to_string() == name).then_some(tp)
    }
}

impl fmt::Display for TopicPartition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.topic, self.partition)
    }
}

/// When appended data is forced to disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fsync {
    /// Never on the append path: the page cache writes back, segments are flushed when
    /// they roll and everything on close. Kafka's default.
    None,
    /// At most this long after an append (checked on append and on [`Store::maintain`]).
    Interval(Duration),
    /// Before every append returns.
    Always,
}

impl std::str::FromStr for Fsync {
    type Err = String;

    fn from_str(s: &str) -> Result<Fsync, String> {
        match s {
            "none" => Ok(Fsync::None),
            "always" => Ok(Fsync::Always),
            // A second, where no period is given.
            "interval" => Ok(Fsync::Interval(Duration::from_secs(1))),
            _ => {
                let ms = s
                    .strip_prefix("interval:")
                    .and_then(|ms| ms.strip_suffix("ms").unwrap_or(ms).parse::<u64>().ok())
                    .ok_or_else(|| {
                        format!("fsync policy {s:?}: expected none, always, interval (each second) or interval:<ms>")
                    })?;
                Ok(Fsync::Interval(Duration::from_millis(ms)))
            }
        }
    }
}

/// What happens to a partition's old data (Kafka's `cleanup.policy`, a list of `delete`
/// and `compact`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cleanup {
    /// Retention deletes old segments by size and age.
    pub delete: bool,
    /// The cleaner keeps only the latest record of each key.
    pub compact: bool,
}

impl Cleanup {
    /// Kafka's default: `delete`.
    pub const DELETE: Cleanup = Cleanup {
        delete: true,
        compact: false,
    };
    /// `compact`, as `__consumer_offsets` has.
    pub const COMPACT: Cleanup = Cleanup {
        delete: false,
        compact: true,
    };
}

/// What one pass of the cleaner did to a partition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cleaned {
    /// The partition.
    pub partition: TopicPartition,
    /// Segments rewritten.
    pub segments_before: usize,
    /// The segments they became.
    pub segments_after: usize,
    /// Bytes of the segments rewritten.
    pub bytes_before: u64,
    /// Bytes of the segments they became.
    pub bytes_after: u64,
    /// Records removed: superseded by a later one of the same key, or tombstones past
    /// their retention.
    pub records_removed: u64,
    /// Where the part of the log cleaned now ends (the next pass starts there); where
    /// it ended before, if the pass stopped part-way.
    pub cleaned_to: i64,
}

/// Settings of one partition that override its store's: a topic's `segment.bytes`,
/// `segment.ms`, `retention.bytes`, `retention.ms`, `cleanup.policy` and
/// `delete.retention.ms`. `None` keeps the store's value.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PartitionConfig {
    /// Roll before a segment grows past this.
    pub segment_bytes: Option<u64>,
    /// Roll when the active segment's first batch is this old.
    pub segment_age: Option<Duration>,
    /// Delete old data past this size; `Some(None)` keeps everything.
    pub retention_bytes: Option<Option<u64>>,
    /// Delete data older than this; `Some(None)` keeps everything.
    pub retention_age: Option<Option<Duration>>,
    /// Whether old data is deleted, compacted, or both.
    pub cleanup: Option<Cleanup>,
    /// How long compaction keeps a tombstone (a null value) after it was written.
    pub delete_retention: Option<Duration>,
}

impl PartitionConfig {
    /// Whether nothing is overridden.
    pub fn is_empty(&self) -> bool {
        *self == PartitionConfig::default()
    }
}

/// Reports recovery of a large log: one line per step, for a person to read.
pub type Progress = Arc<dyn Fn(&str) + Send + Sync>;

/// Where appended batches landed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Appended {
    /// Offset given to the first record.
    pub base_offset: i64,
    /// Offset of the last record.
    pub last_offset: i64,
}

/// The offsets a partition holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Offsets {
    /// First offset still stored (retention moves it up).
    pub start: i64,
    /// Offset the next record gets (the high watermark of a single node).
    pub end: i64,
}

/// A piece of a read: whole record batches, ready to send without a user-space copy.
#[derive(Clone)]
pub enum Chunk {
    /// A region of a segment file, for sendfile.
    File {
        /// The open segment file (kept open by the read, even if retention deletes it).
        file: Arc<File>,
        /// Byte position of the first batch.
        position: u64,
        /// Bytes of whole batches.
        len: u64,
    },
    /// Bytes of a mapped file, for mmap + write.
    Mapped(MappedBytes),
}

/// Committed bytes of a mapped file, lent to a reader: whole batches that are never
/// written again. The mapping stays valid while this lives, even if retention deletes
/// the file.
#[derive(Clone)]
pub struct MappedBytes {
    map: Arc<sys::mmap::Mapping>,
    start: usize,
    len: usize,
}

impl MappedBytes {
    /// Lends `start..start + len` of `map`; `None` unless those bytes are committed.
    pub(crate) fn new(
        map: Arc<sys::mmap::Mapping>,
        start: usize,
        len: usize,
    ) -> Option<MappedBytes> {
        map.committed_bytes(start, len)?;
        Some(MappedBytes { map, start, len })
    }

    /// The bytes.
    pub fn bytes(&self) -> &[u8] {
        // Committed when lent (checked by `new`), and the mark never falls while the
        // mapping is shared: never empty in fact.
        self.map
            .committed_bytes(self.start, self.len)
            .unwrap_or_default()
    }
}

impl Chunk {
    /// Bytes in the chunk.
    pub fn len(&self) -> u64 {
        match self {
            Chunk::File { len, .. } => *len,
            Chunk::Mapped(m) => m.bytes().len() as u64,
        }
    }

    /// Whether the chunk is empty (reads never return one).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Appends the chunk's bytes to `out`: a copy, for tests and tools, not for serving.
    pub fn copy_into(&self, out: &mut Vec<u8>) -> std::io::Result<()> {
        match self {
            Chunk::File {
                file,
                position,
                len,
            } => {
                let at = out.len();
                out.resize(at + *len as usize, 0);
                file.read_exact_at(&mut out[at..], *position)
            }
            Chunk::Mapped(m) => {
                out.extend_from_slice(m.bytes());
                Ok(())
            }
        }
    }
}

impl fmt::Debug for Chunk {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Chunk::File { position, len, .. } => {
                write!(f, "File {{ position: {position}, len: {len} }}")
            }
            Chunk::Mapped(m) => write!(f, "Mapped {{ len: {} }}", m.bytes().len()),
        }
    }
}

/// Validates an append's buffer: one or more whole, valid batches. Both engines call
/// this before storing anything.
pub(crate) fn appended_batches(buf: &[u8]) -> Result<Vec<(usize, batch::Header)>> {
    let mut headers = Vec::new();
    for item in batch::split(buf) {
        match item {
            Ok(found) => headers.push(found),
            Err((position, source)) => return Err(Error::InvalidBatch { position, source }),
        }
    }
    if headers.is_empty() {
        return Err(Error::InvalidBatch {
            position: 0,
            source: batch::BatchError::Truncated {
                need: batch::HEADER_LEN as u64,
                have: 0,
            },
        });
    }
    Ok(headers)
}

/// What the broker needs from a storage engine. Both engines implement it, and answer
/// the same calls with the same batches. Every call takes `&self`: an engine locks per
/// partition, so threads share one store, an append to one partition never waits for
/// another's, and a read never waits for an fsync.
pub trait Store: Send + Sync {
    /// Creates a partition if it does not exist yet.
    fn create(&self, tp: &TopicPartition) -> Result<()>;

    /// Deletes a partition and everything it holds. Reads returned earlier stay valid.
    /// The partition may be created again; it then starts at offset 0.
    fn delete(&self, tp: &TopicPartition) -> Result<()>;

    /// Sets a partition's own settings over the store's. An engine refuses, with
    /// [`Error::Config`], a setting it cannot honour per partition. Not persisted: the
    /// caller sets them again after every open.
    fn configure(&self, tp: &TopicPartition, config: &PartitionConfig) -> Result<()>;

    /// The partitions stored, sorted.
    fn partitions(&self) -> Vec<TopicPartition>;

    /// Appends one or more v2 batches (a produce request's records). Every batch is
    /// validated first; on any error nothing is stored. Base offsets in `batches` are
    /// set to the offsets given. `now_ms` is the wall clock, for time-based rolls.
    fn append(&self, tp: &TopicPartition, batches: &mut [u8], now_ms: i64) -> Result<Appended>;

    /// Whole batches from the one that holds `offset`, in order, while their total stays
    /// within `max_bytes` (the first batch is returned even if larger, as Kafka does).
    /// Empty at the end of the log; [`Error::OffsetOutOfRange`] outside it.
    fn read(&self, tp: &TopicPartition, offset: i64, max_bytes: u64) -> Result<Vec<Chunk>> {
        self.read_with_end(tp, offset, max_bytes)
            .map(|(chunks, _)| chunks)
    }

    /// [`Store::read`], and the offset that follows the last batch returned (`offset`
    /// when none is), found from the engine's own bookkeeping without reading the
    /// batches: what a fetch delivered, counted in records.
    fn read_with_end(
        &self,
        tp: &TopicPartition,
        offset: i64,
        max_bytes: u64,
    ) -> Result<(Vec<Chunk>, i64)>;

    /// First and next offset of a partition.
    fn offsets(&self, tp: &TopicPartition) -> Result<Offsets>;

    /// Bytes of record batches a partition holds.
    fn size(&self, tp: &TopicPartition) -> Result<u64>;

    /// Moves a partition's log start offset up to `offset` (Kafka's DeleteRecords) and
    /// returns the log start offset after it: reads below it fail with
    /// [`Error::OffsetOutOfRange`], [`Store::offsets`] starts there, and storage wholly
    /// below it is freed where the engine can. An `offset` at or below the start changes
    /// nothing; one past the end is [`Error::OffsetOutOfRange`]. Durable when it returns.
    fn delete_records(&self, tp: &TopicPartition, offset: i64) -> Result<i64>;

    /// Base offset of the first batch whose largest timestamp is at least `timestamp`,
    /// or `None` if every batch is older.
    fn offset_for_timestamp(&self, tp: &TopicPartition, timestamp: i64) -> Result<Option<i64>>;

    /// Periodic work: retention (deletes whole segments or files past the size or age
    /// limits, never the one being appended to), interval fsyncs, checkpoints.
    fn maintain(&self, now_ms: i64) -> Result<()>;

    /// One pass of the log cleaner over the partitions whose cleanup policy includes
    /// `compact`: each whose share of data not yet cleaned has reached the threshold is
    /// compacted, appends and reads going on meanwhile. Long work: run it on a thread
    /// of its own, as Kafka runs its cleaner. An engine that cannot compact refuses the
    /// policy in [`Store::configure`] and cleans nothing here. Setting `stop` ends the
    /// pass within a batch, keeping what it finished. One result per partition cleaned
    /// or failed: a partition that fails does not hold up the others.
    fn clean(&self, _now_ms: i64, _stop: &AtomicBool) -> Vec<Result<Cleaned>> {
        Vec::new()
    }

    /// Forces everything appended to disk and records the recovery point.
    fn flush(&self) -> Result<()>;

    /// Flushes and marks a clean shutdown, so the next open skips recovery.
    fn close(self: Box<Self>) -> Result<()>;
}

/// Helpers of the engines' unit tests.
#[cfg(test)]
pub(crate) mod testing {
    use std::time::Duration;

    /// A batch of one record.
    pub(crate) fn batch() -> Vec<u8> {
        let mut b = crate::batch::Builder::new(1_700_000_000_000);
        b.push(1_700_000_000_000, None, Some(b"value"));
        b.finish()
    }

    /// Whether `work` finishes on another thread within a minute: far longer than it
    /// takes, so `false` means it waited for a lock the test holds.
    pub(crate) fn finishes(work: impl FnOnce() + Send + 'static) -> bool {
        let (done, finished) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            work();
            let _ = done.send(());
        });
        finished.recv_timeout(Duration::from_secs(60)).is_ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fsync_policies_parse() {
        assert_eq!("none".parse(), Ok(Fsync::None));
        assert_eq!("always".parse(), Ok(Fsync::Always));
        assert_eq!(
            "interval".parse(),
            Ok(Fsync::Interval(Duration::from_secs(1)))
        );
        assert_eq!(
            "interval:250".parse(),
            Ok(Fsync::Interval(Duration::from_millis(250)))
        );
        assert_eq!(
            "interval:250ms".parse(),
            Ok(Fsync::Interval(Duration::from_millis(250)))
        );
        assert!(
            "sometimes"
                .parse::<Fsync>()
                .unwrap_err()
                .contains("interval:<ms>")
        );
    }
}
