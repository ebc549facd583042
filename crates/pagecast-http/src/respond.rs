//! What to answer one request: the status, the header fields and the body, decided from
//! the request and the file system before a byte is written. Bodies stay file regions
//! wherever they can, so the connection sends them with the transfer engine.

use std::borrow::Cow;
use std::fs::File;
use std::sync::Arc;

use crate::conditional::{self, Conditions, Outcome, Validators};
use crate::fs::{OpenError, Opened, Root};
use crate::range::{self, ByteRange, Piece, Ranges};
use crate::request::{Method, Request};
use crate::target::{self, TargetError};
use crate::{listing, mime};

/// What the server needs to answer requests.
#[derive(Debug)]
pub struct Site {
    pub root: Root,
    /// Serve a listing page for directories without `index.html`.
    pub listing: bool,
    /// Serve names starting with a dot.
    pub dotfiles: bool,
}

/// A response about to be written.
#[derive(Debug)]
pub struct Response {
    pub status: u16,
    /// Fields besides Date, Server, Content-Length, Connection, ETag and
    /// Last-Modified, which the writer adds.
    pub headers: Vec<(&'static str, Cow<'static, str>)>,
    /// The file's validators, sent as ETag and Last-Modified.
    pub validators: Option<Arc<Validators>>,
    pub body: Body,
    /// The connection cannot be reused after this response.
    pub close: bool,
}

/// A response body.
#[derive(Debug)]
pub enum Body {
    /// No body and no Content-Length (304).
    None,
    /// Bytes the server made (error pages, listings).
    Bytes(Vec<u8>),
    /// A region of a file.
    File {
        file: std::sync::Arc<File>,
        range: ByteRange,
    },
    /// `multipart/byteranges`: literal part headers and file regions.
    Multipart {
        file: std::sync::Arc<File>,
        pieces: Vec<Piece>,
        length: u64,
    },
}

impl Body {
    /// The Content-Length of this body (also sent for HEAD), `None` for no body.
    pub fn content_length(&self) -> Option<u64> {
        match self {
            Body::None => None,
            Body::Bytes(b) => Some(b.len() as u64),
            Body::File { range, .. } => Some(range.len()),
            Body::Multipart { length, .. } => Some(*length),
        }
    }
}

impl Response {
    /// A short plain-text page for `status`.
    pub fn error(status: u16) -> Response {
        Response {
            status,
            headers: vec![("Content-Type", "text/plain; charset=utf-8".into())],
            validators: None,
            body: Body::Bytes(format!("{status} {}\n", reason(status)).into_bytes()),
            close: false,
        }
    }

    fn with(mut self, name: &'static str, value: impl Into<Cow<'static, str>>) -> Response {
        self.headers.push((name, value.into()));
        self
    }

    fn closing(mut self) -> Response {
        self.close = true;
        self
    }
}

/// The reason phrase of the statuses this server sends.
pub fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        206 => "Partial Content",
        301 => "Moved Permanently",
        304 => "Not Modified",
        400 => "Bad Request",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        412 => "Precondition Failed",
        414 => "URI Too Long",
        416 => "Range Not Satisfiable",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        503 => "Service Unavailable",
        505 => "HTTP Version Not Supported",
        _ => "Unknown",
    }
}

/// Decides the response to `request`. Blocking work (listing a directory) runs on
/// tokio's blocking pool; opening and stat'ing one file happens here, as in nginx.
pub async fn respond(request: &Request, site: &Arc<Site>) -> Response {
    if !matches!(request.method, Method::Get | Method::Head) {
        return Response::error(405).with("Allow", "GET, HEAD");
    }
    let segments = match target::segments(&request.target, site.dotfiles) {
        Ok(s) => s,
        Err(TargetError::Hidden) => return Response::error(404),
        Err(_) => return Response::error(400).closing(),
    };
    let opened = match site.root.open_beneath(&segments) {
        Ok(o) => o,
        Err(e) => return open_failure(e),
    };
    let path = target::path(&request.target);
    if opened.is_file() {
        // `/file.txt/` names a directory that is not there.
        if path.ends_with('/') {
            return Response::error(404);
        }
        let name = segments.last().map_or(&[][..], Vec::as_slice);
        return file(request, opened, name);
    }
    if !opened.is_dir() {
        return Response::error(403);
    }
    if !path.ends_with('/') {
        let query = request
            .target
            .find('?')
            .map_or("", |i| &request.target[i..]);
        return Response::error(301).with("Location", format!("{path}/{query}"));
    }
    let mut index = segments.clone();
    index.push(b"index.html".to_vec());
    match site.root.open_beneath(&index) {
        Ok(o) if o.is_file() => return file(request, o, b"index.html"),
        Ok(_) | Err(OpenError::NotFound) => {}
        Err(e) => return open_failure(e),
    }
    if !site.listing {
        return Response::error(403);
    }
    let listed = {
        let site = Arc::clone(site);
        tokio::task::spawn_blocking(move || site.root.list(&segments, site.dotfiles)).await
    };
    match listed {
        Ok(Ok(entries)) => {
            let decoded = String::from_utf8_lossy(&target::decode_lossy(path)).into_owned();
            Response {
                status: 200,
                headers: vec![("Content-Type", "text/html; charset=utf-8".into())],
                validators: None,
                body: Body::Bytes(listing::render(&decoded, entries).into_bytes()),
                close: false,
            }
        }
        Ok(Err(e)) => open_failure(e),
        Err(_) => Response::error(500),
    }
}

fn open_failure(e: OpenError) -> Response {
    match e {
        OpenError::NotFound => Response::error(404),
        OpenError::Outside | OpenError::Forbidden(_) => Response::error(403),
        OpenError::Other(e) if is_exhaustion(&e) => Response::error(503).with("Retry-After", "1"),
        OpenError::Other(_) => Response::error(500),
    }
}

/// Out of file descriptors or memory: the server is busy, not broken.
pub fn is_exhaustion(e: &std::io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(libc::EMFILE | libc::ENFILE | libc::ENOMEM | libc::ENOBUFS)
    )
}

/// The response for a regular file: validators, preconditions, then ranges.
fn file(request: &Request, opened: Opened, name: &[u8]) -> Response {
    let size = opened.size();
    let validators = opened
        .validators
        .unwrap_or_else(|| Arc::new(Validators::of(&opened.stat)));
    let conditions = Conditions {
        if_match: request.header("if-match"),
        if_none_match: request.header("if-none-match"),
        if_modified_since: request.header("if-modified-since"),
        if_unmodified_since: request.header("if-unmodified-since"),
        if_range: request.header("if-range"),
    };
    let content_type = mime::content_type(name);
    let use_range = match conditional::evaluate(&conditions, &validators, true) {
        Outcome::NotModified => {
            return Response {
                status: 304,
                headers: Vec::new(),
                validators: Some(validators),
                body: Body::None,
                close: false,
            };
        }
        Outcome::PreconditionFailed => return Response::error(412),
        Outcome::Proceed { use_range } => use_range,
    };
    // RFC 9110 §14.2: GET is the only method for which Range is defined.
    let range_header = match request.method {
        Method::Get if use_range => request.header("range"),
        _ => None,
    };
    let ok = |status, body| Response {
        status,
        headers: vec![("Accept-Ranges", "bytes".into())],
        validators: Some(Arc::clone(&validators)),
        body,
        close: false,
    };
    match range::resolve(range_header.map(str::as_bytes), size) {
        Ranges::Full => ok(
            200,
            Body::File {
                file: opened.file,
                range: ByteRange {
                    start: 0,
                    end: size,
                },
            },
        )
        .with("Content-Type", content_type),
        Ranges::Partial(ranges) if ranges.len() == 1 => {
            let range = ranges[0];
            ok(
                206,
                Body::File {
                    file: opened.file,
                    range,
                },
            )
            .with("Content-Type", content_type)
            .with("Content-Range", range.content_range(size))
        }
        Ranges::Partial(ranges) => {
            let boundary = boundary(&validators.etag);
            let (pieces, length) = range::multipart(&ranges, size, content_type, &boundary);
            ok(
                206,
                Body::Multipart {
                    file: opened.file,
                    pieces,
                    length,
                },
            )
            .with(
                "Content-Type",
                format!("multipart/byteranges; boundary={boundary}"),
            )
        }
        Ranges::Unsatisfiable => {
            Response::error(416).with("Content-Range", range::unsatisfied_content_range(size))
        }
    }
}

/// A multipart boundary: hex digits that differ per response, so a file cannot be
/// crafted to contain the boundary of the response that carries it.
fn boundary(etag: &str) -> String {
    use std::hash::{BuildHasher, Hasher};
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write(etag.as_bytes());
    h.write_u64(COUNTER.fetch_add(1, Ordering::Relaxed));
    format!("{:020x}", h.finish())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn boundaries_differ_per_response() {
        let a = boundary("\"x\"");
        let b = boundary("\"x\"");
        assert_ne!(a, b);
        assert_eq!(a.len(), 20);
    }
}
