//! The log cleaner, as Kafka's: compaction of a partition whose cleanup policy includes
//! `compact`, keeping the latest record of each key.
//!
//! A pass maps each key to its latest offset over the dirty part of the log (from where
//! the last pass ended to the segment taking appends), then rewrites every segment below
//! that point, in groups that fit one segment, keeping a record only if no later one has
//! its key, and a tombstone (a null value) only until `delete.retention.ms` after it was
//! written. Reads and appends go on meanwhile: the pass reads segments that no longer
//! change, writes each group's replacement into `cleaning/`, and swaps it in under the
//! writer lock, after checking that the segments it replaces are still the log's.
//!
//! Offsets never move, and still run on from batch to batch as recovery checks: a batch
//! keeps its base offset and its offset range, and a range whose every record was
//! removed is covered by the batch before it, widened, when that batch has no producer
//! whose sequence numbers its range carries, or else by an empty batch. A producer's
//! last batch is kept, emptied if need be, so its sequence survives (as Kafka keeps it).
//! Compressed and control batches are kept whole: their records are neither removed nor
//! seen as superseding others.
//!
//! The swap survives a crash at any point: the group's files are written and fsynced in
//! `cleaning/`, which is renamed to `swap/` (the commit point) before an old segment is
//! touched; an open that finds `swap/` finishes the swap, one that finds `cleaning/`
//! drops it.

use std::collections::HashMap;
use std::fs::{self, File};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use super::{PartitionLog, Writer};
use crate::batch::{self, Compression, HEADER_LEN, Header, LOG_APPEND_TIME};
use crate::error::{Error, Result};
use crate::segment::Config;
use crate::segment::segment::{self, INDEX_SUFFIX, LOG_SUFFIX, Segment, TIME_INDEX_SUFFIX};
use crate::{Cleaned, files, locks, recovery_point};

/// File in a partition's directory holding the offset the last pass cleaned up to.
pub const CLEANER_POINT_FILE: &str = "cleaner-offset-checkpoint";
/// Where a pass writes a group's replacement.
const CLEANING_DIR: &str = "cleaning";
/// `cleaning/` once complete: its segment replaces the old ones.
const SWAP_DIR: &str = "swap";
/// File in `swap/` naming the offset the replaced segments end at.
const REPLACES_FILE: &str = "replaces";

/// Bytes a key costs the cleaner's buffer beyond its own: the map entry.
const ENTRY_COST: u64 = 48;
/// Bytes of batches read, and of cleaned batches written, at a time.
const IO_BYTES: usize = 1 << 20;

/// A segment that no longer takes appends, as the pass found it.
struct Inactive {
    base: i64,
    end: i64,
    size: u64,
    log: Arc<File>,
    path: PathBuf,
}

/// What a pass starts from.
struct Plan {
    config: Arc<Config>,
    /// Where the last pass cleaned up to.
    point: i64,
    /// The segments not taking appends, oldest first.
    segments: Vec<Inactive>,
}

/// The latest offset of each key of the dirty part, and each producer's last batch.
struct KeyMap {
    latest: HashMap<Box<[u8]>, i64>,
    /// Producer id → base offset of its last batch.
    producers: HashMap<i64, i64>,
    /// Segments before this index were mapped whole: the pass cleans them.
    mapped: usize,
}

impl PartitionLog {
    /// One pass of the cleaner, if the partition is compacted and dirty enough.
    pub(crate) fn clean(&self, now_ms: i64, stop: &AtomicBool) -> Result<Option<Cleaned>> {
        let _pass = locks::lock(&self.cleaner);
        let stopped =
            || stop.load(Ordering::Relaxed) || self.abort_cleaning.load(Ordering::Relaxed);
        let Some(Plan {
            config,
            point,
            segments,
        }) = self.plan()?
        else {
            return Ok(None);
        };
        let dirty_from = segments
            .iter()
            .position(|s| s.end > point)
            .unwrap_or(segments.len());
        let total: u64 = segments.iter().map(|s| s.size).sum();
        let dirty: u64 = segments[dirty_from..].iter().map(|s| s.size).sum();
        if dirty == 0 || (dirty as f64) < config.min_cleanable_ratio * total as f64 {
            return Ok(None);
        }
        let Some(map) = KeyMap::build(&segments, dirty_from, config.cleaner_buffer, &stopped)?
        else {
            return Ok(None);
        };
        if map.mapped == dirty_from {
            return Err(Error::Config(format!(
                "{}: the cleaner's buffer of {} bytes cannot hold the keys of segment {}; raise it",
                self.tp, config.cleaner_buffer, segments[dirty_from].base
            )));
        }
        let cleanable = &segments[..map.mapped];
        let cleaned_to = cleanable.last().map_or(point, |s| s.end);
        let mut report = Cleaned {
            partition: self.tp.clone(),
            segments_before: 0,
            segments_after: 0,
            bytes_before: 0,
            bytes_after: 0,
            records_removed: 0,
            cleaned_to,
        };
        for group in groups(cleanable, config.segment_bytes) {
            let Some((after, removed)) =
                self.clean_group(group, &map, &config, now_ms, &stopped)?
            else {
                // Stopped, or the log changed under the pass: what was swapped in stays,
                // and the next pass starts from the old point.
                report.cleaned_to = point;
                return Ok((report.segments_before > 0).then_some(report));
            };
            report.segments_before += group.len();
            report.segments_after += 1;
            report.bytes_before += group.iter().map(|s| s.size).sum::<u64>();
            report.bytes_after += after;
            report.records_removed += removed;
        }
        let Ok(mut w) = self.writer() else {
            return Ok(Some(report));
        };
        recovery_point::write_named(&self.dir, CLEANER_POINT_FILE, cleaned_to as u64)?;
        w.cleaner_point = cleaned_to;
        Ok(Some(report))
    }

    /// The settings, the cleaner point and the segments not taking appends, unless the
    /// partition is not compacted or is closed.
    fn plan(&self) -> Result<Option<Plan>> {
        let Ok(w) = self.writer() else {
            return Ok(None);
        };
        if !w.config.cleanup.compact {
            return Ok(None);
        }
        let view = locks::read(&self.view);
        let inactive = view.segments.len() - 1;
        let segments = view
            .segments
            .values()
            .take(inactive)
            .map(|s| Inactive {
                base: s.base_offset,
                end: s.next_offset,
                size: s.size,
                log: Arc::clone(&s.log),
                path: s.log_path.clone(),
            })
            .collect();
        Ok(Some(Plan {
            config: Arc::clone(&w.config),
            point: w.cleaner_point,
            segments,
        }))
    }

    /// Writes the cleaned replacement of `group` and swaps it in; returns its size and
    /// the records removed, or `None` if the pass stopped or the log changed meanwhile.
    fn clean_group(
        &self,
        group: &[Inactive],
        map: &KeyMap,
        config: &Config,
        now_ms: i64,
        stopped: &dyn Fn() -> bool,
    ) -> Result<Option<(u64, u64)>> {
        let cleaning = self.dir.join(CLEANING_DIR);
        remove_dir(&cleaning)?;
        fs::create_dir(&cleaning).map_err(Error::io("create directory", &cleaning))?;
        let (base, end) = (group[0].base, group[group.len() - 1].end);
        let mut out = Output::new(Segment::create(
            &cleaning,
            base,
            PartitionLog::limits(config),
        )?);
        let mut removed = 0u64;
        let retention = config.delete_retention.as_millis() as i64;
        for s in group {
            let finished = for_each_batch(s, stopped, |h, bytes| {
                let (kept, gone) =
                    decide(h, bytes, map, now_ms, retention).map_err(|e| corrupt(s, h, e))?;
                removed += gone;
                match kept {
                    Some(b) => out.keep(b),
                    None => {
                        out.dropped(h.max_timestamp);
                        Ok(())
                    }
                }
            })?;
            if !finished {
                remove_dir(&cleaning)?;
                return Ok(None);
            }
        }
        let cleaned = out.finish(end)?;
        let size = cleaned.size;
        drop(cleaned);
        files::write_atomically(
            &cleaning,
            REPLACES_FILE,
            format!("{base} {end}\n").as_bytes(),
        )?;

        let mut w = match self.writer() {
            Ok(w) if !stopped() => w,
            _ => {
                remove_dir(&cleaning)?;
                return Ok(None);
            }
        };
        if !self.still_holds(&w, group) {
            remove_dir(&cleaning)?;
            return Ok(None);
        }
        let swap = self.dir.join(SWAP_DIR);
        fs::rename(&cleaning, &swap).map_err(Error::io("rename", &cleaning))?;
        let install = || -> Result<Segment> {
            files::sync_dir(&self.dir)?;
            #[cfg(test)]
            tests::crash_at(tests::Crash::Committed)?;
            finish_swap(&self.dir)?;
            match Segment::open(&self.dir, base, Some(end), PartitionLog::limits(config))? {
                Ok(s) => Ok(s),
                Err(reason) => Err(Error::Corrupt {
                    file: self.dir.join(segment::file_name(base, LOG_SUFFIX)),
                    position: 0,
                    reason: format!("the cleaned segment does not open: {reason}"),
                }),
            }
        };
        let fresh = match install() {
            Ok(s) => s,
            Err(e) => {
                // Past the commit point the files on disk may no longer be the ones the
                // view names: the partition takes nothing more until the next open
                // finishes the swap from `swap/`.
                w.closed = true;
                return Err(e);
            }
        };
        let mut view = locks::write(&self.view);
        let old: Vec<i64> = view.segments.range(base..end).map(|(b, _)| *b).collect();
        for b in old {
            view.segments.remove(&b);
        }
        view.segments.insert(base, fresh);
        Ok(Some((size, removed)))
    }

    /// Whether the log's segments from the group's first to its last are still the ones
    /// the pass read (DeleteRecords may have removed some meanwhile).
    fn still_holds(&self, _w: &Writer, group: &[Inactive]) -> bool {
        let view = locks::read(&self.view);
        let (base, end) = (group[0].base, group[group.len() - 1].end);
        let now: Vec<_> = view.segments.range(base..end).map(|(_, s)| s).collect();
        let active = view.active().base_offset;
        active >= end
            && now.len() == group.len()
            && now
                .iter()
                .zip(group)
                .all(|(s, g)| s.base_offset == g.base && Arc::ptr_eq(&s.log, &g.log))
    }
}

impl KeyMap {
    /// Maps the keys of the segments from `dirty_from`, while their bytes fit in
    /// `budget`; `None` if the pass was stopped.
    fn build(
        segments: &[Inactive],
        dirty_from: usize,
        budget: u64,
        stopped: &dyn Fn() -> bool,
    ) -> Result<Option<KeyMap>> {
        let mut map = KeyMap {
            latest: HashMap::new(),
            producers: HashMap::new(),
            mapped: segments.len(),
        };
        let mut held = 0u64;
        for (i, s) in segments.iter().enumerate() {
            let dirty = i >= dirty_from;
            let mut full = false;
            let finished = for_each_batch(s, stopped, |h, bytes| {
                if h.producer_id >= 0 {
                    map.producers.insert(h.producer_id, h.base_offset);
                }
                if !dirty || h.compression() != Compression::None || h.is_control() {
                    return Ok(());
                }
                let records = batch::raw_records(bytes, h).map_err(|e| corrupt(s, h, e))?;
                for r in records {
                    let Some(key) = r.key else { continue };
                    let offset = h.base_offset + r.offset_delta;
                    if let Some(latest) = map.latest.get_mut(key) {
                        *latest = offset;
                    } else if held + key.len() as u64 + ENTRY_COST <= budget {
                        held += key.len() as u64 + ENTRY_COST;
                        map.latest.insert(key.into(), offset);
                    } else {
                        // Keys already held still learn their later offsets: each is a
                        // record of the log that supersedes the ones before it.
                        full = true;
                    }
                }
                Ok(())
            })?;
            if !finished {
                return Ok(None);
            }
            if full {
                map.mapped = i;
                break;
            }
        }
        Ok(Some(map))
    }
}

/// What becomes of one batch: the batch to write in its place, if any, and how many of
/// its records were removed.
fn decide(
    h: &Header,
    bytes: &[u8],
    map: &KeyMap,
    now_ms: i64,
    retention_ms: i64,
) -> Result<(Option<Vec<u8>>, u64), batch::BatchError> {
    if h.compression() != Compression::None || h.is_control() {
        return Ok((Some(bytes.to_vec()), 0));
    }
    let records = batch::raw_records(bytes, h)?;
    let kept: Vec<_> = records
        .iter()
        .filter(|r| {
            let offset = h.base_offset + r.offset_delta;
            let Some(key) = r.key else { return true };
            let superseded = map.latest.get(key).is_some_and(|&latest| latest > offset);
            let timestamp = if h.attributes & LOG_APPEND_TIME != 0 {
                h.max_timestamp
            } else {
                h.base_timestamp.saturating_add(r.timestamp_delta)
            };
            let expired = r.value.is_none() && now_ms.saturating_sub(timestamp) > retention_ms;
            !superseded && !expired
        })
        .copied()
        .collect();
    let removed = (records.len() - kept.len()) as u64;
    if removed == 0 {
        return Ok((Some(bytes.to_vec()), 0));
    }
    let last_of_producer =
        h.producer_id >= 0 && map.producers.get(&h.producer_id) == Some(&h.base_offset);
    if kept.is_empty() && !last_of_producer {
        return Ok((None, removed));
    }
    Ok((
        Some(batch::rebuild(bytes, Some(&kept), h.last_offset_delta)),
        removed,
    ))
}

/// A cleaned segment being written: kept batches in order, with the offsets between
/// them covered.
struct Output {
    segment: Segment,
    buf: Vec<u8>,
    headers: Vec<(usize, Header)>,
    /// The last kept batch, held back in case the range after it must be covered.
    pending: Option<Vec<u8>>,
    /// The offset the next batch written must start at.
    next: i64,
    /// The largest timestamp of the last batch read, for empty batches.
    timestamp: i64,
}

impl Output {
    fn new(segment: Segment) -> Output {
        let next = segment.base_offset;
        Output {
            segment,
            buf: Vec::new(),
            headers: Vec::new(),
            pending: None,
            next,
            timestamp: 0,
        }
    }

    fn keep(&mut self, batch: Vec<u8>) -> Result<()> {
        let h = header(&batch)?;
        self.timestamp = h.max_timestamp;
        self.cover_to(h.base_offset)?;
        self.next = h.next_offset();
        self.pending = Some(batch);
        Ok(())
    }

    fn dropped(&mut self, timestamp: i64) {
        self.timestamp = timestamp;
    }

    /// Covers the offsets from `next` up to `to`: by widening the held-back batch, or
    /// with empty batches.
    fn cover_to(&mut self, to: i64) -> Result<()> {
        if to > self.next
            && let Some(p) = &mut self.pending
        {
            let h = header(p)?;
            let widened = to - 1 - h.base_offset;
            if h.producer_id < 0 && !h.is_control() && widened <= i64::from(i32::MAX) {
                batch::set_last_offset_delta(p, widened as i32);
                self.next = to;
            }
        }
        if let Some(p) = self.pending.take() {
            self.emit(p)?;
        }
        while self.next < to {
            let delta = (to - self.next - 1).min(i64::from(i32::MAX));
            self.emit(batch::empty(self.next, delta as i32, self.timestamp))?;
            self.next += delta + 1;
        }
        Ok(())
    }

    fn emit(&mut self, batch: Vec<u8>) -> Result<()> {
        self.headers.push((self.buf.len(), header(&batch)?));
        self.buf.extend_from_slice(&batch);
        if self.buf.len() >= IO_BYTES {
            self.write_out()?;
        }
        Ok(())
    }

    fn write_out(&mut self) -> Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        self.segment.write(&self.buf)?;
        self.segment.index_written(self.buf.len(), &self.headers);
        self.buf.clear();
        self.headers.clear();
        Ok(())
    }

    /// Covers the offsets up to `end`, writes what is held and finishes the segment:
    /// indexes trimmed, everything fsynced.
    fn finish(mut self, end: i64) -> Result<Segment> {
        self.cover_to(end)?;
        self.write_out()?;
        self.segment.finish()?;
        self.segment.sync()?;
        Ok(self.segment)
    }
}

fn header(batch: &[u8]) -> Result<Header> {
    Header::parse(batch).map_err(|source| Error::InvalidBatch {
        position: 0,
        source,
    })
}

fn corrupt(s: &Inactive, h: &Header, e: batch::BatchError) -> Error {
    Error::Corrupt {
        file: s.path.clone(),
        position: 0,
        reason: format!("batch at offset {}: {e}", h.base_offset),
    }
}

/// Calls `visit` with every batch of `s`, CRC-checked, reading [`IO_BYTES`] at a time.
/// Returns `false` if `stopped` said to stop first.
fn for_each_batch(
    s: &Inactive,
    stopped: &dyn Fn() -> bool,
    mut visit: impl FnMut(&Header, &[u8]) -> Result<()>,
) -> Result<bool> {
    let mut buf = Vec::new();
    let mut buf_at = 0u64;
    let mut pos = 0u64;
    let damaged = |position: u64, reason: String| Error::Corrupt {
        file: s.path.clone(),
        position,
        reason,
    };
    while pos < s.size {
        if stopped() {
            return Ok(false);
        }
        fill(
            s,
            &mut buf,
            &mut buf_at,
            pos,
            (HEADER_LEN as u64).min(s.size - pos),
        )?;
        let at = (pos - buf_at) as usize;
        let h = Header::parse(&buf[at..]).map_err(|e| damaged(pos, e.to_string()))?;
        if h.size() > s.size - pos {
            return Err(damaged(
                pos,
                "batch runs past the end of the segment".into(),
            ));
        }
        fill(s, &mut buf, &mut buf_at, pos, h.size())?;
        let at = (pos - buf_at) as usize;
        let bytes = &buf[at..at + h.size() as usize];
        batch::check_stored(bytes).map_err(|e| damaged(pos, e.to_string()))?;
        visit(&h, bytes)?;
        pos += h.size();
    }
    Ok(true)
}

/// Makes `buf` (which holds the bytes of `s` from `*buf_at`) hold `need` bytes from
/// `pos`, reading [`IO_BYTES`] or more when it does not.
fn fill(s: &Inactive, buf: &mut Vec<u8>, buf_at: &mut u64, pos: u64, need: u64) -> Result<()> {
    if pos >= *buf_at && pos + need <= *buf_at + buf.len() as u64 {
        return Ok(());
    }
    let want = need.max(IO_BYTES as u64).min(s.size - pos);
    buf.resize(want as usize, 0);
    s.log
        .read_exact_at(buf, pos)
        .map_err(Error::io("read", &s.path))?;
    *buf_at = pos;
    Ok(())
}

/// Consecutive runs of `segments` whose bytes together fit one segment, and whose
/// offsets fit the indexes' 32-bit relative offsets: each becomes one segment.
fn groups(segments: &[Inactive], segment_bytes: u64) -> Vec<&[Inactive]> {
    let mut out = Vec::new();
    let mut start = 0;
    while start < segments.len() {
        let mut end = start + 1;
        let mut bytes = segments[start].size;
        while let Some(next) = segments.get(end) {
            let span = next.end - 1 - segments[start].base;
            if bytes + next.size > segment_bytes || span > i64::from(u32::MAX) {
                break;
            }
            bytes += next.size;
            end += 1;
        }
        out.push(&segments[start..end]);
        start = end;
    }
    out
}

/// Removes `dir` and what it holds; a directory already gone is not an error.
fn remove_dir(dir: &Path) -> Result<()> {
    match fs::remove_dir_all(dir) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(Error::io("remove", dir)(e)),
    }
}

/// At open: finishes a swap a crash interrupted, and drops a replacement that never
/// reached it.
pub(super) fn finish_interrupted(dir: &Path) -> Result<()> {
    remove_dir(&dir.join(CLEANING_DIR))?;
    if dir.join(SWAP_DIR).is_dir() {
        finish_swap(dir)?;
    }
    Ok(())
}

/// Moves the segment in `swap/` into `dir` over the one at its base offset, removes the
/// other segments it replaces, then `swap/`. Each step can be repeated, so a crash at
/// any point leaves work the next open finishes the same way.
fn finish_swap(dir: &Path) -> Result<()> {
    let swap = dir.join(SWAP_DIR);
    let replaces = swap.join(REPLACES_FILE);
    // Written before `swap/` exists, and removed only with it.
    let range = files::read_small(&replaces)?.and_then(|text| {
        let (base, end) = text.trim_end().split_once(' ')?;
        Some((base.parse::<i64>().ok()?, end.parse::<i64>().ok()?))
    });
    let Some((base, end)) = range else {
        // `replaces` goes last, with `swap/` itself: without it, a `swap/` that still
        // holds a segment file is damage, an empty one is a finished swap.
        if files::sorted_entries(&swap)?.is_empty() {
            remove_dir(&swap)?;
            return files::sync_dir(dir);
        }
        return Err(Error::Corrupt {
            file: replaces,
            position: 0,
            reason: "an interrupted cleaner swap does not say which segments it replaces".into(),
        });
    };
    // The log last: a segment whose indexes are missing is rebuilt, one whose log is
    // missing is lost.
    for suffix in [INDEX_SUFFIX, TIME_INDEX_SUFFIX, LOG_SUFFIX] {
        let name = segment::file_name(base, suffix);
        let from = swap.join(&name);
        if from.exists() {
            fs::rename(&from, dir.join(&name)).map_err(Error::io("rename", &from))?;
        }
    }
    files::sync_dir(dir)?;
    #[cfg(test)]
    tests::crash_at(tests::Crash::Moved)?;
    for (name, path) in files::sorted_entries(dir)? {
        let Some((stem, suffix)) = name.split_once('.') else {
            continue;
        };
        let Ok(b) = stem.parse::<i64>() else { continue };
        if b > base && b < end && [LOG_SUFFIX, INDEX_SUFFIX, TIME_INDEX_SUFFIX].contains(&suffix) {
            files::remove(&path)?;
        }
    }
    files::sync_dir(dir)?;
    remove_dir(&swap)?;
    files::sync_dir(dir)
}

#[cfg(test)]
pub(super) mod tests {
    use std::cell::Cell;
    use std::time::Duration;

    use crate::batch::{self, Builder};
    use crate::segment::{Config, SegmentStore};
    use crate::{Cleanup, PartitionConfig, Store, TopicPartition};

    use super::*;

    /// Where a test makes the cleaner fail as a crash would stop it.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub(crate) enum Crash {
        /// `swap/` is complete, nothing of it moved.
        Committed,
        /// The new segment moved in, the replaced ones not yet removed.
        Moved,
    }

    thread_local! {
        static CRASH: Cell<Option<Crash>> = const { Cell::new(None) };
    }

    pub(crate) fn crash_at(at: Crash) -> Result<()> {
        if CRASH.get() == Some(at) {
            CRASH.set(None);
            return Err(Error::Config(format!("crash at {at:?}")));
        }
        Ok(())
    }

    /// A record: offset, key, value.
    type Rec = (i64, String, Option<String>);
    /// A batch: base offset, next offset, records.
    type Batch = (i64, i64, Vec<Rec>);

    const T0: i64 = 1_700_000_000_000;
    const DAY_MS: i64 = 24 * 3600 * 1000;

    fn config() -> Config {
        Config {
            segment_bytes: 4096,
            cleanup: Cleanup::COMPACT,
            ..Config::default()
        }
    }

    fn keyed(key: &str, value: Option<&str>) -> Vec<u8> {
        let mut b = Builder::new(T0);
        b.push(T0, Some(key.as_bytes()), value.map(str::as_bytes));
        b.finish()
    }

    /// Every batch of the partition from its start: (base offset, next offset, its
    /// records as (offset, key, value)).
    fn batches(store: &dyn Store, tp: &TopicPartition) -> Vec<Batch> {
        let start = store.offsets(tp).unwrap().start;
        let mut bytes = Vec::new();
        for c in store.read(tp, start, u64::MAX).unwrap() {
            c.copy_into(&mut bytes).unwrap();
        }
        let text = |b: &[u8]| String::from_utf8(b.to_vec()).unwrap();
        batch::split_stored(&bytes)
            .map(|item| {
                let (at, h) = item.unwrap();
                let records = batch::raw_records(&bytes[at..], &h)
                    .unwrap()
                    .iter()
                    .map(|r| {
                        (
                            h.base_offset + r.offset_delta,
                            text(r.key.unwrap()),
                            r.value.map(text),
                        )
                    })
                    .collect();
                (h.base_offset, h.next_offset(), records)
            })
            .collect()
    }

    /// The records of `batches`, in order.
    fn records(batches: &[Batch]) -> Vec<Rec> {
        batches.iter().flat_map(|b| b.2.clone()).collect()
    }

    /// Offsets run on from batch to batch, from the log start to its end.
    fn assert_contiguous(store: &dyn Store, tp: &TopicPartition) {
        let all = batches(store, tp);
        let o = store.offsets(tp).unwrap();
        let mut next = o.start;
        for (base, end, _) in &all {
            assert_eq!(*base, next, "a batch starts where the one before ends");
            next = *end;
        }
        assert_eq!(next, o.end);
    }

    /// 10 keys written 60 times each in turn, every value naming its round.
    fn fill(store: &dyn Store, tp: &TopicPartition) {
        for round in 0..60 {
            for k in 0..10 {
                let value = format!("round {round}");
                store
                    .append(tp, &mut keyed(&format!("k{k}"), Some(&value)), T0)
                    .unwrap();
            }
        }
    }

    /// One pass of the cleaner over `store`, every partition's result unwrapped.
    fn clean(store: &SegmentStore, now_ms: i64, stop: &AtomicBool) -> Vec<Cleaned> {
        store
            .clean(now_ms, stop)
            .into_iter()
            .map(|r| r.unwrap())
            .collect()
    }

    fn open(dir: &Path, config: Config) -> SegmentStore {
        SegmentStore::open(dir, config).unwrap()
    }

    #[test]
    fn compaction_keeps_the_latest_record_of_each_key_with_offsets_unchanged() {
        let dir = tempfile::tempdir().unwrap();
        let store = open(dir.path(), config());
        let tp = TopicPartition::new("compacted", 0);
        store.create(&tp).unwrap();
        fill(&store, &tp);
        let before = records(&batches(&store, &tp));
        let end = store.offsets(&tp).unwrap().end;
        let size = store.size(&tp).unwrap();

        let cleaned = clean(&store, T0, &AtomicBool::new(false));
        assert_eq!(cleaned.len(), 1, "{cleaned:?}");
        assert!(cleaned[0].records_removed > 0 && cleaned[0].bytes_after < cleaned[0].bytes_before);
        assert_eq!(store.offsets(&tp).unwrap().end, end);
        assert!(store.size(&tp).unwrap() < size / 2);
        assert_contiguous(&store, &tp);
        let after = records(&batches(&store, &tp));
        // Each key's latest record is there, with its offset; any record still there
        // is one of the originals.
        for k in 0..10 {
            let key = format!("k{k}");
            let last = before.iter().rev().find(|r| r.1 == key).unwrap();
            assert_eq!(after.iter().rev().find(|r| r.1 == key), Some(last));
        }
        assert!(after.iter().all(|r| before.contains(r)));
        // Below the cleaned point each key appears once.
        let cleaned_to = cleaned[0].cleaned_to;
        for k in 0..10 {
            let key = format!("k{k}");
            let n = after
                .iter()
                .filter(|r| r.1 == key && r.0 < cleaned_to)
                .count();
            assert!(n <= 1, "{key} appears {n} times below {cleaned_to}");
        }
        // Appends go on at the same offsets; the log reopens to the same records, after
        // a clean shutdown and after a crash.
        store
            .append(&tp, &mut keyed("k0", Some("after")), T0)
            .unwrap();
        let mut expected = after.clone();
        expected.push((end, "k0".into(), Some("after".into())));
        assert_eq!(records(&batches(&store, &tp)), expected);
        Box::new(store).close().unwrap();
        let store = open(dir.path(), config());
        assert_eq!(records(&batches(&store, &tp)), expected);
        drop(store);
        fs::remove_file(
            dir.path()
                .join("compacted-0")
                .join(crate::segment::CLEAN_SHUTDOWN_FILE),
        )
        .ok();
        fs::remove_file(
            dir.path()
                .join("compacted-0")
                .join(crate::recovery_point::RECOVERY_POINT_FILE),
        )
        .ok();
        let store = open(dir.path(), config());
        assert_eq!(records(&batches(&store, &tp)), expected);
        assert_contiguous(&store, &tp);
    }

    #[test]
    fn tombstones_stay_for_their_retention_then_go_with_the_records_they_deleted() {
        let dir = tempfile::tempdir().unwrap();
        let store = open(dir.path(), config());
        let tp = TopicPartition::new("compacted", 0);
        store.create(&tp).unwrap();
        fill(&store, &tp);
        store.append(&tp, &mut keyed("k3", None), T0).unwrap();
        // Enough after the tombstone that it lies below the active segment.
        fill(&store, &tp);
        store.append(&tp, &mut keyed("k7", None), T0).unwrap();
        fill(&store, &tp);
        // Later writes of k3 and k7 bring them back; delete them again for good.
        store.append(&tp, &mut keyed("k3", None), T0).unwrap();
        store.append(&tp, &mut keyed("k7", None), T0).unwrap();
        fill_other(&store, &tp);
        let stop = AtomicBool::new(false);
        // Within the retention the last tombstone of each key stays.
        clean(&store, T0 + 1000, &stop);
        let kept = records(&batches(&store, &tp));
        for key in ["k3", "k7"] {
            let last = kept.iter().rev().find(|r| r.1 == key).unwrap();
            assert_eq!(last.2, None, "{key}'s tombstone is its latest record");
            assert_eq!(kept.iter().filter(|r| r.1 == key).count(), 1);
        }
        // Past it, the tombstones go at the next pass over them (here made to run by
        // forgetting what was cleaned); nothing else does.
        std::fs::remove_file(dir.path().join("compacted-0").join(CLEANER_POINT_FILE)).unwrap();
        drop(store);
        let store = open(dir.path(), config());
        clean(&store, T0 + 2 * DAY_MS, &stop);
        let left = records(&batches(&store, &tp));
        assert!(left.iter().all(|r| r.1 != "k3" && r.1 != "k7"), "{left:?}");
        let others = |rs: &[Rec]| {
            rs.iter()
                .filter(|r| r.1 != "k3" && r.1 != "k7")
                .cloned()
                .collect::<Vec<_>>()
        };
        assert_eq!(others(&left), others(&kept));
        assert_contiguous(&store, &tp);
    }

    /// 40 rounds of keys that are not k0..k9, to push what came before out of the
    /// active segment.
    fn fill_other(store: &dyn Store, tp: &TopicPartition) {
        for round in 0..40 {
            for k in 0..10 {
                store
                    .append(
                        tp,
                        &mut keyed(&format!("o{k}"), Some(&format!("{round}"))),
                        T0,
                    )
                    .unwrap();
            }
        }
    }

    #[test]
    fn a_compacted_partition_is_not_deleted_by_age_or_size() {
        let dir = tempfile::tempdir().unwrap();
        let store = open(
            dir.path(),
            Config {
                retention_age: Some(Duration::from_millis(1)),
                retention_bytes: Some(1),
                ..config()
            },
        );
        let tp = TopicPartition::new("compacted", 0);
        store.create(&tp).unwrap();
        fill(&store, &tp);
        let size = store.size(&tp).unwrap();
        store.maintain(T0 + 30 * DAY_MS).unwrap();
        assert_eq!(store.size(&tp).unwrap(), size);
        assert_eq!(store.offsets(&tp).unwrap().start, 0);
        // With `delete` beside `compact`, retention applies as well.
        store
            .configure(
                &tp,
                &PartitionConfig {
                    cleanup: Some(Cleanup {
                        delete: true,
                        compact: true,
                    }),
                    ..Default::default()
                },
            )
            .unwrap();
        store.maintain(T0 + 30 * DAY_MS).unwrap();
        assert!(store.offsets(&tp).unwrap().start > 0);
    }

    #[test]
    fn a_crash_anywhere_in_a_swap_leaves_the_log_cleaned_or_as_it_was() {
        for crash in [Crash::Committed, Crash::Moved] {
            let dir = tempfile::tempdir().unwrap();
            let store = open(dir.path(), config());
            let tp = TopicPartition::new("compacted", 0);
            store.create(&tp).unwrap();
            fill(&store, &tp);
            let before = records(&batches(&store, &tp));
            CRASH.set(Some(crash));
            let results = store.clean(T0, &AtomicBool::new(false));
            assert!(results.iter().any(Result::is_err), "{crash:?}: {results:?}");
            // The process dies here: no close.
            drop(store);
            let store = open(dir.path(), config());
            let after = records(&batches(&store, &tp));
            assert_contiguous(&store, &tp);
            assert!(
                after.len() < before.len(),
                "{crash:?}: the swap was finished"
            );
            for k in 0..10 {
                let key = format!("k{k}");
                let last = before.iter().rev().find(|r| r.1 == key);
                assert_eq!(after.iter().rev().find(|r| r.1 == key), last, "{crash:?}");
            }
            assert!(!dir.path().join("compacted-0").join(SWAP_DIR).exists());
        }
    }

    #[test]
    fn a_producers_last_batch_stays_empty_and_a_stopped_pass_changes_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let store = open(dir.path(), config());
        let tp = TopicPartition::new("compacted", 0);
        store.create(&tp).unwrap();
        let mut b = Builder::new(T0);
        b.producer(7, 0, 0)
            .push(T0, Some(b"k0"), Some(b"from producer 7"));
        store.append(&tp, &mut b.finish(), T0).unwrap();
        fill(&store, &tp);
        let before = batches(&store, &tp);
        assert!(clean(&store, T0, &AtomicBool::new(true)).is_empty());
        assert_eq!(batches(&store, &tp), before);

        clean(&store, T0, &AtomicBool::new(false));
        let mut bytes = Vec::new();
        for c in store.read(&tp, 0, 1 << 20).unwrap() {
            c.copy_into(&mut bytes).unwrap();
        }
        let (_, first) = batch::split_stored(&bytes).next().unwrap().unwrap();
        assert_eq!(
            (
                first.base_offset,
                first.producer_id,
                first.record_count,
                first.last_offset_delta
            ),
            (0, 7, 0, 0),
            "the producer's only batch is kept, emptied, with its sequence range"
        );
        assert_contiguous(&store, &tp);
    }

    #[test]
    fn an_empty_swap_left_by_a_crash_is_a_finished_one() {
        let dir = tempfile::tempdir().unwrap();
        fs::create_dir(dir.path().join(SWAP_DIR)).unwrap();
        finish_interrupted(dir.path()).unwrap();
        assert!(!dir.path().join(SWAP_DIR).exists());
        fs::create_dir(dir.path().join(SWAP_DIR)).unwrap();
        fs::write(
            dir.path()
                .join(SWAP_DIR)
                .join(segment::file_name(0, LOG_SUFFIX)),
            b"",
        )
        .unwrap();
        assert!(
            finish_interrupted(dir.path()).is_err(),
            "a segment without its range"
        );
    }
}
