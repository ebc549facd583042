//! One oracle, every method: each sends the same ranges into a TCP receiver, and what
//! arrives must equal the file's bytes.

mod support;

use std::fs::File;
use std::io::Write;
use std::os::unix::fs::FileExt;

use pagecast_io::{Method, send_file};
use support::{all_methods, io_uring_runs, pattern_file, receiver, strict};

/// Sends the range with `method` and checks it; returns the method that really ran.
fn check_range(file: &File, method: Method, offset: u64, len: u64) -> Method {
    let (sock, rx) = receiver(file.try_clone().unwrap(), offset);
    let stats = send_file(file, offset, len, &sock, &strict(method))
        .unwrap_or_else(|e| panic!("{method} {offset}+{len}: {e}"));
    drop(sock);
    let got = rx.join().unwrap();
    assert_eq!(stats.bytes, len, "{method} {offset}+{len}: stats.bytes");
    assert_eq!(got.len, len, "{method} {offset}+{len}: bytes received");
    assert_eq!(got.first_mismatch, None, "{method} {offset}+{len}: content");
    match method {
        Method::Auto => assert_eq!(stats.method, Method::Sendfile),
        Method::IoUring if !io_uring_runs() => {
            assert_eq!(stats.fell_back_from[0].method, Method::IoUring)
        }
        _ => {
            assert_eq!(stats.method, method, "{method}: method that ran");
            assert!(
                stats.fell_back_from.is_empty(),
                "{method}: {:?}",
                stats.fell_back_from
            );
        }
    }
    stats.method
}

#[test]
fn every_method_sends_every_range_byte_identical() {
    let dir = tempfile::tempdir().unwrap();
    let size = 5 * (1 << 20) + 123;
    let file = pattern_file(&dir.path().join("src"), size);
    let cases: &[(u64, u64)] = &[
        (0, 0),
        (0, 1),
        (0, 4095),
        (0, 4096),
        (0, 4097),
        (1, 10_000),
        (4095, 8194),
        (4097, 1),
        (123_457, 3 * (1 << 20) + 5),
        (size - 5000, 5000),
        (size - 1, 1),
        (size, 0),
        (0, size),
    ];
    let mut ran = Vec::new();
    for method in all_methods() {
        for &(offset, len) in cases {
            let really = check_range(&file, method, offset, len);
            if !ran.contains(&(method, really)) {
                ran.push((method, really));
            }
        }
    }
    // Which methods really ran: a refused io_uring shows here as its fallback.
    let ran: Vec<String> = ran
        .iter()
        .map(|(asked, really)| match asked == really {
            true => asked.to_string(),
            false => format!("{asked} (ran as {really})"),
        })
        .collect();
    eprintln!("methods that ran: {}", ran.join(", "));
    if io_uring_runs() {
        assert!(ran.iter().any(|m| m == "io_uring"), "{ran:?}");
    }
}

/// A sparse file past 4 GiB: whole-file transfers overflow any 32-bit length or offset,
/// and a range straddles the 4 GiB mark.
#[test]
fn every_method_sends_a_sparse_file_above_4_gib() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sparse");
    let size: u64 = (4 << 30) + (64 << 10) + 3;
    let mut file = File::create_new(&path).unwrap();
    file.set_len(size).unwrap();
    for at in [0, (4u64 << 30) - 10, size - 100] {
        let stamp: Vec<u8> = (0..100u8)
            .map(|i| i.wrapping_mul(7).wrapping_add(1))
            .collect();
        file.write_all_at(&stamp, at).unwrap();
    }
    file.flush().unwrap();
    let file = File::open(&path).unwrap();
    for method in all_methods() {
        check_range(&file, method, (4 << 30) - 30_000, 60_000);
    }
    for method in [
        Method::ReadWrite { buf: 1 << 20 },
        Method::Direct,
        Method::MmapWrite,
        Method::Sendfile,
        Method::Splice,
        Method::IoUring,
    ] {
        check_range(&file, method, 0, size);
    }
}

/// A chunk smaller than a page and not a divisor of anything: every method still
/// covers the range exactly.
#[test]
fn odd_chunk_sizes_cover_the_range() {
    let dir = tempfile::tempdir().unwrap();
    let file = pattern_file(&dir.path().join("src"), 300_001);
    for method in all_methods() {
        for chunk in [1, 4095, 65_537] {
            let (sock, rx) = receiver(file.try_clone().unwrap(), 7);
            let opts = pagecast_io::Options {
                chunk,
                ..strict(method)
            };
            let stats = send_file(&file, 7, 299_990, &sock, &opts).unwrap();
            drop(sock);
            let got = rx.join().unwrap();
            assert_eq!(
                (got.len, got.first_mismatch),
                (299_990, None),
                "{method} chunk {chunk}"
            );
            if matches!(method, Method::Sendfile) {
                let calls = stats.syscalls.get(pagecast_io::Syscall::Sendfile);
                assert!(
                    calls >= 299_990u64.div_ceil(chunk as u64),
                    "{calls} sendfile calls for chunk {chunk}"
                );
            }
        }
    }
}
