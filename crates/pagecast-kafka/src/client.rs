//! A small blocking Kafka client, for the load generator (`pagecast bench broker`) and
//! tests: requests and responses go through the same codec as the broker's, and a
//! fetch can splice its record data straight from the socket into a file, so a
//! consumer can take data without copying it.
//!
//! The load generator speaks non-flexible versions (Produce v8, Fetch v11, Metadata v8,
//! ListOffsets v5, CreateTopics v4); any version can be called.

use std::fs::File;
use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::os::fd::OwnedFd;

use rustix::pipe::{SpliceFlags, fcntl_setpipe_size, pipe, splice};

use crate::codec::{Message, decode_body};
use crate::frame::{RequestHeader, SIZE_PREFIX, frame_len};
use crate::messages::fetch::FetchRequest;

/// The Produce version the client speaks.
pub const PRODUCE_VERSION: i16 = 8;
/// The Fetch version the client speaks.
pub const FETCH_VERSION: i16 = 11;
/// The Metadata version the client speaks.
pub const METADATA_VERSION: i16 = 8;
/// The ListOffsets version the client speaks.
pub const LIST_OFFSETS_VERSION: i16 = 5;
/// The CreateTopics version the client speaks.
pub const CREATE_TOPICS_VERSION: i16 = 4;

fn invalid(what: impl std::fmt::Display) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, what.to_string())
}

/// One connection to a broker.
pub struct Client {
    stream: TcpStream,
    next_id: i32,
    client_id: String,
}

impl Client {
    /// Connects to `addr`.
    pub fn connect(addr: SocketAddr, client_id: &str) -> io::Result<Client> {
        let stream = TcpStream::connect(addr)?;
        stream.set_nodelay(true)?;
        Ok(Client {
            stream,
            next_id: 0,
            client_id: client_id.to_owned(),
        })
    }

    /// The socket.
    pub fn stream(&self) -> &TcpStream {
        &self.stream
    }

    /// A whole request frame, to send once or many times with [`Client::send_frame`].
    pub fn frame<M: Message>(&self, version: i16, body: &M) -> Vec<u8> {
        let v = M::version(version);
        let header = RequestHeader {
            api_key: M::KEY,
            api_version: version,
            correlation_id: 0,
            client_id: Some(self.client_id.clone()),
        };
        let mut out = vec![0; SIZE_PREFIX];
        header.encode(&mut out, v.flexible);
        body.encode(&mut out, v);
        let size = (out.len() - SIZE_PREFIX) as i32;
        out[..SIZE_PREFIX].copy_from_slice(&size.to_be_bytes());
        out
    }

    /// Sends a frame made by [`Client::frame`] under a new correlation ID, which it
    /// returns.
    pub fn send_frame(&mut self, frame: &mut [u8]) -> io::Result<i32> {
        let id = self.next_id;
        self.next_id = self.next_id.wrapping_add(1);
        frame[8..12].copy_from_slice(&id.to_be_bytes());
        self.stream.write_all(frame)?;
        Ok(id)
    }

    /// Sends a request; returns its correlation ID.
    pub fn send<M: Message>(&mut self, version: i16, body: &M) -> io::Result<i32> {
        let mut frame = self.frame(version, body);
        self.send_frame(&mut frame)
    }

    /// Reads the next response frame: its correlation ID and body (header v0).
    pub fn receive_raw(&mut self) -> io::Result<(i32, Vec<u8>)> {
        let mut prefix = [0u8; SIZE_PREFIX];
        self.stream.read_exact(&mut prefix)?;
        let len = frame_len(prefix).map_err(invalid)?;
        let mut frame = Vec::with_capacity(len.min(1 << 20));
        (&mut self.stream)
            .take(len as u64)
            .read_to_end(&mut frame)?;
        if frame.len() < len || len < 4 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        let id = i32::from_be_bytes([frame[0], frame[1], frame[2], frame[3]]);
        frame.drain(..4);
        Ok((id, frame))
    }

    /// Reads the next response and decodes it at `version`; flexible versions have
    /// response header v1 (a tagged-field section after the correlation ID).
    pub fn receive<M: Message>(&mut self, version: i16) -> io::Result<(i32, M)> {
        let (id, body) = self.receive_raw()?;
        let mut body = &body[..];
        if M::version(version).flexible {
            let mut r = crate::codec::Reader::new(body);
            r.tagged_fields(|_, _| Ok(false)).map_err(invalid)?;
            body = &body[r.position()..];
        }
        let m = decode_body(body, version).map_err(invalid)?;
        Ok((id, m))
    }

    /// Sends a request and waits for its response.
    pub fn call<Req: Message, Resp: Message>(
        &mut self,
        version: i16,
        body: &Req,
    ) -> io::Result<Resp> {
        let id = self.send(version, body)?;
        let (got, resp) = self.receive(version)?;
        if got != id {
            return Err(invalid(format!("response {got} to request {id}")));
        }
        Ok(resp)
    }

    /// Sends a Fetch (v11) and splices each partition's record data from the socket
    /// into `sink` through `pipe`, never into this process's memory. Returns, per
    /// partition in response order, its number, error code, high watermark and the
    /// record bytes spliced.
    pub fn fetch_splice(
        &mut self,
        req: &FetchRequest,
        pipe: &SplicePipe,
        sink: &File,
    ) -> io::Result<Vec<SplicedPartition>> {
        let id = self.send(FETCH_VERSION, req)?;
        let mut prefix = [0u8; SIZE_PREFIX];
        self.stream.read_exact(&mut prefix)?;
        let left = frame_len(prefix).map_err(invalid)? as u64;
        let mut r = Fields {
            stream: &self.stream,
            left,
        };
        let got = r.i32()?;
        if got != id {
            return Err(invalid(format!("response {got} to request {id}")));
        }
        r.pass_over(4 + 2 + 4)?; // throttle time, error code, session ID
        let mut out = Vec::new();
        for _ in 0..r.i32()?.max(0) {
            let name = r.i16()?.max(0) as u64;
            r.pass_over(name)?;
            for _ in 0..r.i32()?.max(0) {
                let partition = r.i32()?;
                let error = r.i16()?;
                let high_watermark = r.i64()?;
                r.pass_over(8 + 8)?; // last stable offset, log start offset
                let aborted = r.i32()?.max(0) as u64;
                r.pass_over(aborted * 16 + 4)?; // aborted transactions, preferred read replica
                let bytes = r.i32()?.max(0) as u64;
                if bytes > r.left {
                    return Err(invalid("records longer than the response"));
                }
                pipe.splice_to(&self.stream, sink, bytes)?;
                r.left -= bytes;
                out.push(SplicedPartition {
                    partition,
                    error,
                    high_watermark,
                    bytes,
                });
            }
        }
        if r.left != 0 {
            return Err(invalid(format!(
                "{} bytes after the fetch response",
                r.left
            )));
        }
        Ok(out)
    }
}

/// Reads the fixed-width fields of a response straight from the socket, within the
/// frame's length, so that record data after them can be spliced.
struct Fields<'a> {
    stream: &'a TcpStream,
    left: u64,
}

impl Fields<'_> {
    fn take<const N: usize>(&mut self) -> io::Result<[u8; N]> {
        if N as u64 > self.left {
            return Err(invalid("a response shorter than its fields"));
        }
        let mut b = [0u8; N];
        self.stream.read_exact(&mut b)?;
        self.left -= N as u64;
        Ok(b)
    }

    fn i16(&mut self) -> io::Result<i16> {
        self.take().map(i16::from_be_bytes)
    }

    fn i32(&mut self) -> io::Result<i32> {
        self.take().map(i32::from_be_bytes)
    }

    fn i64(&mut self) -> io::Result<i64> {
        self.take().map(i64::from_be_bytes)
    }

    fn pass_over(&mut self, n: u64) -> io::Result<()> {
        if n > self.left {
            return Err(invalid("a response shorter than its fields"));
        }
        io::copy(&mut (&mut self.stream).take(n), &mut io::sink())?;
        self.left -= n;
        Ok(())
    }
}

/// One partition of a spliced fetch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SplicedPartition {
    /// Partition number.
    pub partition: i32,
    /// Error code.
    pub error: i16,
    /// High watermark.
    pub high_watermark: i64,
    /// Record bytes spliced.
    pub bytes: u64,
}

/// A pipe for moving bytes from a socket to a file without user-space copies.
pub struct SplicePipe {
    read: OwnedFd,
    write: OwnedFd,
    size: usize,
}

impl SplicePipe {
    /// A pipe sized to 1 MiB where allowed.
    pub fn new() -> io::Result<SplicePipe> {
        let (read, write) = pipe()?;
        let size = fcntl_setpipe_size(&write, 1 << 20).unwrap_or(64 << 10);
        Ok(SplicePipe { read, write, size })
    }

    /// splice(2) exactly `len` bytes from `from` into `to`.
    pub fn splice_to(&self, from: &TcpStream, to: &File, len: u64) -> io::Result<()> {
        let mut left = len;
        while left > 0 {
            let want = left.min(self.size as u64) as usize;
            let n = splice(from, None, &self.write, None, want, SpliceFlags::MOVE)?;
            if n == 0 {
                return Err(io::ErrorKind::UnexpectedEof.into());
            }
            let mut pending = n;
            while pending > 0 {
                pending -= splice(&self.read, None, to, None, pending, SpliceFlags::MOVE)?;
            }
            left -= n as u64;
        }
        Ok(())
    }
}
