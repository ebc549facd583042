//! Files strictly below the served directory. Request targets are already stripped of
//! `..` and friends by [`crate::target`]; this module is the second wall: every open is
//! resolved by the kernel with openat2(2) `RESOLVE_BENEATH`, so a symlink that points
//! out of the directory is refused after resolution, whatever it is named.
//!
//! openat2 needs Linux 5.6, and some container seccomp profiles answer it with ENOSYS
//! or EPERM. There the file is opened normally and the path the kernel resolved
//! (`/proc/self/fd/N`) must lie below the directory, or the file is closed again.

use std::fs::File;
use std::io;
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use rustix::fs::{AtFlags, FileType, Mode, OFlags, ResolveFlags, Stat};
use rustix::io::Errno;

use crate::conditional::Validators;
use crate::open_cache::{Hit, OpenCache};

/// Set once openat2 has been refused by the kernel or a seccomp filter.
static NO_OPENAT2: AtomicBool = AtomicBool::new(false);

/// Why a path below the root cannot be opened.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum OpenError {
    /// Nothing by that name (ENOENT, or a file used as a directory): 404.
    #[error("not found")]
    NotFound,
    /// The path resolves outside the served directory (a symlink out of it): 403.
    #[error("resolves outside the served directory")]
    Outside,
    /// The file exists but may not be read (permissions, a symlink loop): 403.
    #[error("forbidden: {0}")]
    Forbidden(io::Error),
    /// Anything else, for example EMFILE: 503 or 500.
    #[error("{0}")]
    Other(io::Error),
}

impl From<Errno> for OpenError {
    fn from(e: Errno) -> OpenError {
        match e {
            Errno::NOENT | Errno::NOTDIR | Errno::NAMETOOLONG => OpenError::NotFound,
            Errno::XDEV => OpenError::Outside,
            Errno::ACCESS | Errno::PERM | Errno::LOOP | Errno::NXIO => {
                OpenError::Forbidden(e.into())
            }
            e => OpenError::Other(e.into()),
        }
    }
}

/// The served directory, with the open-file cache of its files.
pub struct Root {
    dir: OwnedFd,
    canonical: PathBuf,
    cache: OpenCache,
}

impl std::fmt::Debug for Root {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Root")
            .field("canonical", &self.canonical)
            .finish_non_exhaustive()
    }
}

/// An open file or directory below the root, with its metadata. The descriptor may be
/// shared with the open-file cache.
#[derive(Debug)]
pub struct Opened {
    pub file: Arc<File>,
    pub stat: Stat,
    /// The validators of a regular file, made once per version of its metadata.
    pub validators: Option<Arc<Validators>>,
}

impl Opened {
    /// Whether this is a directory.
    pub fn is_dir(&self) -> bool {
        FileType::from_raw_mode(self.stat.st_mode) == FileType::Directory
    }

    /// Whether this is a regular file.
    pub fn is_file(&self) -> bool {
        FileType::from_raw_mode(self.stat.st_mode) == FileType::RegularFile
    }

    /// Size in bytes.
    pub fn size(&self) -> u64 {
        u64::try_from(self.stat.st_size).unwrap_or(0)
    }
}

/// One entry of a directory listing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// The file name as stored (Linux names are bytes).
    pub name: Vec<u8>,
    pub is_dir: bool,
    pub size: u64,
    /// Modification time, seconds since the epoch.
    pub mtime: i64,
}

impl Root {
    /// Opens the directory to serve, keeping the descriptors of up to
    /// [`crate::open_cache::DEFAULT_ENTRIES`] hot files.
    pub fn open(path: &Path) -> io::Result<Root> {
        Root::with_cache(path, crate::open_cache::DEFAULT_ENTRIES)
    }

    /// Opens the directory to serve, keeping the descriptors of up to `entries` files
    /// (0: none; every request opens its file).
    pub fn with_cache(path: &Path, entries: usize) -> io::Result<Root> {
        let dir = rustix::fs::open(
            path,
            OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
        )?;
        Ok(Root {
            dir,
            canonical: path.canonicalize()?,
            cache: OpenCache::new(entries),
        })
    }

    /// The directory's canonical path.
    pub fn path(&self) -> &Path {
        &self.canonical
    }

    /// Opens `segments` (decoded path segments, none of them `..`) below the root for
    /// reading. An empty list is the root itself.
    pub fn open_beneath(&self, segments: &[Vec<u8>]) -> Result<Opened, OpenError> {
        let rel = relative(segments);
        if let Some(hit) = self.cache.get(&self.dir, &rel) {
            return Ok(Opened {
                file: hit.file,
                stat: hit.stat,
                validators: Some(hit.validators),
            });
        }
        let fd = match self.open_fd(&rel, OFlags::RDONLY) {
            Err(OpenError::Other(e))
                if matches!(e.raw_os_error(), Some(libc::EMFILE | libc::ENFILE)) =>
            {
                // Out of descriptors: the cache gives its own back, and the open is
                // tried once more.
                self.cache.clear();
                self.open_fd(&rel, OFlags::RDONLY)?
            }
            other => other?,
        };
        let stat = rustix::fs::fstat(&fd)?;
        let file = Arc::new(File::from(fd));
        if FileType::from_raw_mode(stat.st_mode) != FileType::RegularFile {
            return Ok(Opened {
                file,
                stat,
                validators: None,
            });
        }
        let hit = Hit {
            file,
            stat,
            validators: Arc::new(Validators::of(&stat)),
        };
        self.cache.insert(&rel, &hit);
        Ok(Opened {
            file: hit.file,
            stat,
            validators: Some(hit.validators),
        })
    }

    /// The entries of the directory at `segments`, without `.` and `..`, without
    /// dotfiles unless `dotfiles`, and without symlinks that lead out of the root.
    /// Blocking: it stats every entry.
    pub fn list(&self, segments: &[Vec<u8>], dotfiles: bool) -> Result<Vec<Entry>, OpenError> {
        let rel = relative(segments);
        let dir = self.open_fd(&rel, OFlags::RDONLY | OFlags::DIRECTORY)?;
        let mut entries = Vec::new();
        for entry in rustix::fs::Dir::read_from(&dir)? {
            let entry = entry?;
            let name = entry.file_name().to_bytes();
            if name == b"." || name == b".." || (!dotfiles && name.starts_with(b".")) {
                continue;
            }
            let stat = if entry.file_type() == FileType::Symlink {
                // Listed only if it could be served: resolved beneath the root.
                let path = [&rel[..], b"/", name].concat();
                let Ok(fd) = self.open_fd(&path, OFlags::PATH) else {
                    continue;
                };
                rustix::fs::fstat(&fd)?
            } else {
                match rustix::fs::statat(&dir, name, AtFlags::SYMLINK_NOFOLLOW) {
                    Ok(stat) => stat,
                    // Removed since the directory was read.
                    Err(Errno::NOENT) => continue,
                    Err(e) => return Err(e.into()),
                }
            };
            entries.push(Entry {
                name: name.to_vec(),
                is_dir: FileType::from_raw_mode(stat.st_mode) == FileType::Directory,
                size: u64::try_from(stat.st_size).unwrap_or(0),
                mtime: stat.st_mtime,
            });
        }
        Ok(entries)
    }

    fn open_fd(&self, rel: &[u8], flags: OFlags) -> Result<OwnedFd, OpenError> {
        // O_NONBLOCK: opening a FIFO someone left in the directory must not block; it
        // has no effect on regular files. O_NOCTTY: a tty must not become ours. openat2
        // refuses both with O_PATH (EINVAL), which opens nothing anyway.
        let flags = if flags.contains(OFlags::PATH) {
            flags | OFlags::CLOEXEC
        } else {
            flags | OFlags::CLOEXEC | OFlags::NONBLOCK | OFlags::NOCTTY
        };
        if !NO_OPENAT2.load(Ordering::Relaxed) {
            match rustix::fs::openat2(
                &self.dir,
                rel,
                flags,
                Mode::empty(),
                ResolveFlags::BENEATH | ResolveFlags::NO_MAGICLINKS,
            ) {
                Err(Errno::NOSYS | Errno::PERM) if probe_refused(&self.dir) => {
                    NO_OPENAT2.store(true, Ordering::Relaxed);
                }
                other => return Ok(other?),
            }
        }
        let fd = rustix::fs::openat(&self.dir, rel, flags, Mode::empty())?;
        let resolved = std::fs::read_link(format!("/proc/self/fd/{}", fd.as_raw_fd()))
            .map_err(|_| OpenError::Outside)?;
        if resolved.starts_with(&self.canonical) {
            Ok(fd)
        } else {
            Err(OpenError::Outside)
        }
    }
}

/// Whether openat2 itself is refused, as opposed to one path being refused with EPERM:
/// opening the root as `.` cannot fail for any other reason.
fn probe_refused(dir: &OwnedFd) -> bool {
    matches!(
        rustix::fs::openat2(
            dir,
            ".",
            OFlags::PATH | OFlags::CLOEXEC,
            Mode::empty(),
            ResolveFlags::BENEATH,
        ),
        Err(Errno::NOSYS | Errno::PERM)
    )
}

/// The segments as a relative path, `.` for none: one allocation.
fn relative(segments: &[Vec<u8>]) -> Vec<u8> {
    if segments.is_empty() {
        return b".".to_vec();
    }
    let len = segments.iter().map(|s| s.len() + 1).sum::<usize>() - 1;
    let mut path = Vec::with_capacity(len);
    for (i, segment) in segments.iter().enumerate() {
        if i > 0 {
            path.push(b'/');
        }
        path.extend_from_slice(segment);
    }
    path
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seg(path: &str) -> Vec<Vec<u8>> {
        path.split('/')
            .filter(|s| !s.is_empty())
            .map(|s| s.as_bytes().to_vec())
            .collect()
    }

    #[test]
    fn opens_below_and_refuses_symlinks_out() {
        check_beneath();
    }

    #[test]
    fn the_fallback_without_openat2_refuses_the_same() {
        // Process-wide, but both paths must give the same answers, so a test running
        // beside this one in the same process is not affected.
        NO_OPENAT2.store(true, Ordering::Relaxed);
        check_beneath();
    }

    fn check_beneath() {
        let outside = tempfile::tempdir().unwrap();
        std::fs::write(outside.path().join("secret"), b"secret").unwrap();
        let root_dir = tempfile::tempdir().unwrap();
        let root = root_dir.path();
        std::fs::create_dir(root.join("sub")).unwrap();
        std::fs::write(root.join("sub/a.txt"), b"aaa").unwrap();
        std::os::unix::fs::symlink(outside.path().join("secret"), root.join("out")).unwrap();
        std::os::unix::fs::symlink("../sub/a.txt", root.join("sub/up")).unwrap();
        std::os::unix::fs::symlink("sub", root.join("in")).unwrap();
        let r = Root::open(root).unwrap();

        let a = r.open_beneath(&seg("sub/a.txt")).unwrap();
        assert!(a.is_file());
        assert_eq!(a.size(), 3);
        assert!(r.open_beneath(&seg("")).unwrap().is_dir());
        assert!(r.open_beneath(&seg("in/a.txt")).unwrap().is_file());
        assert!(r.open_beneath(&seg("sub/up")).unwrap().is_file());
        assert!(matches!(
            r.open_beneath(&seg("out")),
            Err(OpenError::Outside)
        ));
        assert!(matches!(
            r.open_beneath(&seg("missing")),
            Err(OpenError::NotFound)
        ));
        assert!(matches!(
            r.open_beneath(&seg("sub/a.txt/x")),
            Err(OpenError::NotFound)
        ));

        let mut names: Vec<_> = r
            .list(&seg(""), false)
            .unwrap()
            .into_iter()
            .map(|e| (String::from_utf8(e.name).unwrap(), e.is_dir))
            .collect();
        names.sort();
        // `out` leads outside and is not listed; `in` is listed as the directory it is.
        assert_eq!(names, [("in".into(), true), ("sub".into(), true)]);
    }
}
