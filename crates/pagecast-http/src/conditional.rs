//! Validators and conditional requests (RFC 9110 §8.8, §13): a strong ETag and
//! Last-Modified for a file, and the evaluation of If-Match, If-Unmodified-Since,
//! If-None-Match, If-Modified-Since and If-Range in the order §13.2.2 prescribes.

use crate::date;

/// A file's validators.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Validators {
    /// Strong entity tag, quoted: changes when the size, the modification time (to the
    /// nanosecond) or the inode changes, so a file replaced by rename gets a new tag.
    pub etag: String,
    /// Modification time, whole seconds since the epoch (HTTP dates have no fraction).
    pub last_modified: i64,
    /// `last_modified` as the Last-Modified header value.
    last_modified_text: String,
}

impl Validators {
    /// Validators from a file's inode, size and modification time.
    pub fn new(ino: u64, size: u64, mtime_secs: i64, mtime_nsecs: u32) -> Validators {
        Validators {
            etag: format!("\"{ino:x}-{mtime_secs:x}.{mtime_nsecs:x}-{size:x}\""),
            last_modified: mtime_secs,
            last_modified_text: date::format(mtime_secs),
        }
    }

    /// Validators from a file's metadata.
    pub fn of(stat: &rustix::fs::Stat) -> Validators {
        Validators::new(
            stat.st_ino,
            u64::try_from(stat.st_size).unwrap_or(0),
            stat.st_mtime,
            u32::try_from(stat.st_mtime_nsec).unwrap_or(0),
        )
    }

    /// The Last-Modified header value.
    pub fn last_modified_header(&self) -> &str {
        &self.last_modified_text
    }
}

/// The conditional headers of a request, as received (`None` when absent).
#[derive(Debug, Clone, Copy, Default)]
pub struct Conditions<'a> {
    pub if_match: Option<&'a str>,
    pub if_none_match: Option<&'a str>,
    pub if_modified_since: Option<&'a str>,
    pub if_unmodified_since: Option<&'a str>,
    pub if_range: Option<&'a str>,
}

/// What the preconditions decide.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Serve the file; apply the Range header only if `use_range`.
    Proceed { use_range: bool },
    /// 304 Not Modified.
    NotModified,
    /// 412 Precondition Failed.
    PreconditionFailed,
}

/// Evaluates the preconditions of a GET (or HEAD, `is_get_or_head`) against a file's
/// validators, per RFC 9110 §13.2.2.
pub fn evaluate(c: &Conditions<'_>, v: &Validators, is_get_or_head: bool) -> Outcome {
    if let Some(list) = c.if_match {
        if !matches_list(list, &v.etag, Comparison::Strong) {
            return Outcome::PreconditionFailed;
        }
    } else if let Some(since) = c.if_unmodified_since.and_then(date::parse)
        && v.last_modified > since
    {
        return Outcome::PreconditionFailed;
    }
    if let Some(list) = c.if_none_match {
        if matches_list(list, &v.etag, Comparison::Weak) {
            return if is_get_or_head {
                Outcome::NotModified
            } else {
                Outcome::PreconditionFailed
            };
        }
    } else if is_get_or_head
        && let Some(since) = c.if_modified_since.and_then(date::parse)
        && v.last_modified <= since
    {
        return Outcome::NotModified;
    }
    let use_range = match c.if_range {
        None => true,
        Some(value) => if_range_holds(value.trim(), v),
    };
    Outcome::Proceed { use_range }
}

/// If-Range holds only for a strong match: the same strong ETag, or exactly the
/// Last-Modified date (RFC 9110 §13.1.5).
fn if_range_holds(value: &str, v: &Validators) -> bool {
    if value.starts_with('"') || value.starts_with("W/") {
        return !value.starts_with("W/") && value == v.etag;
    }
    date::parse(value) == Some(v.last_modified)
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Comparison {
    Strong,
    Weak,
}

/// Whether an `If-Match`/`If-None-Match` value (`*` or a list of entity tags) matches
/// `etag`. A malformed element matches nothing.
fn matches_list(list: &str, etag: &str, cmp: Comparison) -> bool {
    let list = list.trim_matches([' ', '\t']);
    if list == "*" {
        return true;
    }
    let mut rest = list;
    loop {
        rest = rest.trim_start_matches([' ', '\t', ',']);
        if rest.is_empty() {
            return false;
        }
        let (weak, tail) = match rest.strip_prefix("W/") {
            Some(t) => (true, t),
            None => (false, rest),
        };
        let Some(body) = tail.strip_prefix('"') else {
            return false;
        };
        let Some(close) = body.find('"') else {
            return false;
        };
        let tag = &tail[..close + 2];
        if tag == etag && (cmp == Comparison::Weak || !weak) {
            return true;
        }
        rest = &body[close + 1..];
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v() -> Validators {
        Validators::new(0x2a, 100, 784_111_777, 5)
    }

    const TAG: &str = "\"2a-2ebc98a1.5-64\"";
    const DATE: &str = "Sun, 06 Nov 1994 08:49:37 GMT";
    const EARLIER: &str = "Sun, 06 Nov 1994 08:49:36 GMT";

    fn run(c: Conditions<'_>) -> Outcome {
        evaluate(&c, &v(), true)
    }

    const GO: Outcome = Outcome::Proceed { use_range: true };
    const FULL: Outcome = Outcome::Proceed { use_range: false };

    #[test]
    fn the_validators_are_what_the_headers_carry() {
        assert_eq!(v().etag, TAG);
        assert_eq!(v().last_modified_header(), DATE);
    }

    #[test]
    fn if_match_and_if_unmodified_since() {
        assert_eq!(
            run(Conditions {
                if_match: Some(TAG),
                ..Default::default()
            }),
            GO
        );
        assert_eq!(
            run(Conditions {
                if_match: Some("*"),
                ..Default::default()
            }),
            GO
        );
        assert_eq!(
            run(Conditions {
                if_match: Some(&format!("\"x\", {TAG}")),
                ..Default::default()
            }),
            GO
        );
        assert_eq!(
            run(Conditions {
                if_match: Some("\"other\""),
                ..Default::default()
            }),
            Outcome::PreconditionFailed
        );
        // If-Match compares strongly: a weak tag never matches.
        assert_eq!(
            run(Conditions {
                if_match: Some(&format!("W/{TAG}")),
                ..Default::default()
            }),
            Outcome::PreconditionFailed
        );
        assert_eq!(
            run(Conditions {
                if_unmodified_since: Some(DATE),
                ..Default::default()
            }),
            GO
        );
        assert_eq!(
            run(Conditions {
                if_unmodified_since: Some(EARLIER),
                ..Default::default()
            }),
            Outcome::PreconditionFailed
        );
        // If-Unmodified-Since is ignored when If-Match is present, and when it is not a date.
        assert_eq!(
            run(Conditions {
                if_match: Some(TAG),
                if_unmodified_since: Some(EARLIER),
                ..Default::default()
            }),
            GO
        );
        assert_eq!(
            run(Conditions {
                if_unmodified_since: Some("not a date"),
                ..Default::default()
            }),
            GO
        );
    }

    #[test]
    fn if_none_match_and_if_modified_since() {
        assert_eq!(
            run(Conditions {
                if_none_match: Some(TAG),
                ..Default::default()
            }),
            Outcome::NotModified
        );
        assert_eq!(
            run(Conditions {
                if_none_match: Some(&format!("W/{TAG}")),
                ..Default::default()
            }),
            Outcome::NotModified,
            "weak comparison"
        );
        assert_eq!(
            run(Conditions {
                if_none_match: Some("*"),
                ..Default::default()
            }),
            Outcome::NotModified
        );
        assert_eq!(
            run(Conditions {
                if_none_match: Some("\"other\""),
                ..Default::default()
            }),
            GO
        );
        assert_eq!(
            evaluate(
                &Conditions {
                    if_none_match: Some(TAG),
                    ..Default::default()
                },
                &v(),
                false
            ),
            Outcome::PreconditionFailed
        );
        assert_eq!(
            run(Conditions {
                if_modified_since: Some(DATE),
                ..Default::default()
            }),
            Outcome::NotModified
        );
        assert_eq!(
            run(Conditions {
                if_modified_since: Some(EARLIER),
                ..Default::default()
            }),
            GO
        );
        // If-Modified-Since is ignored when If-None-Match is present.
        assert_eq!(
            run(Conditions {
                if_none_match: Some("\"other\""),
                if_modified_since: Some(DATE),
                ..Default::default()
            }),
            GO
        );
        assert_eq!(
            run(Conditions {
                if_modified_since: Some("garbage"),
                ..Default::default()
            }),
            GO
        );
    }

    #[test]
    fn if_range_needs_a_strong_match() {
        assert_eq!(
            run(Conditions {
                if_range: Some(TAG),
                ..Default::default()
            }),
            GO
        );
        assert_eq!(
            run(Conditions {
                if_range: Some(DATE),
                ..Default::default()
            }),
            GO
        );
        assert_eq!(
            run(Conditions {
                if_range: Some("\"stale\""),
                ..Default::default()
            }),
            FULL
        );
        assert_eq!(
            run(Conditions {
                if_range: Some(&format!("W/{TAG}")),
                ..Default::default()
            }),
            FULL
        );
        assert_eq!(
            run(Conditions {
                if_range: Some(EARLIER),
                ..Default::default()
            }),
            FULL
        );
        assert_eq!(
            run(Conditions {
                if_range: Some("junk"),
                ..Default::default()
            }),
            FULL
        );
    }

    #[test]
    fn malformed_tag_lists_match_nothing() {
        for list in ["", "\"unterminated", "noquotes", "W/", ",,,"] {
            assert_eq!(
                run(Conditions {
                    if_none_match: Some(list),
                    ..Default::default()
                }),
                GO,
                "{list:?}"
            );
        }
    }
}
