//! ConsumerGroupDescribe (key 69): a KIP-848 group's epochs, assignor and members with
//! their current and target assignments.

use crate::codec::Uuid;
use crate::wire_struct;

wire_struct! {
    /// ConsumerGroupDescribe request.
    pub struct ConsumerGroupDescribeRequest {
        /// Groups.
        group_ids: Vec<String> => 0..;
        /// Include authorized operations.
        include_authorized_operations: bool => 0..;
    }
}

wire_struct! {
    /// Partitions of one topic.
    pub struct DescribedTopicPartitions {
        /// Topic ID.
        topic_id: Uuid => 0..;
        /// Topic name.
        topic_name: String => 0..;
        /// Partitions.
        partitions: Vec<i32> => 0..;
    }
}

wire_struct! {
    /// An assignment.
    pub struct DescribedAssignment {
        /// Partitions by topic.
        topic_partitions: Vec<DescribedTopicPartitions> => 0..;
    }
}

wire_struct! {
    /// A member.
    pub struct DescribedMember {
        /// Member ID.
        member_id: String => 0..;
        /// Static instance ID.
        instance_id: Option<String> => 0..;
        /// Rack.
        rack_id: Option<String> => 0..;
        /// Member epoch.
        member_epoch: i32 => 0..;
        /// Client ID.
        client_id: String => 0..;
        /// Client host.
        client_host: String => 0..;
        /// Subscribed topics.
        subscribed_topic_names: Vec<String> => 0..;
        /// Subscribed regular expression.
        subscribed_topic_regex: Option<String> => 0..;
        /// Current assignment.
        assignment: DescribedAssignment => 0..;
        /// Target assignment.
        target_assignment: DescribedAssignment => 0..;
        /// Member type (v1+): -1 unknown, 0 classic, 1 consumer.
        member_type: i8 => 1.., default -1;
    }
}

wire_struct! {
    /// A group.
    pub struct DescribedConsumerGroup {
        /// Error.
        error_code: i16 => 0..;
        /// Error message.
        error_message: Option<String> => 0..;
        /// Group ID.
        group_id: String => 0..;
        /// State.
        group_state: String => 0..;
        /// Group epoch.
        group_epoch: i32 => 0..;
        /// Epoch of the target assignment.
        assignment_epoch: i32 => 0..;
        /// Assignor.
        assignor_name: String => 0..;
        /// Members.
        members: Vec<DescribedMember> => 0..;
        /// Authorized operations.
        authorized_operations: i32 => 0.., default i32::MIN;
    }
}

wire_struct! {
    /// ConsumerGroupDescribe response.
    pub struct ConsumerGroupDescribeResponse {
        /// Throttle time.
        throttle_time_ms: i32 => 0..;
        /// Groups.
        groups: Vec<DescribedConsumerGroup> => 0..;
    }
}

crate::wire_api!(ConsumerGroupDescribeRequest, ConsumerGroupDescribeResponse, key 69, versions 0..=1, flexible 0);
