//! DeleteRecords (key 21): moves partitions' log start offsets up, so the records below
//! are no longer served (`kafka-delete-records`, and Kafka Streams purging its
//! repartition topics).

use crate::wire_struct;

wire_struct! {
    /// A partition and the offset below which its records go.
    pub struct DeleteRecordsPartition {
        /// Partition number.
        partition_index: i32 => 0..;
        /// The new log start offset; -1 for the high watermark.
        offset: i64 => 0..;
    }
}

wire_struct! {
    /// A topic's partitions.
    pub struct DeleteRecordsTopic {
        /// Topic name.
        name: String => 0..;
        /// Partitions.
        partitions: Vec<DeleteRecordsPartition> => 0..;
    }
}

wire_struct! {
    /// DeleteRecords request.
    pub struct DeleteRecordsRequest {
        /// Topics.
        topics: Vec<DeleteRecordsTopic> => 0..;
        /// How long to wait for the deletion.
        timeout_ms: i32 => 0..;
    }
}

wire_struct! {
    /// A partition's result.
    pub struct DeleteRecordsPartitionResult {
        /// Partition number.
        partition_index: i32 => 0..;
        /// The log start offset after the deletion.
        low_watermark: i64 => 0..;
        /// Error.
        error_code: i16 => 0..;
    }
}

wire_struct! {
    /// A topic's results.
    pub struct DeleteRecordsTopicResult {
        /// Topic name.
        name: String => 0..;
        /// Partitions.
        partitions: Vec<DeleteRecordsPartitionResult> => 0..;
    }
}

wire_struct! {
    /// DeleteRecords response.
    pub struct DeleteRecordsResponse {
        /// Throttle time.
        throttle_time_ms: i32 => 0..;
        /// Topics.
        topics: Vec<DeleteRecordsTopicResult> => 0..;
    }
}

crate::wire_api!(DeleteRecordsRequest, DeleteRecordsResponse, key 21, versions 0..=2, flexible 2);
