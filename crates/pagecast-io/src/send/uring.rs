//! io_uring: the splice pair file → pipe → destination submitted as one linked chain,
//! several pairs per io_uring_enter(2) so one call moves a whole chunk.

use std::os::fd::BorrowedFd;

use super::{Cursor, StepError};
use crate::pipe_pool::PipeLease;
use crate::stats::{Stats, Syscall};
use crate::sys::uring::{self, MAX_CHAIN, SpliceOp};

const SPLICE_F_MOVE: u32 = 1;

pub(crate) struct UringSender<'a> {
    src: BorrowedFd<'a>,
    cursor: Cursor,
    /// File → pipe → destination pairs per submission: a chunk's worth of pipefuls.
    pairs: usize,
    pipe: PipeLease,
}

impl<'a> UringSender<'a> {
    pub(crate) fn open(
        src: BorrowedFd<'a>,
        cursor: Cursor,
        chunk: usize,
        stats: &mut Stats,
    ) -> Result<UringSender<'a>, StepError> {
        uring::available().map_err(StepError::io(Syscall::IoUringSetup, cursor.pos))?;
        let pipe = PipeLease::take(stats).map_err(StepError::io(Syscall::Pipe, cursor.pos))?;
        let pairs = (chunk / pipe.capacity()).clamp(1, MAX_CHAIN / 2);
        Ok(UringSender {
            src,
            cursor,
            pairs,
            pipe,
        })
    }

    pub(crate) fn reads_cache_at(&self) -> Option<u64> {
        (self.pipe.level == 0).then_some(self.cursor.pos)
    }

    /// Returns the bytes delivered, which is 0 when the chain only filled the pipe (a
    /// short read from the file cancels the rest of the chain); the next step drains it.
    pub(crate) fn step(
        &mut self,
        dst: BorrowedFd<'_>,
        stats: &mut Stats,
    ) -> Result<usize, StepError> {
        // (is the op file → pipe, bytes asked) for each op of the chain, in order.
        let mut plan = [(false, 0usize); MAX_CHAIN];
        let mut count = 0;
        if self.pipe.level > 0 {
            plan[0] = (false, self.pipe.level);
            count = 1;
        } else {
            let mut pos = self.cursor.pos;
            for _ in 0..self.pairs {
                let len = Cursor {
                    pos,
                    end: self.cursor.end,
                }
                .next_len(self.pipe.capacity());
                if len == 0 {
                    break;
                }
                pos += len as u64;
                plan[count] = (true, len);
                plan[count + 1] = (false, len);
                count += 2;
            }
        }
        let plan = &plan[..count];
        let mut results = [0i32; MAX_CHAIN];
        let results = &mut results[..count];
        // Built in place, with no allocation per chunk: the unused tail of the array
        // keeps copies of the first op and is never submitted.
        let drain = SpliceOp {
            fd_in: self.pipe.read_end(),
            off_in: None,
            fd_out: dst,
            len: 0,
            flags: SPLICE_F_MOVE,
        };
        // Drains carry no SPLICE_F_MORE, for the reason given in the splice sender.
        let mut ops = [drain; MAX_CHAIN];
        let mut in_pos = self.cursor.pos;
        for (op, &(is_in, len)) in ops.iter_mut().zip(plan) {
            op.len = len as u32;
            if is_in {
                *op = SpliceOp {
                    fd_in: self.src,
                    off_in: Some(in_pos),
                    fd_out: self.pipe.write_end(),
                    len: len as u32,
                    flags: SPLICE_F_MOVE,
                };
                in_pos += len as u64;
            }
        }
        stats.count(Syscall::IoUringEnter);
        let created = uring::splice_chain(&ops[..count], results)
            .map_err(StepError::io(Syscall::IoUringEnter, self.cursor.pos))?;
        if created {
            stats.count(Syscall::IoUringSetup);
        }
        // Results arrive in chain order; the first failure or short count ends the chain
        // and the ops after it report ECANCELED.
        let mut moved = 0usize;
        for (&(is_in, len), &res) in plan.iter().zip(results.iter()) {
            if res < 0 {
                if moved > 0 || res == -libc::ECANCELED {
                    break;
                }
                let err = std::io::Error::from_raw_os_error(-res);
                return Err(StepError::io(Syscall::Splice, self.cursor.pos)(err));
            }
            let n = res as usize;
            if is_in {
                if n == 0 {
                    if moved > 0 || self.pipe.level > 0 {
                        break;
                    }
                    return Err(StepError::Truncated {
                        offset: self.cursor.pos,
                    });
                }
                self.cursor.pos += n as u64;
                self.pipe.level += n;
            } else {
                self.pipe.level -= n;
                moved += n;
            }
            if n < len {
                break;
            }
        }
        Ok(moved)
    }
}
