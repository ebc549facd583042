//! The Apache Kafka Java client (producer, consumer, admin) against pagecast on both
//! storage engines, and against the real Kafka in the same test: the checks in
//! tests/java print what they observe, and pagecast must show the client exactly what
//! Kafka shows it.

mod support;

use support::broker::Broker;
use support::kafka::{Kafka, PAGECAST_SETTINGS, kafka_class, same_as_kafka, same_lines};

/// The checks, in the order they run on every broker (later ones see the topics of
/// earlier ones).
const CHECKS: [&str; 3] = ["producer", "admin", "consumer"];

/// Runs one group of checks against `bootstrap`; returns its `same` lines, after
/// failing on any `fail` line or a crash.
fn run_checks(which: &str, bootstrap: &str, broker: &str) -> Vec<String> {
    let out = kafka_class("pagecast.Checks")
        .args([which, bootstrap])
        .output()
        .expect("run the Java checks");
    same_lines(&out, which, broker)
}

#[test]
fn the_java_client_sees_pagecast_as_it_sees_kafka() {
    same_as_kafka(&CHECKS, run_checks);
}

/// The bytes each fetch sends and receives, from the `info fetch bytes per poll` line.
fn fetch_bytes(which: &str, bootstrap: &str) -> (f64, f64) {
    let out = kafka_class("pagecast.Checks")
        .args([which, bootstrap])
        .output()
        .expect("run the Java checks");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success() && !stdout.contains("\nfail "),
        "{which} checks against {bootstrap}:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let line = stdout
        .lines()
        .find_map(|l| l.strip_prefix("info fetch bytes per poll: "))
        .unwrap_or_else(|| panic!("no measurement in:\n{stdout}"));
    let field = |name: &str| -> f64 {
        line.split(' ')
            .find_map(|f| f.strip_prefix(name)?.strip_prefix('=')?.parse().ok())
            .unwrap_or_else(|| panic!("no {name} in {line:?}"))
    };
    assert!(
        field("fetches") >= 10.0,
        "too few fetches to measure: {line}"
    );
    (field("request"), field("response"))
}

/// KIP-227: the Java consumer of 1,000 idle partitions opens an incremental fetch
/// session, and then each fetch names no partition and its answer none but those with
/// news; with the session cache off (`--fetch-session-cache-slots 0`) every fetch names
/// all 1,000 both ways. A record produced mid-way arrives either way.
#[test]
fn the_java_consumer_fetches_idle_partitions_in_an_incremental_session() {
    let mut measured = Vec::new();
    for (engine, slots) in [("segment", "1000"), ("commitlog", "1000"), ("segment", "0")] {
        let dir = tempfile::tempdir().unwrap();
        let mut args = PAGECAST_SETTINGS.to_vec();
        args.extend(["--fetch-session-cache-slots", slots]);
        let broker = Broker::start(dir.path(), engine, &args);
        let (request, response) = fetch_bytes("sessions", &broker.bootstrap());
        eprintln!(
            "pagecast ({engine}, {slots} session slots): {request:.0} bytes per fetch request, {response:.0} per response"
        );
        measured.push((engine, slots, request, response));
        broker.stop();
    }
    let kafka = Kafka::start(&[]);
    let (request, response) = fetch_bytes("sessions", &kafka.bootstrap());
    eprintln!(
        "Kafka (1000 session slots): {request:.0} bytes per fetch request, {response:.0} per response"
    );
    measured.push(("Kafka", "1000", request, response));
    drop(kafka);
    let without = measured.iter().find(|m| m.1 == "0").unwrap();
    for (engine, _, request, response) in measured.iter().filter(|m| m.1 != "0") {
        assert!(
            request * 20.0 < without.2 && response * 20.0 < without.3,
            "{engine}: a session's fetches ({request:.0} and {response:.0} bytes) must be far smaller than full ones ({:.0} and {:.0})",
            without.2,
            without.3
        );
    }
}
