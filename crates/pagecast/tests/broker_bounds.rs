//! `pagecast broker` keeps what a client can make it hold within its limits: each
//! limit refuses what would pass it, before anything is created or held, and the broker
//! goes on serving.

mod support;

use std::time::Duration;

use pagecast_kafka::ErrorCode;
use pagecast_kafka::client::{self, Client};
use pagecast_kafka::messages::create_partitions::{
    CreatePartitionsRequest, CreatePartitionsResponse, CreatePartitionsTopic,
};
use pagecast_kafka::messages::create_topics::{
    CreatableTopic, CreateTopicsRequest, CreateTopicsResponse,
};
use pagecast_kafka::messages::metadata::{MetadataRequest, MetadataRequestTopic, MetadataResponse};
use support::broker::{Broker, ENGINES};

fn connect(b: &Broker) -> Client {
    let c = Client::connect(b.addr, "bounds-test").unwrap();
    c.stream()
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    c
}

fn create_topic(c: &mut Client, name: &str, partitions: i32) -> i16 {
    let r: CreateTopicsResponse = c
        .call(
            client::CREATE_TOPICS_VERSION,
            &CreateTopicsRequest {
                topics: vec![CreatableTopic {
                    name: name.into(),
                    num_partitions: partitions,
                    replication_factor: 1,
                    ..Default::default()
                }],
                ..Default::default()
            },
        )
        .unwrap();
    r.topics[0].error_code
}

fn grow(c: &mut Client, name: &str, count: i32) -> i16 {
    let r: CreatePartitionsResponse = c
        .call(
            1,
            &CreatePartitionsRequest {
                topics: vec![CreatePartitionsTopic {
                    name: name.into(),
                    count,
                    assignments: None,
                }],
                timeout_ms: 30_000,
                validate_only: false,
            },
        )
        .unwrap();
    r.results[0].error_code
}

fn metadata(c: &mut Client, names: &[&str], create: bool) -> MetadataResponse {
    c.call(
        client::METADATA_VERSION,
        &MetadataRequest {
            topics: Some(
                names
                    .iter()
                    .map(|n| MetadataRequestTopic {
                        name: Some((*n).into()),
                        ..Default::default()
                    })
                    .collect(),
            ),
            allow_auto_topic_creation: create,
            ..Default::default()
        },
    )
    .unwrap()
}

/// Partition directories in the store, for either engine (the commit log keeps a
/// consume-queue directory per partition).
fn partition_dirs(data: &std::path::Path) -> Vec<String> {
    let log = data.join("log");
    let dirs = [log.clone(), log.join("consumequeue")];
    let mut names: Vec<String> = dirs
        .iter()
        .filter_map(|d| std::fs::read_dir(d).ok())
        .flatten()
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|n| n.contains('-') && !n.starts_with("__consumer_offsets"))
        .collect();
    names.sort();
    names
}

#[test]
fn the_partition_cap_refuses_what_would_pass_it_before_creating_anything() {
    let policy = ErrorCode::POLICY_VIOLATION.0;
    for engine in ENGINES {
        let data = tempfile::tempdir().unwrap();
        let b = Broker::start(data.path(), engine, &["--max-partitions", "4"]);
        let mut c = connect(&b);
        assert_eq!(create_topic(&mut c, "a", 3), 0, "{engine}");
        // One more than the cap leaves: refused whole, nothing of it created.
        assert_eq!(create_topic(&mut c, "b", 2), policy, "{engine}");
        // A count no broker could hold is refused as quickly.
        assert_eq!(create_topic(&mut c, "huge", i32::MAX), policy, "{engine}");
        assert_eq!(grow(&mut c, "a", 6), policy, "{engine}");
        let m = metadata(&mut c, &["a", "b", "huge"], false);
        let found: Vec<(String, i16, usize)> = m
            .topics
            .iter()
            .map(|t| {
                (
                    t.name.clone().unwrap_or_default(),
                    t.error_code,
                    t.partitions.len(),
                )
            })
            .collect();
        let unknown = ErrorCode::UNKNOWN_TOPIC_OR_PARTITION.0;
        assert_eq!(
            found,
            [
                ("a".into(), 0, 3),
                ("b".into(), unknown, 0),
                ("huge".into(), unknown, 0)
            ],
            "{engine}"
        );
        assert_eq!(
            partition_dirs(data.path()),
            ["a-0", "a-1", "a-2"],
            "{engine}"
        );
        // Auto-creation is held to the same cap: the fourth partition fits, a fifth
        // does not.
        let m = metadata(&mut c, &["c", "d"], true);
        let codes: Vec<i16> = m.topics.iter().map(|t| t.error_code).collect();
        assert_eq!(codes, [0, policy], "{engine}");
        assert_eq!(grow(&mut c, "a", 4), policy, "{engine}: the cap is reached");
        b.stop();
    }
}

/// Sends ApiVersions v0 and says whether an answer came within `wait`.
fn answers(s: &mut std::net::TcpStream, wait: Duration) -> std::io::Result<bool> {
    use std::io::{Read, Write};
    // Size, key 18, version 0, correlation ID 7, empty client ID.
    let frame = [0, 0, 0, 10, 0, 18, 0, 0, 0, 0, 0, 7, 0, 0];
    s.write_all(&frame)?;
    s.set_read_timeout(Some(wait))?;
    let mut size = [0u8; 4];
    match s.read_exact(&mut size) {
        Ok(()) => Ok(true),
        Err(e)
            if matches!(
                e.kind(),
                std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
            ) =>
        {
            Ok(false)
        }
        Err(e) => Err(e),
    }
}

/// The `pagecast_kafka_connections` gauge of the metrics page.
fn open_connections(b: &Broker) -> i64 {
    b.metric("pagecast_kafka_connections") as i64
}

#[test]
fn connection_limits_hold_clients_back_and_close_one_address_past_its_share() {
    use std::net::TcpStream;
    let data = tempfile::tempdir().unwrap();
    let b = Broker::start(
        data.path(),
        "segment",
        &[
            "--addr",
            "[::]:0",
            "--max-connections",
            "3",
            "--max-connections-per-ip",
            "2",
        ],
    );
    let port = b.addr.port();
    let v4 = format!("127.0.0.1:{port}");
    let v6 = format!("[::1]:{port}");
    let wait = Duration::from_secs(30);
    // Two from one address are served; a third from it is closed at once.
    let mut first = TcpStream::connect(&v4).unwrap();
    let mut second = TcpStream::connect(&v4).unwrap();
    assert!(answers(&mut first, wait).unwrap());
    assert!(answers(&mut second, wait).unwrap());
    let mut third = TcpStream::connect(&v4).unwrap();
    assert!(
        !matches!(answers(&mut third, wait), Ok(true)),
        "a third connection from one address is closed"
    );
    // Another address may take the last slot; past it, a connection waits unanswered
    // until a slot frees.
    let mut other = TcpStream::connect(&v6).unwrap();
    assert!(answers(&mut other, wait).unwrap());
    let mut waiting = TcpStream::connect(&v6).unwrap();
    assert!(
        !answers(&mut waiting, Duration::from_secs(1)).unwrap(),
        "a connection past --max-connections is not served"
    );
    assert_eq!(open_connections(&b), 3);
    drop(first);
    let mut size = [0u8; 4];
    waiting.set_read_timeout(Some(wait)).unwrap();
    std::io::Read::read_exact(&mut waiting, &mut size).expect("served once a slot frees");
    assert!(b.metric("pagecast_kafka_connections_refused_total") >= 1.0);
    b.stop();
}

#[test]
fn a_client_that_stops_reading_is_closed_at_the_send_timeout() {
    use pagecast_kafka::codec::Bytes;
    use pagecast_kafka::messages::fetch::{FetchPartition, FetchRequest, FetchTopic};
    use pagecast_kafka::messages::produce::{
        PartitionProduceData, ProduceRequest, ProduceResponse, TopicProduceData,
    };
    const BATCHES: usize = 20;
    const VALUE: usize = 900 << 10;
    for engine in ENGINES {
        let data = tempfile::tempdir().unwrap();
        let b = Broker::start(data.path(), engine, &["--send-timeout", "1"]);
        let mut c = connect(&b);
        metadata(&mut c, &["big"], true);
        for _ in 0..BATCHES {
            let mut batch = pagecast_log::batch::Builder::new(pagecast_kafka::broker::now_ms());
            batch.push(
                pagecast_kafka::broker::now_ms(),
                None,
                Some(&vec![7u8; VALUE]),
            );
            let r: ProduceResponse = c
                .call(
                    client::PRODUCE_VERSION,
                    &ProduceRequest {
                        acks: 1,
                        timeout_ms: 30_000,
                        topic_data: vec![TopicProduceData {
                            name: "big".into(),
                            partition_data: vec![PartitionProduceData {
                                index: 0,
                                records: Some(Bytes(batch.finish())),
                            }],
                        }],
                        ..Default::default()
                    },
                )
                .unwrap();
            assert_eq!(r.responses[0].partition_responses[0].error_code, 0);
        }
        drop(c);
        // A consumer with a small receive buffer asks for everything and reads nothing.
        let mut reader = connect(&b);
        rustix::net::sockopt::set_socket_recv_buffer_size(reader.stream(), 4096).unwrap();
        reader
            .send(
                client::FETCH_VERSION,
                &FetchRequest {
                    replica_id: -1,
                    max_bytes: 64 << 20,
                    session_epoch: -1,
                    topics: vec![FetchTopic {
                        topic: "big".into(),
                        partitions: vec![FetchPartition {
                            partition: 0,
                            fetch_offset: 0,
                            partition_max_bytes: 64 << 20,
                            ..Default::default()
                        }],
                        ..Default::default()
                    }],
                    ..Default::default()
                },
            )
            .unwrap();
        // Past the timeout the broker has given up on the response: the connection's
        // task is gone, and the files the response lent with it. Without the timeout
        // it would wait for the reader for ever.
        std::thread::sleep(Duration::from_secs(3));
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        while b.metric("pagecast_kafka_connections") != 0.0 && std::time::Instant::now() < deadline
        {
            std::thread::sleep(Duration::from_millis(100));
        }
        assert_eq!(
            b.metric("pagecast_kafka_connections"),
            0.0,
            "{engine}: a reader that reads nothing is disconnected"
        );
        drop(reader);
        b.stop();
    }
}

#[test]
fn requests_past_the_queued_bytes_bound_wait_to_be_read() {
    use pagecast_kafka::codec::Bytes;
    use pagecast_kafka::messages::produce::{
        PartitionProduceData, ProduceRequest, ProduceResponse, TopicProduceData,
    };
    use std::io::Write;
    let data = tempfile::tempdir().unwrap();
    let b = Broker::start(
        data.path(),
        "segment",
        &["--queued-max-request-bytes", "1000000"],
    );
    let mut c = connect(&b);
    metadata(&mut c, &["q"], true);
    // A produce frame of 900 000 bytes of which all but the last arrive: read and held,
    // they count against the bound.
    let mut slow = std::net::TcpStream::connect(b.addr).unwrap();
    slow.write_all(&900_000i32.to_be_bytes()).unwrap();
    slow.write_all(&[0, 0, 0, 9]).unwrap();
    slow.write_all(&vec![0u8; 900_000 - 5]).unwrap();
    std::thread::sleep(Duration::from_millis(500));
    // A produce of 200 000 bytes does not fit beside it: it is not read, so not
    // answered, until the first goes.
    let mut batch = pagecast_log::batch::Builder::new(pagecast_kafka::broker::now_ms());
    batch.push(
        pagecast_kafka::broker::now_ms(),
        None,
        Some(&[1u8; 200_000]),
    );
    c.send(
        client::PRODUCE_VERSION,
        &ProduceRequest {
            acks: 1,
            timeout_ms: 30_000,
            topic_data: vec![TopicProduceData {
                name: "q".into(),
                partition_data: vec![PartitionProduceData {
                    index: 0,
                    records: Some(Bytes(batch.finish())),
                }],
            }],
            ..Default::default()
        },
    )
    .unwrap();
    c.stream()
        .set_read_timeout(Some(Duration::from_secs(1)))
        .unwrap();
    assert!(
        c.receive::<ProduceResponse>(client::PRODUCE_VERSION)
            .is_err(),
        "a request past the bound is held back"
    );
    drop(slow);
    c.stream()
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let (_, answer) = c
        .receive::<ProduceResponse>(client::PRODUCE_VERSION)
        .expect("answered once the first goes");
    assert_eq!(answer.responses[0].partition_responses[0].error_code, 0);
    b.stop();
}
