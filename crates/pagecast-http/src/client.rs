//! `pagecast get`: an HTTP/1.1 download client. The body goes from the socket into the
//! file with splice(2) where the kernel allows it ([`pagecast_io::receive_file`]); the
//! length is checked against what the server promised; `-c` resumes with Range and
//! If-Range, so a file that changed on the server is fetched again whole instead of
//! being stitched from two versions.

use std::fs::{File, OpenOptions};
use std::io::{self, IsTerminal, Read, Write};
use std::net::TcpStream;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::date;

/// Extended attribute holding the If-Range validator of a partial download.
pub const VALIDATOR_XATTR: &str = "user.pagecast.validator";
/// Longest response head accepted.
pub const MAX_RESPONSE_HEAD: usize = 64 * 1024;
const MAX_REDIRECTS: usize = 5;
/// A server silent this long is given up on.
const READ_TIMEOUT: Duration = Duration::from_secs(60);

/// Why a download failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum GetError {
    #[error("{0}: not an http:// URL (https is not supported)")]
    BadUrl(String),
    #[error("cannot connect to {addr}: {error}")]
    Connect { addr: String, error: io::Error },
    #[error("{url}: the server answered {status} {reason}")]
    Status {
        url: String,
        status: u16,
        reason: String,
    },
    #[error("{url}: malformed response: {what}")]
    Protocol { url: String, what: String },
    #[error("{url}: more than {MAX_REDIRECTS} redirects")]
    Redirects { url: String },
    #[error("{path}: {error}")]
    File { path: PathBuf, error: io::Error },
    #[error(
        "{url}: download stopped at byte {at} of {expected}: {reason}; run again with -c to resume"
    )]
    Incomplete {
        url: String,
        at: u64,
        expected: String,
        reason: String,
    },
    #[error("{url}: {error}")]
    Io { url: String, error: io::Error },
}

/// What `get` is asked to do.
#[derive(Debug, Clone, Default)]
pub struct GetOptions {
    /// Output file; by default the last segment of the URL path (`index.html` if none).
    pub output: Option<PathBuf>,
    /// Resume a partial file with Range and If-Range.
    pub resume: bool,
    /// Draw a progress bar on standard error (only if it is a terminal).
    pub progress: bool,
}

/// What a successful `get` did.
#[derive(Debug, Clone)]
pub struct Downloaded {
    pub path: PathBuf,
    /// Body bytes received in this run.
    pub received: u64,
    /// The file's length now.
    pub length: u64,
    /// How it went.
    pub outcome: Outcome,
    /// How the body reached the file (splice, or read+write).
    pub method: Option<pagecast_io::Method>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Fetched whole.
    Complete,
    /// Appended to a partial file.
    Resumed { from: u64 },
    /// The partial file changed on the server, so it was fetched again whole.
    Restarted,
    /// The file was already complete (the server answered 416 for the bytes past it).
    AlreadyComplete,
}

/// A parsed `http://host[:port]/path` URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Url {
    pub host: String,
    pub port: u16,
    /// Path and query, starting with `/`.
    pub path: String,
}

impl Url {
    pub fn parse(url: &str) -> Result<Url, GetError> {
        let bad = || GetError::BadUrl(url.to_string());
        let rest = url.strip_prefix("http://").ok_or_else(bad)?;
        let (authority, path) = match rest.find(['/', '?']) {
            Some(i) if rest.as_bytes()[i] == b'/' => (&rest[..i], rest[i..].to_string()),
            Some(i) => (&rest[..i], format!("/{}", &rest[i..])),
            None => (rest, "/".to_string()),
        };
        let path = path.split('#').next().unwrap_or("/").to_string();
        if authority.contains('@') || authority.is_empty() {
            return Err(bad());
        }
        let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
            let (h, after) = v6.split_once(']').ok_or_else(bad)?;
            (h.to_string(), after.strip_prefix(':'))
        } else {
            match authority.rsplit_once(':') {
                Some((h, p)) => (h.to_string(), Some(p)),
                None => (authority.to_string(), None),
            }
        };
        let port = match port {
            None | Some("") => 80,
            Some(p) => p.parse().map_err(|_| bad())?,
        };
        if host.is_empty() || path.bytes().any(|b| b <= b' ' || b == 0x7f) {
            return Err(bad());
        }
        Ok(Url { host, port, path })
    }

    fn authority(&self) -> String {
        let host = if self.host.contains(':') {
            format!("[{}]", self.host)
        } else {
            self.host.clone()
        };
        if self.port == 80 {
            host
        } else {
            format!("{host}:{}", self.port)
        }
    }

    fn display(&self) -> String {
        format!("http://{}{}", self.authority(), self.path)
    }

    /// The file name a download of this URL is saved under by default.
    pub fn file_name(&self) -> String {
        let path = self.path.split('?').next().unwrap_or("");
        let last = path.rsplit('/').next().unwrap_or("");
        let decoded = String::from_utf8_lossy(&crate::target::decode_lossy(last)).into_owned();
        if decoded.is_empty()
            || decoded == "."
            || decoded == ".."
            || decoded.contains(['/', '\0', '\\'])
        {
            "index.html".into()
        } else {
            decoded
        }
    }

    /// Resolves a Location header against this URL.
    fn join(&self, location: &str) -> Result<Url, GetError> {
        if location.starts_with("http://") {
            return Url::parse(location);
        }
        if location.starts_with('/') && !location.starts_with("//") {
            return Ok(Url {
                path: location.to_string(),
                ..self.clone()
            });
        }
        Err(GetError::Protocol {
            url: self.display(),
            what: format!("unsupported redirect to {location:?}"),
        })
    }
}

/// A response head.
#[derive(Debug)]
struct Head {
    status: u16,
    reason: String,
    headers: Vec<(String, String)>,
}

impl Head {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// Parses a response head from the start of `buf`: `None` until it is complete.
fn parse_head(buf: &[u8]) -> Result<Option<(Head, usize)>, String> {
    let Some(end) = crate::request::find_head_end(buf) else {
        if buf.len() > MAX_RESPONSE_HEAD {
            return Err(format!("response head over {MAX_RESPONSE_HEAD} bytes"));
        }
        return Ok(None);
    };
    let text = std::str::from_utf8(&buf[..end]).map_err(|_| "head is not UTF-8".to_string())?;
    let mut lines = text.lines();
    let status_line = lines.next().unwrap_or("");
    let mut parts = status_line.splitn(3, ' ');
    let (Some(version), Some(code)) = (parts.next(), parts.next()) else {
        return Err(format!("bad status line {status_line:?}"));
    };
    if !version.starts_with("HTTP/1.") || code.len() != 3 {
        return Err(format!("bad status line {status_line:?}"));
    }
    let status = code
        .parse()
        .map_err(|_| format!("bad status line {status_line:?}"))?;
    let mut headers = Vec::new();
    for line in lines.take_while(|l| !l.is_empty()) {
        let (name, value) = line
            .split_once(':')
            .ok_or_else(|| format!("bad header line {line:?}"))?;
        headers.push((name.trim().to_string(), value.trim().to_string()));
    }
    let head = Head {
        status,
        reason: parts.next().unwrap_or("").to_string(),
        headers,
    };
    Ok(Some((head, end)))
}

/// Downloads `url` as `options` say.
pub fn get(url: &str, options: &GetOptions) -> Result<Downloaded, GetError> {
    let mut url = Url::parse(url)?;
    let path = options
        .output
        .clone()
        .unwrap_or_else(|| PathBuf::from(url.file_name()));
    // The file is opened only once the server has said yes: a 404 leaves nothing behind.
    let existing = if options.resume {
        match std::fs::metadata(&path) {
            Ok(m) => m.len(),
            Err(e) if e.kind() == io::ErrorKind::NotFound => 0,
            Err(error) => return Err(GetError::File { path, error }),
        }
    } else {
        0
    };
    let validator = if existing > 0 {
        read_validator(&path)
    } else {
        None
    };
    if existing > 0 && validator.is_none() {
        eprintln!(
            "pagecast get: {}: no validator saved with the partial file; resuming without If-Range",
            path.display()
        );
    }
    for _ in 0..=MAX_REDIRECTS {
        let (stream, head, leftover) = request(&url, existing, validator.as_deref())?;
        if let (300..=399, Some(location)) = (head.status, head.header("location")) {
            url = url.join(location)?;
            continue;
        }
        return receive(&url, stream, head, leftover, &path, existing, options);
    }
    Err(GetError::Redirects { url: url.display() })
}

/// Sends the request and reads the response head; returns the connection, the head
/// and the body bytes read with it.
fn request(
    url: &Url,
    existing: u64,
    validator: Option<&str>,
) -> Result<(TcpStream, Head, Vec<u8>), GetError> {
    let addr = format!("{}:{}", url.host, url.port);
    let connect_addr = if url.host.contains(':') {
        format!("[{}]:{}", url.host, url.port)
    } else {
        addr.clone()
    };
    let mut stream =
        TcpStream::connect(&connect_addr).map_err(|error| GetError::Connect { addr, error })?;
    let io_error = |error| GetError::Io {
        url: url.display(),
        error,
    };
    stream
        .set_read_timeout(Some(READ_TIMEOUT))
        .map_err(io_error)?;
    let mut req = format!(
        "GET {} HTTP/1.1\r\nHost: {}\r\nUser-Agent: pagecast/{}\r\nAccept-Encoding: identity\r\nConnection: close\r\n",
        url.path,
        url.authority(),
        env!("CARGO_PKG_VERSION")
    );
    if existing > 0 {
        req.push_str(&format!("Range: bytes={existing}-\r\n"));
        if let Some(v) = validator {
            req.push_str(&format!("If-Range: {v}\r\n"));
        }
    }
    req.push_str("\r\n");
    stream.write_all(req.as_bytes()).map_err(io_error)?;
    let mut buf = Vec::with_capacity(8192);
    let mut chunk = [0u8; 8192];
    loop {
        match parse_head(&buf) {
            Ok(Some((head, end))) => {
                let leftover = buf.split_off(end);
                return Ok((stream, head, leftover));
            }
            Ok(None) => {}
            Err(what) => {
                return Err(GetError::Protocol {
                    url: url.display(),
                    what,
                });
            }
        }
        let n = stream.read(&mut chunk).map_err(io_error)?;
        if n == 0 {
            return Err(GetError::Protocol {
                url: url.display(),
                what: "connection closed before a complete response head".into(),
            });
        }
        buf.extend_from_slice(&chunk[..n]);
    }
}

/// Where the body goes and how long it is.
struct Plan {
    offset: u64,
    /// Body length, `None` when delimited by the connection's close.
    length: Option<u64>,
    /// The whole file's length, when known.
    total: Option<u64>,
    outcome: Outcome,
}

fn receive(
    url: &Url,
    stream: TcpStream,
    head: Head,
    leftover: Vec<u8>,
    path: &Path,
    existing: u64,
    options: &GetOptions,
) -> Result<Downloaded, GetError> {
    let protocol = |what: String| GetError::Protocol {
        url: url.display(),
        what,
    };
    let file_error = |error| GetError::File {
        path: path.to_path_buf(),
        error,
    };
    let open = || {
        OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(false)
            .open(path)
            .map_err(file_error)
    };
    let content_length = match head.header("content-length") {
        Some(v) => Some(
            v.parse::<u64>()
                .map_err(|_| protocol(format!("bad Content-Length {v:?}")))?,
        ),
        None => None,
    };
    let chunked = head
        .header("transfer-encoding")
        .is_some_and(|v| v.to_ascii_lowercase().contains("chunked"));
    let plan = match head.status {
        200 => {
            let outcome = if existing > 0 {
                Outcome::Restarted
            } else {
                Outcome::Complete
            };
            Plan {
                offset: 0,
                length: content_length,
                total: content_length,
                outcome,
            }
        }
        206 if existing > 0 => {
            let range = head
                .header("content-range")
                .ok_or_else(|| protocol("206 without Content-Range".into()))?;
            let (first, last, total) = parse_content_range(range)
                .ok_or_else(|| protocol(format!("bad Content-Range {range:?}")))?;
            if first != existing {
                return Err(protocol(format!(
                    "asked for bytes from {existing}, got {range}"
                )));
            }
            Plan {
                offset: first,
                length: Some(last + 1 - first),
                total,
                outcome: Outcome::Resumed { from: first },
            }
        }
        416 if existing > 0 => {
            let complete = head
                .header("content-range")
                .and_then(|r| r.strip_prefix("bytes */"))
                .and_then(|n| n.parse::<u64>().ok())
                == Some(existing);
            if !complete {
                return Err(GetError::Status {
                    url: url.display(),
                    status: 416,
                    reason: head.reason,
                });
            }
            return Ok(Downloaded {
                path: path.to_path_buf(),
                received: 0,
                length: existing,
                outcome: Outcome::AlreadyComplete,
                method: None,
            });
        }
        status => {
            return Err(GetError::Status {
                url: url.display(),
                status,
                reason: head.reason,
            });
        }
    };
    let file = open()?;
    let file = &file;
    if plan.offset == 0 {
        file.set_len(0).map_err(file_error)?;
        save_validator(file, &head);
    }
    let mut progress = Progress::new(options.progress, plan.offset, plan.total);
    let (received, method) = if chunked {
        let n = receive_chunked(&stream, leftover, file, plan.offset, &mut progress)
            .map_err(|e| incomplete(url, plan.offset, None, e))?;
        (n, None)
    } else {
        receive_body(url, &stream, &leftover, file, path, &plan, &mut progress)?
    };
    progress.finish();
    if let Some(modified) = head.header("last-modified").and_then(date::parse) {
        let at = rustix::fs::Timespec {
            tv_sec: modified,
            tv_nsec: 0,
        };
        // The time is a courtesy (as wget's timestamping); failing to set it loses no data.
        let _ = rustix::fs::futimens(
            file,
            &rustix::fs::Timestamps {
                last_access: at,
                last_modification: at,
            },
        );
    }
    Ok(Downloaded {
        path: path.to_path_buf(),
        received,
        length: plan.offset + received,
        outcome: plan.outcome,
        method,
    })
}

fn incomplete(url: &Url, at: u64, expected: Option<u64>, reason: impl ToString) -> GetError {
    GetError::Incomplete {
        url: url.display(),
        at,
        expected: expected.map_or("an unknown length".into(), |e| e.to_string()),
        reason: reason.to_string(),
    }
}

/// A body of known length (or up to the close): the bytes read with the head first,
/// then the rest from the socket by splice.
fn receive_body(
    url: &Url,
    stream: &TcpStream,
    leftover: &[u8],
    file: &File,
    path: &Path,
    plan: &Plan,
    progress: &mut Progress,
) -> Result<(u64, Option<pagecast_io::Method>), GetError> {
    let end = plan.length.map(|l| plan.offset + l);
    let first = match plan.length {
        Some(l) => &leftover[..leftover.len().min(usize::try_from(l).unwrap_or(usize::MAX))],
        None => leftover,
    };
    file.write_all_at(first, plan.offset)
        .map_err(|error| GetError::File {
            path: path.to_path_buf(),
            error,
        })?;
    let at = plan.offset + first.len() as u64;
    progress.update(at);
    let Some(end) = end else {
        // Delimited by the close: read until it comes.
        let stats =
            pagecast_io::receive_file(stream, file, at, u64::MAX - at, |n| progress.update(at + n));
        return match stats {
            Err(pagecast_io::Error::SourceEnded { received, .. }) => {
                Ok((at - plan.offset + received, None))
            }
            Err(e) => Err(incomplete(url, at, None, e)),
            Ok(s) => Ok((at - plan.offset + s.bytes, Some(s.method))),
        };
    };
    let stats = pagecast_io::receive_file(stream, file, at, end - at, |n| progress.update(at + n))
        .map_err(|e| {
            let got = match &e {
                pagecast_io::Error::SourceEnded { received, .. } => *received,
                _ => 0,
            };
            incomplete(url, at + got, Some(end), e)
        })?;
    Ok((end - plan.offset, Some(stats.method)))
}

/// A `Transfer-Encoding: chunked` body, decoded in user space.
fn receive_chunked(
    stream: &TcpStream,
    leftover: Vec<u8>,
    file: &File,
    offset: u64,
    progress: &mut Progress,
) -> io::Result<u64> {
    let mut reader = io::BufReader::new(io::Cursor::new(leftover).chain(stream));
    let mut at = offset;
    let mut line = String::new();
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        line.clear();
        if io::BufRead::read_line(&mut (&mut reader).take(4096), &mut line)? == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        let size = line.trim().split(';').next().unwrap_or("");
        let mut size = u64::from_str_radix(size, 16)
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidData, "bad chunk size"))?;
        if size == 0 {
            return Ok(at - offset);
        }
        while size > 0 {
            let want = usize::try_from(size).map_or(buf.len(), |s| s.min(buf.len()));
            let n = reader.read(&mut buf[..want])?;
            if n == 0 {
                return Err(io::ErrorKind::UnexpectedEof.into());
            }
            file.write_all_at(&buf[..n], at)?;
            at += n as u64;
            size -= n as u64;
            progress.update(at);
        }
        let mut crlf = [0u8; 2];
        reader.read_exact(&mut crlf)?;
        if &crlf != b"\r\n" {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "chunk not followed by CRLF",
            ));
        }
    }
}

/// `bytes FIRST-LAST/TOTAL` (TOTAL may be `*`).
fn parse_content_range(v: &str) -> Option<(u64, u64, Option<u64>)> {
    let (range, total) = v.strip_prefix("bytes ")?.split_once('/')?;
    let (first, last) = range.split_once('-')?;
    let (first, last): (u64, u64) = (first.parse().ok()?, last.parse().ok()?);
    if last < first {
        return None;
    }
    let total = match total {
        "*" => None,
        t => Some(t.parse().ok()?),
    };
    Some((first, last, total))
}

/// The If-Range value to resume with: a strong ETag, or the Last-Modified date.
fn validator_of(head: &Head) -> Option<String> {
    match head.header("etag") {
        Some(tag) if tag.starts_with('"') => Some(tag.to_string()),
        _ => head.header("last-modified").map(str::to_string),
    }
}

fn save_validator(file: &File, head: &Head) {
    // Where extended attributes are not supported, -c later resumes without If-Range
    // (and says so), as curl and wget always do.
    match validator_of(head) {
        Some(v) => {
            let _ = rustix::fs::fsetxattr(
                file,
                VALIDATOR_XATTR,
                v.as_bytes(),
                rustix::fs::XattrFlags::empty(),
            );
        }
        None => {
            let _ = rustix::fs::fremovexattr(file, VALIDATOR_XATTR);
        }
    }
}

fn read_validator(path: &Path) -> Option<String> {
    let mut buf = [0u8; 512];
    let n = rustix::fs::getxattr(path, VALIDATOR_XATTR, &mut buf).ok()?;
    String::from_utf8(buf[..n].to_vec()).ok()
}

/// A progress bar with rate and ETA, on standard error when it is a terminal.
struct Progress {
    enabled: bool,
    start: Instant,
    last: Option<Instant>,
    base: u64,
    total: Option<u64>,
    at: u64,
}

impl Progress {
    fn new(wanted: bool, base: u64, total: Option<u64>) -> Progress {
        Progress {
            enabled: wanted && io::stderr().is_terminal(),
            start: Instant::now(),
            last: None,
            base,
            total,
            at: base,
        }
    }

    fn update(&mut self, at: u64) {
        self.at = at;
        if !self.enabled
            || self
                .last
                .is_some_and(|l| l.elapsed() < Duration::from_millis(100))
        {
            return;
        }
        self.last = Some(Instant::now());
        self.draw();
    }

    fn draw(&self) {
        let secs = self.start.elapsed().as_secs_f64().max(1e-3);
        let rate = (self.at - self.base) as f64 / secs;
        let line = match self.total {
            Some(total) if total > 0 => {
                let frac = (self.at as f64 / total as f64).min(1.0);
                let width = 30;
                let filled = (frac * width as f64) as usize;
                let eta = if rate > 0.0 {
                    format_duration((total.saturating_sub(self.at)) as f64 / rate)
                } else {
                    "--:--".into()
                };
                format!(
                    "{:3.0}% [{}{}] {} of {}  {}/s  ETA {eta}",
                    frac * 100.0,
                    "=".repeat(filled),
                    " ".repeat(width - filled),
                    human(self.at),
                    human(total),
                    human(rate as u64),
                )
            }
            _ => format!("{}  {}/s", human(self.at), human(rate as u64)),
        };
        let mut err = io::stderr().lock();
        let _ = write!(err, "\r{line}\x1b[K");
        let _ = err.flush();
    }

    fn finish(&mut self) {
        if self.enabled {
            self.draw();
            eprintln!();
        }
    }
}

fn human(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = bytes as f64;
    let mut unit = 0;
    while v >= 1024.0 && unit < UNITS.len() - 1 {
        v /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} B")
    } else {
        format!("{v:.1} {}", UNITS[unit])
    }
}

fn format_duration(secs: f64) -> String {
    let s = secs.round() as u64;
    if s >= 3600 {
        format!("{}:{:02}:{:02}", s / 3600, s % 3600 / 60, s % 60)
    } else {
        format!("{}:{:02}", s / 60, s % 60)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        let u = Url::parse("http://example.com:8080/a/b%20c.txt?x=1#frag").unwrap();
        assert_eq!(
            (u.host.as_str(), u.port, u.path.as_str()),
            ("example.com", 8080, "/a/b%20c.txt?x=1")
        );
        assert_eq!(u.file_name(), "b c.txt");
        assert_eq!(Url::parse("http://h").unwrap().path, "/");
        assert_eq!(Url::parse("http://h?q").unwrap().path, "/?q");
        assert_eq!(Url::parse("http://[::1]:9/x").unwrap().host, "::1");
        assert_eq!(
            Url::parse("http://[::1]:9/x").unwrap().authority(),
            "[::1]:9"
        );
        assert_eq!(
            Url::parse("http://h/dir/").unwrap().file_name(),
            "index.html"
        );
        assert_eq!(
            Url::parse("http://h/a/%2e%2e").unwrap().file_name(),
            "index.html"
        );
        assert_eq!(
            Url::parse("http://h/a/x%2fy").unwrap().file_name(),
            "index.html"
        );
        for bad in [
            "https://h/",
            "ftp://h",
            "http://",
            "http://h:99999/",
            "http://u@h/",
            "http://h/a b",
        ] {
            assert!(Url::parse(bad).is_err(), "{bad}");
        }
        let base = Url::parse("http://h:1/a").unwrap();
        assert_eq!(base.join("/b/").unwrap().path, "/b/");
        assert_eq!(base.join("http://o/c").unwrap().host, "o");
        assert!(base.join("//o/c").is_err());
    }

    #[test]
    fn response_heads_and_content_ranges() {
        let raw = b"HTTP/1.1 206 Partial Content\r\nContent-Range: bytes 5-9/10\r\n\r\nbody";
        let (head, end) = parse_head(raw).unwrap().unwrap();
        assert_eq!((head.status, end), (206, raw.len() - 4));
        assert_eq!(head.header("content-range"), Some("bytes 5-9/10"));
        assert!(parse_head(b"HTTP/1.1 200 OK\r\n").unwrap().is_none());
        assert!(parse_head(b"SMTP 200 OK\r\n\r\n").is_err());
        assert!(parse_head(&vec![b'a'; MAX_RESPONSE_HEAD + 1]).is_err());
        assert_eq!(parse_content_range("bytes 5-9/10"), Some((5, 9, Some(10))));
        assert_eq!(parse_content_range("bytes 5-9/*"), Some((5, 9, None)));
        assert_eq!(parse_content_range("bytes 9-5/10"), None);
        assert_eq!(parse_content_range("bytes */10"), None);
    }

    #[test]
    fn progress_units() {
        assert_eq!(human(512), "512 B");
        assert_eq!(human(3 << 20), "3.0 MiB");
        assert_eq!(format_duration(3725.0), "1:02:05");
        assert_eq!(format_duration(65.0), "1:05");
    }
}
