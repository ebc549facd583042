//! Every file → file method on real filesystems: btrfs and XFS, which share extents
//! (reflink), ext4, which copies, and tmpfs, which has no extent map. Every copy is
//! byte-identical to its source; what really ran is what each filesystem allows.

mod support;

use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::Path;

use pagecast_io::{Extents, Method, Options, Syscall, copy_file};
use pagecast_testfs::Mounted;
use support::pattern_file;

/// 3 MiB and a partial block: the reflink clones the blocks and copies the rest.
const SIZE: u64 = (3 << 20) + 123;

/// Copies the whole of `src` into a new file at `dst` by `method` (falling back as
/// its chain says) and checks the bytes; returns the stats and the copy.
fn copy(src: &File, dst: &Path, method: Method) -> (pagecast_io::Stats, File) {
    let out = File::options()
        .read(true)
        .write(true)
        .create_new(true)
        .open(dst)
        .unwrap();
    let stats = copy_file(src, 0, SIZE, &out, 0, &Options::method(method))
        .unwrap_or_else(|e| panic!("{method} into {}: {e}", dst.display()));
    assert_eq!(stats.bytes, SIZE, "{method}");
    assert_eq!(out.metadata().unwrap().len(), SIZE, "{method}");
    let (mut want, mut got) = (vec![0u8; SIZE as usize], vec![0u8; SIZE as usize]);
    src.read_exact_at(&mut want, 0).unwrap();
    out.read_exact_at(&mut got, 0).unwrap();
    assert!(want == got, "{method} into {}: bytes differ", dst.display());
    (stats, out)
}

/// Every method on one filesystem; returns (asked, ran, shared bytes of the copy).
fn every_method_on(fs: &Mounted) -> Vec<(Method, Method, Option<u64>)> {
    let src = pattern_file(&fs.path().join("src"), SIZE);
    let mut ran = Vec::new();
    for method in Method::FILE_TO_FILE {
        let (stats, out) = copy(&src, &fs.path().join(method.name()), method);
        let shared = Extents::of(&out).ok().map(|e| e.shared);
        ran.push((method, stats.method, shared));
    }
    // A copy into the middle of a file lands there and leaves the rest alone.
    let out = File::options()
        .read(true)
        .write(true)
        .create_new(true)
        .open(fs.path().join("middle"))
        .unwrap();
    out.write_all_at(&[7u8; 8192], 0).unwrap();
    copy_file(&src, 1000, 3000, &out, 4096, &pagecast_io::copy_options()).unwrap();
    let mut got = [0u8; 8192];
    out.read_exact_at(&mut got, 0).unwrap();
    let mut want = [0u8; 3000];
    src.read_exact_at(&mut want, 1000).unwrap();
    assert!(got[..4096].iter().all(|&b| b == 7) && got[7096..].iter().all(|&b| b == 7));
    assert_eq!(&got[4096..7096], &want[..]);
    ran
}

fn assert_ran(ran: &[(Method, Method, Option<u64>)], asked: Method, really: Method) {
    let found = ran.iter().find(|r| r.0 == asked).unwrap();
    assert_eq!(found.1, really, "{asked} ran as {}: {ran:?}", found.1);
}

#[test]
fn on_btrfs_and_xfs_reflink_shares_the_blocks_and_copy_file_range_does_too() {
    for fstype in ["btrfs", "xfs"] {
        let fs = Mounted::new(fstype, 320 << 20);
        let ran = every_method_on(&fs);
        for method in Method::FILE_TO_FILE {
            assert_ran(&ran, method, method);
        }
        let whole_blocks = SIZE / 4096 * 4096;
        for (asked, _, shared) in &ran {
            let shared = shared.unwrap_or_else(|| panic!("{fstype}: no extent map"));
            match asked {
                Method::Reflink | Method::CopyFileRange => assert!(
                    shared >= whole_blocks,
                    "{fstype} {asked}: {shared} of {SIZE} bytes shared"
                ),
                _ => assert_eq!(shared, 0, "{fstype} {asked} shared blocks"),
            }
        }
    }
}

#[test]
fn on_ext4_and_tmpfs_reflink_is_refused_and_copy_file_range_copies() {
    for fstype in ["ext4", "tmpfs"] {
        let fs = Mounted::new(fstype, 64 << 20);
        let ran = every_method_on(&fs);
        assert_ran(&ran, Method::Reflink, Method::CopyFileRange);
        for method in Method::FILE_TO_FILE
            .into_iter()
            .filter(|m| *m != Method::Reflink)
        {
            assert_ran(&ran, method, method);
        }
        for (asked, _, shared) in &ran {
            assert!(shared.unwrap_or(0) == 0, "{fstype} {asked} shared blocks");
        }
    }
}

#[test]
fn across_filesystems_the_in_kernel_copies_decline_and_sendfile_runs() {
    let (a, b) = (
        Mounted::new("tmpfs", 16 << 20),
        Mounted::new("ext4", 64 << 20),
    );
    let src = pattern_file(&a.path().join("src"), SIZE);
    let (stats, _) = copy(&src, &b.path().join("dst"), Method::Reflink);
    assert_eq!(stats.method, Method::Sendfile, "{:?}", stats.fell_back_from);
    let declined: Vec<(Method, Syscall, i32)> = stats
        .fell_back_from
        .iter()
        .map(|r| (r.method, r.syscall, r.errno))
        .collect();
    assert_eq!(
        declined,
        vec![
            (Method::Reflink, Syscall::Ficlone, libc::EXDEV),
            (Method::CopyFileRange, Syscall::CopyFileRange, libc::EXDEV),
        ]
    );
}

#[test]
fn without_fallback_a_refused_reflink_is_an_error() {
    let fs = Mounted::new("ext4", 64 << 20);
    let src = pattern_file(&fs.path().join("src"), SIZE);
    let out = File::create_new(fs.path().join("dst")).unwrap();
    let strict = Options {
        fallback: false,
        ..Options::method(Method::Reflink)
    };
    let err = copy_file(&src, 0, SIZE, &out, 0, &strict).unwrap_err();
    assert!(
        matches!(
            err,
            pagecast_io::Error::Unsupported {
                method: Method::Reflink,
                ..
            }
        ),
        "{err:?}"
    );
}
