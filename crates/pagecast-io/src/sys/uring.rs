//! io_uring `IORING_OP_SPLICE` (Linux 5.7): a chain of linked splices submitted and
//! reaped with one io_uring_enter(2).
//!
//! Each thread keeps one small ring, made on first use: a ring is not `Sync`, and
//! making one per transfer would cost more system calls than a small transfer saves.
//! Whether the kernel gives rings at all (`/proc/sys/kernel/io_uring_disabled`, a
//! seccomp filter: ENOSYS or EPERM) and whether it knows the splice opcode is probed
//! once per process and remembered, like tokio's io_uring probe.

use std::cell::RefCell;
use std::io;
use std::os::fd::{AsRawFd, BorrowedFd};
use std::sync::OnceLock;

use io_uring::{IoUring, Probe, opcode, squeue, types};

/// Submission queue size: the longest chain the engine submits at once.
pub(crate) const MAX_CHAIN: usize = 8;

/// One splice of a chain.
#[derive(Clone, Copy)]
pub(crate) struct SpliceOp<'a> {
    /// Source descriptor.
    pub fd_in: BorrowedFd<'a>,
    /// Source offset, or `None` for a pipe.
    pub off_in: Option<u64>,
    /// Destination descriptor.
    pub fd_out: BorrowedFd<'a>,
    /// Bytes to move.
    pub len: u32,
    /// `SPLICE_F_*` flags.
    pub flags: u32,
}

thread_local! {
    static RING: RefCell<Option<IoUring>> = const { RefCell::new(None) };
}

/// The process-wide answer to "can this kernel splice through io_uring": `None` when it
/// can, or the errno of the refusal.
fn probe() -> Option<i32> {
    static PROBE: OnceLock<Option<i32>> = OnceLock::new();
    *PROBE.get_or_init(|| {
        let ring = match IoUring::new(MAX_CHAIN as u32) {
            Ok(r) => r,
            Err(e) => return Some(e.raw_os_error().unwrap_or(libc::ENOSYS)),
        };
        let mut probe = Probe::new();
        if let Err(e) = ring.submitter().register_probe(&mut probe) {
            return Some(e.raw_os_error().unwrap_or(libc::ENOSYS));
        }
        if !probe.is_supported(opcode::Splice::CODE) {
            return Some(libc::EOPNOTSUPP);
        }
        None
    })
}

/// Whether io_uring splice is available in this process, as an error naming the errno
/// when it is not. Probes on first call.
pub(crate) fn available() -> io::Result<()> {
    match probe() {
        None => Ok(()),
        Some(errno) => Err(io::Error::from_raw_os_error(errno)),
    }
}

/// Submits `ops` as one linked chain (each waits for the one before and is cancelled
/// with ECANCELED if it fails or comes up short) and waits for every completion.
/// `results[i]` receives the i-th op's result: bytes moved, or a negated errno.
/// Returns whether this call had to create the thread's ring. Callers check
/// [`available`] first; a ring the kernel refuses fails here with the same errno.
pub(crate) fn splice_chain(ops: &[SpliceOp<'_>], results: &mut [i32]) -> io::Result<bool> {
    assert!(ops.len() <= MAX_CHAIN && ops.len() == results.len());
    RING.with(|cell| {
        let mut slot = cell.borrow_mut();
        let created = slot.is_none();
        if created {
            *slot = Some(IoUring::new(MAX_CHAIN as u32)?);
        }
        let Some(ring) = slot.as_mut() else {
            unreachable!("the ring was created above")
        };
        let outcome = run_chain(ring, ops, results);
        if outcome.is_err() {
            // Completions of a chain whose enter failed may still be owed; a fresh ring
            // next time is simpler than reconciling them. Dropping the ring cancels
            // what is in flight.
            *slot = None;
        }
        outcome.map(|()| created)
    })
}

fn run_chain(ring: &mut IoUring, ops: &[SpliceOp<'_>], results: &mut [i32]) -> io::Result<()> {
    {
        let mut sq = ring.submission();
        for (i, op) in ops.iter().enumerate() {
            let off_in = op.off_in.map_or(-1, |o| o as i64);
            let mut entry = opcode::Splice::new(
                types::Fd(op.fd_in.as_raw_fd()),
                off_in,
                types::Fd(op.fd_out.as_raw_fd()),
                -1,
                op.len,
            )
            .flags(op.flags)
            .build()
            .user_data(i as u64);
            if i + 1 < ops.len() {
                entry = entry.flags(squeue::Flags::IO_LINK);
            }
            // SAFETY: the entry names only descriptors, borrowed for this whole call,
            // and no memory; this function waits below for every completion before
            // returning, so the descriptors outlive the requests. The queue holds
            // MAX_CHAIN entries and is empty on entry (every earlier chain was reaped).
            unsafe { sq.push(&entry) }.map_err(|_| io::Error::from_raw_os_error(libc::EBUSY))?;
        }
    }
    let mut reaped = 0;
    while reaped < ops.len() {
        match ring.submit_and_wait(ops.len() - reaped) {
            Ok(_) => {}
            Err(e) if e.raw_os_error() == Some(libc::EINTR) => continue,
            Err(e) => return Err(e),
        }
        for cqe in ring.completion() {
            if let Some(slot) = results.get_mut(cqe.user_data() as usize) {
                *slot = cqe.result();
                reaped += 1;
            }
        }
    }
    Ok(())
}
