//! The recovery-point file both engines keep: one decimal number and a newline, the
//! point below which everything is on disk (the segment engine: an offset of the
//! partition; the commit log: a byte position of the log). After a crash, recovery
//! checks from there on. It is rewritten atomically; a damaged one only costs a longer
//! recovery, so it reads as absent.
//!
//! The segment engine keeps a partition's log start offset (moved by DeleteRecords) in
//! a file of the same format, [`LOG_START_FILE`]. A damaged one reads as absent too: the
//! log then starts at its first segment, as before any DeleteRecords.

use std::path::Path;

use crate::error::Result;
use crate::files;

/// Name of the file, in a partition's directory (segment engine) or the store's root
/// (commit log).
pub const RECOVERY_POINT_FILE: &str = "recovery-point";

/// Name of the file of a segment-engine partition's log start offset, in its directory.
pub const LOG_START_FILE: &str = "log-start-offset";

/// The file's contents for `point`.
pub fn encode(point: u64) -> String {
    format!("{point}\n")
}

/// The point the contents name; `None` if they name none.
pub fn decode(text: &str) -> Option<u64> {
    let digits = text.strip_suffix('\n').unwrap_or(text);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

/// Reads the recovery point kept in `dir`; `None` if there is none or it is damaged.
pub(crate) fn read(dir: &Path) -> Result<Option<u64>> {
    read_named(dir, RECOVERY_POINT_FILE)
}

/// Replaces the recovery point kept in `dir`.
pub(crate) fn write(dir: &Path, point: u64) -> Result<()> {
    write_named(dir, RECOVERY_POINT_FILE, point)
}

/// Reads the number kept in the file `name` of `dir`; `None` if there is none or it is
/// damaged.
pub(crate) fn read_named(dir: &Path, name: &str) -> Result<Option<u64>> {
    Ok(files::read_small(&dir.join(name))?.and_then(|text| decode(&text)))
}

/// Replaces the number kept in the file `name` of `dir`.
pub(crate) fn write_named(dir: &Path, name: &str, point: u64) -> Result<()> {
    files::write_atomically(dir, name, encode(point).as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn points_round_trip_and_damage_reads_as_none() {
        for point in [0, 1, 4096, u64::MAX] {
            assert_eq!(decode(&encode(point)), Some(point));
        }
        for damaged in [
            "",
            "\n",
            "12x\n",
            "-1\n",
            "+5\n",
            " 5\n",
            "99999999999999999999\n",
        ] {
            assert_eq!(decode(damaged), None, "{damaged:?}");
        }
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(read(dir.path()).unwrap(), None);
        write(dir.path(), 77).unwrap();
        assert_eq!(read(dir.path()).unwrap(), Some(77));
    }
}
