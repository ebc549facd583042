//! ApiVersions (key 18): what the broker implements. Its response header is always v0,
//! even for flexible versions, so a client that asked for a version the broker lacks
//! can still read the answer (KIP-511).

use crate::wire_struct;

wire_struct! {
    /// ApiVersions request.
    pub struct ApiVersionsRequest {
        /// The client library's name.
        client_software_name: String => 3..;
        /// The client library's version.
        client_software_version: String => 3..;
    }
}

wire_struct! {
    /// One API and its version range.
    pub struct ApiVersion {
        /// API key.
        api_key: i16 => 0..;
        /// Lowest version implemented.
        min_version: i16 => 0..;
        /// Highest version implemented.
        max_version: i16 => 0..;
    }
}

wire_struct! {
    /// A feature and its version range.
    pub struct SupportedFeatureKey {
        /// Feature name.
        name: String => 3..;
        /// Lowest version.
        min_version: i16 => 3..;
        /// Highest version.
        max_version: i16 => 3..;
    }
}

wire_struct! {
    /// A feature the cluster finalized.
    pub struct FinalizedFeatureKey {
        /// Feature name.
        name: String => 3..;
        /// Highest level.
        max_version_level: i16 => 3..;
        /// Lowest level.
        min_version_level: i16 => 3..;
    }
}

wire_struct! {
    /// ApiVersions response.
    pub struct ApiVersionsResponse {
        /// Top-level error.
        error_code: i16 => 0..;
        /// Every API implemented.
        api_keys: Vec<ApiVersion> => 0..;
        /// Throttle time.
        throttle_time_ms: i32 => 1..;
        /// Features supported.
        supported_features: Vec<SupportedFeatureKey> => 3.., tag 0;
        /// Epoch of the finalized features.
        finalized_features_epoch: i64 => 3.., tag 1, default -1;
        /// Finalized features.
        finalized_features: Vec<FinalizedFeatureKey> => 3.., tag 2;
        /// ZooKeeper migration readiness (a KRaft controller's).
        zk_migration_ready: bool => 3.., tag 3;
    }
}

crate::wire_api!(ApiVersionsRequest, ApiVersionsResponse, key 18, versions 0..=3, flexible 3);
