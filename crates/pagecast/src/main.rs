//! `pagecast`: parses arguments and hands over to the libraries.

mod progress;

use std::path::PathBuf;

use anyhow::{Context, bail};
use clap::{Args, Parser, Subcommand};
use pagecast_bench::receiver::{self, RECEIVER_SUBCOMMAND, ReceiverKind};
use pagecast_bench::{congestion, report, transfer};
use pagecast_io::Method;

#[derive(Parser)]
#[command(
    name = "pagecast",
    version,
    about = "Moves bytes from the page cache to the network without copying them, and measures it"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Measure every transfer method side by side on this machine.
    Bench(BenchArgs),
    /// Serve a directory over HTTP/1.1, bodies sent zero-copy.
    Serve(ServeArgs),
    /// Download a URL into a file, the body spliced from the socket into the file.
    Get(GetArgs),
    /// Run a Kafka-protocol broker: unmodified Kafka clients produce and consume, and
    /// fetches send record data with sendfile or from the commit log's mapping.
    Broker(BrokerArgs),
    /// List a broker's consumer groups, or describe one as kafka-consumer-groups does:
    /// committed offset, log end offset, lag and owner per partition.
    Groups(GroupsArgs),
    /// Inspect a pagecast log on disk.
    Log {
        #[command(subcommand)]
        command: LogCommand,
    },
    /// The benchmark's receiving process (started by `pagecast bench`).
    #[command(name = RECEIVER_SUBCOMMAND, hide = true)]
    Receiver {
        /// zero-copy or ordinary.
        kind: ReceiverKind,
    },
}

#[derive(Args)]
#[command(args_conflicts_with_subcommands = true)]
struct BenchArgs {
    #[command(subcommand)]
    workload: Option<BenchWorkload>,
    /// Size of the test file: bytes, or with a suffix K, M, G, T (powers of 1024); at
    /// least 1M.
    #[arg(long, default_value = "1G", value_parser = pagecast_bench::parse_bench_size)]
    size: u64,
    /// Methods to measure, comma-separated: read+write, direct, mmap+write, sendfile,
    /// splice, io_uring; or all.
    #[arg(long, default_value = "all")]
    method: String,
    /// Receiver: zero-copy (splice into /dev/null), ordinary (read into a buffer), or both.
    #[arg(long, default_value = "both")]
    receiver: String,
    /// Runs per method and receiver; the median is reported.
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u32).range(1..=1000))]
    runs: u32,
    /// Also run each method's system calls in a bare loop, to show the engine's overhead.
    #[arg(long)]
    raw: bool,
    /// Print JSON on standard output instead of the table.
    #[arg(long)]
    json: bool,
    /// Write a chart to this SVG file.
    #[arg(long, value_name = "FILE")]
    svg: Option<PathBuf>,
    /// Directory for the test file (default: the system temporary directory).
    #[arg(long, value_name = "DIR")]
    dir: Option<PathBuf>,
    #[command(flatten)]
    congestion: CongestionArgs,
}

/// What the network benchmarks share.
#[derive(Args)]
struct CongestionArgs {
    /// TCP congestion control of every connection of the run, set on the loopback
    /// routes of a network namespace of the benchmark's own: an algorithm (cubic, reno,
    /// bbr...), or system for the system's default. bbr paces sends with timers, which
    /// over loopback slows and spreads the runs.
    #[arg(long, value_name = "NAME|system", default_value = congestion::DEFAULT)]
    congestion: congestion::Wanted,
}

#[derive(Subcommand)]
enum BenchWorkload {
    /// pagecast serve against nginx: a large download and small files over keep-alive.
    Http(HttpBenchArgs),
    /// The storage engines: append throughput and latency, page faults, read-back speed.
    Log(LogBenchArgs),
    /// pagecast broker under Kafka load on both engines: produce, and consume by a
    /// decoding and a zero-copy consumer, with the broker's CPU per GB.
    Broker(BrokerBenchArgs),
    /// File-to-file copies by every method on the filesystem of --dir: time, CPU, system
    /// calls, what really ran (reflink, in-kernel copy) and the space each copy takes.
    Copy(CopyBenchArgs),
    /// Copy-on-write in memory: a MAP_PRIVATE mapping's faults and page copies when 1%,
    /// 10% and 100% of its pages are written, beside MAP_SHARED and a read into a buffer.
    Cow(CowBenchArgs),
}

#[derive(Args)]
struct CopyBenchArgs {
    /// Size of the file copied (at least 1M).
    #[arg(long, default_value = "1G", value_parser = pagecast_bench::parse_bench_size)]
    size: u64,
    /// Methods to compare, comma-separated: read+write, sendfile, splice,
    /// copy_file_range, reflink; or all.
    #[arg(long, default_value = "all")]
    method: String,
    #[command(flatten)]
    common: FileBenchArgs,
}

#[derive(Args)]
struct CowBenchArgs {
    /// Size of the mapped file (at least 1M).
    #[arg(long, default_value = "256M", value_parser = pagecast_bench::parse_bench_size)]
    size: u64,
    #[command(flatten)]
    common: FileBenchArgs,
}

/// What `bench copy` and `bench cow` share.
#[derive(Args)]
struct FileBenchArgs {
    /// Runs of each case; medians are reported.
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u32).range(1..=100))]
    runs: u32,
    /// Directory on the filesystem to measure (default: the system temporary directory).
    #[arg(long, value_name = "DIR")]
    dir: Option<PathBuf>,
    /// Print JSON on standard output instead of the table.
    #[arg(long)]
    json: bool,
}

#[derive(Args)]
struct BrokerBenchArgs {
    /// Record batch bytes produced per run.
    #[arg(long, default_value = "1G", value_parser = pagecast_bench::parse_bench_size)]
    size: u64,
    /// Value bytes of each record.
    #[arg(long, default_value = "100", value_parser = pagecast_bench::parse_size)]
    record_size: u64,
    /// Bytes of each record batch.
    #[arg(long, default_value = "1M", value_parser = pagecast_bench::parse_size)]
    batch: u64,
    /// Producer connections.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=256))]
    producers: u32,
    /// Consumer connections.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=256))]
    consumers: u32,
    /// Partitions of the topic.
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(i32).range(1..=10_000))]
    partitions: i32,
    /// acks of every produce: 0, 1 or all.
    #[arg(long, default_value = "1", value_parser = parse_acks)]
    acks: i16,
    /// Engines, comma-separated: segment, commitlog.
    #[arg(long, default_value = "segment,commitlog")]
    storage: String,
    /// Runs per engine; medians are reported.
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u32).range(1..=1000))]
    runs: u32,
    /// Do not repeat the load with confluent-kafka.
    #[arg(long)]
    no_confluent: bool,
    /// Also read the volume with a consumer group of N members, in the classic and the
    /// KIP-848 consumer protocol, and time how long the others take to own every
    /// partition after one leaves.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(2..=1000))]
    group: Option<u32>,
    /// Print JSON on standard output instead of the table.
    #[arg(long)]
    json: bool,
    /// Measure another broker beside pagecast, run by run: `kafka` (a fresh Apache
    /// Kafka per run, from the repository's scripts/kafka, or PAGECAST_KAFKA_SCRIPT) or
    /// HOST:PORT of a running broker.
    #[arg(long, value_name = "kafka|HOST:PORT")]
    peer: Option<String>,
    /// With --peer kafka, do not run Kafka's ProducerPerformance and
    /// ConsumerPerformance against every broker.
    #[arg(long)]
    no_kafka_tools: bool,
    /// Directory for the brokers' data (default: the system temporary directory).
    #[arg(long, value_name = "DIR")]
    dir: Option<PathBuf>,
    #[command(flatten)]
    congestion: CongestionArgs,
}

fn parse_acks(s: &str) -> Result<i16, String> {
    match s {
        "0" => Ok(0),
        "1" => Ok(1),
        "all" | "-1" => Ok(-1),
        _ => Err(format!("acks {s:?}: expected 0, 1 or all")),
    }
}

#[derive(Args)]
struct LogBenchArgs {
    /// Bytes appended per run.
    #[arg(long, default_value = "1G", value_parser = pagecast_bench::parse_bench_size)]
    size: u64,
    /// Size of each appended batch.
    #[arg(long, default_value = "1M", value_parser = pagecast_bench::parse_size)]
    batch: u64,
    /// Record value sizes, comma-separated.
    #[arg(long, default_value = "100,1K")]
    record_sizes: String,
    /// Runs per engine and record size; medians are reported.
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u32).range(1..=1000))]
    runs: u32,
    /// Print JSON on standard output instead of the table.
    #[arg(long)]
    json: bool,
    /// Directory for the stores (default: the system temporary directory).
    #[arg(long, value_name = "DIR")]
    dir: Option<PathBuf>,
}

#[derive(Subcommand)]
enum LogCommand {
    /// Print segments, batches, index entries, commit-log entries and consume queues,
    /// like Kafka's dump-log tool. Exits 1 if it meets damaged data, naming the byte.
    Dump {
        /// A store directory, a partition directory, or one file of either engine.
        path: PathBuf,
    },
    /// Copy a store of either engine, point in time, while it is in use: by reflink
    /// where the filesystem shares extents, else by copy_file_range. The copy opens
    /// with nothing to recover.
    Snapshot {
        /// The store directory.
        store: PathBuf,
        /// A new (or empty) directory for the snapshot.
        dest: PathBuf,
    },
}

#[derive(Args)]
struct HttpBenchArgs {
    /// Size of the large file.
    #[arg(long, default_value = "1G", value_parser = pagecast_bench::parse_bench_size)]
    size: u64,
    /// Size of each small file.
    #[arg(long, default_value = "4K", value_parser = pagecast_bench::parse_size)]
    small_size: u64,
    /// Keep-alive connections for the small files.
    #[arg(long, default_value_t = 64, value_parser = clap::value_parser!(u32).range(1..=10_000))]
    connections: u32,
    /// Seconds per small-file run.
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u64).range(1..=3600))]
    seconds: u64,
    /// Runs per server and workload; medians are reported.
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u32).range(1..=1000))]
    runs: u32,
    /// Worker threads of pagecast and worker processes of nginx.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=1024))]
    workers: u32,
    /// Measure pagecast only, even if nginx is installed.
    #[arg(long)]
    no_nginx: bool,
    /// Print JSON on standard output instead of the table.
    #[arg(long)]
    json: bool,
    /// Directory for the test files (default: the system temporary directory).
    #[arg(long, value_name = "DIR")]
    dir: Option<PathBuf>,
    #[command(flatten)]
    congestion: CongestionArgs,
}

#[derive(Args)]
struct ServeArgs {
    /// Directory to serve.
    #[arg(default_value = ".")]
    dir: PathBuf,
    /// Address to listen on, HOST:PORT (a name is resolved; port 0 picks a free port).
    #[arg(long, default_value = "127.0.0.1:8080", value_parser = parse_listen_addr)]
    addr: std::net::SocketAddr,
    /// How bodies are sent: auto (sendfile, with fallbacks), read+write, direct,
    /// mmap+write, sendfile, splice or io_uring.
    #[arg(long, default_value = "auto")]
    method: Method,
    /// Answer 403 for directories without index.html instead of listing them.
    #[arg(long)]
    no_listing: bool,
    /// Serve files and directories whose names start with a dot.
    #[arg(long)]
    dotfiles: bool,
    /// Seconds a client has to send a whole request head.
    #[arg(long, default_value_t = 10, value_name = "SECS")]
    header_timeout: u64,
    /// Seconds a kept-alive connection may wait for its next request.
    #[arg(long, default_value_t = 60, value_name = "SECS")]
    idle_timeout: u64,
    /// Seconds a client may take nothing of a response before it is dropped.
    #[arg(long, default_value_t = 60, value_name = "SECS")]
    send_timeout: u64,
    /// Connections served at once; more wait in the listen backlog.
    #[arg(long, default_value_t = 1024)]
    max_connections: usize,
    /// Descriptors of hot files kept open (nginx's open_file_cache), each revalidated
    /// with statx on every use, so a replaced, truncated or deleted file is never
    /// served stale. 0 turns it off.
    #[arg(long, default_value_t = pagecast_http::open_cache::DEFAULT_ENTRIES, value_name = "FILES")]
    open_file_cache: usize,
    /// Access log: a file, - for standard output, or off.
    #[arg(long, default_value = "-", value_name = "FILE")]
    access_log: String,
    /// Worker threads, each with its own listening socket and event loop (default:
    /// one per CPU).
    #[arg(long)]
    workers: Option<usize>,
    /// Seconds responses in flight may take to finish after SIGTERM or Ctrl-C.
    #[arg(long, default_value_t = 30, value_name = "SECS")]
    grace: u64,
}

#[derive(Args)]
struct BrokerArgs {
    /// Data directory (created if missing).
    #[arg(
        long,
        env = "PAGECAST_DATA",
        default_value = "./pagecast-data",
        value_name = "DIR"
    )]
    data: PathBuf,
    /// Address to listen on, HOST:PORT (a name is resolved; port 0 picks a free port).
    #[arg(long, env = "PAGECAST_ADDR", default_value = "127.0.0.1:9092", value_parser = parse_listen_addr)]
    addr: std::net::SocketAddr,
    /// HOST:PORT given to clients in metadata (default: the address listened on).
    #[arg(long, env = "PAGECAST_ADVERTISED_ADDR", value_name = "HOST:PORT", value_parser = parse_host_port)]
    advertised_addr: Option<(String, u16)>,
    /// Storage engine: segment (Kafka's model, fetched with sendfile) or commitlog
    /// (RocketMQ's model, fetched from the mapping).
    #[arg(long, env = "PAGECAST_STORAGE", default_value = "segment")]
    storage: pagecast_kafka::broker::StorageKind,
    /// When appends reach the disk: none (the page cache writes back, Kafka's default),
    /// interval (each second), interval:<ms>, or always (before a produce is
    /// acknowledged).
    #[arg(long, env = "PAGECAST_FSYNC", default_value = "none")]
    fsync: pagecast_log::Fsync,
    /// Create topics on first use by Metadata.
    #[arg(long, env = "PAGECAST_AUTO_CREATE_TOPICS", default_value_t = true, action = clap::ArgAction::Set, value_name = "true|false")]
    auto_create_topics: bool,
    /// Partitions of an auto-created topic.
    #[arg(long, env = "PAGECAST_DEFAULT_PARTITIONS", default_value_t = 1, value_parser = clap::value_parser!(i32).range(1..=100_000))]
    default_partitions: i32,
    /// Address to serve Prometheus metrics on (GET /metrics).
    #[arg(long, env = "PAGECAST_METRICS_ADDR", value_parser = parse_listen_addr)]
    metrics_addr: Option<std::net::SocketAddr>,
    /// How long a classic group's first rebalance waits for more members
    /// (group.initial.rebalance.delay.ms).
    #[arg(
        long,
        env = "PAGECAST_GROUP_INITIAL_REBALANCE_DELAY_MS",
        default_value_t = 3000,
        value_name = "MS"
    )]
    group_initial_rebalance_delay_ms: u64,
    /// How long committed offsets outlive their group: an Empty group's offsets expire
    /// this long after it became Empty, a commit outside a group this long after it was
    /// made, and an Empty group left without offsets is deleted
    /// (offsets.retention.minutes).
    #[arg(long, env = "PAGECAST_OFFSETS_RETENTION_MINUTES", default_value_t = 10_080, value_name = "MINUTES", value_parser = clap::value_parser!(u64).range(1..))]
    offsets_retention_minutes: u64,
    /// How often committed offsets are checked for expiry
    /// (offsets.retention.check.interval.ms).
    #[arg(long, env = "PAGECAST_OFFSETS_RETENTION_CHECK_INTERVAL_MS", default_value_t = 600_000, value_name = "MS", value_parser = clap::value_parser!(u64).range(1..))]
    offsets_retention_check_interval_ms: u64,
    /// Segment size of the internal partition, which the log cleaner compacts below its
    /// active segment (offsets.topic.segment.bytes).
    #[arg(long, env = "PAGECAST_OFFSETS_TOPIC_SEGMENT_BYTES", default_value_t = 104_857_600, value_name = "BYTES", value_parser = clap::value_parser!(u64).range(16384..=i32::MAX as u64))]
    offsets_topic_segment_bytes: u64,
    /// Pause between passes of the log cleaner (log.cleaner.backoff.ms).
    #[arg(long, env = "PAGECAST_LOG_CLEANER_BACKOFF_MS", default_value_t = 15_000, value_name = "MS", value_parser = clap::value_parser!(u64).range(1..))]
    log_cleaner_backoff_ms: u64,
    /// Session timeout of consumer-protocol (KIP-848) members
    /// (group.consumer.session.timeout.ms).
    #[arg(long, env = "PAGECAST_GROUP_CONSUMER_SESSION_TIMEOUT_MS", default_value_t = 45_000, value_name = "MS", value_parser = clap::value_parser!(u64).range(1000..))]
    group_consumer_session_timeout_ms: u64,
    /// Heartbeat interval given to consumer-protocol members
    /// (group.consumer.heartbeat.interval.ms).
    #[arg(long, env = "PAGECAST_GROUP_CONSUMER_HEARTBEAT_INTERVAL_MS", default_value_t = 5000, value_name = "MS", value_parser = clap::value_parser!(u64).range(100..))]
    group_consumer_heartbeat_interval_ms: u64,
    /// Incremental fetch sessions (KIP-227) kept at most; 0 turns them off
    /// (max.incremental.fetch.session.cache.slots).
    #[arg(
        long,
        env = "PAGECAST_FETCH_SESSION_CACHE_SLOTS",
        default_value_t = 1000,
        value_name = "N"
    )]
    fetch_session_cache_slots: usize,
    /// Partitions of user topics the broker holds at most: CreateTopics,
    /// CreatePartitions and auto-creation past it get POLICY_VIOLATION.
    #[arg(long, env = "PAGECAST_MAX_PARTITIONS", default_value_t = pagecast_kafka::broker::DEFAULT_MAX_PARTITIONS, value_name = "N")]
    max_partitions: u32,
    /// Client connections open at most; more wait to be accepted (max.connections).
    #[arg(long, env = "PAGECAST_MAX_CONNECTIONS", default_value_t = pagecast_kafka::broker::DEFAULT_MAX_CONNECTIONS as u32, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    max_connections: u32,
    /// Connections from one client address at most; more are closed at once
    /// (max.connections.per.ip). The default is --max-connections.
    #[arg(long, env = "PAGECAST_MAX_CONNECTIONS_PER_IP", value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    max_connections_per_ip: Option<u32>,
    /// Seconds a response may take to leave; a client that reads slower is
    /// disconnected and what it held is released.
    #[arg(long, env = "PAGECAST_SEND_TIMEOUT", default_value_t = pagecast_kafka::broker::DEFAULT_SEND_TIMEOUT.as_secs(), value_name = "S", value_parser = clap::value_parser!(u64).range(1..))]
    send_timeout: u64,
    /// Bytes of requests read and not yet answered at most; a request past it waits
    /// before it is read (queued.max.request.bytes).
    #[arg(long, env = "PAGECAST_QUEUED_MAX_REQUEST_BYTES", default_value_t = pagecast_kafka::broker::DEFAULT_QUEUED_REQUEST_BYTES, value_name = "BYTES", value_parser = clap::value_parser!(u64).range(1..=u32::MAX as u64))]
    queued_max_request_bytes: u64,
    /// Threads that run the request handlers (num.io.threads).
    #[arg(long, env = "PAGECAST_HANDLER_THREADS", default_value_t = 8, value_name = "N", value_parser = clap::value_parser!(u16).range(1..))]
    handler_threads: u16,
    /// Decoded requests waiting for a handler thread at most; a connection with one
    /// more stops reading until there is room (queued.max.requests).
    #[arg(long, env = "PAGECAST_QUEUED_MAX_REQUESTS", default_value_t = 500, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    queued_max_requests: u32,
}

#[derive(Args)]
struct GroupsArgs {
    /// The broker.
    #[arg(long, env = "PAGECAST_BOOTSTRAP", default_value = "127.0.0.1:9092")]
    bootstrap: std::net::SocketAddr,
    /// Describe this group instead of listing them all.
    #[arg(long, value_name = "GROUP")]
    describe: Option<String>,
}

fn parse_host_port(s: &str) -> Result<(String, u16), String> {
    let (host, port) = s
        .rsplit_once(':')
        .ok_or_else(|| format!("{s:?}: expected HOST:PORT"))?;
    let port = port
        .parse()
        .map_err(|_| format!("{s:?}: the port must be a number from 0 to 65535"))?;
    if host.is_empty() {
        return Err(format!("{s:?}: the host is empty"));
    }
    Ok((host.trim_matches(['[', ']']).to_owned(), port))
}

#[derive(Args)]
struct GetArgs {
    /// http:// URL to download.
    url: String,
    /// Output file (default: the last segment of the URL path).
    #[arg(short, long, value_name = "FILE")]
    output: Option<PathBuf>,
    /// Resume a partial file (Range with If-Range: a file changed on the server is
    /// fetched again whole).
    #[arg(short = 'c', long = "continue")]
    resume: bool,
    /// No progress bar.
    #[arg(short, long)]
    quiet: bool,
}

fn main() -> anyhow::Result<()> {
    match Cli::parse().command {
        Command::Bench(args) => bench(args),
        Command::Serve(args) => serve(args),
        Command::Get(args) => get(args),
        Command::Broker(args) => broker(args),
        Command::Groups(args) => groups(args),
        Command::Log {
            command: LogCommand::Dump { path },
        } => log_dump(&path),
        Command::Log {
            command: LogCommand::Snapshot { store, dest },
        } => log_snapshot(&store, &dest),
        Command::Receiver { kind } => {
            receiver::run(kind, std::io::stdout()).context("benchmark receiver")
        }
    }
}

/// An address to listen on: an IP address and port, or a host name and port, resolved
/// to its first address (as `localhost:8080` is by nginx).
fn parse_listen_addr(s: &str) -> Result<std::net::SocketAddr, String> {
    use std::net::ToSocketAddrs;
    if let Ok(addr) = s.parse() {
        return Ok(addr);
    }
    let expected = "expected HOST:PORT, as 127.0.0.1:8080, [::1]:8080 or localhost:8080";
    if !s.contains(':') {
        return Err(format!("{s:?} has no port: {expected}"));
    }
    match s.to_socket_addrs() {
        Ok(mut addrs) => addrs
            .next()
            .ok_or_else(|| format!("{s:?} resolves to no address")),
        Err(e) => Err(format!("cannot resolve {s:?}: {e} ({expected})")),
    }
}

fn parse_methods(list: &str) -> anyhow::Result<Vec<Method>> {
    if list == "all" {
        return Ok(Method::ALL.to_vec());
    }
    let mut methods = Vec::new();
    for name in list.split(',').map(str::trim) {
        let method: Method = name.parse()?;
        if method == Method::Auto {
            bail!("--method auto is not measured: name the methods to compare");
        }
        if !Method::ALL.contains(&method) {
            bail!("--method {method} copies file to file: `pagecast bench copy` measures it");
        }
        if !methods.contains(&method) {
            methods.push(method);
        }
    }
    Ok(methods)
}

fn bench(args: BenchArgs) -> anyhow::Result<()> {
    match args.workload {
        Some(BenchWorkload::Http(http)) => return bench_http(http),
        Some(BenchWorkload::Log(log)) => return bench_log(log),
        Some(BenchWorkload::Broker(broker)) => return bench_broker(broker),
        Some(BenchWorkload::Copy(copy)) => return bench_copy(copy),
        Some(BenchWorkload::Cow(cow)) => return bench_cow(cow),
        None => {}
    }
    let program =
        std::env::current_exe().context("find the pagecast executable to start the receiver")?;
    let mut config = transfer::Config::new(program);
    config.size = args.size;
    config.methods = parse_methods(&args.method)?;
    config.receivers = match args.receiver.as_str() {
        "both" => ReceiverKind::BOTH.to_vec(),
        one => vec![one.parse().map_err(anyhow::Error::msg)?],
    };
    config.runs = args.runs as usize;
    config.raw = args.raw;
    config.dir = args.dir;
    // The new namespace has only loopback: the interfaces are read before it.
    config.interfaces = Some(transfer::interfaces());
    config.congestion = Some(congestion::enter(&args.congestion.congestion)?);

    let report = transfer::run(&config, |line| eprintln!("{line}"))?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report::json(&report))?);
    } else {
        print!("{}", report::text(&report));
    }
    if let Some(path) = args.svg {
        std::fs::write(&path, report::svg(&report))
            .with_context(|| format!("write {}", path.display()))?;
        eprintln!("chart written to {}", path.display());
    }
    Ok(())
}

fn serve(args: ServeArgs) -> anyhow::Result<()> {
    use std::time::Duration;
    let mut config = pagecast_http::Config::new(args.dir);
    config.method = args.method;
    config.listing = !args.no_listing;
    config.dotfiles = args.dotfiles;
    config.timeouts = pagecast_http::Timeouts {
        header: Duration::from_secs(args.header_timeout),
        idle: Duration::from_secs(args.idle_timeout),
        send: Duration::from_secs(args.send_timeout),
    };
    config.max_connections = args.max_connections;
    config.open_file_cache = args.open_file_cache;
    config.access_log = match args.access_log.as_str() {
        "off" => pagecast_http::AccessLog::Off,
        "-" => pagecast_http::AccessLog::Stdout,
        path => pagecast_http::AccessLog::File(path.into()),
    };
    if let Some(workers) = args.workers {
        if workers == 0 {
            bail!("--workers must be at least 1");
        }
        config.workers = workers;
    }
    // This thread is the first worker; the server starts the others, each with an
    // event loop of its own, as nginx's worker processes have.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("start the tokio runtime")?;
    runtime.block_on(async {
        let server = pagecast_http::Server::bind(args.addr, config)?;
        let addr = server.local_addr()?;
        eprintln!(
            "pagecast serve: serving {} on http://{addr}/",
            server.root().display()
        );
        let shutdown = shutdown_signal()?;
        server
            .run(shutdown, Duration::from_secs(args.grace))
            .await?;
        eprintln!("pagecast serve: stopped");
        Ok(())
    })
}

fn broker(args: BrokerArgs) -> anyhow::Result<()> {
    let mut config = pagecast_kafka::broker::Config::new(args.data);
    config.addr = args.addr;
    config.advertised = args.advertised_addr;
    config.storage = args.storage;
    config.fsync = args.fsync;
    config.auto_create_topics = args.auto_create_topics;
    config.default_partitions = args.default_partitions;
    config.metrics_addr = args.metrics_addr;
    config.fetch_session_slots = args.fetch_session_cache_slots;
    config.max_partitions = args.max_partitions;
    config.max_connections = args.max_connections as usize;
    config.max_connections_per_ip =
        args.max_connections_per_ip.unwrap_or(args.max_connections) as usize;
    config.send_timeout = std::time::Duration::from_secs(args.send_timeout);
    config.queued_request_bytes = args.queued_max_request_bytes;
    config.handler_threads = usize::from(args.handler_threads);
    config.queued_requests = args.queued_max_requests as usize;
    config.groups.initial_rebalance_delay =
        std::time::Duration::from_millis(args.group_initial_rebalance_delay_ms);
    config.groups.offsets_retention =
        std::time::Duration::from_secs(args.offsets_retention_minutes.saturating_mul(60));
    config.groups.offsets_retention_check_interval =
        std::time::Duration::from_millis(args.offsets_retention_check_interval_ms);
    config.offsets_segment_bytes = args.offsets_topic_segment_bytes;
    config.cleaner_backoff = std::time::Duration::from_millis(args.log_cleaner_backoff_ms);
    config.groups.consumer.session_timeout =
        std::time::Duration::from_millis(args.group_consumer_session_timeout_ms);
    config.groups.consumer.heartbeat_interval =
        std::time::Duration::from_millis(args.group_consumer_heartbeat_interval_ms);
    if config.groups.consumer.heartbeat_interval >= config.groups.consumer.session_timeout {
        bail!(
            "--group-consumer-heartbeat-interval-ms must be below --group-consumer-session-timeout-ms"
        );
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("start the tokio runtime")?;
    runtime.block_on(async {
        let data = config.data.clone();
        let storage = config.storage;
        let broker = pagecast_kafka::broker::Broker::open(config)
            .await
            .with_context(|| format!("open the broker's data directory {}", data.display()))?;
        let addr = broker.local_addr()?;
        eprintln!(
            "pagecast broker: listening on {addr}, {} storage in {}",
            storage.name(),
            data.display()
        );
        if let Some(metrics) = broker.metrics_addr() {
            eprintln!("pagecast broker: metrics on http://{metrics}/metrics");
        }
        let shutdown = shutdown_signal()?;
        broker.run(shutdown).await.context("stop the broker")?;
        eprintln!("pagecast broker: stopped; the store was closed cleanly");
        Ok(())
    })
}

fn groups(args: GroupsArgs) -> anyhow::Result<()> {
    use pagecast_kafka::inspect;
    match args.describe {
        Some(group) => {
            let d = inspect::describe_group(args.bootstrap, &group)
                .with_context(|| format!("describe group {group} at {}", args.bootstrap))?;
            if d.state == "Dead" && d.rows.is_empty() {
                bail!(
                    "consumer group '{group}' does not exist at {}",
                    args.bootstrap
                );
            }
            print!("{}", inspect::text(&d));
        }
        None => {
            let groups = inspect::list_groups(args.bootstrap)
                .with_context(|| format!("list groups at {}", args.bootstrap))?;
            for g in groups {
                println!("{}", g.group);
            }
        }
    }
    Ok(())
}

/// Completes on the first SIGTERM or SIGINT (Ctrl-C).
fn shutdown_signal() -> anyhow::Result<impl std::future::Future<Output = ()>> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate()).context("install a SIGTERM handler")?;
    let mut int = signal(SignalKind::interrupt()).context("install a SIGINT handler")?;
    Ok(async move {
        tokio::select! {
            _ = term.recv() => {}
            _ = int.recv() => {}
        }
        eprintln!("pagecast: shutting down; finishing requests in flight");
    })
}

fn get(args: GetArgs) -> anyhow::Result<()> {
    use pagecast_http::client::{self, Outcome};
    let options = client::GetOptions {
        output: args.output,
        resume: args.resume,
    };
    let terminal = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let mut bar = (terminal && !args.quiet).then(progress::Bar::default);
    let done = client::get(&args.url, &options, &mut |p| {
        if let Some(bar) = &mut bar {
            bar.show(p);
        }
    });
    if let Some(bar) = bar {
        bar.finish();
    }
    let done = done?;
    if terminal && !args.quiet {
        let what = match done.outcome {
            Outcome::Complete => "saved".to_string(),
            Outcome::Resumed { from } => format!("resumed from byte {from}"),
            Outcome::Restarted => "changed on the server; fetched again whole".into(),
            Outcome::AlreadyComplete => "already complete".into(),
        };
        eprintln!("{}: {} bytes, {what}", done.path.display(), done.length);
    }
    Ok(())
}

fn bench_copy(args: CopyBenchArgs) -> anyhow::Result<()> {
    use pagecast_bench::copy;
    let mut config = copy::Config::new();
    config.size = args.size;
    config.runs = args.common.runs as usize;
    config.dir = args.common.dir;
    if args.method != "all" {
        let mut methods = Vec::new();
        for name in args.method.split(',').map(str::trim) {
            let method: Method = name.parse()?;
            if !Method::FILE_TO_FILE.contains(&method) {
                bail!(
                    "--method {method} does not copy file to file: expected read+write, sendfile, splice, copy_file_range or reflink"
                );
            }
            if !methods.contains(&method) {
                methods.push(method);
            }
        }
        config.methods = methods;
    }
    let report = copy::run(&config, |line| eprintln!("{line}"))?;
    if args.common.json {
        println!("{}", serde_json::to_string_pretty(&copy::json(&report))?);
    } else {
        print!("{}", copy::text(&report));
    }
    Ok(())
}

fn bench_cow(args: CowBenchArgs) -> anyhow::Result<()> {
    use pagecast_bench::cow;
    let mut config = cow::Config::new();
    config.size = args.size;
    config.runs = args.common.runs as usize;
    config.dir = args.common.dir;
    let report = cow::run(&config, |line| eprintln!("{line}"))?;
    if args.common.json {
        println!("{}", serde_json::to_string_pretty(&cow::json(&report))?);
    } else {
        print!("{}", cow::text(&report));
    }
    Ok(())
}

fn bench_http(args: HttpBenchArgs) -> anyhow::Result<()> {
    use pagecast_bench::http;
    let program = std::env::current_exe().context("find the pagecast executable to serve")?;
    let mut config = http::Config::new(program);
    config.size = args.size;
    config.small_size = usize::try_from(args.small_size)
        .ok()
        .filter(|&s| s <= 1 << 20)
        .context("--small-size is at most 1M")?;
    config.connections = args.connections as usize;
    config.duration = std::time::Duration::from_secs(args.seconds);
    config.runs = args.runs as usize;
    config.workers = args.workers as usize;
    config.nginx = !args.no_nginx;
    config.dir = args.dir;
    config.congestion = Some(congestion::enter(&args.congestion.congestion)?);
    let report = http::run(&config, |line| eprintln!("{line}"))?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&http::json(&report))?);
    } else {
        print!("{}", http::text(&report));
    }
    Ok(())
}

/// The script that starts the reference Kafka: PAGECAST_KAFKA_SCRIPT, or scripts/kafka
/// of the repository this binary was built in or the working directory is in.
fn kafka_script() -> anyhow::Result<PathBuf> {
    if let Some(path) = std::env::var_os("PAGECAST_KAFKA_SCRIPT") {
        return Ok(PathBuf::from(path));
    }
    let exe = std::env::current_exe().ok();
    let cwd = std::env::current_dir().ok();
    let starts = [exe.as_deref(), cwd.as_deref()];
    starts
        .into_iter()
        .flatten()
        .flat_map(|p| p.ancestors())
        .map(|dir| dir.join("scripts/kafka"))
        .find(|p| p.is_file())
        .ok_or_else(|| {
            anyhow::anyhow!(
                "--peer kafka needs the repository's scripts/kafka (run from the repository, or set PAGECAST_KAFKA_SCRIPT)"
            )
        })
}

fn bench_broker(args: BrokerBenchArgs) -> anyhow::Result<()> {
    use pagecast_bench::broker;
    let program =
        std::env::current_exe().context("find the pagecast executable to start the broker")?;
    let mut config = broker::Config::new(program);
    config.bytes = args.size;
    config.record_size = args.record_size as usize;
    config.batch_bytes = args.batch as usize;
    if config.record_size == 0 || config.record_size as u64 > args.batch / 2 {
        bail!("--record-size must be between 1 byte and half of --batch");
    }
    if args.batch > pagecast_kafka::broker::DEFAULT_MESSAGE_MAX_BYTES as u64 {
        bail!(
            "--batch must be at most {} bytes, the broker's message.max.bytes",
            pagecast_kafka::broker::DEFAULT_MESSAGE_MAX_BYTES
        );
    }
    config.producers = args.producers as usize;
    config.consumers = args.consumers as usize;
    config.partitions = args.partitions;
    config.acks = args.acks;
    config.engines = args
        .storage
        .split(',')
        .map(|s| s.trim().parse())
        .collect::<Result<_, String>>()
        .map_err(anyhow::Error::msg)?;
    config.runs = args.runs as usize;
    config.confluent = !args.no_confluent;
    config.kafka_tools = !args.no_kafka_tools;
    config.group = args.group.map(|n| n as usize);
    if let Some(n) = config.group
        && n > config.partitions as usize
    {
        bail!("--group {n} needs at least {n} partitions (--partitions)");
    }
    config.dir = args.dir;
    config.peer = match args.peer.as_deref() {
        None => None,
        Some("kafka") => Some(broker::Peer::Kafka {
            script: kafka_script()?,
        }),
        Some(addr) => Some(broker::Peer::Addr(parse_listen_addr(addr).map_err(
            |e| anyhow::anyhow!("--peer {addr}: {e}; give kafka or HOST:PORT"),
        )?)),
    };
    let wanted = &args.congestion.congestion;
    config.congestion = Some(match &config.peer {
        // A namespace of the benchmark's own could not reach a broker outside it.
        Some(broker::Peer::Addr(addr)) => congestion::keep(
            wanted,
            &format!("the peer at {addr} is reached from the system's network namespace only"),
        )?,
        Some(broker::Peer::Kafka { script }) => {
            // Maven may need the network to resolve Kafka: before the namespace.
            let built = std::process::Command::new(script).arg("build").status()?;
            if !built.success() {
                bail!("{} build failed ({built})", script.display());
            }
            congestion::enter(wanted)?
        }
        None => congestion::enter(wanted)?,
    });
    let report = broker::run(&config, |line| eprintln!("{line}"))?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&broker::json(&report))?);
    } else {
        print!("{}", broker::text(&report));
    }
    Ok(())
}

fn bench_log(args: LogBenchArgs) -> anyhow::Result<()> {
    use pagecast_bench::log;
    let program =
        std::env::current_exe().context("find the pagecast executable to start the receiver")?;
    let mut config = log::Config::new(program);
    config.size = args.size;
    config.batch_bytes = args.batch;
    config.record_sizes = args
        .record_sizes
        .split(',')
        .map(|s| pagecast_bench::parse_size(s.trim()).map(|n| n as usize))
        .collect::<Result<_, _>>()
        .map_err(anyhow::Error::msg)?;
    if config
        .record_sizes
        .iter()
        .any(|&n| n == 0 || n as u64 > args.batch / 2)
    {
        bail!("--record-sizes must be between 1 byte and half of --batch");
    }
    config.runs = args.runs as usize;
    config.dir = args.dir;
    let report = log::run(&config, |line| eprintln!("{line}"))?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&log::json(&report))?);
    } else {
        print!("{}", log::text(&report));
    }
    Ok(())
}

fn log_snapshot(store: &std::path::Path, dest: &std::path::Path) -> anyhow::Result<()> {
    let done = pagecast_log::snapshot::snapshot(store, dest, |line| eprintln!("{line}"))
        .with_context(|| format!("snapshot of {} into {}", store.display(), dest.display()))?;
    let (mut bytes, mut shared) = (0u64, 0u64);
    for f in &done.files {
        bytes += f.bytes;
        shared += f.shared.unwrap_or(0);
        let sharing = match f.shared {
            Some(s) => format!("{} shared", pagecast_bench::format_size(s)),
            None => "no extent map".into(),
        };
        let fell = if f.fell_back_from.is_empty() {
            String::new()
        } else {
            format!(" (after {} declined)", f.fell_back_from.join(", "))
        };
        println!(
            "{}  {}  by {}{fell}, {sharing}, {:.1} ms",
            f.path.display(),
            pagecast_bench::format_size(f.bytes),
            f.method,
            f.elapsed.as_secs_f64() * 1e3
        );
    }
    println!(
        "{} store: {} files, {} copied ({} sharing the source's blocks) in {:.1} ms; opened, indexes rebuilt and closed in {:.1} ms",
        done.engine,
        done.files.len(),
        pagecast_bench::format_size(bytes),
        pagecast_bench::format_size(shared),
        done.copy_time.as_secs_f64() * 1e3,
        done.open_time.as_secs_f64() * 1e3
    );
    Ok(())
}

fn log_dump(path: &std::path::Path) -> anyhow::Result<()> {
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    let summary = pagecast_log::dump::dump(path, &mut out)?;
    use std::io::Write;
    out.flush()?;
    if summary.files == 0 {
        bail!(
            "{}: no file of a pagecast log here (a segment .log, .index or .timeindex, a \
             commit-log file, a partition directory or a store directory)",
            path.display()
        );
    }
    if let Some((file, position, reason)) = summary.damage {
        bail!("{}: damaged at byte {position}: {reason}", file.display());
    }
    eprintln!("{} files, {} valid batches", summary.files, summary.batches);
    Ok(())
}
