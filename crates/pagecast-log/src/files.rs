//! File chores both engines share: preallocation, small checkpoint files written
//! atomically, and directory syncs.

use std::fs::{self, File};
use std::io::Write;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::thread::JoinHandle;

use rustix::fs::FallocateFlags;

use crate::error::{Error, Result};

/// Allocates disk blocks for the first `len` bytes of `file` and makes it at least that
/// long, so a mapping of it can be stored into without SIGBUS (see `sys::mmap`). A full
/// disk fails here, with ENOSPC, instead of inside a store.
pub(crate) fn allocate(file: &File, path: &Path, len: u64) -> Result<()> {
    let before = file.metadata().map_err(Error::io("stat", path))?.len();
    let result = match rustix::fs::fallocate(file, FallocateFlags::empty(), 0, len) {
        Ok(()) => Ok(()),
        // Filesystems without fallocate (some network and FUSE filesystems) get zeros
        // written, which allocates the blocks just the same.
        Err(e) if e == rustix::io::Errno::OPNOTSUPP => write_zeros(file, path, before, len),
        Err(e) => Err(Error::io("fallocate", path)(e.into())),
    };
    if result.is_err() {
        // A failed allocation may have grown the file with pages that have no blocks;
        // put the size back so nothing maps them.
        let _ = file.set_len(before);
    }
    result
}

fn write_zeros(file: &File, path: &Path, have: u64, len: u64) -> Result<()> {
    let zeros = vec![0u8; 1 << 20];
    let mut at = have;
    while at < len {
        let n = (len - at).min(zeros.len() as u64) as usize;
        file.write_all_at(&zeros[..n], at)
            .map_err(Error::io("write zeros to", path))?;
        at += n as u64;
    }
    Ok(())
}

/// Replaces `dir/name` with `contents` so that a crash leaves either the old file or the
/// new one: write a temporary file, fsync it, rename it over, fsync the directory.
pub(crate) fn write_atomically(dir: &Path, name: &str, contents: &[u8]) -> Result<()> {
    let tmp = dir.join(format!("{name}.tmp"));
    let mut file = File::create(&tmp).map_err(Error::io("create", &tmp))?;
    file.write_all(contents).map_err(Error::io("write", &tmp))?;
    file.sync_all().map_err(Error::io("fsync", &tmp))?;
    let path = dir.join(name);
    fs::rename(&tmp, &path).map_err(Error::io("rename", &path))?;
    sync_dir(dir)
}

/// fsync(2) of a directory, so the names created or removed in it are durable.
pub(crate) fn sync_dir(dir: &Path) -> Result<()> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(Error::io("fsync directory", dir))
}

/// Reads a small file the engine wrote, or `None` if it does not exist.
pub(crate) fn read_small(path: &Path) -> Result<Option<String>> {
    match fs::read(path) {
        Ok(bytes) => Ok(Some(String::from_utf8_lossy(&bytes).into_owned())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(Error::io("read", path)(e)),
    }
}

/// The entries of `dir` as (name, path), sorted by name; names that are not UTF-8 are
/// shown lossily.
pub(crate) fn sorted_entries(dir: &Path) -> Result<Vec<(String, PathBuf)>> {
    let mut entries = Vec::new();
    for entry in fs::read_dir(dir).map_err(Error::io("list", dir))? {
        let entry = entry.map_err(Error::io("list", dir))?;
        entries.push((
            entry.file_name().to_string_lossy().into_owned(),
            entry.path(),
        ));
    }
    entries.sort();
    Ok(entries)
}

/// [`sorted_entries`] of a store's own directory, with the temporary files an interrupted
/// [`write_atomically`] left removed.
pub(crate) fn store_entries(dir: &Path) -> Result<Vec<(String, PathBuf)>> {
    let mut entries = sorted_entries(dir)?;
    for (name, path) in &entries {
        if name.ends_with(".tmp") {
            remove(path)?;
        }
    }
    entries.retain(|(name, _)| !name.ends_with(".tmp"));
    Ok(entries)
}

/// Removes a file; a file already gone is not an error.
pub(crate) fn remove(path: &Path) -> Result<()> {
    match fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(Error::io("remove", path)(e)),
    }
}

/// Creates `dir` if needed and takes an exclusive flock(2) on `dir/.lock`, held while the
/// returned file is open, so two processes never append to one store.
pub fn lock_dir(dir: &Path) -> Result<File> {
    fs::create_dir_all(dir).map_err(Error::io("create directory", dir))?;
    let path = dir.join(".lock");
    let file = File::options()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&path)
        .map_err(Error::io("open", &path))?;
    rustix::fs::flock(&file, rustix::fs::FlockOperation::NonBlockingLockExclusive).map_err(
        |e| Error::Io {
            op: "lock (is another pagecast process using this directory?)",
            file: path.clone(),
            source: e.into(),
        },
    )?;
    Ok(file)
}

/// fsyncs running on other threads (after a roll or a file switch), so the append path
/// does not wait for them; their first error surfaces on the next reap. Each flush
/// makes durable everything below a position (an offset, a commit-log byte) once those
/// before it are done, so reaping hands back the position below which every flush has
/// finished: flushes may finish out of order, and a later one proves nothing alone.
#[derive(Default)]
pub(crate) struct Flushers {
    running: std::collections::VecDeque<(u64, JoinHandle<Result<()>>)>,
    /// A flush failed: nothing is claimed until [`Flushers::covered`] says a full flush
    /// made its range durable again.
    failed: bool,
}

impl Flushers {
    /// Runs `flush`, which makes everything below `end` durable, on a new thread.
    pub(crate) fn spawn(&mut self, end: u64, flush: impl FnOnce() -> Result<()> + Send + 'static) {
        self.running.push_back((end, std::thread::spawn(flush)));
    }

    /// Collects the flushes finished in order from the oldest (with `all`, waits for
    /// every one). Returns the end of the last one collected, if any; after a failure,
    /// which it returns once, nothing until [`Flushers::covered`].
    pub(crate) fn reap(&mut self, all: bool) -> Result<Option<u64>> {
        let mut done = None;
        while let Some((_, handle)) = self.running.front() {
            if !all && !handle.is_finished() {
                break;
            }
            let (end, handle) = self.running.pop_front().expect("a front");
            let result = handle
                .join()
                .unwrap_or_else(|_| Err(Error::Config("a flush thread panicked".into())));
            if let Err(e) = result {
                self.failed = true;
                return Err(e);
            }
            done = Some(end);
        }
        Ok(done.filter(|_| !self.failed))
    }

    /// Whether a flush failed since the last [`Flushers::covered`].
    pub(crate) fn failed(&self) -> bool {
        self.failed
    }

    /// A full flush made everything durable again, after a failed one.
    pub(crate) fn covered(&mut self) {
        self.failed = false;
    }
}
