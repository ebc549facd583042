//! `pagecast bench copy` on real filesystems and `pagecast bench cow`, end to end.

use std::process::Command;

use pagecast_testfs::Mounted;

fn pagecast_json(args: &[&str]) -> serde_json::Value {
    let out = Command::new(env!("CARGO_BIN_EXE_pagecast"))
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

fn copy_rows(fs: &Mounted) -> Vec<serde_json::Value> {
    let dir = fs.path().to_str().unwrap();
    let report = pagecast_json(&[
        "bench", "copy", "--size", "8M", "--runs", "2", "--dir", dir, "--json",
    ]);
    assert_eq!(report["filesystem"], fs.fstype());
    report["rows"].as_array().unwrap().clone()
}

fn row<'a>(rows: &'a [serde_json::Value], method: &str) -> &'a serde_json::Value {
    rows.iter().find(|r| r["method"] == method).unwrap()
}

#[test]
fn on_btrfs_a_reflink_takes_no_space_and_copy_file_range_reflinks_too() {
    let fs = Mounted::new("btrfs", 256 << 20);
    let rows = copy_rows(&fs);
    for method in [
        "read+write",
        "sendfile",
        "splice",
        "copy_file_range",
        "reflink",
    ] {
        let r = row(&rows, method);
        assert!(r["unsupported"].is_null(), "{method}: {r}");
        assert_eq!(r["ran"], method);
        let own = r["own_space_bytes_median"].as_f64().unwrap();
        match method {
            "reflink" | "copy_file_range" => {
                assert!(own < 64.0 * 1024.0, "{method} took {own} bytes of its own");
                assert_eq!(r["shared_bytes_median"], 8.0 * 1048576.0);
            }
            _ => assert!(
                own >= 8.0 * 1048576.0,
                "{method} took {own} bytes of its own"
            ),
        }
    }
    assert_eq!(
        row(&rows, "copy_file_range")["how"],
        "reflinked by the filesystem"
    );
}

#[test]
fn on_ext4_reflink_is_unsupported_and_copy_file_range_copies_in_the_kernel() {
    let fs = Mounted::new("ext4", 64 << 20);
    let rows = copy_rows(&fs);
    let reflink = row(&rows, "reflink");
    assert!(
        reflink["unsupported"]
            .as_str()
            .is_some_and(|why| why.contains("Operation not supported")),
        "{reflink}"
    );
    let cfr = row(&rows, "copy_file_range");
    assert_eq!(cfr["how"], "copied in the kernel");
    assert!(cfr["own_space_bytes_median"].as_f64().unwrap() >= 8.0 * 1048576.0);
    assert_eq!(row(&rows, "sendfile")["syscalls_median"], 4.0);
}

#[test]
fn cow_faults_and_copies_follow_the_pages_written_and_the_file_stays_unchanged() {
    let report = pagecast_json(&["bench", "cow", "--size", "16M", "--runs", "1", "--json"]);
    let pages = report["pages"].as_f64().unwrap();
    assert_eq!(pages, 4096.0);
    for row in report["rows"].as_array().unwrap() {
        let written = row["pages_written"].as_f64().unwrap();
        let percent = row["percent"].as_f64().unwrap();
        assert!((written - pages * percent / 100.0).abs() <= 1.0, "{row}");
        assert_eq!(row["file_unchanged"], true, "{row}");
        let (faults, copies) = (
            row["write_faults_median"].as_f64().unwrap(),
            row["write_copies_median"].as_f64().unwrap(),
        );
        let read_copies = row["read_copies_median"].as_f64().unwrap();
        match row["way"].as_str().unwrap() {
            "MAP_PRIVATE" => {
                // One fault and one page copied per page written, none for reading.
                assert!((faults - written).abs() <= 8.0, "{row}");
                assert!((copies - written).abs() <= 8.0, "{row}");
                assert!(read_copies <= 8.0, "{row}");
            }
            "MAP_SHARED" => assert!(copies <= 8.0, "{row}"),
            _ => {
                assert!(read_copies >= pages, "{row}");
                assert!(faults <= 8.0 && copies <= 8.0, "{row}");
            }
        }
    }
}
