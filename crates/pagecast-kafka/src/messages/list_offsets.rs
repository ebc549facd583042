//! ListOffsets (key 2): the offset at a timestamp, or the earliest, latest or
//! largest-timestamp offset of a partition.

use crate::wire_struct;

/// Timestamp asking for the next offset (the log end).
pub const LATEST: i64 = -1;
/// Timestamp asking for the first offset.
pub const EARLIEST: i64 = -2;
/// Timestamp asking for the record with the largest timestamp (v7+).
pub const MAX_TIMESTAMP: i64 = -3;

wire_struct! {
    /// One partition asked about.
    pub struct ListOffsetsPartition {
        /// Partition number.
        partition_index: i32 => 0..;
        /// The leader epoch the client knows.
        current_leader_epoch: i32 => 4.., default -1;
        /// A timestamp, or [`LATEST`], [`EARLIEST`], [`MAX_TIMESTAMP`].
        timestamp: i64 => 0..;
    }
}

wire_struct! {
    /// One topic asked about.
    pub struct ListOffsetsTopic {
        /// Topic name.
        name: String => 0..;
        /// Partitions.
        partitions: Vec<ListOffsetsPartition> => 0..;
    }
}

wire_struct! {
    /// ListOffsets request.
    pub struct ListOffsetsRequest {
        /// -1 for consumers.
        replica_id: i32 => 0..;
        /// 0: read_uncommitted; 1: read_committed.
        isolation_level: i8 => 2..;
        /// Topics.
        topics: Vec<ListOffsetsTopic> => 0..;
    }
}

wire_struct! {
    /// One partition's answer.
    pub struct ListOffsetsPartitionResponse {
        /// Partition number.
        partition_index: i32 => 0..;
        /// Error.
        error_code: i16 => 0..;
        /// Timestamp of the record found, or -1.
        timestamp: i64 => 0.., default -1;
        /// Offset found, or -1.
        offset: i64 => 0.., default -1;
        /// Leader epoch of the record found.
        leader_epoch: i32 => 4.., default -1;
    }
}

wire_struct! {
    /// One topic's answers.
    pub struct ListOffsetsTopicResponse {
        /// Topic name.
        name: String => 0..;
        /// Partitions.
        partitions: Vec<ListOffsetsPartitionResponse> => 0..;
    }
}

wire_struct! {
    /// ListOffsets response.
    pub struct ListOffsetsResponse {
        /// Throttle time.
        throttle_time_ms: i32 => 2..;
        /// Topics.
        topics: Vec<ListOffsetsTopicResponse> => 0..;
    }
}

crate::wire_api!(ListOffsetsRequest, ListOffsetsResponse, key 2, versions 1..=7, flexible 6);
