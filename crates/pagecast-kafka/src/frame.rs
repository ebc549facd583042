//! Framing: the 4-byte size prefix, and the request and response headers.
//!
//! The size prefix is checked before the frame is read: negative or above
//! [`MAX_FRAME`] (Kafka's `socket.request.max.bytes`, 100 MiB) closes the connection
//! with nothing allocated. Request header v1 (key, version, correlation ID, client ID)
//! is followed by a tagged-field section in header v2, which flexible versions use;
//! response header v0 is the correlation ID, and v1 adds a tagged-field section.

use crate::codec::{DecodeError, Reader, Result};

/// Largest request frame accepted: Kafka's `socket.request.max.bytes`, 100 MiB.
pub const MAX_FRAME: usize = 100 << 20;

/// Bytes of the size prefix.
pub const SIZE_PREFIX: usize = 4;

/// Why a frame's size prefix is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("request size {0} is outside 0..={MAX_FRAME} (socket.request.max.bytes)")]
pub struct BadFrameSize(pub i32);

/// The frame length a size prefix announces, if acceptable.
pub fn frame_len(prefix: [u8; SIZE_PREFIX]) -> Result<usize, BadFrameSize> {
    let n = i32::from_be_bytes(prefix);
    match usize::try_from(n) {
        Ok(len) if len <= MAX_FRAME => Ok(len),
        _ => Err(BadFrameSize(n)),
    }
}

/// The part of a request header every version has.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestHeader {
    /// API key.
    pub api_key: i16,
    /// API version.
    pub api_version: i16,
    /// Echoed in the response.
    pub correlation_id: i32,
    /// The client's ID.
    pub client_id: Option<String>,
}

impl RequestHeader {
    /// Bytes of the fixed part (key, version, correlation ID).
    pub const FIXED: usize = 8;

    /// Reads the fixed part: enough to answer even a request the broker cannot parse.
    pub fn decode_fixed(r: &mut Reader<'_>) -> Result<(i16, i16, i32)> {
        Ok((
            i16::from_be_bytes(r.array()?),
            i16::from_be_bytes(r.array()?),
            i32::from_be_bytes(r.array()?),
        ))
    }

    /// Reads a whole header; `flexible` selects header v2. The client ID is a
    /// non-compact nullable string in both header versions.
    pub fn decode(r: &mut Reader<'_>, flexible: bool) -> Result<RequestHeader> {
        let (api_key, api_version, correlation_id) = RequestHeader::decode_fixed(r)?;
        let client_id = r.string(false)?.map(str::to_owned);
        if flexible {
            r.tagged_fields(|_, _| Ok(false))?;
        }
        Ok(RequestHeader {
            api_key,
            api_version,
            correlation_id,
            client_id,
        })
    }

    /// Appends the header (v1, or v2 when `flexible`).
    pub fn encode(&self, out: &mut Vec<u8>, flexible: bool) {
        out.extend_from_slice(&self.api_key.to_be_bytes());
        out.extend_from_slice(&self.api_version.to_be_bytes());
        out.extend_from_slice(&self.correlation_id.to_be_bytes());
        match &self.client_id {
            Some(id) => {
                let len = id.len().min(i16::MAX as usize);
                out.extend_from_slice(&(len as i16).to_be_bytes());
                out.extend_from_slice(&id.as_bytes()[..len]);
            }
            None => out.extend_from_slice(&(-1i16).to_be_bytes()),
        }
        if flexible {
            out.push(0);
        }
    }
}

/// Starts a response frame: a size placeholder and the header (v1 adds an empty
/// tagged-field section). [`finish_response`] fills in the size.
pub fn start_response(correlation_id: i32, header_v1: bool) -> Vec<u8> {
    let mut out = Vec::with_capacity(256);
    out.extend_from_slice(&[0; SIZE_PREFIX]);
    out.extend_from_slice(&correlation_id.to_be_bytes());
    if header_v1 {
        out.push(0);
    }
    out
}

/// Writes the size prefix of a frame started with [`start_response`], for a body
/// that continues for `more` bytes after `frame` (record data sent separately).
pub fn finish_response(frame: &mut [u8], more: u64) {
    let size = (frame.len() - SIZE_PREFIX) as u64 + more;
    let size = i32::try_from(size).unwrap_or(i32::MAX);
    frame[..SIZE_PREFIX].copy_from_slice(&size.to_be_bytes());
}

/// Splits a response frame (without its size prefix) into correlation ID and body.
pub fn split_response(frame: &[u8], header_v1: bool) -> Result<(i32, &[u8])> {
    let mut r = Reader::new(frame);
    let correlation_id = i32::from_be_bytes(r.array()?);
    if header_v1 {
        r.tagged_fields(|_, _| Ok(false))?;
    }
    let at = r.position();
    frame
        .get(at..)
        .map(|body| (correlation_id, body))
        .ok_or(DecodeError::Truncated { at, need: 0 })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn size_prefix_limits() {
        assert_eq!(frame_len(0i32.to_be_bytes()), Ok(0));
        assert_eq!(frame_len((MAX_FRAME as i32).to_be_bytes()), Ok(MAX_FRAME));
        assert!(frame_len((MAX_FRAME as i32 + 1).to_be_bytes()).is_err());
        assert!(frame_len((-1i32).to_be_bytes()).is_err());
        assert!(frame_len(i32::MIN.to_be_bytes()).is_err());
    }

    #[test]
    fn header_round_trip() {
        for flexible in [false, true] {
            let h = RequestHeader {
                api_key: 3,
                api_version: 12,
                correlation_id: 7,
                client_id: Some("rdkafka".into()),
            };
            let mut out = Vec::new();
            h.encode(&mut out, flexible);
            let mut r = Reader::new(&out);
            assert_eq!(RequestHeader::decode(&mut r, flexible).unwrap(), h);
            r.finish().unwrap();
        }
    }
}
