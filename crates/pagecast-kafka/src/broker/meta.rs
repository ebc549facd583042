//! The broker's own files beside the partitions: the directory lock, the cluster's
//! identity, and the topics with their IDs, partition counts and settings.
//!
//! ```text
//! DATA/
//!   .lock             held while a broker runs on DATA
//!   meta.properties   cluster.id and the storage engine, written once
//!   topics            one line per topic: ID, partitions, name, settings
//!   log/              the storage engine's directory
//!   internal/         the internal partition (__consumer_offsets-0), in a compacted
//!                     segment store of its own
//! ```
//!
//! `topics` is rewritten whole on every change: written to a temporary file, fsynced,
//! renamed over the old one, and the directory fsynced, so a crash leaves the old
//! version or the new one, never a mix. Topic IDs therefore stay the same across
//! restarts, as Fetch v13+ needs.

use std::collections::BTreeMap;
use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

use crate::codec::Uuid;

/// Name of the broker's lock file in the data directory.
pub const LOCK_FILE: &str = ".lock";
/// Name of the file holding the cluster ID and storage engine.
pub const META_FILE: &str = "meta.properties";
/// Name of the topics file.
pub const TOPICS_FILE: &str = "topics";
/// Directory of the storage engine.
pub const LOG_DIR: &str = "log";
/// Directory of the internal partition's store.
pub const INTERNAL_DIR: &str = "internal";

/// A failure to read or write the broker's files, naming the file.
#[derive(Debug, thiserror::Error)]
#[error("{}: {what}", path.display())]
pub struct MetaError {
    /// The file.
    pub path: PathBuf,
    /// What went wrong, and how to fix it where that is known.
    pub what: String,
}

fn fail(path: &Path, what: impl std::fmt::Display) -> MetaError {
    MetaError {
        path: path.to_owned(),
        what: what.to_string(),
    }
}

/// Takes the data directory's lock, creating the directory. Fails, naming the lock,
/// if another broker holds it.
pub fn lock(data: &Path) -> Result<File, MetaError> {
    pagecast_log::lock_dir(data).map_err(|e| match e {
        pagecast_log::Error::Io { file, source, .. }
            if source.kind() == io::ErrorKind::WouldBlock =>
        {
            fail(
                &file,
                format!("locked by another process ({source}): is another pagecast broker running on this data directory?"),
            )
        }
        e => fail(&data.join(LOCK_FILE), e),
    })
}

/// A fresh random UUID (version 4), from the kernel's random source.
pub fn random_uuid() -> io::Result<Uuid> {
    let mut bytes = [0u8; 16];
    File::open("/dev/urandom")?.read_exact(&mut bytes)?;
    bytes[6] = (bytes[6] & 0x0f) | 0x40;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    Ok(Uuid(bytes))
}

/// Writes `text` to `path` atomically: temporary file, fsync, rename, directory fsync.
pub fn write_atomic(path: &Path, text: &str) -> Result<(), MetaError> {
    let tmp = path.with_extension("tmp");
    let write = || -> io::Result<()> {
        let mut f = File::create(&tmp)?;
        f.write_all(text.as_bytes())?;
        f.sync_all()?;
        fs::rename(&tmp, path)?;
        if let Some(dir) = path.parent() {
            File::open(dir)?.sync_all()?;
        }
        Ok(())
    };
    write().map_err(|e| fail(path, format!("cannot write: {e}")))
}

fn read_optional(path: &Path) -> Result<Option<String>, MetaError> {
    match fs::read_to_string(path) {
        Ok(s) => Ok(Some(s)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(fail(path, format!("cannot read: {e}"))),
    }
}

/// The cluster's identity and the engine its data is in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Meta {
    /// Cluster ID, random at the first start.
    pub cluster_id: String,
    /// `segment` or `commitlog`.
    pub storage: String,
}

impl Meta {
    /// Reads `meta.properties`, or writes it for a new data directory. Refuses a
    /// directory whose data is in another engine than `storage`.
    pub fn load_or_create(data: &Path, storage: &str) -> Result<Meta, MetaError> {
        let path = data.join(META_FILE);
        if let Some(text) = read_optional(&path)? {
            let get = |key: &str| {
                text.lines()
                    .find_map(|l| l.strip_prefix(key)?.strip_prefix('='))
                    .map(str::trim)
                    .map(str::to_owned)
            };
            let meta = Meta {
                cluster_id: get("cluster.id").ok_or_else(|| fail(&path, "no cluster.id line"))?,
                storage: get("storage").ok_or_else(|| fail(&path, "no storage line"))?,
            };
            if meta.storage != storage {
                return Err(fail(
                    &path,
                    format!(
                        "the data here is in the {} engine; start with --storage {} or use another --data directory",
                        meta.storage, meta.storage
                    ),
                ));
            }
            return Ok(meta);
        }
        let id = random_uuid().map_err(|e| fail(&path, format!("no random source: {e}")))?;
        let meta = Meta {
            cluster_id: id.to_string(),
            storage: storage.to_owned(),
        };
        write_atomic(
            &path,
            &format!("cluster.id={}\nstorage={}\n", meta.cluster_id, meta.storage),
        )?;
        Ok(meta)
    }
}

/// A topic: its ID, partition count and the settings set on it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Topic {
    /// Topic ID, random at creation, never changed.
    pub id: Uuid,
    /// Number of partitions.
    pub partitions: i32,
    /// Settings set on the topic (`retention.ms` and the rest); the rest are defaults.
    pub configs: BTreeMap<String, String>,
}

impl Topic {
    /// Whether partition `p` exists.
    pub fn has_partition(&self, p: i32) -> bool {
        (0..self.partitions).contains(&p)
    }
}

/// Every topic, by name.
pub type Topics = BTreeMap<String, Topic>;

/// Reads the topics file (no file: no topics). A line per topic:
/// `ID PARTITIONS NAME [KEY=VALUE]...`.
pub fn load_topics(data: &Path) -> Result<Topics, MetaError> {
    let path = data.join(TOPICS_FILE);
    let Some(text) = read_optional(&path)? else {
        return Ok(Topics::new());
    };
    let mut topics = Topics::new();
    for (n, line) in text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
    {
        let bad = || {
            fail(
                &path,
                format!("line {}: expected ID PARTITIONS NAME [KEY=VALUE]...", n + 1),
            )
        };
        let mut words = line.split_ascii_whitespace();
        let id = words.next().and_then(Uuid::parse_hex).ok_or_else(bad)?;
        let partitions = words
            .next()
            .and_then(|p| p.parse::<i32>().ok())
            .filter(|&p| p > 0)
            .ok_or_else(bad)?;
        let name = words.next().ok_or_else(bad)?.to_owned();
        let configs = words
            .map(|kv| {
                kv.split_once('=')
                    .map(|(k, v)| (k.to_owned(), v.to_owned()))
            })
            .collect::<Option<_>>()
            .ok_or_else(bad)?;
        topics.insert(
            name,
            Topic {
                id,
                partitions,
                configs,
            },
        );
    }
    Ok(topics)
}

/// Writes the topics file atomically.
pub fn save_topics(data: &Path, topics: &Topics) -> Result<(), MetaError> {
    let mut text = String::new();
    for (name, t) in topics {
        text.push_str(&format!("{} {} {name}", t.id, t.partitions));
        for (k, v) in &t.configs {
            text.push_str(&format!(" {k}={v}"));
        }
        text.push('\n');
    }
    write_atomic(&data.join(TOPICS_FILE), &text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn topics_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let mut topics = Topics::new();
        topics.insert(
            "orders".into(),
            Topic {
                id: random_uuid().unwrap(),
                partitions: 3,
                configs: [("retention.ms".to_owned(), "1000".to_owned())].into(),
            },
        );
        save_topics(dir.path(), &topics).unwrap();
        assert_eq!(load_topics(dir.path()).unwrap(), topics);
    }

    #[test]
    fn a_second_lock_is_refused_by_name() {
        let dir = tempfile::tempdir().unwrap();
        let _held = lock(dir.path()).unwrap();
        let err = lock(dir.path()).unwrap_err().to_string();
        assert!(
            err.contains(".lock") && err.contains("another pagecast broker"),
            "{err}"
        );
    }

    #[test]
    fn meta_refuses_another_engine() {
        let dir = tempfile::tempdir().unwrap();
        let m = Meta::load_or_create(dir.path(), "segment").unwrap();
        assert_eq!(Meta::load_or_create(dir.path(), "segment").unwrap(), m);
        let err = Meta::load_or_create(dir.path(), "commitlog")
            .unwrap_err()
            .to_string();
        assert!(err.contains("--storage segment"), "{err}");
    }
}
