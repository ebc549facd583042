//! Metadata (key 3): brokers, topics, partitions and their leaders, and topic IDs.

use crate::codec::Uuid;
use crate::wire_struct;

wire_struct! {
    /// A topic asked about.
    pub struct MetadataRequestTopic {
        /// Topic ID (v10+), or nil.
        topic_id: Uuid => 10..;
        /// Topic name (null in v10+ when asking by ID).
        name: Option<String> => 0..;
    }
}

wire_struct! {
    /// Metadata request.
    pub struct MetadataRequest {
        /// Topics to describe; null (v1+) or empty (v0) for every topic.
        topics: Option<Vec<MetadataRequestTopic>> => 0..;
        /// Whether missing topics may be created.
        allow_auto_topic_creation: bool => 4.., default true;
        /// Whether to include cluster authorized operations.
        include_cluster_authorized_operations: bool => 8..=10;
        /// Whether to include topic authorized operations.
        include_topic_authorized_operations: bool => 8..;
    }
}

wire_struct! {
    /// A broker.
    pub struct MetadataResponseBroker {
        /// Node ID.
        node_id: i32 => 0..;
        /// Host clients connect to.
        host: String => 0..;
        /// Port clients connect to.
        port: i32 => 0..;
        /// Rack, or null.
        rack: Option<String> => 1..;
    }
}

wire_struct! {
    /// A partition.
    pub struct MetadataResponsePartition {
        /// Partition error.
        error_code: i16 => 0..;
        /// Partition number.
        partition_index: i32 => 0..;
        /// Leader's node ID.
        leader_id: i32 => 0..;
        /// Leader epoch.
        leader_epoch: i32 => 7.., default -1;
        /// Replicas.
        replica_nodes: Vec<i32> => 0..;
        /// In-sync replicas.
        isr_nodes: Vec<i32> => 0..;
        /// Offline replicas.
        offline_replicas: Vec<i32> => 5..;
    }
}

wire_struct! {
    /// A topic.
    pub struct MetadataResponseTopic {
        /// Topic error.
        error_code: i16 => 0..;
        /// Topic name.
        name: Option<String> => 0..;
        /// Topic ID.
        topic_id: Uuid => 10..;
        /// Whether the topic is internal.
        is_internal: bool => 1..;
        /// Partitions.
        partitions: Vec<MetadataResponsePartition> => 0..;
        /// Authorized operations bitfield.
        topic_authorized_operations: i32 => 8.., default i32::MIN;
    }
}

wire_struct! {
    /// Metadata response.
    pub struct MetadataResponse {
        /// Throttle time.
        throttle_time_ms: i32 => 3..;
        /// Brokers.
        brokers: Vec<MetadataResponseBroker> => 0..;
        /// Cluster ID.
        cluster_id: Option<String> => 2..;
        /// Controller's node ID.
        controller_id: i32 => 1.., default -1;
        /// Topics.
        topics: Vec<MetadataResponseTopic> => 0..;
        /// Cluster authorized operations bitfield.
        cluster_authorized_operations: i32 => 8..=10, default i32::MIN;
    }
}

crate::wire_api!(MetadataRequest, MetadataResponse, key 3, versions 0..=12, flexible 9);
