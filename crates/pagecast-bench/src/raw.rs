//! The same system calls as each engine method, in a bare loop with no engine around
//! them: no fallbacks, no stats, no step machinery. Comparing the two shows what the
//! engine itself costs. The loops assume what the benchmark guarantees: a blocking
//! socket and a file that nobody truncates.

use std::fs::File;
use std::io;
use std::os::fd::AsFd;

use io_uring::{IoUring, opcode, squeue, types};
use pagecast_io::Method;
use rustix::fs::{Mode, OFlags};
use rustix::pipe::{SpliceFlags, fcntl_setpipe_size, pipe};

use crate::sys::{RawMapping, push_chain};

const CHUNK: usize = pagecast_io::DEFAULT_CHUNK;
const PIPE: usize = 1 << 20;

/// Sends all `len` bytes of `file` to `sock` by `method`; returns the system calls made.
pub(crate) fn send(method: Method, file: &File, len: u64, sock: impl AsFd) -> io::Result<u64> {
    let sock = sock.as_fd();
    match method {
        Method::ReadWrite { buf } => read_write(file, len, sock, vec![0u8; buf]),
        Method::Direct => direct(file, len, sock),
        Method::MmapWrite => mmap_write(file, len, sock),
        Method::Sendfile | Method::Auto => sendfile(file, len, sock),
        Method::Splice => splice(file, len, sock),
        Method::IoUring => uring(file, len, sock),
        Method::CopyFileRange | Method::Reflink => Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("{method} copies file to file: it has no loop into a socket"),
        )),
    }
}

fn write_all(sock: impl AsFd, mut bytes: &[u8], calls: &mut u64) -> io::Result<()> {
    while !bytes.is_empty() {
        *calls += 1;
        let n = rustix::io::write(&sock, bytes)?;
        bytes = &bytes[n..];
    }
    Ok(())
}

fn short() -> io::Error {
    io::ErrorKind::UnexpectedEof.into()
}

fn read_write(file: &File, len: u64, sock: impl AsFd, mut buf: Vec<u8>) -> io::Result<u64> {
    pread_write(file, &mut buf, 1, len, sock)
}

fn direct(file: &File, len: u64, sock: impl AsFd) -> io::Result<u64> {
    let path = format!("/proc/self/fd/{}", std::os::fd::AsRawFd::as_raw_fd(file));
    let fd = rustix::fs::open(
        path.as_str(),
        OFlags::RDONLY | OFlags::DIRECT,
        Mode::empty(),
    )?;
    // An aligned window inside an over-allocated Vec: no allocator tricks needed.
    let mut storage = vec![0u8; PIPE + 4096];
    let skip = storage.as_ptr().align_offset(4096);
    Ok(1 + pread_write(&fd, &mut storage[skip..skip + PIPE], 4096, len, sock)?)
}

/// pread into `buf`, asking for lengths rounded up to `align` (O_DIRECT needs whole
/// blocks), then write all of what was read; returns the calls made.
fn pread_write(
    fd: impl AsFd,
    buf: &mut [u8],
    align: usize,
    len: u64,
    sock: impl AsFd,
) -> io::Result<u64> {
    let (mut pos, mut calls) = (0u64, 0u64);
    while pos < len {
        let want = buf
            .len()
            .min((len - pos) as usize)
            .next_multiple_of(align)
            .min(buf.len());
        calls += 1;
        let n = rustix::io::pread(&fd, &mut buf[..want], pos)?.min((len - pos) as usize);
        if n == 0 {
            return Err(short());
        }
        write_all(&sock, &buf[..n], &mut calls)?;
        pos += n as u64;
    }
    Ok(calls)
}

fn mmap_write(file: &File, len: u64, sock: impl AsFd) -> io::Result<u64> {
    if len == 0 {
        return Ok(0);
    }
    let map = RawMapping::new(file.as_fd(), len as usize)?;
    let (mut pos, mut calls) = (0usize, 2u64);
    while pos < len as usize {
        calls += 1;
        pos += map.write_to(&sock, pos, CHUNK)?;
    }
    Ok(calls)
}

fn sendfile(file: &File, len: u64, sock: impl AsFd) -> io::Result<u64> {
    let (mut pos, mut calls) = (0u64, 0u64);
    while pos < len {
        calls += 1;
        let want = CHUNK.min((len - pos) as usize);
        if rustix::fs::sendfile(&sock, file, Some(&mut pos), want)? == 0 {
            return Err(short());
        }
    }
    Ok(calls)
}

fn splice(file: &File, len: u64, sock: impl AsFd) -> io::Result<u64> {
    let (r, w) = pipe()?;
    let cap = fcntl_setpipe_size(&w, PIPE)?;
    let (mut pos, mut calls) = (0u64, 2u64);
    while pos < len {
        calls += 1;
        let want = cap.min((len - pos) as usize);
        let n = rustix::pipe::splice(file, Some(&mut pos), &w, None, want, SpliceFlags::MOVE)?;
        if n == 0 {
            return Err(short());
        }
        let mut left = n;
        while left > 0 {
            calls += 1;
            left -= rustix::pipe::splice(&r, None, &sock, None, left, SpliceFlags::MOVE)?;
        }
    }
    Ok(calls)
}

fn uring(file: &File, len: u64, sock: impl AsFd) -> io::Result<u64> {
    use std::os::fd::AsRawFd;
    let mut ring = IoUring::new(8)?;
    let (r, w) = pipe()?;
    let cap = fcntl_setpipe_size(&w, PIPE)?;
    let (file_fd, r_fd, w_fd, s_fd) = (
        types::Fd(file.as_raw_fd()),
        types::Fd(r.as_raw_fd()),
        types::Fd(w.as_raw_fd()),
        types::Fd(sock.as_fd().as_raw_fd()),
    );
    let (mut pos, mut calls) = (0u64, 3u64);
    while pos < len {
        // Two linked file → pipe → socket pairs per enter: one 2 MiB chunk.
        let mut entries = Vec::with_capacity(4);
        let mut planned = 0u64;
        for _ in 0..CHUNK / cap {
            let n = cap.min((len - pos - planned) as usize);
            if n == 0 {
                break;
            }
            let off = (pos + planned) as i64;
            let i = entries.len() as u64;
            entries.push(
                opcode::Splice::new(file_fd, off, w_fd, -1, n as u32)
                    .build()
                    .user_data(i)
                    .flags(squeue::Flags::IO_LINK),
            );
            entries.push(
                opcode::Splice::new(r_fd, -1, s_fd, -1, n as u32)
                    .build()
                    .user_data(i + 1)
                    .flags(squeue::Flags::IO_LINK),
            );
            planned += n as u64;
        }
        if let Some(last) = entries.pop() {
            entries.push(last.flags(squeue::Flags::empty()));
        }
        push_chain(&mut ring, &entries)?;
        calls += 1;
        ring.submit_and_wait(entries.len())?;
        let mut in_pipe = 0i64;
        let mut reaped = 0;
        while reaped < entries.len() {
            let Some(cqe) = ring.completion().next() else {
                calls += 1;
                ring.submit_and_wait(entries.len() - reaped)?;
                continue;
            };
            reaped += 1;
            let res = cqe.result();
            if res == -libc::ECANCELED {
                continue;
            }
            if res < 0 {
                return Err(io::Error::from_raw_os_error(-res));
            }
            // Even user_data: file → pipe; odd: pipe → socket.
            if cqe.user_data() % 2 == 0 {
                if res == 0 {
                    return Err(short());
                }
                in_pipe += res as i64;
                pos += res as u64;
            } else {
                in_pipe -= res as i64;
            }
        }
        // A short splice broke the chain: drain what it left in the pipe.
        while in_pipe > 0 {
            calls += 1;
            in_pipe -=
                rustix::pipe::splice(&r, None, &sock, None, in_pipe as usize, SpliceFlags::MOVE)?
                    as i64;
        }
    }
    Ok(calls)
}
