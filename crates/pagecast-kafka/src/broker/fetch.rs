//! Fetch: long polling, the byte limits of KIP-74, and the zero-copy response.
//!
//! The response is encoded by hand as header bytes with record data spliced in: file
//! regions of segments, sent with sendfile, or slices of the commit log's mapping, sent
//! with writev from the mapping. No record byte is copied in user space. The whole
//! response goes out under TCP_CORK so its pieces leave in full segments.
//!
//! A fetch that finds fewer than `min_bytes` waits, up to `max_wait_ms`, for a produce
//! to wake it (a [`tokio::sync::Notify`] every append signals), then reads again.
//!
//! A fetch in a session (KIP-227, `fetch_session`) reads every partition of the session
//! and answers only those with news.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use pagecast_io::{Method, Options};
use pagecast_log::{Chunk, TopicPartition};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

use super::fetch_session::{FINAL_EPOCH, Key, Outcome, Plan, Requested, TopicKey};
use super::{Shared, is_stopping, lock};
use crate::codec::{Message, Uuid, Wire, put_length};
use crate::error::{ErrorCode, storage_error_code};
use crate::frame::{finish_response, start_response};
use crate::messages::fetch::{FetchRequest, FetchResponse};

/// Longest a fetch waits for data, whatever `max_wait_ms` says.
const MAX_WAIT: Duration = Duration::from_secs(30);

/// A fetch response ready to send: the frame's bytes and, at positions in it, the
/// record data of each partition.
pub(crate) struct Response {
    head: Vec<u8>,
    data: Vec<(usize, Vec<Chunk>)>,
    records: u64,
}

#[cfg(test)]
impl Response {
    /// The response as one buffer, record data copied in: for tests, not for serving.
    pub fn to_bytes(&self) -> std::io::Result<Vec<u8>> {
        let mut out = Vec::new();
        let mut at = 0;
        for (pos, chunks) in &self.data {
            out.extend_from_slice(&self.head[at..*pos]);
            at = *pos;
            for c in chunks {
                c.copy_into(&mut out)?;
            }
        }
        out.extend_from_slice(&self.head[at..]);
        Ok(out)
    }
}

/// One partition asked for, resolved against the topics.
struct Wanted {
    partition: i32,
    tp: Result<TopicPartition, ErrorCode>,
    offset: i64,
    max_bytes: i32,
}

/// One partition's answer.
struct Answer {
    error: ErrorCode,
    high_watermark: i64,
    log_start: i64,
    chunks: Vec<Chunk>,
    /// Records from the fetch offset to the end of the last batch sent.
    records: u64,
}

fn chunks_len(chunks: &[Chunk]) -> u64 {
    chunks.iter().map(Chunk::len).sum()
}

/// Reads every partition once, within the request's byte limits.
fn read_all(
    shared: &Shared,
    wanted: &[(TopicKey, Vec<Wanted>)],
    max_bytes: i32,
) -> Vec<Vec<Answer>> {
    let store = shared.store();
    let mut left = i64::from(max_bytes.max(0));
    let mut any_data = false;
    wanted
        .iter()
        .map(|(_, parts)| {
            parts
                .iter()
                .map(|w| {
                    let mut a = Answer {
                        error: ErrorCode::NONE,
                        high_watermark: -1,
                        log_start: -1,
                        chunks: Vec::new(),
                        records: 0,
                    };
                    let tp = match &w.tp {
                        Ok(tp) => tp,
                        Err(code) => {
                            a.error = *code;
                            return a;
                        }
                    };
                    let offsets = match store.offsets(tp) {
                        Ok(o) => o,
                        Err(e) => {
                            a.error = storage_error_code(&e);
                            return a;
                        }
                    };
                    a.high_watermark = offsets.end;
                    a.log_start = offsets.start;
                    if w.offset < offsets.start || w.offset > offsets.end {
                        a.error = ErrorCode::OFFSET_OUT_OF_RANGE;
                        return a;
                    }
                    let limit = i64::from(w.max_bytes.max(0)).min(left);
                    if w.offset == offsets.end || (any_data && limit <= 0) {
                        return a;
                    }
                    match store.read_with_end(tp, w.offset, limit.max(0) as u64) {
                        Ok((chunks, next)) => {
                            let len = chunks_len(&chunks) as i64;
                            // Only the first batch of the response may exceed the limits
                            // (KIP-74); a read returns a larger batch only as its first.
                            if any_data && len > limit {
                                return a;
                            }
                            if len > 0 {
                                any_data = true;
                                left -= len;
                                a.chunks = chunks;
                                a.records = (next - w.offset).max(0) as u64;
                            }
                        }
                        Err(e) => a.error = storage_error_code(&e),
                    }
                    a
                })
                .collect()
        })
        .collect()
}

/// The partitions of `asked`, resolved against the topics, consecutive partitions of a
/// topic together as the response lists them.
fn resolve(shared: &Shared, asked: &[Requested]) -> Vec<(TopicKey, Vec<Wanted>)> {
    let mut wanted: Vec<(TopicKey, Vec<Wanted>)> = Vec::new();
    let mut topic = Err(ErrorCode::UNKNOWN_TOPIC_OR_PARTITION);
    for r in asked {
        if wanted.last().is_none_or(|(k, _)| *k != r.key.topic) {
            topic = match &r.key.topic {
                TopicKey::Id(id) => shared.topic_by_id(*id).ok_or(ErrorCode::UNKNOWN_TOPIC_ID),
                TopicKey::Name(name) => shared
                    .topic(name)
                    .map(|t| (name.clone(), t))
                    .ok_or(ErrorCode::UNKNOWN_TOPIC_OR_PARTITION),
            };
            wanted.push((r.key.topic.clone(), Vec::new()));
        }
        let tp = match &topic {
            Ok((name, t)) if t.has_partition(r.key.partition) => {
                Ok(TopicPartition::new(name.as_str(), r.key.partition))
            }
            Ok(_) => Err(ErrorCode::UNKNOWN_TOPIC_OR_PARTITION),
            Err(code) => Err(*code),
        };
        let (_, parts) = wanted.last_mut().expect("pushed above");
        parts.push(Wanted {
            partition: r.key.partition,
            tp,
            offset: r.fetch_offset,
            max_bytes: r.max_bytes,
        });
    }
    wanted
}

/// The partitions a request names, and those it forgets, as the session cache keys them.
fn requested(req: &FetchRequest, version: i16) -> (Vec<Requested>, Vec<Key>) {
    let topic = |name: &str, id: Uuid| {
        if version >= 13 {
            TopicKey::Id(id)
        } else {
            TopicKey::Name(name.to_owned())
        }
    };
    let asked = req
        .topics
        .iter()
        .flat_map(|t| {
            let key = topic(&t.topic, t.topic_id);
            t.partitions.iter().map(move |p| Requested {
                key: Key {
                    topic: key.clone(),
                    partition: p.partition,
                },
                fetch_offset: p.fetch_offset,
                max_bytes: p.partition_max_bytes,
            })
        })
        .collect();
    let forgotten = req
        .forgotten_topics_data
        .iter()
        .flat_map(|t| {
            let key = topic(&t.topic, t.topic_id);
            t.partitions.iter().map(move |&partition| Key {
                topic: key.clone(),
                partition,
            })
        })
        .collect();
    (asked, forgotten)
}

/// Answers a fetch, waiting for data as the request allows.
pub(crate) async fn fetch(
    shared: &Arc<Shared>,
    req: FetchRequest,
    version: i16,
    correlation_id: i32,
) -> (Response, ErrorCode) {
    let (asked, forgotten) = requested(&req, version);
    // Before v7 a fetch has no session.
    let (session_id, epoch) = if version >= 7 {
        (req.session_id, req.session_epoch)
    } else {
        (0, FINAL_EPOCH)
    };
    let plan = if session_id == 0 && epoch == FINAL_EPOCH {
        // A fetch without a session (librdkafka's, and every one before v7).
        Plan::Full { session_id: 0 }
    } else {
        lock(&shared.fetch_sessions).begin(
            session_id,
            epoch,
            asked.clone(),
            &forgotten,
            Instant::now(),
        )
    };
    let (session_id, full, wanted) = match plan {
        Plan::Full { session_id } => (session_id, true, resolve(shared, &asked)),
        Plan::Incremental {
            session_id,
            partitions,
        } => (session_id, false, resolve(shared, &partitions)),
        Plan::Refuse(code) => {
            let response = encode(
                &[],
                Vec::new(),
                version,
                correlation_id,
                &Top {
                    error: code,
                    session_id: 0,
                    isolation_level: req.isolation_level,
                },
            );
            return (response, code);
        }
    };
    let wait = Duration::from_millis(req.max_wait_ms.max(0) as u64).min(MAX_WAIT);
    let deadline = tokio::time::Instant::now() + wait;
    let mut stopping = shared.stopping.subscribe();
    let mut wanted = wanted;
    let answers = loop {
        let woken = shared.appended.notified();
        let mut woken = std::pin::pin!(woken);
        woken.as_mut().enable();
        // The reads (index lookups, header reads) on the handler pool; the wait between
        // them holds no thread.
        let (s, max_bytes) = (Arc::clone(shared), req.max_bytes);
        let read = shared
            .pool
            .run(move || {
                let answers = read_all(&s, &wanted, max_bytes);
                (wanted, answers)
            })
            .await;
        let Some((back, answers)) = read else {
            let code = ErrorCode::UNKNOWN_SERVER_ERROR;
            let top = Top {
                error: code,
                session_id: 0,
                isolation_level: req.isolation_level,
            };
            return (encode(&[], Vec::new(), version, correlation_id, &top), code);
        };
        wanted = back;
        let bytes: u64 = answers
            .iter()
            .flatten()
            .map(|a| chunks_len(&a.chunks))
            .sum();
        let failed = answers.iter().flatten().any(|a| !a.error.is_none());
        if bytes >= req.min_bytes.max(0) as u64
            || failed
            || tokio::time::Instant::now() >= deadline
            || is_stopping(shared)
        {
            break answers;
        }
        tokio::select! {
            () = woken => {}
            () = tokio::time::sleep_until(deadline) => {}
            _ = stopping.changed() => {}
        }
    };
    let code = answers
        .iter()
        .flatten()
        .map(|a| a.error)
        .find(|e| !e.is_none())
        .unwrap_or(ErrorCode::NONE);
    let (wanted, answers, session_id) = if session_id == 0 {
        (wanted, answers, 0)
    } else {
        answer_session(shared, session_id, full, wanted, answers)
    };
    let top = Top {
        error: ErrorCode::NONE,
        session_id,
        isolation_level: req.isolation_level,
    };
    let response = encode(&wanted, answers, version, correlation_id, &top);
    (response, code)
}

/// Tells the session what its partitions' answers were, and keeps the partitions it
/// says the client must hear of (all of them for a full fetch); with the session ID to
/// answer with (0 when a full fetch's new session was closed at once).
#[allow(clippy::type_complexity)]
fn answer_session(
    shared: &Shared,
    session_id: i32,
    full: bool,
    wanted: Vec<(TopicKey, Vec<Wanted>)>,
    answers: Vec<Vec<Answer>>,
) -> (Vec<(TopicKey, Vec<Wanted>)>, Vec<Vec<Answer>>, i32) {
    let outcomes: Vec<(Key, Outcome)> = wanted
        .iter()
        .zip(&answers)
        .flat_map(|((topic, parts), answers)| {
            parts.iter().zip(answers).map(|(w, a)| {
                (
                    Key {
                        topic: topic.clone(),
                        partition: w.partition,
                    },
                    Outcome {
                        has_records: !a.chunks.is_empty(),
                        error: a.error,
                        high_watermark: a.high_watermark,
                        log_start: a.log_start,
                    },
                )
            })
        })
        .collect();
    let (include, alive) = lock(&shared.fetch_sessions).finish(session_id, full, &outcomes);
    let mut include = include.into_iter();
    let mut kept_wanted = Vec::new();
    let mut kept_answers = Vec::new();
    for ((topic, parts), answers) in wanted.into_iter().zip(answers) {
        let (parts, answers): (Vec<Wanted>, Vec<Answer>) = parts
            .into_iter()
            .zip(answers)
            .filter(|_| include.next().unwrap_or(true))
            .unzip();
        if !parts.is_empty() {
            kept_wanted.push((topic, parts));
            kept_answers.push(answers);
        }
    }
    // An incremental fetch names its session even if it closed it: the client's next
    // fetch learns it is gone and starts over.
    let session_id = if alive || !full { session_id } else { 0 };
    (kept_wanted, kept_answers, session_id)
}

/// The response's top-level fields.
struct Top {
    error: ErrorCode,
    session_id: i32,
    isolation_level: i8,
}
/// Encodes the response: every field as [`FetchResponse`] describes it, with each
/// partition's record data left as chunks at the place its bytes belong.
fn encode(
    wanted: &[(TopicKey, Vec<Wanted>)],
    answers: Vec<Vec<Answer>>,
    version: i16,
    correlation_id: i32,
    top: &Top,
) -> Response {
    let v = FetchResponse::version(version);
    let flexible = v.flexible;
    let mut head = start_response(correlation_id, flexible);
    let mut data = Vec::new();
    let mut records = 0u64;
    let mut total = 0u64;
    0i32.encode(&mut head, v); // throttle_time_ms
    if version >= 7 {
        top.error.0.encode(&mut head, v);
        top.session_id.encode(&mut head, v);
    }
    put_length(&mut head, Some(wanted.len()), flexible, true);
    for ((key, parts), answers) in wanted.iter().zip(answers) {
        match key {
            TopicKey::Name(name) => name.encode(&mut head, v),
            TopicKey::Id(id) => id.encode(&mut head, v),
        }
        put_length(&mut head, Some(parts.len()), flexible, true);
        for (w, a) in parts.iter().zip(answers) {
            w.partition.encode(&mut head, v);
            a.error.0.encode(&mut head, v);
            a.high_watermark.encode(&mut head, v);
            // No transactions are accepted, so the last stable offset is the high
            // watermark and no range was aborted.
            a.high_watermark.encode(&mut head, v);
            if version >= 5 {
                a.log_start.encode(&mut head, v);
            }
            if top.isolation_level == 1 {
                put_length(&mut head, Some(0), flexible, true);
            } else {
                put_length(&mut head, None, flexible, true);
            }
            if version >= 11 {
                (-1i32).encode(&mut head, v); // preferred_read_replica
            }
            let len = chunks_len(&a.chunks);
            put_length(&mut head, Some(len as usize), flexible, true);
            total += len;
            records += a.records;
            if !a.chunks.is_empty() {
                data.push((head.len(), a.chunks));
            }
            if flexible {
                head.push(0); // partition tagged fields
            }
        }
        if flexible {
            head.push(0); // topic tagged fields
        }
    }
    if flexible {
        head.push(0); // response tagged fields
    }
    finish_response(&mut head, total);
    Response {
        head,
        data,
        records,
    }
}

/// Why a send failed, for the log; empty when the client simply went away.
pub(crate) fn send_error(e: &std::io::Error) -> String {
    match e.kind() {
        std::io::ErrorKind::BrokenPipe | std::io::ErrorKind::ConnectionReset => String::new(),
        _ => e.to_string(),
    }
}

fn transfer_error(e: &pagecast_io::Error) -> String {
    match e {
        pagecast_io::Error::DestinationClosed { .. } => String::new(),
        e => e.to_string(),
    }
}

/// Sends a response: header bytes with write, record data with sendfile or from the
/// mapping, all under TCP_CORK.
pub(crate) async fn send(
    shared: &Shared,
    stream: &mut TcpStream,
    resp: Response,
) -> Result<(), String> {
    let cork = !resp.data.is_empty();
    if cork {
        rustix::net::sockopt::set_tcp_cork(&*stream, true).map_err(|e| format!("TCP_CORK: {e}"))?;
    }
    let mut at = 0;
    for (pos, chunks) in &resp.data {
        stream
            .write_all(&resp.head[at..*pos])
            .await
            .map_err(|e| send_error(&e))?;
        at = *pos;
        let mut i = 0;
        while i < chunks.len() {
            match &chunks[i] {
                Chunk::File {
                    file,
                    position,
                    len,
                } => {
                    let stats = pagecast_io::tokio::send_file(
                        &**file,
                        *position,
                        *len,
                        &*stream,
                        &Options::method(Method::Sendfile),
                    )
                    .await
                    .map_err(|e| transfer_error(&e))?;
                    shared.metrics.fetched(stats.method.name(), stats.bytes);
                    i += 1;
                }
                Chunk::Mapped(_) => {
                    // Consecutive slices leave in one writev.
                    let run: Vec<&[u8]> = chunks[i..]
                        .iter()
                        .map_while(|c| match c {
                            Chunk::Mapped(m) => Some(m.bytes()),
                            Chunk::File { .. } => None,
                        })
                        .collect();
                    i += run.len();
                    let stats =
                        pagecast_io::tokio::send_mapped(&run, &*stream, &Options::default())
                            .await
                            .map_err(|e| transfer_error(&e))?;
                    shared.metrics.fetched(stats.method.name(), stats.bytes);
                }
            }
        }
    }
    stream
        .write_all(&resp.head[at..])
        .await
        .map_err(|e| send_error(&e))?;
    if cork {
        rustix::net::sockopt::set_tcp_cork(&*stream, false)
            .map_err(|e| format!("TCP_CORK: {e}"))?;
    }
    shared
        .metrics
        .fetched_records
        .fetch_add(resp.records, Ordering::Relaxed);
    Ok(())
}

#[cfg(test)]
mod tests {
    use bytes::Buf;
    use kafka_protocol::protocol::Decodable;
    use pagecast_log::Store;
    use pagecast_log::batch::Builder;

    use super::*;
    use crate::codec::decode_body;
    use crate::frame::split_response;

    fn stores(dir: &std::path::Path) -> Vec<Box<dyn Store>> {
        let segment =
            pagecast_log::segment::SegmentStore::open(dir.join("s"), Default::default()).unwrap();
        let commitlog = pagecast_log::commitlog::CommitLogStore::open(
            dir.join("c"),
            pagecast_log::commitlog::Config {
                file_bytes: 1 << 20,
                ..Default::default()
            },
        )
        .unwrap();
        vec![Box::new(segment), Box::new(commitlog)]
    }

    /// Every version's zero-copy response, gathered into bytes, decodes with the
    /// `kafka-protocol` crate and with our own description, and carries the batches
    /// exactly as stored.
    #[test]
    fn fetch_chunks_decode_with_the_oracle() {
        let dir = tempfile::tempdir().unwrap();
        let tp = TopicPartition::new("t", 0);
        for store in stores(dir.path()) {
            store.create(&tp).unwrap();
            let mut stored = Vec::new();
            for i in 0..3 {
                let mut b = Builder::new(1000 + i);
                b.push(
                    1000 + i,
                    Some(b"key"),
                    Some(&vec![i as u8; 100 * i as usize]),
                );
                let mut batch = b.finish();
                store.append(&tp, &mut batch, 0).unwrap();
                stored.extend_from_slice(&batch);
            }
            let (chunks, next) = store.read_with_end(&tp, 0, 1 << 20).unwrap();
            assert_eq!(next, 3);
            let id = Uuid([7; 16]);
            for version in 4..=16 {
                let key = if version >= 13 {
                    TopicKey::Id(id)
                } else {
                    TopicKey::Name("t".into())
                };
                let wanted = vec![(
                    key,
                    vec![
                        Wanted {
                            partition: 0,
                            tp: Ok(tp.clone()),
                            offset: 0,
                            max_bytes: 1 << 20,
                        },
                        Wanted {
                            partition: 5,
                            tp: Err(ErrorCode::UNKNOWN_TOPIC_OR_PARTITION),
                            offset: 0,
                            max_bytes: 1,
                        },
                    ],
                )];
                let answers = vec![vec![
                    Answer {
                        error: ErrorCode::NONE,
                        high_watermark: 3,
                        log_start: 0,
                        chunks: chunks.clone(),
                        records: next as u64,
                    },
                    Answer {
                        error: ErrorCode::UNKNOWN_TOPIC_OR_PARTITION,
                        high_watermark: -1,
                        log_start: -1,
                        chunks: vec![],
                        records: 0,
                    },
                ]];
                let top = Top {
                    error: ErrorCode::NONE,
                    session_id: 77,
                    isolation_level: 1,
                };
                let resp = encode(&wanted, answers, version, 42, &top);
                assert_eq!(resp.records, 3);
                let bytes = resp.to_bytes().unwrap();
                let size = i32::from_be_bytes(bytes[..4].try_into().unwrap()) as usize;
                assert_eq!(size, bytes.len() - 4, "v{version}: size prefix");
                let flexible = FetchResponse::version(version).flexible;
                let (correlation, body) = split_response(&bytes[4..], flexible).unwrap();
                assert_eq!(correlation, 42);

                let mut buf = bytes::Bytes::copy_from_slice(body);
                let theirs = kafka_protocol::messages::FetchResponse::decode(&mut buf, version)
                    .unwrap_or_else(|e| panic!("v{version}: {e}"));
                assert_eq!(buf.remaining(), 0, "v{version}: bytes left over");
                if version >= 7 {
                    assert_eq!(theirs.session_id, 77, "v{version}");
                }
                let topic = &theirs.responses[0];
                if version >= 13 {
                    assert_eq!(topic.topic_id.as_bytes(), &id.0);
                } else {
                    assert_eq!(topic.topic.0.as_str(), "t");
                }
                let p = &topic.partitions[0];
                assert_eq!((p.high_watermark, p.last_stable_offset), (3, 3));
                assert_eq!(p.records.as_deref(), Some(&stored[..]), "v{version}");
                assert_eq!(topic.partitions[1].error_code, 3);
                assert_eq!(p.aborted_transactions.as_ref().map(Vec::len), Some(0));

                let ours: FetchResponse = decode_body(body, version).unwrap();
                assert_eq!(
                    ours.responses[0].partitions[0]
                        .records
                        .as_ref()
                        .map(|b| &b.0[..]),
                    Some(&stored[..])
                );
            }
        }
    }
}
