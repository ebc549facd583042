//! `pagecast log snapshot`: a consistent, point-in-time copy of a store of either
//! engine, taken while another process appends to it.
//!
//! Files that are never written again are copied whole: sealed segments with their
//! indexes, and commit-log files before the one being written. The file being written
//! is copied only up to its last complete, CRC-checked batch (or entry). Copies go
//! through the transfer engine's file → file chain: a reflink where the filesystem
//! shares extents (instant, and no space until either side changes), else
//! copy_file_range, else sendfile, splice or read+write. What is left to a store is
//! then done by opening the snapshot as one: the active segment's indexes, or every
//! consume queue, are rebuilt from the copied log, and it is closed cleanly, so that it
//! opens with nothing to recover.
//!
//! Each partition of the segment engine is a prefix of the source at the moment its
//! active segment was copied; the commit log, one log for all partitions, is one
//! prefix. The source's lock is not taken: the snapshot only reads, and retention
//! deleting a sealed segment meanwhile moves that partition's start, never leaves a gap.

use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use pagecast_io::{Extents, Method};

use crate::batch::{self, HEADER_LEN};
use crate::commitlog::{self, Found};
use crate::error::{Error, Result};
use crate::{Store, TopicPartition, files, recovery_point, segment};

/// How one file was copied.
#[derive(Debug, Clone)]
pub struct FileCopy {
    /// Path inside the store.
    pub path: PathBuf,
    /// Bytes copied.
    pub bytes: u64,
    /// The method that really ran.
    pub method: Method,
    /// The methods that declined first, with why.
    pub fell_back_from: Vec<String>,
    /// Bytes of the copy that share the source's blocks (`None` without an extent map).
    pub shared: Option<u64>,
    /// Time of the copy.
    pub elapsed: Duration,
}

/// What a snapshot did.
#[derive(Debug, Clone)]
pub struct Snapshot {
    /// "segment" or "commitlog".
    pub engine: &'static str,
    pub files: Vec<FileCopy>,
    /// Time of the copies.
    pub copy_time: Duration,
    /// Time to open the snapshot, rebuild what the copies left out, and close it.
    pub open_time: Duration,
}

/// Takes a snapshot of the store in `store` into `dest`, which must not exist or be
/// empty. `progress` hears a line per step.
pub fn snapshot(store: &Path, dest: &Path, mut progress: impl FnMut(&str)) -> Result<Snapshot> {
    let bad = |reason: String| Error::BadFile {
        file: dest.to_owned(),
        reason,
    };
    let source = store.canonicalize().map_err(Error::io("open", store))?;
    if !source.is_dir() {
        return Err(Error::BadFile {
            file: store.to_owned(),
            reason: "is not a store directory".into(),
        });
    }
    match std::fs::read_dir(dest) {
        Ok(entries) => {
            if entries.count() > 0 {
                return Err(bad(
                    "is not empty: a snapshot goes into a new directory".into()
                ));
            }
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            std::fs::create_dir_all(dest).map_err(Error::io("create directory", dest))?;
        }
        Err(e) => return Err(Error::io("open", dest)(e)),
    }
    if dest
        .canonicalize()
        .map_err(Error::io("open", dest))?
        .starts_with(&source)
    {
        return Err(bad("is inside the store".into()));
    }
    let started = Instant::now();
    let mut files = Vec::new();
    let engine = if source.join(commitlog::LOG_DIR).is_dir() {
        copy_commitlog(&source, dest, &mut files, &mut progress)?;
        "commitlog"
    } else {
        copy_segments(&source, dest, &mut files, &mut progress)?;
        "segment"
    };
    // One syncfs(2) for every copy, rather than an fsync per file.
    let dest_dir = File::open(dest).map_err(Error::io("open", dest))?;
    rustix::fs::syncfs(&dest_dir).map_err(|e| Error::io("syncfs", dest)(e.into()))?;
    let copy_time = started.elapsed();
    progress("opening the snapshot to rebuild its indexes, then closing it cleanly");
    let opened = Instant::now();
    let store: Box<dyn Store> = match engine {
        "commitlog" => {
            let file_bytes = commitlog_file_bytes(&source.join(commitlog::LOG_DIR))?;
            Box::new(commitlog::CommitLogStore::open(
                dest,
                commitlog::Config {
                    file_bytes,
                    retention_age: None,
                    retention_bytes: None,
                    ..Default::default()
                },
            )?)
        }
        _ => Box::new(segment::SegmentStore::open(
            dest,
            segment::Config {
                retention_age: None,
                retention_bytes: None,
                ..Default::default()
            },
        )?),
    };
    store.close()?;
    Ok(Snapshot {
        engine,
        files,
        copy_time,
        open_time: opened.elapsed(),
    })
}

/// Copies `len` bytes of `from` into a new file `to` by the transfer engine's file →
/// file chain, and records how.
fn copy(
    from: &File,
    from_path: &Path,
    len: u64,
    to: &Path,
    inside: PathBuf,
    files: &mut Vec<FileCopy>,
) -> Result<File> {
    let out = File::options()
        .read(true)
        .write(true)
        .create_new(true)
        .open(to)
        .map_err(Error::io("create", to))?;
    let started = Instant::now();
    let stats = pagecast_io::copy_file(from, 0, len, &out, 0, &pagecast_io::copy_options())
        .map_err(|e| Error::Io {
            op: "copy",
            file: from_path.to_owned(),
            source: io::Error::other(e),
        })?;
    let elapsed = started.elapsed();
    files.push(FileCopy {
        path: inside,
        bytes: stats.bytes,
        method: stats.method,
        fell_back_from: stats
            .fell_back_from
            .iter()
            .map(|r| {
                format!(
                    "{} ({}: {})",
                    r.method,
                    r.syscall,
                    io::Error::from_raw_os_error(r.errno)
                )
            })
            .collect(),
        shared: Extents::of(&out).ok().map(|e| e.shared),
        elapsed,
    });
    Ok(out)
}

fn open_source(path: &Path) -> Result<Option<(File, u64)>> {
    match File::open(path) {
        Ok(f) => {
            let len = f.metadata().map_err(Error::io("stat", path))?.len();
            Ok(Some((f, len)))
        }
        // Retention deleted it after the listing.
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(Error::io("open", path)(e)),
    }
}

fn copy_segments(
    source: &Path,
    dest: &Path,
    files: &mut Vec<FileCopy>,
    progress: &mut impl FnMut(&str),
) -> Result<()> {
    for (name, dir) in files::sorted_entries(source)? {
        let Some(tp) = TopicPartition::parse(&name) else {
            continue;
        };
        if !dir.is_dir() {
            continue;
        }
        progress(&format!("{tp}"));
        let out_dir = dest.join(&name);
        std::fs::create_dir_all(&out_dir).map_err(Error::io("create directory", &out_dir))?;
        let mut bases: Vec<i64> = files::sorted_entries(&dir)?
            .iter()
            .filter_map(|(n, _)| {
                let stem = n.strip_suffix(&format!(".{}", segment::LOG_SUFFIX))?;
                (stem.len() == 20).then(|| stem.parse().ok())?
            })
            .collect();
        bases.sort_unstable();
        let Some((&active, sealed)) = bases.split_last() else {
            continue;
        };
        let mut copied_here = Vec::new();
        for &base in sealed {
            let mut complete = true;
            let mut these = Vec::new();
            for suffix in [
                segment::LOG_SUFFIX,
                segment::INDEX_SUFFIX,
                segment::TIME_INDEX_SUFFIX,
            ] {
                let name = segment::file_name(base, suffix);
                if copy_whole(&dir, &out_dir, &tp, &name, files)?.is_none() {
                    complete = false;
                    break;
                }
                these.push(out_dir.join(&name));
            }
            if !complete {
                // Retention took this segment: so it took every one before it too. The
                // snapshot of this partition starts after it.
                for path in copied_here.drain(..).chain(these) {
                    files::remove(&path)?;
                }
                continue;
            }
            copied_here.extend(these);
        }
        let name = segment::file_name(active, segment::LOG_SUFFIX);
        let Some((out, len)) = copy_whole(&dir, &out_dir, &tp, &name, files)? else {
            continue;
        };
        let end = complete_batches(&out, len).map_err(Error::io("read", out_dir.join(&name)))?;
        out.set_len(end)
            .map_err(Error::io("truncate", out_dir.join(&name)))?;
        // Everything before the active segment was sealed, so checked when it was
        // written: the snapshot's open rebuilds only the active segment's indexes.
        recovery_point::write(&out_dir, active.max(0) as u64)?;
        if let Some(start) = recovery_point::read_named(&dir, recovery_point::LOG_START_FILE)? {
            recovery_point::write_named(&out_dir, recovery_point::LOG_START_FILE, start)?;
        }
    }
    Ok(())
}

/// Copies the file `name` of partition `tp` whole from `dir` into `out_dir`; returns
/// the copy and its length, or `None` if retention deleted the source meanwhile.
fn copy_whole(
    dir: &Path,
    out_dir: &Path,
    tp: &TopicPartition,
    name: &str,
    files: &mut Vec<FileCopy>,
) -> Result<Option<(File, u64)>> {
    let Some((file, len)) = open_source(&dir.join(name))? else {
        return Ok(None);
    };
    let inside = PathBuf::from(tp.to_string()).join(name);
    let out = copy(
        &file,
        &dir.join(name),
        len,
        &out_dir.join(name),
        inside,
        files,
    )?;
    Ok(Some((out, len)))
}

/// The end of the last complete, CRC-checked batch in the first `len` bytes of `log`.
fn complete_batches(log: &File, len: u64) -> io::Result<u64> {
    let mut at = 0u64;
    let mut buf = Vec::new();
    while at + HEADER_LEN as u64 <= len {
        let mut head = [0u8; HEADER_LEN];
        log.read_exact_at(&mut head, at)?;
        let Ok(header) = batch::Header::parse(&head) else {
            break;
        };
        if header.size() > len - at {
            break;
        }
        buf.resize(header.size() as usize, 0);
        log.read_exact_at(&mut buf, at)?;
        if batch::check_stored(&buf).is_err() {
            break;
        }
        at += header.size();
    }
    Ok(at)
}

/// The size of the commit log's files: every file of a log is as long as the first.
fn commitlog_file_bytes(log_dir: &Path) -> Result<u64> {
    let first = files::sorted_entries(log_dir)?
        .into_iter()
        .next()
        .ok_or_else(|| Error::BadFile {
            file: log_dir.to_owned(),
            reason: "holds no commit-log file".into(),
        })?;
    Ok(std::fs::metadata(&first.1)
        .map_err(Error::io("stat", &first.1))?
        .len())
}

fn copy_commitlog(
    source: &Path,
    dest: &Path,
    files: &mut Vec<FileCopy>,
    progress: &mut impl FnMut(&str),
) -> Result<()> {
    let log_dir = source.join(commitlog::LOG_DIR);
    let out_dir = dest.join(commitlog::LOG_DIR);
    std::fs::create_dir_all(&out_dir).map_err(Error::io("create directory", &out_dir))?;
    // Files after the one being written are made ahead and hold nothing yet.
    let mut in_use = Vec::new();
    for (name, path) in files::sorted_entries(&log_dir)? {
        let Some((file, len)) = open_source(&path)? else {
            continue;
        };
        let mut magic = [0u8; 4];
        if len < magic.len() as u64 {
            // The next file, created a moment ago on the store's allocation thread
            // and not yet given its length: it holds nothing.
            continue;
        }
        file.read_exact_at(&mut magic, 0)
            .map_err(Error::io("read", &path))?;
        if magic != [0; 4] {
            in_use.push((name, path, file, len));
        }
    }
    let Some((_, sealed)) = in_use.split_last() else {
        return Ok(());
    };
    let sealed = sealed.len();
    let mut active_start = 0u64;
    for (i, (name, path, file, len)) in in_use.iter().enumerate() {
        progress(&format!("{}/{name}", commitlog::LOG_DIR));
        let inside = PathBuf::from(commitlog::LOG_DIR).join(name);
        let to = out_dir.join(name);
        if i < sealed {
            copy(file, path, *len, &to, inside, files)?;
            continue;
        }
        active_start = name.parse().unwrap_or(0);
        let end = complete_entries(file, *len).map_err(Error::io("read", path))?;
        let out = copy(file, path, end, &to, inside, files)?;
        // A commit-log file has its full length; the rest reads as never written.
        out.set_len(*len).map_err(Error::io("extend", &to))?;
    }
    for name in [commitlog::PARTITIONS_FILE, commitlog::DELETED_FILE] {
        if let Some(text) = files::read_small(&source.join(name))? {
            files::write_atomically(dest, name, text.as_bytes())?;
        }
    }
    // Older files were sealed, so checked when written: the snapshot's open CRC-checks
    // the active one again and walks the rest to rebuild the consume queues.
    recovery_point::write(dest, active_start)?;
    Ok(())
}

/// The end of the last complete, CRC-checked entry in the first `len` bytes of a
/// commit-log file.
fn complete_entries(file: &File, len: u64) -> io::Result<u64> {
    let mut at = 0u64;
    let mut buf = vec![0u8; commitlog::MAX_ENTRY_HEAD];
    while at < len {
        let head = (len - at).min(commitlog::MAX_ENTRY_HEAD as u64) as usize;
        buf.resize(head, 0);
        file.read_exact_at(&mut buf, at)?;
        let Some(entry_len) = commitlog::decode_entry_length(&buf) else {
            break;
        };
        if entry_len as u64 > len - at || entry_len < HEADER_LEN {
            break;
        }
        buf.resize(entry_len, 0);
        file.read_exact_at(&mut buf, at)?;
        match commitlog::decode_entry(&buf, true) {
            Ok(Found::Entry { length, .. }) => at += length as u64,
            _ => break,
        }
    }
    Ok(at)
}
