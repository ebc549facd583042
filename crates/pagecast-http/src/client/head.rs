//! Response heads as a client reads them (RFC 9112 §4), parsed by `httparse`, and the
//! header values whose numbers a download depends on. Everything here comes from the
//! server, so every number is parsed and combined with checked arithmetic.

/// Longest response head accepted.
pub const MAX_RESPONSE_HEAD: usize = 64 * 1024;
/// Most header fields in a response head.
pub const MAX_RESPONSE_HEADERS: usize = 100;

/// A parsed response head.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResponseHead {
    pub status: u16,
    pub reason: String,
    /// Header fields in order, names as sent, values without surrounding whitespace.
    pub headers: Vec<(String, String)>,
}

impl ResponseHead {
    /// Parses a response head from the start of `buf`: `None` until it is complete,
    /// and then the head with its length in bytes. Refuses a head over
    /// [`MAX_RESPONSE_HEAD`] bytes or [`MAX_RESPONSE_HEADERS`] fields.
    pub fn parse(buf: &[u8]) -> Result<Option<(ResponseHead, usize)>, String> {
        let mut fields = [httparse::EMPTY_HEADER; MAX_RESPONSE_HEADERS];
        let mut response = httparse::Response::new(&mut fields);
        let end = match response.parse(buf) {
            Ok(httparse::Status::Complete(end)) => end,
            Ok(httparse::Status::Partial) if buf.len() > MAX_RESPONSE_HEAD => {
                return Err(format!("response head over {MAX_RESPONSE_HEAD} bytes"));
            }
            Ok(httparse::Status::Partial) => return Ok(None),
            Err(e) => return Err(format!("bad response head: {e}")),
        };
        if end > MAX_RESPONSE_HEAD {
            return Err(format!("response head over {MAX_RESPONSE_HEAD} bytes"));
        }
        let text = |bytes: &[u8]| String::from_utf8_lossy(bytes).trim().to_string();
        let head = ResponseHead {
            status: response.code.unwrap_or(0),
            reason: response.reason.unwrap_or("").to_string(),
            headers: response
                .headers
                .iter()
                .map(|h| (h.name.to_string(), text(h.value)))
                .collect(),
        };
        Ok(Some((head, end)))
    }

    /// The value of the first field named `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The Content-Length, if any; an error if it is not a number.
    pub fn content_length(&self) -> Result<Option<u64>, String> {
        self.header("content-length")
            .map(|v| v.parse().map_err(|_| format!("bad Content-Length {v:?}")))
            .transpose()
    }
}

/// A satisfied `Content-Range: bytes FIRST-LAST/TOTAL` (RFC 9110 §14.4).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ContentRange {
    /// Offset of the first byte sent.
    pub first: u64,
    /// Bytes sent: LAST - FIRST + 1. LAST + 1 fits in a u64, so [`Self::end`] does.
    pub len: u64,
    /// The whole representation's length; `None` for `*`.
    pub total: Option<u64>,
}

impl ContentRange {
    /// Parses the value; `None` unless it is well formed, FIRST <= LAST, LAST + 1
    /// fits in a u64, and LAST is inside TOTAL when TOTAL is known.
    pub fn parse(value: &str) -> Option<ContentRange> {
        let (range, total) = value.strip_prefix("bytes ")?.split_once('/')?;
        let (first, last) = range.split_once('-')?;
        let first: u64 = digits(first)?;
        let last: u64 = digits(last)?;
        if first > last {
            return None;
        }
        let len = last.checked_add(1)? - first;
        let total = match total {
            "*" => None,
            t => {
                let t = digits(t)?;
                if last >= t {
                    return None;
                }
                Some(t)
            }
        };
        Some(ContentRange { first, len, total })
    }

    /// The offset after the last byte sent.
    pub fn end(&self) -> u64 {
        self.first + self.len
    }
}

/// The complete length in `Content-Range: bytes */TOTAL` (an unsatisfied range).
pub fn unsatisfied_total(value: &str) -> Option<u64> {
    digits(value.strip_prefix("bytes */")?)
}

/// A decimal number of ASCII digits only (`u64::from_str` would also take a `+`).
fn digits(s: &str) -> Option<u64> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn response_heads() {
        let raw = b"HTTP/1.1 206 Partial Content\r\nContent-Range: bytes 5-9/10\r\n\r\nbody";
        let (head, end) = ResponseHead::parse(raw).unwrap().unwrap();
        assert_eq!((head.status, end), (206, raw.len() - 4));
        assert_eq!(head.header("content-range"), Some("bytes 5-9/10"));
        assert_eq!(head.reason, "Partial Content");
        assert!(
            ResponseHead::parse(b"HTTP/1.1 200 OK\r\n")
                .unwrap()
                .is_none()
        );
        assert!(ResponseHead::parse(b"SMTP 200 OK\r\n\r\n").is_err());
        assert!(ResponseHead::parse(&vec![b'a'; MAX_RESPONSE_HEAD + 1]).is_err());
        let partial = [
            b"HTTP/1.1 200 OK\r\nX: ".as_slice(),
            &[b'v'; MAX_RESPONSE_HEAD],
        ]
        .concat();
        assert!(ResponseHead::parse(&partial).is_err());
        let many: String = (0..=MAX_RESPONSE_HEADERS)
            .map(|i| format!("X{i}: v\r\n"))
            .collect();
        assert!(ResponseHead::parse(format!("HTTP/1.1 200 OK\r\n{many}\r\n").as_bytes()).is_err());
        let (head, _) = ResponseHead::parse(b"HTTP/1.0 200 OK\r\nContent-Length: 12x\r\n\r\n")
            .unwrap()
            .unwrap();
        assert!(head.content_length().is_err());
    }

    #[test]
    fn content_ranges() {
        let r = |first, len, total| Some(ContentRange { first, len, total });
        assert_eq!(ContentRange::parse("bytes 5-9/10"), r(5, 5, Some(10)));
        assert_eq!(ContentRange::parse("bytes 5-9/*"), r(5, 5, None));
        assert_eq!(ContentRange::parse("bytes 9-5/10"), None);
        assert_eq!(ContentRange::parse("bytes */10"), None);
        assert_eq!(ContentRange::parse("bytes 5-10/10"), None);
        assert_eq!(ContentRange::parse("bytes +5-9/10"), None);
        assert_eq!(ContentRange::parse("bytes 5-9/"), None);
        assert_eq!(unsatisfied_total("bytes */10"), Some(10));
        assert_eq!(unsatisfied_total("bytes */+10"), None);
    }

    #[test]
    fn a_content_range_reaching_the_last_u64_is_refused_not_overflowed() {
        // Regression: `last + 1 - first` overflowed on this header.
        assert_eq!(ContentRange::parse("bytes 0-18446744073709551615/*"), None);
        let near = ContentRange::parse("bytes 1-18446744073709551614/*").unwrap();
        assert_eq!((near.len, near.end()), (u64::MAX - 1, u64::MAX));
    }
}
