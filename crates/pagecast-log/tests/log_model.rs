//! Random appends, reads, lookups, retention, clean restarts and crashes, checked against
//! an in-memory model, for each engine: the store must answer exactly as the model does.

mod support;

use fastrand::Rng;
use pagecast_log::{Error, TopicPartition};
use support::{Engine, Model, Sizes, assert_matches, open, random_batch, read_bytes};

const SEEDS: u64 = 40;
const STEPS: usize = 160;

fn run(engine: Engine, seed: u64) {
    let mut rng = Rng::with_seed(seed);
    let dir = tempfile::tempdir().unwrap();
    let sizes = Sizes::random(&mut rng);
    let context = format!("{engine:?} seed {seed} {sizes:?}");
    let tps = [
        TopicPartition::new("orders", 0),
        TopicPartition::new("orders", 1),
        TopicPartition::new("a.b_c-d", 7),
    ];
    let mut store = open(engine, dir.path(), sizes, false).unwrap();
    for tp in &tps {
        store.create(tp).unwrap();
    }
    let mut model = Model::default();
    let mut now = 1_700_000_000_000i64;
    for step in 0..STEPS {
        let context = format!("{context} step {step}");
        let tp = &tps[rng.usize(..tps.len())];
        let offsets = store.offsets(tp).unwrap();
        match rng.u8(..100) {
            0..=49 => {
                let mut buf = Vec::new();
                for _ in 0..rng.usize(1..=3) {
                    let ts = now - rng.i64(0..1000);
                    buf.extend(random_batch(&mut rng, ts, 20, 200));
                }
                match store.append(tp, &mut buf, now) {
                    Ok(appended) => {
                        assert_eq!(appended.base_offset, offsets.end, "{context}");
                        model.appended(tp, &buf);
                    }
                    Err(Error::BatchTooLarge { .. }) if buf.len() as u64 > sizes.file_bytes / 2 => {
                    }
                    Err(e) => panic!("{context}: append of {} bytes: {e}", buf.len()),
                }
                now += rng.i64(0..100);
            }
            50..=74 => {
                let offset = rng.i64(offsets.start..=offsets.end);
                let max = [1, 100, 1000, 10_000, u64::MAX][rng.usize(..5)];
                let got = read_bytes(&*store, tp, offset, max);
                let want = model.read(tp, offset, max);
                assert!(
                    got == want,
                    "{context}: read {tp} at {offset} max {max}: {} bytes, {} expected",
                    got.len(),
                    want.len()
                );
            }
            75..=79 => {
                for offset in [offsets.start - 1, offsets.end + 1] {
                    let got = store.read(tp, offset, 1000);
                    assert!(
                        matches!(got, Err(Error::OffsetOutOfRange { .. })),
                        "{context}: read at {offset}: {got:?}"
                    );
                }
            }
            80..=84 => {
                let ts = now - rng.i64(-100..1500);
                assert_eq!(
                    store.offset_for_timestamp(tp, ts).unwrap(),
                    model.offset_for_timestamp(tp, ts),
                    "{context}: timestamp {ts}"
                );
            }
            85..=89 => {
                store.maintain(now).unwrap();
                for tp in &tps {
                    let start = store.offsets(tp).unwrap().start;
                    model.retain_from(tp, start);
                    if let Some(limit) = sizes.retention_bytes {
                        let left = model.bytes(tp);
                        assert!(
                            left < limit + sizes.file_bytes,
                            "{context}: {tp} kept {left} bytes over a {limit}-byte limit"
                        );
                    }
                }
            }
            90..=94 => {
                store.close().unwrap();
                store = open(engine, dir.path(), sizes, false).unwrap();
            }
            _ => {
                drop(store);
                store = open(engine, dir.path(), sizes, false).unwrap();
            }
        }
    }
    assert_matches(&*store, &model, &context);
    store.close().unwrap();
    let store = open(engine, dir.path(), sizes, false).unwrap();
    assert_matches(&*store, &model, &format!("{context} after the last reopen"));
}

#[test]
fn the_segment_store_answers_as_the_model_does() {
    for seed in 0..SEEDS {
        run(Engine::Segment, seed);
    }
}

#[test]
fn the_commit_log_store_answers_as_the_model_does() {
    for seed in 0..SEEDS {
        run(Engine::CommitLog, seed);
    }
}

/// A gzip batch as a producer sends it: the payload is opaque to the store, and its
/// record count may be below the offset span (compaction removes records, never adds).
fn compressed_batch() -> Vec<u8> {
    let mut b = pagecast_log::batch::Builder::new(1_700_000_000_000);
    b.push(
        1_700_000_000_000,
        None,
        Some(b"stand-in for compressed bytes"),
    );
    let mut batch = b.finish();
    batch[21..23].copy_from_slice(&1i16.to_be_bytes()); // attributes: gzip
    batch[23..27].copy_from_slice(&5i32.to_be_bytes()); // last offset delta
    batch[57..61].copy_from_slice(&3i32.to_be_bytes()); // record count
    let crc = crc32c::crc32c(&batch[21..]);
    batch[17..21].copy_from_slice(&crc.to_be_bytes());
    batch
}

#[test]
fn compressed_batches_are_stored_as_they_came() {
    for engine in [Engine::Segment, Engine::CommitLog] {
        let dir = tempfile::tempdir().unwrap();
        let sizes = Sizes::random(&mut Rng::with_seed(1));
        let store = open(engine, dir.path(), sizes, false).unwrap();
        let tp = TopicPartition::new("zipped", 0);
        store.create(&tp).unwrap();
        let sent = compressed_batch();
        let mut first = sent.clone();
        store.append(&tp, &mut first, 0).unwrap();
        let mut second = sent.clone();
        let appended = store.append(&tp, &mut second, 0).unwrap();
        assert_eq!(
            (appended.base_offset, appended.last_offset),
            (6, 11),
            "{engine:?}"
        );
        let stored = read_bytes(&*store, &tp, 6, u64::MAX);
        // Only the base offset and the leader epoch differ from what was sent.
        assert_eq!(&stored[..8], &6i64.to_be_bytes(), "{engine:?}");
        assert_eq!(&stored[8..12], &sent[8..12], "{engine:?}");
        assert_eq!(&stored[16..], &sent[16..], "{engine:?}");
        assert_eq!(
            stored, second,
            "{engine:?}: the store keeps what append returned"
        );
    }
}
