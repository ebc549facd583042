//! Shared by the integration tests: pattern files and a TCP receiver that checks every
//! byte it gets against the source file (the oracle), so multi-GiB transfers need no
//! multi-GiB buffers.

#![allow(dead_code)]

use std::fs::File;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::thread::JoinHandle;

use pagecast_io::{DEFAULT_READ_WRITE_BUF, Method};

/// A byte that depends on its offset in a way no small period repeats.
pub fn pattern_byte(offset: u64) -> u8 {
    let x = offset.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    (x >> 56) as u8 ^ (offset >> 12) as u8
}

/// Writes a file of `len` pattern bytes at `path`.
pub fn pattern_file(path: &Path, len: u64) -> File {
    let mut f = File::options()
        .read(true)
        .write(true)
        .create(true)
        .truncate(true)
        .open(path)
        .unwrap();
    let mut buf = vec![0u8; 1 << 20];
    let mut pos = 0u64;
    while pos < len {
        let n = (len - pos).min(buf.len() as u64) as usize;
        for (i, b) in buf[..n].iter_mut().enumerate() {
            *b = pattern_byte(pos + i as u64);
        }
        f.write_all(&buf[..n]).unwrap();
        pos += n as u64;
    }
    f
}

/// What a receiver saw.
#[derive(Debug)]
pub struct Received {
    /// Bytes read before EOF.
    pub len: u64,
    /// Offset (relative to the range) of the first byte that differed from the file.
    pub first_mismatch: Option<u64>,
}

/// A loopback listener whose single connection is checked against `oracle` from
/// `offset` on, until EOF.
pub fn receiver(oracle: File, offset: u64) -> (TcpStream, JoinHandle<Received>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let handle = std::thread::spawn(move || {
        let (mut conn, _) = listener.accept().unwrap();
        check_stream(&mut conn, &oracle, offset)
    });
    (TcpStream::connect(addr).unwrap(), handle)
}

/// Reads `conn` to EOF, comparing with `oracle` from `offset`.
pub fn check_stream(conn: &mut impl Read, oracle: &File, offset: u64) -> Received {
    let mut got = vec![0u8; 1 << 20];
    let mut want = vec![0u8; 1 << 20];
    let mut len = 0u64;
    let mut first_mismatch = None;
    loop {
        let n = match conn.read(&mut got) {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        if first_mismatch.is_none() {
            let mut filled = 0;
            while filled < n {
                let m = oracle
                    .read_at(&mut want[filled..n], offset + len + filled as u64)
                    .unwrap();
                if m == 0 {
                    break;
                }
                filled += m;
            }
            if filled < n || got[..n] != want[..n] {
                let i = (0..filled).find(|&i| got[i] != want[i]).unwrap_or(filled);
                first_mismatch = Some(len + i as u64);
            }
        }
        len += n as u64;
    }
    Received {
        len,
        first_mismatch,
    }
}

/// Every method the engine has, with Auto.
pub fn all_methods() -> Vec<Method> {
    let mut v = Method::ALL.to_vec();
    v.push(Method::Auto);
    v.push(Method::ReadWrite { buf: 4097 });
    assert!(v.contains(&Method::ReadWrite {
        buf: DEFAULT_READ_WRITE_BUF
    }));
    v
}

/// The environment switch that makes a refused io_uring a test failure instead of an
/// accepted fallback. The test command sets it, so that CI proves io_uring really ran.
pub const REQUIRE_IO_URING: &str = "PAGECAST_REQUIRE_IO_URING";

/// Whether io_uring runs here. Where the kernel refuses it (a container's seccomp
/// filter, `kernel.io_uring_disabled`), says so on standard error, and fails if
/// [`REQUIRE_IO_URING`] is set to 1.
pub fn io_uring_runs() -> bool {
    io_uring_runs_unless_required(std::env::var(REQUIRE_IO_URING).as_deref() == Ok("1"))
}

/// [`io_uring_runs`], with the switch given.
pub fn io_uring_runs_unless_required(required: bool) -> bool {
    match pagecast_io::io_uring_available() {
        Ok(()) => true,
        Err(e) => {
            assert!(
                !required,
                "io_uring is refused here ({e}) and {REQUIRE_IO_URING}=1 requires it; \
                 unset it to accept the fallback to sendfile"
            );
            eprintln!("io_uring is refused here ({e}): its cases test the fallback instead");
            false
        }
    }
}

/// Options that run exactly `method` — except io_uring where the kernel refuses it,
/// which then must fall back and say so (see [`io_uring_runs`]).
pub fn strict(method: Method) -> pagecast_io::Options {
    pagecast_io::Options {
        method,
        fallback: method == Method::IoUring && !io_uring_runs(),
        ..pagecast_io::Options::default()
    }
}
