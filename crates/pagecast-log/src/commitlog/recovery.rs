//! Opening the commit log: after a clean shutdown, trusting the recorded end and queue
//! lengths once each queue is checked against the log; after a crash, walking the log
//! from its start (batches CRC-checked from the file holding the recovery point),
//! zeroing the torn tail and rebuilding every consume queue from it.

use super::clean_shutdown::{CleanShutdown, QueueState};
use super::*;

impl Loader {
    /// Opens the commit-log files. With the `end` a clean shutdown recorded, files past
    /// it are spares made ahead of time and hold nothing, so they are removed.
    fn open_files(&mut self, end: Option<u64>) -> Result<()> {
        let len = self.config.file_bytes;
        for (start, path) in mapped::list(&self.log_dir())? {
            let past_end =
                end.is_some_and(|e| start > e || (start == e && e > 0 && !self.files.is_empty()));
            if start % len != 0 || past_end {
                files::remove(&path)?;
                continue;
            }
            if let Some(prev) = self.files.back()
                && prev.start + len != start
            {
                return Err(Error::Corrupt {
                    file: path,
                    position: 0,
                    reason: format!(
                        "the file before it ends at {}: a commit-log file is missing",
                        prev.start + len
                    ),
                });
            }
            // A file of the wrong length was damaged from outside: a shorter one is
            // extended with zeros (recovery then finds its torn tail), a longer one cut.
            let file = fs::OpenOptions::new()
                .write(true)
                .open(&path)
                .map_err(Error::io("open", &path))?;
            let have = file.metadata().map_err(Error::io("stat", &path))?.len();
            if have != len {
                if end.is_some() {
                    return Err(Error::BadFile {
                        file: path,
                        reason: format!("is {have} bytes long, files of this log are {len}"),
                    });
                }
                if have > len {
                    file.set_len(len).map_err(Error::io("truncate", &path))?;
                }
                files::allocate(&file, &path, len)?;
            }
            self.files.push_back(MappedFile::open(&path, start, len)?);
        }
        if self.files.is_empty() {
            let first = end.map_or(0, |e| e - e % len);
            self.files.push_back(MappedFile::create(
                &self.log_dir(),
                first,
                len,
                self.config.warm_up,
            )?);
        }
        Ok(())
    }

    /// Opens after a clean shutdown, trusting the record of the log's end and the queue
    /// lengths after checking each queue against the log. An error means: recover.
    pub(super) fn open_clean(&mut self, marker: &str) -> std::result::Result<(), String> {
        let CleanShutdown { end, partitions } = CleanShutdown::decode(marker)?;
        self.open_files(Some(end)).map_err(|e| e.to_string())?;
        let first = self.files.front().map(|f| f.start).unwrap_or(0);
        let last = self.current().start;
        let files = Files::of(&self.files, self.config.file_bytes);
        if end < last || end > last + self.config.file_bytes {
            return Err(format!("end {end} is outside the last file"));
        }
        self.write_at = (end - last) as usize;
        for f in self.files.iter_mut() {
            f.map.commit(if f.start == last {
                self.write_at
            } else {
                f.map.len()
            });
        }
        for QueueState {
            tp,
            entries: count,
            next_offset: next,
        } in partitions
        {
            let mut queue =
                ConsumeQueue::open(&self.queue_dir(&tp), self.config.queue_file_entries, count)
                    .map_err(|e| e.to_string())?;
            let mut i = queue.first();
            while i < count && queue.get(i).is_some_and(|e| e.position < first) {
                i += 1;
            }
            queue.set_first(i);
            let part = Partition::new(queue, next);
            self.check_queue(&files, &tp, &part, end)?;
            self.partitions.insert(tp, part);
        }
        Ok(())
    }

    /// Entries must rise in position and offset, lie below `end`, and the last must be
    /// the batch the log holds there, ending at the partition's next offset.
    fn check_queue(
        &self,
        files: &Files,
        tp: &TopicPartition,
        part: &Partition,
        end: u64,
    ) -> std::result::Result<(), String> {
        let q = &part.queue;
        let mut prev: Option<QueueEntry> = None;
        for i in q.first()..q.count() {
            let e = q
                .get(i)
                .ok_or_else(|| format!("{tp}: queue entry {i} cannot be read"))?;
            let rises =
                prev.is_none_or(|p| e.position > p.position && e.base_offset > p.base_offset);
            let within = e
                .position
                .checked_add(u64::from(e.size))
                .is_some_and(|batch_end| batch_end <= end);
            if !rises || !within {
                return Err(format!(
                    "{tp}: queue entry {i} ({e:?}) is out of order or past the log"
                ));
            }
            prev = Some(e);
        }
        if let Some(e) = prev {
            let h = files
                .header_at(e.position)
                .ok_or_else(|| format!("{tp}: no batch at {}", e.position))?;
            if h.base_offset != e.base_offset
                || h.next_offset() != part.next_offset
                || h.size() != u64::from(e.size)
            {
                return Err(format!("{tp}: the last queue entry does not match the log"));
            }
        }
        Ok(())
    }

    /// Walks the whole commit log, checks batches from the recovery point, cuts a torn
    /// tail and rebuilds every consume queue.
    pub(super) fn recover(&mut self) -> Result<()> {
        let started = std::time::Instant::now();
        self.open_files(None)?;
        let floors = self.read_partitions()?;
        let queue_root = self.root.join(QUEUE_DIR);
        fs::remove_dir_all(&queue_root).map_err(Error::io("remove", &queue_root))?;
        fs::create_dir_all(&queue_root).map_err(Error::io("create directory", &queue_root))?;
        let total: u64 = self.files.len() as u64 * self.config.file_bytes;
        // A log that holds nothing (a new store) has nothing to report.
        let holds_data = self.files.len() > 1
            || self.files.front_mut().is_some_and(|f| {
                !matches!(
                    entry::decode(f.map.all(), false),
                    Ok(Found::End | Found::Blank)
                )
            });
        let report = holds_data && total >= 64 << 20 && self.config.progress.is_some();
        // Like the segment engine, the whole file holding the recovery point is checked.
        let rp = self.recovery_point - self.recovery_point % self.config.file_bytes;
        let (mut idx, mut at) = (0usize, 0usize);
        let damage: Option<String> = loop {
            if report && at == 0 {
                self.report(&format!(
                    "commit log: recovering file {} of {}",
                    idx + 1,
                    self.files.len()
                ));
            }
            let file = &mut self.files[idx];
            let global = file.start + at as u64;
            let found = entry::decode(&file.map.all()[at..], global >= rp);
            match found {
                Ok(Found::Entry {
                    tp,
                    batch_at,
                    length,
                    header,
                }) => {
                    if header.leader_epoch != batch::LEADER_EPOCH {
                        break Some(format!("batch has leader epoch {}", header.leader_epoch));
                    }
                    if self.deleted.get(&tp).is_some_and(|&until| global < until) {
                        at += length;
                        continue;
                    }
                    let part = match self.partitions.get_mut(&tp) {
                        Some(p) => p,
                        None => {
                            let queue = ConsumeQueue::create(
                                &self.queue_dir(&tp),
                                self.config.queue_file_entries,
                            )?;
                            let next_offset = header.base_offset;
                            self.partitions
                                .entry(tp.clone())
                                .or_insert(Partition::new(queue, next_offset))
                        }
                    };
                    if header.base_offset != part.next_offset {
                        break Some(format!(
                            "{tp}: batch has base offset {} where {} follows",
                            header.base_offset, part.next_offset
                        ));
                    }
                    part.queue.reserve(1)?;
                    part.queue.push_all(&[QueueEntry {
                        position: global + batch_at as u64,
                        size: header.size() as u32,
                        base_offset: header.base_offset,
                    }])?;
                    part.next_offset = header.next_offset();
                    at += length;
                }
                Ok(Found::Blank) if idx + 1 < self.files.len() => (idx, at) = (idx + 1, 0),
                Ok(Found::Blank) => {
                    at = self.config.file_bytes as usize;
                    break None;
                }
                Ok(Found::End) => break None,
                Err(reason) => break Some(reason),
            }
        };
        let mut cut = None;
        let later_valid =
            (idx + 1..self.files.len()).any(|i| valid_entry_from(self.files[i].map.all(), 0));
        let damage = damage.or_else(|| {
            later_valid.then(|| "the log ends here, but later files hold entries".to_string())
        });
        if let Some(reason) = damage {
            let torn = !later_valid && !valid_entry_from(self.files[idx].map.all(), at + 1);
            let path = self.files[idx].path.clone();
            if !torn && !self.config.repair {
                return Err(Error::Corrupt {
                    file: path,
                    position: at as u64,
                    reason,
                });
            }
            let what = if torn {
                "torn tail"
            } else {
                "repairing damage"
            };
            self.report(&format!(
                "{what} at byte {at} of {}: {reason}; zeroing from there",
                path.display()
            ));
            self.files[idx].zero_from(at)?;
            cut = Some((path, at));
        }
        let dropped = self.files.len() - (idx + 1);
        while self.files.len() > idx + 1 {
            self.files.pop_back().expect("more files").delete()?;
        }
        self.write_at = at;
        let last = self.files.len() - 1;
        for (i, f) in self.files.iter_mut().enumerate() {
            let len = f.map.len();
            f.map.commit(if i == last { at } else { len });
        }
        for (tp, floor) in floors {
            match self.partitions.get_mut(&tp) {
                Some(p) => p.next_offset = p.next_offset.max(floor),
                None => {
                    let queue =
                        ConsumeQueue::create(&self.queue_dir(&tp), self.config.queue_file_entries)?;
                    self.partitions.insert(tp, Partition::new(queue, floor));
                }
            }
        }
        // As Kafka's log loader reports a recovery: where it checked from, what it cut,
        // how long it took.
        let end = self.files.back().map_or(0, |f| f.start) + at as u64;
        let first = self.files.front().map_or(0, |f| f.start);
        if end == first && cut.is_none() {
            // A new store, or one that never held a batch: nothing was recovered.
            return Ok(());
        }
        let cut = match cut {
            Some((file, at)) => format!(
                "zeroed {} from byte {at}{}",
                file.display(),
                if dropped > 0 {
                    format!(" and deleted {dropped} later file(s)")
                } else {
                    String::new()
                }
            ),
            None => "nothing cut".into(),
        };
        self.report(&format!(
            "commit log: recovered after an unclean stop, walked {} bytes from byte {first} (CRC-checked from byte {rp}, the file holding the recovery point) and rebuilt {} consume queue(s); {cut}; in {:?}",
            end.saturating_sub(first),
            self.partitions.len(),
            started.elapsed()
        ));
        Ok(())
    }
}

/// Whether a valid entry may start anywhere at or after `from` in `bytes`: damage
/// followed by valid data is not a torn tail. As the segment engine's search, its CRC
/// work is bounded (by twice the bytes searched and 1 MiB); past that the answer is
/// `true`, so the damage is reported and nothing is cut.
fn valid_entry_from(bytes: &[u8], from: usize) -> bool {
    search_valid_entry(bytes, from).0
}

/// [`valid_entry_from`], also returning the bytes its candidates could have CRC'd.
fn search_valid_entry(bytes: &[u8], from: usize) -> (bool, u64) {
    let magic = ENTRY_MAGIC.to_be_bytes();
    let budget = 2 * bytes.len().saturating_sub(from) as u64 + (1 << 20);
    let mut checked = 0u64;
    let mut at = from;
    while let Some(i) = bytes
        .get(at..)
        .and_then(|rest| rest.windows(4).position(|w| w == magic))
    {
        let candidate = &bytes[at + i..];
        checked += entry::declared_length(candidate)
            .unwrap_or(0)
            .min(candidate.len()) as u64;
        if checked > budget {
            return (true, checked);
        }
        if matches!(entry::decode(candidate, true), Ok(Found::Entry { .. })) {
            return (true, checked);
        }
        at += i + 1;
    }
    (false, checked)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn searching_damage_for_a_valid_entry_does_bounded_work() {
        // Every 8th byte starts the entry magic with a length claiming the rest.
        let len = 256 << 10;
        let mut bytes = vec![0u8; len];
        for at in (0..len - 8).step_by(8) {
            bytes[at..at + 4].copy_from_slice(&ENTRY_MAGIC.to_be_bytes());
            bytes[at + 4..at + 8].copy_from_slice(&((len - at) as u32).to_be_bytes());
        }
        let (found, checked) = search_valid_entry(&bytes, 0);
        assert!(found, "out of budget answers as if valid data followed");
        assert!(
            checked <= 2 * len as u64 + (1 << 20) + len as u64,
            "{checked}"
        );
        assert_eq!(search_valid_entry(&[0u8; 4096], 0), (false, 0));
    }
}
