//! Retention: whole commit-log files are deleted, oldest first, by size or age; the
//! consume queues drop their entries for them.

use super::*;

impl CommitLogStore {
    /// Under `admin` and `log`. Each queue drops its entries for the files retention
    /// takes before the readers' view loses them, so a read that found an entry finds
    /// its file; the files are unlinked last (lent bytes stay mapped). Says whether
    /// anything was deleted.
    pub(super) fn apply_retention(&self, log: &mut Log, now_ms: i64) -> Result<bool> {
        let len = self.config.file_bytes;
        let mut doomed = Vec::new();
        while log.files.len() > 1 {
            let oldest = log.files.front().expect("more than one file");
            let total = log.end() - oldest.start;
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
            doomed.extend(log.files.pop_front());
        }
        if doomed.is_empty() {
            return Ok(false);
        }
        let min = log.files.front().expect("a file").start;
        let parts: Vec<_> = locks::read(&self.partitions).values().cloned().collect();
        for part in parts {
            locks::write(&part).queue.drop_below(min)?;
        }
        *locks::write(&self.files) = Files::of(&log.files, len);
        doomed.into_iter().try_for_each(MappedFile::delete)?;
        Ok(true)
    }
}
