//! `pagecast log dump`: prints what is on disk — segments, batches, index entries, commit
//! log entries and consume queues — like Kafka's DumpLogSegments. Reads files only; it
//! never opens a store, so it works on a log another process has open, or on a damaged
//! one, where it names the first damaged byte.

use std::fs::File;
use std::io::Write;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use crate::batch::{HEADER_LEN, Header};
use crate::commitlog::{self, Found, QUEUE_ENTRY, QueueEntry};
use crate::error::{Error, Result};
use crate::files;
use crate::segment::{self, OFFSET_INDEX_ENTRY, OffsetEntry, TIME_INDEX_ENTRY, TimeEntry};

/// What a dump found.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Summary {
    /// Files dumped.
    pub files: u64,
    /// Valid batches printed.
    pub batches: u64,
    /// The first damage met: file and byte position, and why.
    pub damage: Option<(PathBuf, u64, String)>,
}

/// Dumps `path`: a segment `.log`, `.index` or `.timeindex`; a commit-log file; a
/// partition directory; a commit-log store; or a store directory holding partitions.
pub fn dump(path: &Path, out: &mut dyn Write) -> Result<Summary> {
    // A mistyped path is an error, not an empty log.
    std::fs::metadata(path).map_err(Error::io("open", path))?;
    let mut summary = Summary::default();
    dump_into(path, out, &mut summary)?;
    Ok(summary)
}

fn dump_into(path: &Path, out: &mut dyn Write, summary: &mut Summary) -> Result<()> {
    let w = |e: std::io::Error| Error::io("write", "standard output")(e);
    if path.is_dir() {
        if path.join(commitlog::LOG_DIR).is_dir() {
            for (_, file) in files::sorted_entries(&path.join(commitlog::LOG_DIR))? {
                dump_into(&file, out, summary)?;
            }
            for (_, queue) in files::sorted_entries(&path.join(commitlog::QUEUE_DIR))? {
                for (_, file) in files::sorted_entries(&queue)? {
                    dump_queue(&file, out, summary)?;
                }
            }
            return Ok(());
        }
        for (_, entry) in files::sorted_entries(path)? {
            let is_segment_file = entry.extension().is_some_and(|e| {
                [
                    segment::LOG_SUFFIX,
                    segment::INDEX_SUFFIX,
                    segment::TIME_INDEX_SUFFIX,
                ]
                .contains(&e.to_str().unwrap_or(""))
            });
            if entry.is_dir() || is_segment_file {
                dump_into(&entry, out, summary)?;
            }
        }
        return Ok(());
    }
    let in_commitlog = path
        .parent()
        .and_then(Path::file_name)
        .is_some_and(|d| d == commitlog::LOG_DIR);
    let in_queue = path
        .parent()
        .and_then(Path::parent)
        .and_then(Path::file_name)
        .is_some_and(|d| d == commitlog::QUEUE_DIR);
    let suffix = path.extension().and_then(|e| e.to_str()).unwrap_or("");
    match suffix {
        _ if in_commitlog => dump_commitlog_file(path, out, summary),
        _ if in_queue => dump_queue(path, out, summary),
        segment::LOG_SUFFIX => dump_segment_log(path, out, summary),
        segment::INDEX_SUFFIX => dump_entries(path, out, summary, OFFSET_INDEX_ENTRY, |base, b| {
            let e = OffsetEntry::decode(b.try_into().unwrap_or(&[0; OFFSET_INDEX_ENTRY]));
            format!(
                "offset: {} position: {}",
                base + i64::from(e.relative_offset),
                e.position
            )
        }),
        segment::TIME_INDEX_SUFFIX => {
            dump_entries(path, out, summary, TIME_INDEX_ENTRY, |base, b| {
                let e = TimeEntry::decode(b.try_into().unwrap_or(&[0; TIME_INDEX_ENTRY]));
                format!(
                    "timestamp: {} offset: {}",
                    e.timestamp,
                    base + i64::from(e.relative_offset)
                )
            })
        }
        _ => writeln!(
            out,
            "skipping {}: not a file of a pagecast log",
            path.display()
        )
        .map_err(w),
    }
}

fn open(path: &Path) -> Result<(File, u64)> {
    let file = File::open(path).map_err(Error::io("open", path))?;
    let len = file.metadata().map_err(Error::io("stat", path))?.len();
    Ok((file, len))
}

fn base_offset_of(path: &Path) -> i64 {
    path.file_stem()
        .and_then(|s| s.to_str())
        .and_then(|s| s.parse().ok())
        .unwrap_or(0)
}

fn describe(h: &Header, position: u64) -> String {
    format!(
        "baseOffset: {} lastOffset: {} count: {} position: {position} size: {} maxTimestamp: {} baseTimestamp: {} producerId: {} producerEpoch: {} baseSequence: {} partitionLeaderEpoch: {} isTransactional: {} isControl: {} compression: {} crc: {:#010x} isValid: true",
        h.base_offset,
        h.last_offset(),
        h.record_count,
        h.size(),
        h.max_timestamp,
        h.base_timestamp,
        h.producer_id,
        h.producer_epoch,
        h.base_sequence,
        h.leader_epoch,
        h.is_transactional(),
        h.is_control(),
        h.compression(),
        h.crc,
    )
}

fn note_damage(
    out: &mut dyn Write,
    summary: &mut Summary,
    path: &Path,
    position: u64,
    reason: String,
) -> Result<()> {
    writeln!(out, "damage at byte {position}: {reason}")
        .map_err(Error::io("write", "standard output"))?;
    if summary.damage.is_none() {
        summary.damage = Some((path.to_owned(), position, reason));
    }
    Ok(())
}

fn dump_segment_log(path: &Path, out: &mut dyn Write, summary: &mut Summary) -> Result<()> {
    let w = |e: std::io::Error| Error::io("write", "standard output")(e);
    let (file, len) = open(path)?;
    writeln!(out, "Dumping {} ({len} bytes)", path.display()).map_err(w)?;
    summary.files += 1;
    let mut buf = Vec::new();
    let mut pos = 0;
    while pos < len {
        match segment::read_checked(&file, path, pos, len, &mut buf)? {
            Ok(h) => {
                writeln!(out, "{}", describe(&h, pos)).map_err(w)?;
                summary.batches += 1;
                pos += h.size();
            }
            Err(reason) => return note_damage(out, summary, path, pos, reason),
        }
    }
    Ok(())
}

fn dump_entries(
    path: &Path,
    out: &mut dyn Write,
    summary: &mut Summary,
    size: usize,
    show: impl Fn(i64, &[u8]) -> String,
) -> Result<()> {
    let w = |e: std::io::Error| Error::io("write", "standard output")(e);
    let bytes = std::fs::read(path).map_err(Error::io("read", path))?;
    writeln!(
        out,
        "Dumping {} ({} entries)",
        path.display(),
        bytes.len() / size
    )
    .map_err(w)?;
    summary.files += 1;
    let base = base_offset_of(path);
    for entry in bytes.chunks_exact(size) {
        // A preallocated index of a log that was not closed ends in zeros.
        if entry.iter().all(|&b| b == 0) {
            writeln!(out, "(zeros from here: preallocated space)").map_err(w)?;
            break;
        }
        writeln!(out, "{}", show(base, entry)).map_err(w)?;
    }
    if bytes.len() % size != 0 {
        let at = (bytes.len() - bytes.len() % size) as u64;
        note_damage(
            out,
            summary,
            path,
            at,
            format!(
                "{} bytes left over, entries are {size} bytes",
                bytes.len() % size
            ),
        )?;
    }
    Ok(())
}

fn dump_commitlog_file(path: &Path, out: &mut dyn Write, summary: &mut Summary) -> Result<()> {
    let w = |e: std::io::Error| Error::io("write", "standard output")(e);
    let (file, len) = open(path)?;
    let start: u64 = path
        .file_name()
        .and_then(|n| n.to_str())
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    writeln!(
        out,
        "Dumping commit-log file {} ({len} bytes from position {start})",
        path.display()
    )
    .map_err(w)?;
    summary.files += 1;
    let mut buf = Vec::new();
    let mut at = 0u64;
    while at < len {
        // An entry header is at most 18 + 249 bytes; read it with the batch header, then
        // the whole entry once its length is known and bounded by the file.
        let want = (len - at).min(commitlog::MAX_ENTRY_HEAD as u64 + HEADER_LEN as u64) as usize;
        buf.resize(want, 0);
        file.read_exact_at(&mut buf, at)
            .map_err(Error::io("read", path))?;
        let length = match commitlog::decode_entry_length(&buf) {
            Some(n) if n as u64 <= len - at => n,
            _ => buf.len(),
        };
        buf.resize(length, 0);
        file.read_exact_at(&mut buf, at)
            .map_err(Error::io("read", path))?;
        match commitlog::decode_entry(&buf, true) {
            Ok(Found::Entry {
                tp,
                batch_at,
                length,
                header,
            }) => {
                writeln!(
                    out,
                    "{tp} entryPosition: {} {}",
                    start + at,
                    describe(&header, start + at + batch_at as u64)
                )
                .map_err(w)?;
                summary.batches += 1;
                at += length as u64;
            }
            Ok(Found::Blank) => {
                writeln!(out, "blank from byte {at} to the end of the file").map_err(w)?;
                break;
            }
            Ok(Found::End) => {
                writeln!(out, "end of the log at byte {at}").map_err(w)?;
                break;
            }
            Err(reason) => return note_damage(out, summary, path, at, reason),
        }
    }
    Ok(())
}

fn dump_queue(path: &Path, out: &mut dyn Write, summary: &mut Summary) -> Result<()> {
    dump_entries(path, out, summary, QUEUE_ENTRY, |_, b| {
        let e = QueueEntry::decode(b.try_into().unwrap_or(&[0; QUEUE_ENTRY]));
        format!(
            "position: {} size: {} baseOffset: {}",
            e.position, e.size, e.base_offset
        )
    })
}
