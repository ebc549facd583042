//! Real filesystems for tests: btrfs, XFS and ext4 made in an image file and mounted on
//! a loop device, or a tmpfs; unmounted when dropped. Mounting needs root, and mkfs
//! needs btrfs-progs, xfsprogs and e2fsprogs: the test command installs them and runs
//! as root. A test that cannot mount fails, naming that command; it never skips.

use std::path::Path;
use std::process::Command;

/// A mounted filesystem, unmounted on drop.
pub struct Mounted {
    _image_dir: Option<tempfile::TempDir>,
    mount: tempfile::TempDir,
    fstype: &'static str,
}

impl Mounted {
    /// Makes and mounts a filesystem of `fstype` ("btrfs", "xfs", "ext4" or "tmpfs")
    /// of `size` bytes.
    pub fn new(fstype: &'static str, size: u64) -> Mounted {
        let mount = tempfile::tempdir().unwrap();
        let (image_dir, source, options) = if fstype == "tmpfs" {
            (None, "pagecast-test".to_string(), format!("size={size}"))
        } else {
            let image_dir = tempfile::tempdir().unwrap();
            let image = image_dir.path().join("fs.img");
            std::fs::File::create(&image)
                .unwrap()
                .set_len(size)
                .unwrap();
            let mkfs = format!("mkfs.{fstype}");
            let quiet = match fstype {
                "ext4" => "-qF",
                _ => "-qf",
            };
            let made = Command::new(&mkfs)
                .arg(quiet)
                .arg(&image)
                .output()
                .unwrap_or_else(|e| {
                    panic!(
                        "{mkfs}: {e}; scripts/test installs it (btrfs-progs, xfsprogs, e2fsprogs)"
                    )
                });
            assert!(made.status.success(), "{mkfs}: {made:?}");
            let source = image.to_string_lossy().into_owned();
            (Some(image_dir), source, "loop".to_string())
        };
        let mounted = Command::new("mount")
            .args(["-t", fstype, "-o", &options, &source])
            .arg(mount.path())
            .output()
            .expect("run mount(8)");
        assert!(
            mounted.status.success(),
            "mounting {fstype} needs root and loop devices: run the tests with scripts/test \
             as root ({})",
            String::from_utf8_lossy(&mounted.stderr)
        );
        Mounted {
            _image_dir: image_dir,
            mount,
            fstype,
        }
    }

    /// Where it is mounted.
    pub fn path(&self) -> &Path {
        self.mount.path()
    }

    /// The filesystem type it was made as.
    pub fn fstype(&self) -> &'static str {
        self.fstype
    }
}

impl Drop for Mounted {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(self.mount.path()).status();
    }
}
