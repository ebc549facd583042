//! The pagecast download server and its HTTP/1.1 pieces: request heads with their
//! limits (RFC 9112), request targets decoded safely below the served directory, the
//! Range header (RFC 9110 §14) and the `multipart/byteranges` layout, validators and
//! conditional requests (RFC 9110 §13), HTTP dates, and the server that puts them
//! together with bodies sent by the transfer engine; and the download client.

pub mod client;
pub mod conditional;
mod conn;
pub mod date;
pub mod fs;
mod idle;
pub mod listing;
pub mod mime;
pub mod open_cache;
pub mod range;
pub mod request;
pub mod respond;
pub mod server;
pub mod target;

pub use server::{AccessLog, Config, Server, Timeouts};
