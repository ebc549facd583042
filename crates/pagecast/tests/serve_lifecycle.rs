//! Connections and the process over time: keep-alive and pipelining, HTTP/1.0, what a
//! directory answers, a file truncated while it is sent, and graceful shutdown.

mod support;

use std::io::{Read, Write};
use std::time::{Duration, Instant};

use support::{Response, Served, dir_with, pattern};

#[test]
fn pipelined_requests_are_answered_in_order_on_one_connection() {
    let data = pattern(70_000);
    let (dir, _) = dir_with("f.bin", &data);
    std::fs::write(dir.path().join("x.json"), b"{}").unwrap();
    let s = Served::start(dir.path(), &[]);
    let mut c = s.connect();
    c.write_all(
        b"GET /f.bin HTTP/1.1\r\nHost: t\r\n\r\n\
          HEAD /x.json HTTP/1.1\r\nHost: t\r\n\r\n\
          GET /f.bin HTTP/1.1\r\nHost: t\r\nRange: bytes=-10\r\n\r\n\
          DELETE /f.bin HTTP/1.1\r\nHost: t\r\n\r\n\
          GET /x.json HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n",
    )
    .unwrap();
    let mut all = Vec::new();
    c.read_to_end(&mut all).unwrap();
    let (r1, rest) = Response::parse(&all, false);
    let (r2, rest) = Response::parse(rest, true);
    let (r3, rest) = Response::parse(rest, false);
    let (r4, rest) = Response::parse(rest, false);
    let (r5, rest) = Response::parse(rest, false);
    assert!(rest.is_empty());
    assert_eq!((r1.status, r1.body == data), (200, true));
    assert_eq!(r2.status, 200);
    assert_eq!(r2.header("content-type"), Some("application/json"));
    assert_eq!(r2.header("content-length"), Some("2"));
    assert_eq!((r3.status, &r3.body[..]), (206, &data[data.len() - 10..]));
    assert_eq!(r4.status, 405);
    assert_eq!(r4.header("allow"), Some("GET, HEAD"));
    assert_eq!((r5.status, &r5.body[..]), (200, &b"{}"[..]));
    assert_eq!(r5.header("connection"), Some("close"));
    // One access-log line per response, in order, in the common log format.
    let line = s.wait_for_output("\"GET /x.json HTTP/1.1\" 200 2");
    assert!(line.starts_with("127.0.0.1 - - ["), "{line}");
    let out = s.output.lock().unwrap().clone();
    let logged: Vec<&String> = out.iter().filter(|l| l.contains("\" ")).collect();
    assert_eq!(logged.len(), 5, "{out:?}");
    assert!(logged[0].ends_with("\"GET /f.bin HTTP/1.1\" 200 70000"));
    assert!(logged[1].ends_with("\"HEAD /x.json HTTP/1.1\" 200 0"));
    assert!(logged[3].ends_with("\"DELETE /f.bin HTTP/1.1\" 405 23"));
}

#[test]
fn http_1_0_closes_unless_asked_to_keep_alive() {
    let (dir, _) = dir_with("a.txt", b"a");
    let s = Served::start(dir.path(), &["--access-log", "off"]);
    let r = Response::parse(&s.exchange(b"GET /a.txt HTTP/1.0\r\n\r\n"), false).0;
    assert_eq!((r.status, r.header("connection")), (200, Some("close")));

    let mut c = s.connect();
    c.write_all(b"GET /a.txt HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
        .unwrap();
    let mut buf = vec![0u8; 4096];
    let n = c.read(&mut buf).unwrap();
    let r = Response::parse(&buf[..n], false).0;
    assert_eq!(r.header("connection"), Some("keep-alive"));
    c.write_all(b"GET /a.txt HTTP/1.0\r\n\r\n").unwrap();
    let mut rest = Vec::new();
    c.read_to_end(&mut rest).unwrap();
    assert_eq!(Response::parse(&rest, false).0.body, b"a");
}

/// Sockets the process `pid` holds open.
fn sockets_of(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .unwrap()
        .filter_map(|e| std::fs::read_link(e.ok()?.path()).ok())
        .filter(|target| target.to_string_lossy().starts_with("socket:"))
        .count()
}

#[test]
fn a_closing_connection_drains_what_the_client_sent_after_and_only_then_lingers() {
    let data = pattern(8 << 20);
    let (dir, _) = dir_with("big.bin", &data);
    let s = Served::start(dir.path(), &["--access-log", "off"]);
    let pid = s.child.id();

    // A request sent after `Connection: close`, while the response is on its way, is
    // unread when the server closes: closing at once would answer it with a reset
    // that destroys what the client has not read yet. The server drains it, and the
    // whole body arrives.
    let mut c = s.connect();
    rustix::net::sockopt::set_socket_recv_buffer_size(&c, 64 * 1024).unwrap();
    c.write_all(b"GET /big.bin HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut all = vec![0u8; 1 << 20];
    c.read_exact(&mut all).unwrap();
    c.write_all(b"GET /big.bin HTTP/1.1\r\nHost: t\r\n\r\n")
        .unwrap();
    // The server finishes writing into the socket before the client reads the rest.
    std::thread::sleep(Duration::from_millis(300));
    c.read_to_end(&mut all).expect("the response was reset");
    let (r, _) = Response::parse(&all, false);
    assert!(
        r.body == data,
        "{} of {} body bytes",
        r.body.len(),
        data.len()
    );

    // A client that sent nothing more is closed at once: the server keeps no socket
    // for it, although the client has not closed its end.
    let baseline = sockets_of(pid);
    let mut c = s.connect();
    c.write_all(b"GET /big.bin HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut all = Vec::new();
    c.read_to_end(&mut all).unwrap();
    assert_eq!(Response::parse(&all, false).0.body.len(), data.len());
    let read = Instant::now();
    while sockets_of(pid) > baseline {
        assert!(
            read.elapsed() < Duration::from_millis(1500),
            "the server still holds the socket (lingering lasts 2 s)"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    drop(c);
}

#[test]
fn directories_redirect_serve_index_or_list() {
    let (dir, _) = dir_with("a.txt", b"a");
    std::fs::create_dir(dir.path().join("site")).unwrap();
    std::fs::write(dir.path().join("site/index.html"), b"<p>home</p>").unwrap();
    std::fs::create_dir(dir.path().join("files")).unwrap();
    std::fs::write(dir.path().join("files/b <&>.txt"), b"bbb").unwrap();
    let s = Served::start(dir.path(), &["--access-log", "off"]);

    let r = s.get("/site?x=1", &[]);
    assert_eq!((r.status, r.header("location")), (301, Some("/site/?x=1")));
    let r = s.get("/site/", &[]);
    assert_eq!((r.status, &r.body[..]), (200, &b"<p>home</p>"[..]));
    assert_eq!(r.header("content-type"), Some("text/html; charset=utf-8"));
    let r = s.get("/files/", &[]);
    assert_eq!(r.status, 200);
    let page = r.text();
    assert!(
        page.contains("<a href=\"b%20%3C%26%3E.txt\">b &lt;&amp;&gt;.txt</a>"),
        "{page}"
    );
    assert!(page.contains("<td class=\"s\">3</td>"));
    let r = s.get("/files/b%20%3C%26%3E.txt", &[]);
    assert_eq!((r.status, &r.body[..]), (200, &b"bbb"[..]));
    assert_eq!(s.get("/missing", &[]).status, 404);
    assert_eq!(s.get("/a.txt/", &[]).status, 404);
}

#[test]
fn a_file_truncated_while_sent_closes_that_connection_only() {
    let size = 64usize << 20;
    let data = pattern(size);
    let (dir, path) = dir_with("big.bin", &data);
    std::fs::write(dir.path().join("small.txt"), b"still here").unwrap();
    let s = Served::start(dir.path(), &["--access-log", "off"]);
    let mut c = s.connect();
    c.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    // A small receive buffer keeps most of the file unsent while the test truncates it.
    rustix::net::sockopt::set_socket_recv_buffer_size(&c, 64 * 1024).unwrap();
    c.write_all(b"GET /big.bin HTTP/1.1\r\nHost: t\r\n\r\n")
        .unwrap();
    let mut first = vec![0u8; 1 << 20];
    c.read_exact(&mut first).unwrap();
    let cut = 8usize << 20;
    std::fs::OpenOptions::new()
        .write(true)
        .open(&path)
        .unwrap()
        .set_len(cut as u64)
        .unwrap();
    let mut rest = Vec::new();
    c.read_to_end(&mut rest).unwrap();
    first.extend_from_slice(&rest);
    let head_end = first.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
    let body = &first[head_end..];
    assert!(
        body.len() < size,
        "the connection delivered a full body of a truncated file"
    );
    assert!(
        body == &data[..body.len()],
        "bytes sent are not the file's own"
    );
    let line = s.wait_for_output("truncated");
    assert!(line.contains("/big.bin"), "{line}");
    assert_eq!(s.get("/small.txt", &[]).body, b"still here");
}

#[test]
fn sigterm_finishes_responses_in_flight_then_exits() {
    let size = 32usize << 20;
    let data = pattern(size);
    let (dir, _) = dir_with("big.bin", &data);
    // Two workers: the shutdown reaches the connections of both.
    let mut s = Served::start(dir.path(), &["--access-log", "off", "--workers", "2"]);
    let mut idle = s.connect();
    idle.write_all(b"GET /nope HTTP/1.1\r\nHost: t\r\n\r\n")
        .unwrap();
    let mut buf = [0u8; 1024];
    assert!(idle.read(&mut buf).unwrap() > 0);

    let mut c = s.connect();
    rustix::net::sockopt::set_socket_recv_buffer_size(&c, 64 * 1024).unwrap();
    c.write_all(b"GET /big.bin HTTP/1.1\r\nHost: t\r\n\r\n")
        .unwrap();
    let mut got = vec![0u8; 1 << 20];
    c.read_exact(&mut got).unwrap();
    let pid = rustix::process::Pid::from_raw(s.child.id() as i32).unwrap();
    rustix::process::kill_process(pid, rustix::process::Signal::TERM).unwrap();
    s.wait_for_output("shutting down");

    // New connections are refused, the idle one is closed, the download completes.
    let refused = Instant::now();
    while std::net::TcpStream::connect(s.addr).is_ok() {
        assert!(
            refused.elapsed() < Duration::from_secs(10),
            "still accepting"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let mut idle_rest = Vec::new();
    idle.read_to_end(&mut idle_rest).unwrap();
    assert!(idle_rest.is_empty());
    let mut rest = Vec::new();
    c.read_to_end(&mut rest).unwrap();
    got.extend_from_slice(&rest);
    let (r, _) = Response::parse(&got, false);
    assert!(r.body == data, "the download in flight was cut short");
    let status = s.child.wait().unwrap();
    assert!(status.success(), "{status:?}");
}

/// The threads of `pid` by name, with the nanoseconds each has run (schedstat).
fn thread_runtimes(pid: u32) -> Vec<(String, u64)> {
    let mut threads = Vec::new();
    for task in std::fs::read_dir(format!("/proc/{pid}/task")).unwrap() {
        let task = task.unwrap().path();
        let name = std::fs::read_to_string(task.join("comm")).unwrap();
        let schedstat = std::fs::read_to_string(task.join("schedstat")).unwrap();
        let ran = schedstat.split(' ').next().unwrap().parse().unwrap();
        threads.push((name.trim().to_string(), ran));
    }
    threads.sort();
    threads
}

/// Listening sockets on `port` (rows of /proc/net/tcp in state LISTEN).
fn listeners_on(port: u16) -> usize {
    let table = std::fs::read_to_string("/proc/net/tcp").unwrap();
    let local = format!(":{port:04X}");
    table
        .lines()
        .skip(1)
        .filter(|row| {
            let fields: Vec<&str> = row.split_whitespace().collect();
            fields[1].ends_with(&local) && fields[3] == "0A"
        })
        .count()
}

#[test]
fn the_workers_share_the_connections_evenly() {
    let data = pattern(256 << 10);
    let (dir, _) = dir_with("f.bin", &data);
    let s = Served::start(dir.path(), &["--access-log", "off", "--workers", "3"]);
    let pid = s.child.id();
    assert_eq!(listeners_on(s.addr.port()), 1, "one listening socket");
    let workers = |runtimes: &[(String, u64)]| -> Vec<(String, u64)> {
        runtimes
            .iter()
            .filter(|(name, _)| name.starts_with("pagecast"))
            .cloned()
            .collect()
    };
    // The address is printed before the other workers' threads start, and a thread
    // carries the process's name until it has named itself.
    let expected = ["pagecast", "pagecast-w1", "pagecast-w2"];
    let started = Instant::now();
    let before = loop {
        let before = workers(&thread_runtimes(pid));
        let named = before.iter().map(|(n, _)| n.as_str()).eq(expected);
        if named || started.elapsed() > Duration::from_secs(10) {
            break before;
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    let names: Vec<&str> = before.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, expected);

    // 48 connections opened at once, each then asking for the same work: each worker
    // accepts 16 and serves them, so each does a third of the work (25% to 42% allows
    // for noise; a hash of addresses, as SO_REUSEPORT spreads them, misses that range
    // about every other time).
    std::thread::scope(|scope| {
        for _ in 0..48 {
            scope.spawn(|| {
                let mut c = s.connect();
                for _ in 0..20 {
                    c.write_all(b"GET /f.bin HTTP/1.1\r\nHost: t\r\n\r\n")
                        .unwrap();
                    let mut head = Vec::new();
                    let mut byte = [0u8; 1];
                    while !head.ends_with(b"\r\n\r\n") {
                        c.read_exact(&mut byte).unwrap();
                        head.push(byte[0]);
                    }
                    assert!(head.starts_with(b"HTTP/1.1 200 "));
                    let mut body = vec![0u8; data.len()];
                    c.read_exact(&mut body).unwrap();
                    assert!(body == data);
                }
            });
        }
    });
    let after = workers(&thread_runtimes(pid));
    let ran: Vec<u64> = before.iter().zip(&after).map(|(b, a)| a.1 - b.1).collect();
    let total: u64 = ran.iter().sum();
    for ((name, _), ran) in after.iter().zip(&ran) {
        assert!(
            *ran * 4 > total && *ran * 12 < total * 5,
            "{name} ran {ran} ns of {total}: not about a third"
        );
    }

    // Stopped with no connection open, every worker stops accepting and the process
    // exits.
    let mut s = s;
    let pid = rustix::process::Pid::from_raw(pid as i32).unwrap();
    rustix::process::kill_process(pid, rustix::process::Signal::TERM).unwrap();
    let asked = Instant::now();
    loop {
        if let Some(status) = s.child.try_wait().unwrap() {
            assert!(status.success(), "{status:?}");
            break;
        }
        assert!(
            asked.elapsed() < Duration::from_secs(10),
            "still running 10 s after SIGTERM; listening sockets: {}",
            listeners_on(s.addr.port())
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn command_line_mistakes_name_the_real_problem() {
    let pagecast = || std::process::Command::new(env!("CARGO_BIN_EXE_pagecast"));
    // Regression: the error led with "listen on 127.0.0.1:8080".
    let out = pagecast()
        .args(["serve", "--addr", "127.0.0.1:0", "/nonexistent"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.starts_with("Error: cannot serve /nonexistent: No such file"),
        "{err}"
    );
    let out = pagecast()
        .args(["serve", "--addr", "nowhere"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("HOST:PORT"));
}

#[test]
fn a_host_name_is_accepted_as_the_address_to_listen_on() {
    // Regression: `--addr localhost:8080` was refused as invalid socket address syntax.
    let (dir, _) = dir_with("a.txt", b"a");
    let s = Served::start(
        dir.path(),
        &["--addr", "localhost:0", "--access-log", "off"],
    );
    assert!(s.addr.ip().is_loopback(), "{}", s.addr);
    let r = s.get("/a.txt", &[]);
    assert_eq!((r.status, r.text().as_str()), (200, "a"));
}
