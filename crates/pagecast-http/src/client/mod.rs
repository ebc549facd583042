//! `pagecast get`: an HTTP/1.1 download client. The body goes from the socket into the
//! file with splice(2) where the kernel allows it ([`pagecast_io::receive_file`]); the
//! length is checked against what the server promised; `-c` resumes with Range and
//! If-Range, so a file that changed on the server is fetched again whole instead of
//! being stitched from two versions.

//!
//! The URL ([`url`]), the response head ([`head`]), chunked bodies ([`chunked`]) and
//! the saved validator ([`validator`]) each have their own module; this one runs the
//! download. Drawing progress is the caller's business: [`get`] reports it.

pub mod chunked;
pub mod head;
pub mod url;
pub mod validator;

use std::fs::{File, OpenOptions};
use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::date;
pub use head::{ContentRange, MAX_RESPONSE_HEAD, ResponseHead};
pub use url::Url;
pub use validator::VALIDATOR_XATTR;

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
}

/// How far a download has got, reported as it goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Progress {
    /// The body starts: it is written from byte `from` of a file of `total` bytes.
    Started { from: u64, total: Option<u64> },
    /// The file now holds the bytes up to `at`.
    At(u64),
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

/// Downloads `url` as `options` say, telling `progress` how far it has got.
pub fn get(
    url: &str,
    options: &GetOptions,
    progress: &mut dyn FnMut(Progress),
) -> Result<Downloaded, GetError> {
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
        validator::read(&path)
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
        return receive(&url, stream, head, leftover, &path, existing, progress);
    }
    Err(GetError::Redirects { url: url.display() })
}

/// Sends the request and reads the response head; returns the connection, the head
/// and the body bytes read with it.
fn request(
    url: &Url,
    existing: u64,
    validator: Option<&str>,
) -> Result<(TcpStream, ResponseHead, Vec<u8>), GetError> {
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
        match ResponseHead::parse(&buf) {
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
    head: ResponseHead,
    leftover: Vec<u8>,
    path: &Path,
    existing: u64,
    progress: &mut dyn FnMut(Progress),
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
    let content_length = head.content_length().map_err(protocol)?;
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
            let got = ContentRange::parse(range)
                .ok_or_else(|| protocol(format!("bad Content-Range {range:?}")))?;
            if got.first != existing {
                return Err(protocol(format!(
                    "asked for bytes from {existing}, got {range}"
                )));
            }
            if content_length.is_some_and(|l| l != got.len) {
                return Err(protocol(format!(
                    "Content-Length disagrees with Content-Range {range:?}"
                )));
            }
            Plan {
                offset: got.first,
                length: Some(got.len),
                total: got.total,
                outcome: Outcome::Resumed { from: got.first },
            }
        }
        416 if existing > 0 => {
            let complete = head
                .header("content-range")
                .and_then(head::unsatisfied_total)
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
        validator::save(file, &head);
    }
    progress(Progress::Started {
        from: plan.offset,
        total: plan.total,
    });
    let (received, method) = if chunked {
        let n = receive_chunked(&stream, leftover, file, plan.offset, progress)
            .map_err(|e| incomplete(url, plan.offset, None, e))?;
        (n, None)
    } else {
        receive_body(url, &stream, &leftover, file, path, &plan, progress)?
    };
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
    progress: &mut dyn FnMut(Progress),
) -> Result<(u64, Option<pagecast_io::Method>), GetError> {
    let end = match plan.length {
        Some(l) => Some(
            plan.offset
                .checked_add(l)
                .ok_or_else(|| GetError::Protocol {
                    url: url.display(),
                    what: format!("a body of {l} bytes from byte {} passes 2^64", plan.offset),
                })?,
        ),
        None => None,
    };
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
    progress(Progress::At(at));
    let Some(end) = end else {
        // Delimited by the close: read until it comes.
        let stats = pagecast_io::receive_file(stream, file, at, u64::MAX - at, |n| {
            progress(Progress::At(at + n))
        });
        return match stats {
            Err(pagecast_io::Error::SourceEnded { received, .. }) => {
                Ok((at - plan.offset + received, None))
            }
            Err(e) => Err(incomplete(url, at, None, e)),
            Ok(s) => Ok((at - plan.offset + s.bytes, Some(s.method))),
        };
    };
    let stats = pagecast_io::receive_file(stream, file, at, end - at, |n| {
        progress(Progress::At(at + n))
    })
    .map_err(|e| {
        let got = match &e {
            pagecast_io::Error::SourceEnded { received, .. } => *received,
            _ => 0,
        };
        incomplete(url, at + got, Some(end), e)
    })?;
    Ok((end - plan.offset, Some(stats.method)))
}

/// A `Transfer-Encoding: chunked` body: the bytes read with the head, then the socket.
fn receive_chunked(
    stream: &TcpStream,
    leftover: Vec<u8>,
    file: &File,
    offset: u64,
    progress: &mut dyn FnMut(Progress),
) -> io::Result<u64> {
    let reader = io::BufReader::with_capacity(64 * 1024, io::Cursor::new(leftover).chain(stream));
    let mut at = offset;
    chunked::decode(reader, |piece| {
        file.write_all_at(piece, at)?;
        at += piece.len() as u64;
        progress(Progress::At(at));
        Ok(())
    })
}
