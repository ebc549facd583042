//! io_uring refused by a seccomp filter, as container runtimes do: the probe notices
//! once, io_uring is reported unsupported, and a transfer asked for it falls back.
//! Alone in its test binary: the filter stays on the process for good.

mod support;

use pagecast_io::{Error, Method, Options, Syscall, send_file};
use support::{io_uring_runs_unless_required, pattern_file, receiver};

/// Installs a seccomp filter on this thread (and threads it starts) that fails
/// io_uring_setup(2) with EPERM and allows everything else.
fn refuse_io_uring_setup() {
    const IO_URING_SETUP: u32 = 425; // one number on every architecture
    let ld = (libc::BPF_LD | libc::BPF_W | libc::BPF_ABS) as u16;
    let jeq = (libc::BPF_JMP | libc::BPF_JEQ | libc::BPF_K) as u16;
    let ret = (libc::BPF_RET | libc::BPF_K) as u16;
    let mut filter = [
        // seccomp_data.nr is the first field.
        libc::sock_filter {
            code: ld,
            jt: 0,
            jf: 0,
            k: 0,
        },
        libc::sock_filter {
            code: jeq,
            jt: 0,
            jf: 1,
            k: IO_URING_SETUP,
        },
        libc::sock_filter {
            code: ret,
            jt: 0,
            jf: 0,
            k: libc::SECCOMP_RET_ERRNO | libc::EPERM as u32,
        },
        libc::sock_filter {
            code: ret,
            jt: 0,
            jf: 0,
            k: libc::SECCOMP_RET_ALLOW,
        },
    ];
    let prog = libc::sock_fprog {
        len: filter.len() as u16,
        filter: filter.as_mut_ptr(),
    };
    // SAFETY: prctl with PR_SET_NO_NEW_PRIVS takes plain integers; PR_SET_SECCOMP reads
    // prog and the filter it points at, both alive for the call.
    unsafe {
        assert_eq!(libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), 0);
        assert_eq!(
            libc::prctl(
                libc::PR_SET_SECCOMP,
                libc::SECCOMP_MODE_FILTER,
                &prog as *const libc::sock_fprog
            ),
            0,
            "install seccomp filter: {}",
            std::io::Error::last_os_error()
        );
    }
}

#[test]
fn io_uring_refused_by_seccomp_is_unsupported_and_falls_back() {
    refuse_io_uring_setup();
    let err = pagecast_io::io_uring_available().unwrap_err();
    assert_eq!(err.raw_os_error(), Some(libc::EPERM));

    let dir = tempfile::tempdir().unwrap();
    let file = pattern_file(&dir.path().join("src"), 3 << 20);

    let (sock, rx) = receiver(file.try_clone().unwrap(), 0);
    let stats = send_file(&file, 0, 3 << 20, &sock, &Options::method(Method::IoUring)).unwrap();
    drop(sock);
    let got = rx.join().unwrap();
    assert_eq!((got.len, got.first_mismatch), (3 << 20, None));
    assert_eq!(
        stats.method,
        Method::Sendfile,
        "io_uring's chain goes on to sendfile"
    );
    let refusal = &stats.fell_back_from[0];
    assert_eq!(
        (refusal.method, refusal.syscall, refusal.errno),
        (Method::IoUring, Syscall::IoUringSetup, libc::EPERM)
    );

    let (sock, rx) = receiver(file.try_clone().unwrap(), 0);
    let strict = Options {
        fallback: false,
        ..Options::method(Method::IoUring)
    };
    let err = send_file(&file, 0, 3 << 20, &sock, &strict).unwrap_err();
    drop(sock);
    assert!(
        matches!(
            err,
            Error::Unsupported {
                method: Method::IoUring,
                ..
            }
        ),
        "{err:?}"
    );
    assert!(
        err.to_string().contains("io_uring is not supported here"),
        "{err}"
    );
    assert_eq!(rx.join().unwrap().len, 0);

    // The tests' switch: a refused io_uring is a fallback they accept, or a failure.
    assert!(!io_uring_runs_unless_required(false));
    let required = std::panic::catch_unwind(|| io_uring_runs_unless_required(true));
    let message = required.unwrap_err();
    let message = message
        .downcast_ref::<String>()
        .map(String::as_str)
        .unwrap_or_default();
    assert!(
        message.contains("PAGECAST_REQUIRE_IO_URING=1 requires it"),
        "{message}"
    );
}
