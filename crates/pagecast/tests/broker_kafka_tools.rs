//! Kafka's own command-line tools, unmodified (the classes behind kafka-topics.sh,
//! kafka-console-producer.sh and the rest), against the real Kafka and against pagecast
//! on both storage engines, in the same test: each tool's output is checked, and what
//! the tools report of pagecast must be what they report of Kafka.

mod support;

use std::io::Write;
use std::process::Stdio;

use support::broker::{Broker, ENGINES, run_ok};
use support::kafka::{Kafka, PAGECAST_SETTINGS, kafka_class};

const TOPICS: &str = "org.apache.kafka.tools.TopicCommand";
const GROUPS: &str = "org.apache.kafka.tools.consumer.group.ConsumerGroupCommand";
const RECORDS: usize = 30;

fn tool(class: &str, bootstrap: &str, args: &[&str]) -> String {
    run_ok(
        kafka_class(class)
            .args(["--bootstrap-server", bootstrap])
            .args(args),
    )
}

/// The fields of `line` (tab-separated `Name: value`) named in `keep`, in that order.
fn fields(line: &str, keep: &[&str]) -> String {
    let all: Vec<(&str, &str)> = line
        .split('\t')
        .filter_map(|f| f.trim().split_once(": "))
        .collect();
    keep.iter()
        .map(|k| {
            let v = all.iter().find(|(n, _)| n == k).map_or("?", |(_, v)| v);
            format!("{k}={v}")
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// kafka-topics --describe, reduced to what both brokers must agree on.
fn describe(bootstrap: &str, topic: &str) -> String {
    let out = tool(TOPICS, bootstrap, &["--describe", "--topic", topic]);
    out.lines()
        .map(|l| {
            if l.contains("PartitionCount") {
                fields(l, &["Topic", "PartitionCount", "ReplicationFactor"])
            } else {
                fields(l, &["Topic", "Partition", "Leader", "Replicas", "Isr"])
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// kafka-consumer-groups --describe: partition, current offset, log end and lag.
fn group_offsets(bootstrap: &str, group: &str) -> String {
    let out = tool(GROUPS, bootstrap, &["--describe", "--group", group]);
    let mut rows: Vec<String> = out
        .lines()
        .filter(|l| l.starts_with(group))
        .map(|l| {
            let c: Vec<&str> = l.split_whitespace().collect();
            c.get(1..6).map_or(l.to_owned(), |c| c.join(" "))
        })
        .collect();
    rows.sort();
    rows.join("\n")
}

/// kafka-consumer-groups --reset-offsets ... --execute: partition and new offset.
fn reset(bootstrap: &str, group: &str, how: &[&str]) -> String {
    let mut args = vec!["--reset-offsets", "--group", group, "--topic", "tools-a"];
    args.extend(how);
    args.push("--execute");
    let out = tool(GROUPS, bootstrap, &args);
    let mut rows: Vec<String> = out
        .lines()
        .filter(|l| l.starts_with(group))
        .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
        .collect();
    rows.sort();
    rows.join("\n")
}

/// Every tool in turn against one broker; returns what must match between brokers,
/// after checking each tool's output.
fn session(bootstrap: &str, broker: &str) -> Vec<(String, String)> {
    let mut seen = Vec::new();
    let mut note = |what: &str, value: String| seen.push((what.to_owned(), value));

    // kafka-topics: create, describe, alter partitions.
    let created = tool(
        TOPICS,
        bootstrap,
        &[
            "--create",
            "--topic",
            "tools-a",
            "--partitions",
            "2",
            "--replication-factor",
            "1",
        ],
    );
    assert!(
        created.contains("Created topic tools-a."),
        "{broker}: {created}"
    );
    for t in ["perf", "ver"] {
        tool(
            TOPICS,
            bootstrap,
            &["--create", "--topic", t, "--partitions", "1"],
        );
    }
    let d = describe(bootstrap, "tools-a");
    assert!(d.contains("PartitionCount=2"), "{broker}: {d}");
    note("describe", d);
    tool(
        TOPICS,
        bootstrap,
        &["--alter", "--topic", "tools-a", "--partitions", "3"],
    );
    let d = describe(bootstrap, "tools-a");
    assert!(
        d.contains("PartitionCount=3") && d.contains("Partition=2 Leader=1 Replicas=1 Isr=1"),
        "{broker}: {d}"
    );
    note("describe after --alter", d);
    // pagecast keeps committed offsets in an internal partition it does not show in
    // Metadata; Kafka lists its __consumer_offsets. User topics must agree.
    let list = tool(TOPICS, bootstrap, &["--list", "--exclude-internal"]);
    note("list", list.clone());

    // kafka-console-producer with keys, then kafka-console-consumer in a group.
    let input: String = (0..RECORDS)
        .map(|i| format!("key-{}:value-{i}\n", i % 7))
        .collect();
    let mut producer = kafka_class("org.apache.kafka.tools.ConsoleProducer")
        .args(["--bootstrap-server", bootstrap, "--topic", "tools-a"])
        .args([
            "--property",
            "parse.key=true",
            "--property",
            "key.separator=:",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    producer
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    let out = producer.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{broker}: console producer: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let consumed = tool(
        "org.apache.kafka.tools.consumer.ConsoleConsumer",
        bootstrap,
        &[
            "--topic",
            "tools-a",
            "--group",
            "tools-g",
            "--from-beginning",
            "--max-messages",
            &RECORDS.to_string(),
            "--property",
            "print.key=true",
            "--property",
            "key.separator=:",
            "--timeout-ms",
            "30000",
        ],
    );
    let mut got: Vec<&str> = consumed.lines().collect();
    let mut want: Vec<&str> = input.lines().collect();
    got.sort_unstable();
    want.sort_unstable();
    assert_eq!(
        got, want,
        "{broker}: the console consumer reads what was produced"
    );

    // kafka-get-offsets: the key decides the partition, so the spread is the client's.
    let offsets = tool(
        "org.apache.kafka.tools.GetOffsetShell",
        bootstrap,
        &["--topic", "tools-a"],
    );
    let total: i64 = offsets
        .lines()
        .filter_map(|l| l.rsplit(':').next()?.parse::<i64>().ok())
        .sum();
    assert_eq!(total, RECORDS as i64, "{broker}: {offsets}");
    note("get-offsets", offsets);

    // kafka-consumer-groups: list, describe, reset to earliest and to a time, delete.
    let groups = tool(GROUPS, bootstrap, &["--list"]);
    assert!(groups.lines().any(|l| l == "tools-g"), "{broker}: {groups}");
    let described = group_offsets(bootstrap, "tools-g");
    for row in described.lines() {
        let c: Vec<&str> = row.split(' ').collect();
        assert_eq!(c[2], c[3], "{broker}: the group consumed everything: {row}");
    }
    note("groups --describe", described);
    let earliest = reset(bootstrap, "tools-g", &["--to-earliest"]);
    assert!(
        earliest.lines().all(|l| l.ends_with(" 0")),
        "{broker}: {earliest}"
    );
    note("groups --reset-offsets --to-earliest", earliest);
    let by_time = reset(
        bootstrap,
        "tools-g",
        &["--to-datetime", "2999-01-01T00:00:00.000"],
    );
    note("groups --reset-offsets --to-datetime", by_time);
    let deleted = tool(GROUPS, bootstrap, &["--delete", "--group", "tools-g"]);
    assert!(
        deleted.contains("Deletion of requested consumer groups ('tools-g') was successful."),
        "{broker}: {deleted}"
    );
    let groups = tool(GROUPS, bootstrap, &["--list"]);
    assert!(
        !groups.lines().any(|l| l == "tools-g"),
        "{broker}: {groups}"
    );

    // kafka-configs: add, describe, delete a topic config.
    let configs = "kafka.admin.ConfigCommand";
    let entity = ["--entity-type", "topics", "--entity-name", "tools-a"];
    let altered = tool(
        configs,
        bootstrap,
        &[
            &entity[..],
            &["--alter", "--add-config", "retention.ms=86400000"],
        ]
        .concat(),
    );
    note("configs --alter", altered);
    let shown = tool(configs, bootstrap, &[&entity[..], &["--describe"]].concat());
    assert!(shown.contains("retention.ms=86400000"), "{broker}: {shown}");
    note("configs --describe", shown);

    // kafka-delete-records.
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("offsets.json");
    std::fs::write(
        &json,
        r#"{"partitions":[{"topic":"tools-a","partition":0,"offset":2}],"version":1}"#,
    )
    .unwrap();
    let deleted = tool(
        "org.apache.kafka.tools.DeleteRecordsCommand",
        bootstrap,
        &["--offset-json-file", json.to_str().unwrap()],
    );
    assert!(
        deleted.contains("partition: tools-a-0\tlow_watermark: 2"),
        "{broker}: {deleted}"
    );
    note("delete-records", deleted);
    let earliest = tool(
        "org.apache.kafka.tools.GetOffsetShell",
        bootstrap,
        &["--topic", "tools-a", "--partitions", "0", "--time", "-2"],
    );
    assert_eq!(earliest.trim(), "tools-a:0:2", "{broker}");

    // kafka-producer-perf-test and kafka-consumer-perf-test.
    let perf = run_ok(
        kafka_class("org.apache.kafka.tools.ProducerPerformance").args([
            "--topic",
            "perf",
            "--num-records",
            "20000",
            "--record-size",
            "100",
            "--throughput",
            "-1",
            "--producer-props",
            &format!("bootstrap.servers={bootstrap}"),
        ]),
    );
    assert!(
        perf.lines()
            .last()
            .is_some_and(|l| l.starts_with("20000 records sent")),
        "{broker}: {perf}"
    );
    let perf = tool(
        "org.apache.kafka.tools.ConsumerPerformance",
        bootstrap,
        &["--topic", "perf", "--messages", "20000"],
    );
    // A header row and a summary row, comma-separated.
    let rows: Vec<Vec<&str>> = perf
        .lines()
        .filter(|l| l.contains(", "))
        .map(|l| l.split(", ").map(str::trim).collect())
        .collect();
    let column = rows
        .first()
        .and_then(|h| h.iter().position(|c| *c == "data.consumed.in.nMsg"));
    let consumed = column.and_then(|c| rows.get(1)?.get(c).copied());
    assert_eq!(consumed, Some("20000"), "{broker}: {perf}");

    // kafka-verifiable-producer and kafka-verifiable-consumer (JSON events).
    let produced = run_ok(
        kafka_class("org.apache.kafka.tools.VerifiableProducer").args([
            "--bootstrap-server",
            bootstrap,
            "--topic",
            "ver",
            "--max-messages",
            "200",
        ]),
    );
    let acked = produced
        .matches(r#""name":"producer_send_success""#)
        .count();
    assert_eq!(acked, 200, "{broker}: {produced}");
    assert!(
        produced.contains(r#""name":"shutdown_complete""#),
        "{broker}"
    );
    let consumed = run_ok(
        kafka_class("org.apache.kafka.tools.VerifiableConsumer").args([
            "--bootstrap-server",
            bootstrap,
            "--topic",
            "ver",
            "--group-id",
            "ver-g",
            "--max-messages",
            "200",
            "--group-protocol",
            "classic",
        ]),
    );
    let count: usize = consumed
        .lines()
        .filter(|l| l.contains(r#""name":"records_consumed""#))
        .filter_map(|l| {
            let after = l.split(r#""count":"#).nth(1)?;
            after
                .split(|c: char| !c.is_ascii_digit())
                .next()?
                .parse::<usize>()
                .ok()
        })
        .sum();
    assert_eq!(count, 200, "{broker}: {consumed}");
    assert!(
        consumed.contains(r#""name":"offsets_committed""#)
            && !consumed.contains(r#""success":false"#),
        "{broker}: {consumed}"
    );

    // kafka-topics --delete.
    tool(TOPICS, bootstrap, &["--delete", "--topic", "tools-a"]);
    let mut list = String::new();
    for _ in 0..50 {
        list = tool(TOPICS, bootstrap, &["--list", "--exclude-internal"]);
        if !list.lines().any(|l| l == "tools-a") {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    assert!(!list.lines().any(|l| l == "tools-a"), "{broker}: {list}");
    note("list after --delete", list);
    seen
}

#[test]
fn kafka_tools_report_pagecast_as_they_report_kafka() {
    let kafka = Kafka::start(&[]);
    let reference = session(&kafka.bootstrap(), "Kafka");
    drop(kafka);
    for engine in ENGINES {
        let dir = tempfile::tempdir().unwrap();
        let broker = Broker::start(dir.path(), engine, &PAGECAST_SETTINGS);
        let seen = session(&broker.bootstrap(), &format!("pagecast ({engine})"));
        for ((what, kafka_said), (_, pagecast_said)) in reference.iter().zip(&seen) {
            assert_eq!(
                pagecast_said, kafka_said,
                "{engine}: {what}: the tools report pagecast (left) unlike Kafka (right)"
            );
        }
        broker.stop();
    }
}

/// Kafka's DumpLogSegments reads the segments pagecast wrote: several segments,
/// compressed and uncompressed batches, with no corrupt batch and no index mismatch.
#[test]
fn kafka_dump_log_segments_reads_pagecast_segments() {
    let dir = tempfile::tempdir().unwrap();
    let broker = Broker::start(dir.path(), "segment", &PAGECAST_SETTINGS);
    let bootstrap = broker.bootstrap();
    tool(
        TOPICS,
        &bootstrap,
        &[
            "--create",
            "--topic",
            "dump",
            "--partitions",
            "1",
            "--config",
            "segment.bytes=1048576",
        ],
    );
    let codecs = ["none", "gzip", "snappy", "lz4", "zstd"];
    for codec in codecs {
        let out = run_ok(
            kafka_class("org.apache.kafka.tools.ProducerPerformance").args([
                "--topic",
                "dump",
                "--num-records",
                "20000",
                "--record-size",
                "200",
                "--throughput",
                "-1",
                "--producer-props",
                &format!("bootstrap.servers={bootstrap}"),
                &format!("compression.type={codec}"),
                "linger.ms=5",
            ]),
        );
        assert!(out.contains("20000 records sent"), "{codec}: {out}");
    }
    broker.stop();
    let partition = dir.path().join("log").join("dump-0");
    let mut logs: Vec<String> = std::fs::read_dir(&partition)
        .unwrap()
        .map(|e| e.unwrap().path().to_string_lossy().into_owned())
        .filter(|p| p.ends_with(".log"))
        .collect();
    logs.sort();
    assert!(logs.len() >= 3, "several segments: {logs:?}");
    let files = logs.join(",");
    let deep = run_ok(kafka_class("kafka.tools.DumpLogSegments").args([
        "--deep-iteration",
        "--files",
        &files,
    ]));
    let records = deep.matches("| offset: ").count();
    assert_eq!(
        records,
        20000 * codecs.len(),
        "every record, decompressed: {}",
        &deep[..2000.min(deep.len())]
    );
    for codec in codecs {
        assert!(
            deep.contains(&format!("compresscodec: {codec}")),
            "{codec} batches"
        );
    }
    assert!(!deep.contains("isvalid: false"), "no batch fails its CRC");
    assert!(
        !deep.contains("Found invalid") && !deep.contains("corrupt"),
        "{}",
        deep.lines()
            .filter(|l| l.contains("invalid") || l.contains("corrupt"))
            .take(5)
            .collect::<Vec<_>>()
            .join("\n")
    );
    let indexes: Vec<String> = logs
        .iter()
        .flat_map(|l| {
            let stem = l.trim_end_matches(".log");
            [format!("{stem}.index"), format!("{stem}.timeindex")]
        })
        .collect();
    let verified = run_ok(kafka_class("kafka.tools.DumpLogSegments").args([
        "--verify-index-only",
        "--files",
        &indexes.join(","),
    ]));
    assert!(
        !verified.contains("Mismatches") && !verified.contains("mismatch"),
        "index mismatches:\n{verified}"
    );
    assert_eq!(
        verified.matches("Dumping ").count(),
        indexes.len(),
        "every index file was read:\n{verified}"
    );
}
