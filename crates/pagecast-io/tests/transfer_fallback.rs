//! Fallbacks: a method the kernel refuses before a byte moved hands over to the next,
//! and the stats say which ran and what declined.

mod support;

use std::fs::File;
use std::path::Path;
use std::process::Command;

use pagecast_io::{Error, Method, Options, Syscall, send_file};
use support::{pattern_file, receiver};

/// ramfs has no direct I/O: opening with O_DIRECT fails with EINVAL. (tmpfs gained
/// O_DIRECT in Linux 6.6, so it no longer serves for this.)
struct Ramfs(tempfile::TempDir);

impl Ramfs {
    fn mount() -> Ramfs {
        let dir = tempfile::tempdir().unwrap();
        let out = Command::new("mount")
            .args(["-t", "ramfs", "pagecast-test"])
            .arg(dir.path())
            .output()
            .expect("run mount(8)");
        assert!(
            out.status.success(),
            "mounting ramfs needs root: run the tests with scripts/test as root ({})",
            String::from_utf8_lossy(&out.stderr).trim()
        );
        Ramfs(dir)
    }

    fn path(&self) -> &Path {
        self.0.path()
    }
}

impl Drop for Ramfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(self.0.path()).status();
    }
}

#[test]
fn direct_on_a_filesystem_without_direct_io_falls_back_to_read_write() {
    let fs = Ramfs::mount();
    let file = pattern_file(&fs.path().join("src"), 100_000);
    let (sock, rx) = receiver(file.try_clone().unwrap(), 10);
    let stats = send_file(&file, 10, 99_990, &sock, &Options::method(Method::Direct)).unwrap();
    drop(sock);
    let got = rx.join().unwrap();
    assert_eq!((got.len, got.first_mismatch), (99_990, None));
    assert!(
        matches!(stats.method, Method::ReadWrite { .. }),
        "{:?}",
        stats.method
    );
    assert_eq!(stats.fell_back_from.len(), 1);
    let refusal = &stats.fell_back_from[0];
    assert_eq!(
        (refusal.method, refusal.syscall, refusal.errno),
        (Method::Direct, Syscall::Open, libc::EINVAL)
    );

    // Without fallbacks the refusal is the answer, and nothing was sent.
    let (sock, rx) = receiver(file.try_clone().unwrap(), 0);
    let strict = Options {
        fallback: false,
        ..Options::method(Method::Direct)
    };
    let err = send_file(&file, 0, 100_000, &sock, &strict).unwrap_err();
    drop(sock);
    assert!(
        matches!(
            err,
            Error::Unsupported {
                method: Method::Direct,
                ..
            }
        ),
        "{err:?}"
    );
    assert_eq!(rx.join().unwrap().len, 0);
}

#[test]
fn a_destination_sendfile_refuses_falls_back_to_read_write() {
    // sendfile(2) and splice(2) both refuse a destination opened with O_APPEND (EINVAL).
    let dir = tempfile::tempdir().unwrap();
    let src = pattern_file(&dir.path().join("src"), 300_000);
    let dst_path = dir.path().join("dst");
    std::fs::write(&dst_path, b"head:").unwrap();
    let dst = File::options().append(true).open(&dst_path).unwrap();

    let stats = send_file(&src, 0, 300_000, &dst, &Options::default()).unwrap();
    assert!(
        matches!(stats.method, Method::ReadWrite { .. }),
        "{:?}",
        stats.method
    );
    let declined: Vec<_> = stats
        .fell_back_from
        .iter()
        .map(|r| (r.method, r.errno))
        .collect();
    assert_eq!(
        declined,
        [
            (Method::Sendfile, libc::EINVAL),
            (Method::Splice, libc::EINVAL)
        ]
    );

    let written = std::fs::read(&dst_path).unwrap();
    let expected = std::fs::read(dir.path().join("src")).unwrap();
    assert_eq!(&written[..5], b"head:");
    assert!(
        written[5..] == expected[..],
        "appended bytes differ from the source"
    );
}

#[test]
fn a_procfs_source_shorter_than_its_range_is_truncated_not_a_hang() {
    // procfs files report a size of 0 and end after a few hundred bytes: asking for a
    // GiB must end in a truncation error once they run dry.
    let src = File::open("/proc/self/status").unwrap();
    let (sock, rx) = receiver(File::open("/proc/self/status").unwrap(), 0);
    let err = send_file(&src, 0, 1 << 30, &sock, &Options::default()).unwrap_err();
    drop(sock);
    assert!(err.is_truncated(), "{err:?}");
    let got = rx.join().unwrap();
    assert!(got.len < 1 << 20);
}

#[test]
fn a_pipe_destination_works_by_every_method() {
    let dir = tempfile::tempdir().unwrap();
    let src = pattern_file(&dir.path().join("src"), 200_000);
    for method in support::all_methods() {
        let (r, w) = rustix::pipe::pipe().unwrap();
        let mut reader = File::from(r);
        let oracle = src.try_clone().unwrap();
        let rx = std::thread::spawn(move || support::check_stream(&mut reader, &oracle, 3));
        let stats = send_file(&src, 3, 199_997, &w, &support::strict(method)).unwrap();
        drop(w);
        let got = rx.join().unwrap();
        assert_eq!((got.len, got.first_mismatch), (199_997, None), "{method}");
        assert_eq!(stats.bytes, 199_997);
    }
}
