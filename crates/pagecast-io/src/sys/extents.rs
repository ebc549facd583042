//! ioctl(2) FS_IOC_FIEMAP: which bytes of a file have blocks of their own and which
//! share them with another file (a reflink). Neither rustix nor libc wraps it.

use std::io;
use std::os::fd::{AsRawFd, BorrowedFd};

/// `struct fiemap_extent` of linux/fiemap.h.
#[repr(C)]
#[derive(Clone, Copy, Default)]
struct FiemapExtent {
    logical: u64,
    physical: u64,
    length: u64,
    reserved64: [u64; 2],
    flags: u32,
    reserved: [u32; 3],
}

/// `struct fiemap` followed by room for [`BATCH`] extents.
#[repr(C)]
struct Fiemap {
    start: u64,
    length: u64,
    flags: u32,
    mapped_extents: u32,
    extent_count: u32,
    reserved: u32,
    extents: [FiemapExtent; BATCH],
}

const BATCH: usize = 256;
/// `_IOWR('f', 11, struct fiemap)`.
const FS_IOC_FIEMAP: libc::c_ulong = 0xC020_660B;
/// Write dirty pages back first, so delayed allocations have extents to show.
const FIEMAP_FLAG_SYNC: u32 = 0x1;
const FIEMAP_EXTENT_LAST: u32 = 0x1;
/// Not allocated yet (delayed allocation): counted as the file's own.
const FIEMAP_EXTENT_UNKNOWN: u32 = 0x2;
const FIEMAP_EXTENT_SHARED: u32 = 0x2000;

/// Bytes of `file`'s extents below `size` (its length: XFS, for one, keeps blocks
/// allocated past the end for a while), and how many of them are shared with other
/// files.
pub(crate) fn extents(file: BorrowedFd<'_>, size: u64) -> io::Result<(u64, u64)> {
    let (mut total, mut shared) = (0u64, 0u64);
    if size == 0 {
        return Ok((0, 0));
    }
    let mut start = 0u64;
    loop {
        let mut map = Fiemap {
            start,
            length: size.saturating_sub(start),
            flags: FIEMAP_FLAG_SYNC,
            mapped_extents: 0,
            extent_count: BATCH as u32,
            reserved: 0,
            extents: [FiemapExtent::default(); BATCH],
        };
        // SAFETY: FS_IOC_FIEMAP reads the header and writes at most `extent_count`
        // extents after it, which `map` has room for; it is alive for the call.
        let rc = unsafe { libc::ioctl(file.as_raw_fd(), FS_IOC_FIEMAP as _, &mut map) };
        if rc != 0 {
            return Err(io::Error::last_os_error());
        }
        let found = (map.mapped_extents as usize).min(BATCH);
        if found == 0 || start >= size {
            return Ok((total, shared));
        }
        for e in &map.extents[..found] {
            let inside = e.length.min(size.saturating_sub(e.logical));
            total += inside;
            if e.flags & FIEMAP_EXTENT_SHARED != 0 && e.flags & FIEMAP_EXTENT_UNKNOWN == 0 {
                shared += inside;
            }
            if e.flags & FIEMAP_EXTENT_LAST != 0 {
                return Ok((total, shared));
            }
        }
        let last = &map.extents[found - 1];
        start = last.logical + last.length;
    }
}
