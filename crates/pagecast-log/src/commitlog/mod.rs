//! The RocketMQ-model engine (in progress).

use std::sync::Arc;

use crate::sys::mmap::MapMut;

/// Committed bytes of a mapped commit-log file, lent to a reader.
#[derive(Clone)]
pub struct MappedBytes {
    map: Arc<MapMut>,
    start: usize,
    len: usize,
}

impl MappedBytes {
    /// The bytes.
    pub fn bytes(&self) -> &[u8] {
        self.map
            .committed_bytes(self.start, self.len)
            .unwrap_or_default()
    }
}
