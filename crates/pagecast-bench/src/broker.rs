//! `pagecast bench broker`: the broker under load from a built-in Kafka client, on both
//! storage engines side by side.
//!
//! Each run starts `pagecast broker` in its own process on a fresh data directory and
//! measures three phases: producers append the configured volume (throughput, and the
//! latency of every produce request), then two consumers read it all back, one that
//! decodes the responses and checks every batch's CRC as a real consumer does, and one
//! that splices the record bytes from its socket into /dev/null, so that the broker's
//! fetch path, not the consumer's copy, sets the pace. The broker's CPU time comes from
//! /proc for each phase, and is compared with the CPU per GB of the bare system-call
//! loop of its transfer method (`pagecast bench --raw`): sendfile for the segment
//! engine, mmap+write for the commit log. When confluent-kafka is installed, the same
//! load is repeated with its producer and consumer.
//!
//! With a peer (`--peer kafka`, or `--peer HOST:PORT` for any running broker) the same
//! runs go to it too, alternated with pagecast's run by run: a fresh Apache Kafka per
//! run (started by the repository's `scripts/kafka`, its shipped defaults and 1 GiB heap,
//! data on the same filesystem), whose CPU, peak resident memory and time from launch to
//! its first Metadata answer are read as pagecast's are.

use std::collections::VecDeque;
use std::fs::File;
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use pagecast_io::Method;
use pagecast_kafka::broker::StorageKind;
use pagecast_kafka::client::{self, Client, SplicePipe};
use pagecast_kafka::messages::create_topics::{
    CreatableTopic, CreateTopicsRequest, CreateTopicsResponse,
};
use pagecast_kafka::messages::delete_topics::{DeleteTopicsRequest, DeleteTopicsResponse};
use pagecast_kafka::messages::fetch::{FetchPartition, FetchRequest, FetchResponse, FetchTopic};
use pagecast_kafka::messages::metadata::{MetadataRequest, MetadataRequestTopic, MetadataResponse};
use pagecast_kafka::messages::produce::{
    PartitionProduceData, ProduceRequest, ProduceResponse, TopicProduceData,
};
use pagecast_log::batch::{self, Builder};

use crate::congestion::InEffect;
use crate::receiver::ReceiverKind;
use crate::{Error, broker_group, broker_perf, format_size, round_order, transfer};

/// The topic the load goes to.
pub(crate) const TOPIC: &str = "bench";
/// Produce requests a producer keeps in flight (Kafka's
/// `max.in.flight.requests.per.connection` default).
const IN_FLIGHT: usize = 5;
/// Bytes a consumer asks for per partition and per fetch.
const PARTITION_FETCH_BYTES: i32 = 8 << 20;
/// Most bytes the confluent-kafka runs move: its Python loop costs a microsecond or
/// more per record, so it gets a smaller volume than the built-in client.
const CONFLUENT_MAX_BYTES: u64 = 100 << 20;

/// What to measure.
#[derive(Debug, Clone)]
pub struct Config {
    /// The pagecast executable: the broker and the benchmark's receiver.
    pub program: PathBuf,
    /// Engines, in order.
    pub engines: Vec<StorageKind>,
    /// Producer connections.
    pub producers: usize,
    /// Consumer connections (each consumer kind uses this many).
    pub consumers: usize,
    /// Partitions of the topic.
    pub partitions: i32,
    /// Value bytes of each record.
    pub record_size: usize,
    /// Bytes of each record batch.
    pub batch_bytes: usize,
    /// acks of every produce request: 0, 1 or -1.
    pub acks: i16,
    /// Record batch bytes produced per run.
    pub bytes: u64,
    /// Runs per engine; medians are reported.
    pub runs: usize,
    /// Directory for the brokers' data (default: the system temporary directory).
    pub dir: Option<PathBuf>,
    /// Whether to repeat the load with confluent-kafka when it is installed.
    pub confluent: bool,
    /// Members of a consumer group that also read the volume, and then lose one.
    pub group: Option<usize>,
    /// Another broker to measure beside pagecast, run by run.
    pub peer: Option<Peer>,
    /// Whether to run Kafka's ProducerPerformance and ConsumerPerformance against
    /// every broker too, when the peer is Kafka (whose classpath they come from).
    pub kafka_tools: bool,
    /// The TCP congestion control the run's connections are under (see
    /// [`crate::congestion::enter`]), for the report.
    pub congestion: Option<InEffect>,
}

/// A broker measured beside pagecast.
#[derive(Debug, Clone)]
pub enum Peer {
    /// Apache Kafka, a fresh one per run, started and stopped by this script
    /// (`scripts/kafka` of the repository).
    Kafka { script: PathBuf },
    /// A broker already running there. Its process is not ours to measure: no CPU,
    /// memory or start time, and the topic is deleted after each run.
    Addr(SocketAddr),
}

/// What a row measured.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// pagecast on this engine.
    Pagecast(StorageKind),
    /// Apache Kafka.
    Kafka,
    /// A running broker.
    Addr(SocketAddr),
}

impl Target {
    /// The row's name.
    pub fn name(&self) -> String {
        match self {
            Target::Pagecast(engine) => engine.name().to_owned(),
            Target::Kafka => "kafka".to_owned(),
            Target::Addr(addr) => addr.to_string(),
        }
    }
}

impl Config {
    /// The defaults: both engines, 1 producer, 1 consumer, 4 partitions, 100-byte
    /// records in 1 MiB batches (librdkafka's `batch.size`), acks=1, 1 GiB, 3 runs.
    pub fn new(program: PathBuf) -> Config {
        Config {
            program,
            engines: vec![StorageKind::Segment, StorageKind::CommitLog],
            producers: 1,
            consumers: 1,
            partitions: 4,
            record_size: 100,
            batch_bytes: 1 << 20,
            acks: 1,
            bytes: 1 << 30,
            runs: 3,
            dir: None,
            confluent: true,
            group: None,
            peer: None,
            kafka_tools: true,
            congestion: None,
        }
    }
}

/// One measured phase.
#[derive(Debug, Clone, Default)]
pub struct Phase {
    /// Wall time.
    pub elapsed: Duration,
    /// Record batch bytes moved (record value bytes for Kafka's tools, which count
    /// those).
    pub bytes: u64,
    /// Records moved.
    pub records: u64,
    /// Broker CPU (user + system) during the phase.
    pub broker_cpu: Duration,
    /// Produce request latencies, sorted (empty for consume phases and acks=0).
    pub latencies: Vec<Duration>,
    /// Latency percentiles p50, p99 and p99.9 in milliseconds, as a tool that keeps its
    /// samples to itself reported them (Kafka's ProducerPerformance).
    pub reported_latency_ms: Option<[f64; 3]>,
}

impl Phase {
    /// Decimal megabytes per second.
    pub fn mb_per_s(&self) -> f64 {
        self.bytes as f64 / 1e6 / self.elapsed.as_secs_f64().max(1e-9)
    }

    /// Records per second.
    pub fn records_per_s(&self) -> f64 {
        self.records as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }

    /// Broker CPU seconds per decimal GB moved.
    pub fn cpu_per_gb(&self) -> f64 {
        self.broker_cpu.as_secs_f64() / (self.bytes as f64 / 1e9).max(1e-12)
    }

    /// A latency percentile (0 to 100), in milliseconds.
    pub fn latency_ms(&self, percentile: f64) -> f64 {
        if self.latencies.is_empty() {
            let reported = [50.0, 99.0, 99.9].iter().position(|&p| p == percentile);
            return match (self.reported_latency_ms, reported) {
                (Some(ms), Some(i)) => ms[i],
                _ => f64::NAN,
            };
        }
        let i = ((self.latencies.len() as f64 * percentile / 100.0).ceil() as usize)
            .clamp(1, self.latencies.len());
        self.latencies[i - 1].as_secs_f64() * 1e3
    }
}

/// One run of one engine.
#[derive(Debug, Clone, Default)]
pub struct Run {
    /// Producing the volume.
    pub produce: Phase,
    /// Reading it back, decoding and CRC-checking every batch (for Kafka's tools,
    /// ConsumerPerformance, which leaves CRCs unchecked).
    pub decoding: Phase,
    /// Reading it back, splicing record bytes into /dev/null.
    pub zero_copy: Phase,
    /// Reading it back in a consumer group, then losing a member (with `--group`), in
    /// the classic protocol and in the consumer protocol.
    pub group: Vec<(broker_group::Protocol, broker_group::GroupPhase)>,
    /// The broker's peak resident memory (VmHWM), for a process of ours.
    pub peak_rss_kib: Option<u64>,
    /// From the broker's launch to its first Metadata answer, for a process of ours.
    pub start: Option<Duration>,
}

/// Every run of one engine with one client.
#[derive(Debug, Clone)]
pub struct Row {
    /// The broker measured.
    pub target: Target,
    /// `pagecast` (the built-in client), `confluent-kafka`, or `kafka-perf` (Kafka's
    /// ProducerPerformance and ConsumerPerformance).
    pub client: &'static str,
    /// The runs.
    pub runs: Vec<Run>,
    /// CPU seconds per GB of the engine's transfer method in a bare loop.
    pub bare_cpu_per_gb: f64,
}

impl Row {
    /// The median of `f` over the runs.
    pub fn median(&self, f: impl Fn(&Run) -> f64) -> f64 {
        crate::median(self.runs.iter().map(f).filter(|v| !v.is_nan())).unwrap_or(f64::NAN)
    }
}

/// The whole measurement.
#[derive(Debug, Clone)]
pub struct Report {
    /// What was measured.
    pub config: Config,
    /// Records per batch.
    pub records_per_batch: usize,
    /// Bytes per batch as built.
    pub batch_size: usize,
    /// One row per engine and client.
    pub rows: Vec<Row>,
    /// Why confluent-kafka was not measured, if it was not.
    pub confluent_skipped: Option<String>,
    /// Why Kafka's perf tools were not run, if they were not.
    pub kafka_tools_skipped: Option<String>,
}

/// The transfer method each engine's fetches use.
pub fn fetch_method(engine: StorageKind) -> Method {
    match engine {
        StorageKind::Segment => Method::Sendfile,
        StorageKind::CommitLog => Method::MmapWrite,
    }
}

/// The broker measured in a run.
pub(crate) struct Broker {
    process: Process,
    pub(crate) addr: SocketAddr,
    /// From launch to the first Metadata answer (none for a broker not ours).
    pub(crate) start: Option<Duration>,
}

enum Process {
    Pagecast {
        child: Child,
        /// Removed when the broker is dropped.
        _data: tempfile::TempDir,
    },
    Kafka {
        script: PathBuf,
        dir: tempfile::TempDir,
        pid: u32,
    },
    External,
    /// Stopped already.
    Stopped,
}

/// Asks `addr` for metadata until it answers, for at most `limit`.
fn first_metadata(addr: SocketAddr, limit: Duration) -> Result<(), Error> {
    let until = Instant::now() + limit;
    loop {
        let answer = Client::connect(addr, "pagecast-bench").and_then(|mut c| {
            c.call::<_, MetadataResponse>(
                client::METADATA_VERSION,
                &MetadataRequest {
                    topics: Some(Vec::new()),
                    ..Default::default()
                },
            )
        });
        match answer {
            Ok(_) => return Ok(()),
            Err(e) if Instant::now() >= until => {
                return Err(Error::Receiver(format!(
                    "no Metadata answer from {addr}: {e}"
                )));
            }
            Err(_) => std::thread::sleep(Duration::from_millis(2)),
        }
    }
}

impl Broker {
    pub(crate) fn start(config: &Config, dir: &Path, target: &Target) -> Result<Broker, Error> {
        match target {
            Target::Pagecast(engine) => Broker::start_pagecast(config, dir, *engine),
            Target::Kafka => {
                let Some(Peer::Kafka { script }) = &config.peer else {
                    return Err(Error::Receiver("no Kafka to start".into()));
                };
                Broker::start_kafka(script, dir)
            }
            Target::Addr(addr) => Ok(Broker {
                process: Process::External,
                addr: *addr,
                start: None,
            }),
        }
    }

    fn start_pagecast(config: &Config, dir: &Path, engine: StorageKind) -> Result<Broker, Error> {
        let program = &config.program;
        let partitions = config.partitions;
        let data = tempfile::Builder::new()
            .prefix("pagecast-bench-broker-")
            .tempdir_in(dir)
            .map_err(|e| Error::File(dir.to_owned(), e))?;
        let launched = Instant::now();
        let mut child = Command::new(program)
            .args([
                "broker",
                "--addr",
                "127.0.0.1:0",
                "--storage",
                engine.name(),
            ])
            .arg("--data")
            .arg(data.path())
            .args(["--default-partitions", &partitions.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| Error::Receiver(format!("start {} broker: {e}", program.display())))?;
        let mut line = String::new();
        let stderr = child
            .stderr
            .take()
            .ok_or_else(|| Error::Receiver("broker stderr".into()))?;
        let mut stderr = BufReader::new(stderr);
        // Lines before it (what recovery did) are passed on.
        while !line.contains("listening on ") {
            if !line.is_empty() {
                eprint!("  broker: {line}");
            }
            line.clear();
            let n = stderr
                .read_line(&mut line)
                .map_err(|e| Error::Receiver(format!("broker: {e}")))?;
            if n == 0 {
                return Err(Error::Receiver(
                    "the broker ended before it listened".into(),
                ));
            }
        }
        let addr = line
            .split("listening on ")
            .nth(1)
            .and_then(|s| s.split(',').next())
            .and_then(|a| a.parse().ok())
            .ok_or_else(|| Error::Receiver(format!("the broker said {line:?}")))?;
        // Keep draining what it prints, so it never blocks on a full pipe.
        std::thread::spawn(move || {
            for l in stderr.lines() {
                match l {
                    Ok(l) => eprintln!("  broker: {l}"),
                    Err(_) => return,
                }
            }
        });
        // Owned before anything can fail, so that a failure stops it.
        let mut broker = Broker {
            process: Process::Pagecast { child, _data: data },
            addr,
            start: None,
        };
        first_metadata(addr, Duration::from_secs(60))?;
        broker.start = Some(launched.elapsed());
        Ok(broker)
    }

    /// Formats a directory and starts Kafka with `script` (scripts/kafka), which writes
    /// the wall-clock time it launched the JVM to `launched-ns`.
    fn start_kafka(script: &Path, dir: &Path) -> Result<Broker, Error> {
        let data = tempfile::Builder::new()
            .prefix("pagecast-bench-kafka-")
            .tempdir_in(dir)
            .map_err(|e| Error::File(dir.to_owned(), e))?;
        let out = Command::new(script)
            .arg("start")
            .arg(data.path())
            .stderr(Stdio::inherit())
            .output()
            .map_err(|e| Error::Receiver(format!("{}: {e}", script.display())))?;
        let printed = String::from_utf8_lossy(&out.stdout);
        if !out.status.success() {
            return Err(Error::Receiver(format!(
                "{} start failed ({}): {printed}",
                script.display(),
                out.status
            )));
        }
        let addr: SocketAddr = printed.trim().parse().map_err(|_| {
            Error::Receiver(format!("{} start printed {printed:?}", script.display()))
        })?;
        let read = |name: &str| std::fs::read_to_string(data.path().join(name)).unwrap_or_default();
        let Ok(pid) = read("pid").trim().parse::<u32>() else {
            let _ = Command::new(script).arg("stop").arg(data.path()).status();
            return Err(Error::Receiver("scripts/kafka wrote no pid".into()));
        };
        let launched_ns: u128 = read("launched-ns").trim().parse().unwrap_or(0);
        // Owned before anything can fail, so that a failure stops it.
        let mut broker = Broker {
            process: Process::Kafka {
                script: script.to_owned(),
                dir: data,
                pid,
            },
            addr,
            start: None,
        };
        first_metadata(addr, Duration::from_secs(60))?;
        let now_ns = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        broker.start = (launched_ns > 0 && now_ns > launched_ns)
            .then(|| Duration::from_nanos((now_ns - launched_ns) as u64));
        Ok(broker)
    }

    /// The broker's process ID, if it is ours.
    fn pid(&self) -> Option<u32> {
        match &self.process {
            Process::Pagecast { child, .. } => Some(child.id()),
            Process::Kafka { pid, .. } => Some(*pid),
            Process::External | Process::Stopped => None,
        }
    }

    /// User + system CPU the broker process has used (zero for a broker not ours).
    pub(crate) fn cpu(&self) -> Duration {
        self.pid().and_then(process_cpu).unwrap_or_default()
    }

    /// Peak resident memory of the broker process, KiB.
    pub(crate) fn peak_rss_kib(&self) -> Option<u64> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid()?)).ok()?;
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmHWM:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
    }

    /// Stops the broker cleanly; a broker not ours loses the benchmark's topic instead.
    pub(crate) fn stop(mut self) {
        self.shut(true);
    }

    /// Stops the broker, with SIGTERM and a wait if `clean`, else with SIGKILL. Once:
    /// the process is forgotten first.
    fn shut(&mut self, clean: bool) {
        match std::mem::replace(&mut self.process, Process::Stopped) {
            Process::Pagecast { mut child, .. } => {
                if clean {
                    let pid = rustix::process::Pid::from_child(&child);
                    let _ = rustix::process::kill_process(pid, rustix::process::Signal::TERM);
                } else {
                    let _ = child.kill();
                }
                let _ = child.wait();
            }
            Process::Kafka { script, dir, .. } => {
                let _ = Command::new(&script).arg("stop").arg(dir.path()).status();
            }
            Process::External => {
                let _ = delete_topic(self.addr);
            }
            Process::Stopped => {}
        }
    }
}

impl Drop for Broker {
    /// A run that failed midway: the broker is killed (a running one loses the topic).
    fn drop(&mut self) {
        self.shut(false);
    }
}

/// The threads of process `pid`.
fn threads(pid: u32) -> Vec<rustix::process::Pid> {
    std::fs::read_dir(format!("/proc/{pid}/task"))
        .map(|dir| {
            dir.filter_map(|e| e.ok()?.file_name().to_str()?.parse::<i32>().ok())
                .filter_map(rustix::process::Pid::from_raw)
                .collect()
        })
        .unwrap_or_default()
}

/// Pins every thread of process `pid` to `cpu`; returns the affinity they had.
fn pin_process(pid: u32, cpu: usize) -> Option<rustix::thread::CpuSet> {
    let tids = threads(pid);
    let previous = rustix::thread::sched_getaffinity(tids.first().copied()).ok()?;
    let mut one = rustix::thread::CpuSet::new();
    one.set(cpu);
    for tid in tids {
        let _ = rustix::thread::sched_setaffinity(Some(tid), &one);
    }
    Some(previous)
}

/// Gives every thread of process `pid` the affinity `previous` back.
fn unpin_process(pid: u32, previous: &rustix::thread::CpuSet) {
    for tid in threads(pid) {
        let _ = rustix::thread::sched_setaffinity(Some(tid), previous);
    }
}

/// User + system CPU of process `pid`, from /proc/PID/stat.
fn process_cpu(pid: u32) -> Option<Duration> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name, which is in parentheses and may hold spaces.
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split(' ').collect();
    let ticks: u64 = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    let hz = rustix::param::clock_ticks_per_second();
    Some(Duration::from_secs_f64(ticks as f64 / hz as f64))
}

fn kafka_error(what: &str, code: i16) -> Error {
    let code = pagecast_kafka::ErrorCode(code);
    let code = format!("{} ({})", code.0, code.name());
    Error::Receiver(format!("{what}: Kafka error code {code}"))
}

fn io_error(what: &str) -> impl Fn(std::io::Error) -> Error + '_ {
    move |e| Error::Receiver(format!("{what}: {e}"))
}

/// Creates the benchmark's topic and waits until every partition has a leader (Kafka's
/// metadata follows its controller a moment later). A topic of the same name still
/// being deleted (on a running peer) is waited for.
pub(crate) fn create_topic(addr: SocketAddr, partitions: i32) -> Result<(), Error> {
    let mut c = Client::connect(addr, "pagecast-bench").map_err(io_error("connect"))?;
    let until = Instant::now() + Duration::from_secs(60);
    loop {
        let resp: CreateTopicsResponse = c
            .call(
                client::CREATE_TOPICS_VERSION,
                &CreateTopicsRequest {
                    topics: vec![CreatableTopic {
                        name: TOPIC.into(),
                        num_partitions: partitions,
                        replication_factor: 1,
                        ..Default::default()
                    }],
                    timeout_ms: 30_000,
                    ..Default::default()
                },
            )
            .map_err(io_error("create the topic"))?;
        match resp.topics.first().map(|t| t.error_code) {
            Some(0) => break,
            // TOPIC_ALREADY_EXISTS while an earlier run's topic is deleted.
            Some(36) if Instant::now() < until => std::thread::sleep(Duration::from_millis(200)),
            code => return Err(kafka_error("create the topic", code.unwrap_or(-1))),
        }
    }
    loop {
        let meta: MetadataResponse = c
            .call(
                client::METADATA_VERSION,
                &MetadataRequest {
                    topics: Some(vec![MetadataRequestTopic {
                        name: Some(TOPIC.into()),
                        ..Default::default()
                    }]),
                    ..Default::default()
                },
            )
            .map_err(io_error("metadata"))?;
        // Metadata names the leader before the leader takes requests: every partition
        // must also answer ListOffsets.
        let ready = meta.topics.first().is_some_and(|t| {
            t.error_code == 0
                && t.partitions.len() == partitions as usize
                && t.partitions
                    .iter()
                    .all(|p| p.error_code == 0 && p.leader_id >= 0)
        }) && log_ends(&mut c, partitions)?
            .iter()
            .all(|(code, _)| *code == 0);
        if ready {
            return Ok(());
        }
        if Instant::now() >= until {
            return Err(Error::Receiver("the topic has no leader after 60 s".into()));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Deletes the benchmark's topic (after a run on a broker not ours).
fn delete_topic(addr: SocketAddr) -> Result<(), Error> {
    let mut c = Client::connect(addr, "pagecast-bench").map_err(io_error("connect"))?;
    let _: DeleteTopicsResponse = c
        .call(
            4,
            &DeleteTopicsRequest {
                topic_names: vec![TOPIC.into()],
                timeout_ms: 30_000,
                ..Default::default()
            },
        )
        .map_err(io_error("delete the topic"))?;
    Ok(())
}

/// The batch every produce request carries, and its record count.
fn bench_batch(record_size: usize, batch_bytes: usize) -> (Vec<u8>, usize) {
    let value = vec![b'x'; record_size];
    // Now, not a fixed date: retention deletes segments whose records are a week old.
    let ts = pagecast_kafka::broker::now_ms();
    let mut b = Builder::new(ts);
    loop {
        b.push(ts, None, Some(&value));
        if b.size() + record_size + 16 > batch_bytes {
            break;
        }
    }
    (b.finish(), b.len())
}

/// Partitions of consumer or producer `i` of `n`.
fn share(i: usize, n: usize, partitions: i32) -> Vec<i32> {
    (0..partitions).filter(|p| *p as usize % n == i).collect()
}

fn produce(
    config: &Config,
    addr: SocketAddr,
    batch: &[u8],
    batches: u64,
) -> Result<Vec<Duration>, Error> {
    let handles: Vec<_> = (0..config.producers)
        .map(|i| {
            let mine = share(i, config.producers, config.partitions);
            let count = batches / config.producers as u64
                + u64::from((i as u64) < batches % config.producers as u64);
            let batch = batch.to_vec();
            let acks = config.acks;
            std::thread::spawn(move || produce_one(addr, &mine, &batch, count, acks))
        })
        .collect();
    let mut latencies = Vec::new();
    for h in handles {
        latencies.extend(
            h.join()
                .map_err(|_| Error::Receiver("a producer panicked".into()))??,
        );
    }
    latencies.sort_unstable();
    Ok(latencies)
}

fn produce_one(
    addr: SocketAddr,
    partitions: &[i32],
    batch: &[u8],
    count: u64,
    acks: i16,
) -> Result<Vec<Duration>, Error> {
    let mut c = Client::connect(addr, "pagecast-bench-producer").map_err(io_error("connect"))?;
    let mut frames: Vec<Vec<u8>> = partitions
        .iter()
        .map(|&p| {
            c.frame(
                client::PRODUCE_VERSION,
                &ProduceRequest {
                    transactional_id: None,
                    acks,
                    timeout_ms: 30_000,
                    topic_data: vec![TopicProduceData {
                        name: TOPIC.into(),
                        partition_data: vec![PartitionProduceData {
                            index: p,
                            records: Some(pagecast_kafka::codec::Bytes(batch.to_vec())),
                        }],
                    }],
                },
            )
        })
        .collect();
    let mut in_flight: VecDeque<(i32, Instant)> = VecDeque::new();
    let mut latencies = Vec::with_capacity(count as usize);
    let mut sent = 0u64;
    while sent < count || !in_flight.is_empty() {
        while sent < count && (acks == 0 || in_flight.len() < IN_FLIGHT) {
            let frame = &mut frames[sent as usize % partitions.len()];
            let id = c.send_frame(frame).map_err(io_error("produce"))?;
            if acks != 0 {
                in_flight.push_back((id, Instant::now()));
            }
            sent += 1;
        }
        if let Some((id, at)) = in_flight.pop_front() {
            let (got, resp): (i32, ProduceResponse) = c
                .receive(client::PRODUCE_VERSION)
                .map_err(io_error("produce response"))?;
            latencies.push(at.elapsed());
            if got != id {
                return Err(Error::Receiver(format!(
                    "produce response {got} to request {id}"
                )));
            }
            for p in resp.responses.iter().flat_map(|t| &t.partition_responses) {
                if p.error_code != 0 {
                    return Err(kafka_error("produce", p.error_code));
                }
            }
        }
    }
    Ok(latencies)
}

/// Waits until every partition holds `records` records (after acks=0 produce).
/// Each partition's error code and log end, by ListOffsets.
fn log_ends(c: &mut Client, partitions: i32) -> Result<Vec<(i16, i64)>, Error> {
    use pagecast_kafka::messages::list_offsets::*;
    let resp: ListOffsetsResponse = c
        .call(
            client::LIST_OFFSETS_VERSION,
            &ListOffsetsRequest {
                replica_id: -1,
                isolation_level: 0,
                topics: vec![ListOffsetsTopic {
                    name: TOPIC.into(),
                    partitions: (0..partitions)
                        .map(|p| ListOffsetsPartition {
                            partition_index: p,
                            timestamp: LATEST,
                            ..Default::default()
                        })
                        .collect(),
                }],
            },
        )
        .map_err(io_error("list offsets"))?;
    Ok(resp
        .topics
        .iter()
        .flat_map(|t| t.partitions.iter().map(|p| (p.error_code, p.offset)))
        .collect())
}

fn wait_for_end(addr: SocketAddr, partitions: i32, expected: &[i64]) -> Result<(), Error> {
    let mut c = Client::connect(addr, "pagecast-bench").map_err(io_error("connect"))?;
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let ends: Vec<i64> = log_ends(&mut c, partitions)?
            .into_iter()
            .map(|(_, end)| end)
            .collect();
        if ends == expected {
            return Ok(());
        }
        if Instant::now() > deadline {
            return Err(Error::Receiver(format!(
                "acks=0: the log ends at {ends:?}, not {expected:?}"
            )));
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// A Fetch (v11) of `topic`'s partitions from the given offsets.
pub(crate) fn fetch_request(topic: &str, wanted: &[(i32, i64)]) -> FetchRequest {
    FetchRequest {
        replica_id: -1,
        max_wait_ms: 500,
        min_bytes: 1,
        max_bytes: 64 << 20,
        isolation_level: 0,
        session_id: 0,
        session_epoch: -1,
        topics: vec![FetchTopic {
            topic: topic.into(),
            partitions: wanted
                .iter()
                .map(|&(partition, fetch_offset)| FetchPartition {
                    partition,
                    fetch_offset,
                    partition_max_bytes: PARTITION_FETCH_BYTES,
                    ..Default::default()
                })
                .collect(),
            ..Default::default()
        }],
        ..Default::default()
    }
}

/// Reads every partition to `ends` with `consumers` connections; returns bytes and
/// records read.
fn consume(
    config: &Config,
    addr: SocketAddr,
    ends: &[i64],
    zero_copy: bool,
    geometry: (u64, u64),
) -> Result<(u64, u64), Error> {
    let handles: Vec<_> = (0..config.consumers)
        .map(|i| {
            let mine: Vec<(i32, i64)> = share(i, config.consumers, config.partitions)
                .into_iter()
                .map(|p| (p, ends[p as usize]))
                .collect();
            let cpu = crate::transfer::two_cpus().map(|c| c.1);
            std::thread::spawn(move || {
                let _pinned = cpu.and_then(crate::transfer::pin_current);
                consume_one(addr, &mine, zero_copy, geometry)
            })
        })
        .collect();
    let (mut bytes, mut records) = (0, 0);
    for h in handles {
        let (b, r) = h
            .join()
            .map_err(|_| Error::Receiver("a consumer panicked".into()))??;
        bytes += b;
        records += r;
    }
    Ok((bytes, records))
}

/// One consumer. The zero-copy one never sees record bytes, so it derives offsets
/// from the batch geometry (every batch of the run is the same size and count).
fn consume_one(
    addr: SocketAddr,
    partitions: &[(i32, i64)],
    zero_copy: bool,
    (batch_size, per_batch): (u64, u64),
) -> Result<(u64, u64), Error> {
    let mut c = Client::connect(addr, "pagecast-bench-consumer").map_err(io_error("connect"))?;
    let pipe = SplicePipe::new().map_err(io_error("pipe"))?;
    let null = File::options()
        .write(true)
        .open("/dev/null")
        .map_err(io_error("/dev/null"))?;
    let mut next: Vec<(i32, i64, i64)> = partitions.iter().map(|&(p, end)| (p, 0, end)).collect();
    let (mut bytes, mut records) = (0u64, 0u64);
    while next.iter().any(|(_, at, end)| at < end) {
        let wanted: Vec<(i32, i64)> = next
            .iter()
            .filter(|(_, at, end)| at < end)
            .map(|&(p, at, _)| (p, at))
            .collect();
        let req = fetch_request(TOPIC, &wanted);
        if zero_copy {
            for got in c
                .fetch_splice(&req, &pipe, &null)
                .map_err(io_error("fetch"))?
            {
                if got.error != 0 {
                    return Err(kafka_error(
                        &format!("fetch of partition {} at {wanted:?}", got.partition),
                        got.error,
                    ));
                }
                // Kafka may end a partition's data with part of a batch (to fit
                // the partition's byte limit), as clients expect: it is read whole
                // by the next fetch. pagecast sends whole batches only.
                let whole = got.bytes / batch_size;
                let n = whole * per_batch;
                if let Some(slot) = next.iter_mut().find(|(p, _, _)| *p == got.partition) {
                    slot.1 += n as i64;
                }
                bytes += whole * batch_size;
                records += n;
            }
        } else {
            let resp: FetchResponse = c
                .call(client::FETCH_VERSION, &req)
                .map_err(io_error("fetch"))?;
            for p in resp.responses.iter().flat_map(|t| &t.partitions) {
                if p.error_code != 0 {
                    return Err(kafka_error(
                        &format!("fetch of partition {} at {wanted:?}", p.partition_index),
                        p.error_code,
                    ));
                }
                let Some(data) = &p.records else { continue };
                for item in batch::split(&data.0) {
                    let (_, h) = match item {
                        Ok(found) => found,
                        // A part of a batch at the end (Kafka): the next fetch reads it.
                        Err((_, batch::BatchError::Truncated { .. })) => break,
                        Err((at, e)) => {
                            return Err(Error::Receiver(format!(
                                "fetched batch at byte {at}: {e}"
                            )));
                        }
                    };
                    records += h.record_count as u64;
                    bytes += h.size();
                    if let Some(slot) = next.iter_mut().find(|(q, _, _)| *q == p.partition_index) {
                        slot.1 = h.next_offset();
                    }
                }
            }
        }
    }
    Ok((bytes, records))
}

/// One run of the built-in client against a fresh broker.
fn run_once(
    config: &Config,
    dir: &Path,
    target: &Target,
    batch: &[u8],
    per_batch: usize,
) -> Result<Run, Error> {
    let broker = Broker::start(config, dir, target)?;
    create_topic(broker.addr, config.partitions)?;
    let batches = config
        .bytes
        .div_ceil(batch.len() as u64)
        .max(config.partitions as u64);
    let per_partition: Vec<i64> = (0..config.partitions)
        .map(|p| {
            // Producer i sends its count round-robin over its partitions.
            let mut n = 0u64;
            for i in 0..config.producers {
                let mine = share(i, config.producers, config.partitions);
                let count = batches / config.producers as u64
                    + u64::from((i as u64) < batches % config.producers as u64);
                if let Some(k) = mine.iter().position(|&q| q == p) {
                    let m = mine.len() as u64;
                    n += count / m + u64::from((k as u64) < count % m);
                }
            }
            (n * per_batch as u64) as i64
        })
        .collect();

    let cpu = broker.cpu();
    let start = Instant::now();
    let latencies = produce(config, broker.addr, batch, batches)?;
    if config.acks == 0 {
        wait_for_end(broker.addr, config.partitions, &per_partition)?;
    }
    let produce = Phase {
        elapsed: start.elapsed(),
        bytes: batches * batch.len() as u64,
        records: batches * per_batch as u64,
        broker_cpu: broker.cpu().saturating_sub(cpu),
        latencies,
        reported_latency_ms: None,
    };

    let geometry = (batch.len() as u64, per_batch as u64);
    let phase = |zero_copy: bool| -> Result<Phase, Error> {
        let cpu = broker.cpu();
        let start = Instant::now();
        let (bytes, records) = consume(config, broker.addr, &per_partition, zero_copy, geometry)?;
        Ok(Phase {
            elapsed: start.elapsed(),
            bytes,
            records,
            broker_cpu: broker.cpu().saturating_sub(cpu),
            latencies: Vec::new(),
            reported_latency_ms: None,
        })
    };
    // As in the bare loop it is compared with (`pagecast bench --raw`), the sender (the
    // broker, every thread of it) runs on one CPU and the consumers on the other while
    // the volume is read back, so the CPU per GB of both is measured alike.
    let cpus = crate::transfer::two_cpus();
    let pid = broker.pid();
    let pinned = cpus
        .zip(pid)
        .and_then(|((broker_cpu, _), pid)| pin_process(pid, broker_cpu));
    let zero_copy = phase(true)?;
    let decoding = phase(false)?;
    if let (Some(previous), Some(pid)) = (pinned, pid) {
        unpin_process(pid, &previous);
    }
    if decoding.records != produce.records || zero_copy.records != produce.records {
        return Err(Error::Receiver(format!(
            "produced {} records, the consumers read {} and {}",
            produce.records, decoding.records, zero_copy.records
        )));
    }
    let mut group = Vec::new();
    if let Some(members) = config.group {
        for protocol in broker_group::Protocol::BOTH {
            let g = broker_group::run(
                broker.addr,
                TOPIC,
                &per_partition,
                members,
                protocol,
                geometry,
            )?;
            if g.records != produce.records {
                return Err(Error::Receiver(format!(
                    "produced {} records, the {} group read {}",
                    produce.records,
                    protocol.name(),
                    g.records
                )));
            }
            group.push((protocol, g));
        }
    }
    let peak_rss_kib = broker.peak_rss_kib();
    let start = broker.start;
    broker.stop();
    Ok(Run {
        produce,
        decoding,
        zero_copy,
        group,
        peak_rss_kib,
        start,
    })
}

/// The confluent-kafka load, a Python script run with python3.
const CONFLUENT_SCRIPT: &str = include_str!("broker_confluent.py");

fn confluent_available() -> Result<(), String> {
    let out = Command::new("python3")
        .args(["-c", "import confluent_kafka"])
        .output()
        .map_err(|e| format!("python3: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err("confluent-kafka is not installed (pip install confluent-kafka)".into())
    }
}

fn run_confluent(config: &Config, dir: &Path, engine: StorageKind) -> Result<Run, Error> {
    let broker = Broker::start(config, dir, &Target::Pagecast(engine))?;
    create_topic(broker.addr, config.partitions)?;
    let bytes = config.bytes.min(CONFLUENT_MAX_BYTES);
    let records = (bytes / config.record_size as u64).max(1);
    let mut child = Command::new("python3")
        .args(["-c", CONFLUENT_SCRIPT])
        .args([
            broker.addr.to_string(),
            TOPIC.to_owned(),
            records.to_string(),
            config.record_size.to_string(),
            config.batch_bytes.to_string(),
            config.acks.to_string(),
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .map_err(io_error("python3"))?;
    let stdout = child
        .stdout
        .take()
        .ok_or_else(|| Error::Receiver("python3 stdout".into()))?;
    let mut phases = Vec::new();
    let mut cpu = broker.cpu();
    // The script prints a line when each phase starts and one when it ends.
    for line in BufReader::new(stdout).lines() {
        let line = line.map_err(io_error("confluent-kafka"))?;
        let fields: Vec<&str> = line.split_whitespace().collect();
        match fields.as_slice() {
            ["start", _] => cpu = broker.cpu(),
            ["done", _, secs, bytes, records] => phases.push(Phase {
                elapsed: Duration::from_secs_f64(secs.parse().unwrap_or(f64::NAN)),
                bytes: bytes.parse().unwrap_or(0),
                records: records.parse().unwrap_or(0),
                broker_cpu: broker.cpu().saturating_sub(cpu),
                latencies: Vec::new(),
                reported_latency_ms: None,
            }),
            _ => {}
        }
    }
    let status = child.wait().map_err(io_error("python3"))?;
    broker.stop();
    let [produce, decoding] = <[Phase; 2]>::try_from(phases)
        .map_err(|_| Error::Receiver(format!("the confluent-kafka load failed ({status})")))?;
    Ok(Run {
        produce,
        decoding,
        zero_copy: Phase::default(),
        group: Vec::new(),
        peak_rss_kib: None,
        start: None,
    })
}

/// CPU seconds per GB of `method`'s bare loop to a zero-copy receiver, median of 3.
fn bare_cpu_per_gb(
    config: &Config,
    method: Method,
    progress: &mut impl FnMut(&str),
) -> Result<f64, Error> {
    let mut t = transfer::Config::new(config.program.clone());
    t.size = config.bytes.clamp(64 << 20, 1 << 30);
    t.methods = vec![method];
    t.receivers = vec![ReceiverKind::ZeroCopy];
    t.runs = 3;
    t.raw = true;
    t.dir = config.dir.clone();
    let report = transfer::run(&t, |_| {})?;
    let row = report
        .rows
        .iter()
        .find(|r| r.variant == transfer::Variant::Raw)
        .and_then(|r| r.median())
        .ok_or_else(|| Error::Receiver(format!("no raw {method} measurement")))?;
    let per_gb = (row.user + row.sys).as_secs_f64() / (t.size as f64 / 1e9);
    progress(&format!(
        "bare {method} loop: {per_gb:.3} CPU s/GB ({} file, median of 3)",
        format_size(t.size)
    ));
    Ok(per_gb)
}

/// Runs the benchmark. `progress` gets a line per finished run.
pub fn run(config: &Config, mut progress: impl FnMut(&str)) -> Result<Report, Error> {
    let dir = config.dir.clone().unwrap_or_else(std::env::temp_dir);
    let (batch, per_batch) = bench_batch(config.record_size, config.batch_bytes);
    let mut rows: Vec<Row> = Vec::new();
    for &engine in &config.engines {
        let bare = bare_cpu_per_gb(config, fetch_method(engine), &mut progress)?;
        rows.push(Row {
            target: Target::Pagecast(engine),
            client: "pagecast",
            runs: Vec::new(),
            bare_cpu_per_gb: bare,
        });
    }
    if let Some(peer) = &config.peer {
        // Kafka fetches with sendfile, so its bare loop is sendfile's.
        let bare = match rows
            .iter()
            .find(|r| r.target == Target::Pagecast(StorageKind::Segment))
        {
            Some(r) => r.bare_cpu_per_gb,
            None => bare_cpu_per_gb(config, Method::Sendfile, &mut progress)?,
        };
        rows.push(Row {
            target: match peer {
                Peer::Kafka { .. } => Target::Kafka,
                Peer::Addr(addr) => Target::Addr(*addr),
            },
            client: "pagecast",
            runs: Vec::new(),
            bare_cpu_per_gb: bare,
        });
    }
    let measured = rows.len();
    for round in 1..=config.runs {
        for i in round_order(round, measured) {
            let target = rows[i].target.clone();
            let r = run_once(config, &dir, &target, &batch, per_batch)?;
            progress(&format!(
                "{} run {round}: produce {:.0} MB/s ({:.0} records/s), consume {:.2} GB/s zero-copy, {:.0} MB/s decoding",
                target.name(),
                r.produce.mb_per_s(),
                r.produce.records_per_s(),
                r.zero_copy.mb_per_s() / 1e3,
                r.decoding.mb_per_s()
            ));
            rows[i].runs.push(r);
        }
    }
    let confluent_skipped = if !config.confluent {
        Some("not asked for".to_owned())
    } else if let Err(why) = confluent_available() {
        Some(why)
    } else {
        for &engine in &config.engines {
            let mut row = Row {
                target: Target::Pagecast(engine),
                client: "confluent-kafka",
                runs: Vec::new(),
                bare_cpu_per_gb: rows
                    .iter()
                    .find(|r| r.target == Target::Pagecast(engine))
                    .map_or(f64::NAN, |r| r.bare_cpu_per_gb),
            };
            for round in 1..=config.runs {
                let r = run_confluent(config, &dir, engine)?;
                progress(&format!(
                    "{} confluent-kafka run {round}: produce {:.0} records/s, consume {:.0} MB/s",
                    engine.name(),
                    r.produce.records_per_s(),
                    r.decoding.mb_per_s()
                ));
                row.runs.push(r);
            }
            rows.push(row);
        }
        None
    };
    let kafka_tools_skipped = match &config.peer {
        _ if !config.kafka_tools => Some("not asked for".to_owned()),
        Some(Peer::Kafka { script }) => {
            let targets: Vec<Target> = rows[..measured].iter().map(|r| r.target.clone()).collect();
            let mut tool_rows: Vec<Row> = rows[..measured]
                .iter()
                .map(|r| Row {
                    client: broker_perf::CLIENT,
                    runs: Vec::new(),
                    ..r.clone()
                })
                .collect();
            for round in 1..=config.runs {
                for i in round_order(round, targets.len()) {
                    let r = broker_perf::run(config, &dir, &targets[i], script)?;
                    progress(&format!(
                        "{} ProducerPerformance/ConsumerPerformance run {round}: produce {:.0} records/s, p99 {:.0} ms; consume {:.0} records/s",
                        targets[i].name(),
                        r.produce.records_per_s(),
                        r.produce.latency_ms(99.0),
                        r.decoding.records_per_s()
                    ));
                    tool_rows[i].runs.push(r);
                }
            }
            rows.extend(tool_rows);
            None
        }
        // Their classpath comes with the Kafka peer.
        _ => None,
    };
    Ok(Report {
        config: config.clone(),
        records_per_batch: per_batch,
        batch_size: batch.len(),
        rows,
        confluent_skipped,
        kafka_tools_skipped,
    })
}

/// The report as a table, with one line per target.
pub fn text(report: &Report) -> String {
    use std::fmt::Write;
    let c = &report.config;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "pagecast bench broker: {} per run of {}-byte records in {}-byte batches ({} records each), {} partitions, {} producer(s), {} consumer(s), acks={}; median of {} runs",
        format_size(c.bytes),
        c.record_size,
        report.batch_size,
        report.records_per_batch,
        c.partitions,
        c.producers,
        c.consumers,
        c.acks,
        c.runs
    );
    let _ = writeln!(
        out,
        "the broker runs in its own process; CPU is its user + system time from /proc"
    );
    if let Some(congestion) = &c.congestion {
        let _ = writeln!(out, "TCP congestion control: {}", congestion.describe());
    }
    let _ = writeln!(out);
    let _ = writeln!(
        out,
        "{:<15} {:<16} {:>9} {:>12} {:>22} {:>10} {:>11} {:>12} {:>10} {:>12} {:>10} {:>9} {:>9}",
        "broker",
        "client",
        "prod MB/s",
        "prod rec/s",
        "latency ms p50/p99/999",
        "prod CPU/GB",
        "zc GB/s",
        "zc CPU s/GB",
        "bare s/GB",
        "dec MB/s",
        "dec rec/s",
        "peak MiB",
        "start ms"
    );
    for r in &report.rows {
        let lat = if c.acks != 0 && !r.median(|x| x.produce.latency_ms(50.0)).is_nan() {
            format!(
                "{:.1}/{:.1}/{:.1}",
                r.median(|x| x.produce.latency_ms(50.0)),
                r.median(|x| x.produce.latency_ms(99.0)),
                r.median(|x| x.produce.latency_ms(99.9))
            )
        } else {
            "-".into()
        };
        let zc = if r.client == "pagecast" {
            (
                format!("{:.2}", r.median(|x| x.zero_copy.mb_per_s()) / 1e3),
                format!("{:.3}", r.median(|x| x.zero_copy.cpu_per_gb())),
            )
        } else {
            ("-".into(), "-".into())
        };
        let _ = writeln!(
            out,
            "{:<15} {:<16} {:>9.0} {:>12.0} {:>22} {:>10.3} {:>11} {:>12} {:>10.3} {:>12.0} {:>10.0} {:>9} {:>9}",
            r.target.name(),
            r.client,
            r.median(|x| x.produce.mb_per_s()),
            r.median(|x| x.produce.records_per_s()),
            lat,
            r.median(|x| x.produce.cpu_per_gb()),
            zc.0,
            zc.1,
            r.bare_cpu_per_gb,
            r.median(|x| x.decoding.mb_per_s()),
            r.median(|x| x.decoding.records_per_s()),
            optional(
                r.median(|x| x.peak_rss_kib.map_or(f64::NAN, |k| k as f64 / 1024.0)),
                0
            ),
            optional(
                r.median(|x| x.start.map_or(f64::NAN, |s| s.as_secs_f64() * 1e3)),
                0
            ),
        );
    }
    out.push('\n');
    for r in report.rows.iter().filter(|r| r.client == "pagecast") {
        let method = match &r.target {
            Target::Pagecast(engine) => fetch_method(*engine),
            _ => Method::Sendfile,
        };
        let ratio = r.median(|x| x.zero_copy.cpu_per_gb()) / r.bare_cpu_per_gb;
        let _ = writeln!(
            out,
            "{}: produce {:.0} records/s of {} B; consume {:.2} GB/s to the zero-copy consumer; broker CPU per GB fetched {:.2}x the bare {method} loop",
            r.target.name(),
            r.median(|x| x.produce.records_per_s()),
            c.record_size,
            r.median(|x| x.zero_copy.mb_per_s()) / 1e3,
            ratio
        );
    }
    if let Some(members) = c.group {
        for r in report.rows.iter().filter(|r| r.client == "pagecast") {
            for protocol in broker_group::Protocol::BOTH {
                let of = |x: &Run| {
                    x.group
                        .iter()
                        .find(|(p, _)| *p == protocol)
                        .map(|(_, g)| g.clone())
                };
                let _ = writeln!(
                    out,
                    "{}: a group of {members} members ({} protocol) read {:.2} GB/s; after one left, the others owned every partition in {:.1} ms",
                    r.target.name(),
                    protocol.name(),
                    r.median(|x| of(x).map_or(f64::NAN, |g| g.bytes as f64
                        / 1e9
                        / g.elapsed.as_secs_f64().max(1e-9))),
                    r.median(|x| of(x).map_or(f64::NAN, |g| g.reassigned.as_secs_f64() * 1e3)),
                );
            }
        }
    }
    if let Some(peer) = report
        .rows
        .iter()
        .find(|r| r.client == "pagecast" && !matches!(r.target, Target::Pagecast(_)))
    {
        for r in report
            .rows
            .iter()
            .filter(|r| r.client == "pagecast" && matches!(r.target, Target::Pagecast(_)))
        {
            let ratio = |f: &dyn Fn(&Run) -> f64| r.median(f) / peer.median(f);
            let _ = writeln!(
                out,
                "{} vs {}: produce {:.2}x the records/s (target >= 3x), produce p99 {:.2}x (target <= 0.5x), broker CPU per GB fetched {:.2}x (target <= 0.5x), CPU per GB produced {:.2}x, peak RSS {:.3}x (target <= 0.1x), start {:.3}x (target <= 0.05x)",
                r.target.name(),
                peer.target.name(),
                ratio(&|x| x.produce.records_per_s()),
                ratio(&|x| x.produce.latency_ms(99.0)),
                ratio(&|x| x.zero_copy.cpu_per_gb()),
                ratio(&|x| x.produce.cpu_per_gb()),
                ratio(&|x| x.peak_rss_kib.map_or(f64::NAN, |k| k as f64)),
                ratio(&|x| x.start.map_or(f64::NAN, |s| s.as_secs_f64())),
            );
        }
    }
    if let Some(peer) = report
        .rows
        .iter()
        .find(|r| r.client == broker_perf::CLIENT && r.target == Target::Kafka)
    {
        for r in report
            .rows
            .iter()
            .filter(|r| r.client == broker_perf::CLIENT && matches!(r.target, Target::Pagecast(_)))
        {
            let ratio = |f: &dyn Fn(&Run) -> f64| r.median(f) / peer.median(f);
            let _ = writeln!(
                out,
                "{} vs kafka, Kafka's ProducerPerformance and ConsumerPerformance: produce {:.2}x the records/s, p99 {:.2}x, broker CPU per GB produced {:.2}x; consume {:.2}x the records/s, broker CPU per GB consumed {:.2}x",
                r.target.name(),
                ratio(&|x| x.produce.records_per_s()),
                ratio(&|x| x.produce.latency_ms(99.0)),
                ratio(&|x| x.produce.cpu_per_gb()),
                ratio(&|x| x.decoding.records_per_s()),
                ratio(&|x| x.decoding.cpu_per_gb()),
            );
        }
    }
    if let Some(why) = &report.confluent_skipped {
        let _ = writeln!(out, "confluent-kafka not measured: {why}");
    }
    if let Some(why) = &report.kafka_tools_skipped {
        let _ = writeln!(
            out,
            "Kafka's ProducerPerformance and ConsumerPerformance not run: {why}"
        );
    }
    out
}

/// `value` with `decimals`, or "-" when it was not measured.
fn optional(value: f64, decimals: usize) -> String {
    if value.is_nan() {
        "-".into()
    } else {
        format!("{value:.decimals$}")
    }
}

/// The report as JSON: every run.
pub fn json(report: &Report) -> serde_json::Value {
    use serde_json::json;
    let phase = |p: &Phase| {
        json!({
            "seconds": p.elapsed.as_secs_f64(),
            "bytes": p.bytes,
            "records": p.records,
            "broker_cpu_seconds": p.broker_cpu.as_secs_f64(),
            "latency_ms": if p.latency_ms(50.0).is_nan() { json!(null) } else {
                json!({"p50": p.latency_ms(50.0), "p99": p.latency_ms(99.0), "p99.9": p.latency_ms(99.9)})
            },
        })
    };
    json!({
        "record_size": report.config.record_size,
        "batch_size": report.batch_size,
        "records_per_batch": report.records_per_batch,
        "partitions": report.config.partitions,
        "producers": report.config.producers,
        "consumers": report.config.consumers,
        "acks": report.config.acks,
        "tcp_congestion": report.config.congestion.as_ref().map(InEffect::json),
        "rows": report.rows.iter().map(|r| json!({
            "engine": r.target.name(),
            "client": r.client,
            "bare_cpu_seconds_per_gb": r.bare_cpu_per_gb,
            "runs": r.runs.iter().map(|x| json!({
                "produce": phase(&x.produce),
                "consume_decoding": phase(&x.decoding),
                "consume_zero_copy": phase(&x.zero_copy),
                "peak_rss_kib": x.peak_rss_kib,
                "start_ms": x.start.map(|s| s.as_secs_f64() * 1e3),
                "group": x.group.iter().map(|(protocol, g)| json!({
                    "protocol": protocol.name(),
                    "members": report.config.group,
                    "seconds": g.elapsed.as_secs_f64(),
                    "bytes": g.bytes,
                    "records": g.records,
                    "reassigned_ms": g.reassigned.as_secs_f64() * 1e3,
                })).collect::<Vec<_>>(),
            })).collect::<Vec<_>>(),
        })).collect::<Vec<_>>(),
        "confluent_skipped": report.confluent_skipped,
        "kafka_tools_skipped": report.kafka_tools_skipped,
    })
}
