//! `receive_file`: a TCP stream into a file at an offset, by splice or by the
//! read + pwrite fallback, and a stream that ends early.

mod support;

use std::io::Write;
use std::net::{TcpListener, TcpStream};
use std::thread;

use pagecast_io::{Error, Method, receive_file};
use support::pattern_byte;

fn pattern(len: usize) -> Vec<u8> {
    (0..len as u64).map(pattern_byte).collect()
}

/// A connected socket whose peer sends `bytes` and closes.
fn stream_of(bytes: Vec<u8>) -> TcpStream {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    thread::spawn(move || {
        let (mut s, _) = listener.accept().unwrap();
        s.write_all(&bytes).unwrap();
    });
    TcpStream::connect(addr).unwrap()
}

#[test]
fn a_stream_lands_at_the_offset_by_splice() {
    let data = pattern((3 << 20) + 5);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("out");
    std::fs::write(&path, b"0123456789").unwrap();
    let file = std::fs::File::options().write(true).open(&path).unwrap();
    let mut seen = Vec::new();
    let stats = receive_file(stream_of(data.clone()), &file, 10, data.len() as u64, |n| {
        seen.push(n)
    })
    .unwrap();
    assert_eq!(stats.method, Method::Splice);
    assert_eq!(stats.bytes, data.len() as u64);
    assert!(stats.fell_back_from.is_empty());
    assert_eq!(seen.last(), Some(&(data.len() as u64)));
    assert!(seen.is_sorted());
    let got = std::fs::read(&path).unwrap();
    assert_eq!(&got[..10], b"0123456789");
    assert!(got[10..] == data[..]);
}

#[test]
fn a_destination_splice_refuses_gets_the_bytes_by_read_and_write() {
    // splice(2) into an O_APPEND file is EINVAL: the bytes already in the pipe and the
    // rest of the stream must still arrive, in order.
    let data = pattern(2 << 20);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("out");
    let file = std::fs::File::options()
        .append(true)
        .create(true)
        .open(&path)
        .unwrap();
    let stats = receive_file(stream_of(data.clone()), &file, 0, data.len() as u64, |_| {}).unwrap();
    assert!(
        matches!(stats.method, Method::ReadWrite { .. }),
        "{:?}",
        stats.method
    );
    assert_eq!(stats.fell_back_from.len(), 1);
    assert_eq!(stats.fell_back_from[0].errno, libc::EINVAL);
    assert_eq!(stats.bytes, data.len() as u64);
    assert!(std::fs::read(&path).unwrap() == data);
}

#[test]
fn a_stream_that_ends_early_is_an_error_and_keeps_what_arrived() {
    let data = pattern(1000);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("out");
    let file = std::fs::File::create(&path).unwrap();
    let err = receive_file(stream_of(data.clone()), &file, 0, 5000, |_| {}).unwrap_err();
    assert!(
        matches!(
            err,
            Error::SourceEnded {
                received: 1000,
                expected: 5000
            }
        ),
        "{err}"
    );
    assert_eq!(std::fs::read(&path).unwrap(), data);
}
