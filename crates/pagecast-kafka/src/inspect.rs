//! What `pagecast groups` asks a broker and prints: the groups, and for one group
//! what `kafka-consumer-groups --describe` shows, partition by partition: committed
//! offset, log end offset, lag, and the member that owns it.

use std::collections::BTreeMap;
use std::io;
use std::net::SocketAddr;

use crate::client::{self, Client};
use crate::codec::{Reader, Wire};
use crate::messages::describe_groups::{DescribeGroupsRequest, DescribeGroupsResponse};
use crate::messages::list_groups::{ListGroupsRequest, ListGroupsResponse};
use crate::messages::list_offsets::{
    LATEST, ListOffsetsPartition, ListOffsetsRequest, ListOffsetsResponse, ListOffsetsTopic,
};
use crate::messages::offset_fetch::{OffsetFetchRequest, OffsetFetchResponse};

const LIST_GROUPS_VERSION: i16 = 2;
const DESCRIBE_GROUPS_VERSION: i16 = 4;
const OFFSET_FETCH_VERSION: i16 = 5;

/// A group as listed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListedGroup {
    /// Group ID.
    pub group: String,
    /// Protocol type.
    pub protocol_type: String,
}

/// One row of a group's description.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Row {
    /// Topic.
    pub topic: String,
    /// Partition.
    pub partition: i32,
    /// Committed offset, if any.
    pub committed: Option<i64>,
    /// Log end offset.
    pub log_end: i64,
    /// Owning member: ID, host, client ID.
    pub owner: Option<(String, String, String)>,
}

impl Row {
    /// Log end minus committed, if committed.
    pub fn lag(&self) -> Option<i64> {
        self.committed.map(|c| (self.log_end - c).max(0))
    }
}

/// A group's description.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Description {
    /// Group ID.
    pub group: String,
    /// State name.
    pub state: String,
    /// Members.
    pub members: usize,
    /// One row per partition the group owns or has committed.
    pub rows: Vec<Row>,
}

fn invalid(what: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, what)
}

/// The groups a broker coordinates.
pub fn list_groups(addr: SocketAddr) -> io::Result<Vec<ListedGroup>> {
    let mut c = Client::connect(addr, "pagecast-groups")?;
    let resp: ListGroupsResponse = c.call(LIST_GROUPS_VERSION, &ListGroupsRequest::default())?;
    if resp.error_code != 0 {
        return Err(invalid(format!(
            "ListGroups: error code {}",
            resp.error_code
        )));
    }
    Ok(resp
        .groups
        .into_iter()
        .map(|g| ListedGroup {
            group: g.group_id,
            protocol_type: g.protocol_type,
        })
        .collect())
}

/// A consumer protocol subscription to `topics`: version 0, the topic names, no user
/// data, as a classic member's JoinGroup metadata carries it.
pub fn subscription(topics: &[&str]) -> Vec<u8> {
    let plain = crate::codec::PLAIN;
    let mut out = Vec::new();
    0i16.encode(&mut out, plain);
    let names: Vec<String> = topics.iter().map(|t| (*t).to_owned()).collect();
    names.encode(&mut out, plain);
    (-1i32).encode(&mut out, plain);
    out
}

/// The topics of a consumer protocol subscription (version, then the topic names);
/// `None` if it cannot be read.
pub fn subscribed_topics(subscription: &[u8]) -> Option<Vec<String>> {
    let plain = crate::codec::PLAIN;
    let mut r = Reader::new(subscription);
    i16::decode(&mut r, plain).ok()?;
    Vec::<String>::decode(&mut r, plain).ok()
}

/// The partitions of a consumer protocol assignment (version, then topics with their
/// partitions).
pub fn assigned_partitions(assignment: &[u8]) -> Vec<(String, i32)> {
    let plain = crate::codec::PLAIN;
    let mut r = Reader::new(assignment);
    if i16::decode(&mut r, plain).is_err() {
        return Vec::new();
    }
    let Ok(n) = r.count(false, 2) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for _ in 0..n.unwrap_or(0) {
        let (Ok(topic), Ok(partitions)) = (
            String::decode(&mut r, plain),
            Vec::<i32>::decode(&mut r, plain),
        ) else {
            break;
        };
        out.extend(partitions.into_iter().map(|p| (topic.clone(), p)));
    }
    out
}

/// A group's state, members and positions.
pub fn describe_group(addr: SocketAddr, group: &str) -> io::Result<Description> {
    let mut c = Client::connect(addr, "pagecast-groups")?;
    let described: DescribeGroupsResponse = c.call(
        DESCRIBE_GROUPS_VERSION,
        &DescribeGroupsRequest {
            groups: vec![group.to_owned()],
            ..Default::default()
        },
    )?;
    let d = described
        .groups
        .into_iter()
        .next()
        .ok_or_else(|| invalid("DescribeGroups answered no group".into()))?;
    let mut owners: BTreeMap<(String, i32), (String, String, String)> = BTreeMap::new();
    if d.protocol_type == "consumer" {
        for m in &d.members {
            for tp in assigned_partitions(&m.member_assignment.0) {
                owners.insert(
                    tp,
                    (
                        m.member_id.clone(),
                        m.client_host.clone(),
                        m.client_id.clone(),
                    ),
                );
            }
        }
    }
    let fetched: OffsetFetchResponse = c.call(
        OFFSET_FETCH_VERSION,
        &OffsetFetchRequest {
            group_id: group.to_owned(),
            topics: None,
            ..Default::default()
        },
    )?;
    let mut committed: BTreeMap<(String, i32), i64> = BTreeMap::new();
    for t in fetched.topics {
        for p in t.partitions.into_iter().filter(|p| p.committed_offset >= 0) {
            committed.insert((t.name.clone(), p.partition_index), p.committed_offset);
        }
    }
    let mut keys: Vec<(String, i32)> = owners.keys().chain(committed.keys()).cloned().collect();
    keys.sort();
    keys.dedup();
    let mut by_topic: BTreeMap<String, Vec<i32>> = BTreeMap::new();
    for (t, p) in &keys {
        by_topic.entry(t.clone()).or_default().push(*p);
    }
    let ends: ListOffsetsResponse = c.call(
        client::LIST_OFFSETS_VERSION,
        &ListOffsetsRequest {
            replica_id: -1,
            isolation_level: 0,
            topics: by_topic
                .into_iter()
                .map(|(name, partitions)| ListOffsetsTopic {
                    name,
                    partitions: partitions
                        .into_iter()
                        .map(|p| ListOffsetsPartition {
                            partition_index: p,
                            timestamp: LATEST,
                            ..Default::default()
                        })
                        .collect(),
                })
                .collect(),
        },
    )?;
    let mut log_ends: BTreeMap<(String, i32), i64> = BTreeMap::new();
    for t in ends.topics {
        for p in t.partitions {
            log_ends.insert((t.name.clone(), p.partition_index), p.offset);
        }
    }
    let rows = keys
        .into_iter()
        .map(|key| Row {
            committed: committed.get(&key).copied(),
            log_end: log_ends.get(&key).copied().unwrap_or(-1),
            owner: owners.get(&key).cloned(),
            topic: key.0,
            partition: key.1,
        })
        .collect();
    Ok(Description {
        group: group.to_owned(),
        state: d.group_state,
        members: d.members.len(),
        rows,
    })
}

/// The description as `kafka-consumer-groups --describe` prints it.
pub fn text(d: &Description) -> String {
    let mut out = format!(
        "Consumer group '{}' is {} with {} member(s).\n\n",
        d.group, d.state, d.members
    );
    let dash = || "-".to_owned();
    let mut table = vec![[
        "GROUP".to_owned(),
        "TOPIC".into(),
        "PARTITION".into(),
        "CURRENT-OFFSET".into(),
        "LOG-END-OFFSET".into(),
        "LAG".into(),
        "CONSUMER-ID".into(),
        "HOST".into(),
        "CLIENT-ID".into(),
    ]];
    for r in &d.rows {
        let (id, host, client) = r.owner.clone().unwrap_or_else(|| (dash(), dash(), dash()));
        table.push([
            d.group.clone(),
            r.topic.clone(),
            r.partition.to_string(),
            r.committed.map_or_else(dash, |c| c.to_string()),
            r.log_end.to_string(),
            r.lag().map_or_else(dash, |l| l.to_string()),
            id,
            host,
            client,
        ]);
    }
    let widths: Vec<usize> = (0..9)
        .map(|i| table.iter().map(|row| row[i].len()).max().unwrap_or(0))
        .collect();
    for row in table {
        let line: Vec<String> = row
            .iter()
            .zip(&widths)
            .map(|(cell, w)| format!("{cell:<w$}"))
            .collect();
        out.push_str(line.join(" ").trim_end());
        out.push('\n');
    }
    out
}
