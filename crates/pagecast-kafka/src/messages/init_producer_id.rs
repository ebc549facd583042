//! InitProducerId (key 22): a producer ID and epoch for idempotent produce.

use crate::wire_struct;

wire_struct! {
    /// InitProducerId request.
    pub struct InitProducerIdRequest {
        /// Transactional ID, or null for an idempotent producer.
        transactional_id: Option<String> => 0..;
        /// Transaction timeout.
        transaction_timeout_ms: i32 => 0..;
        /// Current producer ID, to bump its epoch (v3+), or -1.
        producer_id: i64 => 3.., default -1;
        /// Current epoch (v3+), or -1.
        producer_epoch: i16 => 3.., default -1;
    }
}

wire_struct! {
    /// InitProducerId response.
    pub struct InitProducerIdResponse {
        /// Throttle time.
        throttle_time_ms: i32 => 0..;
        /// Error.
        error_code: i16 => 0..;
        /// Producer ID.
        producer_id: i64 => 0.., default -1;
        /// Producer epoch.
        producer_epoch: i16 => 0..;
    }
}

crate::wire_api!(InitProducerIdRequest, InitProducerIdResponse, key 22, versions 0..=4, flexible 2);
