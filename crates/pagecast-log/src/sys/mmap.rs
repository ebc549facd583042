//! A read-write shared mapping of a whole preallocated file: the offset indexes, the
//! commit log and its consume queues live in these.
//!
//! The contract that keeps the mapping free of SIGBUS and of data races:
//! - The file is allocated on disk (fallocate, or zeros written) for its whole length
//!   before it is mapped, so storing into a page never needs a block the filesystem
//!   cannot find: a full disk fails the allocation with ENOSPC, not a store with SIGBUS.
//! - Only this process writes or truncates files in a pagecast data directory, and a
//!   mapped file is never truncated while mapped (retention unlinks whole files; the
//!   mapping of an unlinked file stays valid until the last reader drops it). Another
//!   process truncating the file breaks the contract, as it would for Kafka or RocketMQ.
//! - The mapping is split at a `committed` mark. Bytes below it are never written again
//!   and may be lent out as `&[u8]`; bytes above it are written only by the one owner
//!   that appends (the engines call [`MapMut::write_at`] only from `&mut self` methods),
//!   and read as `&[u8]` only through `&mut MapMut`. The mark only grows while the
//!   mapping is shared; [`MapMut::reset_committed`] needs `&mut`.

use std::ffi::c_void;
use std::fs::File;
use std::io;
use std::sync::atomic::{AtomicUsize, Ordering};

use rustix::mm::{Advice, MapFlags, MsyncFlags, ProtFlags};

/// A `PROT_READ | PROT_WRITE`, `MAP_SHARED` mapping of a file from offset 0.
pub(crate) struct MapMut {
    ptr: *mut u8,
    len: usize,
    committed: AtomicUsize,
}

// SAFETY: the module contract above: shared access reads only committed bytes, which are
// never written again; uncommitted bytes are written by one owner at a time.
unsafe impl Send for MapMut {}
// SAFETY: as above.
unsafe impl Sync for MapMut {}

impl MapMut {
    /// mmap(2) of the first `len` bytes of `file`, which must already be allocated for
    /// that length (see the module contract). `committed` bytes are taken as written.
    pub(crate) fn new(file: &File, len: usize, committed: usize) -> io::Result<MapMut> {
        if len == 0 {
            return Err(io::Error::new(io::ErrorKind::InvalidInput, "empty mapping"));
        }
        // SAFETY: a fresh mapping at an address the kernel picks overlaps no Rust object.
        let ptr = unsafe {
            rustix::mm::mmap(
                std::ptr::null_mut(),
                len,
                ProtFlags::READ | ProtFlags::WRITE,
                MapFlags::SHARED,
                file,
                0,
            )
        }?;
        Ok(MapMut {
            ptr: ptr.cast(),
            len,
            committed: AtomicUsize::new(committed.min(len)),
        })
    }

    /// Length of the mapping.
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// Bytes below the committed mark.
    pub(crate) fn committed(&self) -> usize {
        self.committed.load(Ordering::Acquire)
    }

    /// Moves the committed mark up to `to` (never down, never past the end).
    pub(crate) fn commit(&self, to: usize) {
        self.committed.fetch_max(to.min(self.len), Ordering::AcqRel);
    }

    /// Sets the committed mark to `to`, also downwards: only while nothing is lent out,
    /// which `&mut self` proves.
    pub(crate) fn reset_committed(&mut self, to: usize) {
        *self.committed.get_mut() = to.min(self.len);
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

    /// The whole mapping, committed or not, for the owner (recovery reads what a crashed
    /// run left above the mark).
    pub(crate) fn all(&mut self) -> &[u8] {
        // SAFETY: `&mut self` excludes every other borrow and writer.
        unsafe { std::slice::from_raw_parts(self.ptr, self.len) }
    }

    /// Stores `data` at `at`, which must lie at or above the committed mark. Returns false
    /// (and writes nothing) if the range is below the mark or past the end.
    pub(crate) fn write_at(&self, at: usize, data: &[u8]) -> bool {
        let Some(end) = at.checked_add(data.len()) else {
            return false;
        };
        if at < self.committed() || end > self.len {
            return false;
        }
        // SAFETY: at..end is inside the mapping and above the committed mark, where only
        // the single appending owner writes and no `&[u8]` is lent (module contract);
        // `data` is ordinary memory, which cannot overlap a mapping of our own file.
        unsafe { std::ptr::copy_nonoverlapping(data.as_ptr(), self.ptr.add(at), data.len()) };
        true
    }

    /// Stores a zero byte in every page from `from` to the end, so the page faults are
    /// taken now and not on the append path (RocketMQ's warm-up). Only for bytes above
    /// the committed mark, which in a fresh preallocated file are zero already.
    pub(crate) fn touch_pages(&self, from: usize) {
        let page = rustix::param::page_size();
        let mut at = from.max(self.committed()).next_multiple_of(page);
        while at < self.len {
            self.write_at(at, &[0]);
            at += page;
        }
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

impl Drop for MapMut {
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
        let map = MapMut::new(&file, 8192, 0).unwrap();
        assert!(map.write_at(0, b"hello"));
        assert_eq!(map.committed_bytes(0, 5), None);
        map.commit(5);
        assert_eq!(map.committed_bytes(0, 5), Some(&b"hello"[..]));
        assert!(!map.write_at(4, b"x"), "a committed byte was writable");
        assert!(
            !map.write_at(8190, b"xyz"),
            "a write past the end was taken"
        );
        assert!(map.write_at(5, b"!"));
        map.sync(0, 6).unwrap();
        let mut back = [0u8; 6];
        std::os::unix::fs::FileExt::read_exact_at(&file, &mut back, 0).unwrap();
        assert_eq!(&back, b"hello!");
    }
}
