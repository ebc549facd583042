//! Fetch (key 1): record batches from partitions. The broker never builds a
//! [`FetchResponse`] value to answer: its record data goes out as file regions or
//! mapped slices (`crate::broker::fetch`). The described response is what that
//! encoder must match, byte for byte, and what clients decode.

use crate::codec::{Bytes, Uuid};
use crate::messages::produce::LeaderIdAndEpoch;
use crate::wire_struct;

wire_struct! {
    /// One partition to fetch.
    pub struct FetchPartition {
        /// Partition number.
        partition: i32 => 0..;
        /// The leader epoch the client knows.
        current_leader_epoch: i32 => 9.., default -1;
        /// First offset wanted.
        fetch_offset: i64 => 0..;
        /// Epoch of the last fetched record (followers).
        last_fetched_epoch: i32 => 12.., default -1;
        /// The follower's log start offset.
        log_start_offset: i64 => 5.., default -1;
        /// Most bytes for this partition.
        partition_max_bytes: i32 => 0..;
    }
}

wire_struct! {
    /// One topic to fetch.
    pub struct FetchTopic {
        /// Topic name (before v13).
        topic: String => 0..=12;
        /// Topic ID (v13+).
        topic_id: Uuid => 13..;
        /// Partitions.
        partitions: Vec<FetchPartition> => 0..;
    }
}

wire_struct! {
    /// Partitions a fetch session no longer wants.
    pub struct ForgottenTopic {
        /// Topic name (before v13).
        topic: String => 7..=12;
        /// Topic ID (v13+).
        topic_id: Uuid => 13..;
        /// Partitions.
        partitions: Vec<i32> => 7..;
    }
}

wire_struct! {
    /// A follower's state (v15+).
    pub struct ReplicaState {
        /// Replica's node ID.
        replica_id: i32 => 15.., default -1;
        /// Replica's broker epoch.
        replica_epoch: i64 => 15.., default -1;
    }
}

wire_struct! {
    /// Fetch request.
    pub struct FetchRequest {
        /// Cluster ID the client expects.
        cluster_id: Option<String> => 12.., tag 0;
        /// -1 for consumers (before v15).
        replica_id: i32 => 0..=14, default -1;
        /// Follower state (v15+).
        replica_state: ReplicaState => 15.., tag 1;
        /// Longest wait for min_bytes.
        max_wait_ms: i32 => 0..;
        /// Fewest bytes worth answering with.
        min_bytes: i32 => 0..;
        /// Most bytes in the response.
        max_bytes: i32 => 3.., default i32::MAX;
        /// 0: read_uncommitted; 1: read_committed.
        isolation_level: i8 => 4..;
        /// Fetch session ID.
        session_id: i32 => 7..;
        /// Fetch session epoch.
        session_epoch: i32 => 7.., default -1;
        /// Topics.
        topics: Vec<FetchTopic> => 0..;
        /// Partitions to remove from the session.
        forgotten_topics_data: Vec<ForgottenTopic> => 7..;
        /// The client's rack.
        rack_id: String => 11..;
    }
}

wire_struct! {
    /// An aborted transaction in the fetched range.
    pub struct AbortedTransaction {
        /// Producer ID.
        producer_id: i64 => 4..;
        /// First offset of the transaction.
        first_offset: i64 => 4..;
    }
}

wire_struct! {
    /// Where a follower's log diverges.
    pub struct EpochEndOffset {
        /// Epoch.
        epoch: i32 => 12.., default -1;
        /// End offset.
        end_offset: i64 => 12.., default -1;
    }
}

wire_struct! {
    /// A snapshot to fetch instead (KRaft).
    pub struct SnapshotId {
        /// End offset.
        end_offset: i64 => 0.., default -1;
        /// Epoch.
        epoch: i32 => 0.., default -1;
    }
}

wire_struct! {
    /// One partition's data.
    pub struct PartitionData {
        /// Partition number.
        partition_index: i32 => 0..;
        /// Error.
        error_code: i16 => 0..;
        /// High watermark.
        high_watermark: i64 => 0..;
        /// Last stable offset.
        last_stable_offset: i64 => 4.., default -1;
        /// Log start offset.
        log_start_offset: i64 => 5.., default -1;
        /// Divergence, for followers.
        diverging_epoch: EpochEndOffset => 12.., tag 0;
        /// Current leader, on a leadership error.
        current_leader: LeaderIdAndEpoch => 12.., tag 1;
        /// Snapshot to fetch instead.
        snapshot_id: SnapshotId => 12.., tag 2;
        /// Aborted transactions.
        aborted_transactions: Option<Vec<AbortedTransaction>> => 4..;
        /// Replica to read from instead.
        preferred_read_replica: i32 => 11.., default -1;
        /// Record batches.
        records: Option<Bytes> => 0..;
    }
}

wire_struct! {
    /// One topic's data.
    pub struct FetchableTopicResponse {
        /// Topic name (before v13).
        topic: String => 0..=12;
        /// Topic ID (v13+).
        topic_id: Uuid => 13..;
        /// Partitions.
        partitions: Vec<PartitionData> => 0..;
    }
}

wire_struct! {
    /// A broker's endpoint (v16+).
    pub struct FetchNodeEndpoint {
        /// Node ID.
        node_id: i32 => 16..;
        /// Host.
        host: String => 16..;
        /// Port.
        port: i32 => 16..;
        /// Rack.
        rack: Option<String> => 16..;
    }
}

wire_struct! {
    /// Fetch response.
    pub struct FetchResponse {
        /// Throttle time.
        throttle_time_ms: i32 => 1..;
        /// Top-level error.
        error_code: i16 => 7..;
        /// Fetch session ID.
        session_id: i32 => 7..;
        /// Topics.
        responses: Vec<FetchableTopicResponse> => 0..;
        /// Endpoints of leaders named in `current_leader`.
        node_endpoints: Vec<FetchNodeEndpoint> => 16.., tag 0;
    }
}

crate::wire_api!(FetchRequest, FetchResponse, key 1, versions 4..=16, flexible 12);
