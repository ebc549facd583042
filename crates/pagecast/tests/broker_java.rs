//! The Apache Kafka Java client (producer, consumer, admin) against pagecast on both
//! storage engines, and against the real Kafka in the same test: the checks in
//! tests/java print what they observe, and pagecast must show the client exactly what
//! Kafka shows it.

mod support;

use std::process::Output;

use support::broker::{Broker, ENGINES};
use support::kafka::{Kafka, PAGECAST_SETTINGS, kafka_class};

/// The checks, in the order they run on every broker (later ones see the topics of
/// earlier ones).
const CHECKS: [&str; 3] = ["producer", "admin", "consumer"];

/// Runs one group of checks against `bootstrap`; returns its `same` lines, after
/// failing on any `fail` line or a crash.
fn run_checks(which: &str, bootstrap: &str, broker: &str) -> Vec<String> {
    let out: Output = kafka_class("pagecast.Checks")
        .args([which, bootstrap])
        .output()
        .expect("run the Java checks");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let failed: Vec<&str> = stdout.lines().filter(|l| l.starts_with("fail ")).collect();
    assert!(
        failed.is_empty() && out.status.success(),
        "{which} checks against {broker} ({}):\n{}\n\nall output:\n{stdout}\n{}",
        out.status,
        failed.join("\n"),
        String::from_utf8_lossy(&out.stderr)
    );
    let same: Vec<String> = stdout
        .lines()
        .filter(|l| l.starts_with("same "))
        .map(str::to_owned)
        .collect();
    assert!(
        !same.is_empty(),
        "{which} checks printed nothing:\n{stdout}"
    );
    same
}

#[test]
fn the_java_client_sees_pagecast_as_it_sees_kafka() {
    let kafka = Kafka::start(&[]);
    let reference: Vec<Vec<String>> = CHECKS
        .iter()
        .map(|which| run_checks(which, &kafka.bootstrap(), "Kafka"))
        .collect();
    drop(kafka);
    for engine in ENGINES {
        let dir = tempfile::tempdir().unwrap();
        let broker = Broker::start(dir.path(), engine, &PAGECAST_SETTINGS);
        for (which, kafka_saw) in CHECKS.iter().zip(&reference) {
            let name = format!("pagecast ({engine})");
            let pagecast_saw = run_checks(which, &broker.bootstrap(), &name);
            let differ: Vec<String> = kafka_saw
                .iter()
                .zip(&pagecast_saw)
                .filter(|(k, p)| k != p)
                .map(|(k, p)| format!("Kafka:    {k}\npagecast: {p}"))
                .collect();
            assert!(
                differ.is_empty() && kafka_saw.len() == pagecast_saw.len(),
                "{which} checks on {engine}: the Java client saw {} lines from Kafka and {} from pagecast; these differ:\n{}",
                kafka_saw.len(),
                pagecast_saw.len(),
                differ.join("\n")
            );
        }
        broker.stop();
    }
}
