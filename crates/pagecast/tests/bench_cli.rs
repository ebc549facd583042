//! `pagecast bench` as a user runs it: the real binary, a real receiver process, real
//! loopback TCP.

use std::process::Command;

fn pagecast() -> Command {
    Command::new(env!("CARGO_BIN_EXE_pagecast"))
}

const METHODS: [&str; 6] = [
    "read+write",
    "direct",
    "mmap+write",
    "sendfile",
    "splice",
    "io_uring",
];

#[test]
fn json_has_every_method_against_both_receivers_with_raw_rows() {
    let dir = tempfile::tempdir().unwrap();
    let svg = dir.path().join("chart.svg");
    let size = 8u64 << 20;
    let out = pagecast()
        .args([
            "bench", "--size", "8M", "--runs", "2", "--raw", "--json", "--svg",
        ])
        .arg(&svg)
        .arg("--dir")
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["bytes"], size);
    let rows = report["rows"].as_array().unwrap();
    assert_eq!(
        rows.len(),
        METHODS.len() * 2 * 2,
        "methods × receivers × (engine, raw)"
    );
    for row in rows {
        let name = row["method"].as_str().unwrap();
        assert!(METHODS.contains(&name), "{name}");
        assert!(
            row["unsupported"].is_null(),
            "{name} unsupported: {}",
            row["unsupported"]
        );
        let runs = row["runs"].as_array().unwrap();
        assert_eq!(runs.len(), 2, "{name}");
        let median = &row["median"];
        assert!(median["gb_per_s"].as_f64().unwrap() > 0.0);
        let calls = median["syscalls"].as_u64().unwrap();
        assert_eq!(median["mode_switches"].as_u64().unwrap(), 2 * calls);
        // 8 MiB in 2 MiB sendfile chunks is 4 calls; 64 KiB read+write is 128 + 128;
        // splice is 2 per 1 MiB pipeful; io_uring one enter per 2 MiB chunk. The first
        // engine run also makes the pooled pipe and the thread's ring, so take the last.
        let last = runs[1]["syscalls"].as_u64().unwrap();
        match (name, row["variant"].as_str().unwrap()) {
            ("sendfile", _) => assert_eq!(last, 4, "{row}"),
            ("read+write", _) => assert_eq!(last, 256, "{row}"),
            ("splice", "engine") => assert_eq!(last, 16, "{row}"),
            ("io_uring", "engine") => assert_eq!(last, 4, "{row}"),
            _ => assert!(last > 0),
        }
        let copies = row["design_copies"].as_u64().unwrap();
        assert_eq!(
            copies,
            match name {
                "read+write" => 2,
                "splice" | "io_uring" => 0,
                _ => 1,
            }
        );
    }
    let claims: Vec<&str> = report["claims"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap())
        .collect();
    for method in ["sendfile", "splice", "io_uring", "mmap+write", "direct"] {
        for receiver in ["zero-copy", "ordinary"] {
            let prefix = format!("{method} vs read+write ({receiver} receiver): ");
            assert!(
                claims
                    .iter()
                    .any(|c| c.starts_with(&prefix) && c.contains("x throughput")),
                "{prefix} in {claims:?}"
            );
        }
    }
    assert!(
        claims
            .iter()
            .any(|c| c.starts_with("engine vs raw loop, sendfile"))
    );

    let chart = std::fs::read_to_string(&svg).unwrap();
    assert!(chart.starts_with("<svg") && chart.trim_end().ends_with("</svg>"));
    for method in METHODS {
        assert!(
            chart.contains(&format!("{method} → zero-copy")),
            "{method} missing from the chart"
        );
    }
}

#[test]
fn the_table_names_interfaces_switch_kinds_and_claims() {
    let dir = tempfile::tempdir().unwrap();
    let out = pagecast()
        .args([
            "bench",
            "--size",
            "4M",
            "--runs",
            "1",
            "--method",
            "read+write,sendfile",
            "--receiver",
            "ordinary",
            "--dir",
        ])
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        text.contains("interface lo (loopback, used here): scatter-gather"),
        "{text}"
    );
    assert!(
        text.contains("ordinary receiver (read into a 256 KiB buffer)"),
        "{text}"
    );
    assert!(!text.contains("zero-copy receiver"), "{text}");
    assert!(
        text.contains("user↔kernel mode switches, 2 per syscall"),
        "{text}"
    );
    assert!(
        text.contains("sendfile vs read+write (ordinary receiver): "),
        "{text}"
    );
    let sendfile_line = text.lines().find(|l| l.starts_with("sendfile ")).unwrap();
    // 4 MiB in 2 MiB chunks: 2 syscalls, 4 mode switches.
    let cols: Vec<&str> = sendfile_line.split_whitespace().collect();
    assert_eq!((cols[5], cols[6]), ("2", "4"), "{sendfile_line}");
}

#[test]
fn bad_arguments_are_refused_with_a_message() {
    for (args, needle) in [
        (&["bench", "--method", "sendfile2"][..], "unknown method"),
        (&["bench", "--method", "auto"][..], "not measured"),
        (&["bench", "--size", "12Q"][..], "unknown size suffix"),
        (&["bench", "--receiver", "fast"][..], "unknown receiver"),
        (&["bench", "--runs", "0"][..], "--runs"),
    ] {
        let out = pagecast().args(args).output().unwrap();
        assert!(!out.status.success(), "{args:?} succeeded");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(needle), "{args:?}: {err}");
    }
}
