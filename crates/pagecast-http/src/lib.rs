//! HTTP/1.1 pieces of the pagecast download server: request heads with their limits
//! (RFC 9112), request targets decoded safely below the served directory, the Range
//! header (RFC 9110 §14) and the `multipart/byteranges` layout, validators and
//! conditional requests (RFC 9110 §13), and HTTP dates. The server and client build on
//! these.

pub mod conditional;
pub mod date;
pub mod range;
pub mod request;
pub mod target;
