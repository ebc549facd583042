//! `pagecast bench log`: the two storage engines side by side. Appends of 1 MiB batches
//! of 100-byte and 1 KiB records (throughput, records per second, latency percentiles,
//! page faults taken by the appending thread), the commit log with and without warm-up;
//! then every byte read back and sent to a zero-copy receiver in another process:
//! sendfile from segment files, mmap + write from the commit log's mapping.

use std::io::{Read, Write};
use std::net::{Shutdown, TcpStream};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use pagecast_io::{Method, Options};
use pagecast_log::batch::Builder;
use pagecast_log::{Chunk, Store, TopicPartition, commitlog, segment};

use crate::Error;
use crate::receiver::ReceiverKind;
use crate::transfer::Receiver;

/// One of the engines measured.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Engine {
    /// The segment engine (Kafka model).
    Segment,
    /// The commit-log engine (RocketMQ model) without warm-up.
    CommitLog,
    /// The commit-log engine with warm-up.
    CommitLogWarm,
}

impl Engine {
    /// Every engine, in table order.
    pub const ALL: [Engine; 3] = [Engine::Segment, Engine::CommitLog, Engine::CommitLogWarm];

    /// Name in tables and JSON.
    pub fn name(self) -> &'static str {
        match self {
            Engine::Segment => "segment",
            Engine::CommitLog => "commitlog",
            Engine::CommitLogWarm => "commitlog+warm-up",
        }
    }

    /// How its reads reach the socket.
    pub fn send_method(self) -> &'static str {
        match self {
            Engine::Segment => "sendfile",
            Engine::CommitLog | Engine::CommitLogWarm => "mmap+write",
        }
    }

    fn open(self, dir: &std::path::Path) -> pagecast_log::Result<Box<dyn Store>> {
        Ok(match self {
            Engine::Segment => Box::new(segment::SegmentStore::open(
                dir,
                segment::Config::default(),
            )?),
            Engine::CommitLog | Engine::CommitLogWarm => {
                let config = commitlog::Config {
                    warm_up: self == Engine::CommitLogWarm,
                    ..Default::default()
                };
                Box::new(commitlog::CommitLogStore::open(dir, config)?)
            }
        })
    }
}

/// What to measure.
#[derive(Debug, Clone)]
pub struct Config {
    /// The pagecast executable, started as the receiver.
    pub receiver_program: PathBuf,
    /// Bytes appended per run.
    pub size: u64,
    /// Size of each appended batch.
    pub batch_bytes: u64,
    /// Record value sizes.
    pub record_sizes: Vec<usize>,
    /// Runs per engine and record size; medians are reported.
    pub runs: usize,
    /// Directory for the stores (default: the system temporary directory).
    pub dir: Option<PathBuf>,
}

impl Config {
    /// Defaults: 1 GiB per run in 1 MiB batches of 100-byte and 1 KiB records, 3 runs.
    pub fn new(receiver_program: PathBuf) -> Config {
        Config {
            receiver_program,
            size: 1 << 30,
            batch_bytes: 1 << 20,
            record_sizes: vec![100, 1024],
            runs: 3,
            dir: None,
        }
    }
}

/// One run of one engine with one record size.
#[derive(Debug, Clone, Copy)]
pub struct Sample {
    /// Bytes appended.
    pub bytes: u64,
    /// Records appended.
    pub records: u64,
    /// Time spent in append calls.
    pub append_time: Duration,
    /// Append latency percentiles: p50, p99, p99.9.
    pub latency: [Duration; 3],
    /// Minor and major page faults the appending thread took.
    pub faults: u64,
    /// Read-back throughput to the receiver, GB/s.
    pub read_gbps: f64,
}

/// Every run of one engine with one record size.
#[derive(Debug, Clone)]
pub struct Row {
    /// The engine.
    pub engine: Engine,
    /// Value size of each record.
    pub record_size: usize,
    /// The runs.
    pub samples: Vec<Sample>,
}

impl Row {
    fn median(&self, f: impl Fn(&Sample) -> f64) -> f64 {
        crate::median(self.samples.iter().map(f)).unwrap_or(f64::NAN)
    }

    /// Median append throughput, MB/s (decimal).
    pub fn mb_per_s(&self) -> f64 {
        self.median(|s| s.bytes as f64 / 1e6 / s.append_time.as_secs_f64().max(1e-9))
    }

    /// Median records per second.
    pub fn records_per_s(&self) -> f64 {
        self.median(|s| s.records as f64 / s.append_time.as_secs_f64().max(1e-9))
    }

    /// Median of each latency percentile, in microseconds.
    pub fn latency_us(&self) -> [f64; 3] {
        [0, 1, 2].map(|i| self.median(|s| s.latency[i].as_secs_f64() * 1e6))
    }

    /// Median page faults on the appending thread.
    pub fn faults(&self) -> f64 {
        self.median(|s| s.faults as f64)
    }

    /// Median read-back throughput, GB/s.
    pub fn read_gbps(&self) -> f64 {
        self.median(|s| s.read_gbps)
    }
}

/// The whole measurement.
#[derive(Debug, Clone)]
pub struct Report {
    /// Bytes appended per run.
    pub size: u64,
    /// Batch size.
    pub batch_bytes: u64,
    /// Runs per row.
    pub runs: usize,
    /// One row per engine and record size.
    pub rows: Vec<Row>,
}

/// Runs the benchmark. `progress` gets a line per finished run.
pub fn run(config: &Config, mut progress: impl FnMut(&str)) -> Result<Report, Error> {
    let dir = config.dir.clone().unwrap_or_else(std::env::temp_dir);
    let receiver = Receiver::start(&config.receiver_program, ReceiverKind::ZeroCopy, None)?;
    let mut rows: Vec<Row> = config
        .record_sizes
        .iter()
        .flat_map(|&record_size| {
            Engine::ALL.map(|engine| Row {
                engine,
                record_size,
                samples: Vec::new(),
            })
        })
        .collect();
    for round in 1..=config.runs {
        for i in crate::round_order(round, rows.len()) {
            let row = &mut rows[i];
            let store_dir = tempfile::Builder::new()
                .prefix("pagecast-bench-log-")
                .tempdir_in(&dir)
                .map_err(|e| Error::File(dir.clone(), e))?;
            let sample = one_run(
                config,
                row.engine,
                row.record_size,
                store_dir.path(),
                receiver.port,
            )?;
            progress(&format!(
                "round {round}/{}: {} {} B records: {:.0} MB/s, p99 {:.0} µs, {} faults, read {:.2} GB/s",
                config.runs,
                row.engine.name(),
                row.record_size,
                sample.bytes as f64 / 1e6 / sample.append_time.as_secs_f64().max(1e-9),
                sample.latency[1].as_secs_f64() * 1e6,
                sample.faults,
                sample.read_gbps
            ));
            row.samples.push(sample);
        }
    }
    Ok(Report {
        size: config.size,
        batch_bytes: config.batch_bytes,
        runs: config.runs,
        rows,
    })
}

/// A batch of about `batch_bytes` holding records with `record_size`-byte values.
fn template_batch(batch_bytes: u64, record_size: usize) -> (Vec<u8>, u64) {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64);
    let value = vec![b'x'; record_size];
    let mut b = Builder::new(now);
    while (b.size() + record_size + 32) as u64 <= batch_bytes {
        b.push(now, None, Some(&value));
    }
    let records = b.len() as u64;
    (b.finish(), records)
}

fn one_run(
    config: &Config,
    engine: Engine,
    record_size: usize,
    dir: &std::path::Path,
    port: u16,
) -> Result<Sample, Error> {
    let fail = |e: pagecast_log::Error| {
        Error::Receiver(format!("{} store in {}: {e}", engine.name(), dir.display()))
    };
    let tp = TopicPartition::new("bench", 0);
    let store = engine.open(dir).map_err(fail)?;
    store.create(&tp).map_err(fail)?;
    let (mut batch, per_batch) = template_batch(config.batch_bytes, record_size);
    let appends = (config.size / batch.len() as u64).max(1);
    let mut latencies = Vec::with_capacity(appends as usize);
    let before = crate::sys::thread_usage();
    let mut total = Duration::ZERO;
    for _ in 0..appends {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as i64);
        let start = Instant::now();
        store.append(&tp, &mut batch, now).map_err(fail)?;
        let took = start.elapsed();
        total += took;
        latencies.push(took);
    }
    let faults = (crate::sys::thread_usage() - before).faults;
    latencies.sort_unstable();
    let pick = |q: f64| latencies[((latencies.len() as f64 * q) as usize).min(latencies.len() - 1)];
    let bytes = appends * batch.len() as u64;
    let read_gbps = read_all(&*store, &tp, port, bytes)
        .map_err(|e| Error::Receiver(format!("read back from {}: {e}", engine.name())))?;
    store.close().map_err(fail)?;
    Ok(Sample {
        bytes,
        records: appends * per_batch,
        append_time: total,
        latency: [pick(0.5), pick(0.99), pick(0.999)],
        faults,
        read_gbps,
    })
}

/// Reads the partition from offset 0 in 1 MiB fetches and sends every chunk to the
/// receiver: file regions with sendfile, mapped slices with write(2). Returns GB/s.
fn read_all(
    store: &dyn Store,
    tp: &TopicPartition,
    port: u16,
    expected: u64,
) -> std::io::Result<f64> {
    let mut conn = TcpStream::connect(("127.0.0.1", port))?;
    let options = Options::method(Method::Sendfile);
    let end = store.offsets(tp).map_err(std::io::Error::other)?.end;
    let start = Instant::now();
    let (mut offset, mut sent) = (0i64, 0u64);
    while offset < end {
        let chunks = store
            .read(tp, offset, 1 << 20)
            .map_err(std::io::Error::other)?;
        let mut last = None;
        for chunk in &chunks {
            match chunk {
                Chunk::File {
                    file,
                    position,
                    len,
                } => {
                    pagecast_io::send_file(&**file, *position, *len, &conn, &options)
                        .map_err(std::io::Error::other)?;
                    last = Some(last_offset(file, *position, *len)?);
                }
                Chunk::Mapped(m) => {
                    conn.write_all(m.bytes())?;
                    let h = pagecast_log::batch::Header::parse(m.bytes())
                        .map_err(std::io::Error::other)?;
                    last = Some(h.next_offset());
                }
            }
            sent += chunk.len();
        }
        offset =
            last.ok_or_else(|| std::io::Error::other("a read below the end returned nothing"))?;
    }
    conn.shutdown(Shutdown::Write)?;
    let mut count = [0u8; 8];
    conn.read_exact(&mut count)?;
    let elapsed = start.elapsed();
    let received = u64::from_le_bytes(count);
    if received != sent || sent != expected {
        return Err(std::io::Error::other(format!(
            "sent {sent} of {expected} bytes, the receiver got {received}"
        )));
    }
    Ok(crate::gbps(sent, elapsed))
}

/// The offset after the last batch of a region of whole batches: walk its headers.
fn last_offset(file: &std::fs::File, position: u64, len: u64) -> std::io::Result<i64> {
    use std::os::unix::fs::FileExt;
    let mut head = [0u8; pagecast_log::batch::HEADER_LEN];
    let mut at = position;
    let mut next = 0;
    while at < position + len {
        file.read_exact_at(&mut head, at)?;
        let h = pagecast_log::batch::Header::parse(&head).map_err(std::io::Error::other)?;
        next = h.next_offset();
        at += h.size();
    }
    Ok(next)
}

/// The report as a table.
pub fn text(report: &Report) -> String {
    let mut out = format!(
        "pagecast bench log: {} appended per run in {} batches, {} runs, medians\n\n",
        crate::format_size(report.size),
        crate::format_size(report.batch_bytes),
        report.runs
    );
    out.push_str(&format!(
        "{:<18} {:>7} {:>9} {:>12} {:>9} {:>9} {:>9} {:>12} {:>10}\n",
        "append",
        "record",
        "MB/s",
        "records/s",
        "p50 µs",
        "p99 µs",
        "p99.9 µs",
        "page faults",
        "read GB/s"
    ));
    for row in &report.rows {
        let [p50, p99, p999] = row.latency_us();
        out.push_str(&format!(
            "{:<18} {:>7} {:>9.0} {:>12.0} {:>9.0} {:>9.0} {:>9.0} {:>12.0} {:>10.2}\n",
            row.engine.name(),
            crate::format_size(row.record_size as u64),
            row.mb_per_s(),
            row.records_per_s(),
            p50,
            p99,
            p999,
            row.faults(),
            row.read_gbps()
        ));
    }
    out.push_str(
        "\npage faults: taken by the appending thread during the appends (getrusage RUSAGE_THREAD).\n\
         read: every batch read back in 1 MiB fetches and sent to a zero-copy receiver in another\n\
         process: segment regions with sendfile, commit-log slices with mmap + write.\n",
    );
    out
}

/// The report as JSON.
pub fn json(report: &Report) -> serde_json::Value {
    serde_json::json!({
        "size": report.size,
        "batch_bytes": report.batch_bytes,
        "runs": report.runs,
        "rows": report.rows.iter().map(|row| {
            let [p50, p99, p999] = row.latency_us();
            serde_json::json!({
                "engine": row.engine.name(),
                "record_size": row.record_size,
                "append_mb_per_s": row.mb_per_s(),
                "records_per_s": row.records_per_s(),
                "latency_us": { "p50": p50, "p99": p99, "p99.9": p999 },
                "page_faults": row.faults(),
                "read_method": row.engine.send_method(),
                "read_gbps": row.read_gbps(),
            })
        }).collect::<Vec<_>>(),
    })
}
