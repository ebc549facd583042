//! LeaveGroup (key 13): members leave a group.

use crate::wire_struct;

wire_struct! {
    /// A member leaving (v3+).
    pub struct MemberIdentity {
        /// Member ID.
        member_id: String => 3..;
        /// Static member's instance ID.
        group_instance_id: Option<String> => 3..;
        /// Why it leaves (v5+).
        reason: Option<String> => 5..;
    }
}

wire_struct! {
    /// LeaveGroup request.
    pub struct LeaveGroupRequest {
        /// Group ID.
        group_id: String => 0..;
        /// Member ID (before v3).
        member_id: String => 0..=2;
        /// Members (v3+).
        members: Vec<MemberIdentity> => 3..;
    }
}

wire_struct! {
    /// One member's result (v3+).
    pub struct MemberResponse {
        /// Member ID.
        member_id: String => 3..;
        /// Static member's instance ID.
        group_instance_id: Option<String> => 3..;
        /// Error.
        error_code: i16 => 3..;
    }
}

wire_struct! {
    /// LeaveGroup response.
    pub struct LeaveGroupResponse {
        /// Throttle time (v1+).
        throttle_time_ms: i32 => 1..;
        /// Error.
        error_code: i16 => 0..;
        /// Members (v3+).
        members: Vec<MemberResponse> => 3..;
    }
}

crate::wire_api!(LeaveGroupRequest, LeaveGroupResponse, key 13, versions 0..=5, flexible 4);
