//! The broker on a current-thread runtime: every request that fsyncs, reads files or
//! waits (auto-creation, produce with fsync always, a long-polling fetch, ListOffsets by
//! timestamp, the admin APIs, a group's join, sync, commit and deletion) is answered,
//! and the broker stops cleanly. Handlers run on the handler pool, so none calls
//! `block_in_place`, which panics on this runtime; the long poll is woken by a produce
//! on another connection, which the runtime's one thread must be free to read.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use pagecast_kafka::broker::{Broker, Config, StorageKind};
use pagecast_kafka::client::{self, Client};
use pagecast_kafka::codec::Bytes;
use pagecast_kafka::messages::create_topics::{
    CreatableTopic, CreateTopicsRequest, CreateTopicsResponse,
};
use pagecast_kafka::messages::delete_groups::{DeleteGroupsRequest, DeleteGroupsResponse};
use pagecast_kafka::messages::delete_records::{
    DeleteRecordsPartition, DeleteRecordsRequest, DeleteRecordsResponse, DeleteRecordsTopic,
};
use pagecast_kafka::messages::delete_topics::{DeleteTopicsRequest, DeleteTopicsResponse};
use pagecast_kafka::messages::fetch::{FetchPartition, FetchRequest, FetchResponse, FetchTopic};
use pagecast_kafka::messages::incremental_alter_configs::{
    AlterConfigsResource, AlterableConfig, IncrementalAlterConfigsRequest,
    IncrementalAlterConfigsResponse,
};
use pagecast_kafka::messages::join_group::{
    JoinGroupRequest, JoinGroupRequestProtocol, JoinGroupResponse,
};
use pagecast_kafka::messages::list_offsets::{
    ListOffsetsPartition, ListOffsetsRequest, ListOffsetsResponse, ListOffsetsTopic,
};
use pagecast_kafka::messages::metadata::{MetadataRequest, MetadataRequestTopic, MetadataResponse};
use pagecast_kafka::messages::offset_commit::{
    OffsetCommitRequest, OffsetCommitRequestPartition, OffsetCommitRequestTopic,
    OffsetCommitResponse,
};
use pagecast_kafka::messages::produce::{
    PartitionProduceData, ProduceRequest, ProduceResponse, TopicProduceData,
};
use pagecast_kafka::messages::sync_group::{
    SyncGroupRequest, SyncGroupRequestAssignment, SyncGroupResponse,
};
use pagecast_log::Fsync;
use pagecast_log::batch::Builder;

const T0: i64 = 1_700_000_000_000;

/// A broker on a current-thread runtime of its own thread.
struct Running {
    addr: SocketAddr,
    stop: tokio::sync::oneshot::Sender<()>,
    result: std::sync::mpsc::Receiver<Result<(), String>>,
}

impl Running {
    fn start(dir: &std::path::Path, storage: StorageKind) -> Running {
        let mut config = Config::new(dir);
        config.addr = "127.0.0.1:0".parse().unwrap();
        config.storage = storage;
        config.fsync = Fsync::Always;
        config.groups.initial_rebalance_delay = Duration::ZERO;
        let (addr_tx, addr_rx) = std::sync::mpsc::channel();
        let (stop, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let (result_tx, result) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            let ran = runtime.block_on(async move {
                let broker = Broker::open(config).await.map_err(|e| e.to_string())?;
                addr_tx.send(broker.local_addr().unwrap()).unwrap();
                broker
                    .run(async move {
                        let _ = stop_rx.await;
                    })
                    .await
                    .map_err(|e| e.to_string())
            });
            let _ = result_tx.send(ran);
        });
        let addr = addr_rx
            .recv_timeout(Duration::from_secs(60))
            .expect("the broker starts");
        Running { addr, stop, result }
    }

    /// Stops the broker; fails if it does not stop cleanly within a minute.
    fn stop(self) {
        self.stop.send(()).unwrap();
        self.result
            .recv_timeout(Duration::from_secs(60))
            .expect("the broker stops within a minute (its thread did not panic)")
            .expect("the broker stops cleanly");
    }
}

fn connect(addr: SocketAddr, who: &str) -> Client {
    let c = Client::connect(addr, who).unwrap();
    c.stream()
        .set_read_timeout(Some(Duration::from_secs(60)))
        .unwrap();
    c
}

fn batch(value: &[u8], timestamp: i64) -> Vec<u8> {
    let mut b = Builder::new(timestamp);
    b.push(timestamp, None, Some(value));
    b.finish()
}

fn produce(c: &mut Client, topic: &str, records: Vec<u8>) -> i64 {
    let resp: ProduceResponse = c
        .call(
            client::PRODUCE_VERSION,
            &ProduceRequest {
                acks: -1,
                timeout_ms: 30_000,
                topic_data: vec![TopicProduceData {
                    name: topic.into(),
                    partition_data: vec![PartitionProduceData {
                        index: 0,
                        records: Some(Bytes(records)),
                    }],
                }],
                ..Default::default()
            },
        )
        .unwrap();
    let p = &resp.responses[0].partition_responses[0];
    assert_eq!(p.error_code, 0, "produce to {topic}");
    p.base_offset
}

fn fetch(c: &mut Client, topic: &str, offset: i64, max_wait_ms: i32) -> FetchResponse {
    c.call(
        client::FETCH_VERSION,
        &FetchRequest {
            replica_id: -1,
            max_wait_ms,
            min_bytes: 1,
            max_bytes: 1 << 20,
            session_epoch: -1,
            topics: vec![FetchTopic {
                topic: topic.into(),
                partitions: vec![FetchPartition {
                    partition: 0,
                    fetch_offset: offset,
                    partition_max_bytes: 1 << 20,
                    ..Default::default()
                }],
                ..Default::default()
            }],
            ..Default::default()
        },
    )
    .unwrap()
}

fn records_len(f: &FetchResponse) -> usize {
    f.responses[0].partitions[0]
        .records
        .as_ref()
        .map_or(0, |r| r.0.len())
}

fn exercise(addr: SocketAddr) {
    let mut c = connect(addr, "runtime-test");

    // Auto-creation writes the topics file.
    let meta: MetadataResponse = c
        .call(
            client::METADATA_VERSION,
            &MetadataRequest {
                topics: Some(vec![MetadataRequestTopic {
                    name: Some("auto".into()),
                    ..Default::default()
                }]),
                allow_auto_topic_creation: true,
                ..Default::default()
            },
        )
        .unwrap();
    assert_eq!(meta.topics[0].error_code, 0);

    // Produce with an fsync per append, and read it back.
    let first = batch(b"first", T0);
    let first_len = first.len();
    assert_eq!(produce(&mut c, "auto", first), 0);
    assert_eq!(records_len(&fetch(&mut c, "auto", 0, 0)), first_len);

    // A long poll at the end is woken by a produce on another connection: the runtime's
    // one thread must be free to run both.
    let mut producer = connect(addr, "runtime-producer");
    let waiter = std::thread::spawn(move || {
        let started = Instant::now();
        let f = fetch(&mut c, "auto", 1, 20_000);
        (c, f, started.elapsed())
    });
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(
        produce(&mut producer, "auto", batch(b"second", T0 + 1000)),
        1
    );
    let (mut c, woken, waited) = waiter.join().unwrap();
    assert!(
        records_len(&woken) > 0,
        "the long poll returns the new batch"
    );
    assert!(
        waited < Duration::from_secs(20),
        "the produce woke the long poll"
    );

    // ListOffsets by timestamp reads batch headers.
    let listed: ListOffsetsResponse = c
        .call(
            client::LIST_OFFSETS_VERSION,
            &ListOffsetsRequest {
                replica_id: -1,
                topics: vec![ListOffsetsTopic {
                    name: "auto".into(),
                    partitions: vec![ListOffsetsPartition {
                        partition_index: 0,
                        timestamp: T0 + 500,
                        ..Default::default()
                    }],
                }],
                ..Default::default()
            },
        )
        .unwrap();
    assert_eq!(listed.topics[0].partitions[0].offset, 1);

    // Admin APIs that write files.
    let created: CreateTopicsResponse = c
        .call(
            client::CREATE_TOPICS_VERSION,
            &CreateTopicsRequest {
                topics: vec![CreatableTopic {
                    name: "made".into(),
                    num_partitions: 2,
                    replication_factor: 1,
                    ..Default::default()
                }],
                ..Default::default()
            },
        )
        .unwrap();
    assert_eq!(created.topics[0].error_code, 0);
    let altered: IncrementalAlterConfigsResponse = c
        .call(
            1,
            &IncrementalAlterConfigsRequest {
                resources: vec![AlterConfigsResource {
                    resource_type: 2,
                    resource_name: "made".into(),
                    configs: vec![AlterableConfig {
                        name: "retention.ms".into(),
                        config_operation: 0,
                        value: Some("3600000".into()),
                    }],
                }],
                ..Default::default()
            },
        )
        .unwrap();
    assert_eq!(altered.responses[0].error_code, 0);
    let deleted: DeleteRecordsResponse = c
        .call(
            2,
            &DeleteRecordsRequest {
                topics: vec![DeleteRecordsTopic {
                    name: "auto".into(),
                    partitions: vec![DeleteRecordsPartition {
                        partition_index: 0,
                        offset: 1,
                    }],
                }],
                timeout_ms: 30_000,
            },
        )
        .unwrap();
    assert_eq!(deleted.topics[0].partitions[0].error_code, 0);
    assert_eq!(deleted.topics[0].partitions[0].low_watermark, 1);

    // A group: join (twice, for the member ID), sync, commit, then delete.
    let join = |c: &mut Client, member_id: &str| -> JoinGroupResponse {
        c.call(
            5,
            &JoinGroupRequest {
                group_id: "g".into(),
                session_timeout_ms: 30_000,
                rebalance_timeout_ms: 30_000,
                member_id: member_id.into(),
                protocol_type: "consumer".into(),
                protocols: vec![JoinGroupRequestProtocol {
                    name: "range".into(),
                    metadata: Bytes(Vec::new()),
                }],
                ..Default::default()
            },
        )
        .unwrap()
    };
    let asked = join(&mut c, "");
    let joined = join(&mut c, &asked.member_id);
    assert_eq!(joined.error_code, 0);
    let synced: SyncGroupResponse = c
        .call(
            3,
            &SyncGroupRequest {
                group_id: "g".into(),
                generation_id: joined.generation_id,
                member_id: joined.member_id.clone(),
                assignments: vec![SyncGroupRequestAssignment {
                    member_id: joined.member_id.clone(),
                    assignment: Bytes(Vec::new()),
                }],
                ..Default::default()
            },
        )
        .unwrap();
    assert_eq!(synced.error_code, 0);
    let committed: OffsetCommitResponse = c
        .call(
            5,
            &OffsetCommitRequest {
                group_id: "g".into(),
                generation_id_or_member_epoch: joined.generation_id,
                member_id: joined.member_id.clone(),
                topics: vec![OffsetCommitRequestTopic {
                    name: "auto".into(),
                    partitions: vec![OffsetCommitRequestPartition {
                        partition_index: 0,
                        committed_offset: 2,
                        ..Default::default()
                    }],
                }],
                ..Default::default()
            },
        )
        .unwrap();
    assert_eq!(committed.topics[0].partitions[0].error_code, 0);
    // Leaving by a new member joining with a short timeout is slow; the group is
    // deleted only once empty, so the member leaves first.
    let left: pagecast_kafka::messages::leave_group::LeaveGroupResponse = c
        .call(
            0,
            &pagecast_kafka::messages::leave_group::LeaveGroupRequest {
                group_id: "g".into(),
                member_id: joined.member_id.clone(),
                ..Default::default()
            },
        )
        .unwrap();
    assert_eq!(left.error_code, 0);
    let gone: DeleteGroupsResponse = c
        .call(
            1,
            &DeleteGroupsRequest {
                groups_names: vec!["g".into()],
            },
        )
        .unwrap();
    assert_eq!(gone.results[0].error_code, 0);

    let dropped: DeleteTopicsResponse = c
        .call(
            3,
            &DeleteTopicsRequest {
                topic_names: vec!["made".into()],
                timeout_ms: 30_000,
                ..Default::default()
            },
        )
        .unwrap();
    assert_eq!(dropped.responses[0].error_code, 0);
}

#[test]
fn every_blocking_request_is_answered_on_a_current_thread_runtime() {
    for storage in [StorageKind::Segment, StorageKind::CommitLog] {
        let dir = tempfile::tempdir().unwrap();
        let broker = Running::start(dir.path(), storage);
        exercise(broker.addr);
        broker.stop();
        // A clean stop leaves the store's clean-shutdown marker, so the next open
        // skips recovery.
        let marker = match storage {
            StorageKind::Segment => dir.path().join("log/auto-0/clean-shutdown"),
            _ => dir.path().join("log/clean-shutdown"),
        };
        assert!(marker.exists(), "{} is written", marker.display());
        let broker = Running::start(dir.path(), storage);
        let mut c = connect(broker.addr, "runtime-test");
        assert!(records_len(&fetch(&mut c, "auto", 1, 0)) > 0);
        broker.stop();
    }
}
