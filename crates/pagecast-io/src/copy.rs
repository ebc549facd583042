//! File → file: the same driver, senders and fallback rules as file → socket, with the
//! destination positioned first. [`Method::Reflink`] falls back to copy_file_range,
//! sendfile, splice and read+write, in that order; [`Extents`] tells afterwards how
//! much of the copy shares its blocks with the source.

use std::fs::File;
use std::io;
use std::os::fd::AsFd;

use rustix::fs::SeekFrom;

use crate::stats::Syscall;
use crate::{Error, Method, Options, Stats, send_file, sys};

/// Options for [`copy_file`]: reflink first, then the rest of its chain.
pub fn copy_options() -> Options {
    Options::method(Method::Reflink)
}

/// Copies `len` bytes of `src` from `src_offset` into `dst` at `dst_offset`, by
/// `options.method` and its fallbacks ([`copy_options`] for the best there is).
/// `dst`'s file position ends after the bytes written. Returns what moved and how: a
/// copy_file_range that the filesystem turned into a reflink still reports
/// `copy_file_range`; [`Extents::of`] tells the two apart.
pub fn copy_file(
    src: &File,
    src_offset: u64,
    len: u64,
    dst: &File,
    dst_offset: u64,
    options: &Options,
) -> Result<Stats, Error> {
    rustix::fs::seek(dst, SeekFrom::Start(dst_offset)).map_err(|e| Error::Io {
        syscall: Syscall::Lseek,
        offset: src_offset,
        source: e.into(),
    })?;
    send_file(src.as_fd(), src_offset, len, dst.as_fd(), options)
}

/// Where a file's bytes live: how many have extents, and how many of those are shared
/// with another file (FIEMAP). `allocated - shared` is the space the file takes alone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Extents {
    /// Bytes covered by extents (holes excluded).
    pub allocated: u64,
    /// Bytes whose extents are shared (a reflink, or a snapshot of the filesystem).
    pub shared: u64,
}

impl Extents {
    /// ioctl FS_IOC_FIEMAP over `file` up to its length, after writing its dirty pages
    /// back. EOPNOTSUPP where the filesystem has no extent map (tmpfs).
    pub fn of(file: &File) -> io::Result<Extents> {
        let size = file.metadata()?.len();
        let (allocated, shared) = sys::extents::extents(file.as_fd(), size)?;
        Ok(Extents { allocated, shared })
    }

    /// Bytes the file takes on disk that no other file shares.
    pub fn own(&self) -> u64 {
        self.allocated - self.shared.min(self.allocated)
    }
}
