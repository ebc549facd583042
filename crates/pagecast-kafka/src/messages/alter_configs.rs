//! AlterConfigs (key 33): replace a resource's settings whole (the settings not named
//! go back to their defaults), as librdkafka's `alter_configs` sends it.

use crate::wire_struct;

pub use super::incremental_alter_configs::AlterConfigsResourceResponse;

wire_struct! {
    /// One setting.
    pub struct AlterableConfig {
        /// Setting name.
        name: String => 0..;
        /// Value.
        value: Option<String> => 0..;
    }
}

wire_struct! {
    /// The settings of one resource.
    pub struct AlterConfigsResource {
        /// Resource type.
        resource_type: i8 => 0..;
        /// Resource name.
        resource_name: String => 0..;
        /// Every setting it is to have.
        configs: Vec<AlterableConfig> => 0..;
    }
}

wire_struct! {
    /// AlterConfigs request.
    pub struct AlterConfigsRequest {
        /// Resources.
        resources: Vec<AlterConfigsResource> => 0..;
        /// Only validate.
        validate_only: bool => 0..;
    }
}

wire_struct! {
    /// AlterConfigs response.
    pub struct AlterConfigsResponse {
        /// Throttle time.
        throttle_time_ms: i32 => 0..;
        /// Results.
        responses: Vec<AlterConfigsResourceResponse> => 0..;
    }
}

crate::wire_api!(AlterConfigsRequest, AlterConfigsResponse, key 33, versions 0..=2, flexible 2);
