//! The only place in `pagecast-io` with `unsafe`: thin wrappers over the system calls
//! that neither rustix nor a safe crate API covers, each with the contract that makes
//! it sound.

pub(crate) mod aligned;
pub(crate) mod mmap;
pub(crate) mod residency;
pub(crate) mod signal;
pub(crate) mod uring;
