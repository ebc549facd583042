//! Our codec against the `kafka-protocol` crate, the test oracle: every request built
//! with it decodes with ours and re-encodes to the same bytes (so every field was read
//! as it was written), and every response ours encodes decodes with it and re-encodes
//! to the same bytes. Each API is checked at every version both implement.

use bytes::{Bytes, BytesMut};
use kafka_protocol::messages as kp;
use kafka_protocol::protocol::{Decodable, Encodable, StrBytes};
use pagecast_kafka::codec::{self, Message, Uuid, decode_body, encode_body};
use pagecast_kafka::messages as ours;

fn s(text: &str) -> StrBytes {
    StrBytes::from_string(text.to_owned())
}

fn topic(text: &str) -> kp::TopicName {
    kp::TopicName(s(text))
}

/// Versions both sides implement.
fn versions<M: Message>(theirs_min: i16, theirs_max: i16) -> std::ops::RangeInclusive<i16> {
    M::MIN_VERSION.max(theirs_min)..=M::MAX_VERSION.min(theirs_max)
}

fn request<Theirs: Encodable, Ours: Message + std::fmt::Debug>(
    theirs: &Theirs,
    version: i16,
) -> Ours {
    let mut buf = BytesMut::new();
    theirs
        .encode(&mut buf, version)
        .unwrap_or_else(|e| panic!("oracle cannot encode v{version}: {e}"));
    let decoded: Ours = decode_body(&buf, version).unwrap_or_else(|e| panic!("v{version}: {e}"));
    assert_eq!(
        encode_body(&decoded, version),
        &buf[..],
        "v{version}: {decoded:?} re-encodes differently"
    );
    decoded
}

fn response<Theirs: Decodable + Encodable + std::fmt::Debug, Ours: Message>(
    ours: &Ours,
    version: i16,
) -> Theirs {
    let bytes = encode_body(ours, version);
    let mut buf = Bytes::copy_from_slice(&bytes);
    let theirs = Theirs::decode(&mut buf, version)
        .unwrap_or_else(|e| panic!("oracle cannot decode v{version}: {e}"));
    assert!(
        buf.is_empty(),
        "v{version}: {} bytes left after the oracle decoded",
        buf.len()
    );
    let mut again = BytesMut::new();
    theirs.encode(&mut again, version).unwrap();
    assert_eq!(&again[..], &bytes[..], "v{version}: {theirs:?}");
    theirs
}

#[test]
fn api_versions() {
    for v in versions::<ours::api_versions::ApiVersionsRequest>(0, 4) {
        let mut req = kp::ApiVersionsRequest::default();
        if v >= 3 {
            req = req
                .with_client_software_name(s("librdkafka"))
                .with_client_software_version(s("2.16.0"));
        }
        let got: ours::api_versions::ApiVersionsRequest = request(&req, v);
        assert_eq!(
            got.client_software_name,
            if v >= 3 { "librdkafka" } else { "" }
        );
        let resp = ours::api_versions::ApiVersionsResponse {
            api_keys: vec![ours::api_versions::ApiVersion {
                api_key: 3,
                min_version: 0,
                max_version: 12,
            }],
            throttle_time_ms: if v >= 1 { 5 } else { 0 },
            ..Default::default()
        };
        let theirs: kp::ApiVersionsResponse = response(&resp, v);
        assert_eq!(theirs.api_keys[0].max_version, 12);
    }
}

#[test]
fn metadata() {
    for v in versions::<ours::metadata::MetadataRequest>(0, 13) {
        let mut t =
            kp::metadata_request::MetadataRequestTopic::default().with_name(Some(topic("orders")));
        if v >= 10 {
            t = t.with_topic_id(uuid::Uuid::from_bytes([9; 16]));
        }
        let mut req = kp::MetadataRequest::default().with_topics(Some(vec![t]));
        if v >= 4 {
            req = req.with_allow_auto_topic_creation(false);
        }
        let got: ours::metadata::MetadataRequest = request(&req, v);
        assert_eq!(got.topics.unwrap()[0].name.as_deref(), Some("orders"));
        if v >= 1 {
            let all: ours::metadata::MetadataRequest =
                request(&kp::MetadataRequest::default().with_topics(None), v);
            assert!(all.topics.is_none());
        }
        let resp = ours::metadata::MetadataResponse {
            brokers: vec![ours::metadata::MetadataResponseBroker {
                node_id: 1,
                host: "127.0.0.1".into(),
                port: 9092,
                rack: None,
            }],
            cluster_id: if v >= 2 { Some("c".into()) } else { None },
            controller_id: if v >= 1 { 1 } else { -1 },
            topics: vec![ours::metadata::MetadataResponseTopic {
                name: Some("orders".into()),
                topic_id: if v >= 10 { Uuid([3; 16]) } else { Uuid::NIL },
                partitions: vec![ours::metadata::MetadataResponsePartition {
                    partition_index: 2,
                    leader_id: 1,
                    leader_epoch: if v >= 7 { 0 } else { -1 },
                    replica_nodes: vec![1],
                    isr_nodes: vec![1],
                    ..Default::default()
                }],
                ..Default::default()
            }],
            ..Default::default()
        };
        let theirs: kp::MetadataResponse = response(&resp, v);
        assert_eq!(theirs.topics[0].partitions[0].partition_index, 2);
    }
}

#[test]
fn produce() {
    let batch = {
        let mut b = pagecast_log::batch::Builder::new(1);
        b.push(1, Some(b"k"), Some(b"v"));
        b.finish()
    };
    for v in versions::<ours::produce::ProduceRequest>(3, 13) {
        let req = kp::ProduceRequest::default()
            .with_acks(-1)
            .with_timeout_ms(30_000)
            .with_topic_data(vec![
                kp::produce_request::TopicProduceData::default()
                    .with_name(topic("orders"))
                    .with_partition_data(vec![
                        kp::produce_request::PartitionProduceData::default()
                            .with_index(4)
                            .with_records(Some(Bytes::copy_from_slice(&batch))),
                    ]),
            ]);
        let got: ours::produce::ProduceRequest = request(&req, v);
        assert_eq!(
            got.topic_data[0].partition_data[0]
                .records
                .as_ref()
                .unwrap()
                .0,
            batch
        );
        let resp = ours::produce::ProduceResponse {
            responses: vec![ours::produce::TopicProduceResponse {
                name: "orders".into(),
                partition_responses: vec![ours::produce::PartitionProduceResponse {
                    index: 4,
                    error_code: 2,
                    base_offset: 77,
                    log_start_offset: if v >= 5 { 3 } else { -1 },
                    record_errors: if v >= 8 {
                        vec![ours::produce::BatchIndexAndErrorMessage {
                            batch_index: 0,
                            batch_index_error_message: Some("crc".into()),
                        }]
                    } else {
                        vec![]
                    },
                    ..Default::default()
                }],
            }],
            ..Default::default()
        };
        let theirs: kp::ProduceResponse = response(&resp, v);
        assert_eq!(theirs.responses[0].partition_responses[0].base_offset, 77);
    }
}

#[test]
fn fetch_request() {
    for v in versions::<ours::fetch::FetchRequest>(4, 18) {
        let mut t = kp::fetch_request::FetchTopic::default().with_partitions(vec![
            kp::fetch_request::FetchPartition::default()
                .with_partition(1)
                .with_fetch_offset(99)
                .with_partition_max_bytes(1 << 20),
        ]);
        t = if v >= 13 {
            t.with_topic_id(uuid::Uuid::from_bytes([5; 16]))
        } else {
            t.with_topic(topic("orders"))
        };
        let mut req = kp::FetchRequest::default()
            .with_max_wait_ms(500)
            .with_min_bytes(1)
            .with_isolation_level(1)
            .with_topics(vec![t]);
        if v <= 14 {
            req = req.with_replica_id(kp::BrokerId(-1));
        }
        if v >= 12 {
            req = req.with_cluster_id(Some(s("cluster")));
        }
        let got: ours::fetch::FetchRequest = request(&req, v);
        let p = &got.topics[0].partitions[0];
        assert_eq!((p.partition, p.fetch_offset), (1, 99));
        assert_eq!(got.isolation_level, 1);
        if v >= 12 {
            assert_eq!(got.cluster_id.as_deref(), Some("cluster"), "a tagged field");
        }
    }
}

#[test]
fn list_offsets() {
    for v in versions::<ours::list_offsets::ListOffsetsRequest>(1, 10) {
        let req = kp::ListOffsetsRequest::default()
            .with_replica_id(kp::BrokerId(-1))
            .with_topics(vec![
                kp::list_offsets_request::ListOffsetsTopic::default()
                    .with_name(topic("orders"))
                    .with_partitions(vec![
                        kp::list_offsets_request::ListOffsetsPartition::default()
                            .with_partition_index(0)
                            .with_timestamp(-2),
                    ]),
            ]);
        let got: ours::list_offsets::ListOffsetsRequest = request(&req, v);
        assert_eq!(got.topics[0].partitions[0].timestamp, -2);
        let resp = ours::list_offsets::ListOffsetsResponse {
            topics: vec![ours::list_offsets::ListOffsetsTopicResponse {
                name: "orders".into(),
                partitions: vec![ours::list_offsets::ListOffsetsPartitionResponse {
                    offset: 12,
                    timestamp: 1000,
                    leader_epoch: if v >= 4 { 0 } else { -1 },
                    ..Default::default()
                }],
            }],
            ..Default::default()
        };
        let theirs: kp::ListOffsetsResponse = response(&resp, v);
        assert_eq!(theirs.topics[0].partitions[0].offset, 12);
    }
}

#[test]
fn find_coordinator() {
    for v in versions::<ours::find_coordinator::FindCoordinatorRequest>(0, 6) {
        let req = if v >= 4 {
            kp::FindCoordinatorRequest::default().with_coordinator_keys(vec![s("group")])
        } else {
            kp::FindCoordinatorRequest::default().with_key(s("group"))
        };
        let got: ours::find_coordinator::FindCoordinatorRequest = request(&req, v);
        assert!(got.key == "group" || got.coordinator_keys == ["group"]);
        let resp = if v >= 4 {
            ours::find_coordinator::FindCoordinatorResponse {
                coordinators: vec![ours::find_coordinator::Coordinator {
                    key: "group".into(),
                    node_id: 1,
                    host: "h".into(),
                    port: 9,
                    ..Default::default()
                }],
                ..Default::default()
            }
        } else {
            ours::find_coordinator::FindCoordinatorResponse {
                node_id: 1,
                host: "h".into(),
                port: 9,
                ..Default::default()
            }
        };
        let _: kp::FindCoordinatorResponse = response(&resp, v);
    }
}

#[test]
fn offset_commit_and_fetch() {
    for v in versions::<ours::offset_commit::OffsetCommitRequest>(2, 9) {
        let req = kp::OffsetCommitRequest::default()
            .with_group_id(kp::GroupId(s("g")))
            .with_topics(vec![
                kp::offset_commit_request::OffsetCommitRequestTopic::default()
                    .with_name(topic("orders"))
                    .with_partitions(vec![
                        kp::offset_commit_request::OffsetCommitRequestPartition::default()
                            .with_partition_index(1)
                            .with_committed_offset(42)
                            .with_committed_metadata(Some(s("meta"))),
                    ]),
            ]);
        let got: ours::offset_commit::OffsetCommitRequest = request(&req, v);
        assert_eq!(got.topics[0].partitions[0].committed_offset, 42);
        let resp = ours::offset_commit::OffsetCommitResponse {
            topics: vec![ours::offset_commit::OffsetCommitResponseTopic {
                name: "orders".into(),
                partitions: vec![ours::offset_commit::OffsetCommitResponsePartition {
                    partition_index: 1,
                    error_code: 0,
                }],
            }],
            ..Default::default()
        };
        let _: kp::OffsetCommitResponse = response(&resp, v);
    }
    for v in versions::<ours::offset_fetch::OffsetFetchRequest>(1, 9) {
        let req = if v >= 8 {
            kp::OffsetFetchRequest::default().with_groups(vec![
                kp::offset_fetch_request::OffsetFetchRequestGroup::default()
                    .with_group_id(kp::GroupId(s("g")))
                    .with_topics(Some(vec![
                        kp::offset_fetch_request::OffsetFetchRequestTopics::default()
                            .with_name(topic("orders"))
                            .with_partition_indexes(vec![0, 1]),
                    ])),
            ])
        } else {
            kp::OffsetFetchRequest::default()
                .with_group_id(kp::GroupId(s("g")))
                .with_topics(Some(vec![
                    kp::offset_fetch_request::OffsetFetchRequestTopic::default()
                        .with_name(topic("orders"))
                        .with_partition_indexes(vec![0, 1]),
                ]))
        };
        let got: ours::offset_fetch::OffsetFetchRequest = request(&req, v);
        if v >= 8 {
            assert_eq!(got.groups[0].group_id, "g");
        } else {
            assert_eq!(got.group_id, "g");
        }
        let resp = if v >= 8 {
            ours::offset_fetch::OffsetFetchResponse {
                groups: vec![ours::offset_fetch::OffsetFetchResponseGroup {
                    group_id: "g".into(),
                    topics: vec![ours::offset_fetch::OffsetFetchResponseTopics {
                        name: "orders".into(),
                        partitions: vec![ours::offset_fetch::OffsetFetchResponsePartitions {
                            partition_index: 0,
                            committed_offset: 42,
                            metadata: Some(String::new()),
                            ..Default::default()
                        }],
                    }],
                    error_code: 0,
                }],
                ..Default::default()
            }
        } else {
            ours::offset_fetch::OffsetFetchResponse {
                topics: vec![ours::offset_fetch::OffsetFetchResponseTopic {
                    name: "orders".into(),
                    partitions: vec![ours::offset_fetch::OffsetFetchResponsePartition {
                        partition_index: 0,
                        committed_offset: 42,
                        committed_leader_epoch: if v >= 5 { 0 } else { -1 },
                        metadata: Some(String::new()),
                        error_code: 0,
                    }],
                }],
                ..Default::default()
            }
        };
        let _: kp::OffsetFetchResponse = response(&resp, v);
    }
}

#[test]
fn init_producer_id() {
    for v in versions::<ours::init_producer_id::InitProducerIdRequest>(0, 5) {
        let mut req = kp::InitProducerIdRequest::default()
            .with_transactional_id(None)
            .with_transaction_timeout_ms(60_000);
        if v >= 3 {
            req = req
                .with_producer_id(kp::ProducerId(7))
                .with_producer_epoch(2);
        }
        let got: ours::init_producer_id::InitProducerIdRequest = request(&req, v);
        assert_eq!(got.transactional_id, None);
        let resp = ours::init_producer_id::InitProducerIdResponse {
            producer_id: 1001,
            producer_epoch: 0,
            ..Default::default()
        };
        let theirs: kp::InitProducerIdResponse = response(&resp, v);
        assert_eq!(theirs.producer_id.0, 1001);
    }
}

/// The frame from the review: Metadata v0 claiming 54 million topics in 4 bytes.
#[test]
fn a_lying_count_is_refused_without_allocating() {
    let body = [0x3c, 0x0c, 0x00, 0xb6];
    let err = decode_body::<ours::metadata::MetadataRequest>(&body, 0).unwrap_err();
    assert!(
        matches!(err, codec::DecodeError::BadLength { .. }),
        "{err:?}"
    );
}

#[test]
fn topic_administration() {
    use ours::{
        create_partitions as cp, create_topics as ct, delete_topics as dt, describe_cluster as dc,
    };
    use ours::{describe_configs as dcfg, incremental_alter_configs as iac};
    for v in versions::<ct::CreateTopicsRequest>(2, 7) {
        let req = kp::CreateTopicsRequest::default().with_topics(vec![
            kp::create_topics_request::CreatableTopic::default()
                .with_name(topic("orders"))
                .with_num_partitions(3)
                .with_replication_factor(1)
                .with_configs(vec![
                    kp::create_topics_request::CreatableTopicConfig::default()
                        .with_name(s("retention.ms"))
                        .with_value(Some(s("1000"))),
                ]),
        ]);
        let got: ct::CreateTopicsRequest = request(&req, v);
        assert_eq!(got.topics[0].configs[0].value.as_deref(), Some("1000"));
        let resp = ct::CreateTopicsResponse {
            topics: vec![ct::CreatableTopicResult {
                name: "orders".into(),
                topic_id: if v >= 7 { Uuid([1; 16]) } else { Uuid::NIL },
                error_code: 36,
                error_message: Some("exists".into()),
                num_partitions: if v >= 5 { 3 } else { -1 },
                replication_factor: if v >= 5 { 1 } else { -1 },
                configs: if v >= 5 {
                    Some(vec![ct::CreatableTopicConfigs {
                        name: "retention.ms".into(),
                        value: Some("1000".into()),
                        config_source: 1,
                        ..Default::default()
                    }])
                } else {
                    None
                },
                ..Default::default()
            }],
            ..Default::default()
        };
        let theirs: kp::CreateTopicsResponse = response(&resp, v);
        assert_eq!(theirs.topics[0].error_code, 36);
    }
    for v in versions::<dt::DeleteTopicsRequest>(1, 6) {
        let req = if v >= 6 {
            kp::DeleteTopicsRequest::default().with_topics(vec![
                kp::delete_topics_request::DeleteTopicState::default()
                    .with_name(Some(topic("orders"))),
            ])
        } else {
            kp::DeleteTopicsRequest::default().with_topic_names(vec![topic("orders")])
        };
        let got: dt::DeleteTopicsRequest = request(&req, v);
        assert!(got.topic_names == ["orders"] || got.topics[0].name.as_deref() == Some("orders"));
        let resp = dt::DeleteTopicsResponse {
            responses: vec![dt::DeletableTopicResult {
                name: Some("orders".into()),
                error_code: 3,
                error_message: if v >= 5 {
                    Some("no topic".into())
                } else {
                    None
                },
                ..Default::default()
            }],
            ..Default::default()
        };
        let _: kp::DeleteTopicsResponse = response(&resp, v);
    }
    for v in versions::<cp::CreatePartitionsRequest>(0, 3) {
        let req = kp::CreatePartitionsRequest::default().with_topics(vec![
            kp::create_partitions_request::CreatePartitionsTopic::default()
                .with_name(topic("orders"))
                .with_count(5)
                .with_assignments(None),
        ]);
        let got: cp::CreatePartitionsRequest = request(&req, v);
        assert_eq!(got.topics[0].count, 5);
        let resp = cp::CreatePartitionsResponse {
            results: vec![cp::CreatePartitionsTopicResult {
                name: "orders".into(),
                error_code: 37,
                error_message: Some("only grows".into()),
            }],
            ..Default::default()
        };
        let _: kp::CreatePartitionsResponse = response(&resp, v);
    }
    for v in versions::<dcfg::DescribeConfigsRequest>(1, 4) {
        let req = kp::DescribeConfigsRequest::default().with_resources(vec![
            kp::describe_configs_request::DescribeConfigsResource::default()
                .with_resource_type(2)
                .with_resource_name(s("orders"))
                .with_configuration_keys(None),
        ]);
        let got: dcfg::DescribeConfigsRequest = request(&req, v);
        assert_eq!(got.resources[0].resource_name, "orders");
        let resp = dcfg::DescribeConfigsResponse {
            results: vec![dcfg::DescribeConfigsResult {
                resource_type: 2,
                resource_name: "orders".into(),
                configs: vec![dcfg::DescribeConfigsResourceResult {
                    name: "retention.ms".into(),
                    value: Some("1000".into()),
                    config_source: 1,
                    synonyms: vec![dcfg::DescribeConfigsSynonym {
                        name: "retention.ms".into(),
                        value: Some("1000".into()),
                        source: 1,
                    }],
                    config_type: if v >= 3 { 5 } else { 0 },
                    ..Default::default()
                }],
                ..Default::default()
            }],
            ..Default::default()
        };
        let _: kp::DescribeConfigsResponse = response(&resp, v);
    }
    for v in versions::<iac::IncrementalAlterConfigsRequest>(0, 1) {
        let req = kp::IncrementalAlterConfigsRequest::default().with_resources(vec![
            kp::incremental_alter_configs_request::AlterConfigsResource::default()
                .with_resource_type(2)
                .with_resource_name(s("orders"))
                .with_configs(vec![
                    kp::incremental_alter_configs_request::AlterableConfig::default()
                        .with_name(s("retention.ms"))
                        .with_config_operation(1)
                        .with_value(None),
                ]),
        ]);
        let got: iac::IncrementalAlterConfigsRequest = request(&req, v);
        assert_eq!(got.resources[0].configs[0].config_operation, iac::DELETE);
        let resp = iac::IncrementalAlterConfigsResponse {
            responses: vec![iac::AlterConfigsResourceResponse {
                error_code: 40,
                error_message: Some("bad".into()),
                resource_type: 2,
                resource_name: "orders".into(),
            }],
            ..Default::default()
        };
        let _: kp::IncrementalAlterConfigsResponse = response(&resp, v);
    }
    for v in versions::<dc::DescribeClusterRequest>(0, 2) {
        let got: dc::DescribeClusterRequest = request(&kp::DescribeClusterRequest::default(), v);
        assert_eq!(got.endpoint_type, 1);
        let resp = dc::DescribeClusterResponse {
            cluster_id: "c".into(),
            controller_id: 1,
            brokers: vec![dc::DescribeClusterBroker {
                broker_id: 1,
                host: "h".into(),
                port: 9092,
                rack: None,
            }],
            ..Default::default()
        };
        let theirs: kp::DescribeClusterResponse = response(&resp, v);
        assert_eq!(theirs.brokers[0].port, 9092);
    }
}

/// librdkafka 2.16 sends Metadata v12 for every topic with three bytes after the body;
/// Kafka's readers ignore them, and so does ours.
#[test]
fn bytes_after_a_request_are_ignored() {
    let body = [0, 0, 0, 0, 1, 0, 0];
    let got: ours::metadata::MetadataRequest = decode_body(&body, 12).unwrap();
    assert!(got.topics.is_none(), "every topic");
}

#[test]
fn group_membership() {
    use ours::{heartbeat as hb, join_group as jg, leave_group as lg, sync_group as sg};
    for v in versions::<jg::JoinGroupRequest>(0, 9) {
        let mut req = kp::JoinGroupRequest::default()
            .with_group_id(kp::GroupId(s("g")))
            .with_session_timeout_ms(10_000)
            .with_member_id(s("m-1"))
            .with_protocol_type(s("consumer"))
            .with_protocols(vec![
                kp::join_group_request::JoinGroupRequestProtocol::default()
                    .with_name(s("range"))
                    .with_metadata(Bytes::from_static(b"meta")),
            ]);
        if v >= 1 {
            req = req.with_rebalance_timeout_ms(30_000);
        }
        let got: jg::JoinGroupRequest = request(&req, v);
        assert_eq!(got.protocols[0].metadata.0, b"meta");
        let resp = jg::JoinGroupResponse {
            generation_id: 3,
            protocol_type: if v >= 7 {
                Some("consumer".into())
            } else {
                None
            },
            protocol_name: Some("range".into()),
            leader: "m-1".into(),
            member_id: "m-1".into(),
            members: vec![jg::JoinGroupResponseMember {
                member_id: "m-1".into(),
                group_instance_id: None,
                metadata: codec::Bytes(b"meta".to_vec()),
            }],
            ..Default::default()
        };
        let theirs: kp::JoinGroupResponse = response(&resp, v);
        assert_eq!(theirs.generation_id, 3);
    }
    for v in versions::<sg::SyncGroupRequest>(0, 5) {
        let req = kp::SyncGroupRequest::default()
            .with_group_id(kp::GroupId(s("g")))
            .with_generation_id(3)
            .with_member_id(s("m-1"))
            .with_assignments(vec![
                kp::sync_group_request::SyncGroupRequestAssignment::default()
                    .with_member_id(s("m-1"))
                    .with_assignment(Bytes::from_static(b"plan")),
            ]);
        let got: sg::SyncGroupRequest = request(&req, v);
        assert_eq!(got.assignments[0].assignment.0, b"plan");
        let resp = sg::SyncGroupResponse {
            error_code: 27,
            assignment: codec::Bytes(b"plan".to_vec()),
            ..Default::default()
        };
        let _: kp::SyncGroupResponse = response(&resp, v);
    }
    for v in versions::<hb::HeartbeatRequest>(0, 4) {
        let req = kp::HeartbeatRequest::default()
            .with_group_id(kp::GroupId(s("g")))
            .with_generation_id(3)
            .with_member_id(s("m-1"));
        let got: hb::HeartbeatRequest = request(&req, v);
        assert_eq!(got.generation_id, 3);
        let _: kp::HeartbeatResponse = response(
            &hb::HeartbeatResponse {
                error_code: 27,
                ..Default::default()
            },
            v,
        );
    }
    for v in versions::<lg::LeaveGroupRequest>(0, 5) {
        let req = if v >= 3 {
            kp::LeaveGroupRequest::default()
                .with_group_id(kp::GroupId(s("g")))
                .with_members(vec![
                    kp::leave_group_request::MemberIdentity::default().with_member_id(s("m-1")),
                ])
        } else {
            kp::LeaveGroupRequest::default()
                .with_group_id(kp::GroupId(s("g")))
                .with_member_id(s("m-1"))
        };
        let got: lg::LeaveGroupRequest = request(&req, v);
        assert!(got.member_id == "m-1" || got.members[0].member_id == "m-1");
        let resp = lg::LeaveGroupResponse {
            members: if v >= 3 {
                vec![lg::MemberResponse {
                    member_id: "m-1".into(),
                    group_instance_id: None,
                    error_code: 25,
                }]
            } else {
                vec![]
            },
            ..Default::default()
        };
        let _: kp::LeaveGroupResponse = response(&resp, v);
    }
}

#[test]
fn group_administration_and_the_consumer_protocol() {
    use ours::{
        consumer_group_describe as cgd, consumer_group_heartbeat as cgh, delete_groups as dg,
        describe_groups as dgs, list_groups as lg, offset_delete as od,
    };
    for v in versions::<lg::ListGroupsRequest>(0, 5) {
        let mut req = kp::ListGroupsRequest::default();
        if v >= 4 {
            req = req.with_states_filter(vec![s("Stable")]);
        }
        if v >= 5 {
            req = req.with_types_filter(vec![s("classic")]);
        }
        let got: lg::ListGroupsRequest = request(&req, v);
        assert_eq!(got.types_filter.len(), usize::from(v >= 5));
        let resp = lg::ListGroupsResponse {
            groups: vec![lg::ListedGroup {
                group_id: "g".into(),
                protocol_type: "consumer".into(),
                group_state: if v >= 4 {
                    "Stable".into()
                } else {
                    String::new()
                },
                group_type: if v >= 5 {
                    "classic".into()
                } else {
                    String::new()
                },
            }],
            ..Default::default()
        };
        let _: kp::ListGroupsResponse = response(&resp, v);
    }
    for v in versions::<dgs::DescribeGroupsRequest>(0, 6) {
        let req = kp::DescribeGroupsRequest::default().with_groups(vec![kp::GroupId(s("g"))]);
        let _: dgs::DescribeGroupsRequest = request(&req, v);
        let resp = dgs::DescribeGroupsResponse {
            groups: vec![dgs::DescribedGroup {
                error_message: (v >= 6).then(|| "not found".into()),
                group_id: "g".into(),
                group_state: "Stable".into(),
                protocol_type: "consumer".into(),
                protocol_data: "range".into(),
                members: vec![dgs::DescribedGroupMember {
                    member_id: "m".into(),
                    client_id: "c".into(),
                    client_host: "/127.0.0.1".into(),
                    member_assignment: codec::Bytes(vec![0, 0]),
                    ..Default::default()
                }],
                ..Default::default()
            }],
            ..Default::default()
        };
        let theirs: kp::DescribeGroupsResponse = response(&resp, v);
        assert_eq!(theirs.groups[0].error_message.is_some(), v >= 6);
    }
    for v in versions::<dg::DeleteGroupsRequest>(0, 2) {
        let req = kp::DeleteGroupsRequest::default().with_groups_names(vec![kp::GroupId(s("g"))]);
        let _: dg::DeleteGroupsRequest = request(&req, v);
        let resp = dg::DeleteGroupsResponse {
            results: vec![dg::DeletableGroupResult {
                group_id: "g".into(),
                error_code: 68,
            }],
            ..Default::default()
        };
        let _: kp::DeleteGroupsResponse = response(&resp, v);
    }
    for v in versions::<od::OffsetDeleteRequest>(0, 0) {
        let req = kp::OffsetDeleteRequest::default()
            .with_group_id(kp::GroupId(s("g")))
            .with_topics(vec![
                kp::offset_delete_request::OffsetDeleteRequestTopic::default()
                    .with_name(topic("t"))
                    .with_partitions(vec![
                        kp::offset_delete_request::OffsetDeleteRequestPartition::default()
                            .with_partition_index(2),
                    ]),
            ]);
        let got: od::OffsetDeleteRequest = request(&req, v);
        assert_eq!(got.topics[0].partitions[0].partition_index, 2);
        let resp = od::OffsetDeleteResponse {
            topics: vec![od::OffsetDeleteResponseTopic {
                name: "t".into(),
                partitions: vec![od::OffsetDeleteResponsePartition {
                    partition_index: 2,
                    error_code: 86,
                }],
            }],
            ..Default::default()
        };
        let _: kp::OffsetDeleteResponse = response(&resp, v);
    }
    for v in versions::<cgh::ConsumerGroupHeartbeatRequest>(0, 1) {
        let req = kp::ConsumerGroupHeartbeatRequest::default()
            .with_group_id(kp::GroupId(s("g")))
            .with_member_id(s("m"))
            .with_subscribed_topic_names(Some(vec![topic("t")]))
            .with_topic_partitions(Some(vec![
                kp::consumer_group_heartbeat_request::TopicPartitions::default()
                    .with_topic_id(uuid::Uuid::from_bytes([4; 16]))
                    .with_partitions(vec![0, 1]),
            ]));
        let got: cgh::ConsumerGroupHeartbeatRequest = request(&req, v);
        assert_eq!(got.topic_partitions.unwrap()[0].partitions, [0, 1]);
        let resp = cgh::ConsumerGroupHeartbeatResponse {
            member_id: Some("m".into()),
            member_epoch: 3,
            heartbeat_interval_ms: 5000,
            assignment: Some(cgh::Assignment {
                topic_partitions: vec![cgh::TopicPartitions {
                    topic_id: Uuid([4; 16]),
                    partitions: vec![2],
                }],
            }),
            ..Default::default()
        };
        let theirs: kp::ConsumerGroupHeartbeatResponse = response(&resp, v);
        assert_eq!(
            theirs.assignment.unwrap().topic_partitions[0].partitions,
            [2]
        );
        let none = cgh::ConsumerGroupHeartbeatResponse {
            member_epoch: 3,
            ..Default::default()
        };
        let theirs: kp::ConsumerGroupHeartbeatResponse = response(&none, v);
        assert!(theirs.assignment.is_none(), "a null struct");
    }
    for v in versions::<cgd::ConsumerGroupDescribeRequest>(0, 1) {
        let req =
            kp::ConsumerGroupDescribeRequest::default().with_group_ids(vec![kp::GroupId(s("g"))]);
        let _: cgd::ConsumerGroupDescribeRequest = request(&req, v);
        let assignment = cgd::DescribedAssignment {
            topic_partitions: vec![cgd::DescribedTopicPartitions {
                topic_id: Uuid([4; 16]),
                topic_name: "t".into(),
                partitions: vec![0],
            }],
        };
        let resp = cgd::ConsumerGroupDescribeResponse {
            groups: vec![cgd::DescribedConsumerGroup {
                group_id: "g".into(),
                group_state: "Stable".into(),
                group_epoch: 2,
                assignment_epoch: 2,
                assignor_name: "uniform".into(),
                members: vec![cgd::DescribedMember {
                    member_id: "m".into(),
                    member_epoch: 2,
                    client_id: "c".into(),
                    client_host: "/h".into(),
                    subscribed_topic_names: vec!["t".into()],
                    assignment: assignment.clone(),
                    target_assignment: assignment,
                    member_type: if v >= 1 { 1 } else { -1 },
                    ..Default::default()
                }],
                ..Default::default()
            }],
            ..Default::default()
        };
        let _: kp::ConsumerGroupDescribeResponse = response(&resp, v);
    }
}

#[test]
fn delete_records() {
    use ours::delete_records as dr;
    for v in versions::<dr::DeleteRecordsRequest>(0, 2) {
        let req = kp::DeleteRecordsRequest::default()
            .with_topics(vec![
                kp::delete_records_request::DeleteRecordsTopic::default()
                    .with_name(topic("orders"))
                    .with_partitions(vec![
                        kp::delete_records_request::DeleteRecordsPartition::default()
                            .with_partition_index(2)
                            .with_offset(-1),
                        kp::delete_records_request::DeleteRecordsPartition::default()
                            .with_partition_index(0)
                            .with_offset(40),
                    ]),
            ])
            .with_timeout_ms(30_000);
        let got: dr::DeleteRecordsRequest = request(&req, v);
        assert_eq!(got.topics[0].name, "orders");
        assert_eq!(got.topics[0].partitions[1].offset, 40);
        assert_eq!(got.timeout_ms, 30_000);
        let resp = dr::DeleteRecordsResponse {
            throttle_time_ms: 0,
            topics: vec![dr::DeleteRecordsTopicResult {
                name: "orders".into(),
                partitions: vec![dr::DeleteRecordsPartitionResult {
                    partition_index: 0,
                    low_watermark: 40,
                    error_code: 1,
                }],
            }],
        };
        let theirs: kp::DeleteRecordsResponse = response(&resp, v);
        assert_eq!(theirs.topics[0].partitions[0].low_watermark, 40);
        assert_eq!(theirs.topics[0].partitions[0].error_code, 1);
    }
}
