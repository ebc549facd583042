//! FindCoordinator (key 10): which broker coordinates a group or a transaction. On a
//! single node, always this one.

use crate::wire_struct;

wire_struct! {
    /// FindCoordinator request.
    pub struct FindCoordinatorRequest {
        /// Group or transactional ID (before v4).
        key: String => 0..=3;
        /// 0: group; 1: transaction.
        key_type: i8 => 1..;
        /// Keys (v4+).
        coordinator_keys: Vec<String> => 4..;
    }
}

wire_struct! {
    /// One key's coordinator (v4+).
    pub struct Coordinator {
        /// The key.
        key: String => 4..;
        /// Coordinator's node ID.
        node_id: i32 => 4..;
        /// Host.
        host: String => 4..;
        /// Port.
        port: i32 => 4..;
        /// Error.
        error_code: i16 => 4..;
        /// Error message.
        error_message: Option<String> => 4..;
    }
}

wire_struct! {
    /// FindCoordinator response.
    pub struct FindCoordinatorResponse {
        /// Throttle time.
        throttle_time_ms: i32 => 1..;
        /// Error (before v4).
        error_code: i16 => 0..=3;
        /// Error message (v1 to v3).
        error_message: Option<String> => 1..=3;
        /// Coordinator's node ID (before v4).
        node_id: i32 => 0..=3;
        /// Host (before v4).
        host: String => 0..=3;
        /// Port (before v4).
        port: i32 => 0..=3;
        /// Coordinators (v4+).
        coordinators: Vec<Coordinator> => 4..;
    }
}

crate::wire_api!(FindCoordinatorRequest, FindCoordinatorResponse, key 10, versions 0..=4, flexible 3);
