//! The benchmark's own system calls that need `unsafe`: resource usage, the
//! scatter-gather query, the mapping and ring of the raw loops, and the network
//! namespace of the congestion control.

use std::ffi::c_void;
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd};
use std::time::Duration;

/// What getrusage(2) reports for the whole process (every thread, including io_uring's
/// kernel workers, which belong to the process).
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Usage {
    pub user: Duration,
    pub sys: Duration,
    /// Voluntary + involuntary scheduler context switches.
    pub context_switches: u64,
    /// Minor + major page faults.
    pub faults: u64,
}

fn timeval(tv: libc::timeval) -> Duration {
    Duration::new(tv.tv_sec as u64, tv.tv_usec as u32 * 1000)
}

/// getrusage(RUSAGE_SELF).
pub(crate) fn usage() -> Usage {
    rusage(libc::RUSAGE_SELF)
}

/// getrusage(RUSAGE_THREAD): the calling thread only, so work a store does on its own
/// threads (preparing and warming files) is not counted against the appending one.
pub(crate) fn thread_usage() -> Usage {
    rusage(libc::RUSAGE_THREAD)
}

fn rusage(who: libc::c_int) -> Usage {
    // SAFETY: rusage is plain data; a zeroed value is valid and getrusage fills it.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: &mut ru is a valid out pointer for the duration of the call.
    unsafe { libc::getrusage(who, &mut ru) };
    Usage {
        user: timeval(ru.ru_utime),
        sys: timeval(ru.ru_stime),
        context_switches: (ru.ru_nvcsw + ru.ru_nivcsw) as u64,
        faults: (ru.ru_minflt + ru.ru_majflt) as u64,
    }
}

impl std::ops::Sub for Usage {
    type Output = Usage;
    fn sub(self, earlier: Usage) -> Usage {
        Usage {
            user: self.user.saturating_sub(earlier.user),
            sys: self.sys.saturating_sub(earlier.sys),
            context_switches: self
                .context_switches
                .saturating_sub(earlier.context_switches),
            faults: self.faults.saturating_sub(earlier.faults),
        }
    }
}

/// `ETHTOOL_GSG` from include/uapi/linux/ethtool.h: get scatter-gather enable.
const ETHTOOL_GSG: u32 = 0x0000_0018;

#[repr(C)]
struct EthtoolValue {
    cmd: u32,
    data: u32,
}

/// SIOCETHTOOL `ETHTOOL_GSG`: whether interface `name` does scatter-gather DMA, which
/// is what lets sendfile's last copy be done by the NIC.
pub(crate) fn scatter_gather(name: &str) -> io::Result<bool> {
    let sock = rustix::net::socket(
        rustix::net::AddressFamily::INET,
        rustix::net::SocketType::DGRAM,
        None,
    )?;
    // SAFETY: ifreq is plain data; zeroed is a valid value.
    let mut req: libc::ifreq = unsafe { std::mem::zeroed() };
    if name.len() >= req.ifr_name.len() {
        return Err(io::ErrorKind::InvalidInput.into());
    }
    for (dst, &src) in req.ifr_name.iter_mut().zip(name.as_bytes()) {
        *dst = src as libc::c_char;
    }
    let mut value = EthtoolValue {
        cmd: ETHTOOL_GSG,
        data: 0,
    };
    req.ifr_ifru.ifru_data = (&mut value as *mut EthtoolValue).cast();
    // SAFETY: req names the interface and points at value, both live for the call; the
    // kernel writes only value.data.
    let rc = unsafe { libc::ioctl(sock.as_raw_fd(), libc::SIOCETHTOOL, &mut req) };
    if rc < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(value.data != 0)
}

/// A read-only mapping of a whole file for the raw mmap + write loop. The loop never
/// reads it from user space; only write(2) does, in the kernel (see pagecast-io's
/// `sys::mmap` for why that cannot raise SIGBUS). The benchmark owns the file and does
/// not truncate it while mapped.
pub(crate) struct RawMapping {
    ptr: *mut c_void,
    len: usize,
}

impl RawMapping {
    /// mmap(2) of the first `len` (non-zero) bytes of `file`.
    pub(crate) fn new(file: BorrowedFd<'_>, len: usize) -> io::Result<RawMapping> {
        // SAFETY: a fresh mapping at a kernel-chosen address aliases no Rust object.
        let ptr = unsafe {
            rustix::mm::mmap(
                std::ptr::null_mut(),
                len,
                rustix::mm::ProtFlags::READ,
                rustix::mm::MapFlags::SHARED,
                file,
                0,
            )
        }?;
        Ok(RawMapping { ptr, len })
    }

    /// write(2) of up to `len` bytes from `at` in the mapping (clamped to its end); a
    /// start past the end is refused with `InvalidInput`.
    pub(crate) fn write_to(&self, dst: impl AsFd, at: usize, len: usize) -> io::Result<usize> {
        if at > self.len {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("start {at} is past the {}-byte mapping", self.len),
            ));
        }
        let len = len.min(self.len - at);
        // SAFETY: at <= self.len (checked above) and at + len <= self.len (clamped): the
        // pointer stays inside the live mapping or one past its end; only the kernel
        // reads it.
        let n = unsafe {
            libc::write(
                dst.as_fd().as_raw_fd(),
                self.ptr.cast::<u8>().add(at).cast(),
                len,
            )
        };
        if n < 0 {
            Err(io::Error::last_os_error())
        } else {
            Ok(n as usize)
        }
    }
}

impl Drop for RawMapping {
    fn drop(&mut self) {
        // SAFETY: exactly the region mmap returned; nothing borrows into it.
        let _ = unsafe { rustix::mm::munmap(self.ptr, self.len) };
    }
}

/// A read-write mapping of a whole file for `bench cow`: `MAP_PRIVATE` (a page is
/// copied on its first write) or `MAP_SHARED` (written in place). Its bytes are reached
/// only by one volatile access per page, never borrowed as slices. The benchmark owns
/// the file and does not truncate it while mapped, so no access can raise SIGBUS.
pub(crate) struct PageMapping {
    ptr: *mut u8,
    len: usize,
    page: usize,
}

impl PageMapping {
    /// mmap(2) of the first `len` (non-zero) bytes of `file`, private or shared.
    pub(crate) fn new(file: BorrowedFd<'_>, len: usize, private: bool) -> io::Result<PageMapping> {
        let flags = if private {
            rustix::mm::MapFlags::PRIVATE
        } else {
            rustix::mm::MapFlags::SHARED
        };
        // SAFETY: a fresh mapping at a kernel-chosen address aliases no Rust object.
        let ptr = unsafe {
            rustix::mm::mmap(
                std::ptr::null_mut(),
                len,
                rustix::mm::ProtFlags::READ | rustix::mm::ProtFlags::WRITE,
                flags,
                file,
                0,
            )
        }?;
        Ok(PageMapping {
            ptr: ptr.cast(),
            len,
            page: rustix::param::page_size(),
        })
    }

    /// Pages in the mapping.
    pub(crate) fn pages(&self) -> usize {
        self.len.div_ceil(self.page)
    }

    /// Reads the first byte of page `i` (panics past the end: a bench bug).
    pub(crate) fn read_page(&self, i: usize) -> u8 {
        assert!(i < self.pages(), "page {i} of {}", self.pages());
        // SAFETY: i * page < len (checked), inside the live mapping; a volatile read of
        // one byte makes no reference into memory the kernel may replace.
        unsafe { std::ptr::read_volatile(self.ptr.add(i * self.page)) }
    }

    /// Writes `byte` as the first byte of page `i` (panics past the end: a bench bug).
    pub(crate) fn write_page(&mut self, i: usize, byte: u8) {
        assert!(i < self.pages(), "page {i} of {}", self.pages());
        // SAFETY: as in read_page; `&mut self` makes this the only access.
        unsafe { std::ptr::write_volatile(self.ptr.add(i * self.page), byte) }
    }
}

impl Drop for PageMapping {
    fn drop(&mut self) {
        // SAFETY: exactly the region mmap returned; nothing borrows into it.
        let _ = unsafe { rustix::mm::munmap(self.ptr.cast(), self.len) };
    }
}

/// mallopt(M_MMAP_THRESHOLD): allocations of at least 1 MiB always get fresh pages from
/// mmap and give them back when freed. glibc otherwise raises the threshold after the
/// first large free and serves later buffers from pages already resident, which would
/// hide the copies `bench cow` counts by the growth of anonymous memory.
pub(crate) fn fresh_pages_for_large_buffers() {
    // SAFETY: mallopt takes two integers and changes only the allocator's policy for
    // later allocations; a refusal (return 0) leaves the default.
    unsafe { libc::mallopt(libc::M_MMAP_THRESHOLD, 1 << 20) };
}

/// Pushes one linked chain of splice entries onto `ring` and submits it.
pub(crate) fn push_chain(
    ring: &mut io_uring::IoUring,
    entries: &[io_uring::squeue::Entry],
) -> io::Result<()> {
    let mut sq = ring.submission();
    for e in entries {
        // SAFETY: the entries name only descriptors that the raw loop keeps open until it
        // has reaped every completion, and no memory.
        unsafe { sq.push(e) }.map_err(|_| io::Error::from_raw_os_error(libc::EBUSY))?;
    }
    Ok(())
}

/// unshare(CLONE_NEWNET): this thread, and what it starts from now on, in a new network
/// namespace with only a loopback interface, down.
pub(crate) fn unshare_network() -> io::Result<()> {
    use rustix::thread::{UnshareFlags, unshare_unsafe};
    // SAFETY: rustix's contract concerns CLONE_FILES (descriptors the program holds
    // could change under it), which is not asked for; a network namespace is not state
    // Rust or libc caches for the thread.
    unsafe { unshare_unsafe(UnshareFlags::NEWNET) }.map_err(io::Error::from)
}

/// unshare(CLONE_NEWUSER | CLONE_NEWNET): as [`unshare_network`], inside a new user
/// namespace in which this process holds every capability until it execs. The kernel
/// refuses it to a process of more than one thread.
pub(crate) fn unshare_user_and_network() -> io::Result<()> {
    use rustix::thread::{UnshareFlags, unshare_unsafe};
    // SAFETY: as in unshare_network: no CLONE_FILES; the user namespace changes ids and
    // capabilities, which libc does not cache (getuid asks the kernel).
    unsafe { unshare_unsafe(UnshareFlags::NEWUSER | UnshareFlags::NEWNET) }.map_err(io::Error::from)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_start_past_the_end_of_the_raw_mapping_is_refused() {
        let file = tempfile::tempfile().unwrap();
        std::io::Write::write_all(&mut &file, b"0123456789").unwrap();
        let map = RawMapping::new(file.as_fd(), 10).unwrap();
        let null = std::fs::File::options()
            .write(true)
            .open("/dev/null")
            .unwrap();
        assert_eq!(map.write_to(&null, 4, 100).unwrap(), 6);
        assert_eq!(map.write_to(&null, 10, 1).unwrap(), 0);
        let err = map.write_to(&null, 11, 1).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
    }
}
