//! `pagecast log dump` and `pagecast bench log` as a user runs them, on stores written by
//! the engines themselves.

use std::os::unix::fs::FileExt;
use std::path::Path;
use std::process::{Command, Output};

use pagecast_log::batch::Builder;
use pagecast_log::{Store, TopicPartition, commitlog, segment};

fn pagecast() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_pagecast"));
    cmd.env("RUST_BACKTRACE", "0");
    cmd
}

fn dump(path: &Path) -> Output {
    pagecast().args(["log", "dump"]).arg(path).output().unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Appends batches of 1, 2, ... `n` records of 500 bytes, closes the store.
fn fill(store: Box<dyn Store>, n: usize) {
    let tp = TopicPartition::new("orders", 0);
    store.create(&tp).unwrap();
    for i in 1..=n {
        let mut b = Builder::new(1_700_000_000_000 + i as i64);
        for _ in 0..i {
            b.push(1_700_000_000_000 + i as i64, Some(b"k"), Some(&[7u8; 500]));
        }
        store.append(&tp, &mut b.finish(), 0).unwrap();
    }
    store.close().unwrap();
}

#[test]
fn a_segment_store_dump_lists_batches_and_index_entries() {
    let dir = tempfile::tempdir().unwrap();
    fill(
        Box::new(segment::SegmentStore::open(dir.path(), segment::Config::default()).unwrap()),
        6,
    );
    let out = dump(dir.path());
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let batches: Vec<&str> = stdout
        .lines()
        .filter(|l| l.starts_with("baseOffset:"))
        .collect();
    assert_eq!(batches.len(), 6, "{stdout}");
    // Batch i holds i records, so batch 4 starts at offset 1 + 2 + 3 = 6.
    assert!(
        batches[3].starts_with("baseOffset: 6 lastOffset: 9 count: 4 position: "),
        "{}",
        batches[3]
    );
    assert!(batches.iter().all(|l| l.ends_with("isValid: true")));
    let index_lines: Vec<&str> = stdout
        .lines()
        .filter(|l| l.starts_with("offset: "))
        .collect();
    assert!(
        !index_lines.is_empty(),
        "no offset index entries in {stdout}"
    );
    assert!(
        stdout.contains("timestamp: "),
        "no time index entries in {stdout}"
    );
    assert!(text(&out.stderr).contains("valid batches"));
}

#[test]
fn a_commit_log_dump_lists_entries_and_consume_queues() {
    let dir = tempfile::tempdir().unwrap();
    let config = commitlog::Config {
        file_bytes: 1 << 20,
        queue_file_entries: 100,
        ..Default::default()
    };
    fill(
        Box::new(commitlog::CommitLogStore::open(dir.path(), config).unwrap()),
        4,
    );
    let out = dump(dir.path());
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let entries: Vec<&str> = stdout
        .lines()
        .filter(|l| l.starts_with("orders-0 entryPosition:"))
        .collect();
    assert_eq!(entries.len(), 4, "{stdout}");
    assert!(
        entries[0].starts_with("orders-0 entryPosition: 0 baseOffset: 0 lastOffset: 0 count: 1"),
        "{}",
        entries[0]
    );
    let queue: Vec<&str> = stdout
        .lines()
        .filter(|l| l.starts_with("position: "))
        .collect();
    assert_eq!(queue.len(), 4, "{stdout}");
    assert!(queue[3].ends_with("baseOffset: 6"), "{}", queue[3]);
    assert!(stdout.contains("end of the log at byte "));
}

#[test]
fn damage_is_named_with_its_file_and_byte_and_fails_the_dump() {
    let dir = tempfile::tempdir().unwrap();
    fill(
        Box::new(segment::SegmentStore::open(dir.path(), segment::Config::default()).unwrap()),
        3,
    );
    let log = dir
        .path()
        .join("orders-0")
        .join(segment::file_name(0, segment::LOG_SUFFIX));
    let file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(&log)
        .unwrap();
    let first = std::fs::read(&log).unwrap();
    let second_batch = 12 + u32::from_be_bytes(first[8..12].try_into().unwrap()) as u64;
    file.write_all_at(
        &[first[second_batch as usize + 100] ^ 0x10],
        second_batch + 100,
    )
    .unwrap();
    let out = dump(&log);
    assert!(!out.status.success());
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains(&format!(
            "{}: damaged at byte {second_batch}: CRC-32C mismatch",
            log.display()
        )),
        "{stderr}"
    );
    assert_eq!(
        text(&out.stdout)
            .lines()
            .filter(|l| l.starts_with("baseOffset:"))
            .count(),
        1
    );
}

#[test]
fn bench_log_measures_both_engines_and_warm_up_takes_the_faults_off_the_append_path() {
    let dir = tempfile::tempdir().unwrap();
    let out = pagecast()
        .args([
            "bench", "log", "--size", "8M", "--runs", "1", "--json", "--dir",
        ])
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let rows = report["rows"].as_array().unwrap();
    let names: Vec<(&str, u64)> = rows
        .iter()
        .map(|r| {
            (
                r["engine"].as_str().unwrap(),
                r["record_size"].as_u64().unwrap(),
            )
        })
        .collect();
    for size in [100, 1024] {
        for engine in ["segment", "commitlog", "commitlog+warm-up"] {
            assert!(
                names.contains(&(engine, size)),
                "{engine} {size} missing from {names:?}"
            );
        }
    }
    for row in rows {
        assert!(row["append_mb_per_s"].as_f64().unwrap() > 0.0, "{row}");
        assert!(row["read_gbps"].as_f64().unwrap() > 0.0, "{row}");
        let l = &row["latency_us"];
        assert!(
            l["p50"].as_f64().unwrap() <= l["p99"].as_f64().unwrap(),
            "{row}"
        );
    }
    let faults = |engine: &str| -> f64 {
        rows.iter()
            .filter(|r| r["engine"] == engine)
            .map(|r| r["page_faults"].as_f64().unwrap())
            .sum()
    };
    assert!(
        faults("commitlog+warm-up") < faults("commitlog"),
        "{rows:?}"
    );
    // Nothing is left behind in the directory given.
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
}

#[test]
fn a_path_that_is_not_a_log_is_an_error_not_an_empty_dump() {
    // Regression: a mistyped path printed "0 files, 0 valid batches" and exited 0.
    let empty = tempfile::tempdir().unwrap();
    let stray = empty.path().join("notes.txt");
    for (path, needle) in [
        (Path::new("/nonexistent"), "open /nonexistent"),
        (empty.path(), "no file of a pagecast log"),
    ] {
        let out = dump(path);
        assert!(!out.status.success(), "{}", path.display());
        let err = text(&out.stderr);
        assert!(err.contains(needle), "{}: {err}", path.display());
    }
    std::fs::write(&stray, "text").unwrap();
    let out = dump(&stray);
    assert!(!out.status.success());
    assert!(text(&out.stderr).contains("no file of a pagecast log"));
}

#[test]
fn bench_log_refuses_bad_record_sizes() {
    let out = pagecast()
        .args(["bench", "log", "--record-sizes", "0"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("--record-sizes"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn a_snapshot_across_filesystems_falls_back_and_says_so() {
    let (from, to) = (
        pagecast_testfs::Mounted::new("tmpfs", 64 << 20),
        pagecast_testfs::Mounted::new("ext4", 64 << 20),
    );
    for (engine, store) in [
        (
            "segment",
            Box::new(
                segment::SegmentStore::open(from.path().join("segment"), Default::default())
                    .unwrap(),
            ) as Box<dyn Store>,
        ),
        (
            "commitlog",
            Box::new(
                commitlog::CommitLogStore::open(
                    from.path().join("commitlog"),
                    commitlog::Config {
                        file_bytes: 1 << 20,
                        ..Default::default()
                    },
                )
                .unwrap(),
            ),
        ),
    ] {
        fill(store, 20);
        let dest = to.path().join(engine);
        let out = pagecast()
            .args(["log", "snapshot"])
            .arg(from.path().join(engine))
            .arg(&dest)
            .output()
            .unwrap();
        let stdout = text(&out.stdout);
        assert!(out.status.success(), "{engine}: {}", text(&out.stderr));
        assert!(
            stdout.contains(
                "by sendfile (after reflink (ioctl(FICLONERANGE): Invalid cross-device link"
            ) && stdout.contains("copy_file_range (copy_file_range: Invalid cross-device link"),
            "{engine}: {stdout}"
        );
        assert!(
            stdout.contains(&format!("{engine} store: ")),
            "{engine}: {stdout}"
        );
        // The snapshot is a store: it dumps whole, every batch valid.
        let dumped = dump(&dest);
        assert!(
            dumped.status.success(),
            "{engine}: {}",
            text(&dumped.stderr)
        );
        assert!(
            text(&dumped.stderr).contains(", 20 valid batches"),
            "{engine}: {}",
            text(&dumped.stderr)
        );
    }
}
