//! The only place in `pagecast-io` with `unsafe`: thin wrappers over the system calls
//! that neither rustix nor a safe crate API covers, each with the contract that makes
//! it sound.

pub(crate) mod aligned;
pub(crate) mod clone;
pub(crate) mod extents;
pub(crate) mod mmap;
// Residency is asked only by the tokio adapter, before it warms a chunk.
#[cfg_attr(not(feature = "tokio"), allow(dead_code))]
pub(crate) mod residency;
pub(crate) mod signal;
pub(crate) mod uring;
