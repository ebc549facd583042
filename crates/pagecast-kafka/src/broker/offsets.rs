//! Committed offsets and group metadata, kept as Kafka keeps them: records in an
//! internal partition of the broker's own store (`__consumer_offsets-0`), one per commit
//! and one per group change, replayed at start-up. The newest record for a key wins; a
//! record without a value (a tombstone) deletes it.
//!
//! ```text
//! key   i16 1, group, topic, partition    value  i64 offset, i32 leader epoch, metadata
//! key   i16 2, group                      value  a groups::GroupSnapshot
//! key   i16 3, group                      value  a consumer_groups::GroupSnapshot
//! ```

use std::collections::BTreeMap;

use crate::codec::{PLAIN, Reader, Wire};

/// The internal topic holding committed offsets.
pub const OFFSETS_TOPIC: &str = "__consumer_offsets";

/// Key format of a committed offset.
const COMMIT_KEY: i16 = 1;
/// Key format of a classic group's metadata.
const GROUP_KEY: i16 = 2;
/// Key format of a consumer-protocol (KIP-848) group's metadata.
const CONSUMER_GROUP_KEY: i16 = 3;

/// A committed position.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Committed {
    /// Next offset to consume.
    pub offset: i64,
    /// Leader epoch of the last consumed record, or -1.
    pub leader_epoch: i32,
    /// The client's metadata.
    pub metadata: Option<String>,
    /// When it was committed, in milliseconds since the epoch (its record's
    /// timestamp): retention counts from it.
    pub commit_ms: i64,
}

/// What a commit is about: group, topic, partition.
pub type Key = (String, String, i32);

/// A record of the internal partition, decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Entry {
    /// A committed offset, or its deletion.
    Commit(Key, Option<Committed>),
    /// A classic group's metadata (its snapshot's bytes), or its deletion.
    Group(String, Option<Vec<u8>>),
    /// A consumer-protocol group's metadata, or its deletion.
    ConsumerGroup(String, Option<Vec<u8>>),
}

/// A record key and value.
pub type Record = (Vec<u8>, Option<Vec<u8>>);

/// The records a coordinator operation implies, in the order it made them: what the
/// broker writes to the internal partition before it answers (Kafka's
/// CoordinatorResult). A later record for a key replaces an earlier one of the same
/// operation, as it would on replay.
#[derive(Debug, Default)]
pub struct Records {
    records: Vec<Record>,
    /// Where each key's record is in `records`.
    at: std::collections::HashMap<Vec<u8>, usize>,
}

impl Records {
    /// Adds `record`, replacing one with the same key.
    pub fn push(&mut self, record: Record) {
        match self.at.get(&record.0) {
            Some(&i) => self.records[i] = record,
            None => {
                self.at.insert(record.0.clone(), self.records.len());
                self.records.push(record);
            }
        }
    }

    /// Takes the records made so far.
    pub fn take(&mut self) -> Vec<Record> {
        self.at = std::collections::HashMap::new();
        std::mem::take(&mut self.records)
    }
}

/// The record of a commit, or of its deletion (`None`).
pub fn commit_record(key: &Key, value: Option<&Committed>) -> Record {
    let mut k = Vec::new();
    COMMIT_KEY.encode(&mut k, PLAIN);
    key.0.encode(&mut k, PLAIN);
    key.1.encode(&mut k, PLAIN);
    key.2.encode(&mut k, PLAIN);
    let v = value.map(|value| {
        let mut v = Vec::new();
        value.offset.encode(&mut v, PLAIN);
        value.leader_epoch.encode(&mut v, PLAIN);
        value.metadata.encode(&mut v, PLAIN);
        v
    });
    (k, v)
}

/// The record of a classic group's metadata, or of its deletion (`None`).
pub fn group_record(group: &str, snapshot: Option<Vec<u8>>) -> Record {
    keyed_group_record(GROUP_KEY, group, snapshot)
}

/// The record of a consumer-protocol group's metadata, or of its deletion (`None`).
pub fn consumer_group_record(group: &str, snapshot: Option<Vec<u8>>) -> Record {
    keyed_group_record(CONSUMER_GROUP_KEY, group, snapshot)
}

fn keyed_group_record(format: i16, group: &str, snapshot: Option<Vec<u8>>) -> Record {
    let mut k = Vec::new();
    format.encode(&mut k, PLAIN);
    group.to_owned().encode(&mut k, PLAIN);
    (k, snapshot)
}

/// Decodes a record written by [`commit_record`] or [`group_record`], whose timestamp is
/// `timestamp`; `None` for a record of another format.
pub fn decode(key: &[u8], value: Option<&[u8]>, timestamp: i64) -> Option<Entry> {
    let mut k = Reader::new(key);
    match i16::decode(&mut k, PLAIN).ok()? {
        COMMIT_KEY => {
            let group = String::decode(&mut k, PLAIN).ok()?;
            let topic = String::decode(&mut k, PLAIN).ok()?;
            let partition = i32::decode(&mut k, PLAIN).ok()?;
            let committed = match value {
                None => None,
                Some(value) => {
                    let mut v = Reader::new(value);
                    Some(Committed {
                        offset: i64::decode(&mut v, PLAIN).ok()?,
                        leader_epoch: i32::decode(&mut v, PLAIN).ok()?,
                        metadata: Option::<String>::decode(&mut v, PLAIN).ok()?,
                        commit_ms: timestamp,
                    })
                }
            };
            Some(Entry::Commit((group, topic, partition), committed))
        }
        GROUP_KEY => {
            let group = String::decode(&mut k, PLAIN).ok()?;
            Some(Entry::Group(group, value.map(<[u8]>::to_vec)))
        }
        CONSUMER_GROUP_KEY => {
            let group = String::decode(&mut k, PLAIN).ok()?;
            Some(Entry::ConsumerGroup(group, value.map(<[u8]>::to_vec)))
        }
        _ => None,
    }
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

    /// Every group with a committed position.
    pub fn groups(&self) -> Vec<String> {
        let mut out: Vec<String> = self.map.keys().map(|(g, _, _)| g.clone()).collect();
        out.dedup();
        out
    }

    /// Deletes a position.
    pub fn remove(&mut self, key: &Key) {
        self.map.remove(key);
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

    /// Every position, by group, topic and partition.
    pub fn iter(&self) -> impl Iterator<Item = (&Key, &Committed)> {
        self.map.iter()
    }

    /// Forgets a deleted topic's positions.
    pub fn forget_topic(&mut self, topic: &str) {
        self.map.retain(|(_, t, _), _| t != topic);
    }
}

/// Every record of `records` decoded (ones of other formats left out), for tests.
#[cfg(test)]
pub fn entries(records: &[Record]) -> Vec<Entry> {
    records
        .iter()
        .filter_map(|(k, v)| decode(k, v.as_deref(), 0))
        .collect()
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
            commit_ms: 1_700_000_000_000,
        };
        let (k, v) = commit_record(&key, Some(&value));
        assert_eq!(
            decode(&k, v.as_deref(), value.commit_ms),
            Some(Entry::Commit(key.clone(), Some(value)))
        );
        assert_eq!(decode(&k[..3], v.as_deref(), 0), None);
        let (k, v) = commit_record(&key, None);
        assert_eq!(decode(&k, v.as_deref(), 0), Some(Entry::Commit(key, None)));
        let (k, v) = group_record("g", Some(vec![1, 2]));
        assert_eq!(
            decode(&k, v.as_deref(), 0),
            Some(Entry::Group("g".into(), Some(vec![1, 2])))
        );
    }

    #[test]
    fn a_group_sees_only_its_own() {
        let mut c = CommittedOffsets::default();
        let at = |offset| Committed {
            offset,
            leader_epoch: -1,
            metadata: None,
            commit_ms: 0,
        };
        c.set(("a".into(), "t".into(), 0), at(1));
        c.set(("b".into(), "t".into(), 0), at(2));
        c.set(("b".into(), "u".into(), 1), at(3));
        let b: Vec<i64> = c.group("b").map(|(_, v)| v.offset).collect();
        assert_eq!(b, [2, 3]);
    }
}
