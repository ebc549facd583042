//! The broker's internal partition (`__consumer_offsets-0`): committed offsets and group
//! metadata are appended to it as records (`offsets`), and replayed from it at
//! start-up, so both survive a restart and a crash as the log does.
//!
//! It lives in a segment store of its own (`DATA/internal/`), whichever engine holds
//! the topics, with Kafka's settings for `__consumer_offsets`: `cleanup.policy=compact`
//! and no time or size retention, so the log cleaner keeps the latest record of each
//! key (a commit, a group), tombstones remove deleted ones, and start-up replays only
//! live records and the active segment.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::ops::RangeInclusive;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use tokio::sync::{Notify, watch};

use pagecast_log::batch::{self, Builder};
use pagecast_log::{Cleanup, Store, TopicPartition};

use super::consumer_groups::GroupSnapshot as ConsumerGroupSnapshot;
use super::groups::{Coordinator, GroupSnapshot};
use super::offsets::{self, Entry, OFFSETS_TOPIC, Record};
use super::{BrokerError, Config, Shared, lock, now_ms};
use crate::error::ErrorCode;

/// The internal partition.
pub(crate) fn partition() -> TopicPartition {
    TopicPartition::new(OFFSETS_TOPIC, 0)
}

/// The internal store's settings: Kafka's for `__consumer_offsets`.
pub(crate) fn store_config(config: &Config) -> pagecast_log::segment::Config {
    pagecast_log::segment::Config {
        segment_bytes: config.offsets_segment_bytes,
        retention_bytes: None,
        retention_age: None,
        cleanup: Cleanup::COMPACT,
        fsync: config.fsync,
        progress: Some(super::recovery_report()),
        ..Default::default()
    }
}

/// Appends `records` in one batch.
pub(crate) fn write(shared: &Shared, records: &[Record]) -> pagecast_log::Result<()> {
    let now = now_ms();
    let mut builder = Builder::new(now);
    for (key, value) in records {
        builder.push(now, Some(key), value.as_deref());
    }
    let mut batch = builder.finish();
    shared
        .internal
        .append(&partition(), &mut batch, now)
        .map(drop)
}

/// Largest run of record bytes appended as one batch.
const BATCH_BYTES: usize = 1 << 20;

/// Bytes of records one batch carries at most: [`BATCH_BYTES`], or half a segment of
/// the internal partition if that is less, so that a batch always fits a segment.
fn batch_bytes(shared: &Shared) -> usize {
    BATCH_BYTES.min(shared.config.offsets_segment_bytes as usize / 2)
}

/// Appends `records` in batches of at most [`batch_bytes`] (a record larger than that
/// goes alone, and fails if it is larger than a segment), in order.
fn write_batches(shared: &Shared, records: &[Record]) -> pagecast_log::Result<()> {
    let size = |(k, v): &Record| k.len() + v.as_ref().map_or(0, Vec::len);
    let (mut start, mut bytes) = (0, 0);
    let most = batch_bytes(shared);
    for (i, r) in records.iter().enumerate() {
        if i > start && bytes + size(r) > most {
            write(shared, &records[start..i])?;
            (start, bytes) = (i, 0);
        }
        bytes += size(r);
    }
    if start < records.len() {
        write(shared, &records[start..])?;
    }
    Ok(())
}

/// Failed writes remembered for the answers that wait on them.
const FAILURES_KEPT: usize = 1024;

/// The group coordinator's records on their way to the internal partition, Kafka's
/// CoordinatorResult: each operation's records are queued under the coordinator's
/// lock, so in the order the operations ran; one task appends them in that order; and
/// an answer goes out only once the records it depends on are written.
#[derive(Default)]
pub(crate) struct CoordinatorLog {
    queue: Mutex<Queue>,
    wake: Notify,
    progress: watch::Sender<Progress>,
}

#[derive(Default)]
struct Queue {
    records: Vec<Record>,
    /// The sequence number of the last operation that queued records.
    last: u64,
    /// Set at shutdown: the writer writes what is queued, then ends.
    closed: bool,
}

#[derive(Default)]
struct Progress {
    /// Every operation up to this sequence number has been written, or failed.
    through: u64,
    /// Sequence ranges whose write failed (the newest [`FAILURES_KEPT`]).
    failed: VecDeque<RangeInclusive<u64>>,
    /// The writer has ended: nothing queued from now on is written.
    ended: bool,
}

impl CoordinatorLog {
    /// Queues an operation's records; returns the sequence number to await. An
    /// operation that wrote nothing awaits the last one that did, as its answer may
    /// rest on what that one changed (Kafka's coordinator does the same).
    fn queue(&self, records: Vec<Record>) -> u64 {
        let mut q = lock(&self.queue);
        if !records.is_empty() {
            q.last += 1;
            q.records.extend(records);
            self.wake.notify_one();
        }
        q.last
    }

    /// The sequence number of the last operation that queued records.
    fn last(&self) -> u64 {
        lock(&self.queue).last
    }

    /// Lets the writer end once it has written what is queued.
    pub(crate) fn close(&self) {
        lock(&self.queue).closed = true;
        self.wake.notify_one();
    }
}

/// Runs a group coordinator operation and queues the records it implies; returns its
/// result and the sequence number that [`written`] awaits before the answer goes out.
/// An operation that set an earlier deadline wakes the timer task.
pub(crate) fn coordinate<T>(shared: &Shared, op: impl FnOnce(&mut Coordinator) -> T) -> (T, u64) {
    let mut groups = lock(&shared.groups);
    let result = op(&mut groups);
    let seq = shared.coordinator_log.queue(groups.take_records());
    if groups.take_moved() {
        shared.group_timers_moved.notify_one();
    }
    (result, seq)
}

/// The sequence number of the last operation that queued records: an answer handed
/// over by another request's operation (a JoinGroup completed by the last member's)
/// awaits it.
pub(crate) fn last_queued(shared: &Shared) -> u64 {
    // Taken under the coordinator's lock: the operation that handed the answer over
    // may still be queuing its records.
    let _coordinator = lock(&shared.groups);
    shared.coordinator_log.last()
}

/// Waits until the records of operation `seq` and of every one before it are written.
/// Fails if their write failed, or if the broker stopped writing them; the answer is
/// then NOT_COORDINATOR, as Kafka's when its coordinator cannot append.
pub(crate) async fn written(shared: &Shared, seq: u64) -> Result<(), ErrorCode> {
    let mut progress = shared.coordinator_log.progress.subscribe();
    let done = progress
        .wait_for(|p| p.through >= seq || p.ended)
        .await
        .map_err(|_| ErrorCode::NOT_COORDINATOR)?;
    if done.through < seq || done.failed.iter().any(|r| r.contains(&seq)) {
        return Err(ErrorCode::NOT_COORDINATOR);
    }
    Ok(())
}

/// Appends the coordinator's queued records, in order, on the handler pool, until the
/// log is closed and everything queued is written.
pub(crate) async fn write_coordinator_records(shared: Arc<Shared>) {
    let log = &shared.coordinator_log;
    loop {
        let taken = {
            let mut q = lock(&log.queue);
            if q.records.is_empty() && q.closed {
                log.progress.send_modify(|p| p.ended = true);
                return;
            }
            (!q.records.is_empty()).then(|| (std::mem::take(&mut q.records), q.last))
        };
        let Some((records, through)) = taken else {
            log.wake.notified().await;
            continue;
        };
        let s = Arc::clone(&shared);
        let ok = match shared.pool.run(move || write_batches(&s, &records)).await {
            Some(Ok(())) => true,
            Some(Err(e)) => {
                eprintln!("pagecast broker: writing group coordinator records: {e}");
                false
            }
            None => {
                eprintln!(
                    "pagecast broker: writing group coordinator records: the handler pool is stopped"
                );
                false
            }
        };
        log.progress.send_modify(|p| {
            if !ok {
                if p.failed.len() == FAILURES_KEPT {
                    p.failed.pop_front();
                }
                p.failed.push_back(p.through + 1..=through);
            }
            p.through = through;
        });
    }
}

/// Calls `visit` with the key, value and timestamp of every record of the internal
/// partition in `store`, in order; returns how many records there were.
fn for_each_record(
    store: &dyn Store,
    mut visit: impl FnMut(&[u8], Option<&[u8]>, i64),
) -> Result<u64, BrokerError> {
    let tp = partition();
    let mut offset = store.offsets(&tp)?.start;
    let mut count = 0;
    loop {
        let chunks = store.read(&tp, offset, 4 << 20)?;
        if chunks.is_empty() {
            break;
        }
        let mut bytes = Vec::new();
        for c in &chunks {
            c.copy_into(&mut bytes).map_err(|source| BrokerError::Io {
                what: format!("read {tp}"),
                source,
            })?;
        }
        for item in batch::split_stored(&bytes) {
            let (at, header) = item.map_err(|(position, source)| {
                pagecast_log::Error::InvalidBatch { position, source }
            })?;
            offset = header.next_offset();
            let (_, records) =
                crate::records::records(&bytes[at..]).map_err(|e| BrokerError::Io {
                    what: format!("read {tp} at offset {}", header.base_offset),
                    source: std::io::Error::other(e.to_string()),
                })?;
            for r in records {
                count += 1;
                if let Some(key) = r.key {
                    visit(key, r.value, r.timestamp);
                }
            }
        }
    }
    Ok(count)
}

/// Moves the internal partition out of the topics' store, where brokers kept it before
/// it had a compacted store of its own: its live records (the latest of each key that
/// is not a tombstone) are appended to the internal store in their order, with their
/// timestamps, made durable, and the old partition is deleted. A crash part-way leaves
/// the old partition, and the next start copies it again: the same records, so the
/// latest of each key stays the same. Returns what it did, for a person to read.
pub(crate) fn migrate(shared: &Shared) -> Result<Option<String>, BrokerError> {
    let tp = partition();
    if !shared.store().partitions().contains(&tp) {
        return Ok(None);
    }
    let started = Instant::now();
    /// A key's latest record: where it came, its value and timestamp.
    struct Latest {
        seq: u64,
        value: Option<Vec<u8>>,
        timestamp: i64,
    }
    let mut latest: HashMap<Vec<u8>, Latest> = HashMap::new();
    let mut seq = 0u64;
    let read = for_each_record(shared.store(), |key, value, timestamp| {
        seq += 1;
        let value = value.map(<[u8]>::to_vec);
        latest.insert(
            key.to_vec(),
            Latest {
                seq,
                value,
                timestamp,
            },
        );
    })?;
    let mut live: Vec<_> = latest
        .into_iter()
        .filter_map(|(key, l)| l.value.map(|v| (l.seq, key, v, l.timestamp)))
        .collect();
    live.sort_unstable_by_key(|r| r.0);
    let mut builder: Option<Builder> = None;
    let flush = |b: &mut Option<Builder>| -> pagecast_log::Result<()> {
        if let Some(b) = b.take() {
            shared.internal.append(&tp, &mut b.finish(), now_ms())?;
        }
        Ok(())
    };
    for (_, key, value, ts) in &live {
        let b = builder.get_or_insert_with(|| Builder::new(*ts));
        b.push(*ts, Some(key), Some(value));
        if b.size() >= batch_bytes(shared) {
            flush(&mut builder)?;
        }
    }
    flush(&mut builder)?;
    shared.internal.flush()?;
    shared.store().delete(&tp)?;
    Ok(Some(format!(
        "moved {tp} to its own compacted store ({}): {} live record(s) of {read}, in {:?}",
        shared.config.data.join(super::meta::INTERNAL_DIR).display(),
        live.len(),
        started.elapsed()
    )))
}

/// Reads every record of the internal partition into the committed offsets and the
/// group coordinator; returns how many there were and how long it took, for a person to
/// read.
pub(crate) fn replay(shared: &Shared) -> Result<String, BrokerError> {
    let started = Instant::now();
    // The newest record of each group, and when it was written.
    let mut groups: BTreeMap<String, (Option<Vec<u8>>, i64)> = BTreeMap::new();
    let mut consumer_groups: BTreeMap<String, Option<Vec<u8>>> = BTreeMap::new();
    let mut committed = lock(&shared.offsets);
    let read = for_each_record(
        &shared.internal,
        |key, value, timestamp| match offsets::decode(key, value, timestamp) {
            Some(Entry::Commit(key, Some(value))) => committed.set(key, value),
            Some(Entry::Commit(key, None)) => committed.remove(&key),
            Some(Entry::Group(group, snapshot)) => {
                groups.insert(group, (snapshot, timestamp));
            }
            Some(Entry::ConsumerGroup(group, snapshot)) => {
                consumer_groups.insert(group, snapshot);
            }
            None => {}
        },
    )?;
    let committers = committed.groups();
    drop(committed);
    let now = Instant::now();
    let mut coordinator = lock(&shared.groups);
    for (group, (snapshot, written_ms)) in groups {
        if let Some(snap) = snapshot.as_deref().and_then(GroupSnapshot::decode_bytes) {
            coordinator.restore(&group, snap, written_ms, now);
        }
    }
    let topics = shared.topic_map();
    for (group, snapshot) in consumer_groups {
        if let Some(snap) = snapshot
            .as_deref()
            .and_then(ConsumerGroupSnapshot::decode_bytes)
        {
            coordinator.restore_consumer(&group, snap, &topics, now);
        }
    }
    for group in committers {
        coordinator.hold_commits(&group);
    }
    Ok(format!(
        "read {read} record(s) of {} in {:?}",
        partition(),
        started.elapsed()
    ))
}
