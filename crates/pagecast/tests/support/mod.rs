//! A running `pagecast serve` for integration tests, and raw HTTP/1.1 over real TCP.
#![allow(dead_code)] // each test crate uses its own part of this module

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// `pagecast serve` on a free port, serving `dir`; killed when dropped.
pub struct Served {
    pub child: Child,
    pub addr: SocketAddr,
    /// Everything the server printed: the access log (stdout) and messages (stderr).
    pub output: Arc<Mutex<Vec<String>>>,
}

impl Served {
    /// Starts the server with extra command-line arguments.
    pub fn start(dir: &Path, args: &[&str]) -> Served {
        Served::start_with(Command::new(env!("CARGO_BIN_EXE_pagecast")), dir, args)
    }

    /// Starts the server through `cmd` (for example a shell that lowers a limit first);
    /// the serve arguments are appended. It listens on a free loopback port unless
    /// `args` names an `--addr`.
    pub fn start_with(mut cmd: Command, dir: &Path, args: &[&str]) -> Served {
        cmd.arg("serve");
        if !args.contains(&"--addr") {
            cmd.args(["--addr", "127.0.0.1:0"]);
        }
        let mut child = cmd
            .arg(dir)
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start pagecast serve");
        let output = Arc::new(Mutex::new(Vec::new()));
        let stdout = child.stdout.take().unwrap();
        collect(stdout, Arc::clone(&output));
        let mut stderr = BufReader::new(child.stderr.take().unwrap());
        let mut first = String::new();
        stderr.read_line(&mut first).unwrap();
        let addr = first
            .trim()
            .rsplit("http://")
            .next()
            .and_then(|a| a.trim_end_matches('/').parse().ok())
            .unwrap_or_else(|| panic!("no address in the first line: {first:?}"));
        collect(stderr, Arc::clone(&output));
        Served {
            child,
            addr,
            output,
        }
    }

    /// `http://ADDR` followed by `path`.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    pub fn connect(&self) -> TcpStream {
        let s = TcpStream::connect(self.addr).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
        s
    }

    /// Sends `raw` on a new connection and reads until the server closes it.
    pub fn exchange(&self, raw: &[u8]) -> Vec<u8> {
        let mut s = self.connect();
        s.write_all(raw).unwrap();
        let mut out = Vec::new();
        s.read_to_end(&mut out).unwrap();
        out
    }

    /// One GET with `Connection: close` and extra header lines; the parsed response.
    pub fn get(&self, path: &str, headers: &[&str]) -> Response {
        self.request("GET", path, headers)
    }

    pub fn request(&self, method: &str, path: &str, headers: &[&str]) -> Response {
        let mut raw = format!("{method} {path} HTTP/1.1\r\nHost: t\r\nConnection: close\r\n");
        for h in headers {
            raw.push_str(h);
            raw.push_str("\r\n");
        }
        raw.push_str("\r\n");
        let bytes = self.exchange(raw.as_bytes());
        let (response, rest) = Response::parse(&bytes, method == "HEAD");
        assert!(rest.is_empty(), "bytes after the response: {rest:?}");
        response
    }

    /// Waits until a printed line contains `needle`.
    pub fn wait_for_output(&self, needle: &str) -> String {
        let start = Instant::now();
        loop {
            if let Some(line) = self
                .output
                .lock()
                .unwrap()
                .iter()
                .find(|l| l.contains(needle))
            {
                return line.clone();
            }
            assert!(
                start.elapsed() < Duration::from_secs(20),
                "server never printed {needle:?}; it printed {:?}",
                self.output.lock().unwrap()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn collect(from: impl Read + Send + 'static, into: Arc<Mutex<Vec<String>>>) {
    std::thread::spawn(move || {
        for line in BufReader::new(from).lines() {
            let Ok(line) = line else { return };
            into.lock().unwrap().push(line);
        }
    });
}

/// A parsed HTTP/1.1 response.
#[derive(Debug, Clone)]
pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Response {
    /// Parses one response from the start of `bytes`; returns it and the bytes after it.
    /// The body is Content-Length bytes, none for HEAD and 304, or the rest.
    pub fn parse(bytes: &[u8], head_only: bool) -> (Response, &[u8]) {
        let end = bytes
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .unwrap_or_else(|| panic!("no complete head in {:?}", String::from_utf8_lossy(bytes)))
            + 4;
        let head = std::str::from_utf8(&bytes[..end]).unwrap();
        let mut lines = head.split("\r\n");
        let status_line = lines.next().unwrap();
        assert!(status_line.starts_with("HTTP/1.1 "), "{status_line}");
        let status = status_line[9..12].parse().unwrap();
        let headers: Vec<(String, String)> = lines
            .filter(|l| !l.is_empty())
            .map(|l| {
                let (n, v) = l.split_once(':').unwrap();
                (n.to_string(), v.trim().to_string())
            })
            .collect();
        let mut r = Response {
            status,
            headers,
            body: Vec::new(),
        };
        let rest = &bytes[end..];
        if head_only || status == 304 {
            return (r, rest);
        }
        match r.header("content-length") {
            Some(len) => {
                let len: usize = len.parse().unwrap();
                assert!(
                    rest.len() >= len,
                    "body has {} of {len} bytes (status {status})",
                    rest.len()
                );
                r.body = rest[..len].to_vec();
                (r, &rest[len..])
            }
            None => {
                r.body = rest.to_vec();
                (r, &[])
            }
        }
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// Every transfer method, by its command-line name.
pub const METHODS: [&str; 6] = [
    "read+write",
    "direct",
    "mmap+write",
    "sendfile",
    "splice",
    "io_uring",
];

/// Bytes that differ at every position, so a misplaced range cannot pass.
pub fn pattern(len: usize) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u64).wrapping_mul(2_654_435_761).to_le_bytes()[1] ^ (i >> 8) as u8)
        .collect()
}

/// A directory to serve, with `name` holding `content`.
pub fn dir_with(name: &str, content: &[u8]) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(name);
    std::fs::write(&path, content).unwrap();
    (dir, path)
}

/// Finds `tool` on PATH or fails naming the set-up command.
pub fn require_tool(tool: &str) -> PathBuf {
    std::env::var_os("PATH")
        .and_then(|paths| {
            std::env::split_paths(&paths)
                .map(|p| p.join(tool))
                .find(|p| p.is_file())
        })
        .unwrap_or_else(|| {
            panic!("{tool} is not installed: run scripts/test (it installs {tool} with apt)")
        })
}

/// The system's default TCP congestion control.
pub fn system_congestion() -> String {
    std::fs::read_to_string("/proc/sys/net/ipv4/tcp_congestion_control")
        .unwrap()
        .trim()
        .to_owned()
}

/// An algorithm other than the system's default, so that a benchmark asked for it must
/// make a network namespace of its own: cubic, or reno where cubic is the default.
pub fn namespaced_congestion() -> &'static str {
    if system_congestion() == "cubic" {
        "reno"
    } else {
        "cubic"
    }
}

/// Checks a benchmark report's `tcp_congestion`: every connection of the run under
/// `algorithm`, in the benchmark's own network namespace unless that is the system's
/// default already.
pub fn assert_congestion(report: &serde_json::Value, algorithm: &str) {
    let c = &report["tcp_congestion"];
    assert_eq!(c["algorithm"], algorithm, "{report}");
    let scope = if system_congestion() == algorithm {
        "system"
    } else {
        "namespace"
    };
    assert_eq!(c["scope"], scope, "{report}");
}

pub mod broker;
pub mod kafka;
