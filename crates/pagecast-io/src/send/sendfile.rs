//! sendfile(2): page cache → destination inside the kernel, one call per chunk.

use std::os::fd::BorrowedFd;

use super::{Cursor, SENDFILE_MAX, StepError};
use crate::stats::{Stats, Syscall};

pub(crate) struct SendfileSender<'a> {
    src: BorrowedFd<'a>,
    pub(crate) cursor: Cursor,
    chunk: usize,
}

impl<'a> SendfileSender<'a> {
    pub(crate) fn new(src: BorrowedFd<'a>, cursor: Cursor, chunk: usize) -> SendfileSender<'a> {
        SendfileSender {
            src,
            cursor,
            chunk: chunk.min(SENDFILE_MAX),
        }
    }

    pub(crate) fn step(
        &mut self,
        dst: BorrowedFd<'_>,
        stats: &mut Stats,
    ) -> Result<usize, StepError> {
        let pos = self.cursor.pos;
        let mut offset = pos;
        stats.count(Syscall::Sendfile);
        let n = rustix::fs::sendfile(
            dst,
            self.src,
            Some(&mut offset),
            self.cursor.next_len(self.chunk),
        )
        .map_err(StepError::sys(Syscall::Sendfile, pos))?;
        if n == 0 {
            // sendfile returns 0 at end of file: the file is shorter than the range.
            return Err(StepError::Truncated { offset: pos });
        }
        self.cursor.pos += n as u64;
        Ok(n)
    }
}
