//! `pagecast broker` at the protocol level, with the built-in client: error codes,
//! idempotent producer state across restarts and crashes, long polling, the byte
//! limits of fetches, shutdown with a request in flight, the directory lock, and
//! settings from the environment.

mod support;

use std::net::SocketAddr;
use std::process::Command;
use std::time::{Duration, Instant};

use pagecast_kafka::ErrorCode;
use pagecast_kafka::client::{self, Client};
use pagecast_kafka::codec::Bytes;
use pagecast_kafka::messages::create_topics::{
    CreatableTopic, CreateTopicsRequest, CreateTopicsResponse,
};
use pagecast_kafka::messages::fetch::{FetchPartition, FetchRequest, FetchResponse, FetchTopic};
use pagecast_kafka::messages::init_producer_id::{InitProducerIdRequest, InitProducerIdResponse};
use pagecast_kafka::messages::metadata::{MetadataRequest, MetadataRequestTopic, MetadataResponse};
use pagecast_kafka::messages::produce::{
    PartitionProduceData, PartitionProduceResponse, ProduceRequest, ProduceResponse,
    TopicProduceData,
};
use pagecast_log::batch::Builder;
use support::broker::{Broker, ENGINES};

fn connect(b: &Broker) -> Client {
    let c = Client::connect(b.addr, "protocol-test").unwrap();
    c.stream()
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    c
}

/// Creates `topic` by asking for its metadata (auto-creation is on by default).
fn create(c: &mut Client, topic: &str) -> MetadataResponse {
    c.call(
        client::METADATA_VERSION,
        &MetadataRequest {
            topics: Some(vec![MetadataRequestTopic {
                name: Some(topic.into()),
                ..Default::default()
            }]),
            allow_auto_topic_creation: true,
            ..Default::default()
        },
    )
    .unwrap()
}

fn batch(values: &[&[u8]]) -> Vec<u8> {
    let mut b = Builder::new(pagecast_kafka::broker::now_ms());
    for v in values {
        b.push(pagecast_kafka::broker::now_ms(), None, Some(v));
    }
    b.finish()
}

fn produce_acks(
    c: &mut Client,
    topic: &str,
    partition: i32,
    records: Vec<u8>,
    acks: i16,
) -> PartitionProduceResponse {
    let resp: ProduceResponse = c
        .call(
            client::PRODUCE_VERSION,
            &ProduceRequest {
                transactional_id: None,
                acks,
                timeout_ms: 30_000,
                topic_data: vec![TopicProduceData {
                    name: topic.into(),
                    partition_data: vec![PartitionProduceData {
                        index: partition,
                        records: Some(Bytes(records)),
                    }],
                }],
            },
        )
        .unwrap();
    resp.responses[0].partition_responses[0].clone()
}

fn produce(
    c: &mut Client,
    topic: &str,
    partition: i32,
    records: Vec<u8>,
) -> PartitionProduceResponse {
    produce_acks(c, topic, partition, records, 1)
}

fn fetch_request(
    topic: &str,
    offset: i64,
    max_wait_ms: i32,
    min_bytes: i32,
    partition_max: i32,
    max: i32,
) -> FetchRequest {
    FetchRequest {
        replica_id: -1,
        max_wait_ms,
        min_bytes,
        max_bytes: max,
        session_epoch: -1,
        topics: vec![FetchTopic {
            topic: topic.into(),
            partitions: vec![FetchPartition {
                partition: 0,
                fetch_offset: offset,
                partition_max_bytes: partition_max,
                ..Default::default()
            }],
            ..Default::default()
        }],
        ..Default::default()
    }
}

fn fetch(c: &mut Client, req: &FetchRequest) -> FetchResponse {
    c.call(client::FETCH_VERSION, req).unwrap()
}

/// Record bytes of the first partition of a fetch response.
fn fetched_len(f: &FetchResponse) -> Option<usize> {
    f.responses[0].partitions[0]
        .records
        .as_ref()
        .map(|r| r.0.len())
}

fn code(e: ErrorCode) -> i16 {
    e.0
}

#[test]
fn each_failure_gets_its_kafka_error_code() {
    let data = tempfile::tempdir().unwrap();
    let b = Broker::start(data.path(), "segment", &[]);
    let mut c = connect(&b);
    create(&mut c, "codes");

    let p = produce(&mut c, "no-such-topic", 0, batch(&[b"v"]));
    assert_eq!(p.error_code, code(ErrorCode::UNKNOWN_TOPIC_OR_PARTITION));
    let p = produce(&mut c, "codes", 99, batch(&[b"v"]));
    assert_eq!(p.error_code, code(ErrorCode::UNKNOWN_TOPIC_OR_PARTITION));

    // The second of two batches has a flipped bit: the partition's whole append is
    // refused, naming that batch, and nothing is stored.
    let mut two = batch(&[b"first"]);
    let mut second = batch(&[b"second"]);
    let last = second.len() - 2;
    second[last] ^= 1;
    two.extend_from_slice(&second);
    let p = produce(&mut c, "codes", 0, two);
    assert_eq!(p.error_code, code(ErrorCode::CORRUPT_MESSAGE));
    assert_eq!(p.record_errors[0].batch_index, 1);
    let f = fetch(&mut c, &fetch_request("codes", 0, 0, 1, 1 << 20, 1 << 20));
    assert_eq!(
        f.responses[0].partitions[0].high_watermark, 0,
        "nothing stored"
    );

    let big = vec![7u8; 1_100_000];
    let p = produce(&mut c, "codes", 0, batch(&[&big]));
    assert_eq!(p.error_code, code(ErrorCode::MESSAGE_TOO_LARGE));
    assert!(p.error_message.unwrap().contains("max.message.bytes"));

    let p = produce_acks(&mut c, "codes", 0, batch(&[b"v"]), 2);
    assert_eq!(p.error_code, code(ErrorCode::INVALID_REQUIRED_ACKS));

    let p = produce(&mut c, "codes", 0, batch(&[b"ok"]));
    assert_eq!((p.error_code, p.base_offset), (0, 0));
    let f = fetch(&mut c, &fetch_request("codes", 5, 0, 1, 1 << 20, 1 << 20));
    assert_eq!(
        f.responses[0].partitions[0].error_code,
        code(ErrorCode::OFFSET_OUT_OF_RANGE)
    );

    let m = create(&mut c, "not a valid name!");
    assert_eq!(
        m.topics[0].error_code,
        code(ErrorCode::INVALID_TOPIC_EXCEPTION)
    );
    let m = create(&mut c, "__consumer_offsets");
    assert_ne!(
        m.topics[0].error_code, 0,
        "the internal topic is not the clients'"
    );
    b.stop();
}

fn idempotent_batch(id: i64, seq: i32, values: &[&[u8]]) -> Vec<u8> {
    let mut b = Builder::new(pagecast_kafka::broker::now_ms());
    b.producer(id, 0, seq);
    for v in values {
        b.push(pagecast_kafka::broker::now_ms(), None, Some(v));
    }
    b.finish()
}

fn idempotence(engine: &str, crash: bool) {
    let data = tempfile::tempdir().unwrap();
    let b = Broker::start(data.path(), engine, &["--fsync", "always"]);
    let mut c = connect(&b);
    create(&mut c, "idem");
    let init: InitProducerIdResponse = c
        .call(
            2,
            &InitProducerIdRequest {
                transaction_timeout_ms: 60_000,
                ..Default::default()
            },
        )
        .unwrap();
    assert_eq!(init.error_code, 0);
    let id = init.producer_id;
    assert!(id >= 0);
    let first = produce(&mut c, "idem", 0, idempotent_batch(id, 0, &[b"a", b"b"]));
    let second = produce(&mut c, "idem", 0, idempotent_batch(id, 2, &[b"c", b"d"]));
    assert_eq!((first.base_offset, second.base_offset), (0, 2));
    // A retry in the same session is acknowledged with its offset and not stored.
    let retry = produce(&mut c, "idem", 0, idempotent_batch(id, 2, &[b"c", b"d"]));
    assert_eq!((retry.error_code, retry.base_offset), (0, 2));
    drop(c);
    if crash {
        b.kill();
    } else {
        b.stop();
    }

    let b = Broker::start(data.path(), engine, &["--fsync", "always"]);
    let mut c = connect(&b);
    let retry = produce(&mut c, "idem", 0, idempotent_batch(id, 2, &[b"c", b"d"]));
    assert_eq!(
        (retry.error_code, retry.base_offset),
        (0, 2),
        "{engine}, crash {crash}: a retry after the restart"
    );
    let gap = produce(&mut c, "idem", 0, idempotent_batch(id, 9, &[b"x"]));
    assert_eq!(
        gap.error_code,
        code(ErrorCode::OUT_OF_ORDER_SEQUENCE_NUMBER)
    );
    let next = produce(&mut c, "idem", 0, idempotent_batch(id, 4, &[b"e"]));
    assert_eq!((next.error_code, next.base_offset), (0, 4));
    let f = fetch(&mut c, &fetch_request("idem", 0, 0, 1, 1 << 20, 1 << 20));
    assert_eq!(
        f.responses[0].partitions[0].high_watermark, 5,
        "nothing stored twice"
    );
    // A new producer ID is not one handed out before the restart.
    let init: InitProducerIdResponse = c.call(2, &InitProducerIdRequest::default()).unwrap();
    assert!(init.producer_id > id);
    b.stop();
}

/// An InitProducerId without a transactional ID that names another producer's ID and
/// epoch, as a client asking for an epoch bump names its own, gets a new ID at epoch 0
/// from Kafka, and the producer it named goes on unfenced. pagecast must answer the same.
#[test]
fn init_producer_id_naming_another_producer_gets_a_new_id_as_kafka_gives() {
    let kafka = support::kafka::Kafka::start(&[]);
    let data = tempfile::tempdir().unwrap();
    let b = Broker::start(data.path(), "segment", &[]);
    for addr in [kafka.bootstrap(), b.bootstrap()] {
        let addr: SocketAddr = addr.parse().unwrap();
        let connect = |who: &str| {
            let c = Client::connect(addr, who).unwrap();
            c.stream()
                .set_read_timeout(Some(Duration::from_secs(30)))
                .unwrap();
            c
        };
        let (mut owner, mut other) = (connect("owner"), connect("other"));
        // Kafka runs here without auto-creation.
        let created: CreateTopicsResponse = owner
            .call(
                client::CREATE_TOPICS_VERSION,
                &CreateTopicsRequest {
                    topics: vec![CreatableTopic {
                        name: "fence".into(),
                        num_partitions: 1,
                        replication_factor: 1,
                        ..Default::default()
                    }],
                    ..Default::default()
                },
            )
            .unwrap();
        assert_eq!(created.topics[0].error_code, 0, "{addr}");
        let init = |c: &mut Client, producer_id: i64, producer_epoch: i16| {
            // Kafka answers COORDINATOR_LOAD_IN_PROGRESS while it starts; clients retry.
            let deadline = Instant::now() + Duration::from_secs(60);
            loop {
                let r: InitProducerIdResponse = c
                    .call(
                        4,
                        &InitProducerIdRequest {
                            transaction_timeout_ms: 60_000,
                            producer_id,
                            producer_epoch,
                            ..Default::default()
                        },
                    )
                    .unwrap();
                let loading = [
                    ErrorCode::COORDINATOR_LOAD_IN_PROGRESS.0,
                    ErrorCode::COORDINATOR_NOT_AVAILABLE.0,
                ];
                if loading.contains(&r.error_code) && Instant::now() < deadline {
                    std::thread::sleep(Duration::from_millis(200));
                    continue;
                }
                assert_eq!(r.error_code, 0, "{addr}");
                return (r.producer_id, r.producer_epoch);
            }
        };
        let (id, epoch) = init(&mut owner, -1, -1);
        assert_eq!(epoch, 0, "{addr}");
        // Kafka's auto-created topic may not have a leader at once: retry the first
        // produce while it answers NOT_LEADER_OR_FOLLOWER.
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let p = produce(&mut owner, "fence", 0, idempotent_batch(id, 0, &[b"a"]));
            if p.error_code == 0 || Instant::now() > deadline {
                assert_eq!(p.error_code, 0, "{addr}: the first produce");
                break;
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        let (taken, taken_epoch) = init(&mut other, id, 0);
        assert_ne!(
            taken, id,
            "{addr}: another client's ID is not handed out again"
        );
        assert_eq!(taken_epoch, 0, "{addr}");
        let next = produce(&mut owner, "fence", 0, idempotent_batch(id, 1, &[b"b"]));
        assert_eq!(next.error_code, 0, "{addr}: the owner is not fenced");
    }
    b.stop();
}

#[test]
fn idempotent_producer_state_survives_a_clean_restart_and_a_crash() {
    for engine in ENGINES {
        idempotence(engine, false);
        idempotence(engine, true);
    }
}

#[test]
fn a_waiting_fetch_is_woken_by_produce_and_honours_min_bytes() {
    let data = tempfile::tempdir().unwrap();
    let b = Broker::start(data.path(), "segment", &[]);
    let mut c = connect(&b);
    create(&mut c, "poll");
    let addr: SocketAddr = b.addr;
    let one = batch(&[&[1u8; 1000]]);
    let size = one.len() as i32;
    let producer = std::thread::spawn(move || {
        let mut p = Client::connect(addr, "producer").unwrap();
        for _ in 0..2 {
            std::thread::sleep(Duration::from_millis(300));
            produce(&mut p, "poll", 0, batch(&[&[1u8; 1000]]));
        }
    });
    // Waits for two batches' worth: the first produce wakes it but is not enough.
    let started = Instant::now();
    let f = fetch(
        &mut c,
        &fetch_request("poll", 0, 30_000, size + 1, 1 << 20, 1 << 20),
    );
    let waited = started.elapsed();
    producer.join().unwrap();
    let got = fetched_len(&f).unwrap();
    assert_eq!(
        got,
        2 * size as usize,
        "answered once both batches were there"
    );
    assert!(
        waited < Duration::from_secs(15),
        "woken by the produce, not the 30 s wait ({waited:?})"
    );
    assert!(
        waited >= Duration::from_millis(500),
        "min_bytes made it wait for the second batch ({waited:?})"
    );
    // With nothing to wait for, max_wait_ms bounds the wait and the answer is empty.
    let f = fetch(&mut c, &fetch_request("poll", 2, 200, 1, 1 << 20, 1 << 20));
    assert_eq!(fetched_len(&f), Some(0));
    b.stop();
}

#[test]
fn fetch_byte_limits_return_the_first_batch_whole() {
    let data = tempfile::tempdir().unwrap();
    let b = Broker::start(data.path(), "segment", &[]);
    let mut c = connect(&b);
    create(&mut c, "limits");
    for _ in 0..3 {
        produce(&mut c, "limits", 0, batch(&[&[2u8; 10_000]]));
    }
    let size = batch(&[&[2u8; 10_000]]).len();
    // Limits below one batch still return the first batch whole (KIP-74).
    let f = fetch(&mut c, &fetch_request("limits", 0, 0, 1, 100, 100));
    assert_eq!(fetched_len(&f).unwrap(), size);
    // Two and a half batches' worth returns two.
    let f = fetch(
        &mut c,
        &fetch_request("limits", 0, 0, 1, (size * 5 / 2) as i32, 1 << 20),
    );
    assert_eq!(fetched_len(&f).unwrap(), 2 * size);
    let f = fetch(
        &mut c,
        &fetch_request("limits", 0, 0, 1, 1 << 20, (size * 5 / 2) as i32),
    );
    assert_eq!(fetched_len(&f).unwrap(), 2 * size);
    b.stop();
}

#[test]
fn sigterm_answers_the_fetch_in_flight_and_closes_cleanly() {
    let data = tempfile::tempdir().unwrap();
    let b = Broker::start(data.path(), "segment", &[]);
    let mut c = connect(&b);
    create(&mut c, "stop");
    produce(&mut c, "stop", 0, batch(&[b"kept"]));
    // A fetch waiting 30 s for data that never comes.
    let id = c
        .send(
            client::FETCH_VERSION,
            &fetch_request("stop", 1, 30_000, 1, 1 << 20, 1 << 20),
        )
        .unwrap();
    std::thread::sleep(Duration::from_millis(300));
    let started = Instant::now();
    let stopping = std::thread::spawn(move || b.stop());
    let (got, resp): (i32, FetchResponse) = c.receive(client::FETCH_VERSION).unwrap();
    assert_eq!(got, id);
    assert_eq!(resp.responses[0].partitions[0].error_code, 0);
    assert!(
        started.elapsed() < Duration::from_secs(15),
        "answered at the stop, not after the wait"
    );
    let printed = stopping.join().unwrap();
    assert!(printed.contains("closed cleanly"), "{printed}");
    // The store reopens with what was acknowledged and nothing to recover.
    let b = Broker::start(data.path(), "segment", &[]);
    let mut c = connect(&b);
    let f = fetch(&mut c, &fetch_request("stop", 0, 0, 1, 1 << 20, 1 << 20));
    assert_eq!(f.responses[0].partitions[0].high_watermark, 1);
    b.stop();
}

#[test]
fn a_second_broker_on_the_same_data_is_refused_by_its_lock() {
    let data = tempfile::tempdir().unwrap();
    let b = Broker::start(data.path(), "segment", &[]);
    let out = Command::new(env!("CARGO_BIN_EXE_pagecast"))
        .args(["broker", "--addr", "127.0.0.1:0", "--data"])
        .arg(data.path())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        stderr.contains(".lock") && stderr.contains("another pagecast broker"),
        "{stderr}"
    );
    b.stop();
}

#[test]
fn settings_come_from_the_environment_and_data_defaults_to_the_working_directory() {
    let cwd = tempfile::tempdir().unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_pagecast"))
        .arg("broker")
        .current_dir(cwd.path())
        .env("PAGECAST_ADDR", "127.0.0.1:0")
        .env("PAGECAST_STORAGE", "commitlog")
        .env("PAGECAST_AUTO_CREATE_TOPICS", "false")
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    let mut stderr = std::io::BufReader::new(child.stderr.take().unwrap());
    std::io::BufRead::read_line(&mut stderr, &mut line).unwrap();
    assert!(
        line.contains("commitlog storage in ./pagecast-data"),
        "{line}"
    );
    // The rest of what it says is read, so that it never writes to a closed pipe.
    std::thread::spawn(move || std::io::copy(&mut stderr, &mut std::io::sink()));
    let addr: SocketAddr = line
        .split("listening on ")
        .nth(1)
        .unwrap()
        .split(',')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    let mut c = Client::connect(addr, "env-test").unwrap();
    let m = create(&mut c, "not-created");
    assert_eq!(
        m.topics[0].error_code,
        code(ErrorCode::UNKNOWN_TOPIC_OR_PARTITION),
        "auto-creation is off"
    );
    assert!(cwd.path().join("pagecast-data/meta.properties").exists());
    child.kill().unwrap();
    child.wait().unwrap();
}

/// The authorized operations each describing request reports when asked, beside Kafka
/// without an authorizer, which lists every operation of the resource's type: a topic
/// (one that exists and one that does not) in Metadata v10 and v12, the cluster in
/// Metadata v10 and DescribeCluster, groups (one known, one not) in DescribeGroups and
/// ConsumerGroupDescribe; and "not asked" (i32::MIN) when not asked.
#[test]
fn authorized_operations_are_listed_as_kafka_lists_them_without_an_authorizer() {
    use pagecast_kafka::messages::consumer_group_describe::{
        ConsumerGroupDescribeRequest, ConsumerGroupDescribeResponse,
    };
    use pagecast_kafka::messages::describe_cluster::{
        DescribeClusterRequest, DescribeClusterResponse,
    };
    use pagecast_kafka::messages::describe_groups::{
        DescribeGroupsRequest, DescribeGroupsResponse,
    };
    use pagecast_kafka::messages::offset_commit::{
        OffsetCommitRequest, OffsetCommitRequestPartition, OffsetCommitRequestTopic,
        OffsetCommitResponse,
    };
    let kafka = support::kafka::Kafka::start(&[]);
    let data = tempfile::tempdir().unwrap();
    let b = Broker::start(data.path(), "segment", &[]);
    let mut answers = Vec::new();
    for addr in [kafka.bootstrap(), b.bootstrap()] {
        let mut c = Client::connect(addr.parse().unwrap(), "operations").unwrap();
        c.stream()
            .set_read_timeout(Some(Duration::from_secs(30)))
            .unwrap();
        let created: CreateTopicsResponse = c
            .call(
                client::CREATE_TOPICS_VERSION,
                &CreateTopicsRequest {
                    topics: vec![CreatableTopic {
                        name: "ops".into(),
                        num_partitions: 1,
                        replication_factor: 1,
                        ..Default::default()
                    }],
                    ..Default::default()
                },
            )
            .unwrap();
        assert_eq!(created.topics[0].error_code, 0, "{addr}");
        // A group that exists: a commit outside any generation makes it. Kafka's
        // coordinator may still be loading, and answers group requests only once
        // FindCoordinator has found it.
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            use pagecast_kafka::messages::find_coordinator::{
                FindCoordinatorRequest, FindCoordinatorResponse,
            };
            let f: FindCoordinatorResponse = c
                .call(
                    3,
                    &FindCoordinatorRequest {
                        key: "known".into(),
                        ..Default::default()
                    },
                )
                .unwrap();
            let r: OffsetCommitResponse = c
                .call(
                    7,
                    &OffsetCommitRequest {
                        group_id: "known".into(),
                        generation_id_or_member_epoch: -1,
                        topics: vec![OffsetCommitRequestTopic {
                            name: "ops".into(),
                            partitions: vec![OffsetCommitRequestPartition {
                                partition_index: 0,
                                committed_offset: 0,
                                ..Default::default()
                            }],
                        }],
                        ..Default::default()
                    },
                )
                .unwrap();
            let code = f.error_code.max(r.topics[0].partitions[0].error_code);
            if code == 0 || Instant::now() > deadline {
                assert_eq!(code, 0, "{addr}: commit");
                break;
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        // A consumer-protocol group that exists: one member joined.
        let joined: pagecast_kafka::messages::consumer_group_heartbeat::ConsumerGroupHeartbeatResponse = c
            .call(
                1,
                &pagecast_kafka::messages::consumer_group_heartbeat::ConsumerGroupHeartbeatRequest {
                    group_id: "modern".into(),
                    // Kafka 4 takes the member ID from the client (KIP-1082).
                    member_id: "aOdq1yIRRPa0WRPQUHX6yQ".into(),
                    member_epoch: 0,
                    rebalance_timeout_ms: 30_000,
                    subscribed_topic_names: Some(vec!["ops".into()]),
                    topic_partitions: Some(vec![]),
                    ..Default::default()
                },
            )
            .unwrap();
        assert_eq!(
            joined.error_code, 0,
            "{addr}: ConsumerGroupHeartbeat: {:?}",
            joined.error_message
        );
        let topics = || {
            Some(
                ["ops", "missing"]
                    .map(|n| MetadataRequestTopic {
                        name: Some(n.into()),
                        ..Default::default()
                    })
                    .to_vec(),
            )
        };
        let mut seen = Vec::new();
        for (version, asked) in [(10, true), (12, true), (12, false)] {
            let m: MetadataResponse = c
                .call(
                    version,
                    &MetadataRequest {
                        topics: topics(),
                        allow_auto_topic_creation: false,
                        include_cluster_authorized_operations: asked,
                        include_topic_authorized_operations: asked,
                    },
                )
                .unwrap();
            for t in &m.topics {
                seen.push(format!(
                    "Metadata v{version} {:?} error {}: {:#x}",
                    t.name, t.error_code, t.topic_authorized_operations
                ));
            }
            seen.push(format!(
                "Metadata v{version} cluster: {:#x}",
                m.cluster_authorized_operations
            ));
        }
        for asked in [true, false] {
            let d: DescribeClusterResponse = c
                .call(
                    0,
                    &DescribeClusterRequest {
                        include_cluster_authorized_operations: asked,
                        ..Default::default()
                    },
                )
                .unwrap();
            seen.push(format!(
                "DescribeCluster asked {asked}: {:#x}",
                d.cluster_authorized_operations
            ));
            let g: DescribeGroupsResponse = c
                .call(
                    5,
                    &DescribeGroupsRequest {
                        groups: vec!["known".into(), "unknown".into()],
                        include_authorized_operations: asked,
                    },
                )
                .unwrap();
            for g in &g.groups {
                seen.push(format!(
                    "DescribeGroups asked {asked} {} error {}: {:#x}",
                    g.group_id, g.error_code, g.authorized_operations
                ));
            }
            let g: ConsumerGroupDescribeResponse = c
                .call(
                    0,
                    &ConsumerGroupDescribeRequest {
                        group_ids: vec!["modern".into(), "unknown".into()],
                        include_authorized_operations: asked,
                    },
                )
                .unwrap();
            for g in &g.groups {
                seen.push(format!(
                    "ConsumerGroupDescribe asked {asked} {} error {}: {:#x}",
                    g.group_id, g.error_code, g.authorized_operations
                ));
            }
        }
        // Kafka answers groups in the order of their coordinator partitions.
        seen.sort();
        answers.push(seen);
    }
    // Kafka lists the eight topic operations and the seven of the cluster.
    assert!(
        answers[0].iter().any(|l| l.ends_with(": 0xdf8")),
        "{:#?}",
        answers[0]
    );
    assert!(
        answers[0].iter().any(|l| l.ends_with(": 0x1fa0")),
        "{:#?}",
        answers[0]
    );
    assert_eq!(
        answers[1], answers[0],
        "pagecast (left) differs from Kafka (right)"
    );
    b.stop();
}

/// A topic's settings as each broker describes them: (name, value, source, read-only,
/// type), and the value's own synonym where it was set.
fn described_configs(c: &mut Client, topic: &str) -> Vec<String> {
    use pagecast_kafka::messages::describe_configs::{
        DescribeConfigsRequest, DescribeConfigsResource, DescribeConfigsResponse,
    };
    let d: DescribeConfigsResponse = c
        .call(
            4,
            &DescribeConfigsRequest {
                resources: vec![DescribeConfigsResource {
                    resource_type: 2,
                    resource_name: topic.into(),
                    configuration_keys: None,
                }],
                include_synonyms: true,
                include_documentation: false,
            },
        )
        .unwrap();
    assert_eq!(d.results[0].error_code, 0, "DescribeConfigs {topic}");
    let mut out: Vec<String> = d.results[0]
        .configs
        .iter()
        .map(|e| {
            let own = e
                .synonyms
                .first()
                .filter(|s| s.source == 1)
                .map(|s| format!(" own {:?}", s.value));
            format!(
                "{}={:?} source {} read-only {} sensitive {} type {}{}",
                e.name,
                e.value,
                e.config_source,
                e.read_only,
                e.is_sensitive,
                e.config_type,
                own.unwrap_or_default()
            )
        })
        .collect();
    out.sort();
    out
}

/// Every topic setting Kafka defines, accepted, checked and described as Kafka does:
/// CreateTopics with settings Kafka takes (compression.type=lz4, delete.retention.ms,
/// flush.ms), DescribeConfigs of every setting with its value, source and type,
/// IncrementalAlterConfigs with values in and out of range, APPEND and SUBTRACT on list
/// settings and on one that is not, settings that contradict each other, and
/// AlterConfigs (key 33), which replaces a topic's settings whole. The two brokers must
/// give the same error code for every change and describe the same settings after.
#[test]
fn topic_settings_are_accepted_checked_and_described_as_kafka_does() {
    use pagecast_kafka::messages::alter_configs::{
        AlterConfigsRequest, AlterConfigsResource, AlterConfigsResponse, AlterableConfig as Whole,
    };
    use pagecast_kafka::messages::incremental_alter_configs::{
        APPEND, AlterConfigsResource as Changes, AlterableConfig, DELETE,
        IncrementalAlterConfigsRequest, IncrementalAlterConfigsResponse, SET, SUBTRACT,
    };
    let kafka = support::kafka::Kafka::start(&[]);
    let data = tempfile::tempdir().unwrap();
    let b = Broker::start(data.path(), "segment", &[]);
    let mut sides = Vec::new();
    for addr in [kafka.bootstrap(), b.bootstrap()] {
        let mut c = Client::connect(addr.parse().unwrap(), "configs").unwrap();
        c.stream()
            .set_read_timeout(Some(Duration::from_secs(30)))
            .unwrap();
        let mut seen = Vec::new();
        let created: CreateTopicsResponse = c
            .call(
                client::CREATE_TOPICS_VERSION,
                &CreateTopicsRequest {
                    topics: vec![CreatableTopic {
                        name: "cfg".into(),
                        num_partitions: 1,
                        replication_factor: 1,
                        configs: [
                            ("retention.ms", "3600000"),
                            ("compression.type", "lz4"),
                            ("delete.retention.ms", "1000"),
                            ("flush.ms", "1000"),
                        ]
                        .map(|(k, v)| {
                            pagecast_kafka::messages::create_topics::CreatableTopicConfig {
                                name: k.into(),
                                value: Some(v.into()),
                            }
                        })
                        .to_vec(),
                        ..Default::default()
                    }],
                    ..Default::default()
                },
            )
            .unwrap();
        seen.push(format!("create: {}", created.topics[0].error_code));
        seen.extend(described_configs(&mut c, "cfg"));
        let changes: &[&[(&str, i8, Option<&str>)]] = &[
            &[("segment.bytes", SET, Some("4096"))],
            &[("segment.bytes", SET, Some("1048576"))],
            &[("segment.bytes", SET, Some("4294967296"))],
            &[("compression.gzip.level", SET, Some("0"))],
            &[("compression.zstd.level", SET, Some("-131072"))],
            &[("compression.type", SET, Some("brotli"))],
            &[("min.cleanable.dirty.ratio", SET, Some("1.5"))],
            &[("min.cleanable.dirty.ratio", SET, Some("0.25"))],
            &[("preallocate", SET, Some("yes"))],
            &[("preallocate", SET, Some("true"))],
            &[("message.timestamp.after.max.ms", SET, Some("-1"))],
            &[("retention.bytes", SET, Some("-5"))],
            &[("remote.storage.enable", SET, Some("true"))],
            &[("retention.hours", SET, Some("1"))],
            &[("leader.replication.throttled.replicas", SET, Some("x"))],
            &[("follower.replication.throttled.replicas", SET, Some("*"))],
            &[("leader.replication.throttled.replicas", APPEND, Some("0:1"))],
            &[("leader.replication.throttled.replicas", APPEND, Some("1:1"))],
            &[(
                "leader.replication.throttled.replicas",
                SUBTRACT,
                Some("0:1"),
            )],
            &[("segment.bytes", APPEND, Some("1"))],
            &[("cleanup.policy", SET, Some(""))],
            &[("cleanup.policy", APPEND, Some("delete"))],
            &[
                ("min.compaction.lag.ms", SET, Some("10")),
                ("max.compaction.lag.ms", SET, Some("5")),
            ],
            &[("compression.type", DELETE, None)],
            &[("flush.ms", DELETE, None)],
            &[("retention.ms", SET, None)],
            &[
                ("segment.ms", SET, Some("1000")),
                ("segment.ms", SET, Some("2000")),
            ],
            &[("compression.gzip.level", SET, Some("00"))],
            &[("leader.replication.throttled.replicas", SET, Some("0: 1"))],
        ];
        for change in changes {
            let r: IncrementalAlterConfigsResponse = c
                .call(
                    1,
                    &IncrementalAlterConfigsRequest {
                        resources: vec![Changes {
                            resource_type: 2,
                            resource_name: "cfg".into(),
                            configs: change
                                .iter()
                                .map(|(name, op, value)| AlterableConfig {
                                    name: (*name).into(),
                                    config_operation: *op,
                                    value: value.map(str::to_owned),
                                })
                                .collect(),
                        }],
                        validate_only: false,
                    },
                )
                .unwrap();
            seen.push(format!("{change:?}: {}", r.responses[0].error_code));
        }
        // The same resource twice in one request.
        let twice: IncrementalAlterConfigsResponse = c
            .call(
                1,
                &IncrementalAlterConfigsRequest {
                    resources: (0..2)
                        .map(|_| Changes {
                            resource_type: 2,
                            resource_name: "cfg".into(),
                            configs: vec![AlterableConfig {
                                name: "segment.ms".into(),
                                config_operation: SET,
                                value: Some("3000".into()),
                            }],
                        })
                        .collect(),
                    validate_only: false,
                },
            )
            .unwrap();
        let codes: Vec<i16> = twice.responses.iter().map(|r| r.error_code).collect();
        seen.push(format!("the same resource twice: {codes:?}"));
        seen.extend(described_configs(&mut c, "cfg"));
        let whole: &[&[(&str, Option<&str>)]] = &[
            &[("retention.ms", Some("1000")), ("segment.ms", Some("5000"))],
            &[("retention.ms", None)],
            &[("retention.hours", Some("1"))],
            &[("segment.bytes", Some("7"))],
        ];
        for configs in whole {
            let r: AlterConfigsResponse = c
                .call(
                    1,
                    &AlterConfigsRequest {
                        resources: vec![AlterConfigsResource {
                            resource_type: 2,
                            resource_name: "cfg".into(),
                            configs: configs
                                .iter()
                                .map(|(name, value)| Whole {
                                    name: (*name).into(),
                                    value: value.map(str::to_owned),
                                })
                                .collect(),
                        }],
                        validate_only: false,
                    },
                )
                .unwrap();
            seen.push(format!(
                "AlterConfigs {configs:?}: {}",
                r.responses[0].error_code
            ));
        }
        seen.extend(described_configs(&mut c, "cfg"));
        sides.push(seen);
    }
    assert!(
        sides[0].iter().filter(|l| l.contains(" source ")).count() >= 3 * 33,
        "Kafka describes its 33 topic settings: {:#?}",
        sides[0]
    );
    let differences: Vec<String> = sides[1]
        .iter()
        .zip(&sides[0])
        .filter(|(pagecast, kafka)| pagecast != kafka)
        .map(|(pagecast, kafka)| format!("pagecast {pagecast}\n   Kafka {kafka}"))
        .collect();
    assert!(
        differences.is_empty(),
        "pagecast differs from Kafka:\n{}",
        differences.join("\n")
    );
    assert_eq!(sides[1].len(), sides[0].len());
    b.stop();
}

/// A topic's `compression.type` has the broker compress every batch with that codec,
/// as Kafka's log validator does: an uncompressed batch produced to a gzip, snappy,
/// lz4 or zstd topic is stored and fetched with that codec, and a gzip batch produced
/// to an `uncompressed` topic is stored plain. On both brokers, the codec of the batch
/// fetched is the same, and librdkafka and the Java consumer read the same records
/// back from each.
#[test]
fn a_topics_compression_type_has_the_broker_compress_batches_as_kafka_does() {
    use pagecast_log::batch::{self, Compression};
    let kafka = support::kafka::Kafka::start(&[]);
    let data = tempfile::tempdir().unwrap();
    let b = Broker::start(data.path(), "segment", &[]);
    let values: Vec<Vec<u8>> = (0..50)
        .map(|i| format!("value {i} {}", "z".repeat(i)).into_bytes())
        .collect();
    let plain = batch(&values.iter().map(Vec::as_slice).collect::<Vec<_>>());
    let gzipped = pagecast_kafka::records::recompress(&plain, Compression::Gzip, -1, 1 << 20)
        .unwrap()
        .unwrap();
    let mut sides = Vec::new();
    for addr in [kafka.bootstrap(), b.bootstrap()] {
        let mut c = Client::connect(addr.parse().unwrap(), "codecs").unwrap();
        c.stream()
            .set_read_timeout(Some(Duration::from_secs(30)))
            .unwrap();
        let mut seen = Vec::new();
        for codec in ["gzip", "snappy", "lz4", "zstd", "uncompressed"] {
            let topic = format!("z-{codec}");
            let created: CreateTopicsResponse = c
                .call(
                    client::CREATE_TOPICS_VERSION,
                    &CreateTopicsRequest {
                        topics: vec![CreatableTopic {
                            name: topic.clone(),
                            num_partitions: 1,
                            replication_factor: 1,
                            configs: vec![
                                pagecast_kafka::messages::create_topics::CreatableTopicConfig {
                                    name: "compression.type".into(),
                                    value: Some(codec.into()),
                                },
                            ],
                            ..Default::default()
                        }],
                        ..Default::default()
                    },
                )
                .unwrap();
            assert_eq!(created.topics[0].error_code, 0, "{addr} {topic}");
            let input = if codec == "uncompressed" {
                gzipped.clone()
            } else {
                plain.clone()
            };
            // Kafka's new topic may not have a leader at once.
            let deadline = Instant::now() + Duration::from_secs(30);
            loop {
                let p = produce(&mut c, &topic, 0, input.clone());
                if p.error_code == 0 || Instant::now() > deadline {
                    assert_eq!(p.error_code, 0, "{addr} {topic}: produce");
                    break;
                }
                std::thread::sleep(Duration::from_millis(200));
            }
            let f = fetch(&mut c, &fetch_request(&topic, 0, 0, 1, 1 << 20, 1 << 20));
            let records = f.responses[0].partitions[0].records.clone().unwrap().0;
            let h = batch::check_stored(&records).unwrap();
            seen.push(format!(
                "{topic}: {} records, codec {}",
                h.record_count,
                h.compression()
            ));
            let read = support::broker::run_ok(&mut support::broker::clients(
                "consume-all",
                &[&addr, &topic, "50"],
            ));
            seen.push(format!("{topic}: librdkafka read {read}"));
            // The Java client, the strictest reader of lz4 frames.
            let java =
                support::kafka::kafka_class("org.apache.kafka.tools.consumer.ConsoleConsumer")
                    .args(["--bootstrap-server", &addr, "--topic", &topic])
                    .args([
                        "--from-beginning",
                        "--max-messages",
                        "50",
                        "--timeout-ms",
                        "30000",
                    ])
                    .output()
                    .unwrap();
            let out = String::from_utf8_lossy(&java.stdout);
            seen.push(format!(
                "{topic}: the Java consumer read {} records, the last {:?}",
                out.lines().count(),
                out.lines().last()
            ));
        }
        sides.push(seen);
    }
    assert!(sides[0][0].contains("codec gzip"), "{:#?}", sides[0]);
    assert!(sides[0][12].contains("codec none"), "{:#?}", sides[0]);
    assert!(sides[0][2].contains("read 50 records"), "{:#?}", sides[0]);
    assert_eq!(
        sides[1], sides[0],
        "pagecast (left) differs from Kafka (right)"
    );
    b.stop();
}
