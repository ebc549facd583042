//! One topic-partition's log: its segments in offset order, rolls, retention, fsync
//! policy, the recovery point and the clean-shutdown marker, and recovery after a crash.

use std::collections::BTreeMap;
use std::fs;
use std::ops::Bound;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, RwLock};
use std::time::Instant;

mod cleaner;

use super::Config;
use super::segment::{self, Damage, IndexLimits, LOG_SUFFIX, Segment};
use crate::batch::{self, Header};
use crate::error::{Error, Result};
use crate::{Appended, Chunk, Fsync, Offsets, TopicPartition, files, locks, recovery_point};

pub use crate::recovery_point::RECOVERY_POINT_FILE;
pub use cleaner::CLEANER_POINT_FILE;
/// File whose presence says the log was closed cleanly and needs no recovery.
pub const CLEAN_SHUTDOWN_FILE: &str = "clean-shutdown";

/// Logs at least this large report recovery progress.
const PROGRESS_FROM_BYTES: u64 = 64 << 20;

/// One partition's log. Two locks, so that reads never wait for disk work:
/// - `writer` takes appends, rolls, retention, DeleteRecords, settings and fsyncs, one at
///   a time. File writes and fsyncs run under it alone.
/// - `view` holds what reads see. Only a holder of `writer` takes it for writing, and
///   only to publish what it already wrote (an append's indexing, a roll's new segment,
///   retention's removal): memory updates, no I/O but an index trim at a roll. While
///   `writer` does I/O it holds at most a read lock on `view`, which no one else wants
///   for writing, so reads go on beside it.
pub(crate) struct PartitionLog {
    tp: TopicPartition,
    dir: PathBuf,
    view: RwLock<View>,
    writer: Mutex<Writer>,
    /// Held by a pass of the cleaner, which takes `writer` only to start and to swap.
    cleaner: Mutex<()>,
    /// Set when the partition is deleted or closed: a running pass stops.
    abort_cleaning: AtomicBool,
}

/// The part of a log that reads use.
struct View {
    /// Never empty: the last one takes appends.
    segments: BTreeMap<i64, Segment>,
    /// The log start offset DeleteRecords set (kept in `LOG_START_FILE`); the log starts
    /// at this or at its first segment, whichever is later.
    log_start: i64,
}

/// The part of a log that only appends and maintenance use.
struct Writer {
    config: Arc<Config>,
    /// The recovery point last written to the checkpoint.
    recovery_point: i64,
    /// Offset below which background flushes (after rolls) have finished.
    flushed: i64,
    flushers: files::Flushers,
    /// When the oldest append not yet fsynced happened.
    dirty_since: Option<Instant>,
    /// Set when the partition is deleted or closed: appends then fail.
    closed: bool,
    /// The offset the cleaner has cleaned up to (kept in `CLEANER_POINT_FILE`).
    cleaner_point: i64,
}

impl View {
    fn active(&self) -> &Segment {
        self.segments
            .values()
            .next_back()
            .expect("a log always has a segment")
    }

    fn active_mut(&mut self) -> &mut Segment {
        self.segments
            .values_mut()
            .next_back()
            .expect("a log always has a segment")
    }

    fn next_offset(&self) -> i64 {
        self.active().next_offset
    }

    fn offsets(&self) -> Offsets {
        let first = *self
            .segments
            .keys()
            .next()
            .expect("a log always has a segment");
        let end = self.next_offset();
        Offsets {
            // A recovery that truncated below a DeleteRecords mark leaves the log
            // empty at its end, never starting past it.
            start: first.max(self.log_start).min(end),
            end,
        }
    }

    /// Takes out the oldest segments while the next one starts at or below the log start
    /// offset, for the caller to delete once the lock is released. The segment taking
    /// appends is never taken.
    fn take_below_start(&mut self) -> Vec<Segment> {
        let mut doomed = Vec::new();
        while self.segments.len() > 1
            && self
                .segments
                .keys()
                .nth(1)
                .is_some_and(|&next| next <= self.log_start)
        {
            doomed.extend(self.segments.pop_first().map(|(_, s)| s));
        }
        doomed
    }

    fn should_roll(
        &self,
        config: &Config,
        total: u64,
        next: i64,
        headers: &[(usize, Header)],
        now_ms: i64,
    ) -> bool {
        let active = self.active();
        if active.size == 0 {
            return false;
        }
        let too_old = config.segment_age.is_some_and(|age| {
            let first = active
                .first_timestamp
                .or(headers.first().map(|(_, h)| h.max_timestamp));
            first.is_some_and(|t| now_ms.saturating_sub(t) > age.as_millis() as i64)
        });
        active.size + total > config.segment_bytes
            || !active.indexes_have_room(total)
            || next - 1 - active.base_offset > i64::from(u32::MAX)
            || too_old
    }
}

impl PartitionLog {
    fn limits(config: &Config) -> IndexLimits {
        IndexLimits {
            interval: config.index_interval,
            max_bytes: config.max_index_bytes,
        }
    }

    /// Opens (creating if needed) the log in `dir`, recovering it if it was not closed
    /// cleanly.
    pub(crate) fn open(
        dir: &Path,
        tp: TopicPartition,
        config: Arc<Config>,
    ) -> Result<PartitionLog> {
        fs::create_dir_all(dir).map_err(Error::io("create directory", dir))?;
        cleaner::finish_interrupted(dir)?;
        let bases = list_segments(dir)?;
        let limits = PartitionLog::limits(&config);
        let clean_marker = dir.join(CLEAN_SHUTDOWN_FILE);
        let clean = clean_marker.exists();
        // The offset below which every batch is known to be on disk.
        let checkpoint = recovery_point::read(dir)?.and_then(|p| i64::try_from(p).ok());
        let started = Instant::now();
        let mut segments = BTreeMap::new();
        let mut recovered = Recovered::default();
        if bases.is_empty() {
            segments.insert(0, Segment::create(dir, 0, limits)?);
        } else {
            (segments, recovered) = open_segments(dir, &tp, &bases, clean, checkpoint, &config)?;
        }
        if !clean && !bases.is_empty() {
            // As Kafka's log loader reports a recovery: where it checked from, what it
            // cut, how long it took.
            progress(
                &config,
                &recovered.describe(&tp, checkpoint, started.elapsed()),
            );
        }
        let log_start = recovery_point::read_named(dir, recovery_point::LOG_START_FILE)?
            .and_then(|p| i64::try_from(p).ok())
            .unwrap_or(0);
        let cleaner_point = recovery_point::read_named(dir, CLEANER_POINT_FILE)?
            .and_then(|p| i64::try_from(p).ok())
            .unwrap_or(0);
        let end = segments.values().next_back().map_or(0, |s| s.next_offset);
        if log_start > end {
            // DeleteRecords moved the start past what survived a crash (appends not yet
            // on disk were lost): as Kafka's log loader, the log starts again, empty, at
            // the start offset, so that what is appended next is served.
            progress(
                &config,
                &format!(
                    "{tp}: the log ends at {end}, below its log start offset {log_start}; starting it empty at {log_start}"
                ),
            );
            for (_, segment) in std::mem::take(&mut segments) {
                segment.delete()?;
            }
            segments.insert(log_start, Segment::create(dir, log_start, limits)?);
        }
        let mut view = View {
            segments,
            log_start,
        };
        view.active_mut().make_active()?;
        let next_offset = view.next_offset();
        let log = PartitionLog {
            tp,
            dir: dir.to_owned(),
            view: RwLock::new(view),
            writer: Mutex::new(Writer {
                config,
                recovery_point: checkpoint.unwrap_or(0),
                flushed: checkpoint.unwrap_or(0),
                flushers: files::Flushers::default(),
                dirty_since: None,
                closed: false,
                cleaner_point,
            }),
            cleaner: Mutex::new(()),
            abort_cleaning: AtomicBool::new(false),
        };
        // What recovery checked is made durable before it becomes the recovery point, so
        // a second crash does not skip it.
        if !clean || checkpoint != Some(next_offset) {
            log.flush()?;
        }
        files::remove(&clean_marker)?;
        files::sync_dir(dir)?;
        Ok(log)
    }

    /// Bytes of all segments.
    pub(crate) fn size(&self) -> u64 {
        locks::read(&self.view)
            .segments
            .values()
            .map(|s| s.size)
            .sum()
    }

    pub(crate) fn offsets(&self) -> Offsets {
        locks::read(&self.view).offsets()
    }

    /// Holds the writer as an append or an fsync does, for tests of what waits for it.
    #[cfg(test)]
    pub(crate) fn hold_writer(&self) -> MutexGuard<'_, impl Sized> {
        locks::lock(&self.writer)
    }

    /// The writer, unless the partition was deleted or closed.
    fn writer(&self) -> Result<MutexGuard<'_, Writer>> {
        let w = locks::lock(&self.writer);
        if w.closed {
            return Err(Error::UnknownPartition(self.tp.clone()));
        }
        Ok(w)
    }

    /// Moves the log start offset up to `offset` (DeleteRecords) and deletes the
    /// segments wholly below it; returns the log start offset.
    pub(crate) fn delete_records(&self, offset: i64) -> Result<i64> {
        let _w = self.writer()?;
        let Offsets { start, end } = self.offsets();
        if offset > end {
            return Err(Error::OffsetOutOfRange {
                partition: self.tp.clone(),
                offset,
                start,
                end,
            });
        }
        if offset <= start {
            return Ok(start);
        }
        // Durable before anything is deleted: a crash in between finds the mark and
        // serves nothing below it, and the next retention pass takes the segments.
        recovery_point::write_named(&self.dir, recovery_point::LOG_START_FILE, offset as u64)?;
        let doomed = {
            let mut view = locks::write(&self.view);
            view.log_start = offset;
            view.take_below_start()
        };
        doomed.into_iter().try_for_each(Segment::delete)?;
        Ok(offset)
    }

    pub(crate) fn append(&self, buf: &mut [u8], now_ms: i64) -> Result<Appended> {
        let mut w = self.writer()?;
        let mut headers = crate::appended_batches(buf)?;
        let total = buf.len() as u64;
        if total > w.config.segment_bytes {
            return Err(Error::BatchTooLarge {
                size: total,
                max: w.config.segment_bytes,
            });
        }
        let base = locks::read(&self.view).next_offset();
        let mut next = base;
        for (at, header) in &mut headers {
            batch::set_base_offset(&mut buf[*at..], next);
            batch::set_leader_epoch(&mut buf[*at..], batch::LEADER_EPOCH);
            header.base_offset = next;
            header.leader_epoch = batch::LEADER_EPOCH;
            next = header.next_offset();
        }
        let roll = locks::read(&self.view).should_roll(&w.config, total, next, &headers, now_ms);
        if roll {
            self.roll(&mut w)?;
        }
        locks::read(&self.view).active().write(buf)?;
        locks::write(&self.view)
            .active_mut()
            .index_written(buf.len(), &headers);
        w.dirty_since.get_or_insert_with(Instant::now);
        match w.config.fsync {
            Fsync::Always => self.sync_active(&mut w)?,
            Fsync::Interval(every) if w.dirty_since.is_some_and(|t| t.elapsed() >= every) => {
                self.sync_active(&mut w)?
            }
            _ => {}
        }
        Ok(Appended {
            base_offset: base,
            last_offset: next - 1,
        })
    }

    /// Starts a new segment at the next offset. The new one is created first, so a
    /// failure (a full disk) leaves the old one taking appends; the old one is then
    /// finished and fsynced on another thread, and the recovery point follows.
    fn roll(&self, w: &mut Writer) -> Result<()> {
        let base = locks::read(&self.view).next_offset();
        let fresh = Segment::create(&self.dir, base, PartitionLog::limits(&w.config))?;
        let to_sync = {
            let mut view = locks::write(&self.view);
            let old = view.active_mut();
            old.finish()?;
            let to_sync = old.files_to_sync()?;
            view.segments.insert(base, fresh);
            to_sync
        };
        w.flushers.spawn(base as u64, move || {
            for (path, file) in to_sync {
                file.sync_data().map_err(Error::io("fsync", path))?;
            }
            Ok(())
        });
        Ok(())
    }

    /// Collects the finished background flushes (with `all`, waits for them) and moves
    /// `flushed` past what they made durable.
    fn reap(&self, w: &mut Writer, all: bool) -> Result<()> {
        if let Some(end) = w.flushers.reap(all)? {
            w.flushed = w.flushed.max(end as i64);
        }
        Ok(())
    }

    fn sync_active(&self, w: &mut Writer) -> Result<()> {
        // The recovery point may only pass a rolled segment once its flush is done.
        self.reap(w, true)?;
        if w.flushers.failed() {
            // A rolled segment's flush failed: everything from the recovery point is
            // synced here instead.
            self.sync_rolled(w)?;
            w.flushers.covered();
        }
        let end = {
            let view = locks::read(&self.view);
            view.active().sync()?;
            view.next_offset()
        };
        w.flushed = w.flushed.max(end);
        w.dirty_since = None;
        Ok(())
    }

    /// fsync of every segment from the one holding the recovery point.
    fn sync_rolled(&self, w: &Writer) -> Result<()> {
        let view = locks::read(&self.view);
        // The segment holding the recovery point starts below it.
        if let Some((_, s)) = view.segments.range(..=w.recovery_point).next_back() {
            s.sync()?;
        }
        for segment in view.segments.range(w.recovery_point..).map(|(_, s)| s) {
            segment.sync()?;
        }
        Ok(())
    }

    fn write_recovery_point(&self, w: &mut Writer) -> Result<()> {
        let end = locks::read(&self.view).next_offset();
        let point = w.flushed.min(end);
        if point != w.recovery_point {
            recovery_point::write(&self.dir, point.max(0) as u64)?;
            w.recovery_point = point;
        }
        Ok(())
    }

    /// Forces everything appended to disk and writes the recovery point; nothing once
    /// the partition is deleted or closed.
    pub(crate) fn flush(&self) -> Result<()> {
        match self.writer() {
            Ok(mut w) => self.flush_with(&mut w),
            Err(_) => Ok(()),
        }
    }

    fn flush_with(&self, w: &mut Writer) -> Result<()> {
        self.reap(w, true)?;
        self.sync_rolled(w)?;
        w.flushers.covered();
        self.sync_active(w)?;
        self.write_recovery_point(w)
    }

    pub(crate) fn maintain(&self, now_ms: i64) -> Result<()> {
        let Ok(mut w) = self.writer() else {
            return Ok(());
        };
        self.reap(&mut w, false)?;
        if let Fsync::Interval(every) = w.config.fsync
            && w.dirty_since.is_some_and(|t| t.elapsed() >= every)
        {
            self.sync_active(&mut w)?;
        }
        let config = Arc::clone(&w.config);
        self.apply_retention(&config, now_ms)?;
        self.write_recovery_point(&mut w)
    }

    /// Deletes the oldest segments while the log is over its size limit or their newest
    /// batch is older than the age limit, if its cleanup policy says to delete. The
    /// segment taking appends is never deleted.
    fn apply_retention(&self, config: &Config, now_ms: i64) -> Result<()> {
        let doomed = {
            let mut view = locks::write(&self.view);
            let mut doomed = view.take_below_start();
            let mut total: u64 = view.segments.values().map(|s| s.size).sum();
            while config.cleanup.delete && view.segments.len() > 1 {
                let oldest = view
                    .segments
                    .values()
                    .next()
                    .expect("more than one segment");
                let by_size = config
                    .retention_bytes
                    .is_some_and(|limit| total - oldest.size >= limit);
                let by_age = config.retention_age.is_some_and(|age| {
                    oldest.max_timestamp != i64::MIN
                        && now_ms.saturating_sub(oldest.max_timestamp) > age.as_millis() as i64
                });
                if !by_size && !by_age {
                    break;
                }
                total -= oldest.size;
                doomed.extend(view.segments.pop_first().map(|(_, s)| s));
            }
            doomed
        };
        doomed.into_iter().try_for_each(Segment::delete)
    }

    /// The chunks of a read and the offset after its last batch.
    pub(crate) fn read(&self, offset: i64, max_bytes: u64) -> Result<(Vec<Chunk>, i64)> {
        let view = locks::read(&self.view);
        let Offsets { start, end } = view.offsets();
        if offset < start || offset > end {
            return Err(Error::OffsetOutOfRange {
                partition: self.tp.clone(),
                offset,
                start,
                end,
            });
        }
        let mut chunks = Vec::new();
        if offset == end {
            return Ok((chunks, offset));
        }
        let mut budget = max_bytes;
        let mut segments = view
            .segments
            .range((Bound::Unbounded, Bound::Included(offset)))
            .rev();
        let first = segments
            .next()
            .map(|(_, s)| s)
            .expect("offset lies in the log");
        let mut pos = first.find_position(offset)?;
        let mut segments = view
            .segments
            .range(first.base_offset..)
            .map(|(_, s)| s)
            .peekable();
        while let Some(segment) = segments.next() {
            let stop = segment.end_within(pos, budget, chunks.is_empty())?;
            if stop > pos {
                chunks.push(Chunk::File {
                    file: Arc::clone(&segment.log),
                    position: pos,
                    len: stop - pos,
                });
                budget = budget.saturating_sub(stop - pos);
            }
            // The next offset: the batch where the read stopped, the next segment's
            // base, or the log's end.
            if stop < segment.size {
                return Ok((chunks, segment.read_header(stop)?.base_offset));
            }
            let next = segments.peek().map_or(end, |s| s.base_offset);
            if budget == 0 {
                return Ok((chunks, next));
            }
            pos = 0;
        }
        Ok((chunks, end))
    }

    pub(crate) fn offset_for_timestamp(&self, timestamp: i64) -> Result<Option<i64>> {
        let view = locks::read(&self.view);
        let Offsets { start, end } = view.offsets();
        for segment in view.segments.values() {
            if segment.max_timestamp >= timestamp
                && let Some(offset) = segment.find_timestamp(timestamp)?
            {
                // Records below the log start offset are not served, so not found.
                return Ok((offset.max(start) < end).then_some(offset.max(start)));
            }
        }
        Ok(None)
    }

    /// Replaces the partition's settings (a topic's overrides).
    pub(crate) fn set_config(&self, config: Arc<Config>) {
        locks::lock(&self.writer).config = config;
    }

    /// Stops the partition's appends and background work before its directory is
    /// deleted. Reads lent earlier stay valid.
    pub(crate) fn discard(&self) -> Result<()> {
        self.abort_cleaning.store(true, Ordering::Relaxed);
        let _pass = locks::lock(&self.cleaner);
        let mut w = locks::lock(&self.writer);
        w.closed = true;
        w.flushers.reap(true).map(drop)
    }

    /// Flushes, trims the active indexes and writes the clean-shutdown marker; appends
    /// fail after it.
    pub(crate) fn close(&self) -> Result<()> {
        self.abort_cleaning.store(true, Ordering::Relaxed);
        let _pass = locks::lock(&self.cleaner);
        let mut w = self.writer()?;
        self.flush_with(&mut w)?;
        locks::write(&self.view).active_mut().trim()?;
        locks::read(&self.view).active().sync()?;
        w.closed = true;
        files::write_atomically(&self.dir, CLEAN_SHUTDOWN_FILE, b"")
    }
}

/// Base offsets of the segments in `dir`, sorted. Leftovers of interrupted work are
/// removed: temporary files, and indexes whose log is gone (a deletion cut short).
fn list_segments(dir: &Path) -> Result<Vec<i64>> {
    let mut bases = Vec::new();
    let mut indexes = Vec::new();
    for (name, path) in files::store_entries(dir)? {
        let Some((stem, suffix)) = name.split_once('.') else {
            continue;
        };
        let Ok(base) = stem.parse::<i64>() else {
            continue;
        };
        if stem.len() != 20 || base < 0 {
            continue;
        }
        match suffix {
            LOG_SUFFIX => bases.push(base),
            segment::INDEX_SUFFIX | segment::TIME_INDEX_SUFFIX => indexes.push((base, path)),
            _ => {}
        }
    }
    bases.sort_unstable();
    for (base, path) in indexes {
        if bases.binary_search(&base).is_err() {
            files::remove(&path)?;
        }
    }
    Ok(bases)
}

/// What recovery did to one partition's log.
#[derive(Debug, Default)]
struct Recovered {
    /// Segments checked batch by batch, and their bytes.
    checked: (usize, u64),
    /// Where a torn tail or damage was cut: the file, the byte, and the bytes cut.
    cut: Option<(PathBuf, u64, u64)>,
    /// Later segments dropped with it, and their bytes.
    dropped: (usize, u64),
}

impl Recovered {
    fn describe(
        &self,
        tp: &TopicPartition,
        checkpoint: Option<i64>,
        took: std::time::Duration,
    ) -> String {
        let from = match checkpoint {
            Some(point) => format!("from its recovery point, offset {point}"),
            None => "from its start (no recovery point)".into(),
        };
        let cut = match &self.cut {
            Some((file, at, bytes)) => format!(
                "cut {bytes} bytes at byte {at} of {}{}",
                file.display(),
                if self.dropped.0 > 0 {
                    format!(
                        " and dropped {} later segment(s) of {} bytes",
                        self.dropped.0, self.dropped.1
                    )
                } else {
                    String::new()
                }
            ),
            None => "nothing cut".into(),
        };
        format!(
            "{tp}: recovered after an unclean stop, checked {} segment(s) ({} bytes) {from}; {cut}; in {took:?}",
            self.checked.0, self.checked.1
        )
    }
}

/// Opens every segment. After a clean shutdown each is opened as it is, and only one
/// whose indexes or length fail their checks is recovered. After a crash every segment
/// from the one holding the recovery point on is recovered. Damage with nothing valid
/// after it is a torn tail and is cut, with later segments; damage followed by valid data
/// refuses the open unless `config.repair`.
fn open_segments(
    dir: &Path,
    tp: &TopicPartition,
    bases: &[i64],
    clean: bool,
    checkpoint: Option<i64>,
    config: &Config,
) -> Result<(BTreeMap<i64, Segment>, Recovered)> {
    let limits = PartitionLog::limits(config);
    let mut recovered = Recovered::default();
    let file_len = |base: i64| {
        fs::metadata(dir.join(segment::file_name(base, LOG_SUFFIX))).map_or(0, |m| m.len())
    };
    let recover_from = if clean {
        i64::MAX
    } else {
        checkpoint.unwrap_or(0)
    };
    let log_bytes = |from: usize| -> u64 {
        bases[from..]
            .iter()
            .filter_map(|b| fs::metadata(dir.join(segment::file_name(*b, LOG_SUFFIX))).ok())
            .map(|m| m.len())
            .sum()
    };
    let mut segments: BTreeMap<i64, Segment> = BTreeMap::new();
    // Decided at the first segment recovered: whether what is left is large enough to
    // report segment by segment.
    let mut report = None;
    for (i, &base) in bases.iter().enumerate() {
        let next_base = bases.get(i + 1).copied();
        let mut opened = None;
        if next_base.is_some_and(|n| n <= recover_from) || (clean && next_base.is_none()) {
            match Segment::open(dir, base, next_base, limits)? {
                Ok(s) => opened = Some(s),
                Err(why) => progress(
                    config,
                    &format!("{tp}: segment {base} needs recovery: {why}"),
                ),
            }
        }
        let (segment, damage) = match opened {
            Some(s) => (s, None),
            None => {
                if *report.get_or_insert_with(|| log_bytes(i) >= PROGRESS_FROM_BYTES) {
                    progress(
                        config,
                        &format!(
                            "{tp}: recovering segment {base} ({} of {}), {} bytes left",
                            i + 1,
                            bases.len(),
                            log_bytes(i)
                        ),
                    );
                }
                recovered.checked.0 += 1;
                recovered.checked.1 += file_len(base);
                Segment::recover(dir, base, limits)?
            }
        };
        let gap = segments
            .values()
            .next_back()
            .filter(|prev| prev.next_offset != segment.base_offset)
            .map(|prev| Damage {
                position: 0,
                reason: format!(
                    "segment starts at offset {base}, but the segment before ends at {}",
                    prev.next_offset
                ),
            });
        let Some(damage) = gap.clone().or(damage) else {
            segments.insert(base, segment);
            continue;
        };
        let later_valid = bases[i + 1..].iter().try_fold(false, |found, b| {
            let path = dir.join(segment::file_name(*b, LOG_SUFFIX));
            Ok::<_, Error>(found || segment::valid_batch_from(&path, 0)?)
        })?;
        // A gap means the segment itself may be valid: look from its start.
        let look_from = if gap.is_some() {
            0
        } else {
            damage.position + 1
        };
        let torn = !later_valid && !segment::valid_batch_from(&segment.log_path, look_from)?;
        if !torn && !config.repair {
            return Err(Error::Corrupt {
                file: segment.log_path.clone(),
                position: damage.position,
                reason: damage.reason,
            });
        }
        progress(
            config,
            &format!(
                "{tp}: {} at byte {} of {}: {}; truncating there{}",
                if torn {
                    "torn tail"
                } else {
                    "repairing damage"
                },
                damage.position,
                segment.log_path.display(),
                damage.reason,
                if next_base.is_some() {
                    " and dropping later segments"
                } else {
                    ""
                },
            ),
        );
        let mut segment = segment;
        if gap.is_some() {
            // Nothing of a segment after a gap can follow the log. The one before becomes
            // the last again; it is rebuilt so that its indexes carry no roll's entry.
            recovered.cut = Some((segment.log_path.clone(), 0, file_len(base)));
            segment.delete()?;
            if let Some((prev_base, prev)) = segments.pop_last() {
                drop(prev);
                let (prev, damage) = Segment::recover(dir, prev_base, limits)?;
                if let Some(d) = damage {
                    return Err(Error::Corrupt {
                        file: prev.log_path.clone(),
                        position: d.position,
                        reason: d.reason,
                    });
                }
                segments.insert(prev_base, prev);
            }
        } else {
            let len = file_len(base);
            recovered.cut = Some((
                segment.log_path.clone(),
                damage.position,
                len.saturating_sub(damage.position),
            ));
            segment.truncate(damage.position)?;
            segments.insert(base, segment);
        }
        for b in &bases[i + 1..] {
            recovered.dropped.0 += 1;
            recovered.dropped.1 += file_len(*b);
            for suffix in [
                LOG_SUFFIX,
                segment::INDEX_SUFFIX,
                segment::TIME_INDEX_SUFFIX,
            ] {
                files::remove(&dir.join(segment::file_name(*b, suffix)))?;
            }
        }
        break;
    }
    let last = segments.len().saturating_sub(1);
    for (i, segment) in segments.values_mut().enumerate() {
        if i < last {
            segment.finish()?;
        }
    }
    Ok((segments, recovered))
}

fn progress(config: &Config, line: &str) {
    if let Some(report) = &config.progress {
        report(line);
    }
}
