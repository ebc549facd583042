//! OffsetFetch (key 9): a group's committed positions.

use crate::wire_struct;

wire_struct! {
    /// One topic asked about (before v8).
    pub struct OffsetFetchRequestTopic {
        /// Topic name.
        name: String => 0..=7;
        /// Partitions.
        partition_indexes: Vec<i32> => 0..=7;
    }
}

wire_struct! {
    /// One topic asked about (v8+).
    pub struct OffsetFetchRequestTopics {
        /// Topic name.
        name: String => 8..;
        /// Partitions.
        partition_indexes: Vec<i32> => 8..;
    }
}

wire_struct! {
    /// One group asked about (v8+).
    pub struct OffsetFetchRequestGroup {
        /// Group ID.
        group_id: String => 8..;
        /// Member ID of a consumer-protocol member (v9+), or null.
        member_id: Option<String> => 9..;
        /// Its member epoch (v9+), or -1.
        member_epoch: i32 => 9.., default -1;
        /// Topics, or null for all.
        topics: Option<Vec<OffsetFetchRequestTopics>> => 8..;
    }
}

wire_struct! {
    /// OffsetFetch request.
    pub struct OffsetFetchRequest {
        /// Group ID (before v8).
        group_id: String => 0..=7;
        /// Topics, or null (v2+) for all (before v8).
        topics: Option<Vec<OffsetFetchRequestTopic>> => 0..=7;
        /// Groups (v8+).
        groups: Vec<OffsetFetchRequestGroup> => 8..;
        /// Wait for pending transactional commits.
        require_stable: bool => 7..;
    }
}

wire_struct! {
    /// One partition's position (before v8).
    pub struct OffsetFetchResponsePartition {
        /// Partition number.
        partition_index: i32 => 0..=7;
        /// Committed offset, or -1.
        committed_offset: i64 => 0..=7;
        /// Leader epoch.
        committed_leader_epoch: i32 => 5..=7, default -1;
        /// Client metadata.
        metadata: Option<String> => 0..=7;
        /// Error.
        error_code: i16 => 0..=7;
    }
}

wire_struct! {
    /// One topic's positions (before v8).
    pub struct OffsetFetchResponseTopic {
        /// Topic name.
        name: String => 0..=7;
        /// Partitions.
        partitions: Vec<OffsetFetchResponsePartition> => 0..=7;
    }
}

wire_struct! {
    /// One partition's position (v8+).
    pub struct OffsetFetchResponsePartitions {
        /// Partition number.
        partition_index: i32 => 8..;
        /// Committed offset, or -1.
        committed_offset: i64 => 8..;
        /// Leader epoch.
        committed_leader_epoch: i32 => 8.., default -1;
        /// Client metadata.
        metadata: Option<String> => 8..;
        /// Error.
        error_code: i16 => 8..;
    }
}

wire_struct! {
    /// One topic's positions (v8+).
    pub struct OffsetFetchResponseTopics {
        /// Topic name.
        name: String => 8..;
        /// Partitions.
        partitions: Vec<OffsetFetchResponsePartitions> => 8..;
    }
}

wire_struct! {
    /// One group's positions (v8+).
    pub struct OffsetFetchResponseGroup {
        /// Group ID.
        group_id: String => 8..;
        /// Topics.
        topics: Vec<OffsetFetchResponseTopics> => 8..;
        /// Group error.
        error_code: i16 => 8..;
    }
}

wire_struct! {
    /// OffsetFetch response.
    pub struct OffsetFetchResponse {
        /// Throttle time.
        throttle_time_ms: i32 => 3..;
        /// Topics (before v8).
        topics: Vec<OffsetFetchResponseTopic> => 0..=7;
        /// Error (v2 to v7).
        error_code: i16 => 2..=7;
        /// Groups (v8+).
        groups: Vec<OffsetFetchResponseGroup> => 8..;
    }
}

crate::wire_api!(OffsetFetchRequest, OffsetFetchResponse, key 9, versions 1..=9, flexible 6);
