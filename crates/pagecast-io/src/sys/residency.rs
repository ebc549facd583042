//! Is a file range in the page cache? sendfile(2), splice(2) and a read from a mapping
//! block on a page-cache miss even when the destination is non-blocking, so the tokio
//! adapter asks before each chunk and reads cold chunks in on a blocking thread first.
//!
//! cachestat(2) (Linux 6.5) answers for a range in one call without a mapping. Older
//! kernels answer ENOSYS, remembered once, and the range is mapped and asked with
//! mincore(2) instead.

use std::io;
use std::os::fd::{AsRawFd, BorrowedFd};
use std::sync::atomic::{AtomicBool, Ordering};

use super::mmap::Mapping;

/// The cachestat(2) number: one number on every architecture since the unified syscall
/// table (include/uapi/asm-generic/unistd.h, `__NR_cachestat 451`).
const SYS_CACHESTAT: libc::c_long = 451;

static CACHESTAT_MISSING: AtomicBool = AtomicBool::new(false);

#[repr(C)]
struct CachestatRange {
    off: u64,
    len: u64,
}

#[repr(C)]
#[derive(Default)]
struct Cachestat {
    nr_cache: u64,
    nr_dirty: u64,
    nr_writeback: u64,
    nr_evicted: u64,
    nr_recently_evicted: u64,
}

/// Whether every page of `len` bytes of `file` from `offset` is in the page cache.
/// The range should lie inside the file: pages past its end are never cached.
pub(crate) fn is_cached(file: BorrowedFd<'_>, offset: u64, len: u64) -> io::Result<bool> {
    if len == 0 {
        return Ok(true);
    }
    let page = rustix::param::page_size() as u64;
    let first = offset / page;
    let pages = (offset + len).div_ceil(page) - first;
    if !CACHESTAT_MISSING.load(Ordering::Relaxed) {
        let range = CachestatRange { off: offset, len };
        let mut stat = Cachestat::default();
        // SAFETY: range and stat are valid for the kernel to read and write for the
        // duration of the call; flags must be 0.
        let rc = unsafe {
            libc::syscall(
                SYS_CACHESTAT,
                file.as_raw_fd(),
                &range as *const CachestatRange,
                &mut stat as *mut Cachestat,
                0u32,
            )
        };
        if rc == 0 {
            return Ok(stat.nr_cache >= pages);
        }
        let err = io::Error::last_os_error();
        if err.raw_os_error() != Some(libc::ENOSYS) {
            return Err(err);
        }
        CACHESTAT_MISSING.store(true, Ordering::Relaxed);
    }
    let map_off = first * page;
    let map_len =
        usize::try_from(pages * page).map_err(|_| io::Error::from_raw_os_error(libc::EOVERFLOW))?;
    Mapping::new(file, map_off, map_len)?.is_resident()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;
    use std::os::fd::AsFd;

    #[test]
    fn written_file_is_cached_and_dropped_file_is_not() {
        let mut f = tempfile::tempfile().unwrap();
        f.write_all(&vec![7u8; 1 << 20]).unwrap();
        assert!(is_cached(f.as_fd(), 0, 1 << 20).unwrap());
        f.sync_all().unwrap();
        rustix::fs::fadvise(&f, 0, None, rustix::fs::Advice::DontNeed).unwrap();
        assert!(!is_cached(f.as_fd(), 0, 1 << 20).unwrap());
    }
}
