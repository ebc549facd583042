//! An entry of the commit log: a small header naming the partition, then one record
//! batch exactly as stored by the segment engine. The header has its own CRC-32C, which
//! also covers the batch's first 21 bytes (offset, length, leader epoch, magic and the
//! batch CRC), so every byte of an entry is checked by one CRC or the other.
//!
//! ```text
//! 0  magic u32 "PCLE"       4  entry length u32 (header + batch)
//! 8  header CRC-32C u32     12 partition i32     16 topic length u16
//! 18 topic bytes            18 + n: the record batch
//! ```
//!
//! A file's unused tail after its last entry starts with the blank magic "PCLB" when at
//! least 4 bytes remain; bytes that were never written are zero. Integers are
//! big-endian.

use crate::TopicPartition;
use crate::batch::{self, Header};

/// Magic of an entry.
pub const ENTRY_MAGIC: u32 = u32::from_be_bytes(*b"PCLE");
/// Magic of the blank space that ends a file before its last byte.
pub const BLANK_MAGIC: u32 = u32::from_be_bytes(*b"PCLB");
/// Bytes of the entry header before the topic name.
pub const FIXED_HEADER: usize = 18;
/// The longest entry header: topic names are at most 249 bytes.
pub const MAX_ENTRY_HEAD: usize = FIXED_HEADER + 249;
/// Bytes of the batch header the entry CRC covers.
const BATCH_PREFIX: usize = 21;

/// Size of the header written before a batch of `tp`.
pub fn header_len(tp: &TopicPartition) -> usize {
    FIXED_HEADER + tp.topic.len()
}

/// Encodes the header of an entry holding `batch` (whose base offset is already set).
pub fn encode_header(tp: &TopicPartition, batch: &[u8]) -> Vec<u8> {
    let len = header_len(tp);
    let mut h = Vec::with_capacity(len);
    h.extend_from_slice(&ENTRY_MAGIC.to_be_bytes());
    h.extend_from_slice(&((len + batch.len()) as u32).to_be_bytes());
    h.extend_from_slice(&[0; 4]);
    h.extend_from_slice(&tp.partition.to_be_bytes());
    h.extend_from_slice(&(tp.topic.len() as u16).to_be_bytes());
    h.extend_from_slice(tp.topic.as_bytes());
    let crc = header_crc(&h, batch);
    h[8..12].copy_from_slice(&crc.to_be_bytes());
    h
}

fn header_crc(header: &[u8], batch: &[u8]) -> u32 {
    let crc = crc32c::crc32c(&header[12..]);
    crc32c::crc32c_append(crc, &batch[..BATCH_PREFIX.min(batch.len())])
}

/// The length an entry header at the start of `bytes` declares, unchecked: enough to
/// know how much to read before [`decode`] checks it.
pub fn declared_length(bytes: &[u8]) -> Option<usize> {
    let head = bytes.get(..8)?;
    (head[..4] == ENTRY_MAGIC.to_be_bytes())
        .then(|| u32::from_be_bytes([head[4], head[5], head[6], head[7]]) as usize)
}

/// What is at a position of a commit-log file.
#[derive(Debug, PartialEq, Eq)]
pub enum Found {
    /// A valid entry: its partition, the batch's position within the entry, and the batch
    /// header. The entry is `length` bytes long.
    Entry {
        /// The partition the batch belongs to.
        tp: TopicPartition,
        /// Bytes of entry header before the batch.
        batch_at: usize,
        /// The whole entry's length.
        length: usize,
        /// The batch's header.
        header: Header,
    },
    /// The blank tail of a file: the next entry is in the next file.
    Blank,
    /// Bytes never written: the end of the log.
    End,
}

/// Decodes the entry at the start of `bytes` (the rest of the file). With `full`, the
/// batch's own CRC is checked too; without, only the entry header and its CRC (which
/// covers the batch's offset and length), for a fast walk over data already checked.
pub fn decode(bytes: &[u8], full: bool) -> Result<Found, String> {
    if bytes.len() < 4 {
        // Too short even for a blank marker: the file ends here.
        return Ok(Found::Blank);
    }
    let magic = u32::from_be_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]);
    match magic {
        0 => return Ok(Found::End),
        BLANK_MAGIC => return Ok(Found::Blank),
        ENTRY_MAGIC => {}
        other => return Err(format!("entry magic is {other:#010x}, not \"PCLE\"")),
    }
    let Some(fixed) = bytes.get(..FIXED_HEADER) else {
        return Err("entry header runs past the end of the file".into());
    };
    let length = u32::from_be_bytes([fixed[4], fixed[5], fixed[6], fixed[7]]) as usize;
    let stored_crc = u32::from_be_bytes([fixed[8], fixed[9], fixed[10], fixed[11]]);
    let partition = i32::from_be_bytes([fixed[12], fixed[13], fixed[14], fixed[15]]);
    let topic_len = u16::from_be_bytes([fixed[16], fixed[17]]) as usize;
    let batch_at = FIXED_HEADER + topic_len;
    if length < batch_at + batch::HEADER_LEN || length > bytes.len() {
        return Err(format!(
            "entry length {length} does not fit (header {batch_at}, file has {} bytes left)",
            bytes.len()
        ));
    }
    let entry = &bytes[..length];
    let computed = header_crc(&entry[..batch_at], &entry[batch_at..]);
    if computed != stored_crc {
        return Err(format!(
            "entry header CRC-32C is {stored_crc:#010x}, bytes give {computed:#010x}"
        ));
    }
    let topic = std::str::from_utf8(&entry[FIXED_HEADER..batch_at])
        .map_err(|_| "topic name is not UTF-8".to_string())?;
    let tp = TopicPartition::new(topic, partition);
    tp.validate().map_err(|e| e.to_string())?;
    let batch = &entry[batch_at..];
    let header = if full {
        batch::check(batch)
    } else {
        Header::parse(batch)
    }
    .map_err(|e| e.to_string())?;
    if header.size() as usize != batch.len() {
        return Err(format!(
            "batch of {} bytes in an entry with room for {}",
            header.size(),
            batch.len()
        ));
    }
    Ok(Found::Entry {
        tp,
        batch_at,
        length,
        header,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry() -> (TopicPartition, Vec<u8>) {
        let tp = TopicPartition::new("orders", 3);
        let mut b = batch::Builder::new(5);
        b.push(5, None, Some(b"value"));
        let batch = b.finish();
        let mut e = encode_header(&tp, &batch);
        e.extend_from_slice(&batch);
        (tp, e)
    }

    #[test]
    fn an_entry_round_trips() {
        let (tp, e) = entry();
        let mut file = e.clone();
        file.extend_from_slice(&[0; 100]);
        match decode(&file, true).unwrap() {
            Found::Entry {
                tp: got,
                batch_at,
                length,
                header,
            } => {
                assert_eq!(
                    (got, batch_at, length),
                    (tp.clone(), header_len(&tp), e.len())
                );
                assert_eq!(header.record_count, 1);
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(decode(&file[e.len()..], true), Ok(Found::End));
        assert_eq!(decode(&BLANK_MAGIC.to_be_bytes(), true), Ok(Found::Blank));
    }

    #[test]
    fn every_flipped_bit_is_caught() {
        let (_, e) = entry();
        for bit in 0..e.len() * 8 {
            let mut bad = e.clone();
            bad[bit / 8] ^= 1 << (bit % 8);
            if let Ok(found) = decode(&bad, true) {
                // Turning the magic into zeros or the blank magic reads as an end.
                assert!(
                    bit < 32 && found != decode(&e, true).unwrap(),
                    "bit {bit} not caught: {found:?}"
                );
            }
        }
    }
}
