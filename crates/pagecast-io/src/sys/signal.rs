//! SIGPIPE: sendfile(2) and splice(2) to a socket whose peer has gone raise it, and
//! neither takes MSG_NOSIGNAL. A process that kept the default action would die in the
//! middle of a transfer, so the engine turns the default into "ignore" once; the call
//! then fails with EPIPE, which the engine reports as a closed destination. A handler
//! the application installed itself is left alone. Rust binaries already ignore SIGPIPE
//! at start-up; this covers libraries embedded in C programs and test harnesses.

use std::sync::Once;

static ONCE: Once = Once::new();

/// Sets SIGPIPE to SIG_IGN if, and only if, it is at SIG_DFL. Runs once per process.
pub(crate) fn ignore_default_sigpipe() {
    ONCE.call_once(|| {
        // SAFETY: a zeroed sigaction is a valid value to pass for the old action; with a
        // null new action, sigaction(2) only reads the current disposition.
        let mut old: libc::sigaction = unsafe { std::mem::zeroed() };
        // SAFETY: &mut old is a valid out pointer; the new action is null.
        let rc = unsafe { libc::sigaction(libc::SIGPIPE, std::ptr::null(), &mut old) };
        if rc == 0 && old.sa_sigaction == libc::SIG_DFL {
            // SAFETY: SIG_IGN is always a valid disposition for SIGPIPE. A race with the
            // application setting its own handler at this instant is accepted; we only
            // change a disposition we just observed at its default.
            unsafe { libc::signal(libc::SIGPIPE, libc::SIG_IGN) };
        }
    });
}
