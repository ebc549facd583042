//! `pagecast bench` as a user runs it: the real binary, a real receiver process, real
//! loopback TCP.

mod support;

use std::process::Command;

use support::{METHODS, assert_congestion};

fn pagecast() -> Command {
    Command::new(env!("CARGO_BIN_EXE_pagecast"))
}

/// Runs `cmd`, which must succeed, and returns its standard output.
fn succeed(cmd: &mut Command) -> Vec<u8> {
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

#[test]
fn json_has_every_method_against_both_receivers_with_raw_rows() {
    let dir = tempfile::tempdir().unwrap();
    let svg = dir.path().join("chart.svg");
    let size = 8u64 << 20;
    let stdout = succeed(
        pagecast()
            .args([
                "bench", "--size", "8M", "--runs", "2", "--raw", "--json", "--svg",
            ])
            .arg(&svg)
            .arg("--dir")
            .arg(dir.path()),
    );
    let report: serde_json::Value = serde_json::from_slice(&stdout).unwrap();
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
        // 8 MiB in 2 MiB sendfile chunks takes at least 4 calls; 64 KiB read+write at
        // least 128 + 128; splice 2 per 1 MiB pipeful; io_uring one enter per 2 MiB.
        // A blocking call may still come back short, hence the bounds. The first engine
        // run also makes the pooled pipe and the thread's ring, so take the last run.
        let last = runs[1]["syscalls"].as_u64().unwrap();
        let least = match (name, row["variant"].as_str().unwrap()) {
            ("sendfile", _) | ("io_uring", "engine") => 4,
            ("read+write", _) => 256,
            ("splice", "engine") => 16,
            _ => 0,
        };
        assert!(last > 0, "{row}");
        if least > 0 {
            assert!(
                (least..least * 3 / 2 + 2).contains(&last),
                "{last} calls, expected about {least}: {row}"
            );
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
    let stdout = succeed(
        pagecast()
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
            .arg(dir.path()),
    );
    let text = String::from_utf8(stdout).unwrap();
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
    // 4 MiB in 2 MiB chunks: at least 2 syscalls, and 2 mode switches per syscall.
    let cols: Vec<u64> = sendfile_line
        .split_whitespace()
        .skip(5)
        .map(|c| c.parse().unwrap())
        .collect();
    assert!(cols[0] >= 2 && cols[1] == 2 * cols[0], "{sendfile_line}");
}

/// `pagecast bench --size 1M --runs 1 --method sendfile --receiver zero-copy --json`
/// with `args` added, run by `cmd`'s program; returns the report.
fn small_bench(mut cmd: Command, args: &[&str]) -> serde_json::Value {
    let dir = tempfile::tempdir().unwrap();
    std::fs::set_permissions(
        dir.path(),
        std::os::unix::fs::PermissionsExt::from_mode(0o777),
    )
    .unwrap();
    cmd.args([
        "bench", "--size", "1M", "--runs", "1", "--method", "sendfile",
    ])
    .args(["--receiver", "zero-copy", "--json", "--dir"])
    .arg(dir.path())
    .args(args);
    let report: serde_json::Value = serde_json::from_slice(&succeed(&mut cmd)).unwrap();
    assert!(report["rows"][0]["unsupported"].is_null(), "{report}");
    report
}

#[test]
fn the_congestion_control_is_cubic_unless_asked_for_another_or_the_system_s() {
    let system = support::system_congestion();
    let report = small_bench(pagecast(), &[]);
    assert_congestion(&report, "cubic");
    // The machine's interfaces are read before the namespace, which has only loopback.
    let routes = std::fs::read_to_string("/proc/net/route").unwrap();
    let has_default = routes
        .lines()
        .skip(1)
        .any(|l| l.split_whitespace().nth(1) == Some("00000000"));
    let roles: Vec<&str> = report["interfaces"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["role"].as_str().unwrap())
        .collect();
    assert_eq!(roles.contains(&"default route"), has_default, "{report}");
    // reno is built into every kernel.
    let other = if system == "reno" { "cubic" } else { "reno" };
    assert_congestion(&small_bench(pagecast(), &["--congestion", other]), other);
    let report = small_bench(pagecast(), &["--congestion", "system"]);
    assert_eq!(report["tcp_congestion"]["algorithm"], system.as_str());
    assert_eq!(report["tcp_congestion"]["scope"], "system");

    let text = succeed(pagecast().args([
        "bench", "--size", "1M", "--runs", "1", "--method", "sendfile",
    ]));
    let text = String::from_utf8(text).unwrap();
    let line = text
        .lines()
        .find(|l| l.starts_with("TCP congestion control: "))
        .unwrap_or_else(|| panic!("no congestion line: {text}"));
    assert!(
        line.starts_with("TCP congestion control: cubic, "),
        "{line}"
    );
}

/// A user without the privilege to make a network namespace gets one inside a user
/// namespace of its own, under the algorithm asked for.
#[test]
fn an_unprivileged_user_gets_a_network_namespace_of_its_own_too() {
    // The test's build directory may be closed to other users: run a copy.
    let bin = tempfile::tempdir().unwrap();
    std::fs::set_permissions(
        bin.path(),
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .unwrap();
    let copy = bin.path().join("pagecast");
    std::fs::copy(env!("CARGO_BIN_EXE_pagecast"), &copy).unwrap();
    let mut cmd = Command::new(support::require_tool("setpriv"));
    cmd.args(["--reuid=65534", "--regid=65534", "--clear-groups"])
        .arg(&copy);
    let algorithm = support::namespaced_congestion();
    let report = small_bench(cmd, &["--congestion", algorithm]);
    assert_congestion(&report, algorithm);
}

#[test]
fn bad_arguments_are_refused_with_a_message() {
    for (args, needle) in [
        (&["bench", "--method", "sendfile2"][..], "unknown method"),
        (&["bench", "--method", "auto"][..], "not measured"),
        (&["bench", "--size", "12Q"][..], "unknown size suffix"),
        (
            &["bench", "--size", "0"][..],
            "too small to measure: the minimum is 1M",
        ),
        (&["bench", "http", "--size", "4K"][..], "the minimum is 1M"),
        (&["bench", "log", "--size", "1"][..], "the minimum is 1M"),
        (&["bench", "broker", "--size", "0"][..], "the minimum is 1M"),
        (&["bench", "--receiver", "fast"][..], "unknown receiver"),
        (&["bench", "--runs", "0"][..], "--runs"),
        (
            &["bench", "--congestion", "nonesuch"][..],
            "TCP congestion control: \"nonesuch\" refused",
        ),
    ] {
        let out = pagecast().args(args).output().unwrap();
        assert!(!out.status.success(), "{args:?} succeeded");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(needle), "{args:?}: {err}");
    }
}

#[test]
fn a_method_the_filesystem_refuses_is_reported_unsupported_and_the_rest_run() {
    // ramfs refuses O_DIRECT; the test file goes there with --dir.
    let dir = tempfile::tempdir().unwrap();
    let mounted = Command::new("mount")
        .args(["-t", "ramfs", "pagecast-test"])
        .arg(dir.path())
        .status()
        .unwrap();
    assert!(
        mounted.success(),
        "mounting ramfs needs root: run the tests with scripts/test as root"
    );
    let out = pagecast()
        .args([
            "bench",
            "--size",
            "2M",
            "--runs",
            "2",
            "--method",
            "direct,sendfile",
            "--receiver",
            "zero-copy",
            "--dir",
        ])
        .arg(dir.path())
        .output()
        .unwrap();
    let _ = Command::new("umount").arg(dir.path()).status();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    let direct = text.lines().find(|l| l.starts_with("direct ")).unwrap();
    assert!(
        direct.contains("unsupported here: direct is not supported here: open failed"),
        "{direct}"
    );
    assert!(direct.contains("Invalid argument"), "{direct}");
    let sendfile = text.lines().find(|l| l.starts_with("sendfile ")).unwrap();
    assert!(!sendfile.contains("unsupported"), "{sendfile}");
    assert!(
        !text.contains("direct vs read+write"),
        "no claim for a method that did not run: {text}"
    );
}

/// The command lines of processes with an open descriptor of a file under `dir`.
fn processes_holding_files_under(dir: &std::path::Path) -> Vec<String> {
    let mut holders = Vec::new();
    for process in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(fds) = std::fs::read_dir(process.path().join("fd")) else {
            continue;
        };
        let holds = fds
            .flatten()
            .filter_map(|fd| std::fs::read_link(fd.path()).ok())
            .any(|target| target.starts_with(dir));
        if holds {
            let cmdline = std::fs::read(process.path().join("cmdline")).unwrap_or_default();
            holders.push(String::from_utf8_lossy(&cmdline).replace('\0', " "));
        }
    }
    holders
}

#[test]
fn http_bench_compares_pagecast_with_nginx() {
    assert!(
        std::path::Path::new("/usr/sbin/nginx").is_file(),
        "nginx is not installed: run scripts/test (it installs nginx with apt)"
    );
    let scratch = tempfile::tempdir().unwrap();
    let stdout = succeed(
        pagecast()
            .args([
                "bench",
                "http",
                "--size",
                "8M",
                "--small-size",
                "4K",
                "--connections",
                "4",
                "--seconds",
                "1",
                "--runs",
                "2",
                "--json",
                "--congestion",
                support::namespaced_congestion(),
                "--dir",
            ])
            .arg(scratch.path()),
    );
    // Both servers are gone, nginx's workers included: nothing holds a file there.
    let holders = processes_holding_files_under(&scratch.path().canonicalize().unwrap());
    assert!(holders.is_empty(), "left running: {holders:?}");
    let report: serde_json::Value = serde_json::from_slice(&stdout).unwrap();
    assert_eq!(report["size"], 8 << 20);
    // nginx's connections too: the namespace's routes carry the algorithm.
    assert_congestion(&report, support::namespaced_congestion());
    for server in ["pagecast", "nginx"] {
        let s = &report[server];
        assert_eq!(s["download_gbps"].as_array().unwrap().len(), 2, "{server}");
        assert!(
            s["download_gbps_median"].as_f64().unwrap() > 0.0,
            "{server}"
        );
        assert!(s["small_rps_median"].as_f64().unwrap() > 0.0, "{server}");
        // wrk, installed by the test command, drives both servers too.
        assert_eq!(s["wrk_rps"].as_array().unwrap().len(), 2, "{server}");
        assert!(s["wrk_rps_median"].as_f64().unwrap() > 0.0, "{server}");
        assert!(s["wrk_p99_ms_median"].as_f64().unwrap() > 0.0, "{server}");
    }
    assert!(
        report["wrk"].as_str().is_some_and(|w| w.ends_with("wrk")),
        "wrk is not installed: run the tests with scripts/test as root: {report}"
    );
    assert!(
        report["nginx"]["name"]
            .as_str()
            .unwrap()
            .starts_with("nginx/")
    );
    assert!(report["ratio"]["download"].as_f64().unwrap() > 0.0);
    assert!(report["ratio"]["small"].as_f64().unwrap() > 0.0);

    let text = succeed(pagecast().args([
        "bench",
        "http",
        "--size",
        "4M",
        "--connections",
        "2",
        "--seconds",
        "1",
        "--runs",
        "1",
        "--no-nginx",
    ]));
    let text = String::from_utf8(text).unwrap();
    assert!(text.contains("4 MiB download, GB/s"), "{text}");
    assert!(text.contains("nginx not measured: not requested"), "{text}");
}
