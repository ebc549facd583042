//! The Range request header (RFC 9110 §14.1–14.2) resolved against a file's length,
//! and the layout of a `multipart/byteranges` body whose parts are file regions.
//!
//! Policy, as a demanding server needs it:
//! - A header that does not parse (unknown unit, a bad element, `first > last`, a number
//!   past u64) is ignored, as RFC 9110 §14.2 requires: the whole file is served.
//! - No requested range overlaps the file → 416 with `Content-Range: bytes */N`.
//! - Ranges are not allowed to amplify a response (§14.2, "Range requests"
//!   security considerations): more than [`MAX_RANGES`] ranges, ranges that overlap, or
//!   ranges adding up to more than the file are answered with the whole file (200), so a
//!   response is never larger than the file plus part headers.
//! - An empty file has no bytes to select: the header is ignored.

use std::fmt::Write as _;

/// Most ranges one request may ask for before the header is ignored.
pub const MAX_RANGES: usize = 64;

/// A satisfiable range of a file: `start..end`, end exclusive, never empty.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ByteRange {
    /// First byte.
    pub start: u64,
    /// One past the last byte.
    pub end: u64,
}

impl ByteRange {
    /// Bytes in the range.
    pub fn len(&self) -> u64 {
        self.end - self.start
    }

    /// Always false: a resolved range holds at least one byte.
    pub fn is_empty(&self) -> bool {
        self.start == self.end
    }

    /// The `Content-Range` value for this range of a file of `length` bytes.
    pub fn content_range(&self, length: u64) -> String {
        format!("bytes {}-{}/{}", self.start, self.end - 1, length)
    }
}

/// What a Range header asks of a file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ranges {
    /// Serve the whole file (200): no header, an ignored header, or a refused set.
    Full,
    /// Serve these ranges (206), in the order asked; one range is a plain 206, more are
    /// `multipart/byteranges`.
    Partial(Vec<ByteRange>),
    /// No range overlaps the file (416).
    Unsatisfiable,
}

/// The `Content-Range` value of a 416 response for a file of `length` bytes.
pub fn unsatisfied_content_range(length: u64) -> String {
    format!("bytes */{length}")
}

/// One element of a byte-range-set before it meets the file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Spec {
    /// `first-` or `first-last`.
    From { first: u64, last: Option<u64> },
    /// `-suffix`.
    Suffix(u64),
}

/// Resolves the value of a Range header (`None` when the request has none) against a
/// file of `length` bytes.
pub fn resolve(header: Option<&[u8]>, length: u64) -> Ranges {
    let Some(header) = header else {
        return Ranges::Full;
    };
    if length == 0 {
        return Ranges::Full;
    }
    let Some(specs) = parse(header) else {
        return Ranges::Full;
    };
    let mut ranges = Vec::with_capacity(specs.len());
    for spec in specs {
        let range = match spec {
            Spec::From { first, .. } if first >= length => continue,
            Spec::From { first, last } => ByteRange {
                start: first,
                end: last.map_or(length, |l| l.saturating_add(1).min(length)),
            },
            Spec::Suffix(0) => continue,
            Spec::Suffix(n) => ByteRange {
                start: length.saturating_sub(n),
                end: length,
            },
        };
        ranges.push(range);
    }
    if ranges.is_empty() {
        return Ranges::Unsatisfiable;
    }
    if amplifies(&ranges, length) {
        return Ranges::Full;
    }
    Ranges::Partial(ranges)
}

/// Whether serving `ranges` would send more than the file: overlapping ranges, or more
/// bytes in total than the file holds.
fn amplifies(ranges: &[ByteRange], length: u64) -> bool {
    let total = ranges
        .iter()
        .try_fold(0u64, |sum, r| sum.checked_add(r.len()));
    if total.is_none_or(|t| t > length) {
        return true;
    }
    let mut sorted: Vec<ByteRange> = ranges.to_vec();
    sorted.sort_by_key(|r| r.start);
    sorted.windows(2).any(|w| w[1].start < w[0].end)
}

/// Parses `bytes=spec, spec, …`. `None` for anything RFC 9110 says to ignore, and for
/// more than [`MAX_RANGES`] elements (counted before anything is allocated per element).
fn parse(header: &[u8]) -> Option<Vec<Spec>> {
    let text = std::str::from_utf8(header).ok()?.trim_matches([' ', '\t']);
    let (unit, set) = text.split_once('=')?;
    if !unit.eq_ignore_ascii_case("bytes") {
        return None;
    }
    if set.bytes().filter(|&b| b == b',').count() >= MAX_RANGES * 4 {
        return None;
    }
    let mut specs = Vec::new();
    // 1#element: empty elements between commas are allowed, at least one must exist.
    for element in set.split(',').map(|e| e.trim_matches([' ', '\t'])) {
        if element.is_empty() {
            continue;
        }
        if specs.len() == MAX_RANGES {
            return None;
        }
        let (first, last) = element.split_once('-')?;
        let spec = if first.is_empty() {
            Spec::Suffix(number(last)?)
        } else {
            let first = number(first)?;
            let last = if last.is_empty() {
                None
            } else {
                Some(number(last)?)
            };
            if last.is_some_and(|l| l < first) {
                return None;
            }
            Spec::From { first, last }
        };
        specs.push(spec);
    }
    (!specs.is_empty()).then_some(specs)
}

/// 1*DIGIT as a u64; `None` for anything else or an overflow.
fn number(s: &str) -> Option<u64> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

/// One piece of a response body: literal bytes, or a region of the file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Piece {
    /// Bytes the server writes itself (part headers, the closing boundary).
    Literal(String),
    /// A file region, sent by the transfer engine.
    File(ByteRange),
}

/// The body of a `multipart/byteranges` response (RFC 9110 §14.6): the pieces in
/// order and the total length for `Content-Length`. Every file part stays a file region,
/// so each goes out zero-copy.
pub fn multipart(
    ranges: &[ByteRange],
    length: u64,
    content_type: &str,
    boundary: &str,
) -> (Vec<Piece>, u64) {
    let mut pieces = Vec::with_capacity(ranges.len() * 2 + 1);
    let mut total = 0u64;
    for (i, range) in ranges.iter().enumerate() {
        let mut head = String::new();
        // The first boundary needs no CRLF before it; later ones end the previous part.
        let _ = write!(
            head,
            "{}--{boundary}\r\nContent-Type: {content_type}\r\nContent-Range: {}\r\n\r\n",
            if i == 0 { "" } else { "\r\n" },
            range.content_range(length)
        );
        total += head.len() as u64 + range.len();
        pieces.push(Piece::Literal(head));
        pieces.push(Piece::File(*range));
    }
    let tail = format!("\r\n--{boundary}--\r\n");
    total += tail.len() as u64;
    pieces.push(Piece::Literal(tail));
    (pieces, total)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(start: u64, end: u64) -> ByteRange {
        ByteRange { start, end }
    }

    fn resolve_str(h: &str, len: u64) -> Ranges {
        resolve(Some(h.as_bytes()), len)
    }

    #[test]
    fn single_ranges_of_every_form() {
        assert_eq!(resolve_str("bytes=0-0", 10), Ranges::Partial(vec![r(0, 1)]));
        assert_eq!(resolve_str("bytes=2-5", 10), Ranges::Partial(vec![r(2, 6)]));
        assert_eq!(resolve_str("bytes=7-", 10), Ranges::Partial(vec![r(7, 10)]));
        assert_eq!(resolve_str("bytes=-3", 10), Ranges::Partial(vec![r(7, 10)]));
        // Clamped to the file: a last past the end, a suffix longer than the file.
        assert_eq!(
            resolve_str("bytes=5-999", 10),
            Ranges::Partial(vec![r(5, 10)])
        );
        assert_eq!(
            resolve_str("bytes=-999", 10),
            Ranges::Partial(vec![r(0, 10)])
        );
        assert_eq!(resolve_str("BYTES=1-2", 10), Ranges::Partial(vec![r(1, 3)]));
        assert_eq!(
            resolve_str(" bytes=1-2 ", 10),
            Ranges::Partial(vec![r(1, 3)])
        );
    }

    #[test]
    fn nothing_overlapping_the_file_is_unsatisfiable() {
        assert_eq!(resolve_str("bytes=10-", 10), Ranges::Unsatisfiable);
        assert_eq!(resolve_str("bytes=10-20, 30-40", 10), Ranges::Unsatisfiable);
        assert_eq!(resolve_str("bytes=-0", 10), Ranges::Unsatisfiable);
        assert_eq!(unsatisfied_content_range(10), "bytes */10");
        // One satisfiable range among unsatisfiable ones is served alone.
        assert_eq!(
            resolve_str("bytes=50-60, 2-3", 10),
            Ranges::Partial(vec![r(2, 4)])
        );
    }

    #[test]
    fn malformed_headers_are_ignored() {
        for h in [
            "",
            "bytes",
            "bytes=",
            "bytes=,",
            "items=0-1",
            "bytes=a-b",
            "bytes=1-0",
            "bytes=--1",
            "bytes=1",
            "bytes=0-1;2-3",
            "bytes=+1-2",
            "bytes=0x1-2",
            "bytes=99999999999999999999-",
            "bytes=-99999999999999999999",
            "bytes=1-2-3",
            "bytes=\u{0660}-1",
        ] {
            assert_eq!(resolve_str(h, 10), Ranges::Full, "{h:?}");
        }
        assert_eq!(resolve(Some(b"bytes=\xff-1"), 10), Ranges::Full);
        assert_eq!(resolve(None, 10), Ranges::Full);
        assert_eq!(
            resolve_str("bytes=0-1", 0),
            Ranges::Full,
            "an empty file has no ranges"
        );
    }

    #[test]
    fn empty_list_elements_are_allowed() {
        assert_eq!(
            resolve_str("bytes=0-1, ,4-5,", 10),
            Ranges::Partial(vec![r(0, 2), r(4, 6)])
        );
    }

    #[test]
    fn amplifying_sets_get_the_whole_file() {
        assert_eq!(resolve_str("bytes=0-5, 3-8", 10), Ranges::Full, "overlap");
        assert_eq!(resolve_str("bytes=0-, 0-", 10), Ranges::Full, "repeat");
        assert_eq!(
            resolve_str("bytes=-5, 6-6", 10),
            Ranges::Full,
            "suffix overlaps"
        );
        let many = format!(
            "bytes={}",
            (0..=MAX_RANGES as u64)
                .map(|i| format!("{i}-{i}"))
                .collect::<Vec<_>>()
                .join(",")
        );
        assert_eq!(resolve_str(&many, 1000), Ranges::Full, "too many");
        let just_enough = format!(
            "bytes={}",
            (0..MAX_RANGES as u64)
                .map(|i| format!("{i}-{i}"))
                .collect::<Vec<_>>()
                .join(",")
        );
        assert!(
            matches!(resolve_str(&just_enough, 1000), Ranges::Partial(v) if v.len() == MAX_RANGES)
        );
        // Adjacent but not overlapping, out of order: allowed, order kept.
        assert_eq!(
            resolve_str("bytes=5-9,0-4", 10),
            Ranges::Partial(vec![r(5, 10), r(0, 5)])
        );
        // A header of commas alone is refused before anything is allocated per element.
        let commas = format!("bytes=0-1{}", ",".repeat(100_000));
        assert_eq!(resolve_str(&commas, 10), Ranges::Full);
    }

    #[test]
    fn multipart_layout_matches_its_length_and_rfc_framing() {
        let ranges = [r(0, 3), r(7, 10)];
        let (pieces, total) = multipart(&ranges, 10, "text/plain", "B0UND");
        let file = b"0123456789";
        let mut body = Vec::new();
        for p in &pieces {
            match p {
                Piece::Literal(s) => body.extend_from_slice(s.as_bytes()),
                Piece::File(r) => body.extend_from_slice(&file[r.start as usize..r.end as usize]),
            }
        }
        assert_eq!(body.len() as u64, total);
        let expected = "--B0UND\r\nContent-Type: text/plain\r\nContent-Range: bytes 0-2/10\r\n\r\n012\
                        \r\n--B0UND\r\nContent-Type: text/plain\r\nContent-Range: bytes 7-9/10\r\n\r\n789\
                        \r\n--B0UND--\r\n";
        assert_eq!(String::from_utf8(body).unwrap(), expected);
        assert_eq!(
            pieces
                .iter()
                .filter(|p| matches!(p, Piece::File(_)))
                .count(),
            2,
            "file parts stay file regions"
        );
    }

    #[test]
    fn content_range_is_inclusive() {
        assert_eq!(r(0, 1).content_range(5), "bytes 0-0/5");
        assert_eq!(r(2, 5).content_range(5), "bytes 2-4/5");
    }
}
