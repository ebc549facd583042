//! The only place in `pagecast-log` with `unsafe`: the shared mapping the indexes and the
//! commit log are written through, with the contract that makes it sound.

pub(crate) mod mmap;
