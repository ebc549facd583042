//! What one transfer did: bytes, system calls by kind, waits, time, and the method
//! that really ran.

use std::fmt;
use std::time::Duration;

use crate::Method;

/// The system calls the engine makes, counted per transfer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Syscall {
    /// open(2) of the `O_DIRECT` descriptor.
    Open,
    /// fstat(2).
    Fstat,
    /// pread(2).
    Pread,
    /// write(2).
    Write,
    /// mmap(2).
    Mmap,
    /// munmap(2).
    Munmap,
    /// sendfile(2).
    Sendfile,
    /// splice(2).
    Splice,
    /// pipe2(2) and the fcntl(2) that sizes it.
    Pipe,
    /// io_uring_setup(2) and io_uring_register(2).
    IoUringSetup,
    /// io_uring_enter(2).
    IoUringEnter,
    /// poll(2) while the destination was full.
    Poll,
    /// cachestat(2) or mincore(2): is the next chunk in the page cache?
    Residency,
    /// copy_file_range(2).
    CopyFileRange,
    /// ioctl(2) FICLONERANGE: share the source's extents (reflink).
    Ficlone,
    /// lseek(2) of a destination file.
    Lseek,
}

impl Syscall {
    const COUNT: usize = 16;

    /// Every kind, in display order.
    pub const ALL: [Syscall; Self::COUNT] = [
        Syscall::Open,
        Syscall::Fstat,
        Syscall::Pread,
        Syscall::Write,
        Syscall::Mmap,
        Syscall::Munmap,
        Syscall::Sendfile,
        Syscall::Splice,
        Syscall::Pipe,
        Syscall::IoUringSetup,
        Syscall::IoUringEnter,
        Syscall::Poll,
        Syscall::Residency,
        Syscall::CopyFileRange,
        Syscall::Ficlone,
        Syscall::Lseek,
    ];

    /// The call's name as in section 2 of the manual.
    pub fn name(self) -> &'static str {
        match self {
            Syscall::Open => "open",
            Syscall::Fstat => "fstat",
            Syscall::Pread => "pread",
            Syscall::Write => "write",
            Syscall::Mmap => "mmap",
            Syscall::Munmap => "munmap",
            Syscall::Sendfile => "sendfile",
            Syscall::Splice => "splice",
            Syscall::Pipe => "pipe",
            Syscall::IoUringSetup => "io_uring_setup",
            Syscall::IoUringEnter => "io_uring_enter",
            Syscall::Poll => "poll",
            Syscall::Residency => "cachestat",
            Syscall::CopyFileRange => "copy_file_range",
            Syscall::Ficlone => "ioctl(FICLONERANGE)",
            Syscall::Lseek => "lseek",
        }
    }
}

impl fmt::Display for Syscall {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// System calls made, by kind.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SyscallCounts([u64; Syscall::COUNT]);

impl SyscallCounts {
    /// Calls of one kind.
    pub fn get(&self, kind: Syscall) -> u64 {
        self.0[kind as usize]
    }

    /// All calls.
    pub fn total(&self) -> u64 {
        self.0.iter().sum()
    }

    /// User↔kernel mode switches: two per system call (what the classic zero-copy
    /// table calls "context switches"). io_uring work done by kernel threads makes none.
    pub fn mode_switches(&self) -> u64 {
        2 * self.total()
    }

    pub(crate) fn add(&mut self, kind: Syscall, n: u64) {
        self.0[kind as usize] += n;
    }

    /// Kinds with a non-zero count.
    pub fn iter(&self) -> impl Iterator<Item = (Syscall, u64)> + '_ {
        Syscall::ALL
            .into_iter()
            .map(|k| (k, self.get(k)))
            .filter(|&(_, n)| n > 0)
    }
}

impl fmt::Display for SyscallCounts {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut first = true;
        for (kind, n) in self.iter() {
            if !first {
                f.write_str(" ")?;
            }
            first = false;
            write!(f, "{kind}={n}")?;
        }
        Ok(())
    }
}

/// A method that declined a transfer before moving a byte, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    /// The method that declined.
    pub method: Method,
    /// The call that declined.
    pub syscall: Syscall,
    /// The errno it returned.
    pub errno: i32,
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} ({}: {})",
            self.method,
            self.syscall,
            std::io::Error::from_raw_os_error(self.errno)
        )
    }
}

/// What one transfer did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stats {
    /// Bytes delivered to the destination.
    pub bytes: u64,
    /// The method that moved the bytes.
    pub method: Method,
    /// Methods tried first that declined, in order.
    pub fell_back_from: Vec<Refusal>,
    /// System calls made, by kind, including those of the methods that declined.
    pub syscalls: SyscallCounts,
    /// Times the destination was full (EAGAIN) and the transfer waited for it.
    pub waits: u64,
    /// Chunks that were not in the page cache and were read in off the event loop
    /// before sending (tokio API only).
    pub warmups: u64,
    /// Wall-clock time of the transfer.
    pub elapsed: Duration,
}

impl Stats {
    pub(crate) fn new(method: Method) -> Stats {
        Stats {
            bytes: 0,
            method,
            fell_back_from: Vec::new(),
            syscalls: SyscallCounts::default(),
            waits: 0,
            warmups: 0,
            elapsed: Duration::ZERO,
        }
    }

    pub(crate) fn count(&mut self, kind: Syscall) {
        self.syscalls.add(kind, 1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mode_switches_are_two_per_call() {
        let mut s = SyscallCounts::default();
        s.add(Syscall::Sendfile, 3);
        s.add(Syscall::Poll, 1);
        assert_eq!(s.total(), 4);
        assert_eq!(s.mode_switches(), 8);
        assert_eq!(s.to_string(), "sendfile=3 poll=1");
    }

    #[test]
    fn all_lists_every_kind_once() {
        for (i, k) in Syscall::ALL.into_iter().enumerate() {
            assert_eq!(k as usize, i);
        }
    }
}
