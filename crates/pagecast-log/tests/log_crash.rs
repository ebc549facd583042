//! Crash recovery, modelled on Kafka's testCorruptLog, for 100 seeds per kind of damage:
//! build a log, stop without closing it, damage its files (truncate the tail, append
//! garbage, flip a bit, zero or delete an index), reopen. The log must then be an exact
//! prefix of what was appended, the indexes must equal a fresh rebuild, and a flipped
//! bit must never be served: the open either cuts the log before the damaged batch or
//! refuses with the file and position, after which an open with repair cuts it there.

mod support;

use std::fs;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use fastrand::Rng;
use pagecast_log::commitlog::{self, Found};
use pagecast_log::segment::{INDEX_SUFFIX, LOG_SUFFIX, RECOVERY_POINT_FILE, TIME_INDEX_SUFFIX};
use pagecast_log::{Error, Fsync, Store, TopicPartition};
use support::{Engine, Model, Sizes, open, random_batch, read_bytes};

const SEEDS: u64 = 100;

fn tp() -> TopicPartition {
    TopicPartition::new("orders", 0)
}

/// A log of several segments, stopped without a close. Sometimes flushed part-way, so
/// the recovery point is not always the start.
fn crashed_log(engine: Engine, rng: &mut Rng) -> (tempfile::TempDir, Sizes, Model) {
    let dir = tempfile::tempdir().unwrap();
    let sizes = Sizes {
        file_bytes: rng.u64(4096..=16384),
        index_interval: [64, 512, 4096][rng.usize(..3)],
        max_index_bytes: 10 << 20,
        retention_bytes: None,
        fsync: Fsync::None,
    };
    let store = open(engine, dir.path(), sizes, false).unwrap();
    store.create(&tp()).unwrap();
    let mut model = Model::default();
    let appends = rng.usize(10..=50);
    let flush_at = rng.usize(..appends * 2);
    for i in 0..appends {
        let mut buf = random_batch(rng, 1_700_000_000_000 + i as i64 * 10, 10, 300);
        store.append(&tp(), &mut buf, 1_700_000_000_000).unwrap();
        model.appended(&tp(), &buf);
        if i == flush_at {
            store.flush().unwrap();
        }
    }
    drop(store);
    (dir, sizes, model)
}

/// How many of the model's batches the store holds, asserting that they are exactly the
/// model's first ones.
fn prefix_len(store: &dyn Store, model: &Model, context: &str) -> usize {
    let batches = model.batches(&tp());
    let offsets = store.offsets(&tp()).unwrap();
    assert_eq!(offsets.start, 0, "{context}");
    let got = read_bytes(store, &tp(), 0, u64::MAX);
    let mut want = Vec::new();
    for (k, b) in batches.iter().enumerate() {
        if want.len() == got.len() {
            assert_eq!(offsets.end, b.base_offset, "{context}: end offset");
            let first_difference = got.iter().zip(&want).position(|(a, b)| a != b);
            assert!(
                got == want,
                "{context}: the log is not a prefix of what was appended: {} bytes, first difference at {first_difference:?}, {k} batches",
                got.len()
            );
            return k;
        }
        want.extend_from_slice(&b.bytes);
    }
    assert!(got == want, "{context}: the log is not what was appended");
    batches.len()
}

fn partition_dir(dir: &Path) -> PathBuf {
    dir.join(tp().to_string())
}

/// The files in `dir`, sorted (names are zero-padded offsets or positions).
fn sorted_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    files
}

/// The segment files with one suffix, in offset order.
fn segment_files(dir: &Path, suffix: &str) -> Vec<PathBuf> {
    let mut files = sorted_files(&partition_dir(dir));
    files.retain(|p| p.extension().is_some_and(|e| e == suffix));
    files
}

/// Flips one random bit of the byte at `pos`.
fn flip_bit(path: &Path, pos: u64, rng: &mut Rng) {
    let file = fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(path)
        .unwrap();
    let mut byte = [0u8];
    file.read_exact_at(&mut byte, pos).unwrap();
    byte[0] ^= 1 << rng.u8(..8);
    file.write_all_at(&byte, pos).unwrap();
}

/// Overwrites a file with zeros, keeping its length.
fn zero(path: &Path) {
    let len = fs::metadata(path).unwrap().len();
    fs::write(path, vec![0u8; len as usize]).unwrap();
}

/// Deletes or zeroes a file, at random; says which.
fn zero_or_delete(path: &Path, rng: &mut Rng) -> &'static str {
    if rng.bool() {
        fs::remove_file(path).unwrap();
        "deleted"
    } else {
        zero(path);
        "zeroed"
    }
}

/// The consume-queue files of the test partition.
fn queue_files(dir: &Path) -> Vec<PathBuf> {
    sorted_files(&dir.join(commitlog::QUEUE_DIR).join(tp().to_string()))
}

fn base_of(path: &Path) -> i64 {
    path.file_stem().unwrap().to_str().unwrap().parse().unwrap()
}

/// Index of the model batch holding byte `pos` of the segment file based at `base`.
fn batch_at(model: &Model, base: i64, pos: u64) -> usize {
    let batches = model.batches(&tp());
    let first = batches.iter().position(|b| b.base_offset == base).unwrap();
    let mut at = 0u64;
    for (k, b) in batches.iter().enumerate().skip(first) {
        at += b.bytes.len() as u64;
        if pos < at {
            return k;
        }
    }
    panic!("byte {pos} of segment {base} is past its batches");
}

/// Asserts that every index equals the one a rebuild from the `.log` files alone makes.
fn assert_indexes_rebuild_equal(engine: Engine, dir: &Path, sizes: Sizes, context: &str) {
    if engine == Engine::CommitLog {
        return assert_queues_rebuild_equal(dir, sizes, context);
    }
    let fresh = tempfile::tempdir().unwrap();
    fs::create_dir(partition_dir(fresh.path())).unwrap();
    for log in segment_files(dir, LOG_SUFFIX) {
        fs::copy(
            &log,
            partition_dir(fresh.path()).join(log.file_name().unwrap()),
        )
        .unwrap();
    }
    open(Engine::Segment, fresh.path(), sizes, false)
        .unwrap()
        .close()
        .unwrap();
    for suffix in [INDEX_SUFFIX, TIME_INDEX_SUFFIX] {
        let ours = segment_files(dir, suffix);
        let rebuilt = segment_files(fresh.path(), suffix);
        assert_eq!(
            ours.len(),
            rebuilt.len(),
            "{context}: number of .{suffix} files"
        );
        for (a, b) in ours.iter().zip(&rebuilt) {
            assert!(
                fs::read(a).unwrap() == fs::read(b).unwrap(),
                "{context}: {} differs from a rebuild",
                a.display()
            );
        }
    }
}

/// Reopens after damage and checks the result: the number of batches that must survive
/// is `keep`, or for a flipped bit the batch index whose damage must be refused or cut.
fn reopen_and_check(
    engine: Engine,
    dir: &Path,
    sizes: Sizes,
    model: &Model,
    keep: usize,
    context: &str,
) {
    let store = match open(engine, dir, sizes, false) {
        Ok(store) => store,
        Err(e) => panic!("{context}: reopen failed: {e}"),
    };
    let k = prefix_len(&*store, model, context);
    assert_eq!(k, keep, "{context}: batches kept");
    store.close().unwrap();
    assert_indexes_rebuild_equal(engine, dir, sizes, context);
}

fn recovery_floor(dir: &Path) -> i64 {
    fs::read_to_string(partition_dir(dir).join(RECOVERY_POINT_FILE))
        .map_or(0, |s| s.trim().parse().unwrap())
}

#[test]
fn a_truncated_tail_is_cut_to_the_last_whole_batch() {
    for seed in 0..SEEDS {
        let mut rng = Rng::with_seed(seed);
        let (dir, sizes, model) = crashed_log(Engine::Segment, &mut rng);
        let last = segment_files(dir.path(), LOG_SUFFIX).pop().unwrap();
        let len = fs::metadata(&last).unwrap().len();
        let cut = rng.u64(..len.max(1));
        fs::OpenOptions::new()
            .write(true)
            .open(&last)
            .unwrap()
            .set_len(cut)
            .unwrap();
        let base = base_of(&last);
        let keep = if len == 0 {
            model.batches(&tp()).len()
        } else {
            batch_at(&model, base, cut)
        };
        let keep = keep + usize::from(len > 0 && cut > 0 && is_boundary(&model, base, cut));
        reopen_and_check(
            Engine::Segment,
            dir.path(),
            sizes,
            &model,
            keep,
            &format!("seed {seed}: cut at {cut} of {}", last.display()),
        );
    }
}

/// Whether `pos` is the end of a batch of the segment at `base`.
fn is_boundary(model: &Model, base: i64, pos: u64) -> bool {
    let k = batch_at(model, base, pos - 1);
    let first = model
        .batches(&tp())
        .iter()
        .position(|b| b.base_offset == base)
        .unwrap();
    let end: u64 = model.batches(&tp())[first..=k]
        .iter()
        .map(|b| b.bytes.len() as u64)
        .sum();
    end == pos
}

#[test]
fn garbage_after_the_tail_is_cut() {
    for seed in 0..SEEDS {
        let mut rng = Rng::with_seed(seed);
        let (dir, sizes, model) = crashed_log(Engine::Segment, &mut rng);
        let last = segment_files(dir.path(), LOG_SUFFIX).pop().unwrap();
        let len = fs::metadata(&last).unwrap().len();
        let garbage: Vec<u8> = (0..rng.usize(1..5000)).map(|_| rng.u8(..)).collect();
        fs::OpenOptions::new()
            .write(true)
            .open(&last)
            .unwrap()
            .write_all_at(&garbage, len)
            .unwrap();
        let all = model.batches(&tp()).len();
        reopen_and_check(
            Engine::Segment,
            dir.path(),
            sizes,
            &model,
            all,
            &format!("seed {seed}: {} bytes of garbage", garbage.len()),
        );
    }
}

#[test]
fn a_flipped_bit_is_never_served() {
    let (mut refused, mut cut) = (0, 0);
    for seed in 0..SEEDS {
        let mut rng = Rng::with_seed(seed);
        let (dir, sizes, model) = crashed_log(Engine::Segment, &mut rng);
        // Recovery checks from the segment holding the recovery point: older segments
        // were fsynced, and are trusted as Kafka trusts them.
        let floor = recovery_floor(dir.path());
        let logs = segment_files(dir.path(), LOG_SUFFIX);
        let checked: Vec<&PathBuf> = logs
            .iter()
            .enumerate()
            .filter(|(i, _)| logs.get(i + 1).is_none_or(|next| base_of(next) > floor))
            .map(|(_, p)| p)
            .filter(|p| fs::metadata(p).unwrap().len() > 0)
            .collect();
        let victim = checked[rng.usize(..checked.len())];
        let len = fs::metadata(victim).unwrap().len();
        let pos = rng.u64(..len);
        flip_bit(victim, pos, &mut rng);
        let damaged = batch_at(&model, base_of(victim), pos);
        let context = format!(
            "seed {seed}: bit flipped at byte {pos} of {} (batch {damaged})",
            victim.display()
        );
        match open(Engine::Segment, dir.path(), sizes, false) {
            Ok(store) => {
                cut += 1;
                assert_eq!(
                    prefix_len(&*store, &model, &context),
                    damaged,
                    "{context}: batches kept"
                );
                store.close().unwrap();
            }
            Err(Error::Corrupt { file, position, .. }) => {
                refused += 1;
                assert_eq!(&file, victim, "{context}");
                let first = model
                    .batches(&tp())
                    .iter()
                    .position(|b| b.base_offset == base_of(victim))
                    .unwrap();
                let start: u64 = model.batches(&tp())[first..damaged]
                    .iter()
                    .map(|b| b.bytes.len() as u64)
                    .sum();
                assert_eq!(position, start, "{context}: position named");
                let store = open(Engine::Segment, dir.path(), sizes, true).unwrap();
                assert_eq!(
                    prefix_len(&*store, &model, &context),
                    damaged,
                    "{context}: batches kept by repair"
                );
                store.close().unwrap();
            }
            Err(e) => panic!("{context}: {e}"),
        }
        assert_indexes_rebuild_equal(Engine::Segment, dir.path(), sizes, &context);
    }
    // Both outcomes must occur, or the test is not looking at what it claims to.
    assert!(refused > 0 && cut > 0, "refused {refused}, cut {cut}");
}

#[test]
fn a_zeroed_or_deleted_index_is_rebuilt() {
    for seed in 0..SEEDS {
        let mut rng = Rng::with_seed(seed);
        let (dir, sizes, model) = crashed_log(Engine::Segment, &mut rng);
        let suffix = [INDEX_SUFFIX, TIME_INDEX_SUFFIX][rng.usize(..2)];
        let indexes = segment_files(dir.path(), suffix);
        let victim = &indexes[rng.usize(..indexes.len())];
        let how = zero_or_delete(victim, &mut rng);
        let all = model.batches(&tp()).len();
        reopen_and_check(
            Engine::Segment,
            dir.path(),
            sizes,
            &model,
            all,
            &format!("seed {seed}: {} {how}", victim.display()),
        );
    }
}

// The commit log: the same kinds of damage, applied to its mapped files.

/// An entry the commit log holds: its file, where it starts and ends in the file, and its
/// position in the whole log.
struct EntryAt {
    file: PathBuf,
    start: u64,
    end: u64,
    global: u64,
}

fn commitlog_files(dir: &Path) -> Vec<PathBuf> {
    sorted_files(&dir.join(commitlog::LOG_DIR))
}

/// Walks the commit log as a crash left it, with the engine's own entry decoder.
fn commitlog_entries(dir: &Path) -> Vec<EntryAt> {
    let mut out = Vec::new();
    'files: for path in commitlog_files(dir) {
        let bytes = fs::read(&path).unwrap();
        let base: u64 = path.file_name().unwrap().to_str().unwrap().parse().unwrap();
        let mut at = 0usize;
        loop {
            match commitlog::decode_entry(&bytes[at..], true).unwrap() {
                Found::Entry { length, .. } => {
                    out.push(EntryAt {
                        file: path.clone(),
                        start: at as u64,
                        end: (at + length) as u64,
                        global: base + at as u64,
                    });
                    at += length;
                }
                Found::Blank => continue 'files,
                Found::End => break 'files,
            }
        }
    }
    out
}

fn assert_queues_rebuild_equal(dir: &Path, sizes: Sizes, context: &str) {
    let fresh = tempfile::tempdir().unwrap();
    let log_dir = fresh.path().join(commitlog::LOG_DIR);
    fs::create_dir(&log_dir).unwrap();
    for f in commitlog_files(dir) {
        fs::copy(&f, log_dir.join(f.file_name().unwrap())).unwrap();
    }
    // The partition list is log data, not an index: a partition emptied by a cut stays.
    fs::copy(
        dir.join(commitlog::PARTITIONS_FILE),
        fresh.path().join(commitlog::PARTITIONS_FILE),
    )
    .unwrap();
    open(Engine::CommitLog, fresh.path(), sizes, false)
        .unwrap()
        .close()
        .unwrap();
    let queue = |root: &Path| -> Vec<(PathBuf, Vec<u8>)> {
        let files = queue_files(root);
        files
            .iter()
            .map(|p| {
                (
                    p.strip_prefix(root).unwrap().to_owned(),
                    fs::read(p).unwrap(),
                )
            })
            .collect()
    };
    assert!(
        queue(dir) == queue(fresh.path()),
        "{context}: the consume queue differs from a rebuild"
    );
}

#[test]
fn a_torn_commit_log_is_cut_to_the_last_whole_entry() {
    for seed in 0..SEEDS {
        let mut rng = Rng::with_seed(seed);
        let (dir, sizes, model) = crashed_log(Engine::CommitLog, &mut rng);
        let entries = commitlog_entries(dir.path());
        let last = &entries.last().unwrap().file;
        let cut = rng.u64(..sizes.file_bytes);
        fs::OpenOptions::new()
            .write(true)
            .open(last)
            .unwrap()
            .set_len(cut)
            .unwrap();
        let keep = entries
            .iter()
            .filter(|e| &e.file != last || e.end <= cut)
            .count();
        let context = format!("seed {seed}: cut at {cut} of {}", last.display());
        reopen_and_check(Engine::CommitLog, dir.path(), sizes, &model, keep, &context);
    }
}

#[test]
fn garbage_after_the_commit_log_tail_is_cut() {
    for seed in 0..SEEDS {
        let mut rng = Rng::with_seed(seed);
        let (dir, sizes, model) = crashed_log(Engine::CommitLog, &mut rng);
        let entries = commitlog_entries(dir.path());
        let last = entries.last().unwrap();
        let room = (sizes.file_bytes - last.end) as usize;
        let garbage: Vec<u8> = (0..rng.usize(1..5000).min(room.max(1)))
            .map(|_| rng.u8(..))
            .collect();
        if room > 0 {
            fs::OpenOptions::new()
                .write(true)
                .open(&last.file)
                .unwrap()
                .write_all_at(&garbage, last.end)
                .unwrap();
        }
        let context = format!("seed {seed}: {} bytes of garbage", garbage.len());
        reopen_and_check(
            Engine::CommitLog,
            dir.path(),
            sizes,
            &model,
            entries.len(),
            &context,
        );
    }
}

#[test]
fn a_flipped_bit_in_the_commit_log_is_never_served() {
    let (mut refused, mut cut) = (0, 0);
    for seed in 0..SEEDS {
        let mut rng = Rng::with_seed(seed);
        let (dir, sizes, model) = crashed_log(Engine::CommitLog, &mut rng);
        let floor: u64 = fs::read_to_string(dir.path().join(commitlog::RECOVERY_POINT_FILE))
            .map_or(0, |s| s.trim().parse().unwrap());
        let entries = commitlog_entries(dir.path());
        let checked: Vec<usize> = (0..entries.len())
            .filter(|&i| entries[i].global >= floor)
            .collect();
        let Some(&damaged) = checked.get(rng.usize(..checked.len().max(1))) else {
            continue;
        };
        let victim = &entries[damaged];
        let pos = rng.u64(victim.start..victim.end);
        flip_bit(&victim.file, pos, &mut rng);
        let context = format!(
            "seed {seed}: bit flipped at byte {pos} of {} (entry {damaged})",
            victim.file.display()
        );
        match open(Engine::CommitLog, dir.path(), sizes, false) {
            Ok(store) => {
                cut += 1;
                assert_eq!(
                    prefix_len(&*store, &model, &context),
                    damaged,
                    "{context}: batches kept"
                );
                store.close().unwrap();
            }
            Err(Error::Corrupt { file, position, .. }) => {
                refused += 1;
                assert_eq!(
                    (file, position),
                    (victim.file.clone(), victim.start),
                    "{context}: place named"
                );
                let store = open(Engine::CommitLog, dir.path(), sizes, true).unwrap();
                assert_eq!(
                    prefix_len(&*store, &model, &context),
                    damaged,
                    "{context}: batches kept by repair"
                );
                store.close().unwrap();
            }
            Err(e) => panic!("{context}: {e}"),
        }
        assert_queues_rebuild_equal(dir.path(), sizes, &context);
    }
    assert!(refused > 0 && cut > 0, "refused {refused}, cut {cut}");
}

#[test]
fn a_zeroed_or_deleted_consume_queue_is_rebuilt() {
    for seed in 0..SEEDS {
        let mut rng = Rng::with_seed(seed);
        let (dir, sizes, model) = crashed_log(Engine::CommitLog, &mut rng);
        let queues = queue_files(dir.path());
        let victim = &queues[rng.usize(..queues.len())];
        let how = zero_or_delete(victim, &mut rng);
        let all = model.batches(&tp()).len();
        reopen_and_check(
            Engine::CommitLog,
            dir.path(),
            sizes,
            &model,
            all,
            &format!("seed {seed}: {} {how}", victim.display()),
        );
    }
}

#[test]
fn a_damaged_queue_after_a_clean_shutdown_is_rebuilt() {
    for seed in 0..20 {
        let mut rng = Rng::with_seed(seed);
        let (dir, sizes, model) = crashed_log(Engine::CommitLog, &mut rng);
        open(Engine::CommitLog, dir.path(), sizes, false)
            .unwrap()
            .close()
            .unwrap();
        let queues = queue_files(dir.path());
        let victim = &queues[rng.usize(..queues.len())];
        zero(victim);
        let all = model.batches(&tp()).len();
        reopen_and_check(
            Engine::CommitLog,
            dir.path(),
            sizes,
            &model,
            all,
            &format!(
                "seed {seed}: {} zeroed after a clean close",
                victim.display()
            ),
        );
    }
}
