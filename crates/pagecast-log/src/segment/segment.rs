//! One segment: a `.log` of batches appended with pwrite(2) into the page cache, and its
//! two indexes. Everything about positions inside one segment lives here: appending and
//! indexing, finding a batch by offset or timestamp, and checking and rebuilding the
//! whole segment after a crash.

use std::fs::{File, OpenOptions};
use std::ops::ControlFlow;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::index::{IndexFile, OFFSET_INDEX_ENTRY, OffsetEntry, OffsetIndex};
use super::timeindex::{TIME_INDEX_ENTRY, TimeEntry, TimeIndex};
use crate::batch::{self, HEADER_LEN, Header};
use crate::error::{Error, Result};
use crate::files;

/// Extension of the batch file.
pub const LOG_SUFFIX: &str = "log";
/// Extension of the offset index.
pub const INDEX_SUFFIX: &str = "index";
/// Extension of the time index.
pub const TIME_INDEX_SUFFIX: &str = "timeindex";

/// `00000000000000001234.log`: a segment's files are named by its base offset, padded to
/// 20 digits so that names sort as offsets do.
pub fn file_name(base_offset: i64, suffix: &str) -> String {
    format!("{base_offset:020}.{suffix}")
}

/// Index sizes a segment is created with.
#[derive(Debug, Clone, Copy)]
pub(crate) struct IndexLimits {
    /// Bytes of log between offset index entries.
    pub(crate) interval: u64,
    /// Preallocated size of each index while its segment is active.
    pub(crate) max_bytes: u64,
}

/// Where and why a segment's batches stop being valid.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Damage {
    pub(crate) position: u64,
    pub(crate) reason: String,
}

pub(crate) struct Segment {
    pub(crate) base_offset: i64,
    pub(crate) log_path: PathBuf,
    pub(crate) log: Arc<File>,
    /// Bytes of whole batches in the `.log`.
    pub(crate) size: u64,
    pub(crate) index: OffsetIndex,
    pub(crate) time_index: TimeIndex,
    /// Offset the next batch appended here would get.
    pub(crate) next_offset: i64,
    /// Largest batch timestamp, `i64::MIN` while empty.
    pub(crate) max_timestamp: i64,
    max_timestamp_offset: i64,
    /// The first batch's largest timestamp: a segment rolls by age from it, as in Kafka.
    pub(crate) first_timestamp: Option<i64>,
    bytes_since_index: u64,
    limits: IndexLimits,
}

impl Segment {
    /// Creates an empty segment at `base_offset`, ready for appends.
    pub(crate) fn create(dir: &Path, base_offset: i64, limits: IndexLimits) -> Result<Segment> {
        let log_path = dir.join(file_name(base_offset, LOG_SUFFIX));
        let log = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .open(&log_path)
            .map_err(Error::io("create", &log_path))?;
        let mut segment = Segment::with_fresh_indexes(dir, base_offset, log_path, log, limits)?;
        segment.make_active()?;
        Ok(segment)
    }

    fn with_fresh_indexes(
        dir: &Path,
        base_offset: i64,
        log_path: PathBuf,
        log: File,
        limits: IndexLimits,
    ) -> Result<Segment> {
        let index = IndexFile::create(
            &dir.join(file_name(base_offset, INDEX_SUFFIX)),
            OFFSET_INDEX_ENTRY,
        )?;
        let time_index = IndexFile::create(
            &dir.join(file_name(base_offset, TIME_INDEX_SUFFIX)),
            TIME_INDEX_ENTRY,
        )?;
        Ok(Segment::new(
            base_offset,
            log_path,
            log,
            0,
            OffsetIndex { file: index },
            TimeIndex { file: time_index },
            limits,
        ))
    }

    /// A segment of `size` bytes with the given indexes, its offsets and timestamps not
    /// yet learnt from its batches.
    fn new(
        base_offset: i64,
        log_path: PathBuf,
        log: File,
        size: u64,
        index: OffsetIndex,
        time_index: TimeIndex,
        limits: IndexLimits,
    ) -> Segment {
        Segment {
            base_offset,
            log_path,
            log: Arc::new(log),
            size,
            index,
            time_index,
            next_offset: base_offset,
            max_timestamp: i64::MIN,
            max_timestamp_offset: base_offset,
            first_timestamp: None,
            bytes_since_index: 0,
            limits,
        }
    }

    fn open_log(dir: &Path, base_offset: i64) -> Result<(PathBuf, File, u64)> {
        let log_path = dir.join(file_name(base_offset, LOG_SUFFIX));
        let log = OpenOptions::new()
            .read(true)
            .write(true)
            .open(&log_path)
            .map_err(Error::io("open", &log_path))?;
        let len = log.metadata().map_err(Error::io("stat", &log_path))?.len();
        Ok((log_path, log, len))
    }

    /// Opens a segment written by a clean shutdown, trusting its length and checking its
    /// indexes. `Ok(Err(why))` means the segment must be recovered instead. `next_offset`
    /// is the following segment's base offset, or `None` for the last segment, whose end
    /// is found by walking headers from its last index entry.
    pub(crate) fn open(
        dir: &Path,
        base_offset: i64,
        next_offset: Option<i64>,
        limits: IndexLimits,
    ) -> Result<std::result::Result<Segment, String>> {
        let (log_path, log, size) = Segment::open_log(dir, base_offset)?;
        let indexes = (
            IndexFile::open(
                &dir.join(file_name(base_offset, INDEX_SUFFIX)),
                OFFSET_INDEX_ENTRY,
            ),
            IndexFile::open(
                &dir.join(file_name(base_offset, TIME_INDEX_SUFFIX)),
                TIME_INDEX_ENTRY,
            ),
        );
        let (index, time_index) = match indexes {
            (Ok(Some(i)), Ok(Some(t))) => (OffsetIndex { file: i }, TimeIndex { file: t }),
            (Ok(_), Ok(_)) => return Ok(Err("an index file is missing".into())),
            (Err(e), _) | (_, Err(e)) => return Ok(Err(e.to_string())),
        };
        if let Err(why) = index.check(size) {
            return Ok(Err(format!("{}: {why}", index.file.path().display())));
        }
        let mut segment = Segment::new(base_offset, log_path, log, size, index, time_index, limits);
        // Both indexes' last entries are checked against the log (the middle ones are
        // checked as lookups use them): the walk below starts at one, and the largest
        // timestamp, which retention and time lookups trust, comes from the other.
        let last_entries = segment.index.file.len().checked_sub(1).map(|i| {
            let e = segment.index.entry(i).ok_or("unreadable entry")?;
            segment.indexed((i, e)).map_err(|e| e.to_string())
        });
        if let Some(Err(why)) = last_entries {
            return Ok(Err(why.to_string()));
        }
        // The time index's last entry holds the largest timestamp up to the last index
        // point; the walk from the last offset index entry covers the batches after it,
        // finds the end offset, and proves the file ends on a batch boundary.
        if let Some(last) = segment.time_index.last() {
            segment.max_timestamp = last.timestamp;
            segment.max_timestamp_offset = base_offset + i64::from(last.relative_offset);
        }
        let from = segment.index.last().map_or(0, |e| u64::from(e.position));
        let (mut end, mut max_ts, mut max_ts_offset) =
            (None, segment.max_timestamp, segment.max_timestamp_offset);
        let walked = segment.scan_headers(from, |_, h| {
            end = Some(h.next_offset());
            if h.max_timestamp > max_ts {
                (max_ts, max_ts_offset) = (h.max_timestamp, h.base_offset);
            }
            ControlFlow::Continue(())
        });
        match walked {
            Ok(pos) if pos == size => {}
            Ok(pos) => {
                return Ok(Err(format!(
                    "batches end at byte {pos}, the file at {size}"
                )));
            }
            Err(e) => return Ok(Err(e.to_string())),
        }
        segment.next_offset = end.unwrap_or(base_offset);
        (segment.max_timestamp, segment.max_timestamp_offset) = (max_ts, max_ts_offset);
        if let Some(next) = next_offset
            && segment.next_offset != next
        {
            return Ok(Err(format!(
                "batches end at offset {}, but the next segment starts at {next}",
                segment.next_offset
            )));
        }
        let next_relative = (segment.next_offset - base_offset) as u64;
        if let Err(why) = segment.time_index.check(next_relative) {
            return Ok(Err(format!(
                "{}: {why}",
                segment.time_index.file.path().display()
            )));
        }
        if let Some(i) = segment.time_index.file.len().checked_sub(1) {
            let checked = match segment.time_index.entry(i) {
                Some(e) => segment.time_indexed((i, e)).map(|_| ()),
                None => Err(Error::Corrupt {
                    file: segment.time_index.file.path().to_owned(),
                    position: (i * TIME_INDEX_ENTRY) as u64,
                    reason: "unreadable entry".into(),
                }),
            };
            if let Err(why) = checked {
                return Ok(Err(why.to_string()));
            }
        }
        if size > 0 {
            segment.first_timestamp = Some(segment.read_header(0)?.max_timestamp);
        }
        segment.bytes_since_index =
            size - segment.index.last().map_or(0, |e| u64::from(e.position));
        Ok(Ok(segment))
    }

    /// Reads every batch of the segment, checking lengths, CRCs and that offsets run on
    /// from `base_offset`, and rebuilds both indexes. Stops at the first damage and
    /// returns it with the segment as it was up to there; the caller decides whether the
    /// damage is a torn tail and truncates with [`Segment::truncate`]. `active` says
    /// whether appends will follow (an inactive segment gets the final time index entry
    /// a roll writes).
    pub(crate) fn recover(
        dir: &Path,
        base_offset: i64,
        limits: IndexLimits,
    ) -> Result<(Segment, Option<Damage>)> {
        let (log_path, log, len) = Segment::open_log(dir, base_offset)?;
        let mut segment = Segment::with_fresh_indexes(dir, base_offset, log_path, log, limits)?;
        segment.make_active()?;
        let mut batch_buf = Vec::new();
        let mut pos = 0u64;
        let damage = loop {
            if pos == len {
                break None;
            }
            match read_checked(&segment.log, &segment.log_path, pos, len, &mut batch_buf)? {
                Ok(header) if header.base_offset != segment.next_offset => {
                    break Some(Damage {
                        position: pos,
                        reason: format!(
                            "batch has base offset {} where {} follows the batch before",
                            header.base_offset, segment.next_offset
                        ),
                    });
                }
                Ok(header) if header.leader_epoch != batch::LEADER_EPOCH => {
                    break Some(Damage {
                        position: pos,
                        reason: format!(
                            "batch has leader epoch {} where the store writes {}",
                            header.leader_epoch,
                            batch::LEADER_EPOCH
                        ),
                    });
                }
                Ok(header) => {
                    segment.index_batch(pos, &header);
                    pos += header.size();
                    segment.size = pos;
                }
                Err(reason) => {
                    break Some(Damage {
                        position: pos,
                        reason,
                    });
                }
            }
        };
        Ok((segment, damage))
    }

    /// Cuts the log at `pos` (a batch boundary the recovery reached).
    pub(crate) fn truncate(&mut self, pos: u64) -> Result<()> {
        self.log
            .set_len(pos)
            .map_err(Error::io("truncate", &self.log_path))?;
        self.size = pos;
        Ok(())
    }

    /// Preallocates and maps the indexes for appends.
    pub(crate) fn make_active(&mut self) -> Result<()> {
        self.index.file.make_writable(self.limits.max_bytes)?;
        self.time_index.file.make_writable(self.limits.max_bytes)
    }

    /// Whether both indexes have room for the entries `bytes` more of log can add (plus
    /// the final time index entry a roll writes).
    pub(crate) fn indexes_have_room(&self, bytes: u64) -> bool {
        let entries = bytes / self.limits.interval + 2;
        let room = |f: &IndexFile, entry: u64| {
            let cap = self.limits.max_bytes / entry;
            cap.saturating_sub(f.len() as u64) >= entries
        };
        room(&self.index.file, OFFSET_INDEX_ENTRY as u64)
            && room(&self.time_index.file, TIME_INDEX_ENTRY as u64)
    }

    /// Writes validated batches after the segment's end with one pwrite(2), without
    /// making them part of it: reads stop at `size` until [`Segment::index_written`]
    /// moves it, so this needs only a shared borrow and runs while reads go on. On
    /// failure the log is cut back, so nothing of `buf` stays.
    pub(crate) fn write(&self, buf: &[u8]) -> Result<()> {
        if let Err(e) = self.log.write_all_at(buf, self.size) {
            // A short write (ENOSPC part-way) leaves a partial batch; cut it off. If even
            // that fails, recovery will see a torn tail and cut it.
            let _ = self.log.set_len(self.size);
            return Err(Error::io("write", &self.log_path)(e));
        }
        Ok(())
    }

    /// Makes the `len` bytes [`Segment::write`] wrote part of the segment: indexes the
    /// batches whose headers (with their positions in the write) are given and moves the
    /// end past them. Memory only.
    pub(crate) fn index_written(&mut self, len: usize, headers: &[(usize, Header)]) {
        for &(at, ref header) in headers {
            self.index_batch(self.size + at as u64, header);
        }
        self.size += len as u64;
    }

    /// Updates offsets, timestamps and indexes for the batch at `pos`, as Kafka does: an
    /// offset entry (and a time entry if the largest timestamp grew) once more than the
    /// index interval of bytes went by since the last entry. An index that is full (only
    /// when its limit is too small for the segment size) skips the entry: reads then scan
    /// further, and a rebuild skips the same entries.
    fn index_batch(&mut self, pos: u64, header: &Header) {
        if header.max_timestamp > self.max_timestamp {
            self.max_timestamp = header.max_timestamp;
            self.max_timestamp_offset = header.base_offset;
        }
        self.first_timestamp.get_or_insert(header.max_timestamp);
        if self.bytes_since_index > self.limits.interval {
            let entry = OffsetEntry {
                relative_offset: self.relative(header.last_offset()),
                position: pos as u32,
            };
            let time = self.max_time_entry();
            self.index.push(entry);
            self.time_index.maybe_push(time);
            self.bytes_since_index = 0;
        }
        self.bytes_since_index += header.size();
        self.next_offset = header.next_offset();
    }

    fn max_time_entry(&self) -> TimeEntry {
        TimeEntry {
            timestamp: self.max_timestamp,
            relative_offset: self.relative(self.max_timestamp_offset),
        }
    }

    fn relative(&self, offset: i64) -> u32 {
        (offset - self.base_offset) as u32
    }

    /// The segment stops taking appends: the time index gets a last entry with the
    /// segment's largest timestamp, and both indexes are trimmed to their entries.
    pub(crate) fn finish(&mut self) -> Result<()> {
        if self.size > 0 {
            self.time_index.maybe_push(self.max_time_entry());
        }
        self.trim()
    }

    /// Trims both indexes to their entries (on roll and on close).
    pub(crate) fn trim(&mut self) -> Result<()> {
        self.index.file.trim()?;
        self.time_index.file.trim()
    }

    /// fsync(2) of the log and both indexes.
    pub(crate) fn sync(&self) -> Result<()> {
        self.log
            .sync_data()
            .map_err(Error::io("fsync", &self.log_path))?;
        self.index.file.sync()?;
        self.time_index.file.sync()
    }

    /// Files to fsync on another thread after a roll.
    pub(crate) fn files_to_sync(&self) -> Result<Vec<(PathBuf, File)>> {
        let mut out = Vec::new();
        for (path, file) in [
            (self.log_path.as_path(), &*self.log),
            (self.index.file.path(), self.index.file.file()),
            (self.time_index.file.path(), self.time_index.file.file()),
        ] {
            out.push((
                path.to_owned(),
                file.try_clone().map_err(Error::io("dup", path))?,
            ));
        }
        Ok(out)
    }

    /// Unlinks the segment's files. Readers that hold the log open keep reading it.
    pub(crate) fn delete(self) -> Result<()> {
        files::remove(&self.log_path)?;
        files::remove(self.index.file.path())?;
        files::remove(self.time_index.file.path())
    }

    /// The header of the batch at `pos`.
    pub(crate) fn read_header(&self, pos: u64) -> Result<Header> {
        let mut b = [0u8; HEADER_LEN];
        self.log
            .read_exact_at(&mut b, pos)
            .map_err(Error::io("read", &self.log_path))?;
        Header::parse(&b).map_err(|e| self.damaged(pos, e.to_string()))
    }

    fn damaged(&self, position: u64, reason: String) -> Error {
        Error::Corrupt {
            file: self.log_path.clone(),
            position,
            reason,
        }
    }

    /// Walks batch headers from `from` (a batch boundary) to the end of the log or until
    /// `visit` breaks, reading 8 KiB at a time. Returns the position it stopped at.
    pub(crate) fn scan_headers(
        &self,
        from: u64,
        mut visit: impl FnMut(u64, &Header) -> ControlFlow<()>,
    ) -> Result<u64> {
        let mut buf = [0u8; 8192];
        let (mut buf_at, mut buf_len) = (0u64, 0usize);
        let mut pos = from;
        while pos < self.size {
            let in_buf = pos >= buf_at && pos + HEADER_LEN as u64 <= buf_at + buf_len as u64;
            if !in_buf {
                let want = (self.size - pos).min(buf.len() as u64) as usize;
                self.log
                    .read_exact_at(&mut buf[..want], pos)
                    .map_err(Error::io("read", &self.log_path))?;
                (buf_at, buf_len) = (pos, want);
            }
            let at = (pos - buf_at) as usize;
            let header =
                Header::parse(&buf[at..buf_len]).map_err(|e| self.damaged(pos, e.to_string()))?;
            if pos + header.size() > self.size {
                return Err(self.damaged(pos, "batch runs past the end of the segment".into()));
            }
            if visit(pos, &header).is_break() {
                return Ok(pos);
            }
            pos += header.size();
        }
        Ok(pos)
    }

    /// The position offset index entry `i` names, checked against the log. An index is
    /// trusted after a clean shutdown without being walked, and an entry that passes
    /// the index's own check (rising offsets and positions) may still point at the wrong
    /// batch: the batch at its position must end at its offset. One header read, which
    /// the scan that follows every lookup makes anyway.
    fn indexed(&self, (i, e): (usize, OffsetEntry)) -> Result<u64> {
        let pos = u64::from(e.position);
        let last = self.base_offset + i64::from(e.relative_offset);
        match self.read_header(pos) {
            Ok(h) if h.last_offset() == last && pos + h.size() <= self.size => Ok(pos),
            _ => Err(Error::Corrupt {
                file: self.index.file.path().to_owned(),
                position: (i * OFFSET_INDEX_ENTRY) as u64,
                reason: format!(
                    "entry says the batch ending at offset {last} is at byte {pos} of the log, \
                     which holds no such batch; delete the index to have it rebuilt"
                ),
            }),
        }
    }

    /// The offset time index entry `i` names, checked against the log as
    /// [`Segment::indexed`] checks offset index entries: the batch at that offset must
    /// start there and carry the entry's timestamp as its largest.
    fn time_indexed(&self, (i, e): (usize, TimeEntry)) -> Result<(i64, u64)> {
        let offset = self.base_offset + i64::from(e.relative_offset);
        let pos = self.find_position(offset)?;
        match self.read_header(pos) {
            Ok(h) if h.base_offset == offset && h.max_timestamp == e.timestamp => Ok((offset, pos)),
            _ => Err(Error::Corrupt {
                file: self.time_index.file.path().to_owned(),
                position: (i * TIME_INDEX_ENTRY) as u64,
                reason: format!(
                    "entry says the batch at offset {offset} has timestamp {}, which the log \
                     does not hold; delete the index to have it rebuilt",
                    e.timestamp
                ),
            }),
        }
    }

    /// Position of the batch that holds `offset` (which must lie in this segment).
    pub(crate) fn find_position(&self, offset: i64) -> Result<u64> {
        let from = match self.index.lookup(self.relative(offset)) {
            Some(found) => self.indexed(found)?,
            None => 0,
        };
        self.scan_headers(from, |_, h| {
            if h.last_offset() >= offset {
                ControlFlow::Break(())
            } else {
                ControlFlow::Continue(())
            }
        })
    }

    /// End of the whole batches from `pos` that fit in `budget` bytes; if `first`, at
    /// least the batch at `pos`.
    pub(crate) fn end_within(&self, pos: u64, budget: u64, first: bool) -> Result<u64> {
        if pos >= self.size {
            return Ok(self.size);
        }
        let target = pos.saturating_add(budget);
        if target >= self.size {
            return Ok(self.size);
        }
        let from = match self.index.lookup_position(target as u32) {
            Some((i, e)) if u64::from(e.position) > pos => self.indexed((i, e))?,
            _ => pos,
        };
        let end = self.scan_headers(from, |p, h| {
            if p + h.size() > target {
                ControlFlow::Break(())
            } else {
                ControlFlow::Continue(())
            }
        })?;
        if end == pos && first {
            return Ok(pos + self.read_header(pos)?.size());
        }
        Ok(end)
    }

    /// Base offset of the first batch whose largest timestamp is at least `timestamp`.
    pub(crate) fn find_timestamp(&self, timestamp: i64) -> Result<Option<i64>> {
        let from = match self.time_index.lookup_below(timestamp) {
            Some(found) => self.time_indexed(found)?.1,
            None => 0,
        };
        let mut found = None;
        self.scan_headers(from, |_, h| {
            if h.max_timestamp >= timestamp {
                found = Some(h.base_offset);
                ControlFlow::Break(())
            } else {
                ControlFlow::Continue(())
            }
        })?;
        Ok(found)
    }
}

/// Reads and checks the batch at `pos` of a log `len` bytes long. The outer error is I/O;
/// the inner one says why the bytes there are not a valid batch.
pub(crate) fn read_checked(
    log: &File,
    path: &Path,
    pos: u64,
    len: u64,
    buf: &mut Vec<u8>,
) -> Result<std::result::Result<Header, String>> {
    let left = len - pos;
    let head_len = left.min(HEADER_LEN as u64) as usize;
    buf.resize(head_len, 0);
    log.read_exact_at(buf, pos)
        .map_err(Error::io("read", path))?;
    let size = match Header::parse(buf) {
        Ok(h) if h.size() <= left => h.size(),
        Ok(h) => {
            return Ok(Err(format!(
                "batch of {} bytes runs past the end of the file ({left} bytes left)",
                h.size()
            )));
        }
        Err(e) => return Ok(Err(e.to_string())),
    };
    // The size is bounded by the file's length above, so this allocation is too.
    buf.resize(size as usize, 0);
    log.read_exact_at(&mut buf[HEADER_LEN..], pos + HEADER_LEN as u64)
        .map_err(Error::io("read", path))?;
    Ok(batch::check_stored(buf).map_err(|e| e.to_string()))
}

/// Whether a valid batch may start anywhere at or after `start` in the log at `path`:
/// damage followed by valid data is not a torn tail. Tries every position whose header
/// parses and fits in the file, reading 1 MiB at a time.
///
/// Checking a candidate costs a CRC over its whole length, and damaged bytes can make
/// every position a candidate that reaches the end of the file. So the CRC work is
/// bounded by [`SEARCH_BUDGET`] times the bytes searched; past that, the answer is
/// `true`, as if a valid batch followed: the damage is reported, nothing is truncated.
pub(crate) fn valid_batch_from(path: &Path, start: u64) -> Result<bool> {
    Ok(search_valid_batch(path, start)?.0)
}

/// How many times the bytes searched [`valid_batch_from`] may CRC before giving up.
pub(crate) const SEARCH_BUDGET: u64 = 2;

/// [`valid_batch_from`], also returning the bytes it checked by CRC.
fn search_valid_batch(path: &Path, start: u64) -> Result<(bool, u64)> {
    let log = File::open(path).map_err(Error::io("open", path))?;
    let len = log.metadata().map_err(Error::io("stat", path))?.len();
    const WINDOW: u64 = 1 << 20;
    let budget = SEARCH_BUDGET * len.saturating_sub(start) + WINDOW;
    let mut checked = 0u64;
    let mut window = Vec::new();
    let mut batch_buf = Vec::new();
    let mut at = start;
    while at + HEADER_LEN as u64 <= len {
        let n = (len - at).min(WINDOW) as usize;
        window.resize(n, 0);
        log.read_exact_at(&mut window, at)
            .map_err(Error::io("read", path))?;
        for i in 0..=(n - HEADER_LEN) {
            let pos = at + i as u64;
            let Ok(header) = Header::parse(&window[i..]) else {
                continue;
            };
            if header.size() > len - pos {
                continue;
            }
            checked += header.size();
            if checked > budget {
                return Ok((true, checked));
            }
            if read_checked(&log, path, pos, len, &mut batch_buf)?.is_ok() {
                return Ok((true, checked));
            }
        }
        at += (n - HEADER_LEN + 1) as u64;
    }
    Ok((false, checked))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A header at `pos` of a `len`-byte file claiming a batch up to the file's end.
    fn header_to_end(file: &mut [u8], pos: usize) {
        let len = file.len();
        file[pos..pos + 8].copy_from_slice(&0i64.to_be_bytes());
        let length = (len - pos - batch::LOG_OVERHEAD) as i32;
        file[pos + 8..pos + 12].copy_from_slice(&length.to_be_bytes());
        file[pos + 16] = batch::MAGIC as u8;
    }

    #[test]
    fn searching_damage_for_a_valid_batch_does_bounded_work() {
        // Regression: every position whose magic byte matched was checked by a CRC
        // over the rest of the file, quadratic in the damage's length.
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("damaged.log");
        let len = 256 << 10;
        let mut bytes = vec![0u8; len];
        for pos in (0..len - HEADER_LEN).step_by(64) {
            header_to_end(&mut bytes, pos);
        }
        std::fs::write(&path, &bytes).unwrap();
        let (found, checked) = search_valid_batch(&path, 0).unwrap();
        assert!(found, "out of budget answers as if valid data followed");
        let bound = SEARCH_BUDGET * len as u64 + (1 << 20) + len as u64;
        assert!(
            checked <= bound,
            "{checked} bytes CRC'd for a {len}-byte file"
        );
    }

    #[test]
    fn a_valid_batch_after_garbage_is_found_and_garbage_alone_is_not() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("00.log");
        let mut bytes = vec![0xAAu8; 5000];
        std::fs::write(&path, &bytes).unwrap();
        assert!(!valid_batch_from(&path, 0).unwrap());
        let mut b = batch::Builder::new(1_700_000_000_000);
        b.push(1_700_000_000_000, None, Some(b"value"));
        bytes.extend_from_slice(&b.finish());
        std::fs::write(&path, &bytes).unwrap();
        assert!(valid_batch_from(&path, 0).unwrap());
        assert!(!valid_batch_from(&path, 5001).unwrap());
    }
}
