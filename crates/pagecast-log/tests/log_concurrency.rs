//! Both engines shared by threads, as the broker's handler pool shares them: writers
//! append to their own partitions while readers read every partition from its start
//! and maintenance runs DeleteRecords, retention and fsyncs beside them, and appends
//! roll segments and switch commit-log files. Every
//! read must return whole batches, in offset order, each the one appended at its offset;
//! at the end every partition holds exactly what was appended.

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use pagecast_log::batch::{self, Builder};
use pagecast_log::{Fsync, Store, TopicPartition, commitlog, segment};

const T0: i64 = 1_700_000_000_000;
const PARTITIONS: i32 = 3;

/// A batch whose value names its partition and its number in that partition.
fn batch(partition: i32, n: u32) -> Vec<u8> {
    let mut b = Builder::new(T0 + i64::from(n));
    let mut value = [0u8; 200];
    value[..4].copy_from_slice(&partition.to_be_bytes());
    value[4..8].copy_from_slice(&n.to_be_bytes());
    b.push(T0 + i64::from(n), None, Some(&value));
    b.finish()
}

/// The (partition, number) a batch written by [`batch`] carries.
fn identity(bytes: &[u8]) -> (i32, u32) {
    // The last byte of the record is its header count, after the value.
    let at = bytes.len() - 1 - 200;
    let p = i32::from_be_bytes(bytes[at..at + 4].try_into().unwrap());
    let n = u32::from_be_bytes(bytes[at + 4..at + 8].try_into().unwrap());
    (p, n)
}

/// Both engines with small files, so that appends roll and switch often, and a size
/// limit, so that retention deletes while readers read.
fn stores(dir: &std::path::Path, fsync: Fsync) -> Vec<(&'static str, Arc<dyn Store>)> {
    let segment = segment::SegmentStore::open(
        dir.join("segment"),
        segment::Config {
            segment_bytes: 64 << 10,
            index_interval: 512,
            max_index_bytes: 4096,
            retention_bytes: Some(192 << 10),
            fsync,
            ..Default::default()
        },
    )
    .unwrap();
    let commitlog = commitlog::CommitLogStore::open(
        dir.join("commitlog"),
        commitlog::Config {
            file_bytes: 64 << 10,
            queue_file_entries: 100,
            retention_bytes: Some(384 << 10),
            fsync,
            ..Default::default()
        },
    )
    .unwrap();
    vec![
        ("segment", Arc::new(segment)),
        ("commitlog", Arc::new(commitlog)),
    ]
}

/// Reads `tp` from its start to its end, checking every batch; returns how many it saw.
fn read_all(store: &dyn Store, tp: &TopicPartition) -> u64 {
    let end = store.offsets(tp).unwrap().end;
    let mut offset = store.offsets(tp).unwrap().start;
    let mut seen = 0;
    while offset < end {
        let (chunks, next) = match store.read_with_end(tp, offset, 16 << 10) {
            Ok(read) => read,
            // DeleteRecords or retention moved the start past the reader.
            Err(pagecast_log::Error::OffsetOutOfRange { start, .. }) if start > offset => {
                offset = start;
                continue;
            }
            Err(e) => panic!("{tp} at {offset}: {e}"),
        };
        let mut bytes = Vec::new();
        for c in &chunks {
            c.copy_into(&mut bytes).unwrap();
        }
        let mut expect = offset;
        for found in batch::split(&bytes) {
            let (at, h) = found.unwrap_or_else(|e| panic!("{tp} at {offset}: {e:?}"));
            let whole = &bytes[at..at + h.size() as usize];
            batch::check(whole).unwrap();
            assert_eq!(h.base_offset, expect, "{tp}: batches out of order");
            // One record per batch: offset n holds batch n.
            assert_eq!(
                identity(whole),
                (tp.partition, h.base_offset as u32),
                "{tp}"
            );
            expect = h.next_offset();
            seen += 1;
        }
        assert_eq!(
            expect, next,
            "{tp}: the read's end is the offset after its batches"
        );
        assert!(next > offset, "{tp}: a read below the end returned nothing");
        offset = next;
    }
    seen
}

struct Stop<'a>(&'a AtomicBool);

impl Drop for Stop<'_> {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Release);
    }
}

#[test]
fn appends_reads_and_maintenance_run_together_and_lose_nothing() {
    // An fsync each append is slow on a real disk: fewer of them.
    for (fsync, batches) in [(Fsync::None, 1500u32), (Fsync::Always, 200)] {
        let dir = tempfile::tempdir().unwrap();
        for (kind, store) in stores(dir.path(), fsync) {
            let tps: Vec<TopicPartition> = (0..PARTITIONS)
                .map(|p| TopicPartition::new("t", p))
                .collect();
            for tp in &tps {
                store.create(tp).unwrap();
            }
            let done = Arc::new(AtomicBool::new(false));
            std::thread::scope(|s| {
                // Stops the readers and maintenance however the scope ends, so that a
                // failing writer fails the test instead of hanging it.
                let _stop = Stop(&done);
                let writers: Vec<_> = tps
                    .iter()
                    .map(|tp| {
                        let store = &store;
                        s.spawn(move || {
                            for n in 0..batches {
                                let mut b = batch(tp.partition, n);
                                let a = store.append(tp, &mut b, T0).unwrap();
                                assert_eq!(a.base_offset, i64::from(n), "{kind} {tp}");
                            }
                        })
                    })
                    .collect();
                for _ in 0..2 {
                    let (store, tps, done) = (&store, &tps, &done);
                    s.spawn(move || {
                        while !done.load(Ordering::Acquire) {
                            for tp in tps {
                                read_all(&**store, tp);
                            }
                        }
                    });
                }
                let (store, done) = (&store, &done);
                let tps = &tps;
                s.spawn(move || {
                    while !done.load(Ordering::Acquire) {
                        store.maintain(T0).unwrap();
                        for tp in tps {
                            let end = store.offsets(tp).unwrap().end;
                            store.delete_records(tp, end / 8).unwrap();
                        }
                    }
                });
                for w in writers {
                    w.join().unwrap();
                }
                done.store(true, Ordering::Release);
            });
            // Retention once more, after the last append.
            store.maintain(T0).unwrap();
            // The commit log's retention counts the one log all partitions share.
            let total: u64 = tps.iter().map(|tp| store.size(tp).unwrap()).sum();
            if batches == 1500 && kind == "commitlog" {
                assert!(
                    total < 600 << 10,
                    "{kind}: retention ran, {total} bytes kept"
                );
            }
            for tp in &tps {
                let o = store.offsets(tp).unwrap();
                assert_eq!(o.end, i64::from(batches), "{kind} {fsync:?} {tp}");
                assert!(o.start > 0, "{kind} {tp}: DeleteRecords ran");
                // 1500 batches of 270 bytes, past an eighth deleted, are 354 000
                // bytes: the segment engine's retention keeps less of each partition
                // (the fsync run writes too little for it).
                if batches == 1500 && kind == "segment" {
                    assert!(
                        store.size(tp).unwrap() < 300 << 10,
                        "{kind} {tp}: retention ran"
                    );
                }
                assert_eq!(
                    read_all(&*store, tp),
                    (o.end - o.start) as u64,
                    "{kind} {fsync:?} {tp}"
                );
            }
        }
    }
}
