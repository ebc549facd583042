//! pagecast-io moves a byte range of a file to any descriptor — a socket, a pipe, a
//! file — by each method the zero-copy literature compares, and says what it did.
//!
//! ```no_run
//! use pagecast_io::{send_file, Method, Options};
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let file = std::fs::File::open("video.mp4")?;
//! let socket = std::net::TcpStream::connect("127.0.0.1:8080")?;
//! let stats = send_file(&file, 0, file.metadata()?.len(), &socket, &Options::default())?;
//! println!("{} bytes by {} in {:?} ({})", stats.bytes, stats.method, stats.elapsed, stats.syscalls);
//! # Ok(()) }
//! ```
//!
//! - Methods: [`Method::ReadWrite`], [`Method::Direct`], [`Method::MmapWrite`],
//!   [`Method::Sendfile`], [`Method::Splice`], [`Method::IoUring`], and [`Method::Auto`]
//!   (sendfile, then splice, then read+write).
//! - Fallbacks follow Go's runtime: a method that fails with EINVAL, ENOSYS, EOPNOTSUPP
//!   or EXDEV before it delivered a byte hands over to the next; [`Stats::method`] says
//!   what ran and [`Stats::fell_back_from`] what declined.
//! - Each system call moves at most [`Options::chunk`] bytes (2 MiB by default), so one
//!   fast reader cannot hold a thread and transfers above 4 GiB work.
//! - A source that shrinks mid-transfer ends in [`Error::Truncated`] naming the offset;
//!   a destination that closes ends in [`Error::DestinationClosed`]. The process never
//!   dies of SIGPIPE: if SIGPIPE is at its default action the first transfer sets it to
//!   ignored (sendfile and splice cannot suppress it per call).
//! - [`receive_file`] goes the other way, a stream into a file, by splice where it can.
//! - [`copy_file`] copies a range into another file by the same driver, with
//!   [`Method::Reflink`] and [`Method::CopyFileRange`] at the head of the chain;
//!   [`Extents`] says how much of a copy shares the source's blocks.
//! - With the `tokio` feature, [`tokio::send_file`] does the same on non-blocking sockets.

mod copy;
mod error;
mod method;
mod pipe_pool;
mod receive;
mod send;
mod stats;
mod sys;
mod transfer;

#[cfg(feature = "tokio")]
pub mod tokio;

pub use copy::{Extents, copy_file, copy_options};
pub use error::Error;
pub use method::{DEFAULT_READ_WRITE_BUF, Method, UnknownMethod};
pub use pipe_pool::{MAX_PIPES, PIPE_SIZE};
pub use receive::receive_file;
pub use send::SENDFILE_MAX;
pub use stats::{Refusal, Stats, Syscall, SyscallCounts};
pub use transfer::{DEFAULT_CHUNK, Options, send_file};

/// Whether io_uring splice can run in this process (probed once). The error names the
/// kernel's answer: ENOSYS or EPERM when rings are disabled or filtered, EOPNOTSUPP when
/// the kernel predates `IORING_OP_SPLICE` (Linux 5.7).
pub fn io_uring_available() -> std::io::Result<()> {
    sys::uring::available()
}
