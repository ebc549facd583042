//! The [`Store`] interface of the commit-log engine: appends written into the mapping
//! of the current file, reads lent as mapped slices checked against the consume queue.

use super::clean_shutdown::{CleanShutdown, QueueState};
use super::*;

impl Store for CommitLogStore {
    fn create(&self, tp: &TopicPartition) -> Result<()> {
        tp.validate()?;
        let _admin = locks::lock(&self.admin);
        if !locks::read(&self.partitions).contains_key(tp) {
            let queue = ConsumeQueue::create(&self.queue_dir(tp), self.config.queue_file_entries)?;
            files::sync_dir(&self.root.join(QUEUE_DIR))?;
            locks::write(&self.partitions)
                .insert(tp.clone(), Arc::new(RwLock::new(Partition::new(queue, 0))));
            self.write_partitions()?;
        }
        Ok(())
    }

    fn delete(&self, tp: &TopicPartition) -> Result<()> {
        let _admin = locks::lock(&self.admin);
        let part = locks::write(&self.partitions)
            .remove(tp)
            .ok_or_else(|| Error::UnknownPartition(tp.clone()))?;
        {
            // With `log` held no append of the partition is under way, and one that
            // found the partition before it was removed sees it deleted: nothing of it
            // lands after the tombstone's position.
            let mut log = locks::lock(&self.log);
            locks::write(&part).deleted = true;
            let end = log.end();
            log.deleted.insert(tp.clone(), end);
            // The tombstone is written before the queue goes, so a crash in between
            // recovers without the partition, never with part of it.
            self.write_deleted(&mut log)?;
        }
        self.write_partitions()?;
        let dir = self.queue_dir(tp);
        fs::remove_dir_all(&dir).map_err(Error::io("remove", &dir))?;
        files::sync_dir(&self.root.join(QUEUE_DIR))
    }

    /// Accepts a partition's settings and does not act on them: every partition shares
    /// one log, so segment size and age and retention are the whole store's. Kafka
    /// accepts them per topic, and so does the broker, which keeps and returns them.
    fn configure(&self, tp: &TopicPartition, config: &PartitionConfig) -> Result<()> {
        self.partition(tp)?;
        if config.cleanup.is_some_and(|c| c.compact) {
            return Err(Error::Config(format!(
                "{tp}: the commit-log engine does not compact partitions (cleanup.policy=compact needs the segment engine)"
            )));
        }
        Ok(())
    }

    fn partitions(&self) -> Vec<TopicPartition> {
        locks::read(&self.partitions).keys().cloned().collect()
    }

    fn append(&self, tp: &TopicPartition, buf: &mut [u8], _now_ms: i64) -> Result<Appended> {
        let headers = crate::appended_batches(buf)?;
        let entry_header = entry::header_len(tp);
        let total = (buf.len() + headers.len() * entry_header) as u64;
        if total > self.config.file_bytes {
            return Err(Error::BatchTooLarge {
                size: total,
                max: self.config.file_bytes,
            });
        }
        let part = self.partition(tp)?;
        let mut log = locks::lock(&self.log);
        // Everything that can fail for lack of space is done before a byte is written.
        // Only appends, which hold `log`, change the queue's length and next offset, so
        // `base` holds until they are published below.
        let base = {
            let mut p = locks::write(&part);
            if p.deleted {
                return Err(Error::UnknownPartition(tp.clone()));
            }
            p.queue.reserve(headers.len() as u64)?;
            p.next_offset
        };
        if log.write_at as u64 + total > self.config.file_bytes {
            self.switch_file(&mut log)?;
        }
        let mut at = log.write_at;
        let file = log
            .files
            .back_mut()
            .expect("a commit log always has a file");
        let mut next = base;
        // Every byte is written before anything is committed or queued: a write that
        // fails (a full copy-on-write filesystem) leaves the log as it was. Readers see
        // nothing above the committed mark, so the writes need no partition lock.
        let mut queued = Vec::with_capacity(headers.len());
        for (pos, header) in &headers {
            let bytes = &mut buf[*pos..*pos + header.size() as usize];
            batch::set_base_offset(bytes, next);
            batch::set_leader_epoch(bytes, batch::LEADER_EPOCH);
            let head = entry::encode_header(tp, bytes);
            file.map
                .write_at(at, &head)
                .and_then(|()| file.map.write_at(at + head.len(), bytes))
                .map_err(Error::io("write", &file.path))?;
            queued.push(QueueEntry {
                position: file.start + (at + head.len()) as u64,
                size: header.size() as u32,
                base_offset: next,
            });
            at += head.len() + bytes.len();
            next += i64::from(header.last_offset_delta) + 1;
        }
        {
            // The log's bytes are committed before the queue entries that name them;
            // nothing after the commit can fail, so the log's end and its committed
            // mark never part.
            let mut p = locks::write(&part);
            p.queue.stage(&queued)?;
            file.map.commit(at);
            p.queue.publish(queued.len() as u64);
            p.next_offset = next;
        }
        log.write_at = at;
        let since = *log.dirty_since.get_or_insert_with(Instant::now);
        let sync = match self.config.fsync {
            Fsync::Always => true,
            Fsync::Interval(every) => since.elapsed() >= every,
            Fsync::None => false,
        };
        let end = log.end();
        if sync {
            log.dirty_since = None;
        }
        drop(log);
        if sync && let Err(e) = self.sync_to(end) {
            // Tried again at the next append or maintenance.
            locks::lock(&self.log).dirty_since.get_or_insert(since);
            return Err(e);
        }
        Ok(Appended {
            base_offset: base,
            last_offset: next - 1,
        })
    }

    fn read_with_end(
        &self,
        tp: &TopicPartition,
        offset: i64,
        max_bytes: u64,
    ) -> Result<(Vec<Chunk>, i64)> {
        let part = self.partition(tp)?;
        let p = locks::read(&part);
        let Offsets { start, end } = p.offsets();
        if offset < start || offset > end {
            return Err(Error::OffsetOutOfRange {
                partition: tp.clone(),
                offset,
                start,
                end,
            });
        }
        let queue = &p.queue;
        let mut chunks = Vec::new();
        let Some(from) = queue.search(offset).filter(|_| offset < end) else {
            return Ok((chunks, offset));
        };
        let files = locks::read(&self.files);
        let mut total = 0u64;
        let mut next = offset;
        for i in from..queue.count() {
            let Some(e) = queue.get(i) else { break };
            if !chunks.is_empty() && total + u64::from(e.size) > max_bytes {
                break;
            }
            let (bytes, header) = self.queued_batch(&files, tp, i, e)?;
            // Batches follow each other without gaps, the first holding `offset`.
            let follows = if chunks.is_empty() {
                header.base_offset <= offset && offset <= header.last_offset()
            } else {
                header.base_offset == next
            };
            if !follows {
                return Err(Error::Corrupt {
                    file: self.queue_dir(tp),
                    position: i * QUEUE_ENTRY as u64,
                    reason: format!(
                        "queue entry names a batch of offsets {}..={} where offset {} was due",
                        header.base_offset,
                        header.last_offset(),
                        if chunks.is_empty() { offset } else { next }
                    ),
                });
            }
            next = header.next_offset();
            chunks.push(Chunk::Mapped(bytes));
            total += u64::from(e.size);
            if total >= max_bytes {
                break;
            }
        }
        Ok((chunks, next))
    }

    /// Sums the live queue entries: a walk of the partition's consume queue, for
    /// metrics, not for the append or read path.
    fn size(&self, tp: &TopicPartition) -> Result<u64> {
        let part = self.partition(tp)?;
        let p = locks::read(&part);
        let queue = &p.queue;
        Ok((queue.first()..queue.count())
            .filter_map(|i| queue.get(i))
            .map(|e| u64::from(e.size))
            .sum())
    }

    fn offsets(&self, tp: &TopicPartition) -> Result<Offsets> {
        let part = self.partition(tp)?;
        Ok(locks::read(&part).offsets())
    }

    fn delete_records(&self, tp: &TopicPartition, offset: i64) -> Result<i64> {
        let _admin = locks::lock(&self.admin);
        let part = self.partition(tp)?;
        // The commit log is shared by every partition, so nothing is freed here:
        // retention frees whole files. The queue's first entry moves up to the batch
        // holding the new start, and the start is written to the partition list; if
        // that fails, both are put back.
        let before = {
            let mut p = locks::write(&part);
            let Offsets { start, end } = p.offsets();
            if offset > end {
                return Err(Error::OffsetOutOfRange {
                    partition: tp.clone(),
                    offset,
                    start,
                    end,
                });
            }
            if offset <= start {
                return Ok(start);
            }
            let before = (p.log_start, p.queue.first());
            p.log_start = offset;
            if let Some(first) = p.queue.search(offset) {
                p.queue.set_first(first);
            }
            before
        };
        if let Err(e) = self.write_partitions() {
            let mut p = locks::write(&part);
            p.log_start = before.0;
            p.queue.set_first(before.1);
            return Err(e);
        }
        Ok(offset)
    }

    fn offset_for_timestamp(&self, tp: &TopicPartition, timestamp: i64) -> Result<Option<i64>> {
        let part = self.partition(tp)?;
        let p = locks::read(&part);
        let Offsets { start, end } = p.offsets();
        let files = locks::read(&self.files);
        let queue = &p.queue;
        for i in queue.first()..queue.count() {
            let Some(e) = queue.get(i) else { break };
            if files
                .header_at(e.position)
                .is_some_and(|h| h.max_timestamp >= timestamp)
            {
                // Records below the log start offset are not served, so not found.
                let found = e.base_offset.max(start);
                return Ok((found < end).then_some(found));
            }
        }
        Ok(None)
    }

    fn maintain(&self, now_ms: i64) -> Result<()> {
        let _admin = locks::lock(&self.admin);
        let due = {
            let mut log = locks::lock(&self.log);
            if let Some(end) = log.flushers.reap(false)? {
                self.flushed.fetch_max(end, Ordering::AcqRel);
            }
            let due = match self.config.fsync {
                Fsync::Interval(every) => log.dirty_since.is_some_and(|t| t.elapsed() >= every),
                _ => false,
            };
            if due {
                log.dirty_since = None;
            }
            due.then(|| log.end())
        };
        if let Some(end) = due
            && let Err(e) = self.sync_to(end)
        {
            locks::lock(&self.log)
                .dirty_since
                .get_or_insert_with(Instant::now);
            return Err(e);
        }
        let mut log = locks::lock(&self.log);
        if self.apply_retention(&mut log, now_ms)? {
            self.write_partitions()?;
        }
        self.write_recovery_point(&mut log)
    }

    fn flush(&self) -> Result<()> {
        let end = {
            let mut log = locks::lock(&self.log);
            if let Some(end) = log.flushers.reap(true)? {
                self.flushed.fetch_max(end, Ordering::AcqRel);
            }
            log.end()
        };
        self.sync_to(end)?;
        let mut log = locks::lock(&self.log);
        log.flushers.covered();
        self.write_recovery_point(&mut log)
    }

    fn close(self: Box<Self>) -> Result<()> {
        let _admin = locks::lock(&self.admin);
        self.flush()?;
        let mut log = locks::lock(&self.log);
        if let Some(spare) = log
            .next_file
            .take()
            .and_then(|h| h.join().ok())
            .and_then(Result::ok)
        {
            spare.delete()?;
        }
        let mut record = CleanShutdown {
            end: log.end(),
            partitions: Vec::new(),
        };
        for (tp, part) in locks::read(&self.partitions).iter() {
            let p = locks::read(part);
            p.queue.sync()?;
            record.partitions.push(QueueState {
                tp: tp.clone(),
                entries: p.queue.count(),
                next_offset: p.next_offset,
            });
        }
        self.write_partitions()?;
        files::write_atomically(&self.root, CLEAN_SHUTDOWN_FILE, record.encode().as_bytes())
    }
}
