//! Rolls and retention by age, and the fsync policies' recovery point, for each engine.

mod support;

use std::time::Duration;

use pagecast_log::batch::Builder;
use pagecast_log::{Fsync, Store, TopicPartition, commitlog, segment};

const T0: i64 = 1_700_000_000_000;
const DAY: Duration = Duration::from_secs(24 * 3600);

fn batch(ts: i64) -> Vec<u8> {
    let mut b = Builder::new(ts);
    b.push(ts, None, Some(&[1u8; 300]));
    b.finish()
}

fn tp() -> TopicPartition {
    TopicPartition::new("aged", 0)
}

fn logs_in(dir: &std::path::Path) -> usize {
    std::fs::read_dir(dir.join(tp().to_string()))
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .path()
                .extension()
                .is_some_and(|x| x == "log")
        })
        .count()
}

#[test]
fn segments_roll_by_the_age_of_their_first_batch_and_expire_by_their_newest() {
    let dir = tempfile::tempdir().unwrap();
    let config = segment::Config {
        segment_age: Some(Duration::from_secs(60)),
        retention_age: Some(Duration::from_secs(3600)),
        ..Default::default()
    };
    let store = segment::SegmentStore::open(dir.path(), config).unwrap();
    store.create(&tp()).unwrap();
    // Three batches a minute and a half apart: each finds its segment's first batch
    // older than a minute, so each starts a new segment.
    for i in 0..3 {
        let ts = T0 + i * 90_000;
        store.append(&tp(), &mut batch(ts), ts).unwrap();
    }
    assert_eq!(logs_in(dir.path()), 3);
    // A batch 30 s later joins the last segment.
    store
        .append(&tp(), &mut batch(T0 + 210_000), T0 + 210_000)
        .unwrap();
    assert_eq!(logs_in(dir.path()), 3);
    // An hour after the second batch, the first two segments have expired; the active
    // one is never deleted.
    store.maintain(T0 + 90_000 + 3_600_001).unwrap();
    assert_eq!(logs_in(dir.path()), 1);
    assert_eq!(store.offsets(&tp()).unwrap().start, 2);
    store.maintain(T0 + 30 * DAY.as_millis() as i64).unwrap();
    assert_eq!(logs_in(dir.path()), 1);
    assert_eq!(store.offsets(&tp()).unwrap().end, 4);
}

#[test]
fn commit_log_files_expire_by_their_last_write() {
    let dir = tempfile::tempdir().unwrap();
    let config = commitlog::Config {
        file_bytes: 4096,
        queue_file_entries: 4,
        retention_age: Some(DAY),
        ..Default::default()
    };
    let store = commitlog::CommitLogStore::open(dir.path(), config).unwrap();
    store.create(&tp()).unwrap();
    for i in 0..30 {
        store.append(&tp(), &mut batch(T0 + i), T0 + i).unwrap();
    }
    let files = |d: &std::path::Path| {
        std::fs::read_dir(d.join(commitlog::LOG_DIR))
            .unwrap()
            .count()
    };
    let before = files(dir.path());
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    store.maintain(now).unwrap();
    // The spare file is made ahead on another thread, so it may appear between the two
    // counts; nothing may disappear.
    assert!(
        files(dir.path()) >= before,
        "files written just now were deleted"
    );
    store.maintain(now + 2 * DAY.as_millis() as i64).unwrap();
    // The file being written and the spare made ahead of it remain.
    assert!(files(dir.path()) <= 2, "{} files left", files(dir.path()));
    let offsets = store.offsets(&tp()).unwrap();
    assert_eq!(offsets.end, 30);
    assert!(offsets.start > 0 && offsets.start < 30, "{offsets:?}");
    let chunks = store.read(&tp(), offsets.start, u64::MAX).unwrap();
    assert_eq!(chunks.len() as i64, 30 - offsets.start);
}

/// The recovery point written, 0 if none was written yet.
fn recovery_point(path: &std::path::Path) -> u64 {
    std::fs::read_to_string(path).map_or(0, |s| s.trim().parse().unwrap())
}

#[test]
fn fsync_always_moves_the_recovery_point_with_every_append_and_none_only_on_roll() {
    for (policy, follows) in [
        (Fsync::Always, true),
        (Fsync::Interval(Duration::ZERO), true),
        (Fsync::None, false),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let config = segment::Config {
            fsync: policy,
            ..Default::default()
        };
        let store = segment::SegmentStore::open(dir.path(), config).unwrap();
        store.create(&tp()).unwrap();
        for i in 0..5 {
            store.append(&tp(), &mut batch(T0 + i), T0).unwrap();
        }
        store.maintain(T0).unwrap();
        let point = recovery_point(
            &dir.path()
                .join(tp().to_string())
                .join(segment::RECOVERY_POINT_FILE),
        );
        assert_eq!(point == 5, follows, "{policy:?}: recovery point {point}");

        let dir = tempfile::tempdir().unwrap();
        let config = commitlog::Config {
            file_bytes: 1 << 20,
            fsync: policy,
            ..Default::default()
        };
        let store = commitlog::CommitLogStore::open(dir.path(), config).unwrap();
        store.create(&tp()).unwrap();
        for i in 0..5 {
            store.append(&tp(), &mut batch(T0 + i), T0).unwrap();
        }
        store.maintain(T0).unwrap();
        let point = recovery_point(&dir.path().join(commitlog::RECOVERY_POINT_FILE));
        assert_eq!(
            point > 0,
            follows,
            "{policy:?}: commit-log recovery point {point}"
        );
    }
}

#[test]
fn recovery_reports_a_torn_tail_it_cuts() {
    let dir = tempfile::tempdir().unwrap();
    let store = segment::SegmentStore::open(dir.path(), segment::Config::default()).unwrap();
    store.create(&tp()).unwrap();
    for i in 0..3 {
        store.append(&tp(), &mut batch(T0 + i), T0).unwrap();
    }
    drop(store);
    let log = dir
        .path()
        .join(tp().to_string())
        .join(segment::file_name(0, segment::LOG_SUFFIX));
    let len = std::fs::metadata(&log).unwrap().len();
    std::fs::OpenOptions::new()
        .write(true)
        .open(&log)
        .unwrap()
        .set_len(len - 10)
        .unwrap();
    let lines = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let sink = std::sync::Arc::clone(&lines);
    let config = segment::Config {
        progress: Some(std::sync::Arc::new(move |line: &str| {
            sink.lock().unwrap().push(line.to_owned())
        })),
        ..Default::default()
    };
    let store = segment::SegmentStore::open(dir.path(), config).unwrap();
    assert_eq!(store.offsets(&tp()).unwrap().end, 2);
    let lines = lines.lock().unwrap();
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("aged-0: torn tail at byte ")
                && l.contains(&log.display().to_string())),
        "{lines:?}"
    );
}
