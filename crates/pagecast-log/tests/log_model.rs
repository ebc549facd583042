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
