//! A source that shrinks mid-transfer ends in an error naming the offset: no hang, no
//! padding, and every byte that did arrive is the file's own.

mod support;

use std::io::Read;
use std::net::TcpListener;
use std::sync::mpsc;

use pagecast_io::{Error, send_file};
use support::{all_methods, pattern_file, strict};

const SIZE: u64 = 32 << 20;
const CUT: u64 = 8 << 20;

#[test]
fn a_file_truncated_during_the_transfer_is_an_error_naming_the_offset() {
    for method in all_methods() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("src");
        let file = pattern_file(&path, SIZE);
        let original = std::fs::read(&path).unwrap();

        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let (cut_tx, cut_rx) = mpsc::channel();
        let (done_tx, done_rx) = mpsc::channel();
        let rx = std::thread::spawn(move || {
            let (mut conn, _) = listener.accept().unwrap();
            // Take the first MiB, let the file be cut, then read to the end.
            let mut head = vec![0u8; 1 << 20];
            conn.read_exact(&mut head).unwrap();
            cut_tx.send(()).unwrap();
            done_rx.recv().unwrap();
            let mut rest = Vec::new();
            conn.read_to_end(&mut rest).unwrap();
            head.extend_from_slice(&rest);
            head
        });
        let sock = std::net::TcpStream::connect(addr).unwrap();
        rustix::net::sockopt::set_socket_send_buffer_size(&sock, 64 << 10).unwrap();

        let cutter = std::thread::spawn(move || {
            cut_rx.recv().unwrap();
            std::fs::OpenOptions::new()
                .write(true)
                .open(&path)
                .unwrap()
                .set_len(CUT)
                .unwrap();
            done_tx.send(()).unwrap();
        });
        let result = send_file(&file, 0, SIZE, &sock, &strict(method));
        drop(sock);
        cutter.join().unwrap();
        let received = rx.join().unwrap();

        match result {
            Err(Error::Truncated {
                offset,
                expected_end,
            }) => {
                assert_eq!(expected_end, SIZE, "{method}");
                assert!((CUT..SIZE).contains(&offset), "{method}: offset {offset}");
            }
            other => panic!("{method}: expected a truncation error, got {other:?}"),
        }
        assert!(
            (received.len() as u64) < SIZE,
            "{method}: padded to full length"
        );
        assert!(
            received[..] == original[..received.len()],
            "{method}: received bytes that are not the file's"
        );
    }
}

#[test]
fn a_range_past_the_end_of_file_is_an_error_not_a_hang() {
    let dir = tempfile::tempdir().unwrap();
    let file = pattern_file(&dir.path().join("src"), 10_000);
    for method in all_methods() {
        let (sock, rx) = support::receiver(file.try_clone().unwrap(), 5_000);
        let err = send_file(&file, 5_000, 10_000, &sock, &strict(method)).unwrap_err();
        drop(sock);
        match err {
            Error::Truncated {
                offset,
                expected_end,
            } => {
                assert_eq!(expected_end, 15_000);
                assert!((10_000..15_000).contains(&offset), "{method}: {offset}");
            }
            other => panic!("{method}: {other:?}"),
        }
        let got = rx.join().unwrap();
        assert!(
            got.len <= 5_000 && got.first_mismatch.is_none(),
            "{method}: {got:?}"
        );
    }
}
