//! The request target turned into path segments below the served directory
//! (RFC 9112 §3.2, RFC 3986 §2.1). Percent-encoding is decoded exactly once, and every
//! form of escaping the directory is refused here, before the file system is asked;
//! the server still opens files with openat2(RESOLVE_BENEATH) so that symlinks cannot
//! lead out either.

/// Why a target is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TargetError {
    /// Not origin-form or absolute-form, or a bad percent-escape: 400.
    #[error("malformed request target")]
    Malformed,
    /// A `..` segment, a NUL, a backslash or an encoded slash: 400.
    #[error("request target tries to leave the served directory")]
    Traversal,
    /// A segment starting with a dot (a hidden file), while those are not served: 404.
    #[error("hidden files are not served")]
    Hidden,
}

/// The path of a request target in origin- or absolute-form, without query or
/// fragment, still percent-encoded.
pub fn path(target: &str) -> &str {
    let path = match target
        .strip_prefix("http://")
        .or_else(|| target.strip_prefix("https://"))
    {
        // absolute-form: the path starts after the authority.
        Some(rest) => rest.find('/').map_or("/", |i| &rest[i..]),
        None => target,
    };
    path.split(['?', '#']).next().unwrap_or("")
}

/// Decodes `target` into path segments (bytes, as Linux file names are), dropping the
/// query and empty or `.` segments. `allow_dotfiles` permits segments such as `.well-known`.
pub fn segments(target: &str, allow_dotfiles: bool) -> Result<Vec<Vec<u8>>, TargetError> {
    let path = path(target);
    if !path.starts_with('/') {
        return Err(TargetError::Malformed);
    }
    let mut out = Vec::new();
    for raw in path.split('/') {
        let seg = decode(raw)?;
        if seg.is_empty() || seg == b"." {
            continue;
        }
        if seg == b".." || seg.iter().any(|&b| b == 0 || b == b'\\' || b == b'/') {
            return Err(TargetError::Traversal);
        }
        if seg[0] == b'.' && !allow_dotfiles {
            return Err(TargetError::Hidden);
        }
        out.push(seg);
    }
    Ok(out)
}

fn decode(raw: &str) -> Result<Vec<u8>, TargetError> {
    let bytes = raw.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = bytes.get(i + 1..i + 3).and_then(hex_byte);
            out.push(hex.ok_or(TargetError::Malformed)?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    Ok(out)
}

/// Percent-decodes for display or a file name: escapes that are not two hex digits
/// stay as they are. Never for deciding what to open; that is [`segments`].
pub fn decode_lossy(raw: &str) -> Vec<u8> {
    let bytes = raw.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match (bytes[i], bytes.get(i + 1..i + 3).and_then(hex_byte)) {
            (b'%', Some(v)) => {
                out.push(v);
                i += 3;
            }
            (b, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    out
}

fn hex_byte(hex: &[u8]) -> Option<u8> {
    let hex = std::str::from_utf8(hex).ok()?;
    if hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        u8::from_str_radix(hex, 16).ok()
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(t: &str) -> Vec<String> {
        segments(t, false)
            .unwrap()
            .into_iter()
            .map(|s| String::from_utf8(s).unwrap())
            .collect()
    }

    #[test]
    fn paths_and_lossy_decoding_for_titles_and_file_names() {
        assert_eq!(path("/a/b?x=1"), "/a/b");
        assert_eq!(path("http://h:1/a%20b/#f"), "/a%20b/");
        assert_eq!(path("http://h"), "/");
        assert_eq!(decode_lossy("/a%20b%zz%4"), b"/a b%zz%4");
        assert_eq!(decode_lossy("%e2%82%ac%+1"), "€%+1".as_bytes());
    }

    #[test]
    fn ordinary_targets() {
        assert_eq!(ok("/"), Vec::<String>::new());
        assert_eq!(ok("/a/b.txt?x=../y"), ["a", "b.txt"]);
        assert_eq!(ok("//a/./b/"), ["a", "b"]);
        assert_eq!(ok("/with%20space/%E2%82%AC"), ["with space", "€"]);
        assert_eq!(ok("http://example.com/a"), ["a"]);
        // Decoded once only: %252e is a file literally named "%2e".
        assert_eq!(ok("/%252e%252e/x"), ["%2e%2e", "x"]);
    }

    #[test]
    fn the_traversal_battery_is_refused() {
        for t in [
            "/../etc/passwd",
            "/a/../../b",
            "/%2e%2e/x",
            "/%2E%2e/x",
            "/a%2f..%2fb",
            "/a%2Fb",
            "/%00",
            "/a%00.txt",
            "/a\\..\\b",
            "/a%5c..%5cb",
            "/..",
        ] {
            assert_eq!(segments(t, false), Err(TargetError::Traversal), "{t}");
            assert_eq!(
                segments(t, true),
                Err(TargetError::Traversal),
                "{t} with dotfiles allowed"
            );
        }
    }

    #[test]
    fn dotfiles_only_when_allowed() {
        assert_eq!(segments("/.git/config", false), Err(TargetError::Hidden));
        assert_eq!(segments("/%2egit/config", false), Err(TargetError::Hidden));
        assert!(segments("/.well-known/x", true).is_ok());
    }

    #[test]
    fn malformed_targets() {
        for t in ["*", "a/b", "/%", "/%4", "/%zz", "/%+1"] {
            assert_eq!(segments(t, false), Err(TargetError::Malformed), "{t}");
        }
    }
}
