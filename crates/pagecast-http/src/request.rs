//! The request head of HTTP/1.0 and 1.1 (RFC 9112 §2–3, §5), parsed from the bytes
//! received so far, with the limits that keep a slow or hostile client from growing
//! the server's memory: the head is bounded before anything is allocated for it.

/// Longest request line (method, target, version) before 414 URI Too Long.
pub const MAX_REQUEST_LINE: usize = 8 * 1024;
/// Longest request head, request line included, before 431.
pub const MAX_HEAD: usize = 32 * 1024;
/// Most header fields before 431.
pub const MAX_HEADERS: usize = 100;

/// The request method. Only GET and HEAD are served; anything else gets 405.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Method {
    Get,
    Head,
    /// Any other token, kept for the access log.
    Other(String),
}

/// The protocol version.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Version {
    Http10,
    Http11,
}

/// A parsed request head.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    pub method: Method,
    /// The request-target as sent (see [`crate::target`] for decoding it).
    pub target: String,
    pub version: Version,
    /// Header fields in order, names as sent, values with surrounding whitespace removed.
    pub headers: Vec<(String, String)>,
}

impl Request {
    /// The value of the only field named `name` (case-insensitive); the first when
    /// repeated.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Whether the connection stays open after the response: HTTP/1.1 unless
    /// `Connection: close`, HTTP/1.0 only with `Connection: keep-alive`.
    pub fn keep_alive(&self) -> bool {
        let has = |token: &str| {
            self.headers
                .iter()
                .filter(|(n, _)| n.eq_ignore_ascii_case("connection"))
                .flat_map(|(_, v)| v.split(','))
                .any(|t| t.trim().eq_ignore_ascii_case(token))
        };
        match self.version {
            Version::Http11 => !has("close"),
            Version::Http10 => has("keep-alive"),
        }
    }
}

/// A request head that cannot be served, with the status to answer before closing.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum HeadError {
    /// 400 Bad Request: the bytes are not an HTTP/1.x request head.
    #[error("400 Bad Request: {0}")]
    BadRequest(&'static str),
    /// 414 URI Too Long: the request line passed [`MAX_REQUEST_LINE`].
    #[error("414 URI Too Long: request line over {MAX_REQUEST_LINE} bytes")]
    UriTooLong,
    /// 431 Request Header Fields Too Large: the head passed [`MAX_HEAD`] or
    /// [`MAX_HEADERS`].
    #[error("431 Request Header Fields Too Large: over {MAX_HEAD} bytes or {MAX_HEADERS} fields")]
    HeadersTooLarge,
    /// 505 HTTP Version Not Supported.
    #[error("505 HTTP Version Not Supported")]
    VersionNotSupported,
}

impl HeadError {
    /// The status code to answer with.
    pub fn status(&self) -> u16 {
        match self {
            HeadError::BadRequest(_) => 400,
            HeadError::UriTooLong => 414,
            HeadError::HeadersTooLarge => 431,
            HeadError::VersionNotSupported => 505,
        }
    }
}

/// Progress of parsing the bytes received so far.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Parsed {
    /// The head is not complete yet; read more (the limits are already checked).
    Incomplete,
    /// A complete head that took `consumed` bytes of the buffer.
    Complete { request: Request, consumed: usize },
}

/// Parses a request head from the start of `buf` in one call. Bytes after the head (a
/// pipelined next request) are left for the next call.
pub fn parse(buf: &[u8]) -> Result<Parsed, HeadError> {
    HeadParser::default().parse(buf)
}

/// Parses one request head from bytes that arrive in pieces. Each call goes on where
/// the last one stopped, so every byte is searched once however the head is split, and
/// every byte received counts toward the limits, empty lines before the request line
/// included: a client cannot grow the buffer or the work without bound.
///
/// Between calls the caller may only append to the buffer; after `Complete` or an
/// error the parser starts afresh.
#[derive(Debug, Default, Clone)]
pub struct HeadParser {
    /// CR and LF bytes before the request line (RFC 9112 §2.2 says to ignore them).
    blank: usize,
    /// Whether the request line has begun, so `blank` is final.
    started: bool,
    /// End of the request line within the bytes after `blank`, once found.
    line_end: Option<usize>,
    /// How far past `blank` the end of the head has been searched for.
    searched: usize,
}

impl HeadParser {
    /// Parses what has arrived so far; see [`Parsed`].
    pub fn parse(&mut self, buf: &[u8]) -> Result<Parsed, HeadError> {
        let result = self.step(buf);
        if !matches!(result, Ok(Parsed::Incomplete)) {
            *self = HeadParser::default();
        }
        result
    }

    fn step(&mut self, buf: &[u8]) -> Result<Parsed, HeadError> {
        if !self.started {
            let more = buf
                .get(self.blank..)
                .unwrap_or_default()
                .iter()
                .take_while(|&&b| b == b'\r' || b == b'\n')
                .count();
            self.blank += more;
            if self.blank >= buf.len() {
                return incomplete(buf);
            }
            self.started = true;
        }
        let rest = &buf[self.blank..];
        let line_end = match self.line_end {
            Some(end) => end,
            None => {
                let from = self.searched.min(rest.len());
                let Some(at) = rest[from..].iter().position(|&b| b == b'\n') else {
                    self.searched = rest.len();
                    if rest.len() > MAX_REQUEST_LINE {
                        return Err(HeadError::UriTooLong);
                    }
                    return incomplete(buf);
                };
                let end = from + at;
                if end > MAX_REQUEST_LINE {
                    return Err(HeadError::UriTooLong);
                }
                self.line_end = Some(end);
                self.searched = end;
                end
            }
        };
        let Some(head_len) = find_head_end(rest, self.searched) else {
            // A terminator may begin in the last two bytes and end in the next read.
            self.searched = rest.len().saturating_sub(2).max(line_end);
            return incomplete(buf);
        };
        let consumed = self.blank + head_len;
        if consumed > MAX_HEAD {
            return Err(HeadError::HeadersTooLarge);
        }
        let head = std::str::from_utf8(&rest[..head_len])
            .map_err(|_| HeadError::BadRequest("request head is not UTF-8"))?;
        let mut lines = head.split('\n').map(|l| l.strip_suffix('\r').unwrap_or(l));
        let (method, target, version) = request_line(lines.next().unwrap_or(""))?;
        let mut headers = Vec::new();
        for line in lines.take_while(|l| !l.is_empty()) {
            if headers.len() == MAX_HEADERS {
                return Err(HeadError::HeadersTooLarge);
            }
            headers.push(field(line)?);
        }
        let request = Request {
            method,
            target,
            version,
            headers,
        };
        check_semantics(&request)?;
        Ok(Parsed::Complete { request, consumed })
    }
}

/// An incomplete head, unless the bytes received for it already pass [`MAX_HEAD`].
fn incomplete(received: &[u8]) -> Result<Parsed, HeadError> {
    if received.len() > MAX_HEAD {
        return Err(HeadError::HeadersTooLarge);
    }
    Ok(Parsed::Incomplete)
}

/// Length of a message head including its blank line, accepting CRLF or bare LF
/// endings, searching from `from` (which must not be inside a line ending).
fn find_head_end(buf: &[u8], from: usize) -> Option<usize> {
    let mut i = from;
    while let Some(nl) = buf.get(i..)?.iter().position(|&b| b == b'\n') {
        let at = i + nl + 1;
        match buf.get(at..) {
            Some([b'\n', ..]) => return Some(at + 1),
            Some([b'\r', b'\n', ..]) => return Some(at + 2),
            _ => i = at,
        }
    }
    None
}

fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

fn request_line(line: &str) -> Result<(Method, String, Version), HeadError> {
    let mut parts = line.split(' ');
    let (Some(method), Some(target), Some(version), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(HeadError::BadRequest(
            "request line is not METHOD SP TARGET SP VERSION",
        ));
    };
    if method.is_empty() || !method.bytes().all(is_tchar) {
        return Err(HeadError::BadRequest("method is not a token"));
    }
    if target.is_empty() || !target.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(HeadError::BadRequest(
            "request target has a control character or space",
        ));
    }
    let version = match version {
        "HTTP/1.1" => Version::Http11,
        "HTTP/1.0" => Version::Http10,
        v if v.len() == 8
            && v.starts_with("HTTP/")
            && v.as_bytes()[5].is_ascii_digit()
            && v.as_bytes()[6] == b'.'
            && v.as_bytes()[7].is_ascii_digit() =>
        {
            return Err(HeadError::VersionNotSupported);
        }
        _ => return Err(HeadError::BadRequest("malformed HTTP version")),
    };
    let method = match method {
        "GET" => Method::Get,
        "HEAD" => Method::Head,
        other => Method::Other(other.to_owned()),
    };
    Ok((method, target.to_owned(), version))
}

fn field(line: &str) -> Result<(String, String), HeadError> {
    if line.starts_with([' ', '\t']) {
        return Err(HeadError::BadRequest("obsolete line folding"));
    }
    let (name, value) = line
        .split_once(':')
        .ok_or(HeadError::BadRequest("header line without a colon"))?;
    if name.is_empty() || !name.bytes().all(is_tchar) {
        return Err(HeadError::BadRequest(
            "header name is not a token (whitespace before the colon?)",
        ));
    }
    let value = value.trim_matches([' ', '\t']);
    if value.bytes().any(|b| b == 0 || b == b'\r' || b == b'\n') {
        return Err(HeadError::BadRequest("header value has NUL, CR or LF"));
    }
    Ok((name.to_owned(), value.to_owned()))
}

/// Rules that need the whole head: HTTP/1.1 needs exactly one Host; a download server
/// takes no request bodies, and a body it did not read would be parsed as the next
/// request (request smuggling), so any announced body is refused.
fn check_semantics(r: &Request) -> Result<(), HeadError> {
    let hosts = r
        .headers
        .iter()
        .filter(|(n, _)| n.eq_ignore_ascii_case("host"))
        .count();
    if r.version == Version::Http11 && hosts != 1 {
        return Err(HeadError::BadRequest(
            "HTTP/1.1 request needs exactly one Host header",
        ));
    }
    if r.header("transfer-encoding").is_some() {
        return Err(HeadError::BadRequest(
            "request bodies are not accepted (Transfer-Encoding)",
        ));
    }
    for (_, v) in r
        .headers
        .iter()
        .filter(|(n, _)| n.eq_ignore_ascii_case("content-length"))
    {
        if v != "0" {
            return Err(HeadError::BadRequest(
                "request bodies are not accepted (Content-Length)",
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn complete(buf: &[u8]) -> (Request, usize) {
        match parse(buf) {
            Ok(Parsed::Complete { request, consumed }) => (request, consumed),
            other => panic!("{other:?} for {:?}", String::from_utf8_lossy(buf)),
        }
    }

    #[test]
    fn a_plain_get_and_a_pipelined_second_request() {
        let buf = b"GET /a/b?x=1 HTTP/1.1\r\nHost: h\r\nRange:  bytes=0-1 \r\n\r\nHEAD / HTTP/1.0\r\n\r\n";
        let (r, n) = complete(buf);
        assert_eq!(r.method, Method::Get);
        assert_eq!(r.target, "/a/b?x=1");
        assert_eq!(r.header("range"), Some("bytes=0-1"));
        assert!(r.keep_alive());
        let (r2, n2) = complete(&buf[n..]);
        assert_eq!((&r2.method, r2.version), (&Method::Head, Version::Http10));
        assert!(!r2.keep_alive());
        assert_eq!(n + n2, buf.len());
    }

    #[test]
    fn bare_lf_and_leading_blank_lines_are_accepted() {
        let buf = b"

GET / HTTP/1.1
Host: h

";
        let (r, n) = complete(buf);
        assert_eq!((r.target.as_str(), n), ("/", buf.len()));
    }

    #[test]
    fn blank_lines_count_toward_the_head_limit() {
        // Regression: empty lines before the request line were skipped before any
        // limit applied, so a client sending only CRLF grew the buffer without bound.
        let flood = b"\r\n".repeat(MAX_HEAD / 2 + 1);
        assert_eq!(parse(&flood), Err(HeadError::HeadersTooLarge));
        let mut parser = HeadParser::default();
        let mut buf = Vec::new();
        let refused = flood.chunks(7).find_map(|piece| {
            buf.extend_from_slice(piece);
            parser.parse(&buf).err()
        });
        assert_eq!(refused, Some(HeadError::HeadersTooLarge));
        assert!(buf.len() <= MAX_HEAD + 7);
        // Blank lines plus a head that fits alone, together over the limit.
        let mut long = b"\n".repeat(MAX_HEAD - 20);
        long.extend_from_slice(b"GET / HTTP/1.1\r\nHost: h\r\n\r\n");
        assert_eq!(parse(&long), Err(HeadError::HeadersTooLarge));
    }

    #[test]
    fn a_head_split_anywhere_parses_as_it_does_whole() {
        let whole = b"\r\nGET /x HTTP/1.1\r\nHost: h\n\r\nrest";
        let expected = parse(whole);
        for cut in 0..whole.len() {
            let mut parser = HeadParser::default();
            let first = parser.parse(&whole[..cut]);
            if first != Ok(Parsed::Incomplete) {
                assert_eq!(first, expected, "cut at {cut}");
                continue;
            }
            assert_eq!(parser.parse(whole), expected, "cut at {cut}");
        }
    }

    #[test]
    fn keep_alive_follows_version_and_connection() {
        let (r, _) = complete(b"GET / HTTP/1.1\r\nHost: h\r\nConnection: foo, Close\r\n\r\n");
        assert!(!r.keep_alive());
        let (r, _) = complete(b"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
        assert!(r.keep_alive());
    }

    #[test]
    fn partial_heads_are_incomplete_until_a_limit_is_passed() {
        assert_eq!(parse(b""), Ok(Parsed::Incomplete));
        assert_eq!(
            parse(b"GET / HTTP/1.1\r\nHost: h\r\n"),
            Ok(Parsed::Incomplete)
        );
        let long_line = format!("GET /{} HTTP/1.1", "a".repeat(MAX_REQUEST_LINE));
        assert_eq!(parse(long_line.as_bytes()), Err(HeadError::UriTooLong));
        assert_eq!(
            parse(format!("{long_line}\r\n\r\n").as_bytes()),
            Err(HeadError::UriTooLong)
        );
        let big = format!(
            "GET / HTTP/1.1\r\nHost: h\r\nX: {}\r\n",
            "v".repeat(MAX_HEAD)
        );
        assert_eq!(parse(big.as_bytes()), Err(HeadError::HeadersTooLarge));
        let many: String = (0..=MAX_HEADERS).map(|i| format!("X{i}: v\r\n")).collect();
        let req = format!("GET / HTTP/1.1\r\nHost: h\r\n{many}\r\n");
        assert_eq!(parse(req.as_bytes()), Err(HeadError::HeadersTooLarge));
        assert_eq!(HeadError::HeadersTooLarge.status(), 431);
    }

    #[test]
    fn malformed_heads_are_bad_requests() {
        for buf in [
            &b"GET  / HTTP/1.1\r\nHost: h\r\n\r\n"[..],
            b"GET / HTTP/1.1 x\r\nHost: h\r\n\r\n",
            b"G(T / HTTP/1.1\r\nHost: h\r\n\r\n",
            b"GET /\x01 HTTP/1.1\r\nHost: h\r\n\r\n",
            b"GET / HTTP/1.1\r\n\r\n",
            b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n",
            b"GET / HTTP/1.1\r\nHost : h\r\n\r\n",
            b"GET / HTTP/1.1\r\nHost: h\r\n folded\r\n\r\n",
            b"GET / HTTP/1.1\r\nHost: h\r\nnocolon\r\n\r\n",
            b"GET / HTTP/1.1\r\nHost: h\r\nX: a\x00b\r\n\r\n",
            b"GET / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n",
            b"GET / HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\n",
            b"GET / HTTP/1.1\r\nHost: \xff\r\n\r\n",
            b"GET / HTTX/1.1\r\nHost: h\r\n\r\n",
        ] {
            let got = parse(buf);
            assert!(
                matches!(got, Err(HeadError::BadRequest(_))),
                "{got:?} for {:?}",
                String::from_utf8_lossy(buf)
            );
        }
        assert_eq!(
            parse(b"GET / HTTP/2.0\r\n\r\n"),
            Err(HeadError::VersionNotSupported)
        );
        let (r, _) = complete(b"DELETE / HTTP/1.1\r\nHost: h\r\nContent-Length: 0\r\n\r\n");
        assert_eq!(r.method, Method::Other("DELETE".into()));
    }
}
