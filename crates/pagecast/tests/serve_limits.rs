//! What a hostile or careless client cannot do to `pagecast serve`: read outside the
//! served directory, grow its memory with huge heads, hold connections with slow
//! heads or idle keep-alives, or make it spin when descriptors run out.

mod support;

use std::io::{Read, Write};
use std::time::{Duration, Instant};

use support::{Response, Served};

const SECRET: &str = "top-secret-content";

/// DIR/{a.txt, sub/b.txt, .hidden, sub/link-out -> outside, link-in -> sub/b.txt,
/// %2e%2e (a file literally named so)}, and a secret file beside DIR.
fn tree() -> (tempfile::TempDir, std::path::PathBuf) {
    let top = tempfile::tempdir().unwrap();
    let dir = top.path().join("www");
    std::fs::create_dir_all(dir.join("sub")).unwrap();
    std::fs::write(top.path().join("secret"), SECRET).unwrap();
    std::fs::write(dir.join("a.txt"), "a").unwrap();
    std::fs::write(dir.join("sub/b.txt"), "b").unwrap();
    std::fs::write(dir.join(".hidden"), "hidden").unwrap();
    std::fs::write(dir.join("%2e%2e"), "literal").unwrap();
    std::os::unix::fs::symlink(top.path().join("secret"), dir.join("sub/link-out")).unwrap();
    std::os::unix::fs::symlink("../secret", dir.join("rel-out")).unwrap();
    std::os::unix::fs::symlink("sub/b.txt", dir.join("link-in")).unwrap();
    (top, dir)
}

/// Sends one raw request line and returns the status and body.
fn raw_get(s: &Served, target: &str) -> Response {
    let bytes = s.exchange(
        format!("GET {target} HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n").as_bytes(),
    );
    Response::parse(&bytes, false).0
}

#[test]
fn no_request_reaches_outside_the_directory() {
    let (_top, dir) = tree();
    let s = Served::start(&dir, &["--access-log", "off"]);
    for target in [
        "/../secret",
        "/sub/../../secret",
        "/%2e%2e/secret",
        "/%2E%2E/secret",
        "/sub/%2e%2e/%2e%2e/secret",
        "/..%2fsecret",
        "/..%2Fsecret",
        "/%2f..%2fsecret",
        "/..%5csecret",
        "/..\\secret",
        "/sub\\..\\..\\secret",
        "/a.txt%00",
        "/a.txt%00.html",
        "/sub/link-out",
        "/rel-out",
        "http://t/../secret",
        "//../secret",
        "/.hidden",
        "/%2ehidden",
    ] {
        let r = raw_get(&s, target);
        assert!(
            [400, 403, 404].contains(&r.status),
            "{target}: {}",
            r.status
        );
        assert!(!r.text().contains(SECRET), "{target} leaked the secret");
        assert!(!r.text().contains("hidden"), "{target} leaked a dotfile");
    }
    // Encoded once, decoded once: %252e%252e is the file named "%2e%2e".
    let r = raw_get(&s, "/%252e%252e");
    assert_eq!((r.status, r.text().as_str()), (200, "literal"));
    // Symlinks inside the directory are served.
    let r = raw_get(&s, "/link-in");
    assert_eq!((r.status, r.text().as_str()), (200, "b"));
    // The listing shows neither dotfiles nor links that lead out.
    let listing = raw_get(&s, "/").text();
    assert!(listing.contains("link-in") && listing.contains("a.txt"));
    assert!(!listing.contains(".hidden") && !listing.contains("rel-out"));
    assert!(!raw_get(&s, "/sub/").text().contains("link-out"));
}

#[test]
fn dotfiles_and_listing_switches() {
    let (_top, dir) = tree();
    let s = Served::start(&dir, &["--access-log", "off", "--dotfiles", "--no-listing"]);
    let r = raw_get(&s, "/.hidden");
    assert_eq!((r.status, r.text().as_str()), (200, "hidden"));
    assert_eq!(raw_get(&s, "/").status, 403);
    assert_eq!(raw_get(&s, "/sub/link-out").status, 403);
}

#[test]
fn oversized_heads_are_refused_before_they_are_read_whole() {
    let (_top, dir) = tree();
    let s = Served::start(&dir, &["--access-log", "off"]);
    let long_target = format!("/{}", "a".repeat(9000));
    let r = raw_get(&s, &long_target);
    assert_eq!(r.status, 414);

    let big_field = format!(
        "GET / HTTP/1.1\r\nHost: t\r\nX-Big: {}\r\n\r\n",
        "b".repeat(40_000)
    );
    let (r, _) = Response::parse(&s.exchange(big_field.as_bytes()), false);
    assert_eq!(r.status, 431);

    let mut many = String::from("GET / HTTP/1.1\r\nHost: t\r\n");
    for i in 0..150 {
        many.push_str(&format!("X-{i}: v\r\n"));
    }
    many.push_str("\r\n");
    let (r, _) = Response::parse(&s.exchange(many.as_bytes()), false);
    assert_eq!(r.status, 431);

    // A head that never ends is refused once it passes the limit, without waiting for
    // the end: the server answers while the client is still sending.
    let mut c = s.connect();
    c.write_all(b"GET / HTTP/1.1\r\nHost: t\r\nX-Endless: ")
        .unwrap();
    let chunk = vec![b'x'; 8192];
    for _ in 0..8 {
        if c.write_all(&chunk).is_err() {
            break;
        }
    }
    let mut out = Vec::new();
    let _ = c.read_to_end(&mut out);
    assert!(
        out.starts_with(b"HTTP/1.1 431 "),
        "{:?}",
        String::from_utf8_lossy(&out)
    );

    for (raw, status) in [
        (&b"GARBAGE\r\n\r\n"[..], 400),
        (b"GET / HTTP/1.1\r\n\r\n", 400),
        (b"GET / HTTP/2.0\r\nHost: t\r\n\r\n", 505),
        (
            b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\n\r\nhello",
            400,
        ),
        (
            b"GET / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
            400,
        ),
        (b"GET / HTTP/1.1\r\nHost: t\r\n Folded: x\r\n\r\n", 400),
    ] {
        let (r, _) = Response::parse(&s.exchange(raw), false);
        assert_eq!(r.status, status, "{:?}", String::from_utf8_lossy(raw));
        assert_eq!(r.header("connection"), Some("close"));
    }
}

/// Resident memory of a process in KiB, from /proc/PID/status.
fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap()
}

#[test]
fn a_flood_of_empty_lines_is_refused_within_the_head_limit() {
    // Regression: CR and LF before a request line were skipped before any limit
    // applied, and every read re-scanned the buffer from its start, so a client that
    // sent only CRLF grew the server's memory and kept it busy after it stopped.
    let (_top, dir) = tree();
    let s = Served::start(&dir, &["--access-log", "off"]);
    assert_eq!(raw_get(&s, "/a.txt").status, 200);
    let before = rss_kib(s.child.id());
    let mut flood = s.connect();
    let chunk = b"\r\n".repeat(4096);
    let mut sent = 0;
    while sent < 16 << 20 {
        if flood.write_all(&chunk).is_err() {
            break;
        }
        sent += chunk.len();
        if sent % (1 << 20) == 0 {
            // Others are served meanwhile.
            assert_eq!(raw_get(&s, "/a.txt").status, 200);
        }
    }
    assert!(
        sent < 16 << 20,
        "the server took {sent} bytes of empty lines"
    );
    let mut out = Vec::new();
    let _ = flood.read_to_end(&mut out);
    assert!(
        out.starts_with(b"HTTP/1.1 431 "),
        "{:?}",
        String::from_utf8_lossy(&out)
    );
    let grown = rss_kib(s.child.id()).saturating_sub(before);
    assert!(grown < 4096, "resident memory grew by {grown} KiB");
    // Nothing keeps working on it once it is refused.
    let cpu = cpu_seconds(s.child.id());
    std::thread::sleep(Duration::from_millis(500));
    let used = cpu_seconds(s.child.id()) - cpu;
    assert!(used < 0.2, "{used} s of CPU in 0.5 s after the flood");
    assert_eq!(raw_get(&s, "/a.txt").status, 200);
}

#[test]
fn slow_heads_and_idle_connections_are_dropped_while_others_are_served() {
    let (_top, dir) = tree();
    let s = Served::start(
        &dir,
        &[
            "--access-log",
            "off",
            "--header-timeout",
            "1",
            "--idle-timeout",
            "2",
        ],
    );
    // Slowloris: a byte every 200 ms never completes the head within a second.
    let start = Instant::now();
    let mut slow = s.connect();
    slow.write_all(b"GET /a.txt HTTP/1.1\r\nHost: t\r\n")
        .unwrap();
    let mut closed = false;
    for _ in 0..50 {
        std::thread::sleep(Duration::from_millis(200));
        // Others are served meanwhile.
        assert_eq!(raw_get(&s, "/a.txt").status, 200);
        if slow.write_all(b"X").is_err() {
            closed = true;
            break;
        }
        let mut probe = [0u8; 64];
        slow.set_nonblocking(true).unwrap();
        let read = slow.read(&mut probe);
        slow.set_nonblocking(false).unwrap();
        match read {
            Ok(n) => {
                assert!(
                    n == 0 || probe[..n].starts_with(b"HTTP/1.1 408"),
                    "{:?}",
                    String::from_utf8_lossy(&probe[..n])
                );
                closed = true;
                break;
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
            Err(_) => {
                closed = true;
                break;
            }
        }
    }
    assert!(closed, "a trickled head held the connection for 10 s");
    assert!(
        start.elapsed() < Duration::from_secs(5),
        "{:?}",
        start.elapsed()
    );

    // An idle keep-alive connection is closed after the idle timeout, not before the
    // header timeout would have.
    let mut idle = s.connect();
    idle.write_all(b"GET /a.txt HTTP/1.1\r\nHost: t\r\n\r\n")
        .unwrap();
    let mut buf = [0u8; 4096];
    let n = idle.read(&mut buf).unwrap();
    assert!(buf[..n].starts_with(b"HTTP/1.1 200 "));
    let waited = Instant::now();
    let mut rest = Vec::new();
    idle.read_to_end(&mut rest).unwrap();
    assert!(rest.is_empty());
    let waited = waited.elapsed();
    assert!(
        waited >= Duration::from_millis(1500) && waited < Duration::from_secs(10),
        "{waited:?}"
    );
}

#[test]
fn the_connection_cap_holds_new_clients_while_every_connection_is_busy() {
    let (_top, dir) = tree();
    let s = Served::start(&dir, &["--access-log", "off", "--max-connections", "2"]);
    // Both places are taken by connections in the middle of a request head: busy,
    // not idle, so neither may be closed to make room.
    let mut a = s.connect();
    let mut b = s.connect();
    for c in [&mut a, &mut b] {
        c.write_all(b"GET /a.txt HTTP/1.1\r\nHost: t\r\n").unwrap();
    }
    std::thread::sleep(Duration::from_millis(200));
    let mut third = s.connect();
    third
        .set_read_timeout(Some(Duration::from_millis(700)))
        .unwrap();
    third
        .write_all(b"GET /a.txt HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut buf = [0u8; 1024];
    let early = third.read(&mut buf);
    assert!(early.is_err(), "served past the cap: {early:?}");
    // The busy ones finish their requests: they are answered, not cut off.
    for c in [&mut a, &mut b] {
        c.write_all(b"\r\n").unwrap();
        let n = c.read(&mut buf).unwrap();
        assert!(buf[..n].starts_with(b"HTTP/1.1 200 "));
    }
    drop(a);
    third
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut out = Vec::new();
    third.read_to_end(&mut out).unwrap();
    assert!(
        out.starts_with(b"HTTP/1.1 200 "),
        "{:?}",
        String::from_utf8_lossy(&out)
    );
}

#[test]
fn at_the_cap_idle_keep_alive_connections_make_room_oldest_first() {
    // Regression: with the cap full of idle keep-alive connections, a new client got
    // nothing until an idle timeout (60 s by default) freed a place.
    let (_top, dir) = tree();
    let s = Served::start(&dir, &["--access-log", "off", "--max-connections", "3"]);
    let mut idle = Vec::new();
    for _ in 0..3 {
        let mut c = s.connect();
        c.write_all(b"GET /a.txt HTTP/1.1\r\nHost: t\r\n\r\n")
            .unwrap();
        let mut buf = [0u8; 1024];
        assert!(c.read(&mut buf).unwrap() > 0);
        idle.push(c);
        // Distinct ages.
        std::thread::sleep(Duration::from_millis(50));
    }
    let mut new = s.connect();
    new.set_read_timeout(Some(Duration::from_secs(1))).unwrap();
    new.write_all(b"GET /a.txt HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut out = Vec::new();
    new.read_to_end(&mut out)
        .expect("the new client is answered within a second");
    assert!(
        out.starts_with(b"HTTP/1.1 200 "),
        "{:?}",
        String::from_utf8_lossy(&out)
    );
    // The oldest was closed for it; the others still serve their clients.
    idle[0]
        .set_read_timeout(Some(Duration::from_secs(1)))
        .unwrap();
    let mut rest = Vec::new();
    assert_eq!(
        idle[0].read_to_end(&mut rest).unwrap(),
        0,
        "the oldest idle connection was closed"
    );
    for c in &mut idle[1..] {
        c.write_all(b"GET /a.txt HTTP/1.1\r\nHost: t\r\n\r\n")
            .unwrap();
        c.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let mut buf = [0u8; 1024];
        let n = c.read(&mut buf).unwrap();
        assert!(
            buf[..n].starts_with(b"HTTP/1.1 200 "),
            "{:?}",
            String::from_utf8_lossy(&buf[..n])
        );
    }
}

/// CPU seconds (user + system) the process has used, from /proc/PID/stat.
fn cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let fields: Vec<&str> = stat
        .rsplit(')')
        .next()
        .unwrap()
        .split_whitespace()
        .collect();
    let ticks: u64 = fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap();
    ticks as f64 / rustix::param::clock_ticks_per_second() as f64
}

#[test]
fn out_of_descriptors_backs_off_and_recovers() {
    let (_top, dir) = tree();
    // A low descriptor limit, set by the shell before it becomes the server.
    let mut sh = std::process::Command::new("sh");
    sh.args([
        "-c",
        "ulimit -n 64 && exec \"$0\" \"$@\"",
        env!("CARGO_BIN_EXE_pagecast"),
    ]);
    let s = Served::start_with(sh, &dir, &["--access-log", "off"]);
    let mut held = Vec::new();
    for _ in 0..120 {
        let mut c = s.connect();
        c.write_all(b"GET /a.txt HTTP/1.1\r\nHost: t\r\n\r\n")
            .unwrap();
        held.push(c);
    }
    s.wait_for_output("retrying");
    // While the backlog waits, the server sleeps instead of spinning on accept.
    let before = cpu_seconds(s.child.id());
    std::thread::sleep(Duration::from_secs(1));
    let used = cpu_seconds(s.child.id()) - before;
    assert!(
        used < 0.3,
        "{used} s of CPU in 1 s while out of descriptors"
    );
    // Freeing descriptors lets it serve everyone, old and new.
    let last = held.pop().unwrap();
    held.truncate(10);
    drop(held);
    let mut last = last;
    let mut buf = [0u8; 64];
    last.read_exact(&mut buf[..12]).unwrap();
    assert_eq!(&buf[..12], b"HTTP/1.1 200");
    assert_eq!(raw_get(&s, "/a.txt").status, 200);
}
