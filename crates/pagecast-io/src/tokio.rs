//! The tokio adapter: the same senders on a non-blocking destination registered with
//! tokio's reactor. A full destination (EAGAIN) parks the task until the reactor
//! reports it writable; the loop never spins.
//!
//! sendfile(2), splice(2) and a write from a mapping block on a page-cache miss even
//! when the socket is non-blocking, which would stall every task on the worker thread.
//! So before each chunk the driver asks whether the chunk is cached (cachestat(2), or
//! mincore(2) on older kernels) and, if not, reads it in on tokio's blocking pool first
//! (nginx's `aio threads` lesson). `Method::Direct` reads from the device on the
//! calling thread by design and is not warmed.
//!
//! A reader that is always ready never makes the socket return EAGAIN, so the task
//! would never give the thread back; it yields after every chunk instead.

use std::future::Future;
use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};

use rustix::fs::Advice;
use tokio::io::Interest;
use tokio::io::unix::AsyncFd;

use crate::send::StepError;
use crate::stats::{Stats, Syscall};
use crate::sys::residency;
use crate::transfer::{Destination, drive};
use crate::{Error, Options};

/// A non-blocking destination registered with tokio: a socket or an [`AsyncFd`].
pub trait AsyncDestination: AsFd {
    /// Waits until the reactor reports the destination writable.
    fn writable(&self) -> impl Future<Output = io::Result<()>> + Send;

    /// Runs `f`, clearing the writable readiness if it returns `WouldBlock`.
    fn try_write_io<R>(&self, f: impl FnOnce() -> io::Result<R>) -> io::Result<R>;
}

impl AsyncDestination for tokio::net::TcpStream {
    fn writable(&self) -> impl Future<Output = io::Result<()>> + Send {
        tokio::net::TcpStream::writable(self)
    }

    fn try_write_io<R>(&self, f: impl FnOnce() -> io::Result<R>) -> io::Result<R> {
        self.try_io(Interest::WRITABLE, f)
    }
}

impl AsyncDestination for tokio::net::UnixStream {
    fn writable(&self) -> impl Future<Output = io::Result<()>> + Send {
        tokio::net::UnixStream::writable(self)
    }

    fn try_write_io<R>(&self, f: impl FnOnce() -> io::Result<R>) -> io::Result<R> {
        self.try_io(Interest::WRITABLE, f)
    }
}

impl<T: AsFd + std::os::fd::AsRawFd + Send + Sync> AsyncDestination for AsyncFd<T> {
    async fn writable(&self) -> io::Result<()> {
        AsyncFd::writable(self).await.map(|_| ())
    }

    fn try_write_io<R>(&self, f: impl FnOnce() -> io::Result<R>) -> io::Result<R> {
        self.try_io(Interest::WRITABLE, |_| f())
    }
}

/// Sends `len` bytes of `src` from `offset` to `dst` without blocking the runtime.
/// The counterpart of [`crate::send_file`]; needs a tokio runtime with the blocking
/// pool (any multi-thread or current-thread runtime).
pub async fn send_file<D: AsyncDestination>(
    src: impl AsFd,
    offset: u64,
    len: u64,
    dst: &D,
    options: &Options,
) -> Result<Stats, Error> {
    drive(src.as_fd(), offset, len, &Tokio(dst), options).await
}

/// Most slices one writev(2) takes (Linux's `IOV_MAX`).
const IOV_MAX: usize = 1024;

/// Writes `slices` of mappings the caller holds to `dst` with writev(2): the mmap + write
/// method for data that is mapped already (the commit log's files), so no mapping is
/// made per transfer and many small slices leave in one call. Each call moves at most
/// [`Options::chunk`] bytes and the task yields between calls, as [`send_file`] does.
/// The caller keeps the mappings valid, and their files untruncated, while this runs.
pub async fn send_mapped<D: AsyncDestination>(
    slices: &[&[u8]],
    dst: &D,
    options: &Options,
) -> Result<Stats, Error> {
    crate::sys::signal::ignore_default_sigpipe();
    let start = std::time::Instant::now();
    let mut stats = Stats::new(crate::Method::MmapWrite);
    let chunk = options.chunk.max(1);
    // The first slice not wholly sent, and how much of it was.
    let (mut first, mut skip) = (0, 0);
    while first < slices.len() {
        let mut iov = Vec::with_capacity((slices.len() - first).min(IOV_MAX));
        let mut room = chunk;
        for (i, s) in slices[first..].iter().enumerate() {
            let s = if i == 0 { &s[skip..] } else { s };
            if room == 0 || iov.len() == IOV_MAX {
                break;
            }
            let take = s.len().min(room);
            iov.push(io::IoSlice::new(&s[..take]));
            room -= take;
        }
        stats.count(Syscall::Write);
        match dst.try_write_io(|| rustix::io::writev(dst.as_fd(), &iov).map_err(io::Error::from)) {
            Ok(0) if iov.iter().any(|s| !s.is_empty()) => {
                return Err(Error::DestinationClosed {
                    sent: stats.bytes,
                    source: io::ErrorKind::WriteZero.into(),
                });
            }
            Ok(mut n) => {
                stats.bytes += n as u64;
                while first < slices.len() && n >= slices[first].len() - skip {
                    n -= slices[first].len() - skip;
                    first += 1;
                    skip = 0;
                }
                skip += n;
                if first < slices.len() {
                    tokio::task::yield_now().await;
                }
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                stats.waits += 1;
                dst.writable().await.map_err(|source| Error::Io {
                    syscall: Syscall::Poll,
                    offset: stats.bytes,
                    source,
                })?;
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::BrokenPipe | io::ErrorKind::ConnectionReset
                ) =>
            {
                return Err(Error::DestinationClosed {
                    sent: stats.bytes,
                    source: e,
                });
            }
            Err(source) => {
                return Err(Error::Io {
                    syscall: Syscall::Write,
                    offset: stats.bytes,
                    source,
                });
            }
        }
    }
    stats.elapsed = start.elapsed();
    Ok(stats)
}

struct Tokio<'a, D>(&'a D);

impl<D: AsyncDestination> Destination for Tokio<'_, D> {
    fn try_step(
        &self,
        step: impl FnOnce(BorrowedFd<'_>) -> Result<usize, StepError>,
    ) -> Result<usize, StepError> {
        let fd = self.0.as_fd();
        let mut failure = None;
        let result = self.0.try_write_io(|| match step(fd) {
            Ok(n) => Ok(n),
            Err(StepError::WouldBlock) => Err(io::ErrorKind::WouldBlock.into()),
            Err(e) => {
                failure = Some(e);
                Err(io::Error::other("step failed"))
            }
        });
        match (result, failure) {
            (Ok(n), _) => Ok(n),
            (Err(_), Some(e)) => Err(e),
            (Err(e), None) if e.kind() == io::ErrorKind::WouldBlock => Err(StepError::WouldBlock),
            (Err(err), None) => Err(StepError::Sys {
                syscall: Syscall::Poll,
                offset: 0,
                err,
            }),
        }
    }

    async fn wait_writable(&self, _: &mut Stats) -> io::Result<()> {
        self.0.writable().await
    }

    async fn between_chunks(&self) {
        tokio::task::yield_now().await;
    }

    async fn warm(&self, src: BorrowedFd<'_>, offset: u64, len: u64, stats: &mut Stats) {
        stats.count(Syscall::Residency);
        // Warming only saves the event loop a stall; if it cannot be done, the send
        // goes ahead and blocks on the disk as a blocking caller would.
        if residency::is_cached(src, offset, len).unwrap_or(true) {
            return;
        }
        let Ok(file) = src.try_clone_to_owned() else {
            return;
        };
        stats.warmups += 1;
        let _ = tokio::task::spawn_blocking(move || read_in(&file, offset, len)).await;
    }
}

/// Reads a range into the page cache on a blocking thread: WILLNEED starts the I/O for
/// the whole range at once, then a read through it waits for the pages.
fn read_in(file: &OwnedFd, offset: u64, len: u64) {
    let _ = rustix::fs::fadvise(
        file,
        offset,
        std::num::NonZeroU64::new(len),
        Advice::WillNeed,
    );
    let mut scratch = vec![0u8; 128 * 1024];
    let end = offset + len;
    let mut pos = offset;
    while pos < end {
        let want = usize::try_from(end - pos).map_or(scratch.len(), |l| l.min(scratch.len()));
        match rustix::io::pread(file, &mut scratch[..want], pos) {
            Ok(0) | Err(_) => return,
            Ok(n) => pos += n as u64,
        }
    }
}
