//! mmap + write: the range is mapped once and written chunk by chunk, so the read copy
//! disappears and the write copies mapping → socket buffer.
//!
//! Truncation by another process cannot raise SIGBUS here (see `sys::mmap`): the kernel
//! copy faults, write(2) comes up short or fails with EFAULT, and the size is checked.
//! One gap remains, inherent to mmap: if the file shrinks to a size inside the last
//! mapped page, the bytes between the new end and the page end read as zeros without a
//! fault. The size is therefore checked again after the last write, so such a transfer
//! still ends in [`crate::Error::Truncated`] and the caller closes the connection.
//! `Auto` never picks this method for that reason; the log uses it on files it owns.

use std::os::fd::BorrowedFd;

use rustix::io::Errno;

use super::{Cursor, StepError};
use crate::stats::{Stats, Syscall};
use crate::sys::mmap::Mapping;

pub(crate) struct MmapSender<'a> {
    src: BorrowedFd<'a>,
    pub(crate) cursor: Cursor,
    chunk: usize,
    /// The mapping and the file offset of its first byte; none for an empty range.
    map: Option<(Mapping, u64)>,
}

impl<'a> MmapSender<'a> {
    pub(crate) fn open(
        src: BorrowedFd<'a>,
        cursor: Cursor,
        chunk: usize,
        stats: &mut Stats,
    ) -> Result<MmapSender<'a>, StepError> {
        let size = file_size(src, cursor.pos, stats)?;
        if size < cursor.end {
            return Err(StepError::Truncated {
                offset: size.max(cursor.pos),
            });
        }
        let map = if cursor.pos == cursor.end {
            None
        } else {
            let page = rustix::param::page_size() as u64;
            let start = cursor.pos / page * page;
            let len = usize::try_from(cursor.end - start).map_err(|_| StepError::Sys {
                syscall: Syscall::Mmap,
                offset: cursor.pos,
                err: Errno::OVERFLOW.into(),
            })?;
            stats.count(Syscall::Mmap);
            stats.count(Syscall::Munmap);
            let map =
                Mapping::new(src, start, len).map_err(StepError::io(Syscall::Mmap, cursor.pos))?;
            Some((map, start))
        };
        Ok(MmapSender {
            src,
            cursor,
            chunk,
            map,
        })
    }

    pub(crate) fn step(
        &mut self,
        dst: BorrowedFd<'_>,
        stats: &mut Stats,
    ) -> Result<usize, StepError> {
        let pos = self.cursor.pos;
        let Some((map, start)) = &self.map else {
            return Err(StepError::Truncated { offset: pos });
        };
        let at = (pos - start) as usize;
        stats.count(Syscall::Write);
        match map.write_to(dst, at, self.cursor.next_len(self.chunk)) {
            Ok(0) => Err(StepError::Sys {
                syscall: Syscall::Write,
                offset: pos,
                err: std::io::ErrorKind::WriteZero.into(),
            }),
            Ok(n) => {
                self.cursor.pos += n as u64;
                Ok(n)
            }
            // The kernel faulted on the mapping: the file no longer covers this page.
            Err(e) if e.raw_os_error() == Some(libc::EFAULT) => {
                let size = file_size(self.src, pos, stats)?;
                Err(StepError::Truncated {
                    offset: size.min(pos),
                })
            }
            Err(e) => Err(StepError::io(Syscall::Write, pos)(e)),
        }
    }

    /// Checks that the file still covers the whole range, so zeros read from the tail
    /// of a page past a new end of file are never passed off as the file's bytes.
    pub(crate) fn finish(&mut self, stats: &mut Stats) -> Result<(), StepError> {
        if self.map.is_none() {
            return Ok(());
        }
        let size = file_size(self.src, self.cursor.pos, stats)?;
        if size < self.cursor.end {
            return Err(StepError::Truncated { offset: size });
        }
        Ok(())
    }
}

fn file_size(src: BorrowedFd<'_>, pos: u64, stats: &mut Stats) -> Result<u64, StepError> {
    stats.count(Syscall::Fstat);
    let st = rustix::fs::fstat(src).map_err(StepError::sys(Syscall::Fstat, pos))?;
    Ok(u64::try_from(st.st_size).unwrap_or(0))
}
