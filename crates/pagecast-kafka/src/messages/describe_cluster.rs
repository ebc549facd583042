//! DescribeCluster (key 60): the brokers and the controller.

use crate::wire_struct;

wire_struct! {
    /// DescribeCluster request.
    pub struct DescribeClusterRequest {
        /// Include authorized operations.
        include_cluster_authorized_operations: bool => 0..;
        /// 1: brokers; 2: controllers (v1+).
        endpoint_type: i8 => 1.., default 1;
    }
}

wire_struct! {
    /// A broker.
    pub struct DescribeClusterBroker {
        /// Node ID.
        broker_id: i32 => 0..;
        /// Host.
        host: String => 0..;
        /// Port.
        port: i32 => 0..;
        /// Rack.
        rack: Option<String> => 0..;
    }
}

wire_struct! {
    /// DescribeCluster response.
    pub struct DescribeClusterResponse {
        /// Throttle time.
        throttle_time_ms: i32 => 0..;
        /// Error.
        error_code: i16 => 0..;
        /// Error message.
        error_message: Option<String> => 0..;
        /// Endpoint type (v1+).
        endpoint_type: i8 => 1.., default 1;
        /// Cluster ID.
        cluster_id: String => 0..;
        /// Controller's node ID.
        controller_id: i32 => 0.., default -1;
        /// Brokers.
        brokers: Vec<DescribeClusterBroker> => 0..;
        /// Authorized operations bitfield.
        cluster_authorized_operations: i32 => 0.., default i32::MIN;
    }
}

crate::wire_api!(DescribeClusterRequest, DescribeClusterResponse, key 60, versions 0..=1, flexible 0);
