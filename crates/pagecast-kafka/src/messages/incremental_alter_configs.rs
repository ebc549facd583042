//! IncrementalAlterConfigs (key 44): set or delete a topic's settings.

use crate::wire_struct;

/// Set the value.
pub const SET: i8 = 0;
/// Back to the default.
pub const DELETE: i8 = 1;
/// Add to a list.
pub const APPEND: i8 = 2;
/// Remove from a list.
pub const SUBTRACT: i8 = 3;

wire_struct! {
    /// One change.
    pub struct AlterableConfig {
        /// Setting name.
        name: String => 0..;
        /// [`SET`], [`DELETE`], [`APPEND`] or [`SUBTRACT`].
        config_operation: i8 => 0..;
        /// Value.
        value: Option<String> => 0..;
    }
}

wire_struct! {
    /// Changes to one resource.
    pub struct AlterConfigsResource {
        /// Resource type.
        resource_type: i8 => 0..;
        /// Resource name.
        resource_name: String => 0..;
        /// Changes.
        configs: Vec<AlterableConfig> => 0..;
    }
}

wire_struct! {
    /// IncrementalAlterConfigs request.
    pub struct IncrementalAlterConfigsRequest {
        /// Resources.
        resources: Vec<AlterConfigsResource> => 0..;
        /// Only validate.
        validate_only: bool => 0..;
    }
}

wire_struct! {
    /// One resource's result.
    pub struct AlterConfigsResourceResponse {
        /// Error.
        error_code: i16 => 0..;
        /// Error message.
        error_message: Option<String> => 0..;
        /// Resource type.
        resource_type: i8 => 0..;
        /// Resource name.
        resource_name: String => 0..;
    }
}

wire_struct! {
    /// IncrementalAlterConfigs response.
    pub struct IncrementalAlterConfigsResponse {
        /// Throttle time.
        throttle_time_ms: i32 => 0..;
        /// Results.
        responses: Vec<AlterConfigsResourceResponse> => 0..;
    }
}

crate::wire_api!(IncrementalAlterConfigsRequest, IncrementalAlterConfigsResponse, key 44, versions 0..=1, flexible 1);
