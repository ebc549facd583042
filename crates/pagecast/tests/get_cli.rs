//! `pagecast get` against `pagecast serve` and against scripted servers that misbehave.

mod support;

use std::io::{Read, Write};
use std::net::TcpListener;
use std::os::unix::fs::MetadataExt;
use std::process::{Command, Output};

use support::{Served, dir_with, pattern};

fn get(args: &[&str], cwd: &std::path::Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_pagecast"))
        .arg("get")
        .args(args)
        .current_dir(cwd)
        .output()
        .unwrap()
}

fn ok(out: &Output) {
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A one-shot server that answers the first request with `response` and closes.
fn scripted(response: Vec<u8>) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        let (mut s, _) = listener.accept().unwrap();
        let mut buf = [0u8; 4096];
        let _ = s.read(&mut buf);
        let _ = s.write_all(&response);
    });
    format!("http://{addr}/file.bin")
}

#[test]
fn downloads_quietly_with_the_servers_time() {
    let data = pattern(5 << 20);
    let (dir, path) = dir_with("data file.bin", &data);
    let s = Served::start(dir.path(), &["--access-log", "off"]);
    let out = tempfile::tempdir().unwrap();
    let run = get(&[&s.url("/data%20file.bin")], out.path());
    ok(&run);
    assert!(
        run.stderr.is_empty() && run.stdout.is_empty(),
        "not quiet off a terminal"
    );
    let saved = out.path().join("data file.bin");
    assert!(std::fs::read(&saved).unwrap() == data);
    assert_eq!(
        std::fs::metadata(&saved).unwrap().mtime(),
        std::fs::metadata(&path).unwrap().mtime()
    );
    let run = get(&["-o", "named", &s.url("/")], out.path());
    ok(&run);
    assert!(
        String::from_utf8(std::fs::read(out.path().join("named")).unwrap())
            .unwrap()
            .contains("Index of /")
    );
}

#[test]
fn resumes_and_refetches_a_file_that_changed() {
    let data = pattern(4 << 20);
    let (dir, path) = dir_with("f.bin", &data);
    let s = Served::start(dir.path(), &[]);
    let out = tempfile::tempdir().unwrap();
    let url = s.url("/f.bin");
    ok(&get(&[&url], out.path()));
    let saved = out.path().join("f.bin");

    // Cut short, then resumed: a 206 from the cut onwards.
    std::fs::OpenOptions::new()
        .write(true)
        .open(&saved)
        .unwrap()
        .set_len(1_000_001)
        .unwrap();
    ok(&get(&["-c", &url], out.path()));
    assert!(std::fs::read(&saved).unwrap() == data);
    s.wait_for_output("\"GET /f.bin HTTP/1.1\" 206 3194303");

    // Complete already: 416 for the bytes past the end, and the file is left alone.
    ok(&get(&["-c", &url], out.path()));
    s.wait_for_output("\"GET /f.bin HTTP/1.1\" 416");
    assert!(std::fs::read(&saved).unwrap() == data);

    // Changed on the server: If-Range fails, the whole new file comes back.
    std::fs::OpenOptions::new()
        .write(true)
        .open(&saved)
        .unwrap()
        .set_len(2_000_000)
        .unwrap();
    let mut changed = data.clone();
    changed.reverse();
    let tmp = dir.path().join(".new");
    std::fs::write(&tmp, &changed).unwrap();
    std::fs::rename(&tmp, &path).unwrap();
    ok(&get(&["-c", &url], out.path()));
    assert!(
        std::fs::read(&saved).unwrap() == changed,
        "stitched from two versions"
    );
}

#[test]
fn a_short_body_fails_and_names_where_it_stopped() {
    let mut response = b"HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n".to_vec();
    response.extend(pattern(50_000));
    let url = scripted(response);
    let out = tempfile::tempdir().unwrap();
    let run = get(&["-o", "f", &url], out.path());
    assert!(!run.status.success());
    let err = String::from_utf8_lossy(&run.stderr);
    assert!(
        err.contains("stopped at byte 50000 of 100000") && err.contains("-c"),
        "{err}"
    );
    // What arrived is kept for -c.
    assert_eq!(
        std::fs::read(out.path().join("f")).unwrap(),
        pattern(50_000)
    );
}

#[test]
fn errors_leave_no_file_and_exit_non_zero() {
    let (dir, _) = dir_with("a", b"a");
    let s = Served::start(dir.path(), &["--access-log", "off"]);
    let out = tempfile::tempdir().unwrap();
    for (url, message) in [
        (s.url("/missing"), "404 Not Found"),
        ("https://example.com/x".to_string(), "not an http:// URL"),
        ("http://127.0.0.1:1/missing".to_string(), "cannot connect"),
        (scripted(b"NONSENSE\r\n\r\n".to_vec()), "malformed response"),
    ] {
        let run = get(&[&url], out.path());
        assert!(!run.status.success(), "{url}");
        let err = String::from_utf8_lossy(&run.stderr);
        assert!(err.contains(message), "{url}: {err}");
        assert!(!out.path().join("missing").exists(), "{url} left a file");
    }
}

#[test]
fn chunked_bodies_are_decoded() {
    let url = scripted(
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5;ext=1\r\nhello\r\n7\r\n, world\r\n0\r\n\r\n"
            .to_vec(),
    );
    let out = tempfile::tempdir().unwrap();
    ok(&get(&["-o", "c", &url], out.path()));
    assert_eq!(
        std::fs::read(out.path().join("c")).unwrap(),
        b"hello, world"
    );
}

#[test]
fn a_hostile_content_range_is_refused_and_the_partial_file_kept() {
    // Regression: `bytes 5-18446744073709551615/*` overflowed `last + 1 - first`.
    for range in [
        "bytes 5-18446744073709551615/*",
        "bytes 5-9/9",
        "bytes 5-+9/*",
    ] {
        let url = scripted(
            format!("HTTP/1.1 206 Partial Content\r\nContent-Range: {range}\r\n\r\nmore")
                .into_bytes(),
        );
        let out = tempfile::tempdir().unwrap();
        std::fs::write(out.path().join("f"), b"first").unwrap();
        let run = get(&["-c", "-o", "f", &url], out.path());
        let err = String::from_utf8_lossy(&run.stderr);
        assert_eq!(run.status.code(), Some(1), "{range}: {err}");
        assert!(err.contains("bad Content-Range"), "{range}: {err}");
        assert_eq!(std::fs::read(out.path().join("f")).unwrap(), b"first");
    }
}
