//! The open-file cache, nginx's `open_file_cache` made safe by default: descriptors of
//! hot files are kept, and every hit is revalidated with one statx(2) of the path, so a
//! file replaced, truncated or deleted on disk is never served from a stale descriptor.
//!
//! How that holds:
//! - Replaced (a new file renamed over the name): the path now names another inode, so
//!   statx's device and inode differ from the descriptor's, the entry is dropped, and
//!   the file is opened again (beneath the root, as every open is).
//! - Truncated or rewritten in place: same inode, so the descriptor is still the file;
//!   a changed size, modification or change time makes the entry take the descriptor's
//!   fresh fstat(2), so lengths and validators follow the file.
//! - Deleted: statx fails and the entry is dropped; the open that follows answers 404.
//! - statx resolves the path without openat2's `RESOLVE_BENEATH`, but the descriptor
//!   is only used when the path leads to the very inode it was opened as beneath the
//!   root; anything else is a miss, and the miss is an open beneath the root.
//!
//! The cache holds at most `capacity` descriptors, dropping the least recently used,
//! and gives them all back when an open fails for lack of descriptors (EMFILE, ENFILE).
//! Responses in flight keep their own reference to a descriptor.

use std::collections::HashMap;
use std::fs::File;
use std::os::fd::OwnedFd;
use std::sync::{Arc, Mutex};

use rustix::fs::{AtFlags, Stat, Statx, StatxFlags};

use crate::conditional::Validators;

/// Descriptors kept by default.
pub const DEFAULT_ENTRIES: usize = 1024;

pub(crate) struct OpenCache {
    capacity: usize,
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    /// By the path relative to the root, as bytes.
    entries: HashMap<Box<[u8]>, Entry>,
    /// A counter that orders uses, for least-recently-used eviction.
    clock: u64,
}

struct Entry {
    file: Arc<File>,
    stat: Stat,
    /// Made from `stat` once, not per response.
    validators: Arc<Validators>,
    used: u64,
}

/// A file from the cache: its descriptor, current metadata and validators.
pub(crate) struct Hit {
    pub file: Arc<File>,
    pub stat: Stat,
    pub validators: Arc<Validators>,
}

impl OpenCache {
    /// A cache of at most `capacity` descriptors (0: none kept).
    pub(crate) fn new(capacity: usize) -> OpenCache {
        OpenCache {
            capacity,
            inner: Mutex::new(Inner::default()),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The kept descriptor of `rel` (relative to `dir`) with its current metadata, if
    /// the path still leads to the same file; `None` means: open it.
    pub(crate) fn get(&self, dir: &OwnedFd, rel: &[u8]) -> Option<Hit> {
        if self.capacity == 0 {
            return None;
        }
        let hit = {
            let mut inner = self.lock();
            inner.clock += 1;
            let clock = inner.clock;
            let entry = inner.entries.get_mut(rel)?;
            entry.used = clock;
            Hit {
                file: Arc::clone(&entry.file),
                stat: entry.stat,
                validators: Arc::clone(&entry.validators),
            }
        };
        let now = rustix::fs::statx(dir, rel, AtFlags::empty(), StatxFlags::BASIC_STATS);
        match now {
            Ok(x) if same_inode(&x, &hit.stat) => {
                if unchanged(&x, &hit.stat) {
                    return Some(hit);
                }
                // Changed in place: the descriptor is still the file; take its state.
                let stat = rustix::fs::fstat(&*hit.file).ok()?;
                let validators = Arc::new(Validators::of(&stat));
                if let Some(entry) = self.lock().entries.get_mut(rel) {
                    entry.stat = stat;
                    entry.validators = Arc::clone(&validators);
                }
                Some(Hit {
                    file: hit.file,
                    stat,
                    validators,
                })
            }
            // Replaced, deleted, or no longer reachable: open it again.
            _ => {
                self.lock().entries.remove(rel);
                None
            }
        }
    }

    /// Keeps `file`, just opened beneath the root as `rel`.
    pub(crate) fn insert(&self, rel: &[u8], hit: &Hit) {
        if self.capacity == 0 {
            return;
        }
        let mut inner = self.lock();
        if inner.entries.len() >= self.capacity && !inner.entries.contains_key(rel) {
            let oldest = inner
                .entries
                .iter()
                .min_by_key(|(_, e)| e.used)
                .map(|(path, _)| path.clone());
            if let Some(path) = oldest {
                inner.entries.remove(&path);
            }
        }
        inner.clock += 1;
        let used = inner.clock;
        inner.entries.insert(
            rel.into(),
            Entry {
                file: Arc::clone(&hit.file),
                stat: hit.stat,
                validators: Arc::clone(&hit.validators),
                used,
            },
        );
    }

    /// Gives every kept descriptor back (the process ran out of them).
    pub(crate) fn clear(&self) {
        self.lock().entries.clear();
    }
}

fn same_inode(x: &Statx, stat: &Stat) -> bool {
    rustix::fs::makedev(x.stx_dev_major, x.stx_dev_minor) == stat.st_dev && x.stx_ino == stat.st_ino
}

fn unchanged(x: &Statx, stat: &Stat) -> bool {
    x.stx_size as i64 == stat.st_size
        && x.stx_mtime.tv_sec == stat.st_mtime
        && i64::from(x.stx_mtime.tv_nsec) == stat.st_mtime_nsec as i64
        && x.stx_ctime.tv_sec == stat.st_ctime
        && i64::from(x.stx_ctime.tv_nsec) == stat.st_ctime_nsec as i64
}
