//! `pagecast broker` with real Kafka clients, on both storage engines: kcat (Debian's,
//! librdkafka 2.0.2), confluent-kafka (a current librdkafka), kafka-python and kafkajs.

mod support;

use std::process::Stdio;
use std::time::{SystemTime, UNIX_EPOCH};

use support::broker::{Broker, ENGINES, clients, kafkajs, kcat, run_ok};

fn kcat_matrix(b: &Broker) {
    let bootstrap = b.bootstrap();
    let dir = tempfile::tempdir().unwrap();
    let lines = dir.path().join("lines.txt");
    let text: String = (0..100).map(|i| format!("line-{i}\n")).collect();
    std::fs::write(&lines, &text).unwrap();
    let before = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    run_ok(
        kcat(&bootstrap)
            .args(["-P", "-t", "lines", "-p", "0", "-l"])
            .arg(&lines),
    );

    let listing = run_ok(kcat(&bootstrap).args(["-L", "-t", "lines"]));
    assert!(
        listing.contains("topic \"lines\" with 1 partitions"),
        "{listing}"
    );
    assert!(listing.contains("broker 1 at"), "{listing}");

    let consume = |args: &[&str]| {
        run_ok(
            kcat(&bootstrap)
                .args(["-C", "-t", "lines", "-p", "0", "-e", "-q", "-f", "%o %s\n"])
                .args(args),
        )
    };
    let all = consume(&["-o", "beginning"]);
    let want: String = (0..100).map(|i| format!("{i} line-{i}\n")).collect();
    assert_eq!(all, want);
    let from_offset = consume(&["-o", "97"]);
    assert_eq!(from_offset, "97 line-97\n98 line-98\n99 line-99\n");
    let by_time = consume(&["-o", &format!("s@{before}")]);
    assert_eq!(
        by_time, want,
        "every record is at or after the time taken before producing"
    );
    let after = consume(&["-o", &format!("s@{}", before + 3_600_000)]);
    assert_eq!(after, "", "no record is an hour newer");
    let at_end = consume(&["-o", "end"]);
    assert_eq!(at_end, "", "the end of the log is past every record");
}

fn zero_copy_metrics(b: &Broker, engine: &str) {
    let metrics = b.metrics();
    let (zero_copy, copying) = match engine {
        "segment" => (
            "sendfile",
            ["mmap+write", "read+write", "splice", "direct", "io_uring"],
        ),
        _ => (
            "mmap+write",
            ["sendfile", "read+write", "splice", "direct", "io_uring"],
        ),
    };
    let sent = b.metric(&format!(
        "pagecast_kafka_fetched_method_bytes_total{{method=\"{zero_copy}\"}}"
    ));
    let fetched = b.metric("pagecast_kafka_fetched_bytes_total");
    assert!(
        sent > 1_000_000.0,
        "{engine}: {sent} bytes by {zero_copy}:\n{metrics}"
    );
    assert_eq!(
        sent, fetched,
        "{engine}: every fetched byte left by {zero_copy}:\n{metrics}"
    );
    for m in copying {
        assert!(
            !metrics.contains(&format!("method=\"{m}\"")),
            "{engine}: record data left by {m}:\n{metrics}"
        );
    }
    assert!(
        b.metric("pagecast_kafka_produced_records_total") > 0.0,
        "{metrics}"
    );
    assert!(
        metrics.contains("pagecast_kafka_log_end_offset{topic=\"lines\",partition=\"0\"} 100"),
        "{metrics}"
    );
}

fn client_matrix(engine: &str) {
    let data = tempfile::tempdir().unwrap();
    let b = Broker::start(data.path(), engine, &[]);
    let bootstrap = b.bootstrap();
    kcat_matrix(&b);
    for (command, topic) in [
        ("confluent-codecs", "codecs"),
        ("confluent-offsets", "offsets"),
        ("confluent-large", "large"),
        ("kafka-python", "kafka-python"),
    ] {
        let out = run_ok(&mut clients(command, &[&bootstrap, topic]));
        eprintln!("{engine} {command}: {}", out.trim());
    }
    let out = run_ok(&mut kafkajs(&[&bootstrap, "kafkajs"]));
    eprintln!("{engine} kafkajs: {}", out.trim());
    let out = run_ok(&mut clients(
        "confluent-admin",
        &[&bootstrap, "admin", engine],
    ));
    eprintln!("{engine} confluent-admin: {}", out.trim());
    if engine == "segment" {
        let out = run_ok(&mut clients("retention", &[&bootstrap, "retention"]));
        eprintln!("{engine} retention: {}", out.trim());
    }
    zero_copy_metrics(&b, engine);
    let printed = b.stop();
    assert!(printed.contains("closed cleanly"), "{printed}");
}

#[test]
fn clients_on_the_segment_engine() {
    client_matrix(ENGINES[0]);
}

#[test]
fn clients_on_the_commitlog_engine() {
    client_matrix(ENGINES[1]);
}

fn restart(engine: &str) {
    let data = tempfile::tempdir().unwrap();
    let b = Broker::start(data.path(), engine, &[]);
    let bootstrap = b.bootstrap();
    run_ok(&mut clients("kafka-python", &[&bootstrap, "kept"]));
    run_ok(&mut clients("confluent-offsets", &[&bootstrap, "offsets"]));
    let id_before = run_ok(&mut clients("topic-id", &[&bootstrap, "kept"]));
    b.stop();

    let b = Broker::start(data.path(), engine, &[]);
    let bootstrap = b.bootstrap();
    // Everything acknowledged is there, the committed offset too, and a new
    // idempotent producer continues the log.
    let all = run_ok(kcat(&bootstrap).args([
        "-C",
        "-t",
        "kept",
        "-p",
        "0",
        "-e",
        "-q",
        "-o",
        "beginning",
        "-f",
        "%o %k %s\n",
    ]));
    let want: String = (0..100).map(|i| format!("{i} k{i} v{i}\n")).collect();
    assert_eq!(all, want);
    let committed = run_ok(&mut clients(
        "committed",
        &[&bootstrap, "offsets", "offsets-check"],
    ));
    assert_eq!(committed.trim(), "committed 13");
    let id_after = run_ok(&mut clients("topic-id", &[&bootstrap, "kept"]));
    assert!(id_before.trim().len() >= 22, "no topic ID: {id_before:?}");
    assert_eq!(
        id_before, id_after,
        "the topic ID changed across the restart"
    );
    b.stop();
}

#[test]
fn a_clean_restart_keeps_records_and_commits_segment() {
    restart(ENGINES[0]);
}

#[test]
fn a_clean_restart_keeps_records_and_commits_commitlog() {
    restart(ENGINES[1]);
}

/// A free port on 127.0.0.1, for a broker that must come back on the same address.
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn restart_mid_consume(engine: &str) {
    let data = tempfile::tempdir().unwrap();
    let addr = format!("127.0.0.1:{}", free_port());
    let start = || Broker::start(data.path(), engine, &["--addr", &addr]);
    let b = start();
    run_ok(&mut clients("produce-values", &[&addr, "resume", "3000"]));
    let mut consumer = clients("consume-group", &[&addr, "resume", "3000"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines =
        std::io::BufRead::lines(std::io::BufReader::new(consumer.stdout.take().unwrap()));
    // Restart once the consumer is partway through.
    let line = lines.next().unwrap().unwrap();
    assert!(line.starts_with("seen "), "{line}");
    b.stop();
    let b = start();
    let rest: Vec<String> = lines.map(Result::unwrap).collect();
    let status = consumer.wait().unwrap();
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut consumer.stderr.take().unwrap(), &mut stderr).unwrap();
    assert!(status.success(), "{rest:?}\n{stderr}");
    let last = rest.last().cloned().unwrap_or_default();
    assert!(last.starts_with("all 3000 records"), "{last}");
    b.stop();
}

#[test]
fn a_clean_restart_mid_consume_loses_nothing_segment() {
    restart_mid_consume(ENGINES[0]);
}

#[test]
fn a_clean_restart_mid_consume_loses_nothing_commitlog() {
    restart_mid_consume(ENGINES[1]);
}

fn sigkill(engine: &str) {
    let data = tempfile::tempdir().unwrap();
    let b = Broker::start(data.path(), engine, &["--fsync", "always"]);
    let bootstrap = b.bootstrap();
    let acked = data.path().join("acked.txt");
    let mut producer = clients(
        "produce-acked",
        &[&bootstrap, "durable", acked.to_str().unwrap()],
    )
    .stdout(Stdio::null())
    .stderr(Stdio::null())
    .spawn()
    .unwrap();
    let start = std::time::Instant::now();
    while std::fs::read_to_string(&acked).map_or(0, |s| s.lines().count()) < 2000 {
        assert!(
            start.elapsed().as_secs() < 60,
            "the producer had no acknowledgement in 60 s"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    b.kill();
    std::thread::sleep(std::time::Duration::from_millis(300));
    producer.kill().unwrap();
    producer.wait().unwrap();
    let acked: Vec<String> = std::fs::read_to_string(&acked)
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect();

    let b = Broker::start(data.path(), engine, &["--fsync", "always"]);
    let out = run_ok(&mut clients(
        "consume-all",
        &[&b.bootstrap(), "durable", &acked.len().to_string()],
    ));
    let stored: Vec<&str> = out.lines().collect();
    for (i, line) in acked.iter().enumerate() {
        assert_eq!(
            stored[i], line,
            "acknowledged record {i} differs after the crash"
        );
    }
    // Recovery said what it did, for the topic's partition and the internal one.
    let printed = b.stop();
    let partition = if engine == "segment" {
        "durable-0: recovered after an unclean stop, checked "
    } else {
        "commit log: recovered after an unclean stop, walked "
    };
    for said in [
        partition,
        "__consumer_offsets-0: recovered after an unclean stop, checked ",
    ] {
        assert!(printed.contains(said), "{engine}: no {said:?} in {printed}");
    }
}

#[test]
fn sigkill_with_fsync_always_loses_nothing_acknowledged_segment() {
    sigkill(ENGINES[0]);
}

#[test]
fn sigkill_with_fsync_always_loses_nothing_acknowledged_commitlog() {
    sigkill(ENGINES[1]);
}
