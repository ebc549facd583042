//! The other direction: bytes from a stream (a socket, a pipe) into a file at an
//! offset, with splice(2) stream → pipe → file so they never pass through user space,
//! or read + pwrite where splice is refused (a file system without splice_write, a
//! source that is not a stream). `pagecast get` writes downloads with it.

use std::io;
use std::os::fd::{AsFd, BorrowedFd};
use std::time::Instant;

use rustix::io::Errno;
use rustix::pipe::SpliceFlags;

use crate::pipe_pool::PipeLease;
use crate::stats::{Refusal, Stats, Syscall};
use crate::{Error, Method};

/// Buffer of the read + pwrite fallback.
const FALLBACK_BUF: usize = 256 * 1024;

/// Moves `len` bytes from the blocking stream `src` into `dst` starting at file offset
/// `offset`. `progress` hears the total written so far after every step. A stream that
/// ends early is [`Error::SourceEnded`], with every byte that did arrive written.
pub fn receive_file(
    src: impl AsFd,
    dst: impl AsFd,
    offset: u64,
    len: u64,
    mut progress: impl FnMut(u64),
) -> Result<Stats, Error> {
    let (src, dst) = (src.as_fd(), dst.as_fd());
    offset.checked_add(len).ok_or(Error::InvalidInput(
        "offset + length overflows a file offset",
    ))?;
    let started = Instant::now();
    let mut stats = Stats::new(Method::Splice);
    match by_splice(src, dst, offset, len, &mut stats, &mut progress) {
        Err(Declined(refusal)) => {
            stats.method = Method::ReadWrite { buf: FALLBACK_BUF };
            stats.fell_back_from.push(refusal);
            by_read_write(src, dst, offset, len, &mut stats, &mut progress)?;
        }
        Ok(result) => result?,
    }
    stats.elapsed = started.elapsed();
    Ok(stats)
}

/// splice refused before a byte moved.
struct Declined(Refusal);

fn by_splice(
    src: BorrowedFd<'_>,
    dst: BorrowedFd<'_>,
    offset: u64,
    len: u64,
    stats: &mut Stats,
    progress: &mut impl FnMut(u64),
) -> Result<Result<(), Error>, Declined> {
    let decline = |syscall, errno: i32| {
        Declined(Refusal {
            method: Method::Splice,
            syscall,
            errno,
        })
    };
    let mut pipe = PipeLease::take(stats)
        .map_err(|e| decline(Syscall::Pipe, e.raw_os_error().unwrap_or(libc::EIO)))?;
    let mut written = 0u64;
    while written < len {
        let want =
            usize::try_from(len - written).map_or(pipe.capacity(), |r| r.min(pipe.capacity()));
        stats.count(Syscall::Splice);
        let n = match rustix::pipe::splice(
            src,
            None,
            pipe.write_end(),
            None,
            want,
            SpliceFlags::MOVE,
        ) {
            Ok(0) => {
                return Ok(Err(Error::SourceEnded {
                    received: written,
                    expected: len,
                }));
            }
            Ok(n) => n,
            Err(Errno::INTR) => continue,
            Err(e) if written == 0 && declines(e) => {
                return Err(decline(Syscall::Splice, e.raw_os_error()));
            }
            Err(e) => return Ok(Err(io_error(Syscall::Splice, offset + written, e.into()))),
        };
        pipe.level = n;
        while pipe.level > 0 {
            let mut at = offset + written;
            stats.count(Syscall::Splice);
            match rustix::pipe::splice(
                pipe.read_end(),
                None,
                dst,
                Some(&mut at),
                pipe.level,
                SpliceFlags::MOVE,
            ) {
                Ok(m) => {
                    pipe.level -= m;
                    written += m as u64;
                    stats.bytes = written;
                }
                Err(Errno::INTR) => {}
                Err(e) if written == 0 && declines(e) => {
                    // The bytes already in the pipe came off the stream: write them the
                    // ordinary way before handing over, or they would be lost.
                    let moved = drain_pipe(&mut pipe, dst, offset, stats)
                        .map_err(|_| decline(Syscall::Splice, e.raw_os_error()))?;
                    stats.bytes = moved;
                    progress(moved);
                    stats.method = Method::ReadWrite { buf: FALLBACK_BUF };
                    stats.fell_back_from.push(Refusal {
                        method: Method::Splice,
                        syscall: Syscall::Splice,
                        errno: e.raw_os_error(),
                    });
                    return Ok(by_read_write(
                        src,
                        dst,
                        offset + moved,
                        len - moved,
                        stats,
                        progress,
                    ));
                }
                Err(e) => return Ok(Err(io_error(Syscall::Splice, offset + written, e.into()))),
            }
        }
        progress(written);
    }
    Ok(Ok(()))
}

/// Reads what the pipe holds and pwrites it at `offset`; returns the bytes moved.
fn drain_pipe(
    pipe: &mut PipeLease,
    dst: BorrowedFd<'_>,
    offset: u64,
    stats: &mut Stats,
) -> io::Result<u64> {
    let mut buf = vec![0u8; pipe.level];
    let mut filled = 0;
    while filled < buf.len() {
        stats.count(Syscall::Pread);
        filled += rustix::io::read(pipe.read_end(), &mut buf[filled..])?;
    }
    pipe.level = 0;
    write_all_at(dst, &buf, offset, stats)?;
    Ok(buf.len() as u64)
}

fn declines(e: Errno) -> bool {
    matches!(
        e,
        Errno::INVAL | Errno::NOSYS | Errno::OPNOTSUPP | Errno::XDEV
    )
}

fn by_read_write(
    src: BorrowedFd<'_>,
    dst: BorrowedFd<'_>,
    offset: u64,
    len: u64,
    stats: &mut Stats,
    progress: &mut impl FnMut(u64),
) -> Result<(), Error> {
    let mut buf = vec![0u8; FALLBACK_BUF];
    let base = stats.bytes;
    let mut written = 0u64;
    while written < len {
        let want = usize::try_from(len - written).map_or(buf.len(), |r| r.min(buf.len()));
        stats.count(Syscall::Pread);
        let n = match rustix::io::read(src, &mut buf[..want]) {
            Ok(0) => {
                return Err(Error::SourceEnded {
                    received: base + written,
                    expected: base + len,
                });
            }
            Ok(n) => n,
            Err(Errno::INTR) => continue,
            Err(e) => return Err(io_error(Syscall::Pread, offset + written, e.into())),
        };
        write_all_at(dst, &buf[..n], offset + written, stats)
            .map_err(|e| io_error(Syscall::Write, offset + written, e))?;
        written += n as u64;
        stats.bytes = base + written;
        progress(stats.bytes);
    }
    Ok(())
}

fn write_all_at(
    dst: BorrowedFd<'_>,
    mut bytes: &[u8],
    mut at: u64,
    stats: &mut Stats,
) -> io::Result<()> {
    while !bytes.is_empty() {
        stats.count(Syscall::Write);
        match rustix::io::pwrite(dst, bytes, at) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => {
                bytes = &bytes[n..];
                at += n as u64;
            }
            Err(Errno::INTR) => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(())
}

fn io_error(syscall: Syscall, offset: u64, source: io::Error) -> Error {
    Error::Io {
        syscall,
        offset,
        source,
    }
}
