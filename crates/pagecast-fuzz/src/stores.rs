//! Targets for the index files both engines trust on a clean start: the segment
//! engine's offset and time indexes, and the commit log's consume queue. Each copies a
//! store closed cleanly, replaces one index file with the fuzzer's bytes, and opens
//! it again. Opening may refuse, or rebuild the index; what it may not do is panic, or
//! answer a read differently from the undamaged store.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use pagecast_log::{Store, TopicPartition, batch, commitlog, segment};

/// Batches in each template store, of [`RECORDS`] records of [`VALUE`] bytes.
const BATCHES: i64 = 24;
const RECORDS: usize = 3;
const VALUE: usize = 150;
/// Timestamp of the first record; each record is a millisecond later.
const T0: i64 = 1_700_000_000_000;

#[derive(Clone, Copy)]
enum Engine {
    Segment,
    CommitLog,
}

/// A store closed cleanly, and what it answers.
struct Template {
    dir: tempfile::TempDir,
    answers: Answers,
}

/// What a store answers.
#[derive(PartialEq, Eq)]
struct Answers {
    /// Bytes read from each offset, with at most [`READ_BYTES`].
    reads: Vec<Vec<u8>>,
    /// The offset found for each probed timestamp.
    times: Vec<Option<i64>>,
}

const READ_BYTES: u64 = 2048;

fn tp() -> TopicPartition {
    TopicPartition::new("t", 0)
}

fn open(engine: Engine, dir: &Path) -> pagecast_log::Result<Box<dyn Store>> {
    Ok(match engine {
        Engine::Segment => Box::new(segment::SegmentStore::open(
            dir,
            segment::Config {
                index_interval: 256,
                max_index_bytes: 4096,
                retention_age: None,
                ..Default::default()
            },
        )?),
        Engine::CommitLog => Box::new(commitlog::CommitLogStore::open(
            dir,
            commitlog::Config {
                file_bytes: 8 << 10,
                queue_file_entries: 8,
                retention_age: None,
                ..Default::default()
            },
        )?),
    })
}

/// Timestamps probed by the time lookups: before, inside and after the records.
fn probes() -> impl Iterator<Item = i64> {
    let last = T0 + BATCHES * RECORDS as i64;
    [
        i64::MIN,
        T0 - 1,
        T0,
        T0 + 1,
        T0 + 7,
        last - 1,
        last,
        last + 5,
    ]
    .into_iter()
}

/// What `store` answers: every offset's read and every probe's offset. `None` if any
/// read fails.
fn answers(store: &dyn Store) -> Option<Answers> {
    let tp = tp();
    let mut reads = Vec::new();
    for offset in 0..=BATCHES * RECORDS as i64 {
        let mut bytes = Vec::new();
        for chunk in store.read(&tp, offset, READ_BYTES).ok()? {
            chunk.copy_into(&mut bytes).ok()?;
        }
        reads.push(bytes);
    }
    let mut times = Vec::new();
    for t in probes() {
        times.push(store.offset_for_timestamp(&tp, t).ok()?);
    }
    Some(Answers { reads, times })
}

fn template(engine: Engine) -> &'static Template {
    static SEGMENT: OnceLock<Template> = OnceLock::new();
    static COMMITLOG: OnceLock<Template> = OnceLock::new();
    let cell = match engine {
        Engine::Segment => &SEGMENT,
        Engine::CommitLog => &COMMITLOG,
    };
    cell.get_or_init(|| {
        let dir = scratch();
        let store = open(engine, dir.path()).expect("a new store opens");
        store.create(&tp()).expect("the partition is created");
        let value = vec![b'v'; VALUE];
        for b in 0..BATCHES {
            let first = T0 + b * RECORDS as i64;
            let mut builder = batch::Builder::new(first);
            for r in 0..RECORDS {
                builder.push(first + r as i64, Some(b"key"), Some(&value));
            }
            store
                .append(&tp(), &mut builder.finish(), T0)
                .expect("the append succeeds");
        }
        store.close().expect("the store closes cleanly");
        let store = open(engine, dir.path()).expect("the template reopens");
        let answers = answers(store.as_ref()).expect("the template answers");
        store.close().expect("the template closes cleanly");
        Template { dir, answers }
    })
}

/// A temporary directory, in memory where there is a tmpfs.
fn scratch() -> tempfile::TempDir {
    let shm = Path::new("/dev/shm");
    if shm.is_dir()
        && let Ok(dir) = tempfile::tempdir_in(shm)
    {
        return dir;
    }
    tempfile::tempdir().expect("a temporary directory")
}

fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("create a directory of the copy");
    for entry in std::fs::read_dir(from).expect("read the template") {
        let entry = entry.expect("read the template");
        let target = to.join(entry.file_name());
        if entry.file_type().expect("stat the template").is_dir() {
            copy_tree(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).expect("copy the template");
        }
    }
}

/// The first file, in name order, in `dir` whose name ends with `suffix`.
fn first_file(dir: &Path, suffix: &str) -> PathBuf {
    let mut names: Vec<PathBuf> = std::fs::read_dir(dir)
        .expect("read the copy")
        .map(|e| e.expect("read the copy").path())
        .filter(|p| p.to_string_lossy().ends_with(suffix))
        .collect();
    names.sort();
    names.into_iter().next().expect("the template has the file")
}

/// Copies the template, lets `damage` pick a file of the copy to replace with `data`,
/// opens it, and checks that it answers as the template does or fails cleanly.
fn replaced(engine: Engine, data: &[u8], damage: impl Fn(&Path) -> PathBuf) {
    let template = template(engine);
    let copy = scratch();
    copy_tree(template.dir.path(), copy.path());
    std::fs::write(damage(copy.path()), data).expect("write the fuzzed file");
    let Ok(store) = open(engine, copy.path()) else {
        return;
    };
    if let Some(got) = answers(store.as_ref()) {
        let want = &template.answers;
        for (offset, (got, want)) in got.reads.iter().zip(&want.reads).enumerate() {
            assert!(
                got == want,
                "a read from offset {offset} answered {} bytes, not the {} stored",
                got.len(),
                want.len()
            );
        }
        assert_eq!(got.times, want.times, "time lookups changed");
    }
    let _ = store.close();
}

/// The segment engine's `.index` of its first segment.
pub fn offset_index(data: &[u8]) {
    replaced(Engine::Segment, data, |root| {
        first_file(&root.join(tp().to_string()), ".index")
    });
}

/// The segment engine's `.timeindex` of its first segment.
pub fn time_index(data: &[u8]) {
    replaced(Engine::Segment, data, |root| {
        first_file(&root.join(tp().to_string()), ".timeindex")
    });
}

/// The commit log's first consume-queue file of the partition.
pub fn consume_queue(data: &[u8]) {
    replaced(Engine::CommitLog, data, |root| {
        first_file(&root.join(commitlog::QUEUE_DIR).join(tp().to_string()), "")
    });
}
