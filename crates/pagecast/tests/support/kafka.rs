//! The reference Apache Kafka (pinned in tests/java/pom.xml) and its Java tools and
//! checks, all through scripts/kafka, which scripts/test runs once to resolve Kafka from
//! Maven Central and compile the checks.

use std::path::PathBuf;
use std::process::{Command, Output};

use super::broker::{Broker, ENGINES, run_ok};

/// The broker settings of Kafka in the tests: topics are created explicitly, and
/// consumer-protocol members heartbeat every second (the clients' checks run through
/// rebalances; Kafka's 5 s floor would make each take many seconds).
pub const KAFKA_SETTINGS: [&str; 3] = [
    "auto.create.topics.enable=false",
    "group.consumer.min.heartbeat.interval.ms=500",
    "group.consumer.heartbeat.interval.ms=1000",
];

/// pagecast's flags for the same behaviour as [`KAFKA_SETTINGS`] (and Kafka's
/// `group.initial.rebalance.delay.ms=0`, which scripts/kafka sets).
pub const PAGECAST_SETTINGS: [&str; 6] = [
    "--auto-create-topics",
    "false",
    "--group-initial-rebalance-delay-ms",
    "0",
    "--group-consumer-heartbeat-interval-ms",
    "1000",
];

fn script() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../scripts/kafka")
}

/// Fails naming scripts/test unless Kafka's classpath has been resolved.
fn require_classpath() {
    let cp = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/java/target/classpath.txt");
    assert!(
        cp.is_file(),
        "Apache Kafka's classpath ({}) is missing: run scripts/test (it resolves Kafka from Maven Central with scripts/kafka build)",
        cp.display()
    );
}

/// A single-node KRaft Kafka on free loopback ports, stopped when dropped.
pub struct Kafka {
    dir: tempfile::TempDir,
    bootstrap: String,
}

impl Kafka {
    /// Formats a fresh directory and starts Kafka with [`KAFKA_SETTINGS`] and `extra`
    /// (`key=value` lines of server.properties).
    pub fn start(extra: &[&str]) -> Kafka {
        require_classpath();
        let dir = tempfile::tempdir().unwrap();
        let out = run_ok(
            Command::new(script())
                .arg("start")
                .arg(dir.path())
                .args(KAFKA_SETTINGS)
                .args(extra),
        );
        let bootstrap = out.trim().to_owned();
        assert!(
            bootstrap.starts_with("127.0.0.1:"),
            "scripts/kafka start printed {out:?}"
        );
        Kafka { dir, bootstrap }
    }

    /// `host:port` for clients.
    pub fn bootstrap(&self) -> String {
        self.bootstrap.clone()
    }

    /// Where Kafka keeps its logs (`data/TOPIC-PARTITION`).
    pub fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }
}

impl Drop for Kafka {
    fn drop(&mut self) {
        let _ = Command::new(script())
            .arg("stop")
            .arg(self.dir.path())
            .status();
    }
}

/// A Kafka class (a tool, or one of the checks in tests/java) with its arguments, run
/// with Kafka's classpath and the JVM flags of kafka-run-class.sh.
pub fn kafka_class(class: &str) -> Command {
    require_classpath();
    let mut cmd = Command::new(script());
    cmd.args(["run", class]);
    cmd
}

/// The `same NAME: VALUE` lines that a checks program (tests/java, tests/go) printed,
/// after failing on any `fail` line, an exit other than success, or no lines at all.
pub fn same_lines(out: &Output, which: &str, broker: &str) -> Vec<String> {
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

/// Runs each of `checks` (with `run(which, bootstrap, broker name)`, returning the
/// `same` lines) against a fresh Kafka, then against pagecast on each engine with
/// [`PAGECAST_SETTINGS`], and fails unless pagecast's lines are exactly Kafka's.
pub fn same_as_kafka(checks: &[&str], run: impl Fn(&str, &str, &str) -> Vec<String>) {
    let kafka = Kafka::start(&[]);
    let reference: Vec<Vec<String>> = checks
        .iter()
        .map(|which| run(which, &kafka.bootstrap(), "Kafka"))
        .collect();
    drop(kafka);
    for engine in ENGINES {
        let dir = tempfile::tempdir().unwrap();
        let broker = Broker::start(dir.path(), engine, &PAGECAST_SETTINGS);
        for (which, kafka_saw) in checks.iter().zip(&reference) {
            let pagecast_saw = run(which, &broker.bootstrap(), &format!("pagecast ({engine})"));
            let differ: Vec<String> = kafka_saw
                .iter()
                .zip(&pagecast_saw)
                .filter(|(k, p)| k != p)
                .map(|(k, p)| format!("Kafka:    {k}\npagecast: {p}"))
                .collect();
            assert!(
                differ.is_empty() && kafka_saw.len() == pagecast_saw.len(),
                "{which} checks on {engine}: the client saw {} lines from Kafka and {} from pagecast; these differ:\n{}",
                kafka_saw.len(),
                pagecast_saw.len(),
                differ.join("\n")
            );
        }
        broker.stop();
    }
}
