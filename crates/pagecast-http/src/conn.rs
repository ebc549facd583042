//! One client connection: read a request head within the header timeout, answer it,
//! and go on with the next (pipelined requests are already in the buffer) until the
//! client or the server ends the connection.
//!
//! Headers and the start of a body leave in one packet: the head is sent with
//! MSG_MORE, and the body's first sendfile(2) completes the segment (nginx's
//! `tcp_nopush`). A `multipart/byteranges` body, whose parts alternate between
//! literal part headers and file regions, is sent under TCP_CORK.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::os::fd::{AsFd, BorrowedFd};
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use pagecast_io::tokio::AsyncDestination;
use rustix::net::SendFlags;
use tokio::io::Interest;
use tokio::net::TcpStream;
use tokio::sync::OwnedSemaphorePermit;
use tokio::time::{Instant, Sleep};

use crate::date;
use crate::idle::Handle;
use crate::range::Piece;
use crate::request::{HeadParser, Method, Parsed, Request, Version};
use crate::respond::{Body, Response, reason, respond};
use crate::server::Shared;

/// Serves one connection to its end. `permit` is its place under the connection cap.
pub(crate) async fn serve(
    stream: TcpStream,
    peer: SocketAddr,
    shared: Arc<Shared>,
    registered: Handle,
    _permit: OwnedSemaphorePermit,
) {
    let mut buf = InBuf::default();
    let mut deadline = Deadline::new(Instant::now() + shared.timeouts.header);
    let mut first = true;
    loop {
        let head = read_head(
            &stream,
            &mut buf,
            &shared,
            first,
            &registered,
            &mut deadline,
        )
        .await;
        first = false;
        let (request, consumed) = match head {
            Head::Request(request, consumed) => (request, consumed),
            Head::Gone => return,
            Head::Refused(status) => {
                let response = Response::error(status);
                let _ = write(&stream, &shared, None, &response, false).await;
                shared.log.write(
                    peer,
                    None,
                    status,
                    response.body.content_length().unwrap_or(0),
                );
                close_gracefully(stream).await;
                return;
            }
        };
        buf.consume(consumed);
        let response = respond(&request, &shared.site).await;
        let keep_alive = request.keep_alive() && !response.close && !shared.connections.stopping();
        let outcome = write(&stream, &shared, Some(&request), &response, keep_alive).await;
        let sent = match &outcome {
            Ok(n) => *n,
            Err(e) => e.sent,
        };
        shared
            .log
            .write(peer, Some(&request), response.status, sent);
        match outcome {
            Ok(_) if keep_alive => {}
            // Bytes the client sent past this request (pipelined requests) would make
            // the kernel answer the close with a reset that can destroy the response:
            // drain them first, as nginx's lingering close does. A client that sent
            // nothing more is closed at once.
            Ok(_) if !buf.bytes().is_empty() || request_waiting(&stream) => {
                return close_gracefully(stream).await;
            }
            Ok(_) => return,
            Err(e) => {
                if let Some(message) = e.report {
                    eprintln!(
                        "pagecast serve: {peer} \"{}\": {message}; connection closed",
                        request.target
                    );
                }
                return;
            }
        }
    }
}

enum Head {
    Request(Request, usize),
    /// The client closed, went idle past the timeout, or the server is shutting down.
    Gone,
    /// Answer with this status and close.
    Refused(u16),
}

/// Which timeout the deadline of [`read_head`] stands for.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Limit {
    /// Waiting for the first byte of the next request on a kept-alive connection.
    Idle,
    /// Waiting for the rest of a request head, or for the first request.
    Header,
}

/// Reads until `buf` starts with a complete request head. The first request of a
/// connection and any request whose first byte has arrived must complete within the
/// header timeout (slowloris); an empty keep-alive connection may idle for the idle
/// timeout, and is closed at once when the server shuts down or needs its place.
async fn read_head(
    stream: &TcpStream,
    buf: &mut InBuf,
    shared: &Shared,
    first: bool,
    registered: &Handle,
    deadline: &mut Deadline,
) -> Head {
    let timeouts = &shared.timeouts;
    let mut parser = HeadParser::default();
    let mut limit = None;
    loop {
        match parser.parse(buf.bytes()) {
            Ok(Parsed::Complete { request, consumed }) => return Head::Request(request, consumed),
            Ok(Parsed::Incomplete) => {}
            Err(e) => return Head::Refused(e.status()),
        }
        let idle = buf.bytes().is_empty();
        // The clock is read only when a wait is due: a request that arrived whole
        // costs none of this.
        let wanted = if idle && !first {
            Limit::Idle
        } else {
            Limit::Header
        };
        if limit != Some(wanted) {
            let now = Instant::now();
            match wanted {
                Limit::Idle => deadline.set(now + timeouts.idle),
                // From the first byte, the head has the header timeout, but never
                // more time than the idle wait had left.
                Limit::Header if limit.is_some() => {
                    deadline.set(deadline.at().min(now + timeouts.header))
                }
                Limit::Header => deadline.set(now + timeouts.header),
            }
            limit = Some(wanted);
        }
        if idle && shared.connections.stopping() {
            return Head::Gone;
        }
        // Between requests, the connection may be closed to make room for a new client.
        let evictable = idle && !first;
        if evictable {
            registered.enter_idle();
        }
        let read = tokio::select! {
            r = read_some(stream, buf) => Some(r),
            () = deadline.passed() => None,
            () = registered.asked_to_close(), if idle => {
                registered.leave_idle();
                if !shared.connections.stopping() && request_waiting(stream) {
                    // The next request arrived as it was chosen: it is not idle.
                    continue;
                }
                return Head::Gone;
            }
        };
        if evictable {
            registered.leave_idle();
        }
        match read {
            Some(Ok(0) | Err(_)) => return Head::Gone,
            Some(Ok(_)) => {}
            None if idle => return Head::Gone,
            None => return Head::Refused(408),
        }
    }
}

/// A connection's one timer. Most requests move the deadline later (another idle
/// wait), which only records it: the timer fires at the earlier time, sees that the
/// deadline moved, and re-arms. So a busy keep-alive connection touches the timer
/// wheel about once per idle timeout rather than once per request.
struct Deadline {
    sleep: Pin<Box<Sleep>>,
    at: Instant,
}

impl Deadline {
    fn new(at: Instant) -> Deadline {
        Deadline {
            sleep: Box::pin(tokio::time::sleep_until(at)),
            at,
        }
    }

    fn at(&self) -> Instant {
        self.at
    }

    fn set(&mut self, at: Instant) {
        if at < self.sleep.deadline() {
            self.sleep.as_mut().reset(at);
        }
        self.at = at;
    }

    /// Completes once the deadline has passed.
    async fn passed(&mut self) {
        loop {
            self.sleep.as_mut().await;
            if self.sleep.deadline() >= self.at {
                return;
            }
            let at = self.at;
            self.sleep.as_mut().reset(at);
        }
    }
}

/// Whether bytes of a request wait in the socket, unread.
fn request_waiting(stream: &TcpStream) -> bool {
    let mut byte = [0u8; 1];
    let flags = rustix::net::RecvFlags::PEEK | rustix::net::RecvFlags::DONTWAIT;
    matches!(rustix::net::recv(stream, &mut byte, flags), Ok((n, _)) if n > 0)
}

/// Received bytes not yet parsed. The storage is zeroed once and reused, so a read
/// costs no memset, and it grows only while one request head is incomplete (bounded
/// by the parser's limits).
#[derive(Default)]
struct InBuf {
    storage: Vec<u8>,
    start: usize,
    end: usize,
}

impl InBuf {
    const READ: usize = 8192;

    fn bytes(&self) -> &[u8] {
        &self.storage[self.start..self.end]
    }

    fn consume(&mut self, n: usize) {
        self.start += n;
        if self.start == self.end {
            self.start = 0;
            self.end = 0;
        }
    }

    /// Free space for the next read: at least [`Self::READ`] bytes after `end`.
    fn spare(&mut self) -> &mut [u8] {
        if self.storage.len() - self.end < Self::READ {
            self.storage.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
            if self.storage.len() - self.end < Self::READ {
                self.storage.resize(self.end + Self::READ, 0);
            }
        }
        &mut self.storage[self.end..]
    }
}

/// Appends what has arrived to `buf`; 0 at end of stream.
async fn read_some(stream: &TcpStream, buf: &mut InBuf) -> io::Result<usize> {
    loop {
        stream.readable().await?;
        let spare = buf.spare();
        let room = spare.len();
        let mut short = None;
        let read = stream.try_io(Interest::READABLE, || {
            let n = rustix::net::recv(stream, &mut *spare, rustix::net::RecvFlags::empty())?.0;
            if n > 0 && n < room {
                // A short read took everything queued: clear the readiness now instead
                // of paying for a recv that says EAGAIN (nginx does the same). tokio
                // only clears it if no new event arrived meanwhile.
                short = Some(n);
                return Err(io::ErrorKind::WouldBlock.into());
            }
            Ok(n)
        });
        match (read, short) {
            (Ok(n), _) | (Err(_), Some(n)) => {
                buf.end += n;
                return Ok(n);
            }
            (Err(e), None)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted
                ) => {}
            (Err(e), None) => return Err(e),
        }
    }
}

/// Closes a connection without losing the response: after the server's last byte the
/// client may still be sending (the rest of an oversized head, pipelined requests),
/// and closing with unread data makes the kernel answer with a reset that can destroy
/// the response before the client reads it. So shut down the sending side and drain
/// for a moment, as nginx's lingering close does.
async fn close_gracefully(stream: TcpStream) {
    const LINGER: Duration = Duration::from_secs(2);
    const MAX_DRAIN: usize = 1 << 20;
    if rustix::net::shutdown(&stream, rustix::net::Shutdown::Write).is_err() {
        return;
    }
    let mut scratch = InBuf::default();
    let mut drained = 0;
    let _ = tokio::time::timeout(LINGER, async {
        while drained < MAX_DRAIN {
            scratch.consume(scratch.bytes().len());
            match read_some(&stream, &mut scratch).await {
                Ok(0) | Err(_) => return,
                Ok(n) => drained += n,
            }
        }
    })
    .await;
}

/// A failed response write.
struct WriteError {
    /// Body bytes delivered before the failure.
    sent: u64,
    /// A line for the error log, `None` when the client simply went away.
    report: Option<String>,
}

impl WriteError {
    fn from_io(sent: u64, e: &io::Error) -> WriteError {
        let report = match e.kind() {
            io::ErrorKind::BrokenPipe | io::ErrorKind::ConnectionReset => None,
            _ => Some(e.to_string()),
        };
        WriteError { sent, report }
    }

    fn from_transfer(sent: u64, e: pagecast_io::Error) -> WriteError {
        match e {
            pagecast_io::Error::DestinationClosed { sent: more, .. } => WriteError {
                sent: sent + more,
                report: None,
            },
            e => WriteError {
                sent,
                report: Some(e.to_string()),
            },
        }
    }
}

/// Writes the response; returns the body bytes sent.
async fn write(
    stream: &TcpStream,
    shared: &Shared,
    request: Option<&Request>,
    response: &Response,
    keep_alive: bool,
) -> Result<u64, WriteError> {
    let head_only = request.is_some_and(|r| r.method == Method::Head);
    let head = head_bytes(response, request.map(|r| r.version), keep_alive);
    let out = Timed {
        stream,
        timeout: shared.timeouts.send,
    };
    let options = &shared.transfer;
    match &response.body {
        _ if head_only => send_all(&out, &head, false).await.map(|()| 0),
        Body::None => send_all(&out, &head, false).await.map(|()| 0),
        Body::Bytes(bytes) => {
            let mut all = head;
            all.extend_from_slice(bytes);
            send_all(&out, &all, false)
                .await
                .map(|()| bytes.len() as u64)
        }
        Body::File { file, range } => {
            let more = !range.is_empty();
            send_all(&out, &head, more).await?;
            pagecast_io::tokio::send_file(file, range.start, range.len(), &out, options)
                .await
                .map(|stats| stats.bytes)
                .map_err(|e| WriteError::from_transfer(0, e))
        }
        Body::Multipart { file, pieces, .. } => {
            let cork = |on| rustix::net::sockopt::set_tcp_cork(stream, on);
            cork(true).map_err(|e| WriteError::from_io(0, &e.into()))?;
            send_all(&out, &head, true).await?;
            let mut sent = 0u64;
            for piece in pieces {
                match piece {
                    Piece::Literal(text) => {
                        send_all(&out, text.as_bytes(), true)
                            .await
                            .map_err(|e| WriteError { sent, ..e })?;
                        sent += text.len() as u64;
                    }
                    Piece::File(range) => {
                        let stats = pagecast_io::tokio::send_file(
                            file,
                            range.start,
                            range.len(),
                            &out,
                            options,
                        )
                        .await
                        .map_err(|e| WriteError::from_transfer(sent, e))?;
                        sent += stats.bytes;
                    }
                }
            }
            cork(false).map_err(|e| WriteError::from_io(sent, &e.into()))?;
            Ok(sent)
        }
    }
}

/// The status line and header fields, ending with the blank line.
fn head_bytes(response: &Response, version: Option<Version>, keep_alive: bool) -> Vec<u8> {
    use std::fmt::Write;
    let now = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64);
    let mut head = String::with_capacity(256);
    let _ = write!(
        head,
        "HTTP/1.1 {} {}\r\nServer: pagecast\r\nDate: ",
        response.status,
        reason(response.status),
    );
    // The date changes once a second: format it once a second per thread, as nginx
    // keeps its cached time strings.
    thread_local! {
        static DATE: std::cell::RefCell<(i64, String)> = const { std::cell::RefCell::new((i64::MIN, String::new())) };
    }
    DATE.with_borrow_mut(|(secs, text)| {
        if *secs != now {
            *text = date::format(now);
            *secs = now;
        }
        head.push_str(text);
    });
    head.push_str("\r\n");
    for (name, value) in &response.headers {
        push_field(&mut head, name, value);
    }
    if let Some(v) = &response.validators {
        push_field(&mut head, "ETag", &v.etag);
        push_field(&mut head, "Last-Modified", v.last_modified_header());
    }
    if let Some(len) = response.body.content_length() {
        let _ = write!(head, "Content-Length: {len}\r\n");
    }
    match (keep_alive, version) {
        (false, _) => head.push_str("Connection: close\r\n"),
        (true, Some(Version::Http10)) => head.push_str("Connection: keep-alive\r\n"),
        (true, _) => {}
    }
    head.push_str("\r\n");
    head.into_bytes()
}

fn push_field(head: &mut String, name: &str, value: &str) {
    head.push_str(name);
    head.push_str(": ");
    head.push_str(value);
    head.push_str("\r\n");
}

/// Sends all of `bytes`; `more` holds them in the socket for what follows (MSG_MORE).
async fn send_all(out: &Timed<'_>, bytes: &[u8], more: bool) -> Result<(), WriteError> {
    let mut flags = SendFlags::NOSIGNAL;
    if more {
        flags |= SendFlags::MORE;
    }
    let mut at = 0;
    while at < bytes.len() {
        match out.try_write_io(|| Ok(rustix::net::send(out.stream, &bytes[at..], flags)?)) {
            Ok(n) => at += n,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => out
                .writable()
                .await
                .map_err(|e| WriteError::from_io(0, &e))?,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(WriteError::from_io(0, &e)),
        }
    }
    Ok(())
}

/// The client socket with the send timeout: a client that reads nothing for that long
/// is dropped (nginx's `send_timeout`).
struct Timed<'a> {
    stream: &'a TcpStream,
    timeout: Duration,
}

impl AsFd for Timed<'_> {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.stream.as_fd()
    }
}

impl AsyncDestination for Timed<'_> {
    fn writable(&self) -> impl Future<Output = io::Result<()>> + Send {
        let (stream, timeout) = (self.stream, self.timeout);
        async move {
            match tokio::time::timeout(timeout, stream.writable()).await {
                Ok(ready) => ready,
                Err(_) => Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    format!("client read nothing for {} s", timeout.as_secs()),
                )),
            }
        }
    }

    fn try_write_io<R>(&self, f: impl FnOnce() -> io::Result<R>) -> io::Result<R> {
        self.stream.try_io(Interest::WRITABLE, f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_input_buffer_keeps_unparsed_bytes_and_room_to_read() {
        let mut b = InBuf::default();
        assert!(b.spare().len() >= InBuf::READ);
        b.spare()[..5].copy_from_slice(b"abcde");
        b.end += 5;
        b.consume(2);
        assert_eq!(b.bytes(), b"cde");
        let len = b.storage.len();
        // Filling up moves the unparsed bytes to the front, growing only by what is
        // needed for a full read after them.
        b.end = len;
        b.storage[len - 3..].copy_from_slice(b"xyz");
        b.start = len - 3;
        assert!(b.spare().len() >= InBuf::READ);
        assert_eq!((b.start, b.bytes()), (0, &b"xyz"[..]));
        assert!(b.storage.len() <= 3 + InBuf::READ.max(len));
        b.consume(3);
        assert_eq!((b.start, b.end), (0, 0));
    }

    #[test]
    fn heads_say_how_the_connection_goes_on() {
        let r = Response::error(404);
        let text = |v, k| String::from_utf8(head_bytes(&r, v, k)).unwrap();
        let h11 = text(Some(Version::Http11), true);
        assert!(h11.starts_with("HTTP/1.1 404 Not Found\r\nServer: pagecast\r\nDate: "));
        assert!(h11.ends_with("Content-Length: 14\r\n\r\n"), "{h11}");
        assert!(text(Some(Version::Http10), true).contains("Connection: keep-alive\r\n"));
        assert!(text(None, false).contains("Connection: close\r\n"));
    }
}
