//! Records inside a v2 batch: what the broker reads of its own internal logs, and what
//! ListOffsets looks inside to answer a timestamp exactly, decompressing where the
//! batch is compressed (gzip, snappy, lz4, zstd) as Kafka does.
//!
//! Decompression is bounded: a batch that inflates past [`MAX_DECOMPRESSED`] is refused
//! rather than read, so a small batch cannot make the broker allocate without limit.

use std::io::Read;

use pagecast_log::batch::{self, Compression, HEADER_LEN, Header};

/// One record of a batch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record<'a> {
    /// The record's offset.
    pub offset: i64,
    /// The record's timestamp.
    pub timestamp: i64,
    /// Key, or null.
    pub key: Option<&'a [u8]>,
    /// Value, or null.
    pub value: Option<&'a [u8]>,
}

/// Why a batch's records could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RecordsError {
    /// The batch header is invalid.
    #[error("invalid batch: {0}")]
    Batch(#[from] batch::BatchError),
    /// The records are compressed with a codec Kafka does not define.
    #[error("records compressed with {0:?}")]
    Compressed(Compression),
    /// The records could not be compressed.
    #[error("records cannot be compressed with {codec:?}: {reason}")]
    Compress {
        /// The codec.
        codec: Compression,
        /// What went wrong.
        reason: String,
    },
    /// The compressed records could not be read.
    #[error("{codec:?} records cannot be decompressed: {reason}")]
    Decompress {
        /// The codec.
        codec: Compression,
        /// What went wrong.
        reason: String,
    },
}

/// Most bytes of records the searches of one ListOffsets request may inflate.
pub const MAX_DECOMPRESSED: u64 = 256 << 20;

/// Most bytes a batch's records may inflate to when the broker compresses them again
/// (a topic's `compression.type`): at most this much per handler thread.
pub const RECOMPRESS_MOST: u64 = 64 << 20;

/// The records of the uncompressed batch at the start of `bytes` (checked whole, CRC
/// included).
pub fn records(bytes: &[u8]) -> Result<(Header, Vec<Record<'_>>), RecordsError> {
    let header = batch::check_stored(bytes)?;
    if header.compression() != Compression::None {
        return Err(RecordsError::Compressed(header.compression()));
    }
    let body = &bytes[HEADER_LEN..header.size() as usize];
    Ok((header, parse_records(&header, body)?))
}

/// The first record of the batch at the start of `bytes` for which `want` is true, as
/// its offset and timestamp. A compressed batch is inflated as a stream, one record at
/// a time, and no further than the match: at most `budget` bytes of records (what is
/// left of a request's budget, less what this search inflated), each at most
/// `record_most` bytes, past which the search fails rather than inflate more.
pub fn find_record(
    bytes: &[u8],
    budget: &mut usize,
    record_most: usize,
    mut want: impl FnMut(&Record<'_>) -> bool,
) -> Result<Option<(i64, i64)>, RecordsError> {
    let header = batch::check_stored(bytes)?;
    let body = &bytes[HEADER_LEN..header.size() as usize];
    // With LogAppendTime every record carries the batch's largest timestamp.
    let log_append_time = header.attributes & batch::LOG_APPEND_TIME != 0;
    let mut found = |raw: batch::RawRecord<'_>| {
        let r = Record {
            offset: header.base_offset + raw.offset_delta,
            timestamp: if log_append_time {
                header.max_timestamp
            } else {
                header.base_timestamp.wrapping_add(raw.timestamp_delta)
            },
            key: raw.key,
            value: raw.value,
        };
        want(&r).then_some((r.offset, r.timestamp))
    };
    let codec = header.compression();
    let mut stream: Box<dyn Read + '_> = match codec {
        Compression::None => {
            let (mut at, mut last) = (0, -1);
            for _ in 0..header.record_count {
                if let Some(hit) = found(batch::parse_record(body, &mut at, &header, &mut last)?) {
                    return Ok(Some(hit));
                }
            }
            return Ok(None);
        }
        Compression::Gzip => Box::new(flate2::read::MultiGzDecoder::new(body)),
        Compression::Lz4 => Box::new(lz4_flex::frame::FrameDecoder::new(body)),
        Compression::Zstd => {
            Box::new(ruzstd::decoding::StreamingDecoder::new(body).map_err(|e| {
                RecordsError::Decompress {
                    codec,
                    reason: e.to_string(),
                }
            })?)
        }
        Compression::Snappy => Box::new(SnappyStream::new(body, *budget)),
        other => return Err(RecordsError::Compressed(other)),
    };
    let fail = |reason: String| RecordsError::Decompress { codec, reason };
    let most = *budget;
    let mut record = Vec::new();
    let mut last = -1;
    for _ in 0..header.record_count {
        // The length prefix, a byte at a time, then the record it announces.
        record.clear();
        let len = loop {
            let mut b = [0u8; 1];
            stream.read_exact(&mut b).map_err(|e| fail(e.to_string()))?;
            record.push(b[0]);
            if b[0] & 0x80 == 0 {
                let mut at = 0;
                break batch::read_varlong(&record, &mut at)
                    .ok_or_else(|| fail("a bad record length".into()))?;
            }
            if record.len() > 10 {
                return Err(fail("a bad record length".into()));
            }
        };
        let len = usize::try_from(len)
            .ok()
            .filter(|&len| len <= record_most)
            .ok_or_else(|| fail(format!("a record longer than {record_most} bytes")))?;
        *budget = budget
            .checked_sub(record.len() + len)
            .ok_or_else(|| fail(format!("the search would inflate more than {most} bytes")))?;
        let at = record.len();
        record.resize(at + len, 0);
        stream
            .read_exact(&mut record[at..])
            .map_err(|e| fail(e.to_string()))?;
        let mut pos = 0;
        if let Some(hit) = found(batch::parse_record(&record, &mut pos, &header, &mut last)?) {
            return Ok(Some(hit));
        }
    }
    Ok(None)
}

/// The Java client's snappy framing starts with this.
const XERIAL_MAGIC: &[u8] = b"\x82SNAPPY\x00";

/// The largest snappy block a search inflates whatever its budget: the Java client
/// writes blocks of 32 KiB.
const SNAPPY_BLOCK_MOST: usize = 64 << 10;

/// Snappy as Kafka clients write it, as a stream: the Java client's framing (a magic
/// header, then blocks each after its big-endian length) inflated a block at a time,
/// or one raw block (librdkafka before it adopted the framing) whole. A block may
/// inflate to the budget or [`SNAPPY_BLOCK_MOST`], whichever is more.
struct SnappyStream<'a> {
    rest: &'a [u8],
    framed: bool,
    /// The framing's header is cut short.
    cut: bool,
    budget: usize,
    block: Vec<u8>,
    at: usize,
}

impl<'a> SnappyStream<'a> {
    fn new(body: &'a [u8], budget: usize) -> SnappyStream<'a> {
        let (rest, framed, cut) = match body.strip_prefix(XERIAL_MAGIC) {
            // Version and minimum compatible version follow the magic.
            Some(rest) => match rest.get(8..) {
                Some(rest) => (rest, true, false),
                None => (rest, true, true),
            },
            None => (body, false, false),
        };
        SnappyStream {
            rest,
            framed,
            cut,
            budget,
            block: Vec::new(),
            at: 0,
        }
    }

    /// Inflates the next block into `block`; `false` at the end.
    fn next_block(&mut self) -> std::io::Result<bool> {
        let bad = |why: &str| std::io::Error::other(why.to_owned());
        if self.cut {
            return Err(bad("a snappy header cut short"));
        }
        if self.rest.is_empty() {
            return Ok(false);
        }
        let compressed = if self.framed {
            let (len, tail) = self
                .rest
                .split_first_chunk::<4>()
                .ok_or_else(|| bad("a snappy block length cut short"))?;
            let len = u32::from_be_bytes(*len) as usize;
            let block = tail
                .get(..len)
                .ok_or_else(|| bad("a snappy block cut short"))?;
            self.rest = &tail[len..];
            block
        } else {
            std::mem::take(&mut self.rest)
        };
        let len = snap::raw::decompress_len(compressed).map_err(std::io::Error::other)?;
        // A block inflates whole: the Java client's are 32 KiB.
        if len > self.budget.max(SNAPPY_BLOCK_MOST) {
            return Err(bad("a snappy block inflates past the search's budget"));
        }
        self.block.resize(len, 0);
        snap::raw::Decoder::new()
            .decompress(compressed, &mut self.block)
            .map_err(std::io::Error::other)?;
        self.at = 0;
        Ok(true)
    }
}

impl Read for SnappyStream<'_> {
    fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
        while self.at == self.block.len() {
            if !self.next_block()? {
                return Ok(0);
            }
        }
        let n = out.len().min(self.block.len() - self.at);
        out[..n].copy_from_slice(&self.block[self.at..self.at + n]);
        self.at += n;
        Ok(n)
    }
}

/// Decompresses a batch's records, up to [`MAX_DECOMPRESSED`] bytes.
fn decompress(codec: Compression, body: &[u8], most: u64) -> Result<Vec<u8>, RecordsError> {
    let fail = |reason: String| RecordsError::Decompress { codec, reason };
    let mut out = Vec::new();
    let read = |r: &mut dyn Read, out: &mut Vec<u8>| -> Result<(), RecordsError> {
        r.take(most + 1)
            .read_to_end(out)
            .map_err(|e| fail(e.to_string()))?;
        if out.len() as u64 > most {
            return Err(fail(format!("they inflate past {most} bytes")));
        }
        Ok(())
    };
    match codec {
        Compression::Gzip => read(&mut flate2::read::MultiGzDecoder::new(body), &mut out)?,
        Compression::Lz4 => read(&mut lz4_flex::frame::FrameDecoder::new(body), &mut out)?,
        Compression::Zstd => {
            let mut d =
                ruzstd::decoding::StreamingDecoder::new(body).map_err(|e| fail(e.to_string()))?;
            read(&mut d, &mut out)?
        }
        Compression::Snappy => read(&mut SnappyStream::new(body, most as usize), &mut out)?,
        other => return Err(RecordsError::Compressed(other)),
    }
    Ok(out)
}

/// Compresses a batch's records with `codec` as Kafka's clients do: gzip at `gzip_level`
/// (-1 for its default), snappy in the Java client's framing, lz4 in frames of
/// independent 64 KiB blocks, zstd at the encoder's fastest level (about zstd's level
/// 1: the pure-Rust encoder has no other).
fn compress(codec: Compression, gzip_level: i32, body: &[u8]) -> Result<Vec<u8>, RecordsError> {
    use std::io::Write;
    let fail = |reason: String| RecordsError::Compress { codec, reason };
    match codec {
        Compression::None => Ok(body.to_vec()),
        Compression::Gzip => {
            let level = match u32::try_from(gzip_level) {
                Ok(level) => flate2::Compression::new(level),
                Err(_) => flate2::Compression::default(),
            };
            let mut e = flate2::write::GzEncoder::new(Vec::new(), level);
            e.write_all(body).map_err(|e| fail(e.to_string()))?;
            e.finish().map_err(|e| fail(e.to_string()))
        }
        Compression::Snappy => {
            // The Java client's framing: magic, version 1, compatible version 1, then
            // blocks of at most 32 KiB, each after its compressed length.
            let mut out = XERIAL_MAGIC.to_vec();
            out.extend_from_slice(&1i32.to_be_bytes());
            out.extend_from_slice(&1i32.to_be_bytes());
            let mut encoder = snap::raw::Encoder::new();
            for block in body.chunks(32 << 10) {
                let compressed = encoder
                    .compress_vec(block)
                    .map_err(|e| fail(e.to_string()))?;
                out.extend_from_slice(&(compressed.len() as u32).to_be_bytes());
                out.extend_from_slice(&compressed);
            }
            Ok(out)
        }
        Compression::Lz4 => {
            let mut info = lz4_flex::frame::FrameInfo::new();
            info.block_size = lz4_flex::frame::BlockSize::Max64KB;
            info.block_mode = lz4_flex::frame::BlockMode::Independent;
            let mut e = lz4_flex::frame::FrameEncoder::with_frame_info(info, Vec::new());
            e.write_all(body).map_err(|e| fail(e.to_string()))?;
            e.finish().map_err(|e| fail(e.to_string()))
        }
        Compression::Zstd => Ok(ruzstd::encoding::compress_to_vec(
            body,
            ruzstd::encoding::CompressionLevel::Fastest,
        )),
        other => Err(RecordsError::Compressed(other)),
    }
}

/// The batch at the start of `bytes` (whole, checked) with its records compressed with
/// `codec` instead, as a topic's `compression.type` asks; `None` if they already are.
/// Its records are read first, so a batch whose records do not parse is refused, not
/// stored.
pub fn recompress(
    bytes: &[u8],
    codec: Compression,
    gzip_level: i32,
    max_bytes: usize,
) -> Result<Option<Vec<u8>>, RecordsError> {
    let header = batch::check(bytes)?;
    if header.compression() == codec {
        return Ok(None);
    }
    let stored = &bytes[HEADER_LEN..header.size() as usize];
    // Stored plain, the records must fit the batch limit; to be compressed again, they
    // may inflate to RECOMPRESS_MOST.
    let most = match codec {
        Compression::None => max_bytes.saturating_sub(HEADER_LEN) as u64,
        _ => RECOMPRESS_MOST,
    };
    let plain = match header.compression() {
        Compression::None => stored.to_vec(),
        other => decompress(other, stored, most)?,
    };
    // Read, keeping nothing: the records must parse.
    let (mut at, mut last) = (0, -1);
    for _ in 0..header.record_count {
        batch::parse_record(&plain, &mut at, &header, &mut last)?;
    }
    let body = match codec {
        Compression::None => plain,
        _ => compress(codec, gzip_level, &plain)?,
    };
    Ok(Some(batch::with_body(
        &bytes[..header.size() as usize],
        &body,
        codec,
    )))
}

/// Parses `header.record_count` records from `body`, with the log's one record parser.
fn parse_records<'a>(header: &Header, body: &'a [u8]) -> Result<Vec<Record<'a>>, RecordsError> {
    Ok(batch::parse_records(body, header)?
        .into_iter()
        .map(|r| Record {
            offset: header.base_offset + r.offset_delta,
            timestamp: header.base_timestamp.wrapping_add(r.timestamp_delta),
            key: r.key,
            value: r.value,
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_search_inflates_records_one_at_a_time_up_to_the_match_and_its_budget() {
        let mut b = batch::Builder::new(1000);
        for i in 0..300 {
            b.push(1000 + i as i64, Some(b"key"), Some(&[i as u8; 100]));
        }
        let plain = b.finish();
        for codec in [
            Compression::None,
            Compression::Gzip,
            Compression::Snappy,
            Compression::Lz4,
            Compression::Zstd,
        ] {
            let bytes = recompress(&plain, codec, -1, 1 << 20)
                .unwrap()
                .unwrap_or(plain.clone());
            let at = |t: i64| move |r: &Record<'_>| r.timestamp >= t;
            assert_eq!(
                find_record(&bytes, &mut (1 << 20), 1 << 20, at(1250)).unwrap(),
                Some((250, 1250)),
                "{codec:?}"
            );
            assert_eq!(
                find_record(&bytes, &mut (1 << 20), 1 << 20, at(5000)).unwrap(),
                None
            );
            // Ten records' worth of budget finds the fifth, and refuses the 250th rather
            // than inflate the batch; what one search spends, the next has not.
            if codec != Compression::None {
                let mut budget = 10 * 120;
                assert_eq!(
                    find_record(&bytes, &mut budget, 1 << 20, at(1005)).unwrap(),
                    Some((5, 1005)),
                    "{codec:?}"
                );
                assert!(budget < 5 * 120, "{codec:?}: {budget} left");
                assert!(
                    find_record(&bytes, &mut budget, 1 << 20, at(1005)).is_err(),
                    "{codec:?}"
                );
                assert!(
                    find_record(&bytes, &mut (10 * 120), 1 << 20, at(1250)).is_err(),
                    "{codec:?}"
                );
            }
        }
    }

    #[test]
    fn a_batch_compressed_again_with_each_codec_keeps_its_records_and_header() {
        let mut b = batch::Builder::new(1000);
        b.producer(7, 1, 40);
        for i in 0..300 {
            let value = format!("value {i} {}", "x".repeat(i % 50));
            b.push(
                1000 + i as i64,
                Some(format!("k{i}").as_bytes()),
                Some(value.as_bytes()),
            );
        }
        let plain = b.finish();
        let (plain_header, plain_records) = records(&plain).unwrap();
        for codec in [
            Compression::Gzip,
            Compression::Snappy,
            Compression::Lz4,
            Compression::Zstd,
        ] {
            let packed = recompress(&plain, codec, -1, 1 << 20).unwrap().unwrap();
            let h = batch::check(&packed).unwrap();
            assert_eq!(h.compression(), codec);
            assert!(packed.len() < plain.len(), "{codec:?} compresses");
            assert_eq!(
                (
                    h.producer_id,
                    h.producer_epoch,
                    h.base_sequence,
                    h.record_count,
                    h.last_offset_delta
                ),
                (7, 1, 40, 300, 299)
            );
            let body = decompress(codec, &packed[HEADER_LEN..], MAX_DECOMPRESSED).unwrap();
            let again = parse_records(&h, &body).unwrap();
            assert_eq!(again, plain_records, "{codec:?}");
            assert_eq!(
                recompress(&packed, codec, -1, 1 << 20).unwrap(),
                None,
                "already {codec:?}"
            );
            // And back: what each codec wrote, decompressed to plain records.
            let unpacked = recompress(&packed, Compression::None, -1, 1 << 20)
                .unwrap()
                .unwrap();
            assert_eq!(
                records(&unpacked).unwrap(),
                (batch::check(&unpacked).unwrap(), plain_records.clone())
            );
            assert_eq!(
                batch::check(&unpacked).unwrap().base_sequence,
                plain_header.base_sequence
            );
        }
    }

    #[test]
    fn reads_what_the_builder_writes() {
        let mut b = batch::Builder::new(1000);
        b.push(1000, Some(b"k"), Some(b"v1"));
        b.push(1005, None, Some(b"v2"));
        let mut bytes = b.finish();
        batch::set_base_offset(&mut bytes, 40);
        let (h, recs) = records(&bytes).unwrap();
        assert_eq!(h.record_count, 2);
        assert_eq!(recs[0].offset, 40);
        assert_eq!(recs[1].offset, 41);
        assert_eq!(recs[1].timestamp, 1005);
        assert_eq!(recs[0].key, Some(&b"k"[..]));
        assert_eq!(recs[1].key, None);
        assert_eq!(recs[1].value, Some(&b"v2"[..]));
    }

    #[test]
    fn a_snappy_block_claiming_a_huge_size_is_refused_before_allocating() {
        // A raw snappy block whose header claims 2^40 bytes.
        let mut block = Vec::new();
        let mut n: u64 = 1 << 40;
        while n >= 0x80 {
            block.push(n as u8 | 0x80);
            n >>= 7;
        }
        block.push(n as u8);
        block.extend_from_slice(&[0; 16]);
        let err = decompress(Compression::Snappy, &block, MAX_DECOMPRESSED).unwrap_err();
        assert!(
            err.to_string().contains("inflate past") || err.to_string().contains("snappy"),
            "{err}"
        );
        let mut framed = b"\x82SNAPPY\x00\0\0\0\x01\0\0\0\x01".to_vec();
        framed.extend_from_slice(&(block.len() as u32).to_be_bytes());
        framed.extend_from_slice(&block);
        assert!(decompress(Compression::Snappy, &framed, MAX_DECOMPRESSED).is_err());
    }

    #[test]
    fn a_gzip_stream_that_is_not_gzip_is_an_error() {
        assert!(decompress(Compression::Gzip, b"not gzip", MAX_DECOMPRESSED).is_err());
        assert!(decompress(Compression::Zstd, b"not zstd", MAX_DECOMPRESSED).is_err());
        assert!(decompress(Compression::Lz4, b"not lz4!", MAX_DECOMPRESSED).is_err());
    }
}
