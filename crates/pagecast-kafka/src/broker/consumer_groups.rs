//! The KIP-848 consumer protocol's coordinator: the broker assigns partitions itself and
//! hands them out incrementally, so members never stop the world to rebalance.
//!
//! - A member joins, heartbeats and leaves with ConsumerGroupHeartbeat (epoch 0 to
//!   join, -1 to leave). Any change of members, subscriptions or the subscribed
//!   topics' partitions bumps the group epoch, and the assignor (uniform or range)
//!   computes a new target assignment for that epoch.
//! - Each member converges on its target one heartbeat at a time: partitions it must
//!   give up are taken from its assignment first, and it keeps its old epoch until it
//!   reports (in `topic_partitions`) that it no longer owns them. Then it moves to the
//!   new epoch and is given the partitions of its target that no other member still
//!   holds; the rest follow as their owners let go.
//! - A member that sends no heartbeat within the session timeout is removed; one that
//!   does not give up partitions within its rebalance timeout is fenced and removed.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::time::{Duration, Instant};

use super::offsets::{self, Record, Records};
use crate::codec::Uuid;
use crate::error::ErrorCode;
use crate::wire_struct;

wire_struct! {
    /// A partition, as kept across restarts.
    pub struct TpSnapshot {
        /// Topic ID.
        topic_id: Uuid => 0..;
        /// Partition.
        partition: i32 => 0..;
    }
}

wire_struct! {
    /// A member, as kept across restarts.
    pub struct MemberSnapshot {
        /// Member ID.
        member_id: String => 0..;
        /// Member epoch.
        epoch: i32 => 0..;
        /// Static instance ID.
        instance_id: Option<String> => 0..;
        /// Rack.
        rack_id: Option<String> => 0..;
        /// Client ID.
        client_id: String => 0..;
        /// Client host.
        client_host: String => 0..;
        /// Subscribed topics.
        subscribed: Vec<String> => 0..;
        /// Rebalance timeout, ms.
        rebalance_timeout_ms: i64 => 0..;
        /// What it was told it owns.
        assigned: Vec<TpSnapshot> => 0..;
        /// What it is giving up.
        revoking: Vec<TpSnapshot> => 0..;
        /// Its target.
        target: Vec<TpSnapshot> => 0..;
    }
}

wire_struct! {
    /// A consumer-protocol group, as kept across restarts in the internal partition.
    pub struct GroupSnapshot {
        /// Format version.
        format: i16 => 0.., default 1;
        /// Group epoch.
        epoch: i32 => 0..;
        /// Target assignment epoch.
        assignment_epoch: i32 => 0..;
        /// Assignor.
        assignor: String => 0..;
        /// Members.
        members: Vec<MemberSnapshot> => 0..;
    }
}

impl GroupSnapshot {
    /// The bytes kept.
    pub fn encode_bytes(&self) -> Vec<u8> {
        crate::codec::to_plain_bytes(self)
    }

    /// Reads bytes written by [`GroupSnapshot::encode_bytes`]; `None` if they are not.
    pub fn decode_bytes(bytes: &[u8]) -> Option<GroupSnapshot> {
        crate::codec::from_plain_bytes::<GroupSnapshot>(bytes)
            .ok()
            .filter(|s| s.format == 1)
    }
}

fn snap_set(set: &BTreeSet<Tp>) -> Vec<TpSnapshot> {
    set.iter()
        .map(|(topic_id, partition)| TpSnapshot {
            topic_id: *topic_id,
            partition: *partition,
        })
        .collect()
}

fn from_snap(v: Vec<TpSnapshot>) -> BTreeSet<Tp> {
    v.into_iter().map(|t| (t.topic_id, t.partition)).collect()
}

/// A partition, by topic ID.
pub type Tp = (Uuid, i32);

/// The subscribable topics: name to ID and partition count.
pub type TopicMap = BTreeMap<String, (Uuid, i32)>;

/// Settings of consumer-protocol groups, Kafka's defaults.
#[derive(Debug, Clone, Copy)]
pub struct ConsumerGroupConfig {
    /// `group.consumer.session.timeout.ms`.
    pub session_timeout: Duration,
    /// `group.consumer.heartbeat.interval.ms`.
    pub heartbeat_interval: Duration,
}

impl Default for ConsumerGroupConfig {
    fn default() -> ConsumerGroupConfig {
        ConsumerGroupConfig {
            session_timeout: Duration::from_secs(45),
            heartbeat_interval: Duration::from_secs(5),
        }
    }
}

/// The server-side assignors.
pub const ASSIGNORS: [&str; 2] = ["uniform", "range"];

/// A heartbeat, as the coordinator needs it.
#[derive(Debug, Clone, Default)]
pub struct Beat {
    /// Group ID.
    pub group: String,
    /// Member ID (empty to have one made).
    pub member_id: String,
    /// Member epoch: 0 join, -1 leave, -2 static leave, else current.
    pub epoch: i32,
    /// Static instance ID.
    pub instance_id: Option<String>,
    /// Rack.
    pub rack_id: Option<String>,
    /// Client ID.
    pub client_id: String,
    /// Client host.
    pub client_host: String,
    /// Rebalance timeout, if given.
    pub rebalance_timeout: Option<Duration>,
    /// Subscribed topics, if given.
    pub subscribed: Option<Vec<String>>,
    /// Assignor, if given.
    pub assignor: Option<String>,
    /// Partitions the member owns, if reported.
    pub owned: Option<BTreeSet<Tp>>,
}

/// A heartbeat's answer.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BeatAnswer {
    /// Error.
    pub error: Option<ErrorCode>,
    /// Member ID.
    pub member_id: String,
    /// Member epoch.
    pub epoch: i32,
    /// How often to heartbeat.
    pub heartbeat_interval: Duration,
    /// The member's new assignment, if it changed.
    pub assignment: Option<BTreeSet<Tp>>,
}

#[derive(Debug, Clone)]
struct Member {
    epoch: i32,
    instance_id: Option<String>,
    rack_id: Option<String>,
    client_id: String,
    client_host: String,
    subscribed: Vec<String>,
    rebalance_timeout: Duration,
    last_heard: Instant,
    /// What the member was told it owns.
    assigned: BTreeSet<Tp>,
    /// Partitions taken away that it has not yet reported giving up.
    revoking: BTreeSet<Tp>,
    revoking_since: Option<Instant>,
    /// Whether the member must be sent its assignment on its next heartbeat.
    changed: bool,
}

/// One consumer-protocol group.
#[derive(Debug, Clone, Default)]
pub struct Group {
    id: String,
    epoch: i32,
    assignment_epoch: i32,
    assignor: String,
    members: BTreeMap<String, Member>,
    target: BTreeMap<String, BTreeSet<Tp>>,
    /// The subscribed topics' IDs and partition counts the target was computed from.
    basis: Vec<(Uuid, i32)>,
}

/// A member as ConsumerGroupDescribe shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DescribedMember {
    /// Member ID.
    pub member_id: String,
    /// Static instance ID.
    pub instance_id: Option<String>,
    /// Rack.
    pub rack_id: Option<String>,
    /// Member epoch.
    pub epoch: i32,
    /// Client ID.
    pub client_id: String,
    /// Client host.
    pub client_host: String,
    /// Subscribed topics.
    pub subscribed: Vec<String>,
    /// Current assignment.
    pub assigned: BTreeSet<Tp>,
    /// Target assignment.
    pub target: BTreeSet<Tp>,
}

/// A group as ConsumerGroupDescribe shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Described {
    /// State: Empty, Assigning, Reconciling or Stable.
    pub state: &'static str,
    /// Group epoch.
    pub epoch: i32,
    /// Target assignment epoch.
    pub assignment_epoch: i32,
    /// Assignor.
    pub assignor: String,
    /// Members.
    pub members: Vec<DescribedMember>,
}

/// Every consumer-protocol group.
#[derive(Debug, Default)]
pub struct ConsumerGroups {
    config: ConsumerGroupConfig,
    groups: HashMap<String, Group>,
    /// What the operations since [`ConsumerGroups::take_records`] imply for the
    /// internal partition.
    records: Records,
}

fn fail(error: ErrorCode, member_id: &str, epoch: i32) -> BeatAnswer {
    BeatAnswer {
        error: Some(error),
        member_id: member_id.to_owned(),
        epoch,
        ..Default::default()
    }
}

impl Group {
    /// The subscribed topics' partitions, as the assignors see them.
    fn basis(&self, topics: &TopicMap) -> Vec<(Uuid, i32)> {
        let names: BTreeSet<&String> = self.members.values().flat_map(|m| &m.subscribed).collect();
        names
            .into_iter()
            .filter_map(|n| topics.get(n).copied())
            .collect()
    }

    /// Bumps the epoch and computes the target assignment for it.
    fn rebalance(&mut self, topics: &TopicMap, out: &mut Records) {
        self.epoch += 1;
        self.basis = self.basis(topics);
        self.target = assign(&self.assignor, &self.members, &self.target, topics);
        self.assignment_epoch = self.epoch;
        self.keep(out);
    }

    /// Adds the record of what this group keeps across a restart to `out`.
    fn keep(&self, out: &mut Records) {
        let snapshot = self.snapshot().encode_bytes();
        out.push(offsets::consumer_group_record(&self.id, Some(snapshot)));
    }

    /// What this group keeps across a restart.
    fn snapshot(&self) -> GroupSnapshot {
        GroupSnapshot {
            format: 1,
            epoch: self.epoch,
            assignment_epoch: self.assignment_epoch,
            assignor: self.assignor.clone(),
            members: self
                .members
                .iter()
                .map(|(mid, m)| MemberSnapshot {
                    member_id: mid.clone(),
                    epoch: m.epoch,
                    instance_id: m.instance_id.clone(),
                    rack_id: m.rack_id.clone(),
                    client_id: m.client_id.clone(),
                    client_host: m.client_host.clone(),
                    subscribed: m.subscribed.clone(),
                    rebalance_timeout_ms: m.rebalance_timeout.as_millis() as i64,
                    assigned: snap_set(&m.assigned),
                    revoking: snap_set(&m.revoking),
                    target: snap_set(self.target.get(mid).unwrap_or(&BTreeSet::new())),
                })
                .collect(),
        }
    }

    /// Moves a member toward its target, keeping the group if its assignment changed.
    fn reconcile(&mut self, id: &str, now: Instant, out: &mut Records) {
        let target = self.target.get(id).cloned().unwrap_or_default();
        let held_by_others: BTreeSet<Tp> = self
            .members
            .iter()
            .filter(|(other, _)| *other != id)
            .flat_map(|(_, m)| m.assigned.iter().chain(&m.revoking).copied())
            .collect();
        let epoch = self.assignment_epoch;
        let Some(m) = self.members.get_mut(id) else {
            return;
        };
        let revoke: BTreeSet<Tp> = m.assigned.difference(&target).copied().collect();
        if !revoke.is_empty() {
            m.assigned.retain(|tp| !revoke.contains(tp));
            m.revoking.extend(revoke);
            m.revoking_since.get_or_insert(now);
            m.changed = true;
        }
        if !m.revoking.is_empty() {
            return;
        }
        m.revoking_since = None;
        if m.epoch != epoch {
            m.epoch = epoch;
            m.changed = true;
        }
        let add: Vec<Tp> = target
            .difference(&m.assigned)
            .filter(|tp| !held_by_others.contains(tp))
            .copied()
            .collect();
        if !add.is_empty() {
            m.assigned.extend(add);
            m.changed = true;
        }
        if m.changed {
            self.keep(out);
        }
    }

    fn state(&self) -> &'static str {
        let converged = |(id, m): (&String, &Member)| {
            m.epoch == self.assignment_epoch
                && m.revoking.is_empty()
                && self.target.get(id).is_some_and(|t| *t == m.assigned)
        };
        if self.members.is_empty() {
            "Empty"
        } else if self.members.iter().all(converged) {
            "Stable"
        } else {
            "Reconciling"
        }
    }
}

/// The target assignment by `assignor`: "range" gives each member a contiguous run of
/// each topic it subscribes to; "uniform" spreads all partitions evenly, keeping each
/// partition with its current target owner where that does not unbalance the group.
fn assign(
    assignor: &str,
    members: &BTreeMap<String, Member>,
    previous: &BTreeMap<String, BTreeSet<Tp>>,
    topics: &TopicMap,
) -> BTreeMap<String, BTreeSet<Tp>> {
    let mut out: BTreeMap<String, BTreeSet<Tp>> = members
        .keys()
        .map(|id| (id.clone(), BTreeSet::new()))
        .collect();
    let subscribers = |name: &str| -> Vec<&String> {
        members
            .iter()
            .filter(|(_, m)| m.subscribed.iter().any(|s| s == name))
            .map(|(id, _)| id)
            .collect()
    };
    if assignor == "range" {
        for (name, (id, count)) in topics {
            let subs = subscribers(name);
            if subs.is_empty() {
                continue;
            }
            let n = subs.len() as i32;
            let (base, extra) = (count / n, count % n);
            let mut next = 0;
            for (i, member) in subs.iter().enumerate() {
                let take = base + i32::from((i as i32) < extra);
                if let Some(set) = out.get_mut(*member) {
                    set.extend((next..next + take).map(|p| (*id, p)));
                }
                next += take;
            }
        }
        return out;
    }
    // Uniform: every partition to a subscriber, at most `ceil(total / members)` each,
    // the previous owner first.
    let mut partitions: Vec<(Tp, Vec<&String>)> = Vec::new();
    for (name, (id, count)) in topics {
        let subs = subscribers(name);
        if !subs.is_empty() {
            partitions.extend((0..*count).map(|p| ((*id, p), subs.clone())));
        }
    }
    let quota = partitions.len().div_ceil(members.len().max(1));
    let mut unplaced = Vec::new();
    for (tp, subs) in &partitions {
        let keeper = previous
            .iter()
            .find(|(id, set)| set.contains(tp) && subs.contains(id))
            .map(|(id, _)| id.clone());
        match keeper {
            Some(id) if out.get(&id).is_some_and(|s| s.len() < quota) => {
                out.entry(id).or_default().insert(*tp);
            }
            _ => unplaced.push((*tp, subs)),
        }
    }
    for (tp, subs) in unplaced {
        if let Some(least) = subs
            .iter()
            .min_by_key(|id| (out.get(**id).map_or(0, BTreeSet::len), (**id).clone()))
        {
            out.entry((*least).clone()).or_default().insert(tp);
        }
    }
    out
}

impl ConsumerGroups {
    /// Consumer-protocol groups with `config`.
    pub fn new(config: ConsumerGroupConfig) -> ConsumerGroups {
        ConsumerGroups {
            config,
            groups: HashMap::new(),
            records: Records::default(),
        }
    }

    /// Whether `group` is a consumer-protocol group with members.
    pub fn has_members(&self, group: &str) -> bool {
        self.groups
            .get(group)
            .is_some_and(|g| !g.members.is_empty())
    }

    /// Handles a ConsumerGroupHeartbeat. `new_id` makes a member ID when the member
    /// has none (version 0).
    pub fn heartbeat(
        &mut self,
        b: Beat,
        topics: &TopicMap,
        new_id: impl FnOnce() -> String,
        now: Instant,
    ) -> BeatAnswer {
        if b.group.is_empty() {
            return fail(ErrorCode::INVALID_GROUP_ID, &b.member_id, b.epoch);
        }
        if let Some(a) = &b.assignor
            && !ASSIGNORS.contains(&a.as_str())
        {
            return fail(ErrorCode::UNSUPPORTED_ASSIGNOR, &b.member_id, b.epoch);
        }
        let interval = self.config.heartbeat_interval;
        // Kafka creates a consumer group only for a member joining at epoch 0, with its
        // subscription: any other heartbeat to a group that does not exist is refused
        // and leaves nothing behind.
        if !self.groups.contains_key(&b.group) {
            if b.epoch != 0 {
                return fail(ErrorCode::GROUP_ID_NOT_FOUND, &b.member_id, b.epoch);
            }
            if b.subscribed.is_none() {
                return fail(ErrorCode::INVALID_REQUEST, &b.member_id, 0);
            }
        }
        let group = self.groups.entry(b.group.clone()).or_insert_with(|| Group {
            id: b.group.clone(),
            assignor: "uniform".into(),
            ..Default::default()
        });
        let id = match b.epoch {
            -1 | -2 => {
                if group.members.remove(&b.member_id).is_none() {
                    return fail(ErrorCode::UNKNOWN_MEMBER_ID, &b.member_id, b.epoch);
                }
                group.target.remove(&b.member_id);
                group.rebalance(topics, &mut self.records);
                return BeatAnswer {
                    member_id: b.member_id,
                    epoch: b.epoch,
                    heartbeat_interval: interval,
                    ..Default::default()
                };
            }
            0 => {
                let Some(subscribed) = b.subscribed.clone() else {
                    return fail(ErrorCode::INVALID_REQUEST, &b.member_id, 0);
                };
                let id = if b.member_id.is_empty() {
                    new_id()
                } else {
                    b.member_id.clone()
                };
                // A static member that comes back replaces its old incarnation.
                if let Some(instance) = &b.instance_id {
                    let old: Vec<String> = group
                        .members
                        .iter()
                        .filter(|(mid, m)| m.instance_id.as_ref() == Some(instance) && **mid != id)
                        .map(|(mid, _)| mid.clone())
                        .collect();
                    for mid in old {
                        group.members.remove(&mid);
                        group.target.remove(&mid);
                    }
                }
                if let Some(a) = &b.assignor {
                    group.assignor = a.clone();
                }
                group.members.insert(
                    id.clone(),
                    Member {
                        epoch: 0,
                        instance_id: b.instance_id.clone(),
                        rack_id: b.rack_id.clone(),
                        client_id: b.client_id.clone(),
                        client_host: b.client_host.clone(),
                        subscribed,
                        rebalance_timeout: b.rebalance_timeout.unwrap_or(Duration::from_secs(300)),
                        last_heard: now,
                        assigned: BTreeSet::new(),
                        revoking: BTreeSet::new(),
                        revoking_since: None,
                        changed: true,
                    },
                );
                group.rebalance(topics, &mut self.records);
                id
            }
            epoch => {
                let Some(m) = group.members.get_mut(&b.member_id) else {
                    return fail(ErrorCode::UNKNOWN_MEMBER_ID, &b.member_id, epoch);
                };
                if epoch != m.epoch {
                    return fail(ErrorCode::FENCED_MEMBER_EPOCH, &b.member_id, epoch);
                }
                m.last_heard = now;
                if let Some(t) = b.rebalance_timeout {
                    m.rebalance_timeout = t;
                }
                if let Some(owned) = &b.owned {
                    m.revoking.retain(|tp| owned.contains(tp));
                }
                let resubscribed = b.subscribed.as_ref().is_some_and(|s| *s != m.subscribed);
                if let Some(s) = b.subscribed.clone() {
                    m.subscribed = s;
                }
                if resubscribed || group.basis(topics) != group.basis {
                    group.rebalance(topics, &mut self.records);
                }
                b.member_id.clone()
            }
        };
        group.reconcile(&id, now, &mut self.records);
        let Some(m) = group.members.get_mut(&id) else {
            return fail(ErrorCode::UNKNOWN_MEMBER_ID, &id, b.epoch);
        };
        let assignment = std::mem::take(&mut m.changed).then(|| m.assigned.clone());
        BeatAnswer {
            error: None,
            member_id: id,
            epoch: m.epoch,
            heartbeat_interval: interval,
            assignment,
        }
    }

    /// Whether a commit with this member and epoch may store offsets: `Some` answer
    /// for consumer-protocol groups, `None` for groups this coordinator does not hold.
    pub fn check_commit(
        &self,
        group: &str,
        member: &str,
        epoch: i32,
    ) -> Option<Result<(), ErrorCode>> {
        let g = self.groups.get(group)?;
        if g.members.is_empty() && member.is_empty() && epoch < 0 {
            return Some(Ok(()));
        }
        let Some(m) = g.members.get(member) else {
            return Some(Err(ErrorCode::UNKNOWN_MEMBER_ID));
        };
        Some(if epoch > m.epoch {
            Err(ErrorCode::FENCED_MEMBER_EPOCH)
        } else if epoch < m.epoch {
            Err(ErrorCode::STALE_MEMBER_EPOCH)
        } else {
            Ok(())
        })
    }

    /// When a member's session lapses, and when its time to give up revoked partitions
    /// does; `None` if there is no such member.
    pub fn deadlines(&self, group: &str, member: &str) -> Option<(Instant, Option<Instant>)> {
        let m = self.groups.get(group)?.members.get(member)?;
        Some((
            m.last_heard + self.config.session_timeout,
            m.revoking_since.map(|t| t + m.rebalance_timeout),
        ))
    }

    /// The topics a group's members subscribe to, if the group exists.
    pub fn subscribed(&self, group: &str) -> Option<Vec<String>> {
        let g = self.groups.get(group)?;
        let mut topics: Vec<String> = g
            .members
            .values()
            .flat_map(|m| m.subscribed.iter().cloned())
            .collect();
        topics.sort();
        topics.dedup();
        Some(topics)
    }

    /// Removes a group without members, with the tombstone of its metadata; whether
    /// it did.
    pub fn remove_if_empty(&mut self, group: &str) -> bool {
        let empty = self.groups.get(group).is_some_and(|g| g.members.is_empty());
        if empty {
            self.groups.remove(group);
            self.records
                .push(offsets::consumer_group_record(group, None));
        }
        empty
    }

    /// The members of a group.
    pub fn member_ids(&self, group: &str) -> Vec<String> {
        self.groups
            .get(group)
            .map(|g| g.members.keys().cloned().collect())
            .unwrap_or_default()
    }

    /// Removes `member` if its session has lapsed or it has held on to revoked
    /// partitions past its rebalance timeout, and rebalances the rest.
    pub fn expire(&mut self, group: &str, member: &str, topics: &TopicMap, now: Instant) {
        let Some((session, revocation)) = self.deadlines(group, member) else {
            return;
        };
        if now < session && revocation.is_none_or(|t| now < t) {
            return;
        }
        let Some(g) = self.groups.get_mut(group) else {
            return;
        };
        eprintln!("pagecast broker: consumer group member {member} lapsed; removing it");
        g.members.remove(member);
        g.target.remove(member);
        g.rebalance(topics, &mut self.records);
    }

    /// Every group: ID and state.
    pub fn list(&self) -> Vec<(String, &'static str)> {
        let mut out: Vec<_> = self
            .groups
            .iter()
            .map(|(id, g)| (id.clone(), g.state()))
            .collect();
        out.sort();
        out
    }

    /// A group as ConsumerGroupDescribe shows it.
    pub fn describe(&self, group: &str) -> Option<Described> {
        let g = self.groups.get(group)?;
        Some(Described {
            state: g.state(),
            epoch: g.epoch,
            assignment_epoch: g.assignment_epoch,
            assignor: g.assignor.clone(),
            members: g
                .members
                .iter()
                .map(|(id, m)| DescribedMember {
                    member_id: id.clone(),
                    instance_id: m.instance_id.clone(),
                    rack_id: m.rack_id.clone(),
                    epoch: m.epoch,
                    client_id: m.client_id.clone(),
                    client_host: m.client_host.clone(),
                    subscribed: m.subscribed.clone(),
                    assigned: m.assigned.clone(),
                    target: g.target.get(id).cloned().unwrap_or_default(),
                })
                .collect(),
        })
    }

    /// The records implied by the operations since the last call.
    pub fn take_records(&mut self) -> Vec<Record> {
        self.records.take()
    }

    /// Restores a group kept before a restart; its members' sessions start now.
    pub fn restore(&mut self, group: &str, snap: GroupSnapshot, topics: &TopicMap, now: Instant) {
        let mut g = Group {
            id: group.to_owned(),
            epoch: snap.epoch,
            assignment_epoch: snap.assignment_epoch,
            assignor: snap.assignor,
            ..Default::default()
        };
        for m in snap.members {
            g.target.insert(m.member_id.clone(), from_snap(m.target));
            g.members.insert(
                m.member_id,
                Member {
                    epoch: m.epoch,
                    instance_id: m.instance_id,
                    rack_id: m.rack_id,
                    client_id: m.client_id,
                    client_host: m.client_host,
                    subscribed: m.subscribed,
                    rebalance_timeout: Duration::from_millis(m.rebalance_timeout_ms.max(0) as u64),
                    last_heard: now,
                    assigned: from_snap(m.assigned),
                    revoking: from_snap(m.revoking),
                    revoking_since: None,
                    changed: false,
                },
            );
        }
        g.basis = g.basis(topics);
        self.groups.insert(group.to_owned(), g);
    }

    /// Forgets an empty group, with the tombstone of its metadata.
    pub fn delete(&mut self, group: &str) -> Option<Result<(), ErrorCode>> {
        let g = self.groups.get(group)?;
        if !g.members.is_empty() {
            return Some(Err(ErrorCode::NON_EMPTY_GROUP));
        }
        self.remove_if_empty(group);
        Some(Ok(()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn topics() -> TopicMap {
        [("t".to_owned(), (Uuid([1; 16]), 6))].into()
    }

    fn beat(member: &str, epoch: i32) -> Beat {
        Beat {
            group: "g".into(),
            member_id: member.into(),
            epoch,
            subscribed: (epoch == 0).then(|| vec!["t".to_owned()]),
            client_id: "c".into(),
            ..Default::default()
        }
    }

    fn owned(set: &BTreeSet<Tp>) -> Option<BTreeSet<Tp>> {
        Some(set.clone())
    }

    /// Two members: the second join takes half the partitions from the first only
    /// after the first reports it gave them up.
    #[test]
    fn partitions_move_incrementally() {
        let mut c = ConsumerGroups::new(ConsumerGroupConfig::default());
        let now = Instant::now();
        let a = c.heartbeat(beat("", 0), &topics(), || "a".into(), now);
        assert_eq!((a.member_id.as_str(), a.epoch), ("a", 1));
        let a_set = a.assignment.unwrap();
        assert_eq!(a_set.len(), 6);
        let b = c.heartbeat(beat("", 0), &topics(), || "b".into(), now);
        assert_eq!(b.epoch, 2);
        assert_eq!(b.assignment.unwrap().len(), 0, "a still owns everything");
        // a is told to give three up, and keeps epoch 1 until it reports that it has.
        let mut ab = beat("a", 1);
        ab.owned = owned(&a_set);
        let a2 = c.heartbeat(ab.clone(), &topics(), || unreachable!(), now);
        let kept = a2.assignment.unwrap();
        assert_eq!((a2.epoch, kept.len()), (1, 3));
        ab.owned = owned(&kept);
        let a3 = c.heartbeat(ab, &topics(), || unreachable!(), now);
        assert_eq!(a3.epoch, 2);
        let b2 = c.heartbeat(beat("b", 2), &topics(), || unreachable!(), now);
        let b_set = b2.assignment.unwrap();
        assert_eq!(b_set.len(), 3);
        assert!(b_set.is_disjoint(&kept));
        assert_eq!(c.describe("g").unwrap().state, "Stable");
        assert_eq!(c.check_commit("g", "b", 2), Some(Ok(())));
        assert_eq!(
            c.check_commit("g", "b", 1),
            Some(Err(ErrorCode::STALE_MEMBER_EPOCH))
        );
        // b leaves: a gets everything back.
        let left = c.heartbeat(beat("b", -1), &topics(), || unreachable!(), now);
        assert_eq!(left.epoch, -1);
        let a4 = c.heartbeat(beat("a", 2), &topics(), || unreachable!(), now);
        assert_eq!((a4.epoch, a4.assignment.unwrap().len()), (3, 6));
    }

    #[test]
    fn lapsed_members_are_removed_and_wrong_epochs_fenced() {
        let mut c = ConsumerGroups::new(ConsumerGroupConfig {
            session_timeout: Duration::from_secs(10),
            heartbeat_interval: Duration::from_secs(1),
        });
        let now = Instant::now();
        c.heartbeat(beat("", 0), &topics(), || "a".into(), now);
        assert_eq!(
            c.heartbeat(beat("a", 7), &topics(), || unreachable!(), now)
                .error,
            Some(ErrorCode::FENCED_MEMBER_EPOCH)
        );
        assert_eq!(
            c.heartbeat(beat("z", 1), &topics(), || unreachable!(), now)
                .error,
            Some(ErrorCode::UNKNOWN_MEMBER_ID)
        );
        let mut bad = beat("", 0);
        bad.assignor = Some("sticky".into());
        assert_eq!(
            c.heartbeat(bad, &topics(), || "x".into(), now).error,
            Some(ErrorCode::UNSUPPORTED_ASSIGNOR)
        );
        let (session, revocation) = c.deadlines("g", "a").unwrap();
        assert_eq!((session, revocation), (now + Duration::from_secs(10), None));
        c.expire("g", "a", &topics(), session - Duration::from_millis(1));
        assert_eq!(c.describe("g").unwrap().state, "Stable", "not yet");
        c.expire("g", "a", &topics(), session);
        assert_eq!(c.describe("g").unwrap().state, "Empty", "at its deadline");
    }

    #[test]
    fn range_gives_contiguous_runs() {
        let mut c = ConsumerGroups::new(ConsumerGroupConfig::default());
        let now = Instant::now();
        let mut first = beat("", 0);
        first.assignor = Some("range".into());
        c.heartbeat(first, &topics(), || "a".into(), now);
        c.heartbeat(beat("", 0), &topics(), || "b".into(), now);
        let d = c.describe("g").unwrap();
        let target_a: Vec<i32> = d.members[0].target.iter().map(|(_, p)| *p).collect();
        assert_eq!(target_a, [0, 1, 2]);
        assert_eq!(d.assignor, "range");
    }

    #[test]
    fn a_group_comes_back_from_its_snapshot() {
        let mut c = ConsumerGroups::new(ConsumerGroupConfig::default());
        let now = Instant::now();
        let a = c.heartbeat(beat("", 0), &topics(), || "a".into(), now);
        let kept: Vec<(String, Vec<u8>)> = offsets::entries(&c.take_records())
            .into_iter()
            .filter_map(|e| match e {
                offsets::Entry::ConsumerGroup(g, Some(bytes)) => Some((g, bytes)),
                _ => None,
            })
            .collect();
        assert_eq!(
            kept.len(),
            1,
            "one record for the group, the last of its changes"
        );
        assert!(c.take_records().is_empty(), "taken once");
        let (group, bytes) = kept.into_iter().next().unwrap();
        assert_eq!(group, "g");
        let mut restarted = ConsumerGroups::new(ConsumerGroupConfig::default());
        restarted.restore(
            "g",
            GroupSnapshot::decode_bytes(&bytes).unwrap(),
            &topics(),
            now,
        );
        let again = restarted.heartbeat(beat("a", a.epoch), &topics(), || unreachable!(), now);
        assert_eq!(again.error, None, "the member carries on in its epoch");
        assert_eq!(again.epoch, a.epoch);
        assert_eq!(
            restarted.describe("g").unwrap().members[0].assigned.len(),
            6
        );
        assert!(GroupSnapshot::decode_bytes(b"junk").is_none());
    }
}
