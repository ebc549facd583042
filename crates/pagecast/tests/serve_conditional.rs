//! The conditional-request matrix (RFC 9110 §13) against a running `pagecast serve`.

mod support;

use support::{Served, dir_with, pattern};

#[test]
fn validators_and_preconditions() {
    let data = pattern(5000);
    let (dir, _) = dir_with("f.bin", &data);
    let s = Served::start(dir.path(), &["--access-log", "off"]);
    let plain = s.get("/f.bin", &[]);
    let etag = plain.header("etag").unwrap().to_string();
    let modified = plain.header("last-modified").unwrap().to_string();
    assert!(
        etag.starts_with('"') && etag.ends_with('"'),
        "strong: {etag}"
    );
    let earlier = "Thu, 01 Jan 2004 00:00:00 GMT";
    let later = "Fri, 01 Jan 2100 00:00:00 GMT";
    let other = "\"0-0.0-0\"";

    let cases: Vec<(Vec<String>, u16)> = vec![
        (vec![format!("If-None-Match: {etag}")], 304),
        (vec![format!("If-None-Match: W/{etag}")], 304),
        (vec![format!("If-None-Match: {other}, {etag}")], 304),
        (vec!["If-None-Match: *".into()], 304),
        (vec![format!("If-None-Match: {other}")], 200),
        (vec![format!("If-Modified-Since: {modified}")], 304),
        (vec![format!("If-Modified-Since: {later}")], 304),
        (vec![format!("If-Modified-Since: {earlier}")], 200),
        (vec!["If-Modified-Since: yesterday".into()], 200),
        // If-None-Match takes precedence over If-Modified-Since.
        (
            vec![
                format!("If-None-Match: {other}"),
                format!("If-Modified-Since: {modified}"),
            ],
            200,
        ),
        (vec![format!("If-Match: {etag}")], 200),
        (vec!["If-Match: *".into()], 200),
        (vec![format!("If-Match: {other}")], 412),
        // If-Match compares strongly: a weak tag never matches.
        (vec![format!("If-Match: W/{etag}")], 412),
        (vec![format!("If-Unmodified-Since: {earlier}")], 412),
        (vec![format!("If-Unmodified-Since: {modified}")], 200),
        // If-Match takes precedence over If-Unmodified-Since.
        (
            vec![
                format!("If-Match: {etag}"),
                format!("If-Unmodified-Since: {earlier}"),
            ],
            200,
        ),
    ];
    for (headers, status) in cases {
        let refs: Vec<&str> = headers.iter().map(String::as_str).collect();
        let r = s.get("/f.bin", &refs);
        assert_eq!(r.status, status, "{headers:?}");
        match status {
            304 => {
                assert!(r.body.is_empty(), "{headers:?}");
                assert_eq!(r.header("etag"), Some(etag.as_str()));
                assert_eq!(r.header("content-length"), None);
            }
            200 => assert_eq!(r.body, data, "{headers:?}"),
            _ => {}
        }
    }

    // If-Range: the range only while the representation is the one the client holds.
    for (if_range, status) in [
        (etag.clone(), 206),
        (modified.clone(), 206),
        (other.to_string(), 200),
        (format!("W/{etag}"), 200),
        (earlier.to_string(), 200),
    ] {
        let r = s.get(
            "/f.bin",
            &["Range: bytes=100-199", &format!("If-Range: {if_range}")],
        );
        assert_eq!(r.status, status, "If-Range: {if_range}");
        let want = if status == 206 {
            &data[100..200]
        } else {
            &data[..]
        };
        assert_eq!(r.body, want, "If-Range: {if_range}");
    }
}

#[test]
fn a_changed_file_gets_a_new_etag() {
    let (dir, path) = dir_with("f.txt", b"one");
    let s = Served::start(dir.path(), &["--access-log", "off"]);
    let before = s.get("/f.txt", &[]).header("etag").unwrap().to_string();
    // Same size and second: the tag must still change (nanoseconds, or the inode).
    let tmp = dir.path().join(".f.txt.new");
    std::fs::write(&tmp, b"two").unwrap();
    std::fs::rename(&tmp, &path).unwrap();
    let r = s.get("/f.txt", &[&format!("If-None-Match: {before}")]);
    assert_eq!(r.status, 200);
    assert_eq!(r.body, b"two");
    assert_ne!(r.header("etag").unwrap(), before);
}
