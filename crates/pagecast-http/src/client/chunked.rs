//! `Transfer-Encoding: chunked` bodies (RFC 9112 §7.1), decoded in user space: a
//! server that chunks its body cannot be spliced into the file.

use std::io::{self, BufRead, Read};

/// Longest chunk-size line, extensions included.
pub const MAX_CHUNK_LINE: u64 = 4096;

/// Decodes a chunked body from `reader`, handing each piece of data to `sink` in
/// order, up to and including the last (zero-size) chunk. Returns the data bytes.
/// Trailer fields after the last chunk are not read: the client closes the
/// connection after the body.
pub fn decode(
    mut reader: impl BufRead,
    mut sink: impl FnMut(&[u8]) -> io::Result<()>,
) -> io::Result<u64> {
    let invalid = |what: &str| io::Error::new(io::ErrorKind::InvalidData, what.to_string());
    let mut total = 0u64;
    let mut line = Vec::new();
    loop {
        line.clear();
        (&mut reader)
            .take(MAX_CHUNK_LINE)
            .read_until(b'\n', &mut line)?;
        if line.last() != Some(&b'\n') {
            return Err(if line.len() as u64 == MAX_CHUNK_LINE {
                invalid("chunk-size line too long")
            } else {
                io::ErrorKind::UnexpectedEof.into()
            });
        }
        let mut size = chunk_size(&line).ok_or_else(|| invalid("bad chunk size"))?;
        if size == 0 {
            return Ok(total);
        }
        total = total
            .checked_add(size)
            .ok_or_else(|| invalid("chunked body longer than 2^64 bytes"))?;
        while size > 0 {
            let available = reader.fill_buf()?;
            if available.is_empty() {
                return Err(io::ErrorKind::UnexpectedEof.into());
            }
            let n = available
                .len()
                .min(usize::try_from(size).unwrap_or(usize::MAX));
            sink(&available[..n])?;
            reader.consume(n);
            size -= n as u64;
        }
        let mut crlf = [0u8; 2];
        reader.read_exact(&mut crlf)?;
        if &crlf != b"\r\n" {
            return Err(invalid("chunk not followed by CRLF"));
        }
    }
}

/// The hexadecimal size at the start of a chunk-size line, before any `;extension`.
fn chunk_size(line: &[u8]) -> Option<u64> {
    let line = line.strip_suffix(b"\n")?;
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    let size = line.split(|&b| b == b';').next()?;
    let size = size.trim_ascii();
    if size.is_empty() || size.len() > 16 || !size.iter().all(u8::is_ascii_hexdigit) {
        return None;
    }
    u64::from_str_radix(std::str::from_utf8(size).ok()?, 16).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decoded(body: &[u8]) -> io::Result<Vec<u8>> {
        let mut out = Vec::new();
        decode(body, |piece| {
            out.extend_from_slice(piece);
            Ok(())
        })
        .map(|n| {
            assert_eq!(n, out.len() as u64);
            out
        })
    }

    #[test]
    fn chunks_with_extensions_decode_in_order() {
        let body = b"5;name=v\r\nhello\r\n1\r\n \r\nA \r\n0123456789\r\n0\r\nTrailer: x\r\n\r\n";
        assert_eq!(decoded(body).unwrap(), b"hello 0123456789");
    }

    #[test]
    fn malformed_and_truncated_bodies_are_errors() {
        for body in [
            &b"5\r\nhel"[..],
            b"5\r\nhelloXX0\r\n\r\n",
            b"+5\r\nhello\r\n0\r\n\r\n",
            b"g\r\n",
            b"\r\n",
            b"5",
            b"11111111111111111\r\n",
            b"ffffffffffffffff\r\nab",
        ] {
            assert!(
                decoded(body).is_err(),
                "{:?}",
                String::from_utf8_lossy(body)
            );
        }
        let long = [&b"1;"[..], &[b'x'; 5000]].concat();
        let err = decoded(&long).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidData);
    }
}
