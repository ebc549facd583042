//! A destination that closes mid-transfer is an error, and the process survives even
//! with SIGPIPE at its default action (sendfile and splice raise it on a dead socket).
//! Alone in its test binary: it changes a process-wide signal disposition.

mod support;

use std::io::Read;
use std::net::TcpListener;

use pagecast_io::{Error, send_file};
use support::{all_methods, pattern_file, strict};

#[test]
fn a_closed_destination_is_an_error_and_never_kills_the_process() {
    // SAFETY: setting SIGPIPE back to its default before any thread of this test sends;
    // the engine must cope with that default itself.
    unsafe { libc::signal(libc::SIGPIPE, libc::SIG_DFL) };

    let dir = tempfile::tempdir().unwrap();
    let file = pattern_file(&dir.path().join("src"), 64 << 20);
    for method in all_methods() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let rx = std::thread::spawn(move || {
            let (mut conn, _) = listener.accept().unwrap();
            let mut head = vec![0u8; 100_000];
            conn.read_exact(&mut head).unwrap();
            // Closing with unread data makes the kernel reset the connection.
        });
        let sock = std::net::TcpStream::connect(addr).unwrap();
        let err = send_file(&file, 0, 64 << 20, &sock, &strict(method)).unwrap_err();
        rx.join().unwrap();
        match err {
            Error::DestinationClosed { sent, source } => {
                assert!((100_000..64 << 20).contains(&sent), "{method}: sent {sent}");
                let errno = source.raw_os_error();
                assert!(
                    errno == Some(libc::EPIPE) || errno == Some(libc::ECONNRESET),
                    "{method}: {source}"
                );
            }
            other => panic!("{method}: expected DestinationClosed, got {other:?}"),
        }
    }
}
