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
        let read = tokio::time::timeout(
            IDLE_TIMEOUT,
            (&mut stream)
                .take((len - head) as u64)
                .read_to_end(&mut frame),
        )
        .await;
        if !matches!(read, Ok(Ok(n)) if n == len - head) {
            break;
        }
        let started = Instant::now();
        let (reply, api, code) = handlers::handle(&shared, &frame, peer).await;
        let sent = match reply {
            Reply::Frame(bytes) => stream
                .write_all(&bytes)
                .await
                .map_err(|e| fetch::send_error(&e)),
            Reply::Fetch(response) => fetch::send(&shared, &mut stream, response).await,
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
                    let figures = partition_figures(&shared);
                    let groups = group_figures(&shared, &figures);
                    ("200 OK", shared.metrics.render(&figures, &groups))
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
