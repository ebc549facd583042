//! The messages the broker implements, one module per API, each described once with
//! [`crate::wire_struct!`] from Kafka's message specs.

pub mod api_versions;
pub mod fetch;
pub mod find_coordinator;
pub mod init_producer_id;
pub mod list_offsets;
pub mod metadata;
pub mod offset_commit;
pub mod offset_fetch;
pub mod produce;
