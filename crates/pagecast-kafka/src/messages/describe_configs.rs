//! DescribeConfigs (key 32): a topic's or the broker's settings.

use crate::wire_struct;

/// Resource type of a topic.
pub const TOPIC: i8 = 2;
/// Resource type of a broker.
pub const BROKER: i8 = 4;

/// Where a value comes from: set on the topic.
pub const SOURCE_TOPIC: i8 = 1;
/// Where a value comes from: the broker's static configuration (command line).
pub const SOURCE_STATIC_BROKER: i8 = 4;
/// Where a value comes from: the default.
pub const SOURCE_DEFAULT: i8 = 5;

wire_struct! {
    /// A resource to describe.
    pub struct DescribeConfigsResource {
        /// [`TOPIC`] or [`BROKER`].
        resource_type: i8 => 0..;
        /// Topic name or broker ID.
        resource_name: String => 0..;
        /// Settings wanted, or null for all.
        configuration_keys: Option<Vec<String>> => 0..;
    }
}

wire_struct! {
    /// DescribeConfigs request.
    pub struct DescribeConfigsRequest {
        /// Resources.
        resources: Vec<DescribeConfigsResource> => 0..;
        /// Include synonyms.
        include_synonyms: bool => 1..;
        /// Include documentation.
        include_documentation: bool => 3..;
    }
}

wire_struct! {
    /// Another name for a setting, and its value.
    pub struct DescribeConfigsSynonym {
        /// Name.
        name: String => 1..;
        /// Value.
        value: Option<String> => 1..;
        /// Source.
        source: i8 => 1..;
    }
}

wire_struct! {
    /// One setting.
    pub struct DescribeConfigsResourceResult {
        /// Name.
        name: String => 0..;
        /// Value.
        value: Option<String> => 0..;
        /// Whether it is read-only.
        read_only: bool => 0..;
        /// Where the value comes from.
        config_source: i8 => 1.., default -1;
        /// Whether it is sensitive.
        is_sensitive: bool => 0..;
        /// Synonyms.
        synonyms: Vec<DescribeConfigsSynonym> => 1..;
        /// Type: 1 boolean, 2 string, 3 int, 4 short, 5 long, 6 double, 7 list.
        config_type: i8 => 3..;
        /// Documentation.
        documentation: Option<String> => 3..;
    }
}

wire_struct! {
    /// One resource's settings.
    pub struct DescribeConfigsResult {
        /// Error.
        error_code: i16 => 0..;
        /// Error message.
        error_message: Option<String> => 0..;
        /// Resource type.
        resource_type: i8 => 0..;
        /// Resource name.
        resource_name: String => 0..;
        /// Settings.
        configs: Vec<DescribeConfigsResourceResult> => 0..;
    }
}

wire_struct! {
    /// DescribeConfigs response.
    pub struct DescribeConfigsResponse {
        /// Throttle time.
        throttle_time_ms: i32 => 0..;
        /// Results.
        results: Vec<DescribeConfigsResult> => 0..;
    }
}

crate::wire_api!(DescribeConfigsRequest, DescribeConfigsResponse, key 32, versions 1..=4, flexible 4);
