//! Heartbeat (key 12): a member is alive, and learns of rebalances.

use crate::wire_struct;

wire_struct! {
    /// Heartbeat request.
    pub struct HeartbeatRequest {
        /// Group ID.
        group_id: String => 0..;
        /// Generation.
        generation_id: i32 => 0..;
        /// Member ID.
        member_id: String => 0..;
        /// Static member's instance ID (v3+).
        group_instance_id: Option<String> => 3..;
    }
}

wire_struct! {
    /// Heartbeat response.
    pub struct HeartbeatResponse {
        /// Throttle time (v1+).
        throttle_time_ms: i32 => 1..;
        /// Error.
        error_code: i16 => 0..;
    }
}

crate::wire_api!(HeartbeatRequest, HeartbeatResponse, key 12, versions 0..=4, flexible 4);
