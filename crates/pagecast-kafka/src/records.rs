//! Records inside an uncompressed v2 batch: what the broker reads of its own internal
//! logs, and what ListOffsets looks at to answer a timestamp exactly.

use pagecast_log::batch::{self, Compression, HEADER_LEN, Header};

use crate::codec::{DecodeError, Reader};

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
    /// The records are compressed with a codec not read here.
    #[error("records compressed with {0:?}")]
    Compressed(Compression),
    /// A record is malformed.
    #[error("malformed record: {0}")]
    Malformed(#[from] DecodeError),
}

/// The records of the batch at the start of `bytes` (checked whole, CRC included).
pub fn records(bytes: &[u8]) -> Result<(Header, Vec<Record<'_>>), RecordsError> {
    let header = batch::check(bytes)?;
    if header.compression() != Compression::None {
        return Err(RecordsError::Compressed(header.compression()));
    }
    let body = &bytes[HEADER_LEN..header.size() as usize];
    let mut r = Reader::new(body);
    let mut out = Vec::new();
    for _ in 0..header.record_count {
        let len = r.varint()?;
        let at = r.position();
        let len = usize::try_from(len)
            .ok()
            .filter(|&n| n <= r.remaining())
            .ok_or(DecodeError::BadLength {
                at,
                len,
                left: r.remaining(),
            })?;
        let mut rec = Reader::new(r.take(len)?);
        let _attributes = rec.array::<1>()?;
        let timestamp = header.base_timestamp.wrapping_add(rec.varlong()?);
        let offset = header.base_offset.wrapping_add(rec.varint()?);
        let key = nullable(&mut rec)?;
        let value = nullable(&mut rec)?;
        out.push(Record {
            offset,
            timestamp,
            key,
            value,
        });
    }
    Ok((header, out))
}

fn nullable<'a>(r: &mut Reader<'a>) -> Result<Option<&'a [u8]>, DecodeError> {
    let at = r.position();
    match r.varint()? {
        -1 => Ok(None),
        n => match usize::try_from(n) {
            Ok(n) => r.take(n).map(Some),
            Err(_) => Err(DecodeError::BadLength {
                at,
                len: n,
                left: r.remaining(),
            }),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
