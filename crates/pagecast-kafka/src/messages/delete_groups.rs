//! DeleteGroups (key 42): groups without members, and their committed offsets.

use crate::wire_struct;

wire_struct! {
    /// DeleteGroups request.
    pub struct DeleteGroupsRequest {
        /// Groups.
        groups_names: Vec<String> => 0..;
    }
}

wire_struct! {
    /// One group's result.
    pub struct DeletableGroupResult {
        /// Group ID.
        group_id: String => 0..;
        /// Error.
        error_code: i16 => 0..;
    }
}

wire_struct! {
    /// DeleteGroups response.
    pub struct DeleteGroupsResponse {
        /// Throttle time.
        throttle_time_ms: i32 => 0..;
        /// Results.
        results: Vec<DeletableGroupResult> => 0..;
    }
}

crate::wire_api!(DeleteGroupsRequest, DeleteGroupsResponse, key 42, versions 0..=2, flexible 2);
