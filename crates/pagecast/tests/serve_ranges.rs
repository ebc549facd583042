//! The range matrix against a running `pagecast serve`, over raw TCP: single, suffix and
//! open ranges; multipart/byteranges with every part checked against the file; 416;
//! refusals that must not amplify; and every transfer method behind the same answers.

mod support;

use support::{METHODS, Response, Served, dir_with, pattern};

const LEN: usize = 100_000;

/// Splits a multipart/byteranges body into (Content-Range, part bytes).
fn parts(r: &Response) -> Vec<(String, Vec<u8>)> {
    let ct = r.header("content-type").unwrap();
    let boundary = ct
        .strip_prefix("multipart/byteranges; boundary=")
        .unwrap_or_else(|| panic!("not multipart: {ct}"));
    let delimiter = format!("--{boundary}");
    let body = &r.body;
    let mut out = Vec::new();
    let mut at = 0;
    loop {
        let start = find(body, delimiter.as_bytes(), at).expect("delimiter") + delimiter.len();
        if body[start..].starts_with(b"--\r\n") {
            assert_eq!(start + 4, body.len(), "bytes after the closing delimiter");
            return out;
        }
        let head_end = find(body, b"\r\n\r\n", start).unwrap() + 4;
        let head = std::str::from_utf8(&body[start..head_end]).unwrap();
        let range = head
            .lines()
            .find_map(|l| l.strip_prefix("Content-Range: "))
            .unwrap()
            .to_string();
        let (first, last) = range
            .strip_prefix("bytes ")
            .and_then(|r| r.split('/').next())
            .and_then(|r| r.split_once('-'))
            .unwrap();
        let len = last.parse::<usize>().unwrap() + 1 - first.parse::<usize>().unwrap();
        out.push((range, body[head_end..head_end + len].to_vec()));
        assert_eq!(&body[head_end + len..head_end + len + 2], b"\r\n");
        at = head_end + len;
    }
}

fn find(hay: &[u8], needle: &[u8], from: usize) -> Option<usize> {
    hay[from..]
        .windows(needle.len())
        .position(|w| w == needle)
        .map(|p| p + from)
}

#[test]
fn single_ranges_of_every_form() {
    let data = pattern(LEN);
    let (dir, _) = dir_with("f.bin", &data);
    let s = Served::start(dir.path(), &["--access-log", "off"]);
    for (range, start, end) in [
        ("bytes=0-0", 0, 1),
        ("bytes=10-4095", 10, 4096),
        ("bytes=99990-", 99_990, LEN),
        ("bytes=-7", LEN - 7, LEN),
        ("bytes=-200000", 0, LEN),
        ("bytes=99999-500000", 99_999, LEN),
        ("BYTES=5-9", 5, 10),
        ("bytes=, 5-9 ,", 5, 10),
    ] {
        let r = s.get("/f.bin", &[&format!("Range: {range}")]);
        assert_eq!(r.status, 206, "{range}");
        assert_eq!(
            r.header("content-range").unwrap(),
            format!("bytes {start}-{}/{LEN}", end - 1),
            "{range}"
        );
        assert_eq!(r.body, &data[start..end], "{range}");
    }
}

#[test]
fn several_ranges_are_multipart_with_exact_parts() {
    let data = pattern(LEN);
    let (dir, _) = dir_with("f.txt", &data);
    let s = Served::start(dir.path(), &["--access-log", "off"]);
    let r = s.get("/f.txt", &["Range: bytes=0-9, 500-4600, -3"]);
    assert_eq!(r.status, 206);
    assert!(r.header("content-range").is_none());
    let got = parts(&r);
    let want = [(0, 10), (500, 4601), (LEN - 3, LEN)];
    assert_eq!(got.len(), want.len());
    for ((range, bytes), (start, end)) in got.iter().zip(want) {
        assert_eq!(range, &format!("bytes {start}-{}/{LEN}", end - 1));
        assert_eq!(bytes, &data[start..end]);
    }
    assert!(
        find(&r.body, b"Content-Type: text/plain; charset=utf-8\r\n", 0).is_some(),
        "parts carry the file's type"
    );
}

#[test]
fn unsatisfiable_refused_and_malformed_ranges() {
    let data = pattern(LEN);
    let (dir, _) = dir_with("f.bin", &data);
    let s = Served::start(dir.path(), &["--access-log", "off"]);
    for range in ["bytes=100000-", "bytes=200000-300000", "bytes=-0"] {
        let r = s.get("/f.bin", &[&format!("Range: {range}")]);
        assert_eq!(r.status, 416, "{range}");
        assert_eq!(r.header("content-range"), Some("bytes */100000"), "{range}");
    }
    let many = (0..65)
        .map(|i| format!("{}-{}", i * 10, i * 10 + 1))
        .collect::<Vec<_>>()
        .join(",");
    for range in [
        // Refused so that a response never amplifies: full file instead.
        "bytes=0-50000,40000-60000".to_string(),
        "bytes=0-,0-,0-".to_string(),
        format!("bytes={many}"),
        // Malformed or empty: ignored.
        String::new(),
        "bytes=".into(),
        "bytes=5-1".into(),
        "bytes=x-y".into(),
        "pages=1-2".into(),
        "bytes=99999999999999999999999-".into(),
    ] {
        let r = s.get("/f.bin", &[&format!("Range: {range}")]);
        assert_eq!(r.status, 200, "{range:?}");
        assert_eq!(r.body, data, "{range:?}");
    }
    // Range is defined for GET only.
    let head = s.request("HEAD", "/f.bin", &["Range: bytes=0-9"]);
    assert_eq!(head.status, 200);
    assert_eq!(head.header("content-length"), Some("100000"));
}

#[test]
fn every_method_serves_the_same_bytes() {
    let data = pattern(3 << 20);
    let (dir, _) = dir_with("f.bin", &data);
    for method in METHODS {
        let s = Served::start(dir.path(), &["--access-log", "off", "--method", method]);
        let full = s.get("/f.bin", &[]);
        assert_eq!(full.status, 200, "{method}");
        assert!(full.body == data, "{method}: whole file differs");
        let r = s.get("/f.bin", &["Range: bytes=1-4096,2097151-2097153,-5"]);
        let got = parts(&r);
        assert_eq!(got[0].1, &data[1..4097], "{method}");
        assert_eq!(got[1].1, &data[2_097_151..2_097_154], "{method}");
        assert_eq!(got[2].1, &data[data.len() - 5..], "{method}");
    }
}
