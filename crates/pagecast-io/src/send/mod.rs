//! One sender per method. A sender moves a file range to a destination one step at a
//! time: each step makes the few system calls that move at most one chunk, and returns
//! [`StepError::WouldBlock`] when the destination is full, so the blocking driver
//! (poll) and the tokio driver (readiness) run the same code.

mod buffered;
mod copy;
mod mmap;
mod sendfile;
mod splice;
mod uring;

use std::io;
use std::os::fd::BorrowedFd;

use rustix::io::Errno;

use crate::Method;
use crate::stats::{Stats, Syscall};

/// sendfile(2) moves at most this much per call (MAX_RW_COUNT); larger counts are
/// silently cut, so the engine never asks for more.
pub const SENDFILE_MAX: usize = 0x7fff_f000;

/// Why a step did not move bytes.
#[derive(Debug)]
pub(crate) enum StepError {
    /// The destination is full; wait until it is writable and step again.
    WouldBlock,
    /// A system call failed.
    Sys {
        syscall: Syscall,
        /// Source offset the sender had reached.
        offset: u64,
        err: io::Error,
    },
    /// The source gave no data at `offset`, before the end of the range.
    Truncated { offset: u64 },
}

impl StepError {
    pub(crate) fn sys(syscall: Syscall, offset: u64) -> impl FnOnce(Errno) -> StepError {
        move |e| {
            if e == Errno::AGAIN {
                StepError::WouldBlock
            } else {
                StepError::Sys {
                    syscall,
                    offset,
                    err: e.into(),
                }
            }
        }
    }

    pub(crate) fn io(syscall: Syscall, offset: u64) -> impl FnOnce(io::Error) -> StepError {
        move |err| {
            if err.kind() == io::ErrorKind::WouldBlock {
                StepError::WouldBlock
            } else {
                StepError::Sys {
                    syscall,
                    offset,
                    err,
                }
            }
        }
    }
}

/// The part of the file still to be read: `pos..end`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Cursor {
    pub pos: u64,
    pub end: u64,
}

impl Cursor {
    /// Bytes left to read, capped at `cap`.
    fn next_len(&self, cap: usize) -> usize {
        usize::try_from(self.end - self.pos).map_or(cap, |left| left.min(cap))
    }
}

/// A transfer in progress by one method.
pub(crate) enum Sender<'a> {
    Buffered(buffered::Buffered<'a>),
    Mmap(mmap::MmapSender<'a>),
    Sendfile(sendfile::SendfileSender<'a>),
    Splice(splice::SpliceSender<'a>),
    IoUring(uring::UringSender<'a>),
    CopyFileRange(copy::CopyFileRangeSender<'a>),
    Reflink(copy::ReflinkSender<'a>),
}

impl<'a> Sender<'a> {
    /// Prepares `method` (not `Auto`) to send `len` bytes of `src` from `offset`, each
    /// system call moving at most `chunk` bytes.
    pub(crate) fn open(
        method: Method,
        src: BorrowedFd<'a>,
        offset: u64,
        end: u64,
        chunk: usize,
        stats: &mut Stats,
    ) -> Result<Sender<'a>, StepError> {
        let cursor = Cursor { pos: offset, end };
        Ok(match method {
            Method::ReadWrite { buf } => {
                Sender::Buffered(buffered::Buffered::read_write(src, cursor, buf.min(chunk)))
            }
            Method::Direct => {
                Sender::Buffered(buffered::Buffered::direct(src, cursor, chunk, stats)?)
            }
            Method::MmapWrite => Sender::Mmap(mmap::MmapSender::open(src, cursor, chunk, stats)?),
            Method::Sendfile => Sender::Sendfile(sendfile::SendfileSender::new(src, cursor, chunk)),
            Method::Splice => {
                Sender::Splice(splice::SpliceSender::open(src, cursor, chunk, stats)?)
            }
            Method::IoUring => {
                Sender::IoUring(uring::UringSender::open(src, cursor, chunk, stats)?)
            }
            Method::CopyFileRange => {
                Sender::CopyFileRange(copy::CopyFileRangeSender::new(src, cursor, chunk))
            }
            Method::Reflink => Sender::Reflink(copy::ReflinkSender::new(src, cursor, chunk)),
            Method::Auto => unreachable!("Auto is resolved to a method before a sender opens"),
        })
    }

    /// Moves at most one chunk to `dst`; returns the bytes delivered. io_uring may
    /// return 0 when it only filled its pipe; every other sender delivers at least 1.
    pub(crate) fn step(
        &mut self,
        dst: BorrowedFd<'_>,
        stats: &mut Stats,
    ) -> Result<usize, StepError> {
        match self {
            Sender::Buffered(s) => s.step(dst, stats),
            Sender::Mmap(s) => s.step(dst, stats),
            Sender::Sendfile(s) => s.step(dst, stats),
            Sender::Splice(s) => s.step(dst, stats),
            Sender::IoUring(s) => s.step(dst, stats),
            Sender::CopyFileRange(s) => s.step(dst, stats),
            Sender::Reflink(s) => s.step(dst, stats),
        }
    }

    /// The source offset the next step reads through the page cache, if it reads at
    /// all (it may only flush bytes already read). The tokio driver warms from there.
    pub(crate) fn reads_cache_at(&self) -> Option<u64> {
        match self {
            Sender::Buffered(s) => s.reads_cache_at(),
            Sender::Mmap(s) => Some(s.cursor.pos),
            Sender::Sendfile(s) => Some(s.cursor.pos),
            Sender::Splice(s) => s.reads_cache_at(),
            Sender::IoUring(s) => s.reads_cache_at(),
            Sender::CopyFileRange(s) => Some(s.cursor.pos),
            Sender::Reflink(_) => None,
        }
    }

    /// Runs once after the last byte was delivered.
    pub(crate) fn finish(&mut self, stats: &mut Stats) -> Result<(), StepError> {
        match self {
            Sender::Mmap(s) => s.finish(stats),
            _ => Ok(()),
        }
    }
}

/// write(2) of `bytes` to `dst`: the destination side of read+write and O_DIRECT.
pub(crate) fn write_out(
    dst: BorrowedFd<'_>,
    bytes: &[u8],
    offset: u64,
    stats: &mut Stats,
) -> Result<usize, StepError> {
    stats.count(Syscall::Write);
    match rustix::io::write(dst, bytes) {
        Ok(0) => Err(StepError::Sys {
            syscall: Syscall::Write,
            offset,
            err: io::ErrorKind::WriteZero.into(),
        }),
        Ok(n) => Ok(n),
        Err(e) => Err(StepError::sys(Syscall::Write, offset)(e)),
    }
}
