//! File → file inside the kernel: copy_file_range(2), and FICLONERANGE (reflink), which
//! shares extents instead of copying. Both write at the destination's file position
//! and move it on, as write(2) does, so the driver treats them as any other sender.

use std::io;
use std::os::fd::BorrowedFd;

use rustix::fs::{FileType, SeekFrom};

use super::{Cursor, StepError};
use crate::stats::{Stats, Syscall};
use crate::sys;

/// copy_file_range(2), one chunk per call.
pub(crate) struct CopyFileRangeSender<'a> {
    src: BorrowedFd<'a>,
    pub(crate) cursor: Cursor,
    chunk: usize,
}

impl<'a> CopyFileRangeSender<'a> {
    pub(crate) fn new(src: BorrowedFd<'a>, cursor: Cursor, chunk: usize) -> Self {
        CopyFileRangeSender { src, cursor, chunk }
    }

    pub(crate) fn step(
        &mut self,
        dst: BorrowedFd<'_>,
        stats: &mut Stats,
    ) -> Result<usize, StepError> {
        let len = self.cursor.next_len(self.chunk);
        let n = copy_range(self.src, &mut self.cursor, dst, len, stats)?;
        Ok(n)
    }
}

/// One copy_file_range(2) call from the cursor, at the destination's position.
fn copy_range(
    src: BorrowedFd<'_>,
    cursor: &mut Cursor,
    dst: BorrowedFd<'_>,
    len: usize,
    stats: &mut Stats,
) -> Result<usize, StepError> {
    let pos = cursor.pos;
    let mut offset = pos;
    stats.count(Syscall::CopyFileRange);
    let n = rustix::fs::copy_file_range(src, Some(&mut offset), dst, None, len)
        .map_err(|e| refused_on_append(e, Syscall::CopyFileRange, pos))?;
    if n == 0 {
        // At the end of the source: the file is shorter than the range.
        return Err(StepError::Truncated { offset: pos });
    }
    cursor.pos += n as u64;
    Ok(n)
}

/// EBADF from these calls means the destination was opened with O_APPEND, which they
/// refuse (copy_file_range(2), ioctl_ficlonerange(2)): the method cannot do this
/// transfer, so it is reported as EINVAL, which the driver takes for a refusal.
fn refused_on_append(e: rustix::io::Errno, syscall: Syscall, pos: u64) -> StepError {
    let e = if e == rustix::io::Errno::BADF {
        rustix::io::Errno::INVAL
    } else {
        e
    };
    StepError::sys(syscall, pos)(e)
}

/// FICLONERANGE for the block-aligned part of the range (or all of it when it ends at
/// the source's end), then copy_file_range for a last partial block. The clone moves
/// no data, so it is one call, not cut in chunks.
pub(crate) struct ReflinkSender<'a> {
    src: BorrowedFd<'a>,
    pub(crate) cursor: Cursor,
    chunk: usize,
    cloned: bool,
}

impl<'a> ReflinkSender<'a> {
    pub(crate) fn new(src: BorrowedFd<'a>, cursor: Cursor, chunk: usize) -> Self {
        ReflinkSender {
            src,
            cursor,
            chunk,
            cloned: false,
        }
    }

    pub(crate) fn step(
        &mut self,
        dst: BorrowedFd<'_>,
        stats: &mut Stats,
    ) -> Result<usize, StepError> {
        if self.cloned {
            let len = self.cursor.next_len(self.chunk);
            return copy_range(self.src, &mut self.cursor, dst, len, stats);
        }
        self.cloned = true;
        let pos = self.cursor.pos;
        let refuse = |errno: rustix::io::Errno| StepError::sys(Syscall::Ficlone, pos)(errno);
        stats.count(Syscall::Fstat);
        let kind = rustix::fs::fstat(dst).map_err(StepError::sys(Syscall::Fstat, pos))?;
        if FileType::from_raw_mode(kind.st_mode) != FileType::RegularFile {
            return Err(refuse(rustix::io::Errno::INVAL));
        }
        stats.count(Syscall::Lseek);
        let at = rustix::fs::seek(dst, SeekFrom::Current(0))
            .map_err(StepError::sys(Syscall::Lseek, pos))?;
        let block = u64::try_from(kind.st_blksize).unwrap_or(4096).max(1);
        stats.count(Syscall::Fstat);
        let src_len = rustix::fs::fstat(self.src)
            .map_err(StepError::sys(Syscall::Fstat, pos))?
            .st_size as u64;
        // A range that ends at the source's end may end in a partial block; any other
        // range is cloned in whole blocks and its rest copied.
        let blocks = (self.cursor.end - pos) / block * block;
        let mut whole = if self.cursor.end == src_len {
            self.cursor.end - pos
        } else {
            blocks
        };
        if !pos.is_multiple_of(block) || !at.is_multiple_of(block) || whole == 0 {
            // Unaligned: the filesystem would refuse it; copy_file_range can take it.
            return Err(refuse(rustix::io::Errno::INVAL));
        }
        stats.count(Syscall::Ficlone);
        let mut cloned = sys::clone::clone_range(self.src, pos, whole, dst, at);
        if whole != blocks
            && blocks > 0
            && cloned
                .as_ref()
                .is_err_and(|e| e.raw_os_error() == Some(libc::EINVAL))
        {
            // The source grew since its length was read (a file being appended to), so
            // its partial last block is no longer at its end: clone the whole blocks.
            whole = blocks;
            stats.count(Syscall::Ficlone);
            cloned = sys::clone::clone_range(self.src, pos, whole, dst, at);
        }
        cloned.map_err(|e| {
            let errno = rustix::io::Errno::from_io_error(&e).unwrap_or(rustix::io::Errno::IO);
            refused_on_append(errno, Syscall::Ficlone, pos)
        })?;
        stats.count(Syscall::Lseek);
        rustix::fs::seek(dst, SeekFrom::Start(at + whole))
            .map_err(StepError::sys(Syscall::Lseek, pos))?;
        self.cursor.pos += whole;
        usize::try_from(whole).map_err(|_| StepError::Sys {
            syscall: Syscall::Ficlone,
            offset: pos,
            err: io::ErrorKind::InvalidInput.into(),
        })
    }
}
