//! `pagecast broker` under hostile frames: lying sizes and counts, truncated frames,
//! unknown APIs and versions. Each gets an error answer or a closed connection, the
//! broker's memory stays bounded, and other clients keep being served.

mod support;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use support::broker::{Broker, kcat, run_ok};

/// A request frame: size prefix, header v1 (key, version, correlation ID, client ID),
/// then `body`.
fn frame(key: i16, version: i16, correlation: i32, body: &[u8]) -> Vec<u8> {
    let mut f = Vec::new();
    f.extend_from_slice(&key.to_be_bytes());
    f.extend_from_slice(&version.to_be_bytes());
    f.extend_from_slice(&correlation.to_be_bytes());
    f.extend_from_slice(&4i16.to_be_bytes());
    f.extend_from_slice(b"test");
    f.extend_from_slice(body);
    let mut out = (f.len() as i32).to_be_bytes().to_vec();
    out.extend_from_slice(&f);
    out
}

fn connect(b: &Broker) -> TcpStream {
    let s = TcpStream::connect(b.addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s
}

/// Reads one response frame: correlation ID and the rest.
fn response(s: &mut TcpStream) -> (i32, Vec<u8>) {
    let mut size = [0u8; 4];
    s.read_exact(&mut size).unwrap();
    let mut body = vec![0u8; i32::from_be_bytes(size) as usize];
    s.read_exact(&mut body).unwrap();
    (
        i32::from_be_bytes(body[..4].try_into().unwrap()),
        body[4..].to_vec(),
    )
}

/// Asserts the broker closes the connection (EOF) within the read timeout.
fn assert_closed(s: &mut TcpStream, what: &str) {
    let mut buf = [0u8; 64];
    match s.read(&mut buf) {
        Ok(0) => {}
        Ok(n) => panic!("{what}: the broker answered {n} bytes instead of closing"),
        Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => {}
        Err(e) => panic!("{what}: the connection was not closed: {e}"),
    }
}

/// An ApiVersions v0 round trip on `s`: the connection still works.
fn still_served(s: &mut TcpStream, correlation: i32) {
    s.write_all(&frame(18, 0, correlation, &[])).unwrap();
    let (id, body) = response(s);
    assert_eq!(id, correlation);
    assert_eq!(&body[..2], &[0, 0], "ApiVersions error code");
}

#[test]
fn hostile_frames_get_errors_or_closed_connections() {
    let data = tempfile::tempdir().unwrap();
    let b = Broker::start(data.path(), "segment", &[]);
    run_ok(kcat(&b.bootstrap()).args(["-L"]));
    let rss_before = b.rss_kib();

    // A size prefix above 100 MiB, and a negative one: closed before anything is read.
    for prefix in [(100 << 20) + 1, -1i32, i32::MIN] {
        let mut s = connect(&b);
        s.write_all(&prefix.to_be_bytes()).unwrap();
        assert_closed(&mut s, &format!("size prefix {prefix}"));
    }

    // The review's 8 bytes as a whole stream: a 48 MiB frame for API key 0x3c0c, which
    // does not exist, so it is refused at its first two bytes.
    let mut s = connect(&b);
    s.write_all(&[0x03, 0x00, 0x00, 0x03, 0x3c, 0x0c, 0x00, 0xb6])
        .unwrap();
    assert_closed(&mut s, "the review's frame");

    // Metadata v1 whose topic count claims 2^31-1 topics in 4 bytes: malformed, closed.
    let mut s = connect(&b);
    s.write_all(&frame(3, 1, 1, &0x7fff_ffffi32.to_be_bytes()))
        .unwrap();
    assert_closed(&mut s, "a lying element count");

    // A string length past the frame's end.
    let mut s = connect(&b);
    s.write_all(&frame(3, 1, 1, &[0, 0, 0, 1, 0x7f, 0xff, b'a']))
        .unwrap();
    assert_closed(&mut s, "a lying string length");

    // Truncated: the prefix promises 100 bytes, 20 arrive, then the client leaves.
    let mut s = connect(&b);
    s.write_all(&100i32.to_be_bytes()).unwrap();
    s.write_all(&[0; 20]).unwrap();
    s.shutdown(std::net::Shutdown::Write).unwrap();
    assert_closed(&mut s, "a truncated frame");

    // A frame shorter than a request header.
    let mut s = connect(&b);
    s.write_all(&[0, 0, 0, 3, 0, 3, 0]).unwrap();
    assert_closed(&mut s, "a 3-byte frame");

    // A large request for an API that cannot need one: refused at its key.
    let mut s = connect(&b);
    s.write_all(&(50i32 << 20).to_be_bytes()).unwrap();
    s.write_all(&[0, 3, 0, 1]).unwrap();
    assert_closed(&mut s, "a 50 MiB Metadata request");

    // Unknown API key, unsupported versions: the connection closed, as Kafka closes it
    // (see the test below); ApiVersions at an unknown version is answered in v0 with the
    // error and the list.
    let mut s = connect(&b);
    s.write_all(&frame(9999, 0, 7, &[])).unwrap();
    assert_closed(&mut s, "an unknown API key");
    let mut s = connect(&b);
    s.write_all(&frame(3, 99, 8, &[])).unwrap();
    assert_closed(&mut s, "Metadata v99");
    let mut s = connect(&b);
    s.write_all(&frame(18, 9, 9, &[])).unwrap();
    let (id, body) = response(&mut s);
    assert_eq!(id, 9);
    assert_eq!(&body[..2], &35i16.to_be_bytes());
    assert!(body.len() > 6 + 6, "the list of APIs is included");
    still_served(&mut s, 10);

    // Many connections each promising a 100 MiB produce and sending 64 KiB hold only
    // what they sent.
    let held: Vec<TcpStream> = (0..40)
        .map(|_| {
            let mut s = connect(&b);
            s.write_all(&(100i32 << 20).to_be_bytes()).unwrap();
            s.write_all(&[0u8; 64 << 10]).unwrap();
            s
        })
        .collect();
    // Other clients are served meanwhile.
    let listing = run_ok(kcat(&b.bootstrap()).args(["-L"]));
    assert!(listing.contains("broker 1 at"), "{listing}");
    let mut s = connect(&b);
    still_served(&mut s, 11);
    std::thread::sleep(Duration::from_millis(200));
    let rss_after = b.rss_kib();
    assert!(
        rss_after < rss_before + 32 * 1024,
        "resident memory grew from {rss_before} KiB to {rss_after} KiB"
    );
    drop(held);
    b.stop();
}

/// The APIs `addr` lists in an ApiVersions v0 answer: (key, min, max).
fn api_versions(addr: &str) -> Vec<(i16, i16, i16)> {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.write_all(&frame(18, 0, 1, &[])).unwrap();
    let (_, body) = response(&mut s);
    assert_eq!(&body[..2], &[0, 0], "{addr}: ApiVersions error");
    let count = i32::from_be_bytes(body[2..6].try_into().unwrap()) as usize;
    let field = |i: usize| i16::from_be_bytes([body[i], body[i + 1]]);
    (0..count)
        .map(|n| 6 + n * 6)
        .map(|at| (field(at), field(at + 2), field(at + 4)))
        .collect()
}

/// Kafka closes the connection of a request at a version it does not implement (only
/// ApiVersions is answered): an old client's lowest versions, a version past the
/// newest, an unknown API. pagecast must do the same, for the same requests.
#[test]
fn a_version_not_implemented_closes_the_connection_as_kafka_does() {
    let kafka = support::kafka::Kafka::start(&[]);
    let data = tempfile::tempdir().unwrap();
    let b = Broker::start(data.path(), "segment", &[]);
    let brokers = [kafka.bootstrap(), b.bootstrap()];
    let [theirs, ours] = [api_versions(&brokers[0]), api_versions(&brokers[1])];
    // Versions neither implements, of APIs both do.
    let mut requests = vec![(9999i16, 0i16)];
    for &(key, min, max) in &ours {
        let Some(&(_, kmin, kmax)) = theirs.iter().find(|t| t.0 == key) else {
            continue;
        };
        if key == 18 {
            continue;
        }
        if min.min(kmin) > 0 {
            requests.push((key, min.min(kmin) - 1));
        }
        requests.push((key, max.max(kmax) + 1));
    }
    let below: Vec<_> = requests
        .iter()
        .filter(|&&(key, v)| key != 9999 && ours.iter().any(|o| o.0 == key && v < o.1))
        .collect();
    assert!(
        !below.is_empty(),
        "Kafka 4 dropped old versions (KIP-896): some API must start above v0"
    );
    for addr in &brokers {
        for &(key, version) in &requests {
            let mut s = TcpStream::connect(addr).unwrap();
            s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
            s.write_all(&frame(key, version, 5, &[])).unwrap();
            assert_closed(&mut s, &format!("{addr}: API {key} v{version}"));
        }
    }
}
