//! The bodies of pagecast's fuzz targets, one per decoder of untrusted bytes. Each takes
//! arbitrary bytes and panics only when a property the decoder promises is broken: a
//! panic inside a decoder, a length past its input, a read that answers differently
//! because an index file was damaged.
//!
//! The cargo-fuzz crate in `fuzz/` (nightly, libFuzzer) calls these; so does the test
//! `tests/corpus.rs`, which replays every committed corpus file on the stable
//! toolchain as part of the test command.

pub mod memory;
mod stores;

/// Counts what every target holds, for the ones that check a memory bound.
#[global_allocator]
static ALLOCATOR: memory::Counting = memory::Counting;

use pagecast_http::client::{ContentRange, ResponseHead, chunked};
use pagecast_http::range::{self, Ranges};
use pagecast_http::request::{self, HeadParser, Parsed};
use pagecast_kafka::broker::consumer_groups::GroupSnapshot as ConsumerGroupSnapshot;
use pagecast_kafka::broker::groups::GroupSnapshot;
use pagecast_kafka::broker::offsets::{self, Entry};
use pagecast_kafka::codec::decode_budget;
use pagecast_log::batch;
use pagecast_log::commitlog::{Found, decode_entry};

/// A fuzz target: its name (the folder of its corpus) and its body.
pub struct Target {
    pub name: &'static str,
    pub run: fn(&[u8]),
}

/// Every target, in the order `scripts/fuzz` runs them.
pub const TARGETS: &[Target] = &[
    Target {
        name: "http_request_head",
        run: http_request_head,
    },
    Target {
        name: "http_range",
        run: http_range,
    },
    Target {
        name: "http_response_head",
        run: http_response_head,
    },
    Target {
        name: "http_chunked",
        run: http_chunked,
    },
    Target {
        name: "record_batch",
        run: record_batch,
    },
    Target {
        name: "offset_index",
        run: stores::offset_index,
    },
    Target {
        name: "time_index",
        run: stores::time_index,
    },
    Target {
        name: "commitlog_entry",
        run: commitlog_entry,
    },
    Target {
        name: "consume_queue",
        run: stores::consume_queue,
    },
    Target {
        name: "kafka_request",
        run: kafka_request,
    },
    Target {
        name: "internal_records",
        run: internal_records,
    },
];

/// The target named `name`.
pub fn target(name: &str) -> Option<&'static Target> {
    TARGETS.iter().find(|t| t.name == name)
}

/// The server's request head parser. The first byte says where the bytes are cut in
/// two: parsed in two reads, the head must parse exactly as it does in one, and a
/// complete head never claims more than it was given or than the head limit.
pub fn http_request_head(data: &[u8]) {
    let Some((&cut, data)) = data.split_first() else {
        return;
    };
    let whole = request::parse(data);
    if let Ok(Parsed::Complete { consumed, .. }) = &whole {
        assert!(*consumed <= data.len() && *consumed <= request::MAX_HEAD);
    }
    let cut = usize::from(cut) * data.len() / 255;
    let mut parser = HeadParser::default();
    let pieces = match parser.parse(&data[..cut]) {
        Ok(Parsed::Incomplete) => parser.parse(data),
        other => other,
    };
    assert_eq!(pieces, whole, "cut at {cut}");
}

/// The Range header against a file whose length is the first eight bytes: every range
/// served lies inside the file and is not empty, and there are at most `MAX_RANGES`.
pub fn http_range(data: &[u8]) {
    let Some((length, header)) = data.split_first_chunk::<8>() else {
        return;
    };
    let length = u64::from_le_bytes(*length);
    if let Ranges::Partial(ranges) = range::resolve(Some(header), length) {
        assert!(!ranges.is_empty() && ranges.len() <= range::MAX_RANGES);
        for r in ranges {
            assert!(r.start < r.end && r.end <= length, "{r:?} of {length}");
            assert!(r.content_range(length).starts_with("bytes "));
        }
    }
}

/// Response heads as `pagecast get` reads them, and the numbers in their fields.
pub fn http_response_head(data: &[u8]) {
    let Ok(Some((head, end))) = ResponseHead::parse(data) else {
        return;
    };
    assert!(end <= data.len());
    let _ = head.content_length();
    for (_, value) in &head.headers {
        if let Some(r) = ContentRange::parse(value) {
            assert!(r.len >= 1);
            assert!(r.first.checked_add(r.len).is_some());
            assert!(r.total.is_none_or(|t| r.end() <= t));
        }
        let _ = pagecast_http::client::head::unsatisfied_total(value);
    }
}

/// Chunked bodies: the data handed on is never more than came in, and adds up to what
/// the decoder reports.
pub fn http_chunked(data: &[u8]) {
    let mut seen = 0u64;
    let reader = std::io::BufReader::with_capacity(7, data);
    if let Ok(total) = chunked::decode(reader, |piece| {
        seen += piece.len() as u64;
        Ok(())
    }) {
        assert_eq!(total, seen);
    }
    assert!(seen <= data.len() as u64);
}

/// The record batch checks and the walk over consecutive batches: a valid batch lies
/// inside its input and its offsets are in order; a stored batch's records rebuild
/// into a valid batch, as compaction rebuilds them; searches and recompression inside
/// it keep their bounds.
pub fn record_batch(data: &[u8]) {
    if let Ok(h) = batch::Header::parse(data) {
        assert!(h.base_offset <= h.last_offset() && h.last_offset() < h.next_offset());
    }
    if let Ok(h) = batch::check(data) {
        assert!(h.size() <= data.len() as u64);
        assert!(h.record_count >= 1);
    }
    // As a store may hold it (compaction removes records): its records lie inside it,
    // and the batch rebuilt from them is valid with the same offsets.
    if let Ok(h) = batch::check_stored(data)
        && h.compression() == batch::Compression::None
        && let Ok(records) = batch::raw_records(data, &h)
    {
        let whole = &data[..h.size() as usize];
        assert!(records.iter().all(|r| r.bytes.len() < whole.len()));
        let rebuilt = batch::rebuild(whole, Some(&records), h.last_offset_delta);
        let again = batch::check_stored(&rebuilt).expect("a rebuilt batch is valid");
        assert_eq!(
            (
                again.base_offset,
                again.last_offset_delta,
                again.record_count
            ),
            (h.base_offset, h.last_offset_delta, h.record_count)
        );
        assert_eq!(batch::raw_records(&rebuilt, &again).as_ref(), Ok(&records));
    }
    // The broker's reads inside a batch, compressed or not (ListOffsets' search, a
    // topic's compression.type): no panic, within their bounds.
    let _ = pagecast_kafka::records::find_record(data, &mut (1 << 20), 1 << 16, |r| r.offset < 0);
    for codec in [batch::Compression::None, batch::Compression::Lz4] {
        if let Ok(Some(b)) = pagecast_kafka::records::recompress(data, codec, -1, 1 << 20) {
            assert!(
                batch::check(&b).is_ok(),
                "a batch compressed again is valid"
            );
        }
    }
    let mut end = 0;
    for item in batch::split(data) {
        match item {
            Ok((at, h)) => {
                assert_eq!(at, end);
                end = at + h.size() as usize;
                assert!(end <= data.len());
            }
            Err((at, _)) => {
                assert_eq!(at, end);
                break;
            }
        }
    }
}

/// A commit-log entry at the start of the bytes, decoded with and without the batch CRC.
pub fn commitlog_entry(data: &[u8]) {
    let full = decode_entry(data, true);
    let fast = decode_entry(data, false);
    if let Ok(Found::Entry {
        batch_at,
        length,
        header,
        ..
    }) = &full
    {
        assert!(*batch_at < *length && *length <= data.len());
        assert_eq!(header.size(), (*length - *batch_at) as u64);
        // What passes the full check passes the fast one, with the same answer.
        assert_eq!(&fast, &full);
    }
    if let Ok(Found::Entry { length, .. }) = fast {
        assert!(length <= data.len());
    }
}

/// Bytes beyond the decoder's budget a decode may hold: the error message and the
/// header's client ID, which the budget does not count.
const DECODE_SLACK: usize = 4096;

/// A request frame (without its size prefix) as the broker decodes it before running
/// its handler, for every API at every version implemented (the seeds hold one of each):
/// no panic, and never more memory than the codec's budget for the frame's size.
pub fn kafka_request(data: &[u8]) {
    let (_, peak) = memory::peak_during(|| pagecast_kafka::broker::decode_request(data));
    let bound = decode_budget(data.len()) + DECODE_SLACK + data.len();
    assert!(
        peak <= bound,
        "decoding a {}-byte frame held {peak} bytes (bound {bound})",
        data.len()
    );
}

/// The records of the internal partition (committed offsets, group metadata) as the
/// broker replays them: the first byte says whether the value is null, the next two
/// give the key's length, the key follows, the rest is the value. No panic, memory
/// within the codec's budget, and a commit decoded is written back the same.
pub fn internal_records(data: &[u8]) {
    let Some((&flags, rest)) = data.split_first() else {
        return;
    };
    let Some((len, rest)) = rest.split_first_chunk::<2>() else {
        return;
    };
    let key_len = usize::from(u16::from_be_bytes(*len)).min(rest.len());
    let (key, value) = rest.split_at(key_len);
    let value = (flags & 1 == 0).then_some(value);
    let (entry, peak) = memory::peak_during(|| {
        let entry = offsets::decode(key, value, 0);
        if let Some(Entry::Group(_, Some(v)) | Entry::ConsumerGroup(_, Some(v))) = &entry {
            let _ = GroupSnapshot::decode_bytes(v);
            let _ = ConsumerGroupSnapshot::decode_bytes(v);
        }
        if let Some(v) = value {
            let _ = GroupSnapshot::decode_bytes(v);
            let _ = ConsumerGroupSnapshot::decode_bytes(v);
        }
        entry
    });
    // The entry itself holds copies of the key and the value.
    let bound = 3 * decode_budget(data.len()) + 2 * data.len() + DECODE_SLACK;
    assert!(
        peak <= bound,
        "decoding a {}-byte record held {peak} bytes (bound {bound})",
        data.len()
    );
    if let Some(Entry::Commit(k, committed)) = entry {
        let (again_key, again_value) = offsets::commit_record(&k, committed.as_ref());
        assert_eq!(
            offsets::decode(&again_key, again_value.as_deref(), 0),
            Some(Entry::Commit(k, committed)),
            "a commit written back decodes the same"
        );
    }
}
