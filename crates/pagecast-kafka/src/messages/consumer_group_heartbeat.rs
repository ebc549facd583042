//! ConsumerGroupHeartbeat (key 68): the KIP-848 consumer protocol. A member joins,
//! heartbeats and leaves with one request; the broker assigns partitions itself and
//! hands each member its share incrementally.

use crate::codec::Uuid;
use crate::wire_struct;

wire_struct! {
    /// Partitions of one topic, by topic ID.
    pub struct TopicPartitions {
        /// Topic ID.
        topic_id: Uuid => 0..;
        /// Partitions.
        partitions: Vec<i32> => 0..;
    }
}

wire_struct! {
    /// ConsumerGroupHeartbeat request.
    pub struct ConsumerGroupHeartbeatRequest {
        /// Group ID.
        group_id: String => 0..;
        /// Member ID: empty to join in v0 (the broker makes one), the client's own in v1.
        member_id: String => 0..;
        /// 0 to join, -1 to leave, -2 for a static member leaving for a while; else the
        /// member's current epoch.
        member_epoch: i32 => 0..;
        /// Static instance ID.
        instance_id: Option<String> => 0..;
        /// Rack.
        rack_id: Option<String> => 0..;
        /// Rebalance timeout, or -1 if unchanged.
        rebalance_timeout_ms: i32 => 0.., default -1;
        /// Subscribed topics, or null if unchanged.
        subscribed_topic_names: Option<Vec<String>> => 0..;
        /// Subscribed topic regular expression (v1+), or null.
        subscribed_topic_regex: Option<String> => 1..;
        /// Server-side assignor, or null for the broker's default.
        server_assignor: Option<String> => 0..;
        /// Partitions the member owns now, or null if unchanged.
        topic_partitions: Option<Vec<TopicPartitions>> => 0..;
    }
}

wire_struct! {
    /// A member's assignment.
    pub struct Assignment {
        /// Partitions by topic.
        topic_partitions: Vec<TopicPartitions> => 0..;
    }
}

wire_struct! {
    /// ConsumerGroupHeartbeat response.
    pub struct ConsumerGroupHeartbeatResponse {
        /// Throttle time.
        throttle_time_ms: i32 => 0..;
        /// Error.
        error_code: i16 => 0..;
        /// Error message.
        error_message: Option<String> => 0..;
        /// Member ID.
        member_id: Option<String> => 0..;
        /// The member's epoch.
        member_epoch: i32 => 0..;
        /// How often to heartbeat.
        heartbeat_interval_ms: i32 => 0..;
        /// The member's assignment, or null if unchanged.
        assignment: Option<Assignment> => 0..;
    }
}

crate::wire_api!(ConsumerGroupHeartbeatRequest, ConsumerGroupHeartbeatResponse, key 68, versions 0..=1, flexible 0);
