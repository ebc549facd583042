//! SyncGroup (key 14): the leader hands out assignments; every member gets its own.

use crate::codec::Bytes;
use crate::wire_struct;

wire_struct! {
    /// One member's assignment, from the leader.
    pub struct SyncGroupRequestAssignment {
        /// Member ID.
        member_id: String => 0..;
        /// The assignment.
        assignment: Bytes => 0..;
    }
}

wire_struct! {
    /// SyncGroup request.
    pub struct SyncGroupRequest {
        /// Group ID.
        group_id: String => 0..;
        /// Generation.
        generation_id: i32 => 0..;
        /// Member ID.
        member_id: String => 0..;
        /// Static member's instance ID (v3+).
        group_instance_id: Option<String> => 3..;
        /// Protocol type (v5+).
        protocol_type: Option<String> => 5..;
        /// Protocol name (v5+).
        protocol_name: Option<String> => 5..;
        /// Assignments, from the leader only.
        assignments: Vec<SyncGroupRequestAssignment> => 0..;
    }
}

wire_struct! {
    /// SyncGroup response.
    pub struct SyncGroupResponse {
        /// Throttle time (v1+).
        throttle_time_ms: i32 => 1..;
        /// Error.
        error_code: i16 => 0..;
        /// Protocol type (v5+).
        protocol_type: Option<String> => 5..;
        /// Protocol name (v5+).
        protocol_name: Option<String> => 5..;
        /// This member's assignment.
        assignment: Bytes => 0..;
    }
}

crate::wire_api!(SyncGroupRequest, SyncGroupResponse, key 14, versions 0..=5, flexible 4);
