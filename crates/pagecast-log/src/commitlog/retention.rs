//! Retention: whole commit-log files are deleted, oldest first, by size or age; the
//! consume queues drop their entries for them.

use super::*;

impl CommitLogStore {
    pub(super) fn apply_retention(&mut self, now_ms: i64) -> Result<bool> {
        let len = self.config.file_bytes;
        let mut changed = false;
        while self.files.len() > 1 {
            let oldest = self.files.front().expect("more than one file");
            let total = self.end() - oldest.start;
            let by_size = self
                .config
                .retention_bytes
                .is_some_and(|limit| total - len >= limit);
            let by_age = match self.config.retention_age {
                Some(age) => now_ms.saturating_sub(oldest.modified_ms()?) > age.as_millis() as i64,
                None => false,
            };
            if !by_size && !by_age {
                break;
            }
            self.files
                .pop_front()
                .expect("more than one file")
                .delete()?;
            changed = true;
        }
        if changed {
            let min = self.files.front().expect("a file").start;
            for part in self.partitions.values_mut() {
                part.queue.drop_below(min)?;
            }
        }
        Ok(changed)
    }
}
