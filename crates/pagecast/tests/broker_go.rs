//! Current Go clients against the real Kafka and against pagecast on both storage
//! engines, in the same test: franz-go (kgo producing with every codec, consuming, a
//! consumer group through a member leaving; kadm on topics, configs, groups, offsets
//! and DeleteRecords) and IBM/sarama (producing with every codec, a consumer group).
//! The checks (tests/go, built by scripts/test from the Go module proxy) print what they
//! observe, and pagecast must show the clients exactly what Kafka shows them.

mod support;

use std::path::PathBuf;
use std::process::Command;

use support::kafka::{same_as_kafka, same_lines};

const CHECKS: [&str; 2] = ["franz", "sarama"];

fn checks_binary() -> PathBuf {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/go/target/checks");
    assert!(
        path.is_file(),
        "the Go checks ({}) are not built: run scripts/test (it builds them with go build, franz-go and sarama from the Go module proxy)",
        path.display()
    );
    path
}

/// Runs one group of checks; returns its `same` lines, after failing on a `fail` line,
/// a crash or a hang.
fn run_checks(which: &str, bootstrap: &str, broker: &str) -> Vec<String> {
    let out = Command::new("timeout")
        .arg("300")
        .arg(checks_binary())
        .args([which, bootstrap])
        .output()
        .expect("run the Go checks");
    same_lines(&out, which, broker)
}

#[test]
fn go_clients_see_pagecast_as_they_see_kafka() {
    same_as_kafka(&CHECKS, run_checks);
}
