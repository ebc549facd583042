//! The open-file cache under change and pressure: a cached file replaced, truncated,
//! rewritten or deleted on disk is never served stale, while other clients hammer it;
//! the cache stays within its bound, and gives its descriptors back when the process
//! runs out of them.

mod support;

use std::io::{Read, Write};
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use support::{Response, Served, pattern};

/// One GET on a fresh connection.
fn get(s: &Served, path: &str) -> Response {
    s.get(path, &[])
}

/// Keeps requesting `/f` on keep-alive connections until told to stop; every 200 must
/// arrive whole with a length the file had (`lengths`). Its bytes are not compared: a
/// file changed in place while it is sent can show the change in a response already
/// on its way (sendfile lends the page cache's pages; nginx does the same). Returns
/// the responses checked.
fn hammer(s: &Served, stop: &AtomicBool, lengths: &[usize]) -> usize {
    let mut checked = 0;
    while !stop.load(Ordering::Relaxed) {
        let mut c = s.connect();
        let mut all = Vec::new();
        for _ in 0..50 {
            if c.write_all(b"GET /f HTTP/1.1\r\nHost: t\r\n\r\n").is_err() {
                break;
            }
            // Read one response: the head, then Content-Length bytes.
            let mut buf = [0u8; 16384];
            let response = loop {
                if let Some(end) = all.windows(4).position(|w| w == b"\r\n\r\n") {
                    let head = String::from_utf8_lossy(&all[..end]).to_string();
                    let len: usize = head
                        .lines()
                        .find_map(|l| l.strip_prefix("Content-Length: "))
                        .and_then(|v| v.parse().ok())
                        .unwrap_or(0);
                    if all.len() >= end + 4 + len {
                        let body = all[end + 4..end + 4 + len].to_vec();
                        all.drain(..end + 4 + len);
                        break Some((head, body));
                    }
                }
                match c.read(&mut buf) {
                    Ok(0) | Err(_) => break None,
                    Ok(n) => all.extend_from_slice(&buf[..n]),
                }
            };
            let Some((head, body)) = response else {
                // Closed mid-body: the file was truncated under the send.
                break;
            };
            if head.starts_with("HTTP/1.1 200") {
                assert!(
                    lengths.contains(&body.len()),
                    "a body of {} bytes: the file never had that length",
                    body.len()
                );
            } else {
                assert!(head.starts_with("HTTP/1.1 404"), "{head}");
            }
            checked += 1;
        }
    }
    checked
}

fn served(dir: &Path, cache: &str) -> Served {
    Served::start(dir, &["--access-log", "off", "--open-file-cache", cache])
}

#[test]
fn a_cached_file_replaced_truncated_rewritten_or_deleted_is_never_served_stale() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("f");
    let v1 = pattern(8192);
    let v2: Vec<u8> = pattern(9000).into_iter().map(|b| b ^ 0x5a).collect();
    let v3 = v2[..1000].to_vec();
    let v4 = vec![b'x'; 1000];
    std::fs::write(&f, &v1).unwrap();
    let s = served(dir.path(), "64");
    let lengths = [v1.len(), v2.len(), v3.len()];
    let stop = AtomicBool::new(false);
    let s = Arc::new(s);
    /// Stops the loaders however the steps end, so a failed step fails the test
    /// instead of waiting for them forever.
    struct StopOnDrop<'a>(&'a AtomicBool);
    impl Drop for StopOnDrop<'_> {
        fn drop(&mut self) {
            self.0.store(true, Ordering::Relaxed);
        }
    }
    std::thread::scope(|scope| {
        let loaders: Vec<_> = (0..3)
            .map(|_| scope.spawn(|| hammer(&s, &stop, &lengths)))
            .collect();
        let stopping = StopOnDrop(&stop);
        let r = get(&s, "/f");
        assert_eq!(r.body, v1);
        let first_etag = r.header("etag").unwrap().to_string();
        assert_eq!(get(&s, "/f").body, v1, "a second, cached, request");

        // Replaced: a new file renamed over the name.
        let tmp = dir.path().join("f.tmp");
        std::fs::write(&tmp, &v2).unwrap();
        std::fs::rename(&tmp, &f).unwrap();
        let r = get(&s, "/f");
        assert_eq!(r.body, v2, "served the replaced file");
        assert_ne!(r.header("etag").unwrap(), first_etag);

        // Truncated in place.
        std::fs::File::options()
            .write(true)
            .open(&f)
            .unwrap()
            .set_len(1000)
            .unwrap();
        let r = get(&s, "/f");
        assert_eq!(
            (r.header("content-length"), &r.body),
            (Some("1000"), &v3),
            "served the old length"
        );

        // Rewritten in place, same length.
        std::fs::File::options()
            .write(true)
            .open(&f)
            .unwrap()
            .write_all_at(&v4, 0)
            .unwrap();
        assert_eq!(get(&s, "/f").body, v4);

        // Deleted, then created again (whole, by a rename).
        std::fs::remove_file(&f).unwrap();
        assert_eq!(get(&s, "/f").status, 404, "served a deleted file");
        std::fs::write(&tmp, &v1).unwrap();
        std::fs::rename(&tmp, &f).unwrap();
        assert_eq!(get(&s, "/f").body, v1);

        drop(stopping);
        let checked: usize = loaders.into_iter().map(|l| l.join().unwrap()).sum();
        assert!(checked > 0);
    });
}

/// Descriptors a process holds open on files below `dir`.
fn open_files_below(pid: u32, dir: &Path) -> usize {
    let dir = dir.canonicalize().unwrap();
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .unwrap()
        .filter_map(|e| std::fs::read_link(e.ok()?.path()).ok())
        .filter(|target| target.starts_with(&dir) && target != &dir)
        .count()
}

#[test]
fn the_cache_keeps_at_most_its_bound() {
    let dir = tempfile::tempdir().unwrap();
    for i in 0..100 {
        std::fs::write(dir.path().join(format!("{i}")), b"x").unwrap();
    }
    let s = served(dir.path(), "8");
    for i in 0..100 {
        assert_eq!(get(&s, &format!("/{i}")).status, 200);
        // A closing connection may hold its response's file for a moment.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(3);
        let mut open = open_files_below(s.child.id(), dir.path());
        while open > 8 && std::time::Instant::now() < deadline {
            std::thread::sleep(std::time::Duration::from_millis(10));
            open = open_files_below(s.child.id(), dir.path());
        }
        assert!(open <= 8, "{open} files held open after {} requests", i + 1);
    }
    assert_eq!(
        open_files_below(s.child.id(), dir.path()),
        8,
        "the cache keeps its 8"
    );
}

#[test]
fn out_of_descriptors_the_cache_gives_them_back() {
    let dir = tempfile::tempdir().unwrap();
    for i in 0..200 {
        std::fs::write(dir.path().join(format!("{i}")), format!("{i}")).unwrap();
    }
    let mut sh = std::process::Command::new("sh");
    sh.args([
        "-c",
        "ulimit -n 64 && exec \"$0\" \"$@\"",
        env!("CARGO_BIN_EXE_pagecast"),
    ]);
    let s = Served::start_with(
        sh,
        dir.path(),
        &["--access-log", "off", "--open-file-cache", "1000"],
    );
    // One connection asks for 200 files: far more than 64 descriptors would hold.
    let mut c = s.connect();
    for i in 0..200 {
        c.write_all(format!("GET /{i} HTTP/1.1\r\nHost: t\r\n\r\n").as_bytes())
            .unwrap();
        let mut buf = [0u8; 1024];
        let n = c.read(&mut buf).unwrap();
        let text = String::from_utf8_lossy(&buf[..n]);
        assert!(
            text.starts_with("HTTP/1.1 200") && text.ends_with(&format!("\r\n\r\n{i}")),
            "file {i}: {text}"
        );
    }
}
