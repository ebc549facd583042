//! A read-only shared mapping of a file range, written to a descriptor by the kernel.
//!
//! The contract that keeps this free of SIGBUS and of undefined behaviour: Rust code
//! never reads the mapping. Its address goes only to write(2), so every access happens
//! in the kernel's copy from user memory. If another process truncates the file under
//! the mapping, that copy faults on a page past the new end of file, and the kernel
//! turns the fault into a short write or EFAULT (x86 `do_sigbus` sends no signal for a
//! kernel-mode fault with an exception-table fixup); the caller then re-checks the file
//! size and reports the truncation. No `&[u8]` is ever made over the mapping, because
//! its bytes may change or vanish while borrowed.

use std::ffi::c_void;
use std::io;
use std::os::fd::{AsRawFd, BorrowedFd};

use rustix::mm::{MapFlags, ProtFlags};

/// A `PROT_READ`, `MAP_SHARED` mapping of `len` bytes of a file from a page-aligned
/// offset, unmapped on drop.
pub(crate) struct Mapping {
    ptr: *mut c_void,
    len: usize,
}

impl Mapping {
    /// mmap(2) of `len` bytes of `file` from `offset`, which must be page-aligned.
    /// `len` must be non-zero.
    pub(crate) fn new(file: BorrowedFd<'_>, offset: u64, len: usize) -> io::Result<Mapping> {
        // SAFETY: a fresh mapping at an address the kernel picks overlaps no Rust
        // object; the module contract above governs every later access.
        let ptr = unsafe {
            rustix::mm::mmap(
                std::ptr::null_mut(),
                len,
                ProtFlags::READ,
                MapFlags::SHARED,
                file,
                offset,
            )
        }?;
        Ok(Mapping { ptr, len })
    }

    /// mincore(2): whether every page of the mapping is resident in the page cache.
    /// Only queries residency; nothing is read, so this cannot fault.
    #[cfg_attr(not(feature = "tokio"), allow(dead_code))]
    pub(crate) fn is_resident(&self) -> io::Result<bool> {
        let pages = self.len.div_ceil(rustix::param::page_size());
        let mut vec = vec![0u8; pages];
        // SAFETY: ptr/len describe a live mapping and vec has one byte per page of it.
        let rc = unsafe { libc::mincore(self.ptr, self.len, vec.as_mut_ptr()) };
        if rc != 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(vec.iter().all(|&b| b & 1 == 1))
    }

    /// write(2) of up to `len` mapped bytes starting `at` bytes into the mapping
    /// (clamped to the mapping's end). Returns what write(2) returns; a start past the
    /// end is refused with `InvalidInput`.
    pub(crate) fn write_to(&self, dst: BorrowedFd<'_>, at: usize, len: usize) -> io::Result<usize> {
        if at > self.len {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("start {at} is past the {}-byte mapping", self.len),
            ));
        }
        let len = len.min(self.len - at);
        // SAFETY: at <= self.len (checked above) and at + len <= self.len (clamped), so
        // the pointer stays inside the live mapping or one past its end, and the kernel
        // reads only inside it; user space never dereferences it.
        let n = unsafe { libc::write(dst.as_raw_fd(), self.ptr.cast::<u8>().add(at).cast(), len) };
        if n < 0 {
            Err(io::Error::last_os_error())
        } else {
            Ok(n as usize)
        }
    }
}

impl Drop for Mapping {
    fn drop(&mut self) {
        // SAFETY: ptr and len are exactly what mmap returned, and no reference into the
        // mapping exists (the module never makes one). An error cannot be acted on here.
        let _ = unsafe { rustix::mm::munmap(self.ptr, self.len) };
    }
}

// SAFETY: the mapping is owned by this value alone and only read by the kernel.
unsafe impl Send for Mapping {}

#[cfg(test)]
mod tests {
    use std::os::fd::AsFd;

    use super::*;

    #[test]
    fn a_start_past_the_end_is_refused_and_lengths_are_clamped() {
        let file = tempfile::tempfile().unwrap();
        std::io::Write::write_all(&mut &file, b"0123456789").unwrap();
        let map = Mapping::new(file.as_fd(), 0, 10).unwrap();
        let null = std::fs::File::options()
            .write(true)
            .open("/dev/null")
            .unwrap();
        assert_eq!(map.write_to(null.as_fd(), 4, 100).unwrap(), 6);
        assert_eq!(map.write_to(null.as_fd(), 10, 5).unwrap(), 0);
        let err = map.write_to(null.as_fd(), 11, 1).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
        assert_eq!(
            map.write_to(null.as_fd(), usize::MAX, 1)
                .unwrap_err()
                .kind(),
            io::ErrorKind::InvalidInput
        );
    }
}
