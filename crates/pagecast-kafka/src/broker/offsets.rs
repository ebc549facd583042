//! Committed offsets, kept as Kafka keeps them: records in an internal partition of the
//! broker's own store (`__consumer_offsets-0`), one per commit, replayed at start-up.
//! The newest record for a group, topic and partition wins.

use std::collections::BTreeMap;

use crate::codec::{Reader, Version, Wire};

/// The internal topic holding committed offsets.
pub const OFFSETS_TOPIC: &str = "__consumer_offsets";

/// Format version of the keys and values written.
const FORMAT: i16 = 1;
const PLAIN: Version = Version {
    version: 0,
    flexible: false,
};

/// A committed position.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Committed {
    /// Next offset to consume.
    pub offset: i64,
    /// Leader epoch of the last consumed record, or -1.
    pub leader_epoch: i32,
    /// The client's metadata.
    pub metadata: Option<String>,
}

/// What a commit is about: group, topic, partition.
pub type Key = (String, String, i32);

/// Encodes a commit as a record key and value.
pub fn encode(key: &Key, value: &Committed) -> (Vec<u8>, Vec<u8>) {
    let mut k = Vec::new();
    FORMAT.encode(&mut k, PLAIN);
    key.0.encode(&mut k, PLAIN);
    key.1.encode(&mut k, PLAIN);
    key.2.encode(&mut k, PLAIN);
    let mut v = Vec::new();
    value.offset.encode(&mut v, PLAIN);
    value.leader_epoch.encode(&mut v, PLAIN);
    value.metadata.encode(&mut v, PLAIN);
    (k, v)
}

/// Decodes a record written by [`encode`]; `None` for a record of another format.
pub fn decode(key: &[u8], value: &[u8]) -> Option<(Key, Committed)> {
    let mut k = Reader::new(key);
    if i16::decode(&mut k, PLAIN).ok()? != FORMAT {
        return None;
    }
    let group = String::decode(&mut k, PLAIN).ok()?;
    let topic = String::decode(&mut k, PLAIN).ok()?;
    let partition = i32::decode(&mut k, PLAIN).ok()?;
    let mut v = Reader::new(value);
    let committed = Committed {
        offset: i64::decode(&mut v, PLAIN).ok()?,
        leader_epoch: i32::decode(&mut v, PLAIN).ok()?,
        metadata: Option::<String>::decode(&mut v, PLAIN).ok()?,
    };
    Some(((group, topic, partition), committed))
}

/// The committed offsets of every group.
#[derive(Debug, Default)]
pub struct CommittedOffsets {
    map: BTreeMap<Key, Committed>,
}

impl CommittedOffsets {
    /// Sets a position.
    pub fn set(&mut self, key: Key, value: Committed) {
        self.map.insert(key, value);
    }

    /// A position, if committed.
    pub fn get(&self, key: &Key) -> Option<&Committed> {
        self.map.get(key)
    }

    /// Every position of a group, by topic and partition.
    pub fn group(&self, group: &str) -> impl Iterator<Item = (&Key, &Committed)> {
        self.map
            .range((group.to_owned(), String::new(), i32::MIN)..)
            .take_while(move |((g, _, _), _)| g == group)
    }

    /// Forgets a deleted topic's positions.
    pub fn forget_topic(&mut self, topic: &str) {
        self.map.retain(|(_, t, _), _| t != topic);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let key = ("g".to_owned(), "orders".to_owned(), 3);
        let value = Committed {
            offset: 42,
            leader_epoch: -1,
            metadata: Some("m".into()),
        };
        let (k, v) = encode(&key, &value);
        assert_eq!(decode(&k, &v), Some((key, value)));
        assert_eq!(decode(&k[..3], &v), None);
    }

    #[test]
    fn a_group_sees_only_its_own() {
        let mut c = CommittedOffsets::default();
        let at = |offset| Committed {
            offset,
            leader_epoch: -1,
            metadata: None,
        };
        c.set(("a".into(), "t".into(), 0), at(1));
        c.set(("b".into(), "t".into(), 0), at(2));
        c.set(("b".into(), "u".into(), 1), at(3));
        let b: Vec<i64> = c.group("b").map(|(_, v)| v.offset).collect();
        assert_eq!(b, [2, 3]);
    }
}
