//! CreatePartitions (key 37): more partitions for a topic.

use crate::wire_struct;

wire_struct! {
    /// Replicas of one new partition.
    pub struct CreatePartitionsAssignment {
        /// Broker IDs.
        broker_ids: Vec<i32> => 0..;
    }
}

wire_struct! {
    /// A topic to grow.
    pub struct CreatePartitionsTopic {
        /// Topic name.
        name: String => 0..;
        /// The new partition count.
        count: i32 => 0..;
        /// Replicas of the new partitions, or null.
        assignments: Option<Vec<CreatePartitionsAssignment>> => 0..;
    }
}

wire_struct! {
    /// CreatePartitions request.
    pub struct CreatePartitionsRequest {
        /// Topics.
        topics: Vec<CreatePartitionsTopic> => 0..;
        /// How long to wait.
        timeout_ms: i32 => 0..;
        /// Only validate.
        validate_only: bool => 0..;
    }
}

wire_struct! {
    /// One topic's result.
    pub struct CreatePartitionsTopicResult {
        /// Topic name.
        name: String => 0..;
        /// Error.
        error_code: i16 => 0..;
        /// Error message.
        error_message: Option<String> => 0..;
    }
}

wire_struct! {
    /// CreatePartitions response.
    pub struct CreatePartitionsResponse {
        /// Throttle time.
        throttle_time_ms: i32 => 0..;
        /// Results.
        results: Vec<CreatePartitionsTopicResult> => 0..;
    }
}

crate::wire_api!(CreatePartitionsRequest, CreatePartitionsResponse, key 37, versions 0..=3, flexible 2);
