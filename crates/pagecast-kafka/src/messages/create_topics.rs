//! CreateTopics (key 19).

use crate::codec::Uuid;
use crate::wire_struct;

wire_struct! {
    /// A partition's replicas, when the client assigns them.
    pub struct CreatableReplicaAssignment {
        /// Partition number.
        partition_index: i32 => 0..;
        /// Broker IDs of the replicas.
        broker_ids: Vec<i32> => 0..;
    }
}

wire_struct! {
    /// A setting for the new topic.
    pub struct CreatableTopicConfig {
        /// Setting name.
        name: String => 0..;
        /// Value, or null.
        value: Option<String> => 0..;
    }
}

wire_struct! {
    /// A topic to create.
    pub struct CreatableTopic {
        /// Topic name.
        name: String => 0..;
        /// Partitions, or -1 for the broker's default.
        num_partitions: i32 => 0..;
        /// Replication factor, or -1 for the broker's default.
        replication_factor: i16 => 0..;
        /// Manual assignment of replicas.
        assignments: Vec<CreatableReplicaAssignment> => 0..;
        /// Settings.
        configs: Vec<CreatableTopicConfig> => 0..;
    }
}

wire_struct! {
    /// CreateTopics request.
    pub struct CreateTopicsRequest {
        /// Topics.
        topics: Vec<CreatableTopic> => 0..;
        /// How long to wait for creation.
        timeout_ms: i32 => 0.., default 60_000;
        /// Only validate.
        validate_only: bool => 1..;
    }
}

wire_struct! {
    /// A setting of a created topic (v5+).
    pub struct CreatableTopicConfigs {
        /// Name.
        name: String => 5..;
        /// Value.
        value: Option<String> => 5..;
        /// Whether it is read-only.
        read_only: bool => 5..;
        /// Where the value comes from.
        config_source: i8 => 5.., default -1;
        /// Whether it is sensitive.
        is_sensitive: bool => 5..;
    }
}

wire_struct! {
    /// One topic's result.
    pub struct CreatableTopicResult {
        /// Topic name.
        name: String => 0..;
        /// Topic ID (v7+).
        topic_id: Uuid => 7..;
        /// Error.
        error_code: i16 => 0..;
        /// Error message.
        error_message: Option<String> => 1..;
        /// Error describing the settings (v5+).
        topic_config_error_code: i16 => 5.., tag 0;
        /// Partitions.
        num_partitions: i32 => 5.., default -1;
        /// Replication factor.
        replication_factor: i16 => 5.., default -1;
        /// Settings.
        configs: Option<Vec<CreatableTopicConfigs>> => 5..;
    }
}

wire_struct! {
    /// CreateTopics response.
    pub struct CreateTopicsResponse {
        /// Throttle time.
        throttle_time_ms: i32 => 2..;
        /// Topics.
        topics: Vec<CreatableTopicResult> => 0..;
    }
}

crate::wire_api!(CreateTopicsRequest, CreateTopicsResponse, key 19, versions 2..=7, flexible 5);
