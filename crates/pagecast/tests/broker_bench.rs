//! `pagecast bench broker` end to end: both engines, the built-in client's three phases
//! and confluent-kafka's, on a small volume; and refused arguments.

use std::process::Command;

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

#[test]
fn bench_broker_refuses_bad_arguments() {
    for (args, needle) in [
        (&["--batch", "4M"][..], "message.max.bytes"),
        (&["--acks", "2"][..], "expected 0, 1 or all"),
        (&["--record-size", "0"][..], "--record-size"),
        (&["--storage", "tape"][..], "segment or commitlog"),
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
