//! pagecast-kafka: the Kafka wire protocol over pagecast's storage engines.
//!
//! - [`codec`]: a bounded codec. Each message is described once ([`wire_struct!`]) and
//!   decode, encode and size follow; no length read off the wire is trusted before it
//!   is checked against the bytes left.
//! - [`frame`]: size prefixes and request and response headers.
//! - [`messages`]: the APIs the broker implements.
//! - [`broker`]: `pagecast broker`, a single node that Kafka clients use unmodified,
//!   whose fetches send record data with sendfile or from the commit log's mapping.
//! - [`records`]: records inside a batch, for the broker's own reads.
//! - [`client`]: a small blocking client, for the load generator and tests.
//! - [`inspect`]: what `pagecast groups` asks and prints.

pub mod broker;
pub mod client;
pub mod codec;
mod error;
pub mod frame;
pub mod inspect;
pub mod messages;
pub mod records;

pub use error::{ErrorCode, storage_error_code};
