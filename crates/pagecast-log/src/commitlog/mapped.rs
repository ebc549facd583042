//! A preallocated, mapped file of fixed size, named by where it starts (RocketMQ's
//! MappedFile): the commit log and the consume queues are sequences of these.

use std::fs::{File, OpenOptions};
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::files;
use crate::sys::mmap::MapMut;

pub(crate) struct MappedFile {
    /// Position (commit log: byte; consume queue: entry) of the file's first byte.
    pub(crate) start: u64,
    pub(crate) path: PathBuf,
    file: File,
    pub(crate) map: MapMut,
}

/// The 20-digit name of a file starting at `start`.
pub(crate) fn file_name(start: u64) -> String {
    format!("{start:020}")
}

impl MappedFile {
    /// Creates (or reuses a leftover of) the file starting at `start`, allocates all
    /// `len` bytes on disk and maps it. With `warm`, every page is touched now, locked in
    /// memory where the limits allow, and read ahead, so appends take no page faults.
    pub(crate) fn create(dir: &Path, start: u64, len: u64, warm: bool) -> Result<MappedFile> {
        let path = dir.join(file_name(start));
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(Error::io("create", &path))?;
        files::allocate(&file, &path, len)?;
        let mut map = MapMut::new(&file, len as usize, 0).map_err(Error::io("mmap", &path))?;
        if warm {
            map.touch_pages(0);
            // Where RLIMIT_MEMLOCK is too small the pages stay warm but evictable.
            let _ = map.lock();
            let _ = map.will_need();
        }
        Ok(MappedFile {
            start,
            path,
            file,
            map,
        })
    }

    /// Opens and maps an existing file, which must be exactly `len` bytes long.
    pub(crate) fn open(path: &Path, start: u64, len: u64) -> Result<MappedFile> {
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .open(path)
            .map_err(Error::io("open", path))?;
        let have = file.metadata().map_err(Error::io("stat", path))?.len();
        if have != len {
            return Err(Error::BadFile {
                file: path.to_owned(),
                reason: format!("is {have} bytes long, files of this log are {len}"),
            });
        }
        let map = MapMut::new(&file, len as usize, 0).map_err(Error::io("mmap", path))?;
        Ok(MappedFile {
            start,
            path: path.to_owned(),
            file,
            map,
        })
    }

    /// Zeroes `from..` of the file, so a recovered log ends at `from`: a hole is punched
    /// and allocated again, which reads as zeros without writing every page.
    pub(crate) fn zero_from(&mut self, from: usize) -> Result<()> {
        let len = self.map.len();
        let page = rustix::param::page_size();
        let aligned = from.next_multiple_of(page).min(len);
        let head = vec![0u8; aligned - from];
        let lowered = self.map.reset_committed(from);
        debug_assert!(lowered, "recovery runs before any read lends the mapping");
        self.map
            .write_at(from, &head)
            .map_err(Error::io("write", &self.path))?;
        if aligned < len {
            use rustix::fs::FallocateFlags as F;
            let punched = rustix::fs::fallocate(
                &self.file,
                F::PUNCH_HOLE | F::KEEP_SIZE,
                aligned as u64,
                (len - aligned) as u64,
            );
            match punched {
                Ok(()) => files::allocate(&self.file, &self.path, len as u64)?,
                Err(_) => {
                    // Filesystems without hole punching get the zeros written.
                    let zeros = vec![0u8; 1 << 20];
                    let mut at = aligned;
                    while at < len {
                        let n = (len - at).min(zeros.len());
                        self.map
                            .write_at(at, &zeros[..n])
                            .map_err(Error::io("write", &self.path))?;
                        at += n;
                    }
                }
            }
        }
        Ok(())
    }

    /// fsync(2) of the file, mapped stores included.
    pub(crate) fn sync(&self) -> Result<()> {
        self.file
            .sync_data()
            .map_err(Error::io("fsync", &self.path))
    }

    /// Unlinks the file; readers holding the mapping keep it.
    pub(crate) fn delete(self) -> Result<()> {
        files::remove(&self.path)
    }

    /// Last modification time in ms since the epoch, for retention by age.
    pub(crate) fn modified_ms(&self) -> Result<i64> {
        let modified = self
            .file
            .metadata()
            .and_then(|m| m.modified())
            .map_err(Error::io("stat", &self.path))?;
        Ok(modified
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as i64))
    }
}

/// The files in `dir` named by a 20-digit start, sorted.
pub(crate) fn list(dir: &Path) -> Result<Vec<(u64, PathBuf)>> {
    Ok(files::store_entries(dir)?
        .into_iter()
        .filter(|(name, _)| name.len() == 20)
        .filter_map(|(name, path)| Some((name.parse::<u64>().ok()?, path)))
        .collect())
}
