//! What can go wrong in storage, naming the file and position a user needs to act on it.

use std::io;
use std::path::PathBuf;

use crate::TopicPartition;
use crate::batch::BatchError;

/// A failed storage operation.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A system call on a file of the log failed.
    #[error("{op} {}: {source}", file.display())]
    Io {
        /// What was being done ("write", "open", "fallocate", ...).
        op: &'static str,
        /// The file or directory.
        file: PathBuf,
        /// The kernel's answer.
        source: io::Error,
    },
    /// Appended data is not a sequence of valid v2 record batches. Nothing of the append
    /// was stored.
    #[error("invalid record batch at byte {position} of the appended data: {source}")]
    InvalidBatch {
        /// Position of the bad batch in the appended buffer.
        position: usize,
        /// What is wrong with it.
        source: BatchError,
    },
    /// One batch is larger than a segment or commit-log file can hold.
    #[error("a {size}-byte batch is larger than the {max}-byte limit")]
    BatchTooLarge {
        /// Size of the batch.
        size: u64,
        /// The largest batch the engine stores.
        max: u64,
    },
    /// Stored data is damaged before its end (not a torn tail from a crash). The log was
    /// not opened; open it with repair to truncate at `position`, losing what follows.
    #[error(
        "{}: damaged data at byte {position}: {reason}; valid data follows it, so this is not a torn tail (open with repair to truncate there and drop what follows)",
        file.display()
    )]
    Corrupt {
        /// The damaged file.
        file: PathBuf,
        /// Byte position of the first damaged record batch or entry.
        position: u64,
        /// What is wrong there.
        reason: String,
    },
    /// A file of the log does not have the shape its format requires.
    #[error("{}: {reason}", file.display())]
    BadFile {
        /// The file.
        file: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// The offset is outside the partition's log.
    #[error("offset {offset} is outside {partition}, which holds offsets {start}..{end}")]
    OffsetOutOfRange {
        /// The partition.
        partition: TopicPartition,
        /// The offset asked for.
        offset: i64,
        /// First offset held.
        start: i64,
        /// Offset the next record gets.
        end: i64,
    },
    /// The partition does not exist.
    #[error("unknown partition {0}")]
    UnknownPartition(TopicPartition),
    /// A configuration value is out of range.
    #[error("invalid configuration: {0}")]
    Config(String),
}

impl Error {
    pub(crate) fn io(
        op: &'static str,
        file: impl Into<PathBuf>,
    ) -> impl FnOnce(io::Error) -> Error {
        let file = file.into();
        move |source| Error::Io { op, file, source }
    }

    /// Whether the error is a full disk (ENOSPC or EDQUOT): freeing space lets appends
    /// succeed again.
    pub fn is_disk_full(&self) -> bool {
        matches!(self, Error::Io { source, .. }
            if matches!(source.raw_os_error(), Some(libc::ENOSPC) | Some(libc::EDQUOT)))
    }
}

/// Result of a storage operation.
pub type Result<T, E = Error> = std::result::Result<T, E>;
