//! Kafka's record batch, format v2 (magic 2): the unit both engines store.
//!
//! A batch is stored exactly as the producer sent it. The broker sets only the base
//! offset and the partition leader epoch, which sit before the CRC-covered part, so the
//! checksum stays valid and the payload (compressed or not) is never rewritten.
//!
//! ```text
//! 0  baseOffset i64      8  batchLength i32     12 partitionLeaderEpoch i32
//! 16 magic i8            17 crc u32 (CRC-32C of bytes 21..end)
//! 21 attributes i16      23 lastOffsetDelta i32  27 baseTimestamp i64
//! 35 maxTimestamp i64    43 producerId i64       51 producerEpoch i16
//! 53 baseSequence i32    57 recordCount i32      61 records...
//! ```
//!
//! All integers are big-endian. `batchLength` counts the bytes after itself.

/// Bytes before `batchLength` ends: every batch starts with offset and length.
pub const LOG_OVERHEAD: usize = 12;
/// Size of the v2 batch header, up to the first record.
pub const HEADER_LEN: usize = 61;
/// The only batch format version stored.
pub const MAGIC: i8 = 2;

const LENGTH_AT: usize = 8;
const MAGIC_AT: usize = 16;
const CRC_AT: usize = 17;
const CRC_FROM: usize = 21;
const ATTRIBUTES_AT: usize = 21;

/// Why a byte range is not a valid v2 batch.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum BatchError {
    /// Fewer bytes than the header or the declared length needs.
    #[error("batch needs {need} bytes but only {have} remain")]
    Truncated {
        /// Bytes the batch needs.
        need: u64,
        /// Bytes available.
        have: u64,
    },
    /// `batchLength` is too small to hold a header.
    #[error("batch length {0} is smaller than the {HEADER_LEN}-byte header")]
    BadLength(i32),
    /// Not format v2.
    #[error("magic byte is {0}, only v2 record batches (magic 2) are stored")]
    BadMagic(i8),
    /// The stored CRC-32C does not match the bytes.
    #[error("CRC-32C mismatch: header says {expected:#010x}, bytes give {computed:#010x}")]
    Checksum {
        /// CRC in the header.
        expected: u32,
        /// CRC of the bytes.
        computed: u32,
    },
    /// A negative base offset or offset delta, or a last offset past `i64::MAX - 1`.
    #[error(
        "base offset {base_offset} with last offset delta {last_offset_delta} is not a valid offset range"
    )]
    BadOffsets {
        /// `baseOffset`.
        base_offset: i64,
        /// `lastOffsetDelta`.
        last_offset_delta: i32,
    },
    /// A record of the batch cannot be read.
    #[error("record at byte {at} of the batch: {reason}")]
    BadRecord {
        /// Position of the record in the batch.
        at: u64,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// Record count or offset delta contradict each other.
    #[error("record count {count} does not fit last offset delta {last_offset_delta}")]
    BadCount {
        /// `recordCount`.
        count: i32,
        /// `lastOffsetDelta`.
        last_offset_delta: i32,
    },
}

/// Compression codec named by attribute bits 0–2.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    /// Records stored plain.
    None,
    /// gzip.
    Gzip,
    /// snappy.
    Snappy,
    /// lz4.
    Lz4,
    /// zstd.
    Zstd,
    /// A codec id Kafka does not define (5–7).
    Unknown(u8),
}

impl Compression {
    /// The codec's id in attribute bits 0–2.
    pub fn id(self) -> i16 {
        match self {
            Compression::None => 0,
            Compression::Gzip => 1,
            Compression::Snappy => 2,
            Compression::Lz4 => 3,
            Compression::Zstd => 4,
            Compression::Unknown(id) => i16::from(id),
        }
    }
}

impl std::fmt::Display for Compression {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Compression::None => f.write_str("none"),
            Compression::Gzip => f.write_str("gzip"),
            Compression::Snappy => f.write_str("snappy"),
            Compression::Lz4 => f.write_str("lz4"),
            Compression::Zstd => f.write_str("zstd"),
            Compression::Unknown(id) => write!(f, "codec {id}"),
        }
    }
}

/// The decoded 61-byte header of a batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    /// Offset of the first record.
    pub base_offset: i64,
    /// Bytes after the length field (`size() - 12`).
    pub length: i32,
    /// Leader epoch the batch was written under.
    pub leader_epoch: i32,
    /// CRC-32C stored in the header.
    pub crc: u32,
    /// Attribute bits (compression, timestamp type, transactional, control).
    pub attributes: i16,
    /// Offset of the last record minus the base offset.
    pub last_offset_delta: i32,
    /// Timestamp of the first record.
    pub base_timestamp: i64,
    /// Largest record timestamp.
    pub max_timestamp: i64,
    /// Idempotent producer id, or -1.
    pub producer_id: i64,
    /// Producer epoch, or -1.
    pub producer_epoch: i16,
    /// Sequence of the first record, or -1.
    pub base_sequence: i32,
    /// Number of records.
    pub record_count: i32,
}

impl Header {
    /// Decodes the header at the start of `bytes`, checking the length, the magic and
    /// the offset range but not the CRC (see [`check`]). `bytes` may hold less than the
    /// whole batch. The segment walk and the dump read headers before their CRC is
    /// checked, so nothing derived from one may overflow: the offset range is checked
    /// here, before [`Header::last_offset`] and [`Header::next_offset`] can be asked.
    pub fn parse(bytes: &[u8]) -> Result<Header, BatchError> {
        let have = bytes.len() as u64;
        let Some(head) = bytes.get(..HEADER_LEN) else {
            return Err(BatchError::Truncated {
                need: HEADER_LEN as u64,
                have,
            });
        };
        let length = i32_at(head, LENGTH_AT);
        if length < (HEADER_LEN - LOG_OVERHEAD) as i32 {
            return Err(BatchError::BadLength(length));
        }
        let magic = head[MAGIC_AT] as i8;
        if magic != MAGIC {
            return Err(BatchError::BadMagic(magic));
        }
        let base_offset = i64_at(head, 0);
        let last_offset_delta = i32_at(head, 23);
        if base_offset < 0
            || last_offset_delta < 0
            || base_offset
                .checked_add(i64::from(last_offset_delta) + 1)
                .is_none()
        {
            return Err(BatchError::BadOffsets {
                base_offset,
                last_offset_delta,
            });
        }
        Ok(Header {
            base_offset,
            length,
            leader_epoch: i32_at(head, 12),
            crc: u32::from_be_bytes(head[CRC_AT..CRC_AT + 4].try_into().unwrap_or_default()),
            attributes: i16::from_be_bytes([head[21], head[22]]),
            last_offset_delta,
            base_timestamp: i64_at(head, 27),
            max_timestamp: i64_at(head, 35),
            producer_id: i64_at(head, 43),
            producer_epoch: i16::from_be_bytes([head[51], head[52]]),
            base_sequence: i32_at(head, 53),
            record_count: i32_at(head, 57),
        })
    }

    /// Total bytes of the batch, header included.
    pub fn size(&self) -> u64 {
        LOG_OVERHEAD as u64 + self.length as u64
    }

    /// Offset of the last record. Saturates rather than overflow for a header that
    /// was not parsed (a parsed one has a range that fits).
    pub fn last_offset(&self) -> i64 {
        self.base_offset
            .saturating_add(i64::from(self.last_offset_delta))
    }

    /// Offset the next batch gets (saturating, as [`Header::last_offset`]).
    pub fn next_offset(&self) -> i64 {
        self.last_offset().saturating_add(1)
    }

    /// Codec of the records.
    pub fn compression(&self) -> Compression {
        match self.attributes & 0x7 {
            0 => Compression::None,
            1 => Compression::Gzip,
            2 => Compression::Snappy,
            3 => Compression::Lz4,
            4 => Compression::Zstd,
            id => Compression::Unknown(id as u8),
        }
    }

    /// Whether the batch belongs to a transaction (attribute bit 4).
    pub fn is_transactional(&self) -> bool {
        self.attributes & 0x10 != 0
    }

    /// Whether the batch is a control batch (attribute bit 5).
    pub fn is_control(&self) -> bool {
        self.attributes & 0x20 != 0
    }
}

/// Validates the batch at the start of `bytes` as a producer must send it: header,
/// declared length within `bytes`, CRC-32C, and record count against the offset delta.
/// Returns the header; the batch is `bytes[..header.size()]`.
pub fn check(bytes: &[u8]) -> Result<Header, BatchError> {
    let header = check_stored(bytes)?;
    let count = header.record_count;
    let delta = header.last_offset_delta;
    // Uncompressed records carry consecutive offset deltas, so the count is exact; a
    // compressed batch may have had records removed by compaction, never added.
    let consistent = match header.compression() {
        Compression::None => count >= 1 && i64::from(count) == i64::from(delta) + 1,
        _ => count >= 1,
    };
    if !consistent {
        return Err(BatchError::BadCount {
            count,
            last_offset_delta: delta,
        });
    }
    Ok(header)
}

/// Validates a batch as a store may hold it: as [`check`], except that compaction may
/// have removed records (fewer than the offset range, or none: an empty batch keeps a
/// producer's last sequence or covers offsets whose records were all removed).
pub fn check_stored(bytes: &[u8]) -> Result<Header, BatchError> {
    let header = Header::parse(bytes)?;
    let size = header.size();
    let Some(batch) = bytes.get(..size as usize) else {
        return Err(BatchError::Truncated {
            need: size,
            have: bytes.len() as u64,
        });
    };
    let computed = crc32c::crc32c(&batch[CRC_FROM..]);
    if computed != header.crc {
        return Err(BatchError::Checksum {
            expected: header.crc,
            computed,
        });
    }
    let count = header.record_count;
    let delta = header.last_offset_delta;
    if count < 0 || i64::from(count) > i64::from(delta) + 1 {
        return Err(BatchError::BadCount {
            count,
            last_offset_delta: delta,
        });
    }
    Ok(header)
}

/// Writes `offset` as the batch's base offset. Outside the CRC, so the batch stays valid.
/// `batch` must hold at least the 8-byte offset field.
pub fn set_base_offset(batch: &mut [u8], offset: i64) {
    batch[..8].copy_from_slice(&offset.to_be_bytes());
}

/// The partition leader epoch the stores write: a single node is the only leader there
/// has been, so every batch carries epoch 0. Recovery refuses any other value, which
/// catches damage in the four header bytes the CRC does not cover.
pub const LEADER_EPOCH: i32 = 0;

/// Writes the partition leader epoch, also outside the CRC.
pub fn set_leader_epoch(batch: &mut [u8], epoch: i32) {
    batch[12..16].copy_from_slice(&epoch.to_be_bytes());
}

/// Attribute bit saying the batch's timestamps are the broker's append time.
pub const LOG_APPEND_TIME: i16 = 0x08;

/// Stamps a whole, valid batch with the broker's append time, as a topic with
/// `message.timestamp.type=LogAppendTime` requires: the timestamp-type attribute bit
/// and the largest timestamp are set, and the CRC, which covers both, is computed again.
/// `batch` must be exactly one batch (`header.size()` bytes).
pub fn set_log_append_time(batch: &mut [u8], now_ms: i64) {
    let attributes = i16::from_be_bytes([batch[21], batch[22]]) | LOG_APPEND_TIME;
    batch[21..23].copy_from_slice(&attributes.to_be_bytes());
    batch[35..43].copy_from_slice(&now_ms.to_be_bytes());
    let crc = crc32c::crc32c(&batch[CRC_FROM..]);
    batch[CRC_AT..CRC_AT + 4].copy_from_slice(&crc.to_be_bytes());
}

/// Splits a buffer of consecutive batches (a produce request's record set), validating
/// each with [`check`]. Yields each batch's position in the buffer and its header.
pub fn split(bytes: &[u8]) -> impl Iterator<Item = Result<(usize, Header), (usize, BatchError)>> {
    split_with(bytes, check)
}

/// [`split`] of batches read from a store, validated with [`check_stored`].
pub fn split_stored(
    bytes: &[u8],
) -> impl Iterator<Item = Result<(usize, Header), (usize, BatchError)>> {
    split_with(bytes, check_stored)
}

fn split_with(
    bytes: &[u8],
    check: fn(&[u8]) -> Result<Header, BatchError>,
) -> impl Iterator<Item = Result<(usize, Header), (usize, BatchError)>> {
    let mut at = 0usize;
    let mut failed = false;
    std::iter::from_fn(move || {
        if failed || at >= bytes.len() {
            return None;
        }
        match check(&bytes[at..]) {
            Ok(header) => {
                let pos = at;
                at += header.size() as usize;
                Some(Ok((pos, header)))
            }
            Err(e) => {
                failed = true;
                Some(Err((at, e)))
            }
        }
    })
}

fn i32_at(b: &[u8], at: usize) -> i32 {
    i32::from_be_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

fn i64_at(b: &[u8], at: usize) -> i64 {
    let mut v = [0u8; 8];
    v.copy_from_slice(&b[at..at + 8]);
    i64::from_be_bytes(v)
}

/// One record of an uncompressed batch, as stored: what compaction needs to decide on
/// it, and its bytes, which a rebuilt batch carries unchanged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RawRecord<'a> {
    /// The whole record, its length prefix included.
    pub bytes: &'a [u8],
    /// Offset minus the batch's base offset.
    pub offset_delta: i64,
    /// Timestamp minus the batch's base timestamp.
    pub timestamp_delta: i64,
    /// The key, or `None` for a null key.
    pub key: Option<&'a [u8]>,
    /// The value, or `None` for a null value: a tombstone, when the key is not null.
    pub value: Option<&'a [u8]>,
}

/// The records of the uncompressed batch `batch` (whole, checked), in order.
pub fn raw_records<'a>(batch: &'a [u8], header: &Header) -> Result<Vec<RawRecord<'a>>, BatchError> {
    parse_records(&batch[HEADER_LEN..header.size() as usize], header)
}

/// The records of a batch whose header is `header`, from `body`: the bytes after the
/// header, or what they decompress to. The one parser of Kafka's record format: each
/// record's fields are checked against the record's length, and its offset delta
/// against the batch's range, so that no offset derived from it overflows.
pub fn parse_records<'a>(
    body: &'a [u8],
    header: &Header,
) -> Result<Vec<RawRecord<'a>>, BatchError> {
    let mut out = Vec::new();
    let (mut at, mut last_delta) = (0usize, -1i64);
    for _ in 0..header.record_count {
        out.push(parse_record(body, &mut at, header, &mut last_delta)?);
    }
    Ok(out)
}

/// The record at `*at` of `body` (its length prefix first), moving `*at` past it.
/// `last_delta` is the offset delta of the record before (-1 for the first): offsets
/// rise within a batch and stay inside its range (compaction may leave gaps, never
/// disorder). For a reader that takes records one at a time from a stream.
pub fn parse_record<'a>(
    body: &'a [u8],
    at: &mut usize,
    header: &Header,
    last_delta: &mut i64,
) -> Result<RawRecord<'a>, BatchError> {
    let bad = |at: usize, reason: &'static str| BatchError::BadRecord {
        at: at as u64,
        reason,
    };
    let start = *at;
    let len = read_varlong(body, at).ok_or(bad(start, "bad length"))?;
    let end = usize::try_from(len)
        .ok()
        .and_then(|n| at.checked_add(n))
        .filter(|&end| end <= body.len())
        .ok_or(bad(start, "length runs past the batch"))?;
    let rec = &body[..end];
    let mut r = *at + 1; // attributes
    if r > end {
        return Err(bad(start, "record shorter than its attributes"));
    }
    let timestamp_delta = read_varlong(rec, &mut r).ok_or(bad(start, "bad timestamp delta"))?;
    let offset_delta = read_varlong(rec, &mut r).ok_or(bad(start, "bad offset delta"))?;
    if offset_delta <= *last_delta || offset_delta > i64::from(header.last_offset_delta) {
        return Err(bad(start, "offset delta outside the batch's range"));
    }
    *last_delta = offset_delta;
    let mut field = |what: &'static str| -> Result<Option<&'a [u8]>, BatchError> {
        match read_varlong(rec, &mut r).ok_or(bad(start, what))? {
            -1 => Ok(None),
            n => {
                let field_end = usize::try_from(n)
                    .ok()
                    .and_then(|n| r.checked_add(n))
                    .filter(|&e| e <= end)
                    .ok_or(bad(start, what))?;
                let bytes = &rec[r..field_end];
                r = field_end;
                Ok(Some(bytes))
            }
        }
    };
    let key = field("bad key length")?;
    let value = field("bad value length")?;
    *at = end;
    Ok(RawRecord {
        bytes: &body[start..end],
        offset_delta,
        timestamp_delta,
        key,
        value,
    })
}

/// Reads a zigzag varint at `*at` of `bytes`, moving `*at` past it; `None` if it is
/// cut short or longer than ten bytes.
pub fn read_varlong(bytes: &[u8], at: &mut usize) -> Option<i64> {
    let mut z = 0u64;
    for shift in (0..70).step_by(7) {
        let b = *bytes.get(*at)?;
        *at += 1;
        z |= u64::from(b & 0x7f) << shift;
        if b & 0x80 == 0 {
            return Some((z >> 1) as i64 ^ -((z & 1) as i64));
        }
    }
    None
}

/// The batch `batch` (whole, checked) with only `records` (its own, in order, or all of
/// them for a compressed batch when `None`) and its offset range ending at
/// `base_offset + last_offset_delta`: header fields otherwise kept, length, count and
/// CRC set anew. What compaction writes in place of a batch.
pub fn rebuild(batch: &[u8], records: Option<&[RawRecord<'_>]>, last_offset_delta: i32) -> Vec<u8> {
    let mut out = batch[..HEADER_LEN].to_vec();
    match records {
        Some(records) => {
            for r in records {
                out.extend_from_slice(r.bytes);
            }
            out[57..61].copy_from_slice(&(records.len() as i32).to_be_bytes());
        }
        None => out.extend_from_slice(&batch[HEADER_LEN..]),
    }
    let length = (out.len() - LOG_OVERHEAD) as i32;
    out[LENGTH_AT..LENGTH_AT + 4].copy_from_slice(&length.to_be_bytes());
    set_last_offset_delta(&mut out, last_offset_delta);
    out
}

/// The batch `batch` (whole, checked) with its records replaced by `body`, encoded with
/// `codec`: the compression bits, the length and the CRC set anew, every other header
/// field kept. What a broker writes when a topic's `compression.type` asks it to
/// compress batches again.
pub fn with_body(batch: &[u8], body: &[u8], codec: Compression) -> Vec<u8> {
    let mut out = Vec::with_capacity(HEADER_LEN + body.len());
    out.extend_from_slice(&batch[..HEADER_LEN]);
    out.extend_from_slice(body);
    let length = (out.len() - LOG_OVERHEAD) as i32;
    out[LENGTH_AT..LENGTH_AT + 4].copy_from_slice(&length.to_be_bytes());
    let attributes =
        (i16::from_be_bytes([out[ATTRIBUTES_AT], out[ATTRIBUTES_AT + 1]]) & !0x7) | codec.id();
    out[ATTRIBUTES_AT..ATTRIBUTES_AT + 2].copy_from_slice(&attributes.to_be_bytes());
    let crc = crc32c::crc32c(&out[CRC_FROM..]);
    out[CRC_AT..CRC_AT + 4].copy_from_slice(&crc.to_be_bytes());
    out
}

/// Sets the batch's last offset delta and computes its CRC again. `batch` must be
/// exactly one whole batch.
pub fn set_last_offset_delta(batch: &mut [u8], last_offset_delta: i32) {
    batch[23..27].copy_from_slice(&last_offset_delta.to_be_bytes());
    let crc = crc32c::crc32c(&batch[CRC_FROM..]);
    batch[CRC_AT..CRC_AT + 4].copy_from_slice(&crc.to_be_bytes());
}

/// A batch of no records covering `base_offset..=base_offset + last_offset_delta`, with
/// timestamp `timestamp`: what compaction leaves where every record of a range was
/// removed, so that offsets still run on from batch to batch.
pub fn empty(base_offset: i64, last_offset_delta: i32, timestamp: i64) -> Vec<u8> {
    let mut b = Builder::new(timestamp).finish_empty();
    set_base_offset(&mut b, base_offset);
    set_leader_epoch(&mut b, LEADER_EPOCH);
    set_last_offset_delta(&mut b, last_offset_delta);
    b
}

/// Builds uncompressed v2 batches, for tests, benchmarks and the broker's own clients.
#[derive(Debug, Clone)]
pub struct Builder {
    base_timestamp: i64,
    producer: (i64, i16, i32),
    max_timestamp: i64,
    count: i32,
    records: Vec<u8>,
}

impl Builder {
    /// An empty batch whose first record has `base_timestamp` (ms since the epoch).
    pub fn new(base_timestamp: i64) -> Builder {
        Builder {
            base_timestamp,
            producer: (-1, -1, -1),
            max_timestamp: base_timestamp,
            count: 0,
            records: Vec::new(),
        }
    }

    /// Marks the batch as an idempotent producer's: its ID, epoch and the sequence
    /// number of the first record.
    pub fn producer(&mut self, id: i64, epoch: i16, base_sequence: i32) -> &mut Self {
        self.producer = (id, epoch, base_sequence);
        self
    }

    /// Appends a record with the given timestamp, key and value.
    pub fn push(&mut self, timestamp: i64, key: Option<&[u8]>, value: Option<&[u8]>) -> &mut Self {
        let mut body =
            Vec::with_capacity(16 + key.map_or(0, <[u8]>::len) + value.map_or(0, <[u8]>::len));
        body.push(0); // attributes
        put_varlong(&mut body, timestamp - self.base_timestamp);
        put_varlong(&mut body, i64::from(self.count));
        for field in [key, value] {
            match field {
                Some(b) => {
                    put_varlong(&mut body, b.len() as i64);
                    body.extend_from_slice(b);
                }
                None => put_varlong(&mut body, -1),
            }
        }
        put_varlong(&mut body, 0); // headers
        put_varlong(&mut self.records, body.len() as i64);
        self.records.extend_from_slice(&body);
        self.count += 1;
        self.max_timestamp = self.max_timestamp.max(timestamp);
        self
    }

    /// Records pushed so far.
    pub fn len(&self) -> usize {
        self.count as usize
    }

    /// Whether no record was pushed.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// Size of the batch [`Builder::finish`] would return.
    pub fn size(&self) -> usize {
        HEADER_LEN + self.records.len()
    }

    /// The encoded batch, base offset 0, CRC set. At least one record must be pushed.
    pub fn finish(&self) -> Vec<u8> {
        debug_assert!(self.count > 0, "a produced batch holds a record");
        self.finish_empty()
    }

    /// [`Builder::finish`], allowing no records (a header alone, as compaction leaves).
    fn finish_empty(&self) -> Vec<u8> {
        let mut b = Vec::with_capacity(self.size());
        b.extend_from_slice(&0i64.to_be_bytes());
        b.extend_from_slice(&((self.size() - LOG_OVERHEAD) as i32).to_be_bytes());
        b.extend_from_slice(&(-1i32).to_be_bytes()); // leader epoch
        b.push(MAGIC as u8);
        b.extend_from_slice(&[0; 4]); // crc, below
        b.extend_from_slice(&0i16.to_be_bytes()); // attributes: no compression, create time
        b.extend_from_slice(&(self.count - 1).max(0).to_be_bytes());
        b.extend_from_slice(&self.base_timestamp.to_be_bytes());
        b.extend_from_slice(&self.max_timestamp.to_be_bytes());
        b.extend_from_slice(&self.producer.0.to_be_bytes());
        b.extend_from_slice(&self.producer.1.to_be_bytes());
        b.extend_from_slice(&self.producer.2.to_be_bytes());
        b.extend_from_slice(&self.count.to_be_bytes());
        b.extend_from_slice(&self.records);
        let crc = crc32c::crc32c(&b[CRC_FROM..]);
        b[CRC_AT..CRC_AT + 4].copy_from_slice(&crc.to_be_bytes());
        b
    }
}

/// Zigzag varint, as Kafka encodes record fields.
fn put_varlong(out: &mut Vec<u8>, v: i64) {
    let mut z = ((v << 1) ^ (v >> 63)) as u64;
    while z >= 0x80 {
        out.push((z as u8) | 0x80);
        z >>= 7;
    }
    out.push(z as u8);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn batch(records: usize, value_len: usize) -> Vec<u8> {
        let mut b = Builder::new(1_700_000_000_000);
        for i in 0..records {
            b.push(
                1_700_000_000_000 + i as i64,
                Some(b"k"),
                Some(&vec![b'v'; value_len]),
            );
        }
        b.finish()
    }

    #[test]
    fn a_built_batch_checks_and_round_trips_its_header() {
        let b = batch(3, 10);
        let h = check(&b).unwrap();
        assert_eq!(h.size() as usize, b.len());
        assert_eq!(
            (h.base_offset, h.last_offset_delta, h.record_count),
            (0, 2, 3)
        );
        assert_eq!(h.max_timestamp, 1_700_000_000_002);
        assert_eq!(h.compression(), Compression::None);
    }

    #[test]
    fn the_known_crc32c_check_value_holds() {
        // The CRC-32C of "123456789" is 0xE3069283 (RFC 3720, appendix B.4).
        assert_eq!(crc32c::crc32c(b"123456789"), 0xE306_9283);
    }

    #[test]
    fn setting_the_base_offset_keeps_the_crc_valid() {
        let mut b = batch(2, 5);
        set_base_offset(&mut b, 1234);
        let h = check(&b).unwrap();
        assert_eq!((h.base_offset, h.last_offset()), (1234, 1235));
    }

    #[test]
    fn every_flipped_bit_after_the_length_is_caught() {
        let b = batch(2, 7);
        for bit in (LOG_OVERHEAD * 8)..(b.len() * 8) {
            let mut bad = b.clone();
            bad[bit / 8] ^= 1 << (bit % 8);
            // Bytes 12..16 (leader epoch) are outside the CRC, as in Kafka.
            if (12..16).contains(&(bit / 8)) {
                continue;
            }
            assert!(check(&bad).is_err(), "flipped bit {bit} was not caught");
        }
    }

    #[test]
    fn short_and_malformed_input_is_refused_without_panicking() {
        let b = batch(1, 3);
        for len in 0..b.len() {
            assert!(check(&b[..len]).is_err(), "{len} bytes accepted");
        }
        let mut bad = b.clone();
        bad[8..12].copy_from_slice(&(-5i32).to_be_bytes());
        assert_eq!(check(&bad), Err(BatchError::BadLength(-5)));
        let mut bad = b.clone();
        bad[8..12].copy_from_slice(&i32::MAX.to_be_bytes());
        assert!(matches!(check(&bad), Err(BatchError::Truncated { .. })));
        let mut bad = b;
        bad[MAGIC_AT] = 1;
        assert_eq!(check(&bad), Err(BatchError::BadMagic(1)));
    }

    #[test]
    fn a_header_whose_offsets_overflow_is_an_error_not_a_panic() {
        // Regression: the segment walk and the dump compute last and next offsets from
        // headers whose CRC is not yet checked; i64::MAX there overflowed.
        for (base, delta) in [(i64::MAX, 0i32), (i64::MAX - 5, 5), (-1, 0), (0, -1)] {
            let mut b = batch(1, 4);
            set_base_offset(&mut b, base);
            b[23..27].copy_from_slice(&delta.to_be_bytes());
            assert_eq!(
                Header::parse(&b),
                Err(BatchError::BadOffsets {
                    base_offset: base,
                    last_offset_delta: delta
                })
            );
            assert!(check(&b).is_err());
        }
        let mut b = batch(1, 4);
        set_base_offset(&mut b, i64::MAX - 1);
        assert_eq!(Header::parse(&b).unwrap().next_offset(), i64::MAX);
        let mut unparsed = Header::parse(&batch(1, 4)).unwrap();
        unparsed.base_offset = i64::MAX;
        assert_eq!(unparsed.next_offset(), i64::MAX);
    }

    #[test]
    fn split_walks_consecutive_batches_and_stops_at_the_first_bad_one() {
        let mut buf = batch(1, 1);
        let second = buf.len();
        buf.extend(batch(4, 2));
        let third = buf.len();
        buf.extend_from_slice(&[0; 20]);
        let got: Vec<_> = split(&buf).collect();
        assert_eq!(got.len(), 3);
        assert_eq!(got[0].as_ref().unwrap().0, 0);
        assert_eq!(got[1].as_ref().unwrap().0, second);
        assert_eq!(got[2].as_ref().unwrap_err().0, third);
    }

    #[test]
    fn log_append_time_keeps_the_batch_valid() {
        let mut b = Builder::new(1000);
        b.push(1000, None, Some(b"v"));
        let mut batch = b.finish();
        set_log_append_time(&mut batch, 5000);
        let h = check(&batch).unwrap();
        assert_eq!(h.max_timestamp, 5000);
        assert_eq!(h.attributes & LOG_APPEND_TIME, LOG_APPEND_TIME);
        assert_eq!(h.base_timestamp, 1000);
    }
}
