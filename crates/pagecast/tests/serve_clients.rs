//! Real HTTP clients against `pagecast serve`: curl and wget (installed by
//! scripts/test) download, resume and revalidate.

mod support;

use std::process::Command;

use support::{Served, dir_with, pattern, require_tool};

/// Runs a client command that must succeed; returns its standard output.
fn run(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn curl_downloads_resumes_and_revalidates() {
    let curl = require_tool("curl");
    let data = pattern(5 << 20);
    let (dir, _) = dir_with("data.bin", &data);
    let s = Served::start(dir.path(), &["--access-log", "off"]);
    let out = tempfile::tempdir().unwrap();
    let url = s.url("/data.bin");

    let whole = out.path().join("whole");
    run(Command::new(&curl)
        .args(["-sSf", "-o"])
        .arg(&whole)
        .arg(&url));
    assert!(std::fs::read(&whole).unwrap() == data);

    // HTTP/1.0 and a range.
    let part = out.path().join("part");
    run(Command::new(&curl)
        .args(["-sSf", "--http1.0", "-r", "1000-1999", "-o"])
        .arg(&part)
        .arg(&url));
    assert_eq!(std::fs::read(&part).unwrap(), &data[1000..2000]);

    // Resume from a partial file.
    let resumed = out.path().join("resumed");
    std::fs::write(&resumed, &data[..1_234_567]).unwrap();
    let code = run(Command::new(&curl)
        .args(["-sSf", "-C", "-", "-w", "%{http_code}", "-o"])
        .arg(&resumed)
        .arg(&url));
    assert_eq!(code, "206");
    assert!(std::fs::read(&resumed).unwrap() == data);

    // If-Modified-Since from a local file's time: unchanged → 304, nothing written.
    let copy = out.path().join("copy");
    let code = run(Command::new(&curl)
        .args(["-sS", "-R", "-w", "%{http_code}", "-o"])
        .arg(&copy)
        .arg(&url));
    assert_eq!(code, "200");
    let not_written = out.path().join("not-written");
    let code = run(Command::new(&curl)
        .args(["-sS", "-w", "%{http_code}", "-z"])
        .arg(&copy)
        .arg("-o")
        .arg(&not_written)
        .arg(&url));
    assert_eq!(code, "304");
    assert!(!not_written.exists());

    // Two URLs in one invocation share a kept-alive connection.
    let connects = run(Command::new(&curl)
        .args([
            "-sS",
            "-o",
            "/dev/null",
            "-o",
            "/dev/null",
            "-w",
            "%{num_connects} ",
        ])
        .arg(&url)
        .arg(&url));
    assert_eq!(connects.split_whitespace().collect::<Vec<_>>(), ["1", "0"]);
}

#[test]
fn wget_downloads_and_resumes() {
    let wget = require_tool("wget");
    let data = pattern(3 << 20);
    let (dir, _) = dir_with("data.bin", &data);
    let s = Served::start(dir.path(), &[]);
    let out = tempfile::tempdir().unwrap();
    let url = s.url("/data.bin");

    let whole = out.path().join("whole");
    run(Command::new(&wget).args(["-q", "-O"]).arg(&whole).arg(&url));
    assert!(std::fs::read(&whole).unwrap() == data);

    let resumed = out.path().join("data.bin");
    std::fs::write(&resumed, &data[..777_777]).unwrap();
    run(Command::new(&wget)
        .args(["-q", "-c"])
        .current_dir(out.path())
        .arg(&url));
    assert!(std::fs::read(&resumed).unwrap() == data);

    // A complete file: wget -c asks for the bytes past its end and gets 416, which it
    // takes as "already fully retrieved".
    run(Command::new(&wget)
        .args(["-q", "-c"])
        .current_dir(out.path())
        .arg(&url));
    assert!(std::fs::read(&resumed).unwrap() == data);
    s.wait_for_output("\"GET /data.bin HTTP/1.1\" 416 ");
}
