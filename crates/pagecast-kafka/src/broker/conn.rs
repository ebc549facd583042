//! One client connection: frames in, answers out, in order; and the metrics page.
//!
//! A frame's size prefix is checked before anything is read into memory, and the frame
//! is read into a buffer that grows with the bytes that really arrive, so a prefix
//! that promises 100 MiB and sends four bytes costs four bytes. A request the codec
//! cannot read closes the connection; nothing a client sends can stop another one.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use super::handlers::{self, Reply};
use super::{Shared, fetch, group_figures, partition_figures};
use crate::codec::Message;
use crate::frame::{SIZE_PREFIX, frame_len};

/// A connection that sends nothing for this long is closed (Kafka's
/// `connections.max.idle.ms`).
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(600);

/// Largest request of any API but Produce: Metadata for ten thousand topics or a
/// commit of ten thousand partitions fits many times over.
pub const MAX_OTHER_REQUEST: usize = 8 << 20;

/// Bytes of a frame read (and counted against --queued-max-request-bytes) at a time.
const READ_PIECE: usize = 64 << 10;

/// Largest request of an API the broker does not implement: enough for any real
/// request header, so the broker reads which API it was before it closes the
/// connection.
pub const MAX_UNKNOWN_REQUEST: usize = 64 << 10;

/// The most bytes a request may have, given its first two (the API key); `None` for
/// Produce, which only the frame limit bounds.
fn frame_limit(key: &[u8]) -> Option<usize> {
    let &[a, b] = key else { return None };
    let key = i16::from_be_bytes([a, b]);
    if key == crate::messages::produce::ProduceRequest::KEY {
        None
    } else if handlers::APIS.iter().any(|api| api.key == key) {
        Some(MAX_OTHER_REQUEST)
    } else {
        Some(MAX_UNKNOWN_REQUEST)
    }
}

/// Serves one client until it closes, misbehaves or the broker stops.
pub(super) async fn serve(shared: Arc<Shared>, mut stream: TcpStream, peer: SocketAddr) {
    shared.metrics.connections.fetch_add(1, Ordering::Relaxed);
    let _ = stream.set_nodelay(true);
    let mut stopping = shared.stopping.subscribe();
    loop {
        let mut prefix = [0u8; SIZE_PREFIX];
        let read = tokio::select! {
            r = tokio::time::timeout(IDLE_TIMEOUT, stream.read_exact(&mut prefix)) => r,
            () = stopped(&mut stopping) => break,
        };
        if !matches!(read, Ok(Ok(_))) {
            break;
        }
        let len = match frame_len(prefix) {
            Ok(len) => len,
            Err(e) => {
                eprintln!("pagecast broker: {peer}: {e}; closing the connection");
                break;
            }
        };
        // The API key comes first: a large frame for an API that cannot need one is
        // refused before its bytes are read.
        let mut frame = Vec::new();
        let head = len.min(2);
        let read = tokio::time::timeout(
            IDLE_TIMEOUT,
            (&mut stream).take(head as u64).read_to_end(&mut frame),
        )
        .await;
        if !matches!(read, Ok(Ok(n)) if n == head) {
            break;
        }
        if let Some(limit) = frame_limit(&frame)
            && len > limit
        {
            eprintln!(
                "pagecast broker: {peer}: a {len}-byte request for API key {} is larger than the {limit} bytes it may take; closing the connection",
                i16::from_be_bytes([frame[0], frame[1]])
            );
            break;
        }
        // The frame's bytes are counted as they are read, 64 KiB at a time, before each
        // piece is read: requests read and not yet answered never hold more than
        // --queued-max-request-bytes, and past it a connection waits, reading nothing
        // more. A frame counts at most the whole bound, so any frame can be read alone.
        let budget = (len as u64).min(shared.config.queued_request_bytes) as u32;
        let mut counted = 0u32;
        let mut held = None;
        while frame.len() < len {
            let want = (len - frame.len()).min(READ_PIECE);
            let count = (want as u32).min(budget - counted);
            if count > 0 {
                let more = tokio::select! {
                    p = shared.request_bytes.acquire_many(count) => p.ok(),
                    () = stopped(&mut stopping) => None,
                };
                let Some(more) = more else { break };
                counted += count;
                match held.as_mut() {
                    None => held = Some(more),
                    Some(h) => tokio::sync::SemaphorePermit::merge(h, more),
                }
            }
            let read = tokio::time::timeout(
                IDLE_TIMEOUT,
                (&mut stream).take(want as u64).read_to_end(&mut frame),
            )
            .await;
            if !matches!(read, Ok(Ok(n)) if n == want) {
                break;
            }
        }
        // Held until the answer has left.
        let _held = held;
        if frame.len() < len {
            break;
        }
        let started = Instant::now();
        let (reply, api, code) = handlers::handle(&shared, &frame, peer).await;
        // A client that stops reading would hold this task, and a fetch's open files
        // and mappings, for as long as it likes: the whole response must leave within
        // the send timeout.
        let deadline = shared.config.send_timeout;
        let sent = match reply {
            Reply::Frame(bytes) => {
                match tokio::time::timeout(deadline, stream.write_all(&bytes)).await {
                    Ok(written) => written.map_err(|e| fetch::send_error(&e)),
                    Err(_) => Err(too_slow(deadline)),
                }
            }
            Reply::Fetch(response) => {
                match tokio::time::timeout(deadline, fetch::send(&shared, &mut stream, response))
                    .await
                {
                    Ok(sent) => sent,
                    Err(_) => Err(too_slow(deadline)),
                }
            }
            Reply::Nothing => Ok(()),
            Reply::Close(why) => Err(why),
        };
        shared.metrics.request(api, code, started.elapsed());
        if let Err(why) = sent {
            if !why.is_empty() {
                eprintln!("pagecast broker: {peer}: {why}; closing the connection");
            }
            break;
        }
    }
    shared.metrics.connections.fetch_sub(1, Ordering::Relaxed);
}

fn too_slow(deadline: Duration) -> String {
    format!(
        "the client read less than a response in {} s (--send-timeout)",
        deadline.as_secs_f64()
    )
}

/// How many connections each client address has open, so that one address cannot take
/// every connection (Kafka's `max.connections.per.ip`).
pub(crate) struct PerAddress {
    max: usize,
    open: std::sync::Mutex<std::collections::HashMap<std::net::IpAddr, usize>>,
}

/// A connection counted against its address; uncounted when dropped.
pub(crate) struct AddressSlot {
    table: Arc<PerAddress>,
    ip: std::net::IpAddr,
}

impl PerAddress {
    pub(crate) fn new(max: usize) -> Arc<PerAddress> {
        Arc::new(PerAddress {
            max,
            open: Default::default(),
        })
    }

    /// Counts a connection from `ip`, unless the address has its maximum open already.
    pub(crate) fn admit(self: &Arc<Self>, ip: std::net::IpAddr) -> Option<AddressSlot> {
        let mut open = super::lock(&self.open);
        let n = open.entry(ip).or_default();
        if *n >= self.max {
            return None;
        }
        *n += 1;
        Some(AddressSlot {
            table: Arc::clone(self),
            ip,
        })
    }
}

impl Drop for AddressSlot {
    fn drop(&mut self) {
        let mut open = super::lock(&self.table.open);
        if let Some(n) = open.get_mut(&self.ip) {
            *n -= 1;
            if *n == 0 {
                open.remove(&self.ip);
            }
        }
    }
}

/// Completes once the broker is stopping.
async fn stopped(stopping: &mut tokio::sync::watch::Receiver<bool>) {
    let _ = stopping.wait_for(|s| *s).await.map(drop);
}

/// Serves `GET /metrics` in Prometheus' text format.
pub(super) async fn serve_metrics(shared: Arc<Shared>, listener: TcpListener) {
    let mut stopping = shared.stopping.subscribe();
    loop {
        let (mut stream, _) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(_) => {
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            () = stopped(&mut stopping) => return,
        };
        let shared = Arc::clone(&shared);
        tokio::spawn(async move {
            let mut head = Vec::new();
            let mut buf = [0u8; 1024];
            let complete = tokio::time::timeout(Duration::from_secs(10), async {
                while !head.windows(4).any(|w| w == b"\r\n\r\n") && head.len() < 8192 {
                    match stream.read(&mut buf).await {
                        Ok(0) | Err(_) => return false,
                        Ok(n) => head.extend_from_slice(&buf[..n]),
                    }
                }
                true
            })
            .await;
            if complete != Ok(true) {
                return;
            }
            let (status, body) =
                if head.starts_with(b"GET /metrics ") || head.starts_with(b"GET / ") {
                    // Partition sizes walk the commit log's queues: off the runtime.
                    let s = Arc::clone(&shared);
                    let page = tokio::task::spawn_blocking(move || {
                        let figures = partition_figures(&s);
                        let groups = group_figures(&s, &figures);
                        s.metrics.render(&figures, &groups)
                    })
                    .await;
                    match page {
                        Ok(page) => ("200 OK", page),
                        Err(_) => ("500 Internal Server Error", "no figures\n".to_owned()),
                    }
                } else {
                    ("404 Not Found", "try /metrics\n".to_owned())
                };
            let response = format!(
                "HTTP/1.1 {status}\r\nContent-Type: text/plain; version=0.0.4\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
            let _ = stream.write_all(response.as_bytes()).await;
        });
    }
}
