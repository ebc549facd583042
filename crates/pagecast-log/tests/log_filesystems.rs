//! Both engines on real filesystems, mounted on loop devices: btrfs, which copies on
//! write, and ext4, which does not. On btrfs a store into an allocated block may still
//! need a new block, so a mapped store could meet a full disk as SIGBUS: there the
//! engines map their files read-only and write with pwrite(2). On ext4 they store
//! through the mapping. Either way the store answers as the model does.

mod support;

use std::path::{Path, PathBuf};

use fastrand::Rng;
use pagecast_log::TopicPartition;
use pagecast_testfs::Mounted;
use support::{Engine, Model, Sizes, assert_matches, open, random_batch};

/// The permissions of this process's mappings of files under `dir`: "rw-s" or "r--s".
fn mappings_under(dir: &Path) -> Vec<(PathBuf, String)> {
    let dir = dir.canonicalize().unwrap();
    std::fs::read_to_string("/proc/self/maps")
        .unwrap()
        .lines()
        .filter_map(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            let path = PathBuf::from(fields.get(5)?);
            path.starts_with(&dir)
                .then(|| (path, fields[1].to_string()))
        })
        .collect()
}

/// Appends, reopens and reads back on `dir`, checking the mappings' permissions while
/// the store is open.
fn exercise(engine: Engine, dir: &Path, mapped_as: &str) {
    let mut rng = Rng::with_seed(7);
    let sizes = Sizes {
        file_bytes: 64 << 10,
        index_interval: 512,
        max_index_bytes: 4096,
        retention_bytes: None,
        fsync: pagecast_log::Fsync::Always,
    };
    let tp = TopicPartition::new("fs", 0);
    let mut model = Model::default();
    let store = open(engine, dir, sizes, false).unwrap();
    store.create(&tp).unwrap();
    let now = 1_700_000_000_000;
    for _ in 0..60 {
        let mut buf = random_batch(&mut rng, now, 10, 300);
        store.append(&tp, &mut buf, now).unwrap();
        model.appended(&tp, &buf);
    }
    let maps = mappings_under(dir);
    assert!(
        !maps.is_empty(),
        "{engine:?} mapped nothing under {}",
        dir.display()
    );
    for (path, perms) in &maps {
        assert_eq!(perms, mapped_as, "{engine:?}: {}", path.display());
    }
    assert_matches(
        store.as_ref(),
        &model,
        &format!("{engine:?} before restart"),
    );
    store.close().unwrap();
    let store = open(engine, dir, sizes, false).unwrap();
    assert_matches(store.as_ref(), &model, &format!("{engine:?} after restart"));
    store.close().unwrap();
}

/// Both engines on a fresh `fstype` filesystem, their files mapped as `mapped_as`.
fn both_engines_on(fstype: &'static str, mapped_as: &str) {
    let fs = Mounted::new(fstype, 160 << 20);
    for (engine, sub) in [
        (Engine::Segment, "segment"),
        (Engine::CommitLog, "commitlog"),
    ] {
        exercise(engine, &fs.path().join(sub), mapped_as);
    }
}

#[test]
fn on_btrfs_files_are_mapped_read_only_and_written_with_pwrite() {
    both_engines_on("btrfs", "r--s");
}

#[test]
fn on_ext4_files_are_written_through_the_mapping() {
    both_engines_on("ext4", "rw-s");
}
