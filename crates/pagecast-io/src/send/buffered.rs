//! read+write and O_DIRECT: the source is read into a user-space buffer, then written.
//! They differ only in how the buffer is filled.

use std::ops::Range;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};

use rustix::fs::{Mode, OFlags};

use super::{Cursor, StepError, write_out};
use crate::stats::{Stats, Syscall};
use crate::sys::aligned::AlignedBuf;

/// O_DIRECT alignment of buffer address, file offset and length. 4096 covers devices
/// with 512-byte and 4 KiB logical blocks.
pub const DIRECT_ALIGN: usize = 4096;

/// The O_DIRECT buffer: 1 MiB, so each device read is large.
pub const DIRECT_BUF: usize = 1 << 20;

enum Source<'a> {
    /// pread through the caller's descriptor into a Vec.
    Cached { fd: BorrowedFd<'a>, buf: Vec<u8> },
    /// pread through our own O_DIRECT descriptor into an aligned buffer.
    Direct { fd: OwnedFd, buf: AlignedBuf },
}

pub(crate) struct Buffered<'a> {
    source: Source<'a>,
    cursor: Cursor,
    /// Most bytes one write moves (an O_DIRECT read may be larger: whole blocks).
    chunk: usize,
    /// Bytes of the buffer read but not yet written.
    pending: Range<usize>,
}

impl<'a> Buffered<'a> {
    pub(crate) fn read_write(src: BorrowedFd<'a>, cursor: Cursor, buf: usize) -> Buffered<'a> {
        let len = cursor.next_len(buf.max(1));
        Buffered {
            source: Source::Cached {
                fd: src,
                buf: vec![0; len],
            },
            cursor,
            chunk: buf.max(1),
            pending: 0..0,
        }
    }

    /// Opens the source again with O_DIRECT (through /proc/self/fd, so the caller's
    /// descriptor keeps its flags). Filesystems without direct I/O (ramfs, procfs,
    /// some FUSE) refuse the open with EINVAL; the engine then falls back.
    pub(crate) fn direct(
        src: BorrowedFd<'a>,
        cursor: Cursor,
        chunk: usize,
        stats: &mut Stats,
    ) -> Result<Buffered<'a>, StepError> {
        stats.count(Syscall::Open);
        let path = format!("/proc/self/fd/{}", src.as_raw_fd());
        let fd = rustix::fs::open(
            path.as_str(),
            OFlags::RDONLY | OFlags::DIRECT | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .map_err(StepError::sys(Syscall::Open, cursor.pos))?;
        let len = chunk.clamp(DIRECT_ALIGN, DIRECT_BUF) / DIRECT_ALIGN * DIRECT_ALIGN;
        let buf = AlignedBuf::new(len, DIRECT_ALIGN).ok_or(StepError::Sys {
            syscall: Syscall::Open,
            offset: cursor.pos,
            err: std::io::Error::from_raw_os_error(libc::ENOMEM),
        })?;
        Ok(Buffered {
            source: Source::Direct { fd, buf },
            cursor,
            chunk,
            pending: 0..0,
        })
    }

    pub(crate) fn reads_cache_at(&self) -> Option<u64> {
        match self.source {
            Source::Cached { .. } if self.pending.is_empty() => Some(self.cursor.pos),
            _ => None,
        }
    }

    pub(crate) fn step(
        &mut self,
        dst: BorrowedFd<'_>,
        stats: &mut Stats,
    ) -> Result<usize, StepError> {
        if self.pending.is_empty() {
            self.fill(stats)?;
        }
        let buf: &[u8] = match &self.source {
            Source::Cached { buf, .. } => buf,
            Source::Direct { buf, .. } => buf,
        };
        let end = self.pending.end.min(self.pending.start + self.chunk);
        let n = write_out(dst, &buf[self.pending.start..end], self.cursor.pos, stats)?;
        self.pending.start += n;
        Ok(n)
    }

    fn fill(&mut self, stats: &mut Stats) -> Result<(), StepError> {
        let pos = self.cursor.pos;
        stats.count(Syscall::Pread);
        let (skip, got) = match &mut self.source {
            Source::Cached { fd, buf } => {
                let want = self.cursor.next_len(buf.len());
                let n = rustix::io::pread(*fd, &mut buf[..want], pos)
                    .map_err(StepError::sys(Syscall::Pread, pos))?;
                (0, n)
            }
            Source::Direct { fd, buf } => {
                // Read the aligned block span that covers pos, and skip its head.
                let skip = (pos % DIRECT_ALIGN as u64) as usize;
                let want = self.cursor.next_len(buf.len() - skip) + skip;
                let want = want.next_multiple_of(DIRECT_ALIGN).min(buf.len());
                let n = rustix::io::pread(fd.as_fd(), &mut buf[..want], pos - skip as u64)
                    .map_err(StepError::sys(Syscall::Pread, pos))?;
                let left = self.cursor.next_len(usize::MAX);
                (skip, n.saturating_sub(skip).min(left))
            }
        };
        if got == 0 {
            return Err(StepError::Truncated { offset: pos });
        }
        self.cursor.pos += got as u64;
        self.pending = skip..skip + got;
        Ok(())
    }
}
