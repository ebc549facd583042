//! DescribeGroups (key 15): a group's state, protocol and members with their
//! metadata and assignments.

use crate::codec::Bytes;
use crate::wire_struct;

wire_struct! {
    /// DescribeGroups request.
    pub struct DescribeGroupsRequest {
        /// Groups.
        groups: Vec<String> => 0..;
        /// Include authorized operations (v3+).
        include_authorized_operations: bool => 3..;
    }
}

wire_struct! {
    /// A member.
    pub struct DescribedGroupMember {
        /// Member ID.
        member_id: String => 0..;
        /// Static member's instance ID (v4+).
        group_instance_id: Option<String> => 4..;
        /// The client's ID.
        client_id: String => 0..;
        /// The client's host.
        client_host: String => 0..;
        /// The member's metadata for the chosen protocol.
        member_metadata: Bytes => 0..;
        /// The member's assignment.
        member_assignment: Bytes => 0..;
    }
}

wire_struct! {
    /// A group.
    pub struct DescribedGroup {
        /// Error.
        error_code: i16 => 0..;
        /// Error message (v6+).
        error_message: Option<String> => 6..;
        /// Group ID.
        group_id: String => 0..;
        /// State.
        group_state: String => 0..;
        /// Protocol type.
        protocol_type: String => 0..;
        /// The protocol chosen.
        protocol_data: String => 0..;
        /// Members.
        members: Vec<DescribedGroupMember> => 0..;
        /// Authorized operations (v3+).
        authorized_operations: i32 => 3.., default i32::MIN;
    }
}

wire_struct! {
    /// DescribeGroups response.
    pub struct DescribeGroupsResponse {
        /// Throttle time (v1+).
        throttle_time_ms: i32 => 1..;
        /// Groups.
        groups: Vec<DescribedGroup> => 0..;
    }
}

crate::wire_api!(DescribeGroupsRequest, DescribeGroupsResponse, key 15, versions 0..=6, flexible 5);
