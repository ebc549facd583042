//! ioctl(2) FICLONERANGE: make a range of one file share another's extents (reflink).
//! Neither rustix nor libc has the range form (rustix has FICLONE, whole files only).

use std::io;
use std::os::fd::{AsRawFd, BorrowedFd};

/// `struct file_clone_range` of linux/fs.h.
#[repr(C)]
struct FileCloneRange {
    src_fd: i64,
    src_offset: u64,
    src_length: u64,
    dest_offset: u64,
}

/// `_IOW(0x94, 13, struct file_clone_range)`.
const FICLONERANGE: libc::c_ulong = 0x4020_940D;

/// ioctl FICLONERANGE: `len` bytes of `src` from `src_offset` become the bytes of
/// `dst` from `dst_offset`, sharing extents. Offsets and length must be multiples of
/// the filesystem's block size (a length reaching the end of `src` excepted); EINVAL
/// otherwise, EOPNOTSUPP where the filesystem cannot share extents, EXDEV across
/// filesystems.
pub(crate) fn clone_range(
    src: BorrowedFd<'_>,
    src_offset: u64,
    len: u64,
    dst: BorrowedFd<'_>,
    dst_offset: u64,
) -> io::Result<()> {
    let range = FileCloneRange {
        src_fd: i64::from(src.as_raw_fd()),
        src_offset,
        src_length: len,
        dest_offset: dst_offset,
    };
    // SAFETY: FICLONERANGE reads one `struct file_clone_range`, which `range` is, alive
    // for the call; the descriptors are borrowed, so open for its duration.
    let rc = unsafe { libc::ioctl(dst.as_raw_fd(), FICLONERANGE as _, &range) };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}
