//! `pagecast bench http`: `pagecast serve` against nginx on the same directory, driven
//! by the same client in one run. Two workloads: one large download (GB/s, the body
//! spliced into /dev/null so the client copies nothing) and small files over many
//! keep-alive connections (requests per second, one request in flight per connection
//! as wrk does). Runs alternate between the servers; medians and ratios are reported.
//!
//! nginx is configured as its documentation recommends for static files: `sendfile on`,
//! `tcp_nopush on`, `tcp_nodelay on`, no access log (pagecast's is off too), the same
//! number of workers, and keep-alive connections never closed by a request count.
//! With one worker each, the servers run on one CPU and the client on another.
//!
//! The small files are also driven by `wrk` when it is installed, a client nobody here
//! wrote, with the same connections and threads as workers, cycling through the same
//! files; its requests per second and 99th-percentile latency are reported beside our
//! client's, so no figure depends on a client of our own alone.

use std::fs::File;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use pagecast_http::client::ResponseHead;

use crate::Error;
use crate::congestion::InEffect;

/// The median of a figure over the runs (NaN for none), as the table and JSON show it.
fn med(values: &[f64]) -> f64 {
    crate::median(values.iter().copied()).unwrap_or(f64::NAN)
}

/// What to measure.
#[derive(Debug, Clone)]
pub struct Config {
    /// The `pagecast` executable (it runs `pagecast serve`).
    pub program: PathBuf,
    /// Size of the large file.
    pub size: u64,
    /// Size of each small file.
    pub small_size: usize,
    /// Number of small files (requests cycle through them).
    pub small_files: usize,
    /// Keep-alive connections for the small-file workload.
    pub connections: usize,
    /// Length of one small-file run.
    pub duration: Duration,
    /// Runs per server and workload; medians are reported.
    pub runs: usize,
    /// Worker threads of pagecast, worker processes of nginx.
    pub workers: usize,
    /// Compare with nginx when it is installed.
    pub nginx: bool,
    /// Directory for the files (default: the system temporary directory).
    pub dir: Option<PathBuf>,
    /// The TCP congestion control the run's connections are under (see
    /// [`crate::congestion::enter`]), for the report.
    pub congestion: Option<InEffect>,
}

impl Config {
    /// A 1 GiB file, 1000 files of 4 KiB, 64 connections, 5 s runs, 3 runs, 1 worker.
    pub fn new(program: PathBuf) -> Config {
        Config {
            program,
            size: 1 << 30,
            small_size: 4096,
            small_files: 1000,
            connections: 64,
            duration: Duration::from_secs(5),
            runs: 3,
            workers: 1,
            nginx: true,
            dir: None,
            congestion: None,
        }
    }
}

/// One server's results.
#[derive(Debug, Clone)]
pub struct ServerResult {
    /// `pagecast` or `nginx/1.22.1`.
    pub name: String,
    /// GB/s of each large download.
    pub download_gbps: Vec<f64>,
    /// Requests per second of each small-file run.
    pub small_rps: Vec<f64>,
    /// Requests per second of each small-file run driven by wrk.
    pub wrk_rps: Vec<f64>,
    /// wrk's 99th-percentile latency of each run, milliseconds.
    pub wrk_p99_ms: Vec<f64>,
}

/// The benchmark's outcome.
#[derive(Debug, Clone)]
pub struct Report {
    pub size: u64,
    pub small_size: usize,
    pub connections: usize,
    pub workers: usize,
    pub pagecast: ServerResult,
    /// `Err` says why nginx was not measured.
    pub nginx: Result<ServerResult, String>,
    /// `Err` says why wrk was not used.
    pub wrk: Result<String, String>,
    /// The TCP congestion control of the run's connections.
    pub congestion: Option<InEffect>,
}

/// Runs the benchmark; `progress` hears a line per run.
pub fn run(config: &Config, mut progress: impl FnMut(&str)) -> Result<Report, Error> {
    let base = config.dir.clone().unwrap_or_else(std::env::temp_dir);
    let dir = tempfile::Builder::new()
        .prefix("pagecast-bench-http-")
        .tempdir_in(&base)
        .map_err(|e| Error::File(base.clone(), e))?;
    let www = dir.path().join("www");
    progress(&format!(
        "writing a {} file and {} files of {} in {}",
        crate::format_size(config.size),
        config.small_files,
        crate::format_size(config.small_size as u64),
        www.display()
    ));
    make_files(&www, config).map_err(|e| Error::File(www.clone(), e))?;

    let cpus = crate::transfer::two_cpus().filter(|_| config.workers == 1);
    let mut servers = vec![Server::pagecast(config, &www, cpus.map(|c| c.0))?];
    let nginx = if config.nginx {
        match find_nginx() {
            Some(binary) => {
                let server = Server::nginx(&binary, config, &www, dir.path(), cpus.map(|c| c.0))?;
                servers.push(server);
                Ok(())
            }
            None => Err("nginx is not installed (apt-get install nginx)".to_string()),
        }
    } else {
        Err("not requested".to_string())
    };
    // wrk, started from this thread, inherits its CPU.
    let _client_cpu = cpus.and_then(|c| crate::transfer::pin_current(c.1));
    let wrk = match find_program("wrk") {
        Some(binary) => {
            let script = dir.path().join("paths.lua");
            std::fs::write(&script, wrk_script(config.small_files))
                .map_err(|e| Error::File(script.clone(), e))?;
            Ok((binary, script))
        }
        None => Err("wrk is not installed (apt-get install wrk)".to_string()),
    };

    let mut results: Vec<ServerResult> = servers
        .iter()
        .map(|s| ServerResult {
            name: s.name.clone(),
            download_gbps: Vec::new(),
            small_rps: Vec::new(),
            wrk_rps: Vec::new(),
            wrk_p99_ms: Vec::new(),
        })
        .collect();
    let paths: Vec<String> = (0..config.small_files)
        .map(|i| format!("/small/{i:05}.bin"))
        .collect();
    for round in 0..config.runs {
        // Alternate who goes first, so neither always meets a warmer machine.
        let order = crate::round_order(round + 1, servers.len());
        for &i in &order {
            let (bytes, elapsed) = download(servers[i].addr, "/large.bin")
                .map_err(|e| Error::Receiver(format!("{} download: {e}", servers[i].name)))?;
            if bytes != config.size {
                return Err(Error::Receiver(format!(
                    "{} sent {bytes} of {} bytes",
                    servers[i].name, config.size
                )));
            }
            let gbps = crate::gbps(bytes, elapsed);
            progress(&format!("  {}: download {gbps:.2} GB/s", servers[i].name));
            results[i].download_gbps.push(gbps);
        }
        for &i in &order {
            let (done, elapsed) = hammer(
                servers[i].addr,
                &paths,
                config.small_size,
                config.connections,
                config.duration,
            )
            .map_err(|e| Error::Receiver(format!("{} small files: {e}", servers[i].name)))?;
            let rps = done as f64 / elapsed.as_secs_f64();
            progress(&format!(
                "  {}: {} B files {rps:.0} requests/s",
                servers[i].name, config.small_size
            ));
            results[i].small_rps.push(rps);
        }
        if let Ok((binary, script)) = &wrk {
            for &i in &order {
                let (rps, p99) = run_wrk(binary, script, servers[i].addr, config).map_err(|e| {
                    Error::Receiver(format!("wrk against {}: {e}", servers[i].name))
                })?;
                progress(&format!(
                    "  {}: wrk {rps:.0} requests/s, p99 {p99:.2} ms",
                    servers[i].name
                ));
                results[i].wrk_rps.push(rps);
                results[i].wrk_p99_ms.push(p99);
            }
        }
    }
    let mut results = results.into_iter();
    let pagecast = results.next().expect("pagecast always runs");
    Ok(Report {
        size: config.size,
        small_size: config.small_size,
        connections: config.connections,
        workers: config.workers,
        pagecast,
        nginx: nginx.map(|()| results.next().expect("nginx ran")),
        wrk: wrk.map(|(binary, _)| binary.display().to_string()),
        congestion: config.congestion.clone(),
    })
}

/// A wrk script that asks for the small files in turn, as our client does.
fn wrk_script(files: usize) -> String {
    format!(
        "local i = 0\n\
         request = function()\n  \
           i = (i + 1) % {files}\n  \
           return wrk.format(\"GET\", string.format(\"/small/%05d.bin\", i))\n\
         end\n"
    )
}

/// Runs wrk for one small-file run; returns requests per second and p99 latency (ms).
fn run_wrk(
    binary: &Path,
    script: &Path,
    addr: SocketAddr,
    config: &Config,
) -> io::Result<(f64, f64)> {
    let out = Command::new(binary)
        .arg(format!("-t{}", config.workers.max(1)))
        .arg(format!("-c{}", config.connections))
        .arg(format!("-d{}s", config.duration.as_secs().max(1)))
        .arg("--latency")
        .arg("-s")
        .arg(script)
        .arg(format!("http://{addr}/"))
        .output()?;
    let text = String::from_utf8_lossy(&out.stdout);
    if !out.status.success() || text.contains("Non-2xx") || text.contains("Socket errors") {
        return Err(io::Error::other(format!(
            "wrk: {}{}",
            text,
            String::from_utf8_lossy(&out.stderr)
        )));
    }
    parse_wrk(&text).ok_or_else(|| io::Error::other(format!("wrk printed no figures: {text}")))
}

/// Requests/sec and the 99% latency line of wrk's `--latency` output.
fn parse_wrk(text: &str) -> Option<(f64, f64)> {
    let rps = text
        .lines()
        .find_map(|l| l.trim().strip_prefix("Requests/sec:"))?
        .trim()
        .parse()
        .ok()?;
    let p99 = text
        .lines()
        .find_map(|l| l.trim().strip_prefix("99%"))
        .map(str::trim)?;
    let (number, unit) = p99.split_at(p99.find(|c: char| c.is_ascii_alphabetic())?);
    let number: f64 = number.parse().ok()?;
    let ms = match unit {
        "us" => number / 1e3,
        "ms" => number,
        "s" => number * 1e3,
        "m" => number * 60e3,
        _ => return None,
    };
    Some((rps, ms))
}

fn make_files(www: &Path, config: &Config) -> io::Result<()> {
    std::fs::create_dir_all(www.join("small"))?;
    let large = File::options()
        .read(true)
        .write(true)
        .create_new(true)
        .open(www.join("large.bin"))?;
    crate::transfer::fill(&large, config.size)?;
    let mut content = vec![0u8; config.small_size];
    for i in 0..config.small_files {
        for (j, b) in content.iter_mut().enumerate() {
            *b = (i * 31 + j * 7) as u8;
        }
        std::fs::write(www.join(format!("small/{i:05}.bin")), &content)?;
    }
    Ok(())
}

/// A server under test; killed on drop.
struct Server {
    name: String,
    addr: SocketAddr,
    child: Child,
}

impl Drop for Server {
    /// SIGTERM first: nginx's master then stops its workers, which a SIGKILL of the
    /// master would leave running. SIGKILL only if it has not exited within 5 s.
    fn drop(&mut self) {
        let pid = i32::try_from(self.child.id())
            .ok()
            .and_then(rustix::process::Pid::from_raw);
        if let Some(pid) = pid {
            let _ = rustix::process::kill_process(pid, rustix::process::Signal::TERM);
            let asked = Instant::now();
            while asked.elapsed() < Duration::from_secs(5) {
                if let Ok(Some(_)) = self.child.try_wait() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(10));
            }
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Server {
    fn pagecast(config: &Config, www: &Path, cpu: Option<usize>) -> Result<Server, Error> {
        let fail = |e: String| Error::Receiver(format!("pagecast serve: {e}"));
        let mut cmd = Command::new(&config.program);
        cmd.arg("serve")
            .arg(www)
            .args(["--addr", "127.0.0.1:0", "--access-log", "off", "--workers"])
            .arg(config.workers.to_string())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        let mut child = spawn_on(&mut cmd, cpu).map_err(|e| fail(e.to_string()))?;
        let mut line = String::new();
        if let Some(err) = child.stderr.take() {
            let mut err = BufReader::new(err);
            err.read_line(&mut line).map_err(|e| fail(e.to_string()))?;
            // Keep draining so the server never blocks on a full pipe.
            std::thread::spawn(move || io::copy(&mut err, &mut io::sink()));
        }
        let addr = line
            .trim()
            .rsplit("http://")
            .next()
            .and_then(|a| a.trim_end_matches('/').parse().ok())
            .ok_or_else(|| fail(format!("did not say where it listens: {line:?}")))?;
        Ok(Server {
            name: "pagecast".into(),
            addr,
            child,
        })
    }

    fn nginx(
        binary: &Path,
        config: &Config,
        www: &Path,
        scratch: &Path,
        cpu: Option<usize>,
    ) -> Result<Server, Error> {
        let fail = |e: String| Error::Receiver(format!("nginx: {e}"));
        let version = Command::new(binary)
            .arg("-v")
            .output()
            .map(|o| String::from_utf8_lossy(&o.stderr).trim().to_string())
            .unwrap_or_default();
        let name = version
            .rsplit(' ')
            .next()
            .filter(|v| v.starts_with("nginx/"))
            .unwrap_or("nginx")
            .to_string();
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map_err(|e| fail(e.to_string()))?
            .port();
        let prefix = scratch.join("nginx");
        std::fs::create_dir_all(&prefix).map_err(|e| fail(e.to_string()))?;
        let conf = prefix.join("nginx.conf");
        let p = prefix.display();
        let text = format!(
            "worker_processes {workers};\n\
             daemon off;\n\
             pid {p}/nginx.pid;\n\
             error_log {p}/error.log;\n\
             events {{ worker_connections 4096; }}\n\
             http {{\n\
               access_log off;\n\
               sendfile on;\n\
               tcp_nopush on;\n\
               tcp_nodelay on;\n\
               keepalive_requests 1000000000;\n\
               keepalive_timeout 75s;\n\
               default_type application/octet-stream;\n\
               client_body_temp_path {p}/body;\n\
               proxy_temp_path {p}/proxy;\n\
               fastcgi_temp_path {p}/fastcgi;\n\
               uwsgi_temp_path {p}/uwsgi;\n\
               scgi_temp_path {p}/scgi;\n\
               server {{ listen 127.0.0.1:{port}; root {root}; }}\n\
             }}\n",
            workers = config.workers,
            root = www.display(),
        );
        std::fs::write(&conf, text).map_err(|e| fail(e.to_string()))?;
        let mut cmd = Command::new(binary);
        cmd.arg("-p")
            .arg(&prefix)
            .arg("-e")
            .arg(prefix.join("error.log"))
            .arg("-c")
            .arg(&conf)
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        let child = spawn_on(&mut cmd, cpu).map_err(|e| fail(e.to_string()))?;
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        let mut server = Server { name, addr, child };
        let started = Instant::now();
        while TcpStream::connect(addr).is_err() {
            if let Ok(Some(status)) = server.child.try_wait() {
                let log = std::fs::read_to_string(prefix.join("error.log")).unwrap_or_default();
                return Err(fail(format!("exited with {status}: {log}")));
            }
            if started.elapsed() > Duration::from_secs(10) {
                return Err(fail("did not start listening within 10 s".into()));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Ok(server)
    }
}

/// Starts `cmd` with this thread pinned to `cpu`, so the child and everything it
/// forks inherit that CPU from the first instruction.
fn spawn_on(cmd: &mut Command, cpu: Option<usize>) -> io::Result<Child> {
    let _pinned = cpu.and_then(crate::transfer::pin_current);
    cmd.spawn()
}

fn find_nginx() -> Option<PathBuf> {
    find_program("nginx")
}

/// `name` on the PATH, or in the sbin directories where Debian puts servers.
fn find_program(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/sbin".into(), "/usr/local/nginx/sbin".into()])
        .map(|d| d.join(name))
        .find(|p| p.is_file())
}

/// Downloads `path` on a new connection; the body is spliced into /dev/null. Returns
/// the body bytes and the time from the request to the last byte.
fn download(addr: SocketAddr, path: &str) -> io::Result<(u64, Duration)> {
    let mut conn = TcpStream::connect(addr)?;
    conn.set_read_timeout(Some(Duration::from_secs(120)))?;
    let started = Instant::now();
    conn.write_all(
        format!("GET {path} HTTP/1.1\r\nHost: bench\r\nConnection: close\r\n\r\n").as_bytes(),
    )?;
    // Read the head byte by byte, so that the body is left in the socket for splice.
    let mut head = Vec::with_capacity(1024);
    let mut byte = [0u8; 1];
    loop {
        if conn.read(&mut byte)? == 0 {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "no response head",
            ));
        }
        head.push(byte[0]);
        if byte[0] != b'\n' {
            continue;
        }
        if let Some((head, _)) = ResponseHead::parse(&head).map_err(io::Error::other)? {
            if head.status != 200 {
                return Err(io::Error::other(format!("answered {}", head.status)));
            }
            break;
        }
    }
    let null = File::options().write(true).open("/dev/null")?;
    let total = crate::receiver::drain_splice(&conn, &null)?;
    Ok((total, started.elapsed()))
}

/// Small files over `connections` keep-alive connections for `duration`, one request in
/// flight per connection. Every response must be a 200 with `size` bytes of body.
/// Returns the responses completed and the time taken.
fn hammer(
    addr: SocketAddr,
    paths: &[String],
    size: usize,
    connections: usize,
    duration: Duration,
) -> io::Result<(u64, Duration)> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let started = Instant::now();
        let deadline = tokio::time::Instant::now() + duration;
        let requests: std::sync::Arc<[Vec<u8>]> = paths
            .iter()
            .map(|p| format!("GET {p} HTTP/1.1\r\nHost: bench\r\n\r\n").into_bytes())
            .collect();
        let mut tasks = Vec::with_capacity(connections);
        for c in 0..connections {
            let requests = std::sync::Arc::clone(&requests);
            tasks.push(tokio::spawn(connection(addr, requests, c, size, deadline)));
        }
        let mut done = 0;
        for t in tasks {
            done += t.await.map_err(io::Error::other)??;
        }
        Ok((done, started.elapsed()))
    })
}

/// One connection's requests: all of them in turn, starting at `first` so the
/// connections do not ask for the same file at the same moment.
async fn connection(
    addr: SocketAddr,
    requests: std::sync::Arc<[Vec<u8>]>,
    first: usize,
    size: usize,
    deadline: tokio::time::Instant,
) -> io::Result<u64> {
    let mut conn = tokio::net::TcpStream::connect(addr).await?;
    conn.set_nodelay(true)?;
    let mut buf = vec![0u8; size.max(48 * 1024) + 16 * 1024];
    let mut filled = 0;
    let mut done = 0u64;
    for request in requests.iter().cycle().skip(first % requests.len().max(1)) {
        if tokio::time::Instant::now() >= deadline {
            break;
        }
        conn.write_all(request).await?;
        // Read one whole response: the head, then Content-Length bytes.
        let (head_end, length) = loop {
            if let Some((head, end)) =
                ResponseHead::parse(&buf[..filled]).map_err(io::Error::other)?
            {
                if head.status != 200 {
                    return Err(io::Error::other(format!("answered {}", head.status)));
                }
                let length = head
                    .content_length()
                    .map_err(io::Error::other)?
                    .ok_or_else(|| io::Error::other("no Content-Length"))?;
                break (end, usize::try_from(length).map_err(io::Error::other)?);
            }
            if filled == buf.len() {
                return Err(io::Error::other("response head too large"));
            }
            let n = conn.read(&mut buf[filled..]).await?;
            if n == 0 {
                return Err(io::ErrorKind::UnexpectedEof.into());
            }
            filled += n;
        };
        if length != size {
            return Err(io::Error::other(format!(
                "body of {length} bytes, expected {size}"
            )));
        }
        while filled < head_end + length {
            let n = conn.read(&mut buf[filled..]).await?;
            if n == 0 {
                return Err(io::ErrorKind::UnexpectedEof.into());
            }
            filled += n;
        }
        buf.copy_within(head_end + length..filled, 0);
        filled -= head_end + length;
        done += 1;
    }
    Ok(done)
}

/// The table: medians per server, runs' ranges, and pagecast/nginx ratios.
pub fn text(report: &Report) -> String {
    use std::fmt::Write as _;
    let mut out = String::new();
    let nginx = report.nginx.as_ref().ok();
    let _ = writeln!(
        out,
        "\nHTTP download server: pagecast serve{} ({} worker{} each; medians of {} runs, range in brackets)",
        nginx.map_or(String::new(), |n| format!(" vs {}", n.name)),
        report.workers,
        if report.workers == 1 { "" } else { "s" },
        report.pagecast.download_gbps.len(),
    );
    if let Some(congestion) = &report.congestion {
        let _ = writeln!(out, "TCP congestion control: {}", congestion.describe());
    }
    let _ = writeln!(out);
    let range = |v: &[f64], digits: usize| {
        let lo = v.iter().copied().fold(f64::INFINITY, f64::min);
        let hi = v.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        format!("{:.d$} [{:.d$}–{:.d$}]", med(v), lo, hi, d = digits)
    };
    let rows = [
        (
            format!("{} download, GB/s", crate::format_size(report.size)),
            &report.pagecast.download_gbps,
            nginx.map(|n| &n.download_gbps),
            2,
        ),
        (
            format!(
                "{} files, {} connections, requests/s",
                crate::format_size(report.small_size as u64),
                report.connections
            ),
            &report.pagecast.small_rps,
            nginx.map(|n| &n.small_rps),
            0,
        ),
    ];
    let wrk_rows = [
        (
            "same, driven by wrk, requests/s".to_string(),
            &report.pagecast.wrk_rps,
            nginx.map(|n| &n.wrk_rps),
            0,
        ),
        (
            "same, driven by wrk, p99 latency ms".to_string(),
            &report.pagecast.wrk_p99_ms,
            nginx.map(|n| &n.wrk_p99_ms),
            2,
        ),
    ];
    let rows = rows
        .into_iter()
        .chain(wrk_rows.into_iter().filter(|_| report.wrk.is_ok()));
    let _ = writeln!(
        out,
        "{:<44} {:>26} {:>26} {:>16}",
        "workload",
        "pagecast",
        nginx.map_or("nginx", |n| n.name.as_str()),
        "pagecast/nginx"
    );
    for (label, ours, theirs, digits) in rows {
        let (theirs_text, ratio) = match theirs {
            Some(t) => (range(t, digits), format!("{:.2}x", med(ours) / med(t))),
            None => ("-".into(), "-".into()),
        };
        let _ = writeln!(
            out,
            "{label:<44} {:>26} {theirs_text:>26} {ratio:>16}",
            range(ours, digits)
        );
    }
    if let Err(why) = &report.nginx {
        let _ = writeln!(out, "\nnginx not measured: {why}");
    }
    match &report.wrk {
        Ok(binary) => {
            let _ = writeln!(
                out,
                "\nwrk ({binary}): {} thread(s), {} connections, the same files in turn",
                report.workers, report.connections
            );
        }
        Err(why) => {
            let _ = writeln!(out, "\nwrk not used: {why}");
        }
    }
    out
}

/// The report as JSON.
pub fn json(report: &Report) -> serde_json::Value {
    let server = |s: &ServerResult| {
        serde_json::json!({
            "name": s.name,
            "download_gbps": s.download_gbps,
            "download_gbps_median": med(&s.download_gbps),
            "small_rps": s.small_rps,
            "small_rps_median": med(&s.small_rps),
            "wrk_rps": s.wrk_rps,
            "wrk_rps_median": med(&s.wrk_rps),
            "wrk_p99_ms": s.wrk_p99_ms,
            "wrk_p99_ms_median": med(&s.wrk_p99_ms),
        })
    };
    let nginx = report.nginx.as_ref().ok();
    serde_json::json!({
        "size": report.size,
        "small_size": report.small_size,
        "connections": report.connections,
        "workers": report.workers,
        "tcp_congestion": report.congestion.as_ref().map(InEffect::json),
        "pagecast": server(&report.pagecast),
        "nginx": nginx.map(server),
        "nginx_missing": report.nginx.as_ref().err(),
        "wrk": report.wrk.as_ref().ok(),
        "wrk_missing": report.wrk.as_ref().err(),
        "ratio": nginx.map(|n| serde_json::json!({
            "download": med(&report.pagecast.download_gbps) / med(&n.download_gbps),
            "small": med(&report.pagecast.small_rps) / med(&n.small_rps),
            "small_wrk": med(&report.pagecast.wrk_rps) / med(&n.wrk_rps),
            "p99_wrk": med(&report.pagecast.wrk_p99_ms) / med(&n.wrk_p99_ms),
        })),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wrk_figures_are_read_in_any_unit() {
        let text = "Running 5s test @ http://127.0.0.1:1/\n  Latency Distribution\n     50%  810.00us\n     99%    2.51ms\n  331234 requests in 5.00s, 1.41GB read\nRequests/sec:  66246.80\nTransfer/sec:    288.52MB\n";
        assert_eq!(parse_wrk(text), Some((66246.80, 2.51)));
        let slow = text.replace("2.51ms", "1.20s");
        assert_eq!(parse_wrk(&slow), Some((66246.80, 1200.0)));
        assert_eq!(parse_wrk("nothing"), None);
    }
}
