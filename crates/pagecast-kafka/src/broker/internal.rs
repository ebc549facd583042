//! The broker's internal partition (`__consumer_offsets-0`): committed offsets and group
//! metadata are appended to it as records (`offsets`), and replayed from it at
//! start-up, so both survive a restart and a crash as the log does.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Instant;

use pagecast_log::TopicPartition;
use pagecast_log::batch::{self, Builder};

use super::consumer_groups::GroupSnapshot as ConsumerGroupSnapshot;
use super::groups::GroupSnapshot;
use super::offsets::{self, Entry, OFFSETS_TOPIC, Record};
use super::{BrokerError, Shared, lock, now_ms};

/// The internal partition.
pub(crate) fn partition() -> TopicPartition {
    TopicPartition::new(OFFSETS_TOPIC, 0)
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
        .store()
        .append(&partition(), &mut batch, now)
        .map(drop)
}

/// Writes the metadata of every group that changed since it was last written: the
/// snapshots are taken here, the append runs on the handler pool.
pub(crate) async fn persist_groups(shared: &Arc<Shared>) {
    // Held from the snapshots to their append, so that snapshots reach the log in the
    // order they were taken: replay keeps the last.
    let _in_order = shared.group_writes.lock().await;
    let (classic, consumer) = {
        let mut groups = lock(&shared.groups);
        (groups.take_snapshots(), groups.consumer.take_snapshots())
    };
    if classic.is_empty() && consumer.is_empty() {
        return;
    }
    let records: Vec<Record> =
        classic
            .iter()
            .map(|(group, snap)| offsets::group_record(group, Some(snap.encode_bytes())))
            .chain(consumer.iter().map(|(group, snap)| {
                offsets::consumer_group_record(group, Some(snap.encode_bytes()))
            }))
            .collect();
    let s = Arc::clone(shared);
    let written = shared.pool.run(move || write(&s, &records)).await;
    match written {
        Some(Ok(())) => {}
        Some(Err(e)) => eprintln!("pagecast broker: storing group metadata: {e}"),
        None => eprintln!("pagecast broker: storing group metadata: the handler pool is stopped"),
    }
}

/// Reads every record of the internal partition into the committed offsets and the
/// group coordinator.
pub(crate) fn replay(shared: &Shared) -> Result<(), BrokerError> {
    let tp = partition();
    let mut offset = shared.store().offsets(&tp)?.start;
    let mut groups: BTreeMap<String, Option<Vec<u8>>> = BTreeMap::new();
    let mut consumer_groups: BTreeMap<String, Option<Vec<u8>>> = BTreeMap::new();
    let mut committed = lock(&shared.offsets);
    loop {
        let chunks = shared.store().read(&tp, offset, 4 << 20)?;
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
        for item in batch::split(&bytes) {
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
                match r.key.and_then(|k| offsets::decode(k, r.value)) {
                    Some(Entry::Commit(key, Some(value))) => committed.set(key, value),
                    Some(Entry::Commit(key, None)) => committed.remove(&key),
                    Some(Entry::Group(group, snapshot)) => {
                        groups.insert(group, snapshot);
                    }
                    Some(Entry::ConsumerGroup(group, snapshot)) => {
                        consumer_groups.insert(group, snapshot);
                    }
                    None => {}
                }
            }
        }
    }
    drop(committed);
    let now = Instant::now();
    let mut coordinator = lock(&shared.groups);
    for (group, snapshot) in groups {
        if let Some(snap) = snapshot.as_deref().and_then(GroupSnapshot::decode_bytes) {
            coordinator.restore(&group, snap, now);
        }
    }
    let topics = shared.topic_map();
    for (group, snapshot) in consumer_groups {
        if let Some(snap) = snapshot
            .as_deref()
            .and_then(ConsumerGroupSnapshot::decode_bytes)
        {
            coordinator.consumer.restore(&group, snap, &topics, now);
        }
    }
    Ok(())
}
