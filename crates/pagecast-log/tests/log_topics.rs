//! Deleting partitions and per-partition settings, for each engine: a deleted
//! partition stays deleted across clean restarts and crashes, one created again starts
//! at offset 0, and a partition's own retention and segment size apply to it alone.

mod support;

use std::time::Duration;

use pagecast_log::batch::Builder;
use pagecast_log::{PartitionConfig, Store, TopicPartition, commitlog, segment};

const T0: i64 = 1_700_000_000_000;

fn batch(value: u8) -> Vec<u8> {
    let mut b = Builder::new(T0);
    b.push(T0, None, Some(&[value; 300]));
    b.finish()
}

fn open(kind: &str, dir: &std::path::Path) -> Box<dyn Store> {
    match kind {
        "segment" => {
            Box::new(segment::SegmentStore::open(dir, segment::Config::default()).unwrap())
        }
        _ => Box::new(
            commitlog::CommitLogStore::open(
                dir,
                commitlog::Config {
                    file_bytes: 64 << 10,
                    ..Default::default()
                },
            )
            .unwrap(),
        ),
    }
}

fn values(store: &dyn Store, tp: &TopicPartition) -> Vec<u8> {
    let bytes = support::read_bytes(store, tp, store.offsets(tp).unwrap().start, u64::MAX);
    pagecast_log::batch::split(&bytes)
        .map(|b| {
            let (at, h) = b.unwrap();
            // The last byte of a record is its header count; the one before ends the value.
            bytes[at + h.size() as usize - 2]
        })
        .collect()
}

#[test]
fn a_deleted_partition_stays_deleted_and_comes_back_empty() {
    for kind in ["segment", "commitlog"] {
        for crash in [false, true] {
            let dir = tempfile::tempdir().unwrap();
            let (gone, kept) = (
                TopicPartition::new("gone", 0),
                TopicPartition::new("kept", 0),
            );
            let store = open(kind, dir.path());
            for tp in [&gone, &kept] {
                store.create(tp).unwrap();
            }
            for i in 0..5 {
                store.append(&gone, &mut batch(i), T0).unwrap();
                store.append(&kept, &mut batch(100 + i), T0).unwrap();
            }
            let held = store.read(&gone, 0, u64::MAX).unwrap();
            store.delete(&gone).unwrap();
            // A read from before the deletion still reads.
            assert_eq!(support::concat(&held).len(), 5 * batch(0).len(), "{kind}");
            assert!(store.offsets(&gone).is_err(), "{kind}: deleted");
            assert_eq!(store.partitions(), std::slice::from_ref(&kept), "{kind}");
            // Created again, it starts at offset 0 with only what is appended now.
            store.create(&gone).unwrap();
            store.append(&gone, &mut batch(42), T0).unwrap();
            assert_eq!(store.offsets(&gone).unwrap().end, 1, "{kind}");
            if crash {
                drop(store);
            } else {
                store.close().unwrap();
            }
            let store = open(kind, dir.path());
            let context = format!("{kind}, crash {crash}");
            assert_eq!(values(&*store, &gone), [42], "{context}");
            assert_eq!(
                values(&*store, &kept),
                [100, 101, 102, 103, 104],
                "{context}"
            );
        }
    }
}

#[test]
fn a_partition_s_own_retention_and_segment_size_apply_to_it_alone() {
    let dir = tempfile::tempdir().unwrap();
    let store = segment::SegmentStore::open(dir.path(), segment::Config::default()).unwrap();
    let (small, big) = (
        TopicPartition::new("small", 0),
        TopicPartition::new("big", 0),
    );
    for tp in [&small, &big] {
        store.create(tp).unwrap();
    }
    let own = PartitionConfig {
        segment_bytes: Some(1000),
        retention_bytes: Some(Some(2000)),
        ..Default::default()
    };
    store.configure(&small, &own).unwrap();
    for i in 0..20 {
        store.append(&small, &mut batch(i), T0).unwrap();
        store.append(&big, &mut batch(i), T0).unwrap();
    }
    store.maintain(T0).unwrap();
    let start = store.offsets(&small).unwrap().start;
    assert!(
        start > 10,
        "small kept from {start}: its retention.bytes applied"
    );
    assert_eq!(
        store.offsets(&big).unwrap().start,
        0,
        "big keeps everything"
    );
    assert!(store.size(&small).unwrap() < 3000);
    // Back to the store's settings: nothing more is deleted.
    store
        .configure(&small, &PartitionConfig::default())
        .unwrap();
    store.append(&small, &mut batch(99), T0).unwrap();
    store.maintain(T0).unwrap();
    assert_eq!(store.offsets(&small).unwrap().start, start);
    // A segment size out of range is refused.
    let bad = PartitionConfig {
        segment_bytes: Some(1),
        ..Default::default()
    };
    assert!(store.configure(&small, &bad).is_err());
    let by_age = PartitionConfig {
        retention_age: Some(Some(Duration::from_secs(1))),
        ..Default::default()
    };
    store.configure(&big, &by_age).unwrap();
}

/// The commit log keeps one log for every partition: a partition's own retention is
/// accepted (Kafka accepts it per topic) and not acted on.
#[test]
fn the_commit_log_accepts_per_partition_storage_settings_without_acting_on_them() {
    let dir = tempfile::tempdir().unwrap();
    let store = open("commitlog", dir.path());
    let tp = TopicPartition::new("t", 0);
    store.create(&tp).unwrap();
    for i in 0..3 {
        store.append(&tp, &mut batch(i), 0).unwrap();
    }
    store
        .configure(
            &tp,
            &PartitionConfig {
                retention_bytes: Some(Some(1)),
                retention_age: Some(Some(Duration::from_millis(1))),
                segment_bytes: Some(4096),
                ..Default::default()
            },
        )
        .unwrap();
    store.maintain(T0 + 3_600_000).unwrap();
    let o = store.offsets(&tp).unwrap();
    assert_eq!(
        (o.start, o.end),
        (0, 3),
        "nothing is deleted by the partition's own settings"
    );
    assert!(
        store
            .configure(
                &TopicPartition::new("missing", 0),
                &PartitionConfig::default()
            )
            .is_err()
    );
}

/// The offset a read reports after its last batch is the one the batches themselves
/// end at, across segment and file boundaries, for every starting offset and budget.
#[test]
fn a_read_reports_the_offset_after_its_last_batch() {
    for kind in ["segment", "commitlog"] {
        let dir = tempfile::tempdir().unwrap();
        let store: Box<dyn Store> = match kind {
            "segment" => Box::new(
                segment::SegmentStore::open(
                    dir.path(),
                    segment::Config {
                        segment_bytes: 2000,
                        ..Default::default()
                    },
                )
                .unwrap(),
            ),
            _ => open(kind, dir.path()),
        };
        let tp = TopicPartition::new("ends", 0);
        store.create(&tp).unwrap();
        for i in 0..20u8 {
            let mut b = Builder::new(T0);
            for _ in 0..=i % 3 {
                b.push(T0, None, Some(&[i; 300]));
            }
            store.append(&tp, &mut b.finish(), T0).unwrap();
        }
        let end = store.offsets(&tp).unwrap().end;
        for offset in 0..=end {
            for budget in [1, 500, 1500, 5000, u64::MAX] {
                let (chunks, next) = store.read_with_end(&tp, offset, budget).unwrap();
                let bytes = support::concat(&chunks);
                let walked = pagecast_log::batch::split(&bytes)
                    .map(|b| b.unwrap().1.next_offset())
                    .last()
                    .unwrap_or(offset);
                assert_eq!(next, walked, "{kind}: read at {offset} within {budget}");
            }
        }
    }
}

/// DeleteRecords: the log start offset moves up, reads below it are out of range, time
/// lookups never answer below it, it survives clean and unclean reopens, and the
/// segment engine deletes the segments wholly below it.
#[test]
fn delete_records_moves_the_log_start_and_survives_a_reopen() {
    for kind in ["segment", "commitlog"] {
        for clean in [true, false] {
            let dir = tempfile::tempdir().unwrap();
            let tp = TopicPartition::new("t", 0);
            let small = PartitionConfig {
                segment_bytes: Some(4096),
                ..Default::default()
            };
            let store = open(kind, dir.path());
            store.create(&tp).unwrap();
            store.configure(&tp, &small).unwrap();
            for i in 0..40 {
                store.append(&tp, &mut batch(i), 0).unwrap();
            }
            let segments = |dir: &std::path::Path| {
                std::fs::read_dir(dir.join("t-0"))
                    .map(|d| {
                        d.filter(|e| {
                            e.as_ref()
                                .unwrap()
                                .file_name()
                                .to_string_lossy()
                                .ends_with(".log")
                        })
                        .count()
                    })
                    .unwrap_or(0)
            };
            let before = segments(dir.path());
            assert_eq!(store.delete_records(&tp, 20).unwrap(), 20, "{kind}");
            assert_eq!(store.offsets(&tp).unwrap().start, 20, "{kind}");
            assert!(
                matches!(
                    store.read(&tp, 19, u64::MAX),
                    Err(pagecast_log::Error::OffsetOutOfRange { start: 20, .. })
                ),
                "{kind}: a read below the start"
            );
            assert_eq!(
                values(&*store, &tp),
                (20..40).collect::<Vec<u8>>(),
                "{kind}"
            );
            assert_eq!(
                store.offset_for_timestamp(&tp, T0).unwrap(),
                Some(20),
                "{kind}"
            );
            assert_eq!(
                store.delete_records(&tp, 10).unwrap(),
                20,
                "{kind}: a lower offset changes nothing"
            );
            assert!(
                store.delete_records(&tp, 41).is_err(),
                "{kind}: past the end"
            );
            if kind == "segment" {
                assert!(
                    segments(dir.path()) < before,
                    "segments wholly below the start are deleted ({before} before)"
                );
            }
            if clean {
                store.close().unwrap();
            } else {
                drop(store);
            }
            let store = open(kind, dir.path());
            store.configure(&tp, &small).unwrap();
            let o = store.offsets(&tp).unwrap();
            assert_eq!(
                (o.start, o.end),
                (20, 40),
                "{kind}, clean {clean}: after a reopen"
            );
            assert_eq!(store.delete_records(&tp, 40).unwrap(), 40, "{kind}");
            assert_eq!(values(&*store, &tp), Vec::<u8>::new(), "{kind}");
            store.append(&tp, &mut batch(40), 0).unwrap();
            let o = store.offsets(&tp).unwrap();
            assert_eq!((o.start, o.end), (40, 41), "{kind}: appends go on after it");
            store.close().unwrap();
        }
    }
}

/// A DeleteRecords mark that survived a crash the appends before it did not (the mark is
/// fsynced, appends with `--fsync none` are not): the log starts again, empty, at the
/// mark, and what is appended next is served instead of falling below the start.
#[test]
fn a_log_start_past_the_recovered_end_restarts_the_log_there() {
    let dir = tempfile::tempdir().unwrap();
    let tp = TopicPartition::new("t", 0);
    let store = open("segment", dir.path());
    store.create(&tp).unwrap();
    for i in 0..10 {
        store.append(&tp, &mut batch(i), 0).unwrap();
    }
    drop(store);
    // As if offsets 10..100 had been appended, DeleteRecords(100) answered, and the
    // appends lost in a power cut.
    std::fs::write(dir.path().join("t-0").join("log-start-offset"), "100\n").unwrap();
    let store = open("segment", dir.path());
    let o = store.offsets(&tp).unwrap();
    assert_eq!((o.start, o.end), (100, 100));
    let appended = store.append(&tp, &mut batch(7), 0).unwrap();
    assert_eq!(appended.base_offset, 100);
    assert_eq!(values(&*store, &tp), vec![7], "the new record is served");
    store.close().unwrap();
}
