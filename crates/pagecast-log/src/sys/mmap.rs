//! A read-write shared mapping of a whole preallocated file: the offset indexes, the
//! commit log and its consume queues live in these.
//!
//! The contract that keeps the mapping free of SIGBUS and of data races:
//! - The file is allocated on disk (fallocate, or zeros written) for its whole length
//!   before it is mapped, so storing into a page never needs a block the filesystem
//!   cannot find: a full disk fails the allocation with ENOSPC, not a store with SIGBUS.
//! - That guarantee does not hold on copy-on-write filesystems (btrfs, ZFS, bcachefs):
//!   there a write to an allocated block may still need a new one, and a store through
//!   the mapping that finds the disk full would be a SIGBUS. So on those filesystems,
//!   found by the statfs(2) magic of the file's filesystem, the file is mapped
//!   read-only and [`MapMut::write_at`] writes with pwrite(2), which fails with ENOSPC
//!   instead. Readers see the written bytes through the mapping all the same: a shared
//!   mapping and the page cache are one. The same holds for XFS only where extents
//!   are shared (reflinked); the engines never share the extents of a file they write.
//! - Only this process writes or truncates files in a pagecast data directory, and a
//!   mapped file is never truncated while mapped (retention unlinks whole files; the
//!   mapping of an unlinked file stays valid until the last reader drops it). Another
//!   process truncating the file breaks the contract, as it would for Kafka or RocketMQ.
//! - The mapping is split at a `committed` mark. Bytes below it are never written again
//!   and may be lent out as `&[u8]` through the shared [`Mapping`]; bytes above it are
//!   written only through [`MapMut`], the one owner of a mapping, whose writing methods
//!   take `&mut self`, and read as `&[u8]` only through `&mut MapMut`. So the types
//!   enforce "one appending owner": a reader holds an `Arc<Mapping>`, which has no way
//!   to write, and the owner cannot be cloned. The mark only grows while the mapping is
//!   shared; [`MapMut::reset_committed`] lowers it only when no reader holds it.
//! - Each engine makes one `MapMut` per file, and the store's lock file keeps a second
//!   process (or a second store in this one) from mapping the same files.

use std::ffi::c_void;
use std::fs::File;
use std::io;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use rustix::mm::{Advice, MapFlags, MsyncFlags, ProtFlags};

/// A `PROT_READ | PROT_WRITE`, `MAP_SHARED` mapping of a file from offset 0, as its
/// readers share it: only the committed bytes can be reached.
pub(crate) struct Mapping {
    ptr: *mut u8,
    len: usize,
    committed: AtomicUsize,
}

// SAFETY: the module contract above: through `&Mapping` only committed bytes are read,
// and they are never written again; uncommitted bytes are written only through the
// owning `MapMut`, by `&mut` access.
unsafe impl Send for Mapping {}
// SAFETY: as above.
unsafe impl Sync for Mapping {}

/// The one owner of a [`Mapping`]: it alone writes above the committed mark and moves
/// the mark. Readers get the mapping through [`MapMut::shared`].
pub(crate) struct MapMut {
    map: Arc<Mapping>,
    /// On a copy-on-write filesystem, the file, written with pwrite(2) (module docs).
    pwrite: Option<File>,
}

/// statfs(2) `f_type` of the filesystems that copy on write (linux/magic.h, and ZFS's
/// own header for ZFS).
const COPY_ON_WRITE_MAGICS: [(u64, &str); 3] = [
    (0x9123_683E, "btrfs"),
    (0x2FC1_2FC1, "zfs"),
    (0xCA45_1A4E, "bcachefs"),
];

/// The name of the copy-on-write filesystem `file` is on, if it is on one.
pub(crate) fn copy_on_write_filesystem(file: &File) -> io::Result<Option<&'static str>> {
    let magic = rustix::fs::fstatfs(file)?.f_type as u64;
    Ok(COPY_ON_WRITE_MAGICS
        .iter()
        .find(|(m, _)| *m == magic)
        .map(|(_, name)| *name))
}

impl std::ops::Deref for MapMut {
    type Target = Mapping;

    fn deref(&self) -> &Mapping {
        &self.map
    }
}

impl MapMut {
    /// mmap(2) of the first `len` bytes of `file`, which must already be allocated for
    /// that length (see the module contract). `committed` bytes are taken as written.
    /// On a copy-on-write filesystem the mapping is read-only and writes go through
    /// pwrite(2) (see the module docs).
    pub(crate) fn new(file: &File, len: usize, committed: usize) -> io::Result<MapMut> {
        if len == 0 {
            return Err(io::Error::new(io::ErrorKind::InvalidInput, "empty mapping"));
        }
        let pwrite = match copy_on_write_filesystem(file)? {
            Some(_) => Some(file.try_clone()?),
            None => None,
        };
        let protection = if pwrite.is_some() {
            ProtFlags::READ
        } else {
            ProtFlags::READ | ProtFlags::WRITE
        };
        // SAFETY: a fresh mapping at an address the kernel picks overlaps no Rust object.
        let ptr = unsafe {
            rustix::mm::mmap(
                std::ptr::null_mut(),
                len,
                protection,
                MapFlags::SHARED,
                file,
                0,
            )
        }?;
        Ok(MapMut {
            map: Arc::new(Mapping {
                ptr: ptr.cast(),
                len,
                committed: AtomicUsize::new(committed.min(len)),
            }),
            pwrite,
        })
    }

    /// The mapping for readers, who see its committed bytes.
    pub(crate) fn shared(&self) -> Arc<Mapping> {
        Arc::clone(&self.map)
    }

    /// Moves the committed mark up to `to` (never down, never past the end).
    pub(crate) fn commit(&mut self, to: usize) {
        self.map
            .committed
            .fetch_max(to.min(self.map.len), Ordering::AcqRel);
    }

    /// Sets the committed mark to `to`, also downwards. Only while no reader holds the
    /// mapping (recovery, before anything is lent); false, changing nothing, otherwise.
    pub(crate) fn reset_committed(&mut self, to: usize) -> bool {
        match Arc::get_mut(&mut self.map) {
            Some(map) => {
                *map.committed.get_mut() = to.min(map.len);
                true
            }
            None => false,
        }
    }

    /// The whole mapping, committed or not, for the owner (recovery reads what a crashed
    /// run left above the mark).
    pub(crate) fn all(&mut self) -> &[u8] {
        // SAFETY: `&mut self` excludes the only writer; readers through `Mapping` read
        // committed bytes only, and reading the same bytes at once is no race.
        unsafe { std::slice::from_raw_parts(self.map.ptr, self.map.len) }
    }

    /// Stores `data` at `at`, which must lie at or above the committed mark: a range
    /// below the mark or past the end is refused with `InvalidInput`, writing nothing.
    /// With pwrite(2) (a copy-on-write filesystem) a full disk is an error here; through
    /// the mapping it cannot happen (module contract).
    pub(crate) fn write_at(&mut self, at: usize, data: &[u8]) -> io::Result<()> {
        let end = at.checked_add(data.len());
        if at < self.map.committed() || end.is_none_or(|end| end > self.map.len) {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!(
                    "write of {} bytes at {at} is outside the uncommitted part of a {}-byte mapping",
                    data.len(),
                    self.map.len
                ),
            ));
        }
        if let Some(file) = &self.pwrite {
            return std::os::unix::fs::FileExt::write_all_at(file, data, at as u64);
        }
        // SAFETY: at..end is inside the mapping and above the committed mark, where only
        // this owner writes (`&mut self`) and no `&[u8]` is lent (module contract);
        // `data` is ordinary memory, which cannot overlap a mapping of our own file.
        unsafe { std::ptr::copy_nonoverlapping(data.as_ptr(), self.map.ptr.add(at), data.len()) };
        Ok(())
    }

    /// Stores a zero byte in every page from `from` to the end, so the page faults are
    /// taken now and not on the append path (RocketMQ's warm-up). Only for bytes above
    /// the committed mark, which in a fresh preallocated file are zero already. Nothing
    /// to do where writes go through pwrite(2): they take no faults on the mapping.
    pub(crate) fn touch_pages(&mut self, from: usize) {
        if self.pwrite.is_some() {
            return;
        }
        let page = rustix::param::page_size();
        let mut at = from.max(self.map.committed()).next_multiple_of(page);
        while at < self.map.len {
            // In range and above the mark: a store through the mapping cannot fail.
            let _ = self.write_at(at, &[0]);
            at += page;
        }
    }
}

impl Mapping {
    /// Length of the mapping.
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// Bytes below the committed mark.
    pub(crate) fn committed(&self) -> usize {
        self.committed.load(Ordering::Acquire)
    }

    /// The committed bytes `start..start + len`, or `None` if any lies above the mark.
    pub(crate) fn committed_bytes(&self, start: usize, len: usize) -> Option<&[u8]> {
        let end = start.checked_add(len)?;
        if end > self.committed() {
            return None;
        }
        // SAFETY: start..end lies inside the mapping and below the committed mark, so
        // nobody writes these bytes while the borrow lives (module contract).
        Some(unsafe { std::slice::from_raw_parts(self.ptr.add(start), len) })
    }

    /// mlock(2) of the whole mapping. Fails with EPERM or ENOMEM where RLIMIT_MEMLOCK
    /// does not allow it; callers treat that as "not locked", not as an error.
    pub(crate) fn lock(&self) -> io::Result<()> {
        // SAFETY: ptr/len describe a live mapping; mlock changes no contents.
        unsafe { rustix::mm::mlock(self.ptr.cast::<c_void>(), self.len) }?;
        Ok(())
    }

    /// madvise(MADV_WILLNEED) over the whole mapping: start reading it in.
    pub(crate) fn will_need(&self) -> io::Result<()> {
        // SAFETY: ptr/len describe a live mapping; the advice changes no contents.
        unsafe { rustix::mm::madvise(self.ptr.cast::<c_void>(), self.len, Advice::WillNeed) }?;
        Ok(())
    }

    /// msync(MS_SYNC) of the pages holding `start..end`: they are on disk on return.
    pub(crate) fn sync(&self, start: usize, end: usize) -> io::Result<()> {
        let end = end.min(self.len);
        if start >= end {
            return Ok(());
        }
        let page = rustix::param::page_size();
        let from = start - start % page;
        // SAFETY: from..end lies inside the live mapping and from is page-aligned, as
        // msync requires; msync changes no contents.
        unsafe {
            rustix::mm::msync(
                self.ptr.add(from).cast::<c_void>(),
                end - from,
                MsyncFlags::SYNC,
            )
        }?;
        Ok(())
    }
}

impl Drop for Mapping {
    fn drop(&mut self) {
        // SAFETY: ptr and len are what mmap returned; `&mut self` means no borrow of the
        // mapping outlives this. An error cannot be acted on here.
        let _ = unsafe { rustix::mm::munmap(self.ptr.cast::<c_void>(), self.len) };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn committed_bytes_are_lent_and_never_rewritten() {
        let file = tempfile::tempfile().unwrap();
        file.set_len(8192).unwrap();
        let mut map = MapMut::new(&file, 8192, 0).unwrap();
        map.write_at(0, b"hello").unwrap();
        assert_eq!(map.committed_bytes(0, 5), None);
        map.commit(5);
        assert_eq!(map.committed_bytes(0, 5), Some(&b"hello"[..]));
        assert!(
            map.write_at(4, b"x").is_err(),
            "a committed byte was writable"
        );
        assert!(
            map.write_at(8190, b"xyz").is_err(),
            "a write past the end was taken"
        );
        assert!(map.write_at(usize::MAX, b"x").is_err());
        map.write_at(5, b"!").unwrap();
        map.sync(0, 6).unwrap();
        let mut back = [0u8; 6];
        std::os::unix::fs::FileExt::read_exact_at(&file, &mut back, 0).unwrap();
        assert_eq!(&back, b"hello!");
        // A reader's share keeps the mark from being lowered under it.
        let reader = map.shared();
        assert!(!map.reset_committed(0));
        assert_eq!(reader.committed_bytes(0, 5), Some(&b"hello"[..]));
        drop(reader);
        assert!(map.reset_committed(0));
        assert_eq!(map.committed(), 0);
    }
}
