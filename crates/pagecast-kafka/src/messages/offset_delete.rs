//! OffsetDelete (key 47): a group's committed offsets for partitions it no longer reads.

use crate::wire_struct;

wire_struct! {
    /// A partition.
    pub struct OffsetDeleteRequestPartition {
        /// Partition number.
        partition_index: i32 => 0..;
    }
}

wire_struct! {
    /// A topic.
    pub struct OffsetDeleteRequestTopic {
        /// Topic name.
        name: String => 0..;
        /// Partitions.
        partitions: Vec<OffsetDeleteRequestPartition> => 0..;
    }
}

wire_struct! {
    /// OffsetDelete request.
    pub struct OffsetDeleteRequest {
        /// Group ID.
        group_id: String => 0..;
        /// Topics.
        topics: Vec<OffsetDeleteRequestTopic> => 0..;
    }
}

wire_struct! {
    /// A partition's result.
    pub struct OffsetDeleteResponsePartition {
        /// Partition number.
        partition_index: i32 => 0..;
        /// Error.
        error_code: i16 => 0..;
    }
}

wire_struct! {
    /// A topic's results.
    pub struct OffsetDeleteResponseTopic {
        /// Topic name.
        name: String => 0..;
        /// Partitions.
        partitions: Vec<OffsetDeleteResponsePartition> => 0..;
    }
}

wire_struct! {
    /// OffsetDelete response.
    pub struct OffsetDeleteResponse {
        /// Group error.
        error_code: i16 => 0..;
        /// Throttle time.
        throttle_time_ms: i32 => 0..;
        /// Topics.
        topics: Vec<OffsetDeleteResponseTopic> => 0..;
    }
}

crate::wire_api!(OffsetDeleteRequest, OffsetDeleteResponse, key 47, versions 0..=0, flexible i16::MAX);
