//! DeleteTopics (key 20).

use crate::codec::Uuid;
use crate::wire_struct;

wire_struct! {
    /// A topic to delete, by name or ID (v6+).
    pub struct DeleteTopicState {
        /// Name, or null to use the ID.
        name: Option<String> => 6..;
        /// ID.
        topic_id: Uuid => 6..;
    }
}

wire_struct! {
    /// DeleteTopics request.
    pub struct DeleteTopicsRequest {
        /// Topics (v6+).
        topics: Vec<DeleteTopicState> => 6..;
        /// Topic names (before v6).
        topic_names: Vec<String> => 0..=5;
        /// How long to wait.
        timeout_ms: i32 => 0..;
    }
}

wire_struct! {
    /// One topic's result.
    pub struct DeletableTopicResult {
        /// Name.
        name: Option<String> => 0..;
        /// ID (v6+).
        topic_id: Uuid => 6..;
        /// Error.
        error_code: i16 => 0..;
        /// Error message (v5+).
        error_message: Option<String> => 5..;
    }
}

wire_struct! {
    /// DeleteTopics response.
    pub struct DeleteTopicsResponse {
        /// Throttle time.
        throttle_time_ms: i32 => 1..;
        /// Topics.
        responses: Vec<DeletableTopicResult> => 0..;
    }
}

crate::wire_api!(DeleteTopicsRequest, DeleteTopicsResponse, key 20, versions 1..=6, flexible 4);
