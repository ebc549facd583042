//! Snapshots of both engines, taken while a writer appends, on btrfs (reflink) and ext4
//! (copy_file_range): the snapshot opens with nothing to recover and holds an exact
//! prefix of the source; a source changed after a reflink snapshot leaves it as it was.

mod support;

use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use fastrand::Rng;
use pagecast_io::Method;
use pagecast_log::snapshot::{Snapshot, snapshot};
use pagecast_log::{Store, TopicPartition, commitlog, segment};
use pagecast_testfs::Mounted;
use support::{Engine, Sizes, open, random_batch, read_bytes};

const SIZES: Sizes = Sizes {
    file_bytes: 64 << 10,
    index_interval: 1024,
    max_index_bytes: 4096,
    retention_bytes: None,
    fsync: pagecast_log::Fsync::None,
};

fn partitions() -> [TopicPartition; 2] {
    [
        TopicPartition::new("snap", 0),
        TopicPartition::new("snap", 1),
    ]
}

/// Most batches the writer appends, so that a slow snapshot cannot fill the disk.
const MOST: u64 = 3000;

/// Starts a writer appending to a new store in `dir` until told to stop (or [`MOST`]
/// batches); waits until it has appended `before` batches.
fn writer(
    engine: Engine,
    dir: PathBuf,
    before: u64,
) -> (Arc<AtomicBool>, std::thread::JoinHandle<()>) {
    let stop = Arc::new(AtomicBool::new(false));
    let appended = Arc::new(AtomicU64::new(0));
    let handle = {
        let (stop, appended) = (Arc::clone(&stop), Arc::clone(&appended));
        std::thread::spawn(move || {
            let mut rng = Rng::with_seed(11);
            let store = open(engine, &dir, SIZES, false).unwrap();
            for tp in &partitions() {
                store.create(tp).unwrap();
            }
            let now = 1_700_000_000_000;
            while !stop.load(Ordering::Relaxed) && appended.load(Ordering::Relaxed) < MOST {
                let tp = &partitions()[rng.usize(..2)];
                let mut buf = random_batch(&mut rng, now, 8, 400);
                store.append(tp, &mut buf, now).unwrap();
                appended.fetch_add(1, Ordering::Relaxed);
            }
            store.close().unwrap();
        })
    };
    while appended.load(Ordering::Relaxed) < before {
        std::thread::yield_now();
    }
    (stop, handle)
}

/// The files that say a store was closed cleanly, so it opens with nothing to recover.
fn assert_closed_cleanly(engine: Engine, dir: &Path) {
    match engine {
        Engine::Segment => {
            for tp in partitions() {
                let marker = dir.join(tp.to_string()).join(segment::CLEAN_SHUTDOWN_FILE);
                assert!(marker.exists(), "{} is missing", marker.display());
            }
        }
        Engine::CommitLog => {
            let marker = dir.join(commitlog::CLEAN_SHUTDOWN_FILE);
            assert!(marker.exists(), "{} is missing", marker.display());
        }
    }
}

/// Every partition of `snap` is a prefix of the same partition of `source`, and holds
/// something.
fn assert_prefix(source: &dyn Store, snap: &dyn Store, context: &str) {
    for tp in partitions() {
        let (s, d) = (source.offsets(&tp).unwrap(), snap.offsets(&tp).unwrap());
        assert_eq!(d.start, s.start, "{context}: {tp}");
        assert!(
            d.end > d.start && d.end <= s.end,
            "{context}: {tp}: {d:?} of {s:?}"
        );
        let got = read_bytes(snap, &tp, d.start, u64::MAX);
        let all = read_bytes(source, &tp, s.start, u64::MAX);
        assert!(
            all.starts_with(&got),
            "{context}: {tp}: the snapshot's {} bytes are not a prefix of the source's {}",
            got.len(),
            all.len()
        );
        // It ends at a batch boundary: the next read of the source starts there.
        if d.end < s.end {
            let next = read_bytes(source, &tp, d.end, 1);
            assert!(all[got.len()..].starts_with(&next), "{context}: {tp}");
        }
    }
}

fn snapshot_while_writing(fs: &Mounted, engine: Engine) -> Snapshot {
    let source = fs.path().join(format!("{engine:?}"));
    let dest = fs.path().join(format!("{engine:?}-snapshot"));
    let (stop, handle) = writer(engine, source.clone(), 400);
    let taken = snapshot(&source, &dest, |_| {}).unwrap();
    stop.store(true, Ordering::Relaxed);
    handle.join().unwrap();
    assert_closed_cleanly(engine, &dest);
    let context = format!("{engine:?} on {}", fs.fstype());
    let (source_store, snap) = (
        open(engine, &source, SIZES, false).unwrap(),
        open(engine, &dest, SIZES, false).unwrap(),
    );
    assert_prefix(source_store.as_ref(), snap.as_ref(), &context);
    source_store.close().unwrap();
    snap.close().unwrap();
    assert!(taken.files.len() > 2, "{context}: {:?}", taken.files);
    taken
}

#[test]
fn on_btrfs_a_snapshot_under_writes_is_reflinked_opens_clean_and_is_a_prefix() {
    let fs = Mounted::new("btrfs", 256 << 20);
    for engine in [Engine::Segment, Engine::CommitLog] {
        let taken = snapshot_while_writing(&fs, engine);
        for f in &taken.files {
            // A file being written whose complete part is under one block cannot be
            // cloned: it is copied.
            let small = f.bytes < 4096 && f.method == Method::CopyFileRange;
            assert!(f.method == Method::Reflink || small, "{engine:?}: {f:?}");
        }
        // Whole files share every block; the file being written, all but its last.
        let shared: u64 = taken.files.iter().map(|f| f.shared.unwrap()).sum();
        let bytes: u64 = taken.files.iter().map(|f| f.bytes).sum();
        assert!(
            shared + 4096 * taken.files.len() as u64 >= bytes,
            "{engine:?}: {shared} of {bytes} bytes shared"
        );
    }
}

#[test]
fn on_ext4_a_snapshot_under_writes_is_copied_opens_clean_and_is_a_prefix() {
    let fs = Mounted::new("ext4", 128 << 20);
    for engine in [Engine::Segment, Engine::CommitLog] {
        let taken = snapshot_while_writing(&fs, engine);
        for f in &taken.files {
            assert_eq!(f.method, Method::CopyFileRange, "{engine:?}: {f:?}");
            assert!(f.fell_back_from[0].starts_with("reflink"), "{f:?}");
            assert_eq!(f.shared, Some(0), "{f:?}");
        }
    }
}

#[test]
fn a_source_changed_after_a_reflink_snapshot_leaves_the_snapshot_unchanged() {
    let fs = Mounted::new("btrfs", 256 << 20);
    for engine in [Engine::Segment, Engine::CommitLog] {
        let taken = snapshot_while_writing(&fs, engine);
        let source = fs.path().join(format!("{engine:?}"));
        let dest = fs.path().join(format!("{engine:?}-snapshot"));
        let first = &taken.files[0].path;
        let copy = std::fs::File::open(dest.join(first)).unwrap();
        let mut before = vec![0u8; 4096];
        copy.read_exact_at(&mut before, 0).unwrap();
        // Overwrite the source's first block in place: its extent is copied on write.
        let original = std::fs::File::options()
            .write(true)
            .open(source.join(first))
            .unwrap();
        original.write_all_at(&[0xEE; 4096], 0).unwrap();
        original.sync_all().unwrap();
        let mut after = vec![0u8; 4096];
        copy.read_exact_at(&mut after, 0).unwrap();
        assert_eq!(before, after, "{engine:?}: {}", first.display());
        assert_ne!(after, vec![0xEE; 4096]);
        // The snapshot still opens and reads whole.
        let snap = open(engine, &dest, SIZES, false).unwrap();
        for tp in partitions() {
            let o = snap.offsets(&tp).unwrap();
            assert!(!read_bytes(snap.as_ref(), &tp, o.start, u64::MAX).is_empty());
        }
        snap.close().unwrap();
    }
}
