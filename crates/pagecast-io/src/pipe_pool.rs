//! A bounded pool of 1 MiB pipes for splice.
//!
//! splice(2) needs a pipe between file and socket. Making one per transfer costs three
//! system calls (pipe2, F_SETPIPE_SZ, close) and a 1 MiB pipe per connection runs into
//! the per-user pipe page limit (`/proc/sys/fs/pipe-user-pages-soft`) at around a
//! thousand connections. So pipes are pooled (as Go's runtime does), the number alive is
//! capped, and a transfer that cannot have one falls back to another method. A pipe that
//! still holds bytes (a transfer that failed halfway) is closed, never returned: the next
//! user would send someone else's bytes.

use std::io;
use std::os::fd::{BorrowedFd, OwnedFd};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use rustix::pipe::{PipeFlags, fcntl_getpipe_size, fcntl_setpipe_size, pipe_with};

use crate::stats::{Stats, Syscall};

/// Size each pooled pipe is grown to: the default `/proc/sys/fs/pipe-max-size`.
pub const PIPE_SIZE: usize = 1 << 20;

/// Pipes alive at once, idle or lent, across the process.
pub const MAX_PIPES: usize = 256;

struct Pipe {
    read: OwnedFd,
    write: OwnedFd,
    capacity: usize,
}

static IDLE: Mutex<Vec<Pipe>> = Mutex::new(Vec::new());
static ALIVE: AtomicUsize = AtomicUsize::new(0);

/// A pipe lent from the pool, with the count of bytes it holds. Goes back to the pool on
/// drop if empty, and is closed otherwise.
pub(crate) struct PipeLease {
    pipe: Option<Pipe>,
    /// Bytes spliced in and not yet out.
    pub(crate) level: usize,
}

impl PipeLease {
    /// Lends an idle pipe or makes a new one. Fails with EMFILE when MAX_PIPES are
    /// alive, or with what pipe2(2) said.
    pub(crate) fn take(stats: &mut Stats) -> io::Result<PipeLease> {
        let idle = IDLE.lock().unwrap_or_else(|p| p.into_inner()).pop();
        let pipe = match idle {
            Some(p) => p,
            None => make(stats)?,
        };
        Ok(PipeLease {
            pipe: Some(pipe),
            level: 0,
        })
    }

    fn pipe(&self) -> &Pipe {
        match &self.pipe {
            Some(p) => p,
            None => unreachable!("a lease holds its pipe until drop"),
        }
    }

    pub(crate) fn read_end(&self) -> BorrowedFd<'_> {
        use std::os::fd::AsFd;
        self.pipe().read.as_fd()
    }

    pub(crate) fn write_end(&self) -> BorrowedFd<'_> {
        use std::os::fd::AsFd;
        self.pipe().write.as_fd()
    }

    /// Bytes the pipe holds when full.
    pub(crate) fn capacity(&self) -> usize {
        self.pipe().capacity
    }
}

impl Drop for PipeLease {
    fn drop(&mut self) {
        let Some(pipe) = self.pipe.take() else { return };
        if self.level == 0 {
            let mut idle = IDLE.lock().unwrap_or_else(|p| p.into_inner());
            idle.push(pipe);
        } else {
            ALIVE.fetch_sub(1, Ordering::Relaxed);
        }
    }
}

fn make(stats: &mut Stats) -> io::Result<Pipe> {
    if ALIVE.fetch_add(1, Ordering::Relaxed) >= MAX_PIPES {
        ALIVE.fetch_sub(1, Ordering::Relaxed);
        return Err(io::Error::from_raw_os_error(libc::EMFILE));
    }
    stats.count(Syscall::Pipe);
    let (read, write) = match pipe_with(PipeFlags::CLOEXEC) {
        Ok(p) => p,
        Err(e) => {
            ALIVE.fetch_sub(1, Ordering::Relaxed);
            return Err(e.into());
        }
    };
    stats.count(Syscall::Pipe);
    // Growing fails with EPERM past pipe-max-size or the per-user page limit; a pipe of
    // the default 64 KiB still works, only with more calls per byte.
    let capacity = match fcntl_setpipe_size(&write, PIPE_SIZE) {
        Ok(n) => n,
        Err(_) => {
            stats.count(Syscall::Pipe);
            fcntl_getpipe_size(&write)?
        }
    };
    Ok(Pipe {
        read,
        write,
        capacity,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Method;

    #[test]
    fn a_pipe_that_holds_bytes_is_not_returned() {
        let mut stats = Stats::new(Method::Splice);
        let mut lease = PipeLease::take(&mut stats).unwrap();
        assert!(lease.capacity() >= 4096);
        rustix::io::write(lease.write_end(), b"left over").unwrap();
        lease.level = 9;
        let before = IDLE.lock().unwrap().len();
        drop(lease);
        assert_eq!(IDLE.lock().unwrap().len(), before);

        let lease = PipeLease::take(&mut stats).unwrap();
        let mut buf = [0u8; 16];
        rustix::io::write(lease.write_end(), b"x").unwrap();
        let n = rustix::io::read(lease.read_end(), &mut buf).unwrap();
        assert_eq!(&buf[..n], b"x", "a new or empty pipe holds no old bytes");
    }
}
