//! `pagecast bench`: every transfer method sends the same file over loopback TCP to a
//! receiver in another process, and the sender's cost is measured from outside the
//! engine: wall time until the receiver acknowledges the last byte, getrusage(2) for
//! CPU, scheduler switches and page faults, and the engine's own syscall count.

use std::fs::File;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::time::{Duration, Instant};

use pagecast_io::{Method, Options, send_file};

use crate::congestion::InEffect;
use crate::receiver::{RECEIVER_SUBCOMMAND, ReceiverKind};
use crate::sys::{Usage, usage};
use crate::{Error, raw};

/// What to measure.
#[derive(Debug, Clone)]
pub struct Config {
    /// File size in bytes.
    pub size: u64,
    /// Methods to measure, in order.
    pub methods: Vec<Method>,
    /// Receivers to measure against.
    pub receivers: Vec<ReceiverKind>,
    /// Runs per method and receiver; the median is reported.
    pub runs: usize,
    /// Also run each method's bare syscall loop.
    pub raw: bool,
    /// Directory for the test file (the system temporary directory by default).
    pub dir: Option<PathBuf>,
    /// The TCP congestion control the run's connections are under (see
    /// [`crate::congestion::enter`]), checked on every sender socket and named in the
    /// report; `None` leaves it unchecked and unreported.
    pub congestion: Option<InEffect>,
    /// The network interfaces to report, read before the process entered a network
    /// namespace of its own (which has only loopback); `None` reads them at the start
    /// of the run.
    pub interfaces: Option<Vec<Interface>>,
    /// The program to start receivers with (normally the running `pagecast`).
    pub receiver_program: PathBuf,
}

impl Config {
    /// The defaults of `pagecast bench`: 1 GiB, every method, both receivers, 5 runs.
    pub fn new(receiver_program: PathBuf) -> Config {
        Config {
            size: 1 << 30,
            methods: Method::ALL.to_vec(),
            receivers: ReceiverKind::BOTH.to_vec(),
            runs: 5,
            raw: false,
            dir: None,
            congestion: None,
            interfaces: None,
            receiver_program,
        }
    }
}

/// Engine or bare loop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Variant {
    /// Through `pagecast_io::send_file`.
    Engine,
    /// The same system calls in a bare loop.
    Raw,
}

/// One run's measurements.
#[derive(Debug, Clone, Copy, Default)]
pub struct Sample {
    /// Wall time from the first call to the receiver's acknowledgement.
    pub elapsed: Duration,
    /// Sender user CPU.
    pub user: Duration,
    /// Sender system CPU.
    pub sys: Duration,
    /// System calls the sender made.
    pub syscalls: u64,
    /// Scheduler context switches (voluntary + involuntary).
    pub context_switches: u64,
    /// Page faults (minor + major).
    pub faults: u64,
}

/// The runs of one method against one receiver.
#[derive(Debug, Clone)]
pub struct Row {
    /// The method measured.
    pub method: Method,
    /// Engine or raw loop.
    pub variant: Variant,
    /// The receiver.
    pub receiver: ReceiverKind,
    /// Why the method could not run here, if it could not.
    pub unsupported: Option<String>,
    /// Every run, in order.
    pub samples: Vec<Sample>,
}

impl Row {
    /// Per-field medians of the runs.
    pub fn median(&self) -> Option<Sample> {
        let s = &self.samples;
        Some(Sample {
            elapsed: crate::median(s.iter().map(|x| x.elapsed))?,
            user: crate::median(s.iter().map(|x| x.user))?,
            sys: crate::median(s.iter().map(|x| x.sys))?,
            syscalls: crate::median(s.iter().map(|x| x.syscalls))?,
            context_switches: crate::median(s.iter().map(|x| x.context_switches))?,
            faults: crate::median(s.iter().map(|x| x.faults))?,
        })
    }
}

/// Everything a benchmark run measured.
#[derive(Debug, Clone)]
pub struct Report {
    /// Bytes per transfer.
    pub size: u64,
    /// Runs per row.
    pub runs: usize,
    /// Scatter-gather of the interfaces involved: (interface, role, answer).
    pub interfaces: Vec<Interface>,
    /// The rows, grouped by receiver.
    pub rows: Vec<Row>,
    /// CPUs the sender and the receivers were pinned to, when the machine has two.
    pub cpus: Option<(usize, usize)>,
    /// The TCP congestion control the sender's sockets used.
    pub congestion: Option<InEffect>,
}

/// A receiver process and its connection details.
pub(crate) struct Receiver {
    child: Child,
    stdin: Option<ChildStdin>,
    pub(crate) port: u16,
}

impl Receiver {
    pub(crate) fn start(
        program: &Path,
        kind: ReceiverKind,
        cpu: Option<usize>,
    ) -> Result<Receiver, Error> {
        let mut child = Command::new(program)
            .args([RECEIVER_SUBCOMMAND, kind.name()])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .map_err(|e| Error::Receiver(format!("start {}: {e}", program.display())))?;
        if let Some(cpu) = cpu {
            // Before the receiver announces its port, so before it receives a byte.
            let pid = rustix::process::Pid::from_raw(child.id() as i32);
            let _ = rustix::thread::sched_setaffinity(pid, &one_cpu(cpu));
        }
        let stdin = child.stdin.take();
        let mut line = String::new();
        if let Some(out) = child.stdout.take() {
            BufReader::new(out)
                .read_line(&mut line)
                .map_err(|e| Error::Receiver(e.to_string()))?;
        }
        let port = line
            .trim()
            .parse()
            .map_err(|_| Error::Receiver(format!("receiver announced {line:?}, not a port")))?;
        Ok(Receiver { child, stdin, port })
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        drop(self.stdin.take());
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs the benchmark. `progress` gets a line per measured row.
pub fn run(config: &Config, mut progress: impl FnMut(&str)) -> Result<Report, Error> {
    let dir = config.dir.clone().unwrap_or_else(std::env::temp_dir);
    let file = tempfile::Builder::new()
        .prefix("pagecast-bench-")
        .tempfile_in(&dir)
        .map_err(|e| Error::File(dir.clone(), e))?;
    progress(&format!(
        "writing a {} test file in {} and reading it into the page cache",
        crate::format_size(config.size),
        dir.display()
    ));
    fill(file.as_file(), config.size).map_err(|e| Error::File(file.path().to_owned(), e))?;
    let file = file.as_file();

    let cpus = two_cpus();
    let pinned = cpus.and_then(|c| pin_current(c.0));
    let cpus = cpus.filter(|_| pinned.is_some());
    let receivers = config
        .receivers
        .iter()
        .map(|&kind| {
            Receiver::start(&config.receiver_program, kind, cpus.map(|c| c.1)).map(|r| (kind, r))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let variants: &[Variant] = if config.raw {
        &[Variant::Engine, Variant::Raw]
    } else {
        &[Variant::Engine]
    };
    let mut rows = Vec::new();
    for (kind, _) in &receivers {
        for &method in &config.methods {
            for &variant in variants {
                rows.push(Row {
                    method,
                    variant,
                    receiver: *kind,
                    unsupported: None,
                    samples: Vec::new(),
                });
            }
        }
    }
    // Run by run, every row once per round (see `round_order`).
    for round in 1..=config.runs {
        progress(&format!("round {round} of {}", config.runs));
        for i in crate::round_order(round, rows.len()) {
            let row = &mut rows[i];
            if row.unsupported.is_some() {
                continue;
            }
            let port = receivers
                .iter()
                .find(|(kind, _)| *kind == row.receiver)
                .map_or(0, |(_, r)| r.port);
            let sock = connect(port, config.congestion.as_ref())?;
            match one_run(file, config.size, row.method, row.variant, sock)? {
                Ok(sample) => row.samples.push(sample),
                Err(why) => {
                    row.unsupported = Some(why);
                    row.samples.clear();
                    progress(&progress_line(row, config.size));
                    continue;
                }
            }
            if round == config.runs {
                progress(&progress_line(row, config.size));
            }
        }
    }
    Ok(Report {
        size: config.size,
        runs: config.runs,
        interfaces: config.interfaces.clone().unwrap_or_else(interfaces),
        rows,
        cpus,
        congestion: config.congestion.clone(),
    })
}

/// A connection to a receiver, checked to run the congestion control the report names.
fn connect(port: u16, congestion: Option<&InEffect>) -> Result<TcpStream, Error> {
    let sock =
        TcpStream::connect(("127.0.0.1", port)).map_err(|e| Error::Receiver(e.to_string()))?;
    if let Some(expected) = congestion {
        let got = rustix::net::sockopt::tcp_congestion(&sock)
            .map_err(|e| Error::Congestion(format!("read TCP_CONGESTION: {e}")))?;
        if got != expected.algorithm {
            return Err(Error::Congestion(format!(
                "a sender socket has {got}, not {}",
                expected.algorithm
            )));
        }
    }
    Ok(sock)
}

fn one_cpu(cpu: usize) -> rustix::thread::CpuSet {
    let mut set = rustix::thread::CpuSet::new();
    set.set(cpu);
    set
}

/// The first two CPUs this thread may run on, if it may run on two.
pub(crate) fn two_cpus() -> Option<(usize, usize)> {
    let allowed = rustix::thread::sched_getaffinity(None).ok()?;
    let mut cpus = (0..rustix::thread::CpuSet::MAX_CPU).filter(|&c| allowed.is_set(c));
    Some((cpus.next()?, cpus.next()?))
}

/// Pins the calling thread to `cpu` until the guard drops. Benchmarks pin the two ends
/// of a transfer to different CPUs: on a 2-core machine, the scheduler placing them
/// together halves the throughput at random and swamps every difference measured.
pub(crate) fn pin_current(cpu: usize) -> Option<Pinned> {
    let previous = rustix::thread::sched_getaffinity(None).ok()?;
    rustix::thread::sched_setaffinity(None, &one_cpu(cpu)).ok()?;
    Some(Pinned { previous })
}

/// The calling thread's pinning; the previous affinity is restored on drop.
pub(crate) struct Pinned {
    previous: rustix::thread::CpuSet,
}

impl Drop for Pinned {
    fn drop(&mut self) {
        let _ = rustix::thread::sched_setaffinity(None, &self.previous);
    }
}

fn progress_line(row: &Row, size: u64) -> String {
    let what = format!(
        "{}{} → {}",
        row.method,
        if row.variant == Variant::Raw {
            " (raw)"
        } else {
            ""
        },
        row.receiver
    );
    match (&row.unsupported, row.median()) {
        (Some(why), _) => format!("  {what}: unsupported: {why}"),
        (None, Some(m)) => format!("  {what}: {:.2} GB/s", crate::gbps(size, m.elapsed)),
        (None, None) => format!("  {what}: no runs"),
    }
}

/// Writes `size` bytes of non-repeating content, flushes them to disk (so O_DIRECT
/// reads real blocks), and reads them back so every page is cached and clean.
pub(crate) fn fill(file: &File, size: u64) -> io::Result<()> {
    let mut buf = vec![0u8; 1 << 20];
    let mut state = 0x2545_f491_4f6c_dd1du64;
    let mut w = io::BufWriter::with_capacity(1 << 20, file);
    let mut left = size;
    while left > 0 {
        for word in buf.chunks_exact_mut(8) {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            word.copy_from_slice(&state.to_le_bytes());
        }
        let n = left.min(buf.len() as u64) as usize;
        w.write_all(&buf[..n])?;
        left -= n as u64;
    }
    w.flush()?;
    drop(w);
    file.sync_all()?;
    let mut total = 0;
    loop {
        let n = std::os::unix::fs::FileExt::read_at(file, &mut buf, total)?;
        if n == 0 {
            break;
        }
        total += n as u64;
    }
    if total != size {
        return Err(io::ErrorKind::UnexpectedEof.into());
    }
    Ok(())
}

/// One transfer. The outer error is a failed benchmark; the inner one says the method
/// is not supported on this machine.
fn one_run(
    file: &File,
    size: u64,
    method: Method,
    variant: Variant,
    mut sock: TcpStream,
) -> Result<Result<Sample, String>, Error> {
    let before: Usage = usage();
    let started = Instant::now();
    let syscalls = match variant {
        Variant::Engine => {
            let options = Options {
                fallback: false,
                ..Options::method(method)
            };
            match send_file(file, 0, size, &sock, &options) {
                Ok(stats) => stats.syscalls.total(),
                Err(e @ pagecast_io::Error::Unsupported { .. }) => return Ok(Err(e.to_string())),
                Err(e) => return Err(Error::Transfer(method, e)),
            }
        }
        Variant::Raw => match raw::send(method, file, size, &sock) {
            Ok(calls) => calls,
            Err(e)
                if matches!(
                    e.raw_os_error(),
                    Some(libc::ENOSYS | libc::EPERM | libc::EINVAL | libc::EOPNOTSUPP)
                ) =>
            {
                return Ok(Err(format!("raw {method}: {e}")));
            }
            Err(e) => return Err(Error::Raw(method, e)),
        },
    };
    sock.shutdown(Shutdown::Write)
        .map_err(|e| Error::Receiver(e.to_string()))?;
    let mut ack = [0u8; 8];
    sock.read_exact(&mut ack)
        .map_err(|e| Error::Receiver(format!("no acknowledgement: {e}")))?;
    let elapsed = started.elapsed();
    let used = usage() - before;
    let got = u64::from_le_bytes(ack);
    if got != size {
        return Err(Error::Receiver(format!(
            "receiver got {got} bytes of {size} by {method}"
        )));
    }
    Ok(Ok(Sample {
        elapsed,
        user: used.user,
        sys: used.sys,
        syscalls,
        context_switches: used.context_switches,
        faults: used.faults,
    }))
}

/// A network interface, its role in the run, and whether it does scatter-gather DMA.
pub type Interface = (String, &'static str, Result<bool, String>);

/// Scatter-gather of loopback (what the benchmark uses) and of the interface the
/// default route leaves by (what real clients would be served through).
pub fn interfaces() -> Vec<Interface> {
    let mut out = vec![(
        "lo".to_owned(),
        "loopback, used here",
        crate::sys::scatter_gather("lo").map_err(|e| e.to_string()),
    )];
    if let Some(name) = default_route_interface() {
        let sg = crate::sys::scatter_gather(&name).map_err(|e| e.to_string());
        out.push((name, "default route", sg));
    }
    out
}

/// The interface of the IPv4 default route, from /proc/net/route.
fn default_route_interface() -> Option<String> {
    let table = std::fs::read_to_string("/proc/net/route").ok()?;
    table.lines().skip(1).find_map(|line| {
        let mut fields = line.split_whitespace();
        let name = fields.next()?;
        (fields.next()? == "00000000").then(|| name.to_owned())
    })
}
