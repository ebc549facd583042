//! A full disk (a 1 MiB tmpfs): appends fail with an error that says so, nothing
//! acknowledged is lost, and appends succeed again once space is freed, also across a
//! crash and a clean restart. Needs root for the mount, as the test command runs.

mod support;

use std::path::Path;
use std::process::Command;

use fastrand::Rng;
use pagecast_log::{Fsync, TopicPartition};
use support::{Engine, Model, Sizes, assert_matches, open, random_batch};

/// A tmpfs of `size` mounted on a fresh directory, unmounted on drop.
struct SmallTmpfs {
    dir: tempfile::TempDir,
}

impl SmallTmpfs {
    fn mount(size: &str) -> SmallTmpfs {
        let dir = tempfile::tempdir().unwrap();
        let status = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir.path())
            .status()
            .expect("cannot run mount: install util-linux's mount (scripts/test does, as root)");
        assert!(
            status.success(),
            "mounting a tmpfs failed ({status}): the disk-full tests need root; run them with scripts/test as root"
        );
        SmallTmpfs { dir }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for SmallTmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount")
            .arg("-l")
            .arg(self.dir.path())
            .status();
    }
}

fn fill_then_free(engine: Engine) {
    let fs = SmallTmpfs::mount("1m");
    let filler = fs.path().join("filler");
    std::fs::write(&filler, vec![1u8; 256 << 10]).unwrap();
    let dir = fs.path().join("log");
    let sizes = Sizes {
        file_bytes: 64 << 10,
        index_interval: 1024,
        max_index_bytes: 4096,
        retention_bytes: None,
        fsync: Fsync::None,
    };
    let tp = TopicPartition::new("full", 0);
    let store = open(engine, &dir, sizes, false).unwrap();
    store.create(&tp).unwrap();
    let mut model = Model::default();
    let mut rng = Rng::with_seed(7);
    let now = 1_700_000_000_000;
    let mut failures = 0;
    for _ in 0..400 {
        let mut buf = random_batch(&mut rng, now, 10, 1000);
        match store.append(&tp, &mut buf, now) {
            Ok(_) => model.appended(&tp, &buf),
            Err(e) => {
                assert!(e.is_disk_full(), "append failed with {e}, not a full disk");
                failures += 1;
            }
        }
    }
    assert!(failures > 0, "the 1 MiB filesystem never filled");
    assert_matches(&*store, &model, &format!("{engine:?} while full"));

    std::fs::remove_file(&filler).unwrap();
    for _ in 0..20 {
        let mut buf = random_batch(&mut rng, now, 10, 1000);
        store
            .append(&tp, &mut buf, now)
            .expect("append after space was freed");
        model.appended(&tp, &buf);
    }
    assert_matches(&*store, &model, &format!("{engine:?} after freeing space"));
    drop(store);
    let store = open(engine, &dir, sizes, false).unwrap();
    assert_matches(&*store, &model, &format!("{engine:?} after a crash"));
    store.close().unwrap();
    let store = open(engine, &dir, sizes, false).unwrap();
    assert_matches(
        &*store,
        &model,
        &format!("{engine:?} after a clean restart"),
    );
}

#[test]
fn a_full_disk_loses_nothing_acknowledged_in_the_segment_store() {
    fill_then_free(Engine::Segment);
}

#[test]
fn a_full_disk_loses_nothing_acknowledged_in_the_commit_log_store() {
    fill_then_free(Engine::CommitLog);
}
