//! The oracle both engines are held to: an in-memory list of the batches acknowledged
//! per partition, and random batches to feed it.

#![allow(dead_code)]

use std::collections::BTreeMap;

use fastrand::Rng;
use pagecast_log::batch::{self, Builder};
use pagecast_log::{Chunk, Store, TopicPartition};

/// A batch the store acknowledged, as the store must hand it back.
#[derive(Clone)]
pub struct Stored {
    pub base_offset: i64,
    pub max_timestamp: i64,
    pub bytes: Vec<u8>,
}

impl Stored {
    pub fn next_offset(&self) -> i64 {
        batch::check(&self.bytes).unwrap().next_offset()
    }
}

/// What every partition must hold: acknowledged batches from the first one retention
/// kept.
#[derive(Default, Clone)]
pub struct Model {
    pub partitions: BTreeMap<TopicPartition, Vec<Stored>>,
}

impl Model {
    pub fn batches(&self, tp: &TopicPartition) -> &[Stored] {
        self.partitions.get(tp).map_or(&[], Vec::as_slice)
    }

    /// Records an acknowledged append of `buf` (base offsets already set by the store).
    pub fn appended(&mut self, tp: &TopicPartition, buf: &[u8]) {
        let list = self.partitions.entry(tp.clone()).or_default();
        for item in batch::split(buf) {
            let (at, h) = item.unwrap();
            list.push(Stored {
                base_offset: h.base_offset,
                max_timestamp: h.max_timestamp,
                bytes: buf[at..at + h.size() as usize].to_vec(),
            });
        }
    }

    /// The bytes a read from `offset` with `max_bytes` must return.
    pub fn read(&self, tp: &TopicPartition, offset: i64, max_bytes: u64) -> Vec<u8> {
        let mut out = Vec::new();
        for b in self.batches(tp).iter().filter(|b| b.next_offset() > offset) {
            if !out.is_empty() && (out.len() + b.bytes.len()) as u64 > max_bytes {
                break;
            }
            out.extend_from_slice(&b.bytes);
            if out.len() as u64 >= max_bytes {
                break;
            }
        }
        out
    }

    pub fn offset_for_timestamp(&self, tp: &TopicPartition, ts: i64) -> Option<i64> {
        self.batches(tp)
            .iter()
            .find(|b| b.max_timestamp >= ts)
            .map(|b| b.base_offset)
    }

    /// Drops batches below `start`, which must be a batch boundary.
    pub fn retain_from(&mut self, tp: &TopicPartition, start: i64) {
        let list = self.partitions.entry(tp.clone()).or_default();
        assert!(
            start == list.first().map_or(start, |b| b.base_offset)
                || list.iter().any(|b| b.base_offset == start)
                || list.last().is_some_and(|b| b.next_offset() == start),
            "{tp}: log start {start} is not a batch boundary"
        );
        list.retain(|b| b.base_offset >= start);
    }

    pub fn bytes(&self, tp: &TopicPartition) -> u64 {
        self.batches(tp).iter().map(|b| b.bytes.len() as u64).sum()
    }
}

/// A batch of 1 to `max_records` records with values up to `max_value` bytes, timestamps
/// from `ts` (sometimes a little earlier, as producers' clocks allow).
pub fn random_batch(rng: &mut Rng, ts: i64, max_records: usize, max_value: usize) -> Vec<u8> {
    let mut b = Builder::new(ts);
    for i in 0..rng.usize(1..=max_records) {
        let value: Vec<u8> = (0..rng.usize(0..=max_value)).map(|_| rng.u8(..)).collect();
        let t = ts + i as i64 - if rng.u8(..10) == 0 { 50 } else { 0 };
        b.push(t, Some(format!("key-{i}").as_bytes()), Some(&value));
    }
    b.finish()
}

/// All the bytes of a read, copied.
pub fn read_bytes(store: &dyn Store, tp: &TopicPartition, offset: i64, max_bytes: u64) -> Vec<u8> {
    let chunks = store
        .read(tp, offset, max_bytes)
        .unwrap_or_else(|e| panic!("{tp}: read at {offset}: {e}"));
    concat(&chunks)
}

pub fn concat(chunks: &[Chunk]) -> Vec<u8> {
    let mut out = Vec::new();
    for c in chunks {
        assert!(!c.is_empty(), "a read returned an empty chunk");
        c.copy_into(&mut out).unwrap();
    }
    out
}

/// Asserts that the store holds exactly what the model holds, partition by partition.
pub fn assert_matches(store: &dyn Store, model: &Model, context: &str) {
    for (tp, batches) in &model.partitions {
        let offsets = store.offsets(tp).unwrap();
        let start = batches.first().map_or(offsets.start, |b| b.base_offset);
        let end = batches.last().map_or(offsets.end, Stored::next_offset);
        assert_eq!(
            (offsets.start, offsets.end),
            (start, end),
            "{context}: {tp} offsets"
        );
        let got = read_bytes(store, tp, start, u64::MAX);
        let want: Vec<u8> = batches.iter().flat_map(|b| b.bytes.clone()).collect();
        assert!(
            got == want,
            "{context}: {tp}: {} bytes read, {} expected",
            got.len(),
            want.len()
        );
    }
}

/// The engines under test, opened with settings drawn from a seed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Engine {
    Segment,
    CommitLog,
}

/// Sizes a test run uses, small so that rolls, index entries and retention all happen.
#[derive(Debug, Clone, Copy)]
pub struct Sizes {
    /// Segment size (segment engine) or commit-log file size.
    pub file_bytes: u64,
    pub index_interval: u64,
    pub max_index_bytes: u64,
    pub retention_bytes: Option<u64>,
    pub fsync: pagecast_log::Fsync,
}

impl Sizes {
    pub fn random(rng: &mut Rng) -> Sizes {
        Sizes {
            file_bytes: rng.u64(4096..=32768),
            index_interval: [64, 512, 4096][rng.usize(..3)],
            max_index_bytes: [48, 1024, 10 << 20][rng.usize(..3)],
            retention_bytes: rng.bool().then(|| rng.u64(20_000..=80_000)),
            fsync: match rng.u8(..10) {
                0 => pagecast_log::Fsync::Always,
                1 => pagecast_log::Fsync::Interval(std::time::Duration::from_millis(5)),
                _ => pagecast_log::Fsync::None,
            },
        }
    }
}

pub fn open(
    engine: Engine,
    dir: &std::path::Path,
    sizes: Sizes,
    repair: bool,
) -> pagecast_log::Result<Box<dyn Store>> {
    match engine {
        Engine::Segment => {
            let config = pagecast_log::segment::Config {
                segment_bytes: sizes.file_bytes,
                index_interval: sizes.index_interval,
                max_index_bytes: sizes.max_index_bytes,
                retention_bytes: sizes.retention_bytes,
                retention_age: None,
                fsync: sizes.fsync,
                repair,
                ..Default::default()
            };
            Ok(Box::new(pagecast_log::segment::SegmentStore::open(
                dir, config,
            )?))
        }
        Engine::CommitLog => {
            let config = pagecast_log::commitlog::Config {
                file_bytes: sizes.file_bytes,
                queue_file_entries: (sizes.max_index_bytes / 20).max(1),
                retention_bytes: sizes.retention_bytes,
                retention_age: None,
                fsync: sizes.fsync,
                repair,
                ..Default::default()
            };
            Ok(Box::new(pagecast_log::commitlog::CommitLogStore::open(
                dir, config,
            )?))
        }
    }
}
