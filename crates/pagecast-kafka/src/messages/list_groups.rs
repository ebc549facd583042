//! ListGroups (key 16): the groups the coordinator knows.

use crate::wire_struct;

wire_struct! {
    /// ListGroups request.
    pub struct ListGroupsRequest {
        /// States to list (v4+), or empty for all.
        states_filter: Vec<String> => 4..;
        /// Group types to list (v5+), or empty for all.
        types_filter: Vec<String> => 5..;
    }
}

wire_struct! {
    /// A group.
    pub struct ListedGroup {
        /// Group ID.
        group_id: String => 0..;
        /// Protocol type ("consumer"), empty for a group without members.
        protocol_type: String => 0..;
        /// State (v4+).
        group_state: String => 4..;
        /// Group type, "classic" or "consumer" (v5+).
        group_type: String => 5..;
    }
}

wire_struct! {
    /// ListGroups response.
    pub struct ListGroupsResponse {
        /// Throttle time (v1+).
        throttle_time_ms: i32 => 1..;
        /// Error.
        error_code: i16 => 0..;
        /// Groups.
        groups: Vec<ListedGroup> => 0..;
    }
}

crate::wire_api!(ListGroupsRequest, ListGroupsResponse, key 16, versions 0..=5, flexible 3);
