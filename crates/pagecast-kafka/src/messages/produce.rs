//! Produce (key 0): record batches for partitions. Versions 0 to 2 carry the old
//! message formats, which the stores do not keep: they are read and answered with
//! UNSUPPORTED_VERSION, as Kafka 4 does, because librdkafka before 2.11.1 turns
//! compression off unless Produce is advertised from version 0.

use crate::codec::Bytes;
use crate::wire_struct;

wire_struct! {
    /// One partition's records.
    pub struct PartitionProduceData {
        /// Partition number.
        index: i32 => 0..;
        /// Record batches.
        records: Option<Bytes> => 0..;
    }
}

wire_struct! {
    /// One topic's partitions.
    pub struct TopicProduceData {
        /// Topic name.
        name: String => 0..;
        /// Partitions.
        partition_data: Vec<PartitionProduceData> => 0..;
    }
}

wire_struct! {
    /// Produce request.
    pub struct ProduceRequest {
        /// Transactional ID, or null.
        transactional_id: Option<String> => 3..;
        /// 0: no answer; 1: the leader stored it; -1: every in-sync replica did.
        acks: i16 => 0..;
        /// Time to wait for the acknowledgements.
        timeout_ms: i32 => 0..;
        /// Topics.
        topic_data: Vec<TopicProduceData> => 0..;
    }
}

wire_struct! {
    /// The batch that made a partition's append fail.
    pub struct BatchIndexAndErrorMessage {
        /// Index of the batch in the partition's records.
        batch_index: i32 => 8..;
        /// What is wrong with it.
        batch_index_error_message: Option<String> => 8..;
    }
}

wire_struct! {
    /// A partition's leader and epoch.
    pub struct LeaderIdAndEpoch {
        /// Leader's node ID.
        leader_id: i32 => 10.., default -1;
        /// Leader epoch.
        leader_epoch: i32 => 10.., default -1;
    }
}

wire_struct! {
    /// A broker's endpoint.
    pub struct NodeEndpoint {
        /// Node ID.
        node_id: i32 => 10..;
        /// Host.
        host: String => 10..;
        /// Port.
        port: i32 => 10..;
        /// Rack.
        rack: Option<String> => 10..;
    }
}

wire_struct! {
    /// One partition's result.
    pub struct PartitionProduceResponse {
        /// Partition number.
        index: i32 => 0..;
        /// Error.
        error_code: i16 => 0..;
        /// Offset given to the first record.
        base_offset: i64 => 0..;
        /// Append time, when the topic uses LogAppendTime; else -1.
        log_append_time_ms: i64 => 2.., default -1;
        /// The partition's first offset.
        log_start_offset: i64 => 5.., default -1;
        /// Batches that failed.
        record_errors: Vec<BatchIndexAndErrorMessage> => 8..;
        /// Error message.
        error_message: Option<String> => 8..;
        /// Current leader, on a leadership error.
        current_leader: LeaderIdAndEpoch => 10.., tag 0;
    }
}

wire_struct! {
    /// One topic's results.
    pub struct TopicProduceResponse {
        /// Topic name.
        name: String => 0..;
        /// Partitions.
        partition_responses: Vec<PartitionProduceResponse> => 0..;
    }
}

wire_struct! {
    /// Produce response.
    pub struct ProduceResponse {
        /// Topics.
        responses: Vec<TopicProduceResponse> => 0..;
        /// Throttle time.
        throttle_time_ms: i32 => 1..;
        /// Endpoints of the leaders named in `current_leader`.
        node_endpoints: Vec<NodeEndpoint> => 10.., tag 0;
    }
}

crate::wire_api!(ProduceRequest, ProduceResponse, key 0, versions 0..=10, flexible 9);
