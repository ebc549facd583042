//! `pagecast bench broker` end to end: both engines, the built-in client's three phases
//! and confluent-kafka's, on a small volume; Apache Kafka and a running broker measured
//! beside pagecast (`--peer`); and refused arguments.

mod support;

use std::process::Command;

use support::broker::Broker;

fn pagecast() -> Command {
    Command::new(env!("CARGO_BIN_EXE_pagecast"))
}

#[test]
fn bench_broker_measures_both_engines_and_both_clients() {
    let dir = tempfile::tempdir().unwrap();
    let out = pagecast()
        .args([
            "bench",
            "broker",
            "--size",
            "24M",
            "--runs",
            "1",
            "--partitions",
            "3",
            "--group",
            "2",
            "--json",
            "--dir",
        ])
        .arg(dir.path())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["partitions"], 3);
    assert!(
        report["confluent_skipped"].is_null(),
        "confluent-kafka is installed by scripts/test: {report}"
    );
    let rows = report["rows"].as_array().unwrap();
    let names: Vec<(String, String)> = rows
        .iter()
        .map(|r| {
            (
                r["engine"].as_str().unwrap().into(),
                r["client"].as_str().unwrap().into(),
            )
        })
        .collect();
    for engine in ["segment", "commitlog"] {
        for client in ["pagecast", "confluent-kafka"] {
            assert!(names.contains(&(engine.into(), client.into())), "{names:?}");
        }
    }
    for r in rows {
        let run = &r["runs"][0];
        let produced = run["produce"]["records"].as_u64().unwrap();
        assert!(produced > 0, "{r}");
        assert_eq!(
            run["consume_decoding"]["records"].as_u64().unwrap(),
            produced,
            "{r}"
        );
        assert!(r["bare_cpu_seconds_per_gb"].as_f64().unwrap() > 0.0, "{r}");
        if r["client"] == "pagecast" {
            let bytes = run["produce"]["bytes"].as_u64().unwrap();
            assert!(bytes >= 24 << 20, "the whole volume was produced: {r}");
            assert_eq!(
                run["consume_zero_copy"]["records"], run["produce"]["records"],
                "{r}"
            );
            assert_eq!(
                run["consume_zero_copy"]["bytes"], run["produce"]["bytes"],
                "{r}"
            );
            let groups = run["group"].as_array().unwrap();
            let protocols: Vec<&str> = groups
                .iter()
                .map(|g| g["protocol"].as_str().unwrap())
                .collect();
            assert_eq!(protocols, ["classic", "consumer"], "{r}");
            for group in groups {
                assert_eq!(group["members"], 2, "{r}");
                assert_eq!(group["records"], run["produce"]["records"], "{r}");
                assert!(group["reassigned_ms"].as_f64().unwrap() >= 0.0, "{r}");
            }
            let latency = &run["produce"]["latency_ms"];
            assert!(
                latency["p50"].as_f64().unwrap() <= latency["p99.9"].as_f64().unwrap(),
                "{r}"
            );
        }
    }
}

/// Runs `bench broker --json` with `args` on a small volume; returns the report.
fn bench_report(args: &[&str]) -> serde_json::Value {
    let dir = tempfile::tempdir().unwrap();
    let out = pagecast()
        .args([
            "bench",
            "broker",
            "--size",
            "24M",
            "--partitions",
            "2",
            "--no-confluent",
            "--json",
            "--dir",
        ])
        .arg(dir.path())
        .args(args)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{args:?}: {stderr}");
    serde_json::from_slice(&out.stdout).unwrap()
}

/// The rows of `report`.
fn rows(report: &serde_json::Value) -> Vec<serde_json::Value> {
    report["rows"].as_array().unwrap().clone()
}

/// Every run of `row` read back all it produced, zero-copy and decoding.
fn assert_read_back(row: &serde_json::Value) {
    for run in row["runs"].as_array().unwrap() {
        let produced = run["produce"]["records"].as_u64().unwrap();
        assert!(
            run["produce"]["bytes"].as_u64().unwrap() >= 24 << 20,
            "{row}"
        );
        assert_eq!(
            run["consume_decoding"]["records"].as_u64(),
            Some(produced),
            "{row}"
        );
        assert_eq!(
            run["consume_zero_copy"]["records"].as_u64(),
            Some(produced),
            "{row}"
        );
    }
}

#[test]
fn bench_broker_measures_kafka_beside_pagecast() {
    let algorithm = support::namespaced_congestion();
    let report = bench_report(&[
        "--peer",
        "kafka",
        "--storage",
        "segment",
        "--runs",
        "1",
        "--congestion",
        algorithm,
    ]);
    // Both brokers' connections, Kafka's accepted ones too, under the same algorithm.
    support::assert_congestion(&report, algorithm);
    let rows = rows(&report);
    let names: Vec<(&str, &str)> = rows
        .iter()
        .map(|r| (r["engine"].as_str().unwrap(), r["client"].as_str().unwrap()))
        .collect();
    assert_eq!(
        names,
        [
            ("segment", "pagecast"),
            ("kafka", "pagecast"),
            ("segment", "kafka-perf"),
            ("kafka", "kafka-perf")
        ]
    );
    // Kafka's ProducerPerformance and ConsumerPerformance against both: every record
    // sent is read back, with the producer's latency percentiles and the broker's CPU.
    for row in &rows[2..] {
        let run = &row["runs"][0];
        let sent = run["produce"]["records"].as_u64().unwrap();
        assert_eq!(sent, (24 << 20) / 100, "{row}");
        assert_eq!(
            run["consume_decoding"]["records"].as_u64(),
            Some(sent),
            "{row}"
        );
        assert!(
            run["produce"]["latency_ms"]["p99"].as_f64().unwrap() > 0.0,
            "{row}"
        );
        assert!(
            run["produce"]["broker_cpu_seconds"].as_f64().unwrap() > 0.0,
            "{row}"
        );
        assert!(
            run["consume_decoding"]["seconds"].as_f64().unwrap() > 0.0,
            "{row}"
        );
    }
    for row in &rows[..2] {
        assert_read_back(row);
        let run = &row["runs"][0];
        assert!(run["peak_rss_kib"].as_u64().unwrap() > 1024, "{row}");
        assert!(run["start_ms"].as_f64().unwrap() > 0.0, "{row}");
        assert!(
            run["produce"]["broker_cpu_seconds"].as_f64().unwrap() > 0.0,
            "{row}"
        );
    }
    assert!(
        rows[1]["runs"][0]["peak_rss_kib"].as_u64() > rows[0]["runs"][0]["peak_rss_kib"].as_u64(),
        "a JVM with a 1 GiB heap holds more than pagecast: {rows:?}"
    );
}

/// A broker already running is measured too, run after run on one topic name: the
/// topic is deleted after each run and created again for the next.
#[test]
fn bench_broker_measures_a_running_broker_run_after_run() {
    let data = tempfile::tempdir().unwrap();
    let peer = Broker::start(data.path(), "segment", &[]);
    let report = bench_report(&[
        "--peer",
        &peer.bootstrap(),
        "--storage",
        "commitlog",
        "--runs",
        "2",
        "--congestion",
        support::namespaced_congestion(),
    ]);
    // A broker outside the benchmark is reached from the system's namespace only, so
    // both run under the system's algorithm, and the report says why.
    let congestion = &report["tcp_congestion"];
    assert_eq!(
        congestion["algorithm"],
        support::system_congestion().as_str()
    );
    assert_eq!(congestion["scope"], "kept", "{report}");
    let why = congestion["why_not"].as_str().unwrap();
    assert!(why.contains(&peer.bootstrap()), "{why}");
    let rows = rows(&report);
    let names: Vec<String> = rows
        .iter()
        .map(|r| r["engine"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(names, ["commitlog".to_owned(), peer.bootstrap()]);
    for row in &rows {
        assert_eq!(row["runs"].as_array().unwrap().len(), 2, "{row}");
        assert_read_back(row);
    }
    assert!(
        rows[1]["runs"][0]["peak_rss_kib"].is_null(),
        "a broker not started by the bench is not measured as a process"
    );
    peer.stop();
}

#[test]
fn bench_broker_refuses_bad_arguments() {
    for (args, needle) in [
        (&["--batch", "4M"][..], "message.max.bytes"),
        (&["--acks", "2"][..], "expected 0, 1 or all"),
        (&["--record-size", "0"][..], "--record-size"),
        (&["--storage", "tape"][..], "segment or commitlog"),
        (&["--peer", "nowhere"][..], "give kafka or HOST:PORT"),
        (
            &["--group", "5", "--partitions", "4"][..],
            "at least 5 partitions",
        ),
    ] {
        let out = pagecast()
            .args(["bench", "broker"])
            .args(args)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{args:?} was accepted");
        assert!(stderr.contains(needle), "{args:?}: {stderr}");
    }
}
