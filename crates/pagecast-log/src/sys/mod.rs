//! The only place in `pagecast-log` with `unsafe`: the shared mapping the indexes and the
//! commit log are written through, with the contract that makes it sound.

// Parts of the mapping are used only by the commit log, which is being built.
#[allow(dead_code)]
pub(crate) mod mmap;
