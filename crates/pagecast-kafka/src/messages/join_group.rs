//! JoinGroup (key 11): a member joins a group's next generation.

use crate::codec::Bytes;
use crate::wire_struct;

wire_struct! {
    /// A protocol the member supports, with its metadata.
    pub struct JoinGroupRequestProtocol {
        /// Protocol name (an assignor, for consumers).
        name: String => 0..;
        /// Protocol metadata.
        metadata: Bytes => 0..;
    }
}

wire_struct! {
    /// JoinGroup request.
    pub struct JoinGroupRequest {
        /// Group ID.
        group_id: String => 0..;
        /// The member is removed if no heartbeat arrives for this long.
        session_timeout_ms: i32 => 0..;
        /// How long the coordinator waits for members to rejoin (v1+).
        rebalance_timeout_ms: i32 => 1.., default -1;
        /// Member ID, empty on the first join.
        member_id: String => 0..;
        /// Static member's instance ID (v5+).
        group_instance_id: Option<String> => 5..;
        /// Protocol type ("consumer").
        protocol_type: String => 0..;
        /// Protocols the member supports, preferred first.
        protocols: Vec<JoinGroupRequestProtocol> => 0..;
        /// Why the member joins (v8+).
        reason: Option<String> => 8..;
    }
}

wire_struct! {
    /// A member, as the leader is told.
    pub struct JoinGroupResponseMember {
        /// Member ID.
        member_id: String => 0..;
        /// Static member's instance ID (v5+).
        group_instance_id: Option<String> => 5..;
        /// The member's metadata for the chosen protocol.
        metadata: Bytes => 0..;
    }
}

wire_struct! {
    /// JoinGroup response.
    pub struct JoinGroupResponse {
        /// Throttle time (v2+).
        throttle_time_ms: i32 => 2..;
        /// Error.
        error_code: i16 => 0..;
        /// Generation joined.
        generation_id: i32 => 0.., default -1;
        /// Protocol type (v7+).
        protocol_type: Option<String> => 7..;
        /// The protocol chosen.
        protocol_name: Option<String> => 0..;
        /// The leader's member ID.
        leader: String => 0..;
        /// Whether the leader skips assignment (v9+).
        skip_assignment: bool => 9..;
        /// This member's ID.
        member_id: String => 0..;
        /// Every member, for the leader; empty for the others.
        members: Vec<JoinGroupResponseMember> => 0..;
    }
}

crate::wire_api!(JoinGroupRequest, JoinGroupResponse, key 11, versions 0..=9, flexible 6);
