//! HTTP/1.1 pieces of the pagecast download server: so far the Range header (RFC 9110
//! §14) and the `multipart/byteranges` layout. The server and client build on these.

pub mod range;
