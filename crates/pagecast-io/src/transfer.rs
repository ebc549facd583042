//! The driver: picks the method, walks its fallbacks, runs a sender step by step, waits
//! when the destination is full, and turns what went wrong into an [`Error`].
//!
//! One loop serves both APIs. It is written against [`Destination`], whose waits are
//! async; the blocking destination waits in poll(2) and is always ready when polled, so
//! [`send_file`] runs the loop to completion with a single poll of the future.

use std::future::Future;
use std::io;
use std::os::fd::{AsFd, BorrowedFd};
use std::pin::pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll, Waker};
use std::time::Instant;

use rustix::event::{PollFd, PollFlags};
use rustix::io::Errno;

use crate::send::{Sender, StepError};
use crate::stats::{Refusal, Stats, Syscall};
use crate::{Error, Method, sys};

/// Default most bytes one system call moves: 2 MiB, nginx's `sendfile_max_chunk`, so
/// one fast reader cannot hold a worker for a whole file.
pub const DEFAULT_CHUNK: usize = 2 << 20;

/// How a transfer runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Options {
    /// The method to try first.
    pub method: Method,
    /// Most bytes one system call moves (sendfile is further capped at 0x7ffff000).
    pub chunk: usize,
    /// Whether a method that declines (see [`Error::Unsupported`]) hands over to the
    /// next in its chain. With `false` the refusal is returned as an error, so a
    /// benchmark measures only the method it asked for. `Auto` always walks its chain.
    pub fallback: bool,
}

impl Default for Options {
    fn default() -> Options {
        Options {
            method: Method::Auto,
            chunk: DEFAULT_CHUNK,
            fallback: true,
        }
    }
}

impl Options {
    /// Default options with `method` tried first.
    pub fn method(method: Method) -> Options {
        Options {
            method,
            ..Options::default()
        }
    }
}

/// Sends `len` bytes of `src` starting at `offset` to `dst`, blocking until done.
///
/// `dst` may be a socket, a pipe or a file, blocking or not (a full non-blocking
/// destination is waited for with poll(2)). `src`'s file position is not used or moved.
/// Returns what moved and how; see [`Stats`].
pub fn send_file(
    src: impl AsFd,
    offset: u64,
    len: u64,
    dst: impl AsFd,
    options: &Options,
) -> Result<Stats, Error> {
    let dst = Blocking(dst.as_fd());
    let mut fut = pin!(drive(src.as_fd(), offset, len, &dst, options));
    match fut.as_mut().poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(result) => result,
        Poll::Pending => unreachable!("a blocking destination never returns Pending"),
    }
}

/// Where the driver writes and how it waits.
pub(crate) trait Destination {
    /// Runs one step against the destination, telling the readiness tracker when the
    /// destination turned out to be full.
    fn try_step(
        &self,
        step: impl FnOnce(BorrowedFd<'_>) -> Result<usize, StepError>,
    ) -> Result<usize, StepError>;

    /// Waits until the destination can take bytes again.
    async fn wait_writable(&self, stats: &mut Stats) -> io::Result<()>;

    /// Brings `len` bytes of `src` from `offset` into the page cache if they are not
    /// there, without blocking the caller's thread on the disk.
    async fn warm(&self, src: BorrowedFd<'_>, offset: u64, len: u64, stats: &mut Stats);

    /// Called after each chunk: lets other work run, so one reader that is always
    /// ready cannot hold the thread for a whole transfer (nginx's
    /// `sendfile_max_chunk`).
    async fn between_chunks(&self) {}
}

/// A destination driven from a thread that may block.
struct Blocking<'a>(BorrowedFd<'a>);

impl Destination for Blocking<'_> {
    fn try_step(
        &self,
        step: impl FnOnce(BorrowedFd<'_>) -> Result<usize, StepError>,
    ) -> Result<usize, StepError> {
        step(self.0)
    }

    async fn wait_writable(&self, stats: &mut Stats) -> io::Result<()> {
        let mut fds = [PollFd::new(&self.0, PollFlags::OUT)];
        loop {
            stats.count(Syscall::Poll);
            match rustix::event::poll(&mut fds, None) {
                Ok(_) => return Ok(()),
                Err(Errno::INTR) => continue,
                Err(e) => return Err(e.into()),
            }
        }
    }

    /// A blocking caller may block on the disk: nothing to do.
    async fn warm(&self, _: BorrowedFd<'_>, _: u64, _: u64, _: &mut Stats) {}
}

/// Methods that answered ENOSYS once: the kernel lacks the call, so later transfers
/// skip them without asking again (as Go's runtime and Rust's std remember).
static MISSING: [AtomicBool; 9] = [const { AtomicBool::new(false) }; 9];

fn method_index(m: Method) -> usize {
    match m {
        Method::ReadWrite { .. } => 0,
        Method::Direct => 1,
        Method::MmapWrite => 2,
        Method::Sendfile => 3,
        Method::Splice => 4,
        Method::IoUring => 5,
        Method::Auto => 6,
        Method::CopyFileRange => 7,
        Method::Reflink => 8,
    }
}

/// How one method's attempt ended, when it did not succeed.
enum Failure {
    /// Declined before moving a byte: try the next method.
    Refused(Refusal),
    /// Failed for good.
    Fatal(Error),
}

pub(crate) async fn drive<D: Destination>(
    src: BorrowedFd<'_>,
    offset: u64,
    len: u64,
    dst: &D,
    options: &Options,
) -> Result<Stats, Error> {
    sys::signal::ignore_default_sigpipe();
    let started = Instant::now();
    let end = offset
        .checked_add(len)
        .ok_or(Error::InvalidInput("offset + len overflows u64"))?;
    if options.chunk == 0 {
        return Err(Error::InvalidInput("chunk size is 0"));
    }
    if matches!(options.method, Method::ReadWrite { buf: 0 }) {
        return Err(Error::InvalidInput("read+write buffer size is 0"));
    }
    let walk_chain = options.fallback || options.method == Method::Auto;
    let first = (options.method != Method::Auto).then_some(options.method);
    let chain = first.into_iter().chain(
        options
            .method
            .fallbacks()
            .iter()
            .copied()
            .filter(|_| walk_chain),
    );

    let mut stats = Stats::new(options.method);
    for method in chain {
        stats.method = method;
        if MISSING[method_index(method)].load(Ordering::Relaxed) {
            stats.fell_back_from.push(Refusal {
                method,
                syscall: native_call(method),
                errno: libc::ENOSYS,
            });
            continue;
        }
        match attempt(method, src, offset, end, dst, options, &mut stats).await {
            Ok(()) => {
                stats.elapsed = started.elapsed();
                return Ok(stats);
            }
            Err(Failure::Fatal(e)) => return Err(e),
            Err(Failure::Refused(refusal)) => {
                if refusal.errno == libc::ENOSYS {
                    MISSING[method_index(method)].store(true, Ordering::Relaxed);
                }
                stats.fell_back_from.push(refusal);
                if !walk_chain {
                    break;
                }
            }
        }
    }
    // Every chain holds at least one method, so something declined.
    let last = stats.fell_back_from.last().cloned().unwrap_or(Refusal {
        method: options.method,
        syscall: native_call(options.method),
        errno: libc::EINVAL,
    });
    Err(Error::Unsupported {
        method: last.method,
        syscall: last.syscall,
        source: io::Error::from_raw_os_error(last.errno),
    })
}

/// The call that moves the data for a method, named in a remembered refusal.
fn native_call(method: Method) -> Syscall {
    match method {
        Method::ReadWrite { .. } | Method::MmapWrite => Syscall::Write,
        Method::Direct => Syscall::Open,
        Method::Sendfile => Syscall::Sendfile,
        Method::Splice | Method::Auto => Syscall::Splice,
        Method::IoUring => Syscall::IoUringSetup,
        Method::CopyFileRange => Syscall::CopyFileRange,
        Method::Reflink => Syscall::Ficlone,
    }
}

async fn attempt<D: Destination>(
    method: Method,
    src: BorrowedFd<'_>,
    offset: u64,
    end: u64,
    dst: &D,
    options: &Options,
    stats: &mut Stats,
) -> Result<(), Failure> {
    let len = end - offset;
    let mut sender = Sender::open(method, src, offset, end, options.chunk, stats)
        .map_err(|e| classify(method, e, 0, end))?;
    let mut warmed_until = offset;
    let mut since_pause = 0u64;
    while stats.bytes < len {
        if let Some(pos) = sender.reads_cache_at()
            && pos >= warmed_until
        {
            let n = (end - pos).min(options.chunk as u64);
            dst.warm(src, pos, n, stats).await;
            warmed_until = pos + n;
        }
        match dst.try_step(|fd| sender.step(fd, stats)) {
            Ok(n) => {
                stats.bytes += n as u64;
                since_pause += n as u64;
                if since_pause >= options.chunk as u64 && stats.bytes < len {
                    since_pause = 0;
                    dst.between_chunks().await;
                }
            }
            Err(StepError::WouldBlock) => {
                stats.waits += 1;
                dst.wait_writable(stats).await.map_err(|err| {
                    Failure::Fatal(Error::Io {
                        syscall: Syscall::Poll,
                        offset: offset + stats.bytes,
                        source: err,
                    })
                })?;
            }
            Err(StepError::Sys { err, .. }) if err.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(classify(method, e, stats.bytes, end)),
        }
    }
    sender
        .finish(stats)
        .map_err(|e| classify(method, e, stats.bytes, end))
}

/// Decides whether a failure means "this method cannot do this transfer, try the next"
/// or is final. Go's rule: EINVAL, ENOSYS, EOPNOTSUPP and EXDEV mean "not handled" only
/// while nothing has been delivered; so does any failure to set a method up (open the
/// O_DIRECT descriptor, map the file, get a pipe or a ring).
fn classify(method: Method, e: StepError, sent: u64, end: u64) -> Failure {
    match e {
        StepError::Truncated { offset } => Failure::Fatal(Error::Truncated {
            offset,
            expected_end: end,
        }),
        StepError::WouldBlock => Failure::Fatal(Error::Io {
            syscall: Syscall::Poll,
            offset: end,
            source: io::ErrorKind::WouldBlock.into(),
        }),
        StepError::Sys {
            syscall,
            offset,
            err,
        } => {
            let errno = err.raw_os_error().unwrap_or(0);
            let closed = matches!(errno, libc::EPIPE | libc::ECONNRESET);
            let setup = matches!(
                syscall,
                Syscall::Open | Syscall::Mmap | Syscall::Pipe | Syscall::IoUringSetup
            );
            let declined = matches!(
                errno,
                libc::EINVAL | libc::ENOSYS | libc::EOPNOTSUPP | libc::EXDEV
            );
            if sent == 0 && !closed && (declined || setup) {
                Failure::Refused(Refusal {
                    method,
                    syscall,
                    errno,
                })
            } else if closed {
                Failure::Fatal(Error::DestinationClosed { sent, source: err })
            } else {
                Failure::Fatal(Error::Io {
                    syscall,
                    offset,
                    source: err,
                })
            }
        }
    }
}
