//! The bodies of pagecast's fuzz targets, one per decoder of untrusted bytes. Each takes
//! arbitrary bytes and panics only when a property the decoder promises is broken: a
//! panic inside a decoder, a length past its input, a read that answers differently
//! because an index file was damaged.
//!
//! The cargo-fuzz crate in `fuzz/` (nightly, libFuzzer) calls these; so does the test
//! `tests/corpus.rs`, which replays every committed corpus file on the stable
//! toolchain as part of the test command.

mod stores;

use pagecast_http::client::{ContentRange, ResponseHead, chunked};
use pagecast_http::range::{self, Ranges};
use pagecast_http::request::{self, HeadParser, Parsed};
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

/// The record batch check and the walk over consecutive batches: a valid batch lies
/// inside its input and its offsets are in order.
pub fn record_batch(data: &[u8]) {
    if let Ok(h) = batch::Header::parse(data) {
        assert!(h.base_offset <= h.last_offset() && h.last_offset() < h.next_offset());
    }
    if let Ok(h) = batch::check(data) {
        assert!(h.size() <= data.len() as u64);
        assert!(h.record_count >= 1);
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
