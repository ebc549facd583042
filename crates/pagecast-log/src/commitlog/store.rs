//! The [`Store`] interface of the commit-log engine: appends written into the mapping
//! of the current file, reads lent as mapped slices checked against the consume queue.

use super::clean_shutdown::{CleanShutdown, QueueState};
use super::*;

impl Store for CommitLogStore {
    fn create(&mut self, tp: &TopicPartition) -> Result<()> {
        tp.validate()?;
        if !self.partitions.contains_key(tp) {
            let queue = ConsumeQueue::create(&self.queue_dir(tp), self.config.queue_file_entries)?;
            files::sync_dir(&self.root.join(QUEUE_DIR))?;
            self.partitions.insert(
                tp.clone(),
                Partition {
                    queue,
                    next_offset: 0,
                    log_start: 0,
                },
            );
            self.write_partitions()?;
        }
        Ok(())
    }

    fn delete(&mut self, tp: &TopicPartition) -> Result<()> {
        if self.partitions.remove(tp).is_none() {
            return Err(Error::UnknownPartition(tp.clone()));
        }
        // The tombstone is written before the queue goes, so a crash in between
        // recovers without the partition, never with part of it.
        self.deleted.insert(tp.clone(), self.end());
        self.write_deleted()?;
        self.write_partitions()?;
        let dir = self.queue_dir(tp);
        fs::remove_dir_all(&dir).map_err(Error::io("remove", &dir))?;
        files::sync_dir(&self.root.join(QUEUE_DIR))
    }

    /// Accepts a partition's settings and does not act on them: every partition shares
    /// one log, so segment size and age and retention are the whole store's. Kafka
    /// accepts them per topic, and so does the broker, which keeps and returns them.
    fn configure(&mut self, tp: &TopicPartition, _config: &PartitionConfig) -> Result<()> {
        self.part(tp).map(|_| ())
    }

    fn partitions(&self) -> Vec<TopicPartition> {
        self.partitions.keys().cloned().collect()
    }

    fn append(&mut self, tp: &TopicPartition, buf: &mut [u8], _now_ms: i64) -> Result<Appended> {
        let headers = crate::appended_batches(buf)?;
        let entry_header = entry::header_len(tp);
        let total = (buf.len() + headers.len() * entry_header) as u64;
        if total > self.config.file_bytes {
            return Err(Error::BatchTooLarge {
                size: total,
                max: self.config.file_bytes,
            });
        }
        let part = self
            .partitions
            .get_mut(tp)
            .ok_or_else(|| Error::UnknownPartition(tp.clone()))?;
        // Everything that can fail for lack of space is done before a byte is written.
        part.queue.reserve(headers.len() as u64)?;
        let base = part.next_offset;
        if self.write_at as u64 + total > self.config.file_bytes {
            self.switch_file()?;
        }
        let part = self.partitions.get_mut(tp).expect("checked above");
        let file = self
            .files
            .back_mut()
            .expect("a commit log always has a file");
        let mut next = base;
        let mut at = self.write_at;
        // Every byte is written before anything is committed or queued: a write that
        // fails (a full copy-on-write filesystem) leaves the log as it was.
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
        part.queue.push_all(&queued)?;
        file.map.commit(at);
        part.next_offset = next;
        self.write_at = at;
        self.dirty_since.get_or_insert_with(Instant::now);
        match self.config.fsync {
            Fsync::Always => self.sync_current()?,
            Fsync::Interval(every) if self.dirty_since.is_some_and(|t| t.elapsed() >= every) => {
                self.sync_current()?
            }
            _ => {}
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
        let Offsets { start, end } = self.offsets(tp)?;
        if offset < start || offset > end {
            return Err(Error::OffsetOutOfRange {
                partition: tp.clone(),
                offset,
                start,
                end,
            });
        }
        let queue = &self.part(tp)?.queue;
        let mut chunks = Vec::new();
        let Some(from) = queue.search(offset).filter(|_| offset < end) else {
            return Ok((chunks, offset));
        };
        let mut total = 0u64;
        let mut next = offset;
        for i in from..queue.count() {
            let Some(e) = queue.get(i) else { break };
            if !chunks.is_empty() && total + u64::from(e.size) > max_bytes {
                break;
            }
            let (bytes, header) = self.queued_batch(tp, i, e)?;
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
        let queue = &self.part(tp)?.queue;
        Ok((queue.first()..queue.count())
            .filter_map(|i| queue.get(i))
            .map(|e| u64::from(e.size))
            .sum())
    }

    fn offsets(&self, tp: &TopicPartition) -> Result<Offsets> {
        let part = self.part(tp)?;
        let end = part.next_offset;
        let first = part
            .queue
            .get(part.queue.first())
            .map_or(end, |e| e.base_offset);
        Ok(Offsets {
            start: first.max(part.log_start).min(end),
            end,
        })
    }

    fn delete_records(&mut self, tp: &TopicPartition, offset: i64) -> Result<i64> {
        let Offsets { start, end } = self.offsets(tp)?;
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
        // The commit log is shared by every partition, so nothing is freed here:
        // retention frees whole files. The queue's first entry moves up to the batch
        // holding the new start, and the start is written to the partition list; if
        // that fails, both are put back.
        let part = self.partitions.get_mut(tp).expect("offsets found it");
        let before = (part.log_start, part.queue.first());
        part.log_start = offset;
        if let Some(first) = part.queue.search(offset) {
            part.queue.set_first(first);
        }
        if let Err(e) = self.write_partitions() {
            let part = self.partitions.get_mut(tp).expect("offsets found it");
            part.log_start = before.0;
            part.queue.set_first(before.1);
            return Err(e);
        }
        Ok(offset)
    }

    fn offset_for_timestamp(&self, tp: &TopicPartition, timestamp: i64) -> Result<Option<i64>> {
        let Offsets { start, end } = self.offsets(tp)?;
        let queue = &self.part(tp)?.queue;
        for i in queue.first()..queue.count() {
            let Some(e) = queue.get(i) else { break };
            if self
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

    fn maintain(&mut self, now_ms: i64) -> Result<()> {
        self.flushers.reap(false)?;
        if let Fsync::Interval(every) = self.config.fsync
            && self.dirty_since.is_some_and(|t| t.elapsed() >= every)
        {
            self.sync_current()?;
        }
        if self.apply_retention(now_ms)? {
            self.write_partitions()?;
        }
        self.write_recovery_point()
    }

    fn flush(&mut self) -> Result<()> {
        self.flushers.reap(true)?;
        let current = self.current().start;
        for f in self.files.iter() {
            if f.start + self.config.file_bytes > self.recovery_point && f.start != current {
                f.map
                    .sync(0, f.map.len())
                    .map_err(Error::io("msync", &f.path))?;
            }
        }
        self.sync_current()?;
        self.write_recovery_point()
    }

    fn close(self: Box<Self>) -> Result<()> {
        let mut store = *self;
        store.flush()?;
        if let Some(spare) = store
            .next_file
            .take()
            .and_then(|h| h.join().ok())
            .and_then(Result::ok)
        {
            spare.delete()?;
        }
        let mut record = CleanShutdown {
            end: store.end(),
            partitions: Vec::new(),
        };
        for (tp, part) in &store.partitions {
            part.queue.sync()?;
            record.partitions.push(QueueState {
                tp: tp.clone(),
                entries: part.queue.count(),
                next_offset: part.next_offset,
            });
        }
        store.write_partitions()?;
        files::write_atomically(&store.root, CLEAN_SHUTDOWN_FILE, record.encode().as_bytes())
    }
}
