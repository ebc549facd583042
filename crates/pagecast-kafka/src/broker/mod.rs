//! The broker: one node that Kafka clients use as their whole cluster, on either
//! storage engine of `pagecast-log`.
//!
//! A tokio task per connection reads requests one at a time and answers them in order.
//! Appends take the store's write lock for the length of one append; reads take the
//! read lock only to collect file regions or mapped slices, which are sent after it is
//! released, so a long send never holds up a producer. Fetch responses are written as
//! header bytes and record data by sendfile (segment engine) or mmap + write (commit
//! log), under TCP_CORK (`fetch`).

mod admin;
mod conn;
pub mod consumer_groups;
mod fetch;
mod fetch_session;
mod group_api;
pub mod groups;
mod handlers;
mod internal;
pub mod meta;
pub mod metrics;
pub mod offsets;
mod pool;
pub mod producers;
mod timers;
pub mod topic_config;

use std::collections::BTreeMap;
use std::fs::File;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use pagecast_log::batch::{self, HEADER_LEN, Header};
use pagecast_log::{Chunk, Fsync, Store, TopicPartition};
use tokio::net::TcpListener;
use tokio::sync::{Notify, watch};

use crate::codec::Uuid;
use crate::error::{ErrorCode, storage_error_code};
pub use handlers::{decode_request, sample_requests};
use meta::{Meta, MetaError, Topic, Topics};
use metrics::{GroupFigures, GroupPartition, Metrics, PartitionFigures};
use offsets::{CommittedOffsets, OFFSETS_TOPIC};
use pool::Pool;
use producers::{PartitionProducers, Producers};

/// The node ID the broker gives itself; it is also the controller.
pub const NODE_ID: i32 = 1;

/// Kafka's default `message.max.bytes`: the largest record batch accepted.
pub const DEFAULT_MESSAGE_MAX_BYTES: usize = 1_048_588;

/// Which storage engine holds the partitions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StorageKind {
    /// The Kafka model: segment files, fetched with sendfile.
    Segment,
    /// The RocketMQ model: one mapped commit log, fetched with mmap + write.
    CommitLog,
}

impl StorageKind {
    /// The name used on the command line and in `meta.properties`.
    pub fn name(self) -> &'static str {
        match self {
            StorageKind::Segment => "segment",
            StorageKind::CommitLog => "commitlog",
        }
    }
}

impl std::str::FromStr for StorageKind {
    type Err = String;

    fn from_str(s: &str) -> Result<StorageKind, String> {
        match s {
            "segment" => Ok(StorageKind::Segment),
            "commitlog" => Ok(StorageKind::CommitLog),
            _ => Err(format!("storage {s:?}: expected segment or commitlog")),
        }
    }
}

/// How the broker runs.
#[derive(Debug, Clone)]
pub struct Config {
    /// The data directory.
    pub data: PathBuf,
    /// Where clients connect.
    pub addr: SocketAddr,
    /// The host and port given to clients in metadata; `addr` if none.
    pub advertised: Option<(String, u16)>,
    /// The storage engine.
    pub storage: StorageKind,
    /// When appends are forced to disk.
    pub fsync: Fsync,
    /// Whether Metadata and Produce create missing topics.
    pub auto_create_topics: bool,
    /// Partitions of an auto-created topic.
    pub default_partitions: i32,
    /// Largest record batch accepted (`message.max.bytes`).
    pub message_max_bytes: usize,
    /// Where Prometheus metrics are served, if anywhere.
    pub metrics_addr: Option<SocketAddr>,
    /// Consumer group settings.
    pub groups: groups::GroupConfig,
    /// Fetch sessions kept at most (Kafka's `max.incremental.fetch.session.cache.slots`);
    /// 0 turns them off.
    pub fetch_session_slots: usize,
    /// Partitions of user topics the broker holds at most; a CreateTopics,
    /// CreatePartitions or Metadata auto-creation past it is refused whole, before
    /// anything is created.
    pub max_partitions: u32,
    /// Client connections open at most; the broker accepts no more until one closes
    /// (Kafka's `max.connections`).
    pub max_connections: usize,
    /// Connections from one client address at most; one more is closed at once
    /// (Kafka's `max.connections.per.ip`).
    pub max_connections_per_ip: usize,
    /// Bytes of requests read and not yet answered at most, across connections
    /// (Kafka's `queued.max.request.bytes`); a frame past it waits before it is read.
    /// One frame counts at most this much, so any frame fits alone.
    pub queued_request_bytes: u64,
    /// How long a response may take to leave; a client that reads slower is closed.
    pub send_timeout: Duration,
    /// Threads that run the request handlers (Kafka's `num.io.threads`, 8).
    pub handler_threads: usize,
    /// Decoded requests queued for the handler threads at most (Kafka's
    /// `queued.max.requests`, 500); a connection with one more waits.
    pub queued_requests: usize,
    /// Segment size of the internal partition (Kafka's `offsets.topic.segment.bytes`,
    /// 100 MiB): the cleaner compacts what is below its active segment.
    pub offsets_segment_bytes: u64,
    /// Pause between passes of the log cleaner (Kafka's `log.cleaner.backoff.ms`, 15 s).
    pub cleaner_backoff: Duration,
}

impl Config {
    /// Defaults: `./pagecast-data`, 127.0.0.1:9092, segment engine, no fsync.
    pub fn new(data: impl Into<PathBuf>) -> Config {
        Config {
            data: data.into(),
            addr: SocketAddr::from(([127, 0, 0, 1], 9092)),
            advertised: None,
            storage: StorageKind::Segment,
            fsync: Fsync::None,
            auto_create_topics: true,
            default_partitions: 1,
            message_max_bytes: DEFAULT_MESSAGE_MAX_BYTES,
            metrics_addr: None,
            groups: groups::GroupConfig::default(),
            fetch_session_slots: fetch_session::DEFAULT_SLOTS,
            max_partitions: DEFAULT_MAX_PARTITIONS,
            max_connections: DEFAULT_MAX_CONNECTIONS,
            max_connections_per_ip: DEFAULT_MAX_CONNECTIONS,
            send_timeout: DEFAULT_SEND_TIMEOUT,
            queued_request_bytes: DEFAULT_QUEUED_REQUEST_BYTES,
            handler_threads: 8,
            queued_requests: 500,
            offsets_segment_bytes: 100 << 20,
            cleaner_backoff: Duration::from_secs(15),
        }
    }
}

/// Default of [`Config::max_connections`] and [`Config::max_connections_per_ip`].
pub const DEFAULT_MAX_CONNECTIONS: usize = 10_000;

/// Default of [`Config::send_timeout`]: twice librdkafka's `socket.timeout.ms`, by which
/// time every client has given up on the response.
pub const DEFAULT_SEND_TIMEOUT: Duration = Duration::from_secs(120);

/// Default of [`Config::queued_request_bytes`].
pub const DEFAULT_QUEUED_REQUEST_BYTES: u64 = 256 << 20;

/// The operations Kafka reports as authorized when it runs without an authorizer:
/// every operation its resource type supports (Kafka's `AclEntry.supportedOperations`),
/// one bit per `AclOperation` code. Asked for by `include_*_authorized_operations`.
pub(crate) mod authorized {
    const fn bits(codes: &[u32]) -> i32 {
        let mut out = 0;
        let mut i = 0;
        while i < codes.len() {
            out |= 1 << codes[i];
            i += 1;
        }
        out
    }

    /// READ, WRITE, CREATE, DELETE, ALTER, DESCRIBE, DESCRIBE_CONFIGS, ALTER_CONFIGS.
    pub(crate) const TOPIC: i32 = bits(&[3, 4, 5, 6, 7, 8, 10, 11]);
    /// READ, DELETE, DESCRIBE, DESCRIBE_CONFIGS, ALTER_CONFIGS (group configs, as
    /// Kafka 4 has them).
    pub(crate) const GROUP: i32 = bits(&[3, 6, 8, 10, 11]);
    /// CREATE, ALTER, DESCRIBE, CLUSTER_ACTION, DESCRIBE_CONFIGS, ALTER_CONFIGS,
    /// IDEMPOTENT_WRITE.
    pub(crate) const CLUSTER: i32 = bits(&[5, 7, 8, 9, 10, 11, 12]);
}

/// Default of [`Config::max_partitions`].
pub const DEFAULT_MAX_PARTITIONS: u32 = 10_000;

/// Refuses `more` new partitions if they would take the user topics in `topics` past
/// `max`.
fn check_partition_cap(topics: &Topics, more: i32, max: u32) -> Result<(), Refusal> {
    let held: i64 = topics
        .iter()
        .filter(|(name, _)| *name != OFFSETS_TOPIC)
        .map(|(_, t)| i64::from(t.partitions))
        .sum();
    if held + i64::from(more) > i64::from(max) {
        return Err((
            ErrorCode::POLICY_VIOLATION,
            format!(
                "{more} more partitions would make {}, and the broker holds at most {max} (--max-partitions)",
                held + i64::from(more)
            ),
        ));
    }
    Ok(())
}

/// Why the broker could not start or stopped.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BrokerError {
    /// A file of the broker's own.
    #[error(transparent)]
    Meta(#[from] MetaError),
    /// The storage engine.
    #[error("storage: {0}")]
    Storage(#[from] pagecast_log::Error),
    /// A socket.
    #[error("{what}: {source}")]
    Io {
        /// What was being done.
        what: String,
        /// The kernel's answer.
        source: std::io::Error,
    },
}

/// Milliseconds since the epoch.
pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// A refusal: the error code and a message for the client.
pub(crate) type Refusal = (ErrorCode, String);

/// The topic named `name`, unless it does not exist or is internal.
fn existing(topics: &Topics, name: &str) -> Result<Topic, Refusal> {
    match topics.get(name) {
        Some(t) if name != OFFSETS_TOPIC => Ok(t.clone()),
        _ => Err((
            ErrorCode::UNKNOWN_TOPIC_OR_PARTITION,
            format!("no topic {name}"),
        )),
    }
}

/// State shared by every connection.
pub(crate) struct Shared {
    config: Config,
    advertised: (String, u16),
    meta: Meta,
    /// Locked per partition inside: nothing here serializes partitions.
    store: Box<dyn Store>,
    /// The internal partition's own store, compacted as Kafka's `__consumer_offsets`,
    /// whichever engine holds the topics.
    internal: pagecast_log::segment::SegmentStore,
    /// Set at shutdown: a running pass of the cleaner stops.
    cleaner_stop: std::sync::atomic::AtomicBool,
    /// Held only briefly: readers on the runtime take it.
    topics: Mutex<Topics>,
    /// Serializes what changes the topics (create, grow, delete, reconfigure), whose
    /// store and file work runs under it, outside `topics`.
    topics_admin: Mutex<()>,
    offsets: Mutex<CommittedOffsets>,
    producers: Producers,
    groups: Mutex<groups::Coordinator>,
    fetch_sessions: Mutex<fetch_session::Sessions>,
    /// Client addresses and requests not implemented that were logged (at most
    /// `handlers::MAX_UNSUPPORTED_LOGGED`).
    unsupported_logged: Mutex<std::collections::HashSet<(std::net::IpAddr, String)>>,
    /// Woken after every append, for fetches waiting for data.
    appended: Notify,
    metrics: Metrics,
    /// Set when the broker is stopping.
    stopping: watch::Sender<bool>,
    /// The request handler threads.
    pool: Pool,
    /// Bytes of requests read and not yet answered: `config.queued_request_bytes`
    /// permits.
    request_bytes: tokio::sync::Semaphore,
    /// The group coordinator's records, queued to be written before their answers.
    coordinator_log: internal::CoordinatorLog,
    /// Woken when a group operation sets a deadline earlier than the earliest one.
    group_timers_moved: Notify,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Shared {
    fn store(&self) -> &dyn Store {
        &*self.store
    }

    fn topics(&self) -> MutexGuard<'_, Topics> {
        lock(&self.topics)
    }

    /// The topic named `name`, unless it is internal.
    fn topic(&self, name: &str) -> Option<Topic> {
        if name == OFFSETS_TOPIC {
            return None;
        }
        self.topics().get(name).cloned()
    }

    /// Every topic's ID and partition count, as the consumer-protocol assignors see
    /// them.
    fn topic_map(&self) -> consumer_groups::TopicMap {
        self.topics()
            .iter()
            .filter(|(name, _)| *name != OFFSETS_TOPIC)
            .map(|(name, t)| (name.clone(), (t.id, t.partitions)))
            .collect()
    }

    fn topic_by_id(&self, id: Uuid) -> Option<(String, Topic)> {
        self.topics()
            .iter()
            .find(|(_, t)| t.id == id)
            .map(|(n, t)| (n.clone(), t.clone()))
    }

    /// Creates a topic with `partitions` partitions and `configs`, and records it. With
    /// `validate_only`, only checks. The error carries a message for the client.
    pub(crate) fn create_topic(
        &self,
        name: &str,
        partitions: i32,
        configs: BTreeMap<String, String>,
        validate_only: bool,
    ) -> Result<Topic, Refusal> {
        self.create_topics(vec![(name.to_owned(), partitions, configs)], validate_only)
            .pop()
            .expect("one answer per topic")
    }

    /// Creates topics as [`Shared::create_topic`] does, each judged alone (the
    /// partition cap counting those before it), with one write of the topics file for
    /// all of them.
    pub(crate) fn create_topics(
        &self,
        wanted: Vec<(String, i32, BTreeMap<String, String>)>,
        validate_only: bool,
    ) -> Vec<Result<Topic, Refusal>> {
        let _admin = lock(&self.topics_admin);
        let mut answers = Vec::with_capacity(wanted.len());
        let mut created = false;
        for (name, partitions, configs) in wanted {
            let answer = self
                .check_new_topic(&name, partitions, &configs)
                .and_then(|()| {
                    let id = meta::random_uuid()
                        .map_err(|e| (ErrorCode::UNKNOWN_SERVER_ERROR, e.to_string()))?;
                    let topic = Topic {
                        id,
                        partitions,
                        configs,
                    };
                    if !validate_only {
                        self.add_partitions_to_store(&name, 0..partitions, &topic.configs)?;
                        self.topics().insert(name.clone(), topic.clone());
                        created = true;
                    }
                    Ok(topic)
                });
            answers.push(answer);
        }
        if created && let Err(e) = self.save_topics() {
            for answer in &mut answers {
                if answer.is_ok() {
                    *answer = Err(e.clone());
                }
            }
        }
        answers
    }

    /// Whether a topic may be created: its name, partition count and settings, and room
    /// under the partition cap. Under `topics_admin`.
    fn check_new_topic(
        &self,
        name: &str,
        partitions: i32,
        configs: &BTreeMap<String, String>,
    ) -> Result<(), Refusal> {
        if name == OFFSETS_TOPIC {
            return Err((
                ErrorCode::INVALID_TOPIC_EXCEPTION,
                format!("{name} is internal"),
            ));
        }
        TopicPartition::new(name, 0)
            .validate()
            .map_err(|e| (ErrorCode::INVALID_TOPIC_EXCEPTION, e.to_string()))?;
        if partitions < 1 {
            return Err((
                ErrorCode::INVALID_PARTITIONS,
                format!("a topic needs at least one partition, not {partitions}"),
            ));
        }
        for (k, v) in configs {
            topic_config::validate(k, v).map_err(|e| (ErrorCode::INVALID_CONFIG, e))?;
        }
        let topics = self.topics();
        if topics.contains_key(name) {
            return Err((
                ErrorCode::TOPIC_ALREADY_EXISTS,
                format!("topic {name} exists already"),
            ));
        }
        check_partition_cap(&topics, partitions, self.config.max_partitions)
    }

    /// Creates partitions `range` of `name` in the store with the topic's settings;
    /// on failure, removes those created.
    fn add_partitions_to_store(
        &self,
        name: &str,
        range: std::ops::Range<i32>,
        configs: &BTreeMap<String, String>,
    ) -> Result<(), Refusal> {
        let overrides = topic_config::partition_config(configs);
        let store = self.store();
        let mut made = Vec::new();
        let result = range.clone().try_for_each(|p| {
            let tp = TopicPartition::new(name, p);
            store.create(&tp)?;
            made.push(tp.clone());
            store.configure(&tp, &overrides)
        });
        result.map_err(|e| {
            for tp in made {
                let _ = store.delete(&tp);
            }
            let code = match e {
                pagecast_log::Error::Config(_) => ErrorCode::INVALID_CONFIG,
                ref e => storage_error_code(e),
            };
            (code, e.to_string())
        })
    }

    /// Writes the topics file from the topics as they are now. Under `topics_admin`, so
    /// that the last write holds the last change.
    fn save_topics(&self) -> Result<(), Refusal> {
        let topics = self.topics().clone();
        meta::save_topics(&self.config.data, &topics).map_err(|e| {
            eprintln!("pagecast broker: {e}");
            (ErrorCode::KAFKA_STORAGE_ERROR, e.to_string())
        })
    }

    /// Deletes a topic: its partitions, committed offsets and producer state.
    pub(crate) fn delete_topic(&self, name: &str) -> Result<Topic, Refusal> {
        let _admin = lock(&self.topics_admin);
        let topic = existing(&self.topics(), name)?;
        {
            let store = self.store();
            for p in 0..topic.partitions {
                match store.delete(&TopicPartition::new(name, p)) {
                    Ok(()) | Err(pagecast_log::Error::UnknownPartition(_)) => {}
                    Err(e) => return Err((storage_error_code(&e), e.to_string())),
                }
            }
        }
        self.topics().remove(name);
        self.save_topics()?;
        lock(&self.offsets).forget_topic(name);
        self.producers.forget_topic(name);
        Ok(topic)
    }

    /// Grows a topic to `count` partitions.
    pub(crate) fn grow_topic(
        &self,
        name: &str,
        count: i32,
        validate_only: bool,
    ) -> Result<(), Refusal> {
        let _admin = lock(&self.topics_admin);
        let topics = self.topics();
        let topic = existing(&topics, name)?;
        if count <= topic.partitions {
            return Err((
                ErrorCode::INVALID_PARTITIONS,
                format!(
                    "topic {name} has {} partitions; the count can only grow",
                    topic.partitions
                ),
            ));
        }
        check_partition_cap(
            &topics,
            count - topic.partitions,
            self.config.max_partitions,
        )?;
        drop(topics);
        if validate_only {
            return Ok(());
        }
        self.add_partitions_to_store(name, topic.partitions..count, &topic.configs)?;
        if let Some(t) = self.topics().get_mut(name) {
            t.partitions = count;
        }
        self.save_topics()
    }

    /// Replaces a topic's settings with `configs` (already checked one by one) and
    /// applies them to its partitions.
    pub(crate) fn set_topic_configs(
        &self,
        name: &str,
        configs: BTreeMap<String, String>,
        validate_only: bool,
    ) -> Result<(), Refusal> {
        let _admin = lock(&self.topics_admin);
        let topic = existing(&self.topics(), name)?;
        let overrides = topic_config::partition_config(&configs);
        {
            let store = self.store();
            for p in 0..topic.partitions {
                let tp = TopicPartition::new(name, p);
                let result = if validate_only && overrides.is_empty() {
                    Ok(())
                } else {
                    store.configure(&tp, &overrides)
                };
                if let Err(e) = result {
                    // Back to what the topic had.
                    let before = topic_config::partition_config(&topic.configs);
                    for q in 0..=p {
                        let _ = store.configure(&TopicPartition::new(name, q), &before);
                    }
                    return Err((ErrorCode::INVALID_CONFIG, e.to_string()));
                }
            }
            if validate_only {
                let before = topic_config::partition_config(&topic.configs);
                for p in 0..topic.partitions {
                    let _ = store.configure(&TopicPartition::new(name, p), &before);
                }
                return Ok(());
            }
        }
        if let Some(t) = self.topics().get_mut(name) {
            t.configs = configs;
        }
        self.save_topics()
    }

    /// Reads every batch header of `tp` from `from`, in order.
    fn walk_headers(
        &self,
        tp: &TopicPartition,
        from: i64,
        mut each: impl FnMut(&Header),
    ) -> pagecast_log::Result<()> {
        let mut offset = from;
        loop {
            let chunks = self.store().read(tp, offset, 16 << 20)?;
            if chunks.is_empty() {
                return Ok(());
            }
            for chunk in &chunks {
                for_each_header(chunk, |h| {
                    offset = h.next_offset();
                    each(h)
                })?;
            }
        }
    }
}

/// Calls `each` with the header of every batch in a chunk of whole batches.
fn for_each_header(chunk: &Chunk, mut each: impl FnMut(&Header)) -> pagecast_log::Result<()> {
    let bad = |position: u64, e: batch::BatchError| pagecast_log::Error::InvalidBatch {
        position: position as usize,
        source: e,
    };
    match chunk {
        Chunk::File {
            file,
            position,
            len,
        } => {
            use std::os::unix::fs::FileExt;
            let mut at = 0u64;
            let mut head = [0u8; HEADER_LEN];
            while at < *len {
                file.read_exact_at(&mut head, position + at)
                    .map_err(|source| pagecast_log::Error::Io {
                        op: "read",
                        file: PathBuf::from("segment"),
                        source,
                    })?;
                let h = Header::parse(&head).map_err(|e| bad(at, e))?;
                each(&h);
                at += h.size();
            }
        }
        Chunk::Mapped(m) => {
            let bytes = m.bytes();
            let mut at = 0usize;
            while at < bytes.len() {
                let h = Header::parse(&bytes[at..]).map_err(|e| bad(at as u64, e))?;
                each(&h);
                at += h.size() as usize;
            }
        }
    }
    Ok(())
}

/// A running broker.
pub struct Broker {
    shared: Arc<Shared>,
    listener: TcpListener,
    metrics_listener: Option<TcpListener>,
    _lock: File,
    /// What opening the data directory did, printed when the broker starts serving.
    opened: Vec<String>,
}

impl Broker {
    /// Opens the data directory (recovering the store if it was not closed cleanly),
    /// rebuilds committed offsets and producer state from the log, and binds the
    /// listeners. Must run inside a tokio runtime.
    pub async fn open(config: Config) -> Result<Broker, BrokerError> {
        // Recovery reads and fsyncs: off the runtime.
        let (mut config, opened) = blocking(move || {
            let opened = open_data(&config);
            Ok((config, opened))
        })
        .await?;
        let (lock_file, meta, topics, store, internal) = opened?;
        let listener = TcpListener::bind(config.addr)
            .await
            .map_err(|source| BrokerError::Io {
                what: format!("listen on {}", config.addr),
                source,
            })?;
        let local = listener.local_addr().map_err(|source| BrokerError::Io {
            what: "local address".into(),
            source,
        })?;
        let metrics_listener = match config.metrics_addr {
            Some(addr) => {
                Some(
                    TcpListener::bind(addr)
                        .await
                        .map_err(|source| BrokerError::Io {
                            what: format!("listen for metrics on {addr}"),
                            source,
                        })?,
                )
            }
            None => None,
        };
        let advertised = config
            .advertised
            .clone()
            .unwrap_or_else(|| (local.ip().to_string(), local.port()));
        let config_groups = config.groups;
        let fetch_session_slots = config.fetch_session_slots;
        let queued_request_bytes = config.queued_request_bytes.clamp(
            1,
            tokio::sync::Semaphore::MAX_PERMITS.min(u32::MAX as usize) as u64,
        ) as usize;
        config.queued_request_bytes = queued_request_bytes as u64;
        let pool =
            Pool::start(config.handler_threads, config.queued_requests).map_err(|source| {
                BrokerError::Io {
                    what: "start the request handler threads".into(),
                    source,
                }
            })?;
        let shared = Arc::new(Shared {
            config,
            advertised,
            meta,
            store,
            internal,
            cleaner_stop: std::sync::atomic::AtomicBool::new(false),
            topics: Mutex::new(topics),
            topics_admin: Mutex::new(()),
            offsets: Mutex::new(CommittedOffsets::default()),
            producers: Producers::default(),
            groups: Mutex::new(groups::Coordinator::new(config_groups)),
            fetch_sessions: Mutex::new(fetch_session::Sessions::new(fetch_session_slots)),
            unsupported_logged: Mutex::default(),
            appended: Notify::new(),
            metrics: Metrics::default(),
            stopping: watch::channel(false).0,
            pool,
            request_bytes: tokio::sync::Semaphore::new(queued_request_bytes),
            coordinator_log: internal::CoordinatorLog::default(),
            group_timers_moved: Notify::new(),
        });
        let s = Arc::clone(&shared);
        let opened = blocking(move || {
            s.internal.create(&internal::partition())?;
            let moved = internal::migrate(&s)?;
            apply_topic_configs(&s)?;
            let replayed = internal::replay(&s)?;
            rebuild_producers(&s)?;
            Ok(moved.into_iter().chain([replayed]).collect())
        })
        .await?;
        Ok(Broker {
            shared,
            listener,
            metrics_listener,
            _lock: lock_file,
            opened,
        })
    }

    /// The address clients connect to.
    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// The address metrics are served on, if any.
    pub fn metrics_addr(&self) -> Option<SocketAddr> {
        self.metrics_listener
            .as_ref()
            .and_then(|l| l.local_addr().ok())
    }

    /// Serves until `shutdown` completes, then stops accepting, lets every connection
    /// finish the request it is answering, and closes the store cleanly.
    pub async fn run(
        self,
        shutdown: impl std::future::Future<Output = ()>,
    ) -> Result<(), BrokerError> {
        let Broker {
            shared,
            listener,
            metrics_listener,
            _lock,
            opened,
        } = self;
        for line in opened {
            eprintln!("pagecast broker: {line}");
        }
        let mut tasks = tokio::task::JoinSet::new();
        if let Some(l) = metrics_listener {
            tasks.spawn(conn::serve_metrics(Arc::clone(&shared), l));
        }
        tasks.spawn(maintain(Arc::clone(&shared)));
        tasks.spawn(clean(Arc::clone(&shared)));
        tasks.spawn(group_timers(Arc::clone(&shared)));
        let writer = tokio::spawn(internal::write_coordinator_records(Arc::clone(&shared)));
        let mut shutdown = std::pin::pin!(shutdown);
        let slots = Arc::new(tokio::sync::Semaphore::new(shared.config.max_connections));
        let per_address = conn::PerAddress::new(shared.config.max_connections_per_ip);
        // A slot is taken before accepting: while every one is in use, connections wait
        // in the listen backlog, as Kafka's acceptor waits for a slot.
        let mut slot = None;
        loop {
            if slot.is_none() {
                tokio::select! {
                    () = &mut shutdown => break,
                    taken = Arc::clone(&slots).acquire_owned() => slot = taken.ok(),
                    Some(_) = tasks.join_next() => {}
                }
                continue;
            }
            tokio::select! {
                () = &mut shutdown => break,
                accepted = listener.accept() => match accepted {
                    Ok((stream, peer)) => {
                        let Some(counted) = per_address.admit(peer.ip()) else {
                            shared.metrics.connections_refused.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                            drop(stream);
                            continue;
                        };
                        let (shared, held) = (Arc::clone(&shared), slot.take());
                        tasks.spawn(async move {
                            conn::serve(shared, stream, peer).await;
                            drop((held, counted));
                        });
                    }
                    Err(e) => {
                        // Out of descriptors or a transient failure: back off rather than spin.
                        eprintln!("pagecast broker: accept: {e}");
                        tokio::time::sleep(Duration::from_millis(100)).await;
                    }
                },
                Some(_) = tasks.join_next() => {}
            }
        }
        drop(listener);
        shared.stopping.send_replace(true);
        shared
            .cleaner_stop
            .store(true, std::sync::atomic::Ordering::Relaxed);
        lock(&shared.groups).abandon(ErrorCode::NOT_COORDINATOR);
        // Connections finish the request in hand (long polls answer at once); a client
        // that sends nothing more is closed by its task seeing `stopping`.
        let drain = async { while tasks.join_next().await.is_some() {} };
        if tokio::time::timeout(Duration::from_secs(10), drain)
            .await
            .is_err()
        {
            eprintln!("pagecast broker: connections still busy after 10 s; closing them");
        }
        // The coordinator's last records are written before the handler threads end.
        shared.coordinator_log.close();
        if let Err(e) = writer.await {
            eprintln!("pagecast broker: the group coordinator's writer: {e}");
        }
        // What is queued is answered; then the handler threads end, and with them the
        // last requests' hold on the store.
        let s = Arc::clone(&shared);
        blocking(move || {
            s.pool.stop();
            Ok(())
        })
        .await?;
        let shared = Arc::into_inner(shared).ok_or_else(|| BrokerError::Io {
            what: "close".into(),
            source: std::io::Error::other("a connection still holds the store"),
        })?;
        blocking(move || {
            let Shared {
                store, internal, ..
            } = shared;
            let closed = store.close();
            Box::new(internal).close()?;
            Ok(closed?)
        })
        .await
    }
}

/// Runs blocking work (recovery, the final flush) on tokio's blocking threads, not on
/// the runtime's.
async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, BrokerError> + Send + 'static,
) -> Result<T, BrokerError> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| BrokerError::Io {
            what: "blocking work".into(),
            source: std::io::Error::other(e.to_string()),
        })?
}

/// Locks the data directory and opens its files and the store, recovering the store if
/// it was not closed cleanly.
#[allow(clippy::type_complexity)]
fn open_data(
    config: &Config,
) -> Result<
    (
        File,
        Meta,
        Topics,
        Box<dyn Store>,
        pagecast_log::segment::SegmentStore,
    ),
    BrokerError,
> {
    let lock_file = meta::lock(&config.data)?;
    let meta = Meta::load_or_create(&config.data, config.storage.name())?;
    let topics = meta::load_topics(&config.data)?;
    let log_dir = config.data.join(meta::LOG_DIR);
    let store: Box<dyn Store> = match config.storage {
        StorageKind::Segment => Box::new(pagecast_log::segment::SegmentStore::open(
            &log_dir,
            pagecast_log::segment::Config {
                fsync: config.fsync,
                progress: Some(recovery_report()),
                ..Default::default()
            },
        )?),
        StorageKind::CommitLog => Box::new(pagecast_log::commitlog::CommitLogStore::open(
            &log_dir,
            pagecast_log::commitlog::Config {
                fsync: config.fsync,
                progress: Some(recovery_report()),
                ..Default::default()
            },
        )?),
    };
    let internal = pagecast_log::segment::SegmentStore::open(
        config.data.join(meta::INTERNAL_DIR),
        internal::store_config(config),
    )?;
    // The internal store's directory may be new: its name is made durable before
    // anything is written into it.
    File::open(&config.data)
        .and_then(|d| d.sync_all())
        .map_err(|source| BrokerError::Io {
            what: format!("fsync {}", config.data.display()),
            source,
        })?;
    Ok((lock_file, meta, topics, store, internal))
}

/// Where the stores report what recovery does: the broker's log, as it happens (a long
/// recovery reports its progress before the broker listens).
pub(crate) fn recovery_report() -> pagecast_log::Progress {
    Arc::new(|line: &str| eprintln!("pagecast broker: {line}"))
}

/// Groups whose offsets one run of the retention pass expires under the coordinator's
/// lock.
const RETENTION_RUN: usize = 256;

/// Acts on the group coordinator's deadlines as each comes, as Kafka's coordinator
/// timer does: sleeps until the earliest, and looks again when an operation sets an
/// earlier one. Expires committed offsets at every retention check interval.
async fn group_timers(shared: Arc<Shared>) {
    let mut stopping = shared.stopping.subscribe();
    let retention = shared.config.groups.offsets_retention;
    let check_every = shared.config.groups.offsets_retention_check_interval;
    let mut check =
        tokio::time::interval_at(tokio::time::Instant::now() + check_every, check_every);
    check.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        let next = lock(&shared.groups).next_deadline();
        let due = async {
            match next {
                Some(at) => tokio::time::sleep_until(at.into()).await,
                None => std::future::pending().await,
            }
        };
        let retention_check = tokio::select! {
            _ = stopping.wait_for(|s| *s) => return,
            () = shared.group_timers_moved.notified() => continue,
            _ = check.tick() => true,
            () = due => false,
        };
        if retention_check {
            // A pass over every offset: on the handler pool, not a runtime thread.
            let s = Arc::clone(&shared);
            let expired = shared.pool.run(move || {
                let started = std::time::Instant::now();
                let ids = lock(&s.groups).retention_candidates(&lock(&s.offsets));
                let (mut offsets, mut groups) = (0, 0);
                // A run of groups at a time, so that other group requests are not held
                // up for the whole pass.
                for run in ids.chunks(RETENTION_RUN) {
                    let (o, g) = internal::coordinate(&s, |c| {
                        c.expire_offsets_of(run, &mut lock(&s.offsets), now_ms(), retention)
                    })
                    .0;
                    (offsets, groups) = (offsets + o, groups + g);
                }
                (offsets, groups, started.elapsed())
            });
            if let Some((offsets, groups, took)) = expired.await
                && offsets + groups > 0
            {
                eprintln!(
                    "pagecast broker: expired {offsets} committed offset(s) and {groups} empty group(s) in {took:?}"
                );
            }
            continue;
        }
        let topics = shared.topic_map();
        internal::coordinate(&shared, |c| c.expire(&topics, std::time::Instant::now()));
    }
}

/// Gives every partition its topic's storage settings, which the store does not keep.
fn apply_topic_configs(shared: &Shared) -> Result<(), BrokerError> {
    let topics = shared.topics().clone();
    let store = shared.store();
    for (name, topic) in topics.iter().filter(|(name, _)| *name != OFFSETS_TOPIC) {
        let overrides = topic_config::partition_config(&topic.configs);
        for p in 0..topic.partitions {
            let tp = TopicPartition::new(name.as_str(), p);
            // A partition the topics file names but the store lacks (a crash between
            // the two writes) is created empty.
            store.create(&tp)?;
            if !overrides.is_empty() {
                store.configure(&tp, &overrides)?;
            }
        }
    }
    Ok(())
}

/// The log cleaner: a pass over the compacted partitions, then a pause of
/// `cleaner_backoff`, as Kafka's cleaner thread runs; on a thread of its own.
async fn clean(shared: Arc<Shared>) {
    let mut stopping = shared.stopping.subscribe();
    loop {
        tokio::select! {
            _ = stopping.wait_for(|s| *s) => return,
            () = tokio::time::sleep(shared.config.cleaner_backoff) => {}
        }
        let s = Arc::clone(&shared);
        let pass = tokio::task::spawn_blocking(move || {
            let started = std::time::Instant::now();
            let cleaned = s.internal.clean(now_ms(), &s.cleaner_stop);
            (cleaned, started.elapsed())
        });
        let Ok((cleaned, took)) = pass.await else {
            eprintln!("pagecast broker: log cleaner: the pass did not finish");
            continue;
        };
        for c in cleaned {
            match c {
                Ok(c) => eprintln!(
                    "pagecast broker: cleaned {}: {} segment(s) of {} bytes into {} of {} bytes, {} record(s) removed, in {took:?}",
                    c.partition,
                    c.segments_before,
                    c.bytes_before,
                    c.segments_after,
                    c.bytes_after,
                    c.records_removed,
                ),
                Err(e) => eprintln!("pagecast broker: log cleaner: {e}"),
            }
        }
    }
}

/// Retention, interval fsyncs and checkpoints, once a second.
async fn maintain(shared: Arc<Shared>) {
    let mut stopping = shared.stopping.subscribe();
    loop {
        tokio::select! {
            _ = stopping.changed() => return,
            () = tokio::time::sleep(Duration::from_secs(1)) => {}
        }
        // Off the runtime, and off the handler pool, whose threads answer clients (as
        // Kafka runs its log maintenance on a scheduler of its own).
        let s = Arc::clone(&shared);
        let maintained = tokio::task::spawn_blocking(move || {
            let now = now_ms();
            s.store().maintain(now).and(s.internal.maintain(now))
        });
        match maintained.await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => eprintln!("pagecast broker: maintenance: {e}"),
            Err(e) => eprintln!("pagecast broker: maintenance: {e}"),
        }
    }
}

/// Rebuilds idempotent producers' state from every partition's batch headers.
fn rebuild_producers(shared: &Shared) -> Result<(), BrokerError> {
    let partitions = shared.store().partitions();
    for tp in partitions {
        let start = shared.store().offsets(&tp)?.start;
        let mut producers = PartitionProducers::default();
        shared.walk_headers(&tp, start, |h| producers.record(h, h.base_offset))?;
        if let Some(max) = producers.max_id() {
            shared.producers.saw_id(max);
        }
        shared.producers.insert(tp, producers);
    }
    if let Some(max) = read_producer_id_block(shared) {
        shared.producers.saw_id(max);
    }
    Ok(())
}

/// Producer IDs are handed out in blocks whose end is written down first, so an ID is
/// never given twice, even to a producer that wrote nothing before a crash.
pub(crate) const PRODUCER_ID_BLOCK: i64 = 1000;
const PRODUCER_ID_FILE: &str = "producer-id-block";

fn read_producer_id_block(shared: &Shared) -> Option<i64> {
    std::fs::read_to_string(shared.config.data.join(PRODUCER_ID_FILE))
        .ok()?
        .trim()
        .parse()
        .ok()
}

/// Hands out the next producer ID.
pub(crate) fn next_producer_id(shared: &Shared) -> Result<i64, MetaError> {
    let mut max_id = lock(&shared.producers.max_id);
    let id = *max_id + 1;
    let block_end = read_producer_id_block(shared).unwrap_or(0);
    if id > block_end {
        meta::write_atomic(
            &shared.config.data.join(PRODUCER_ID_FILE),
            &format!("{}\n", id + PRODUCER_ID_BLOCK),
        )?;
    }
    *max_id = id;
    Ok(id)
}

/// Whether the broker is stopping.
pub(crate) fn is_stopping(shared: &Shared) -> bool {
    *shared.stopping.borrow()
}

/// Figures of every partition, for the metrics page.
pub(crate) fn partition_figures(shared: &Shared) -> Vec<PartitionFigures> {
    let store = shared.store();
    store
        .partitions()
        .into_iter()
        .filter(|tp| tp.topic != OFFSETS_TOPIC)
        .filter_map(|tp| {
            let o = store.offsets(&tp).ok()?;
            Some(PartitionFigures {
                topic: tp.topic.clone(),
                partition: tp.partition,
                log_start: o.start,
                log_end: o.end,
                size: store.size(&tp).unwrap_or(0),
            })
        })
        .collect()
}

/// Figures of every consumer group (those the coordinator knows and those with only
/// committed offsets), with each committed partition's lag behind `partitions`' ends.
pub(crate) fn group_figures(shared: &Shared, partitions: &[PartitionFigures]) -> Vec<GroupFigures> {
    let coordinator = lock(&shared.groups);
    let committed = lock(&shared.offsets);
    let listed = coordinator.list();
    let mut names: Vec<String> = listed.iter().map(|g| g.group_id.clone()).collect();
    names.extend(committed.groups());
    names.sort();
    names.dedup();
    names
        .into_iter()
        .map(|group| {
            let (state, generation, members) = match coordinator.describe(&group) {
                Some(d) => (d.state, d.generation, d.members.len()),
                None => (
                    listed
                        .iter()
                        .find(|g| g.group_id == group)
                        .map_or("Empty", |g| g.state),
                    0,
                    0,
                ),
            };
            let partitions = committed
                .group(&group)
                .map(|((_, topic, partition), c)| {
                    let end = partitions
                        .iter()
                        .find(|p| p.topic == *topic && p.partition == *partition)
                        .map_or(c.offset, |p| p.log_end);
                    GroupPartition {
                        topic: topic.clone(),
                        partition: *partition,
                        committed: c.offset,
                        lag: (end - c.offset).max(0),
                    }
                })
                .collect();
            GroupFigures {
                group,
                state,
                generation,
                members,
                partitions,
            }
        })
        .collect()
}
