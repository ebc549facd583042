//! OffsetCommit (key 8): a group's consumed positions, made durable.

use crate::wire_struct;

wire_struct! {
    /// One partition's position.
    pub struct OffsetCommitRequestPartition {
        /// Partition number.
        partition_index: i32 => 0..;
        /// Next offset to consume.
        committed_offset: i64 => 0..;
        /// Leader epoch of the last consumed record.
        committed_leader_epoch: i32 => 6.., default -1;
        /// Client metadata.
        committed_metadata: Option<String> => 0..;
    }
}

wire_struct! {
    /// One topic's positions.
    pub struct OffsetCommitRequestTopic {
        /// Topic name.
        name: String => 0..;
        /// Partitions.
        partitions: Vec<OffsetCommitRequestPartition> => 0..;
    }
}

wire_struct! {
    /// OffsetCommit request.
    pub struct OffsetCommitRequest {
        /// Group ID.
        group_id: String => 0..;
        /// Generation (a consumer-protocol member's epoch from v9), or -1 for a commit
        /// outside group membership.
        generation_id_or_member_epoch: i32 => 1.., default -1;
        /// Member ID.
        member_id: String => 1..;
        /// Static member's instance ID.
        group_instance_id: Option<String> => 7..;
        /// Retention (v2 to v4), -1 for the broker's.
        retention_time_ms: i64 => 2..=4, default -1;
        /// Topics.
        topics: Vec<OffsetCommitRequestTopic> => 0..;
    }
}

wire_struct! {
    /// One partition's result.
    pub struct OffsetCommitResponsePartition {
        /// Partition number.
        partition_index: i32 => 0..;
        /// Error.
        error_code: i16 => 0..;
    }
}

wire_struct! {
    /// One topic's results.
    pub struct OffsetCommitResponseTopic {
        /// Topic name.
        name: String => 0..;
        /// Partitions.
        partitions: Vec<OffsetCommitResponsePartition> => 0..;
    }
}

wire_struct! {
    /// OffsetCommit response.
    pub struct OffsetCommitResponse {
        /// Throttle time.
        throttle_time_ms: i32 => 3..;
        /// Topics.
        topics: Vec<OffsetCommitResponseTopic> => 0..;
    }
}

crate::wire_api!(OffsetCommitRequest, OffsetCommitResponse, key 8, versions 2..=9, flexible 8);
