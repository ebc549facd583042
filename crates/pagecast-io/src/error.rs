//! What can go wrong in a transfer, with the offsets a user needs to act on it.

use std::io;

use crate::Method;
use crate::stats::Syscall;

/// A failed transfer.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The method cannot move these descriptors (EINVAL, ENOSYS, EOPNOTSUPP, EXDEV
    /// before a byte moved, or a resource it needs could not be had). Only returned when
    /// fallbacks are off; otherwise the next method runs and the refusal is recorded in
    /// [`crate::Stats::fell_back_from`].
    #[error("{method} is not supported here: {syscall} failed: {source}")]
    Unsupported {
        /// The method that refused.
        method: Method,
        /// The call that refused.
        syscall: Syscall,
        /// The kernel's answer.
        source: io::Error,
    },
    /// The source ended before the range did: the file shrank during the transfer, or the
    /// range was past its end. Bytes already sent are the file's own; nothing is padded.
    #[error(
        "source file ended at byte {offset} but the transfer needs bytes up to {expected_end} (was it truncated during the transfer?)"
    )]
    Truncated {
        /// File offset at which the source gave no more data.
        offset: u64,
        /// Offset one past the last byte the transfer was asked to send.
        expected_end: u64,
    },
    /// A stream being received into a file ended before the expected length (the
    /// sender closed the connection early). Every byte that arrived was written.
    #[error("the sender closed the stream after {received} of {expected} bytes")]
    SourceEnded {
        /// Bytes received and written.
        received: u64,
        /// Bytes expected.
        expected: u64,
    },
    /// The destination was closed by its reader (EPIPE or ECONNRESET).
    #[error("destination closed after {sent} bytes of the transfer: {source}")]
    DestinationClosed {
        /// Bytes of this transfer delivered before the close.
        sent: u64,
        /// The kernel's answer.
        source: io::Error,
    },
    /// Any other failure of a system call.
    #[error("{syscall} failed at source offset {offset}: {source}")]
    Io {
        /// The call that failed.
        syscall: Syscall,
        /// Source file offset the transfer had reached.
        offset: u64,
        /// The kernel's answer.
        source: io::Error,
    },
    /// The arguments cannot describe a transfer (a range that overflows u64, a zero
    /// buffer or chunk size).
    #[error("invalid transfer: {0}")]
    InvalidInput(&'static str),
}

impl Error {
    /// True when the transfer failed because the file shrank under it.
    pub fn is_truncated(&self) -> bool {
        matches!(self, Error::Truncated { .. })
    }
}

impl From<Error> for io::Error {
    fn from(e: Error) -> io::Error {
        let kind = match &e {
            Error::Unsupported { .. } => io::ErrorKind::Unsupported,
            Error::Truncated { .. } | Error::SourceEnded { .. } => io::ErrorKind::UnexpectedEof,
            Error::DestinationClosed { source, .. } | Error::Io { source, .. } => source.kind(),
            Error::InvalidInput(_) => io::ErrorKind::InvalidInput,
        };
        io::Error::new(kind, e)
    }
}
