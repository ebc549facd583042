//! A running `pagecast broker` for integration tests, and the real Kafka clients that
//! talk to it (kcat, confluent-kafka and kafka-python, installed by scripts/test).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The storage engines every client test runs on.
pub const ENGINES: [&str; 2] = ["segment", "commitlog"];

/// `pagecast broker` on free ports; killed when dropped.
pub struct Broker {
    pub child: Child,
    pub addr: SocketAddr,
    pub metrics: SocketAddr,
    pub output: Arc<Mutex<Vec<String>>>,
}

impl Broker {
    /// Starts a broker on `data` with the `storage` engine and extra arguments, on a
    /// free port unless they name `--addr`.
    pub fn start(data: &Path, storage: &str, args: &[&str]) -> Broker {
        let addr: &[&str] = if args.contains(&"--addr") {
            &[]
        } else {
            &["--addr", "127.0.0.1:0"]
        };
        let mut child = Command::new(env!("CARGO_BIN_EXE_pagecast"))
            .args(["broker", "--metrics-addr", "127.0.0.1:0"])
            .args(addr)
            .arg("--data")
            .arg(data)
            .args(["--storage", storage])
            .args(args)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start pagecast broker");
        let mut stderr = BufReader::new(child.stderr.take().unwrap());
        // What the broker says before it listens (what recovery did) is kept with the
        // rest of its output.
        let mut early = Vec::new();
        let mut line = |what: &str| loop {
            let mut l = String::new();
            let n = stderr.read_line(&mut l).unwrap();
            assert!(
                n > 0,
                "the broker ended before saying {what:?}: {}",
                early.join("")
            );
            if l.contains(what) {
                break l;
            }
            early.push(l);
        };
        let first = line("listening on ");
        let addr = first
            .split("listening on ")
            .nth(1)
            .and_then(|s| s.split(',').next())
            .and_then(|a| a.parse().ok())
            .unwrap_or_else(|| panic!("no address in {first:?}"));
        let second = line("metrics on http://");
        let metrics = second
            .trim()
            .trim_end_matches("/metrics")
            .rsplit("http://")
            .next()
            .and_then(|a| a.parse().ok())
            .unwrap_or_else(|| panic!("no metrics address in {second:?}"));
        let output = Arc::new(Mutex::new(
            early
                .iter()
                .map(|l| l.trim_end().to_owned())
                .collect::<Vec<String>>(),
        ));
        let into = Arc::clone(&output);
        std::thread::spawn(move || {
            for l in stderr.lines() {
                let Ok(l) = l else { return };
                into.lock().unwrap().push(l);
            }
        });
        Broker {
            child,
            addr,
            metrics,
            output,
        }
    }

    /// `host:port` for clients.
    pub fn bootstrap(&self) -> String {
        self.addr.to_string()
    }

    /// The metrics page.
    pub fn metrics(&self) -> String {
        let mut s = TcpStream::connect(self.metrics).unwrap();
        s.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
            .unwrap();
        let mut out = String::new();
        s.read_to_string(&mut out).unwrap();
        out
    }

    /// The value of a metric line that starts with `prefix` (name and labels), or 0.
    pub fn metric(&self, prefix: &str) -> f64 {
        self.metrics()
            .lines()
            .find_map(|l| l.strip_prefix(prefix)?.trim().parse().ok())
            .unwrap_or(0.0)
    }

    /// Sends SIGTERM and waits for a clean exit; returns what the broker printed.
    pub fn stop(mut self) -> String {
        rustix::process::kill_process(
            rustix::process::Pid::from_child(&self.child),
            rustix::process::Signal::TERM,
        )
        .unwrap();
        let status = wait_timeout(&mut self.child, Duration::from_secs(20));
        let printed = self.output.lock().unwrap().join("\n");
        assert!(status.success(), "broker exited with {status}: {printed}");
        printed
    }

    /// Kills the broker with SIGKILL.
    pub fn kill(mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }

    /// Resident memory of the broker process, in KiB.
    pub fn rss_kib(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).unwrap();
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap()
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn wait_timeout(child: &mut Child, limit: Duration) -> std::process::ExitStatus {
    let start = Instant::now();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        assert!(
            start.elapsed() < limit,
            "broker did not exit within {limit:?}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Runs `cmd`, failing with its output unless it succeeds; returns standard output.
pub fn run_ok(cmd: &mut Command) -> String {
    let out: Output = cmd.output().unwrap_or_else(|e| panic!("run {cmd:?}: {e}"));
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{cmd:?} failed ({}):\n{stdout}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

/// The client script, run with python3; fails naming scripts/test when the Python
/// clients are missing.
pub fn clients(command: &str, args: &[&str]) -> Command {
    let probe = Command::new("python3")
        .args(["-c", "import confluent_kafka, kafka"])
        .output();
    assert!(
        probe.is_ok_and(|o| o.status.success()),
        "python3 with confluent-kafka and kafka-python is not installed: run scripts/test (it installs them with pip)"
    );
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/clients/kafka_clients.py");
    let mut cmd = Command::new("python3");
    cmd.arg(script).arg(command).args(args);
    cmd
}

/// The kafkajs script, run with node; fails naming scripts/test when kafkajs is not
/// installed.
pub fn kafkajs(args: &[&str]) -> Command {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/clients");
    assert!(
        dir.join("node_modules/kafkajs").is_dir(),
        "kafkajs is not installed: run scripts/test (it runs npm ci in {})",
        dir.display()
    );
    let mut cmd = Command::new(super::require_tool("node"));
    cmd.arg(dir.join("kafkajs_clients.js"))
        .args(args)
        .env("KAFKAJS_NO_PARTITIONER_WARNING", "1");
    cmd
}

/// kcat, which scripts/test installs from Debian.
pub fn kcat(bootstrap: &str) -> Command {
    let path = super::require_tool("kcat");
    let mut cmd = Command::new(path);
    cmd.args(["-b", bootstrap]);
    cmd
}
