//! The transfer methods and the order in which they stand in for one another.

use std::fmt;
use std::str::FromStr;

/// Default user-space buffer for [`Method::ReadWrite`]: 64 KiB, what `cp` and most
/// servers' read loops use.
pub const DEFAULT_READ_WRITE_BUF: usize = 64 * 1024;

/// How a byte range of a file reaches its destination.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Method {
    /// pread into a user-space buffer of `buf` bytes, then write: two copies, the baseline.
    ReadWrite {
        /// Buffer size in bytes (at least 1).
        buf: usize,
    },
    /// pread through an `O_DIRECT` descriptor into an aligned buffer, then write: the
    /// device DMAs into the buffer, bypassing the page cache, and the write copies once.
    Direct,
    /// mmap the range, then write from the mapping: one copy (mapping → socket buffer).
    MmapWrite,
    /// sendfile(2): page cache → socket inside the kernel.
    Sendfile,
    /// splice(2) file → pipe → destination: pages move by reference.
    Splice,
    /// io_uring `IORING_OP_SPLICE`, file → pipe → destination linked in one submission.
    IoUring,
    /// copy_file_range(2), file → file inside the kernel. The filesystem decides how:
    /// btrfs and XFS share the extents (a reflink), ext4 copies in the kernel. Needs a
    /// file destination on the same filesystem type.
    CopyFileRange,
    /// ioctl FICLONERANGE, file → file: the destination shares the source's extents and
    /// nothing is copied until either side is written (btrfs, XFS). Block-aligned
    /// ranges only; a range's last partial block goes by copy_file_range.
    Reflink,
    /// The best method the kernel accepts: sendfile, then splice, then read+write.
    Auto,
}

impl Method {
    /// Every method that moves bytes itself, in the order the benchmark shows them.
    pub const ALL: [Method; 6] = [
        Method::ReadWrite {
            buf: DEFAULT_READ_WRITE_BUF,
        },
        Method::Direct,
        Method::MmapWrite,
        Method::Sendfile,
        Method::Splice,
        Method::IoUring,
    ];

    /// Every method that copies a file range into another file, in the order
    /// `pagecast bench copy` shows them.
    pub const FILE_TO_FILE: [Method; 5] = [
        Method::ReadWrite {
            buf: DEFAULT_READ_WRITE_BUF,
        },
        Method::Sendfile,
        Method::Splice,
        Method::CopyFileRange,
        Method::Reflink,
    ];

    /// Short stable name, as accepted by [`FromStr`] and printed in tables.
    pub fn name(self) -> &'static str {
        match self {
            Method::ReadWrite { .. } => "read+write",
            Method::Direct => "direct",
            Method::MmapWrite => "mmap+write",
            Method::Sendfile => "sendfile",
            Method::Splice => "splice",
            Method::IoUring => "io_uring",
            Method::CopyFileRange => "copy_file_range",
            Method::Reflink => "reflink",
            Method::Auto => "auto",
        }
    }

    /// CPU copies of each byte on the sending side, by design (the classic table):
    /// the copy from the page cache into a user buffer and the copy from a user buffer
    /// into the socket buffer. sendfile's last copy becomes DMA where the interface does
    /// scatter-gather; over loopback the receiver copies regardless.
    pub fn design_copies(self) -> u32 {
        match self {
            Method::ReadWrite { .. } => 2,
            Method::Direct | Method::MmapWrite => 1,
            Method::Sendfile => 1,
            Method::Splice | Method::IoUring => 0,
            Method::CopyFileRange | Method::Reflink => 0,
            Method::Auto => 1,
        }
    }

    /// The methods tried, in order, when this one is not handled (see
    /// [`crate::Error::Unsupported`]). read+write works on every pair of descriptors,
    /// so every chain ends there.
    pub(crate) fn fallbacks(self) -> &'static [Method] {
        const RW: Method = Method::ReadWrite {
            buf: DEFAULT_READ_WRITE_BUF,
        };
        match self {
            Method::ReadWrite { .. } => &[],
            Method::Direct | Method::MmapWrite | Method::Splice => &[RW],
            Method::Sendfile => &[Method::Splice, RW],
            Method::IoUring | Method::Auto => &[Method::Sendfile, Method::Splice, RW],
            Method::CopyFileRange => &[Method::Sendfile, Method::Splice, RW],
            Method::Reflink => &[Method::CopyFileRange, Method::Sendfile, Method::Splice, RW],
        }
    }
}

impl fmt::Display for Method {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Method::ReadWrite { buf } if *buf != DEFAULT_READ_WRITE_BUF => {
                write!(f, "read+write({buf})")
            }
            _ => f.write_str(self.name()),
        }
    }
}

/// A method name that [`Method::from_str`] does not know.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "unknown method {0:?}: expected one of read+write, direct, mmap+write, sendfile, splice, io_uring, copy_file_range, reflink, auto"
)]
pub struct UnknownMethod(pub String);

impl FromStr for Method {
    type Err = UnknownMethod;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(match s {
            "read+write" | "readwrite" | "read" => Method::ReadWrite {
                buf: DEFAULT_READ_WRITE_BUF,
            },
            "direct" | "o_direct" => Method::Direct,
            "mmap+write" | "mmap" => Method::MmapWrite,
            "sendfile" => Method::Sendfile,
            "splice" => Method::Splice,
            "io_uring" | "iouring" | "uring" => Method::IoUring,
            "copy_file_range" => Method::CopyFileRange,
            "reflink" | "ficlone" => Method::Reflink,
            "auto" => Method::Auto,
            _ => return Err(UnknownMethod(s.to_owned())),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for m in Method::ALL
            .into_iter()
            .chain(Method::FILE_TO_FILE)
            .chain([Method::Auto])
        {
            assert_eq!(m.name().parse::<Method>().unwrap(), m);
        }
        assert!("sendfile2".parse::<Method>().is_err());
    }

    #[test]
    fn every_fallback_chain_ends_in_read_write() {
        for m in Method::ALL
            .into_iter()
            .chain(Method::FILE_TO_FILE)
            .chain([Method::Auto])
        {
            if let Some(last) = m.fallbacks().last() {
                assert!(matches!(last, Method::ReadWrite { .. }), "{m}");
            }
        }
    }
}
