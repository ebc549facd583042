//! The receiving end of the transfer benchmark, run as a separate process so its CPU
//! time is not the sender's. It accepts one connection at a time, drains it to EOF,
//! answers with the byte count (8 bytes, little-endian) and waits for the next.
//!
//! Two kinds, because over loopback the receiver's own copy caps what the sender's
//! savings can show: `zero-copy` splices the socket into /dev/null through a pipe and
//! copies nothing; `ordinary` reads into a buffer as most programs do.

use std::fmt;
use std::fs::File;
use std::io::{self, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::str::FromStr;

use rustix::pipe::{SpliceFlags, fcntl_setpipe_size, pipe};

/// The hidden subcommand the benchmark starts its receiver with.
pub const RECEIVER_SUBCOMMAND: &str = "__bench-receiver";

/// How the receiver consumes bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReceiverKind {
    /// splice socket → pipe → /dev/null: no copy into user space.
    ZeroCopy,
    /// read(2) into a 256 KiB buffer.
    Ordinary,
}

impl ReceiverKind {
    /// Both kinds, zero-copy first.
    pub const BOTH: [ReceiverKind; 2] = [ReceiverKind::ZeroCopy, ReceiverKind::Ordinary];

    /// Name as accepted on the command line.
    pub fn name(self) -> &'static str {
        match self {
            ReceiverKind::ZeroCopy => "zero-copy",
            ReceiverKind::Ordinary => "ordinary",
        }
    }

    /// What the receiver does, for table headings.
    pub fn describe(self) -> &'static str {
        match self {
            ReceiverKind::ZeroCopy => "zero-copy receiver (splice into /dev/null)",
            ReceiverKind::Ordinary => "ordinary receiver (read into a 256 KiB buffer)",
        }
    }
}

impl fmt::Display for ReceiverKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for ReceiverKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "zero-copy" | "zerocopy" | "splice" => Ok(ReceiverKind::ZeroCopy),
            "ordinary" | "read" => Ok(ReceiverKind::Ordinary),
            _ => Err(format!(
                "unknown receiver {s:?}: expected zero-copy or ordinary"
            )),
        }
    }
}

/// Runs the receiver: binds 127.0.0.1 on a free port, writes the port on a line to
/// `announce`, then serves connections until standard input closes (the benchmark
/// holds it open) or the process is killed.
pub fn run(kind: ReceiverKind, mut announce: impl Write) -> io::Result<()> {
    let listener = TcpListener::bind("127.0.0.1:0")?;
    writeln!(announce, "{}", listener.local_addr()?.port())?;
    announce.flush()?;
    std::thread::spawn(|| {
        let mut sink = [0u8; 64];
        while matches!(io::stdin().read(&mut sink), Ok(n) if n > 0) {}
        std::process::exit(0);
    });
    let null = File::options().write(true).open("/dev/null")?;
    let mut buf = vec![0u8; 256 << 10];
    for conn in listener.incoming() {
        let mut conn = conn?;
        let n = match kind {
            ReceiverKind::ZeroCopy => drain_splice(&conn, &null)?,
            ReceiverKind::Ordinary => drain_read(&mut conn, &mut buf)?,
        };
        conn.write_all(&n.to_le_bytes())?;
    }
    Ok(())
}

/// Splices everything `conn` sends until it closes into `null` (/dev/null); returns the
/// byte count.
pub(crate) fn drain_splice(conn: &TcpStream, null: &File) -> io::Result<u64> {
    let (r, w) = pipe()?;
    let cap = fcntl_setpipe_size(&w, 1 << 20).unwrap_or(64 << 10);
    let mut total = 0u64;
    loop {
        let n = rustix::pipe::splice(
            conn,
            None,
            &w,
            None,
            cap,
            SpliceFlags::MOVE | SpliceFlags::MORE,
        )?;
        if n == 0 {
            return Ok(total);
        }
        let mut left = n;
        while left > 0 {
            left -= rustix::pipe::splice(&r, None, null, None, left, SpliceFlags::MOVE)?;
        }
        total += n as u64;
    }
}

fn drain_read(conn: &mut TcpStream, buf: &mut [u8]) -> io::Result<u64> {
    let mut total = 0u64;
    loop {
        match conn.read(buf) {
            Ok(0) => return Ok(total),
            Ok(n) => total += n as u64,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
}
