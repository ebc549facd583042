//! The tokio API on non-blocking sockets: a slow reader forces EAGAIN, the transfer
//! waits for writability instead of spinning, and cold chunks are read in off the
//! event loop.

mod support;

use std::io::Read;
use std::net::TcpListener;
use std::os::fd::AsFd;
use std::time::Duration;

use pagecast_io::{Method, Syscall};
use support::{all_methods, pattern_file, strict};

/// A receiver that reads `step` bytes at a time with a pause between reads, and
/// counts its reads.
fn slow_receiver(
    oracle: std::fs::File,
    offset: u64,
    step: usize,
) -> (
    std::net::SocketAddr,
    std::thread::JoinHandle<(support::Received, u64)>,
) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let handle = std::thread::spawn(move || {
        let (conn, _) = listener.accept().unwrap();
        rustix::net::sockopt::set_socket_recv_buffer_size(&conn, 16 << 10).unwrap();
        let mut reads = 0u64;
        let mut slow = SlowReader {
            inner: conn,
            step,
            reads: &mut reads,
        };
        let got = support::check_stream(&mut slow, &oracle, offset);
        (got, reads)
    });
    (addr, handle)
}

struct SlowReader<'a> {
    inner: std::net::TcpStream,
    step: usize,
    reads: &'a mut u64,
}

impl Read for SlowReader<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        std::thread::sleep(Duration::from_micros(300));
        *self.reads += 1;
        let n = buf.len().min(self.step);
        self.inner.read(&mut buf[..n])
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_reader_makes_every_method_wait_without_spinning() {
    let dir = tempfile::tempdir().unwrap();
    let file = pattern_file(&dir.path().join("src"), 2 << 20);
    for method in all_methods() {
        let (addr, rx) = slow_receiver(file.try_clone().unwrap(), 11, 16 << 10);
        let sock = tokio::net::TcpStream::connect(addr).await.unwrap();
        rustix::net::sockopt::set_socket_send_buffer_size(sock.as_fd(), 16 << 10).unwrap();
        let src = file.try_clone().unwrap();
        // On a spawned task, so the future must be Send.
        let stats = tokio::spawn(async move {
            let stats =
                pagecast_io::tokio::send_file(&src, 11, (2 << 20) - 11, &sock, &strict(method))
                    .await;
            drop(sock);
            stats
        })
        .await
        .unwrap()
        .unwrap_or_else(|e| panic!("{method}: {e}"));
        let (got, reads) = rx.join().unwrap();
        assert_eq!(
            (got.len, got.first_mismatch),
            ((2 << 20) - 11, None),
            "{method}"
        );
        assert!(
            stats.waits > 0,
            "{method}: the reader was slow, yet the sender never waited"
        );
        // Each wait is ended by the reader freeing space, so waits cannot outnumber its
        // reads by much; a spinning sender would make thousands.
        assert!(
            stats.waits <= reads + 8,
            "{method}: {} waits for {reads} reads: spinning",
            stats.waits
        );
        assert_eq!(
            stats.syscalls.get(Syscall::Poll),
            0,
            "{method}: polled instead of awaiting"
        );
    }
}

#[tokio::test(flavor = "current_thread")]
async fn cold_chunks_are_warmed_off_the_event_loop_and_hot_ones_are_not() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("src");
    let file = pattern_file(&path, 6 << 20);
    file.sync_all().unwrap();
    // No kernel readahead on this file description (shared by the warm-up's dup and by
    // sendfile): otherwise warming or sending one chunk can read the next one in, and
    // which chunks are cold when checked would depend on timing.
    rustix::fs::fadvise(&file, 0, None, rustix::fs::Advice::Random).unwrap();

    for (cold, method) in [
        (true, Method::Sendfile),
        (false, Method::Sendfile),
        (true, Method::Splice),
    ] {
        if cold {
            rustix::fs::fadvise(&file, 0, None, rustix::fs::Advice::DontNeed).unwrap();
        }
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let oracle = file.try_clone().unwrap();
        let rx = std::thread::spawn(move || {
            let (mut conn, _) = listener.accept().unwrap();
            support::check_stream(&mut conn, &oracle, 0)
        });
        let sock = tokio::net::TcpStream::connect(addr).await.unwrap();
        let stats = pagecast_io::tokio::send_file(&file, 0, 6 << 20, &sock, &strict(method))
            .await
            .unwrap();
        drop(sock);
        let got = rx.join().unwrap();
        assert_eq!((got.len, got.first_mismatch), (6 << 20, None));
        // One check per chunk the sender reaches; fewer when a short send makes the
        // next check start past a chunk boundary.
        let chunks = (6u64 << 20).div_ceil(pagecast_io::DEFAULT_CHUNK as u64);
        let checks = stats.syscalls.get(Syscall::Residency);
        assert!(
            (1..=chunks).contains(&checks),
            "{method}: {checks} residency checks"
        );
        if cold {
            assert_eq!(
                stats.warmups, checks,
                "{method}: every chunk of an evicted file is cold"
            );
        } else {
            assert_eq!(stats.warmups, 0, "hot chunks need no warming");
        }
    }
}

#[tokio::test(flavor = "current_thread")]
async fn truncation_and_fallback_behave_as_in_the_blocking_api() {
    let dir = tempfile::tempdir().unwrap();
    let file = pattern_file(&dir.path().join("src"), 50_000);
    let (addr, rx) = slow_receiver(file.try_clone().unwrap(), 0, 1 << 20);
    let sock = tokio::net::TcpStream::connect(addr).await.unwrap();
    let err =
        pagecast_io::tokio::send_file(&file, 0, 60_000, &sock, &pagecast_io::Options::default())
            .await
            .unwrap_err();
    drop(sock);
    assert!(
        matches!(
            err,
            pagecast_io::Error::Truncated {
                offset: 50_000,
                expected_end: 60_000
            }
        ),
        "{err:?}"
    );
    let (got, _) = rx.join().unwrap();
    assert_eq!((got.len, got.first_mismatch), (50_000, None));
}

/// A destination that is never full: writes go to /dev/null and readiness is always
/// there, as for a reader that keeps up with everything.
struct NeverFull(std::fs::File);

impl AsFd for NeverFull {
    fn as_fd(&self) -> std::os::fd::BorrowedFd<'_> {
        self.0.as_fd()
    }
}

impl pagecast_io::tokio::AsyncDestination for NeverFull {
    async fn writable(&self) -> std::io::Result<()> {
        Ok(())
    }

    fn try_write_io<R>(&self, f: impl FnOnce() -> std::io::Result<R>) -> std::io::Result<R> {
        f()
    }
}

#[tokio::test(flavor = "current_thread")]
async fn a_destination_that_is_never_full_does_not_hold_the_thread() {
    let dir = tempfile::tempdir().unwrap();
    let size = 8u64 << 20;
    // Cached, so warming has nothing to wait for.
    let file = pattern_file(&dir.path().join("src"), size);
    let null = std::fs::File::options()
        .write(true)
        .open("/dev/null")
        .unwrap();
    let other_ran = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let seen = other_ran.clone();
    // On a current-thread runtime tasks run in the order they were spawned: the
    // transfer first, then the other task only when the transfer gives the thread up.
    let transfer = tokio::spawn(async move {
        let mut options = strict(Method::Sendfile);
        options.chunk = 1 << 20;
        let stats = pagecast_io::tokio::send_file(&file, 0, size, &NeverFull(null), &options)
            .await
            .unwrap();
        (stats, seen.load(std::sync::atomic::Ordering::SeqCst))
    });
    let other = tokio::spawn(async move {
        other_ran.store(true, std::sync::atomic::Ordering::SeqCst);
    });
    let (stats, other_ran_first) = transfer.await.unwrap();
    other.await.unwrap();
    assert_eq!(stats.bytes, size);
    assert_eq!(stats.waits, 0, "the destination was never full");
    assert!(
        other_ran_first,
        "an 8 MiB transfer in 1 MiB chunks kept the thread to itself"
    );
}
