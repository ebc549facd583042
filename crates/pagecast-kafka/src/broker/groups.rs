//! The classic group protocol's coordinator, as Kafka's `GroupCoordinator` runs it:
//! JoinGroup, SyncGroup, Heartbeat and LeaveGroup move each group through Empty,
//! PreparingRebalance, CompletingRebalance and Stable, one generation at a time.
//!
//! - A rebalance waits until every known member has rejoined, or until the longest
//!   rebalance timeout of the members has passed; members that did not rejoin are
//!   removed. A group's first rebalance waits `group.initial.rebalance.delay.ms` more
//!   (3 s by default), so that members starting together land in one generation.
//! - The protocol chosen is one every member supports, by the members' votes for their
//!   first choice among those. The leader is told every member's metadata; assignment
//!   is the clients' job, the coordinator relays the leader's assignments in SyncGroup.
//! - A member that sends no heartbeat (nor join or sync) within its session timeout is
//!   removed and the others rebalance. A member ID handed out with MEMBER_ID_REQUIRED
//!   (JoinGroup v4+) lapses if it is not used within the session timeout.
//!
//! Time is passed in, and waits are oneshot channels the connection awaits without
//! holding the coordinator's lock. Every deadline is a timer; [`Coordinator::expire`]
//! acts on those that are due (sessions, join phases, unused member IDs).

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

use tokio::sync::oneshot;

use super::consumer_groups::{Beat, BeatAnswer, ConsumerGroups, TopicMap};
use super::offsets::{self, CommittedOffsets, Key, Record, Records};
use super::timers::{Timer, Timers};
use crate::codec::Bytes;
use crate::error::ErrorCode;
use crate::inspect::subscribed_topics;
use crate::wire_struct;

wire_struct! {
    /// A protocol a member supports, as kept across restarts.
    pub struct ProtocolSnapshot {
        /// Protocol name.
        name: String => 0..;
        /// Member metadata for it.
        metadata: Bytes => 0..;
    }
}

wire_struct! {
    /// A member, as kept across restarts.
    pub struct MemberSnapshot {
        /// Member ID.
        member_id: String => 0..;
        /// Static instance ID.
        instance_id: Option<String> => 0..;
        /// Client ID.
        client_id: String => 0..;
        /// Client host.
        client_host: String => 0..;
        /// Session timeout, ms.
        session_timeout_ms: i32 => 0..;
        /// Rebalance timeout, ms.
        rebalance_timeout_ms: i32 => 0..;
        /// Protocols, preferred first.
        protocols: Vec<ProtocolSnapshot> => 0..;
        /// Assignment.
        assignment: Bytes => 0..;
    }
}

wire_struct! {
    /// A group's state as kept across restarts (Kafka's group metadata record): written
    /// to the internal partition when a generation becomes Stable and when the group
    /// empties.
    pub struct GroupSnapshot {
        /// Format version.
        format: i16 => 0.., default 1;
        /// Protocol type.
        protocol_type: Option<String> => 0..;
        /// Generation.
        generation: i32 => 0..;
        /// Protocol chosen.
        protocol: Option<String> => 0..;
        /// Leader.
        leader: Option<String> => 0..;
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

/// A group as DescribeGroups shows it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Described {
    /// State name.
    pub state: &'static str,
    /// Protocol type.
    pub protocol_type: String,
    /// Protocol chosen.
    pub protocol: String,
    /// Generation.
    pub generation: i32,
    /// Members: ID, instance ID, client ID, host, metadata for the chosen protocol,
    /// assignment.
    pub members: Vec<DescribedMember>,
}

/// A member as DescribeGroups shows it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DescribedMember {
    /// Member ID.
    pub member_id: String,
    /// Static instance ID.
    pub instance_id: Option<String>,
    /// Client ID.
    pub client_id: String,
    /// Client host.
    pub client_host: String,
    /// Metadata for the chosen protocol.
    pub metadata: Vec<u8>,
    /// Assignment.
    pub assignment: Vec<u8>,
}

/// Group settings, Kafka's defaults unless said otherwise.
#[derive(Debug, Clone, Copy)]
pub struct GroupConfig {
    /// Shortest session timeout a member may ask for (`group.min.session.timeout.ms`).
    pub min_session: Duration,
    /// Longest session timeout (`group.max.session.timeout.ms`).
    pub max_session: Duration,
    /// Extra wait of a group's first rebalance (`group.initial.rebalance.delay.ms`).
    pub initial_rebalance_delay: Duration,
    /// How long committed offsets outlive their group (`offsets.retention.minutes`,
    /// 7 days): see [`Coordinator::expire_offsets`].
    pub offsets_retention: Duration,
    /// How often offsets are checked for expiry
    /// (`offsets.retention.check.interval.ms`, 10 minutes).
    pub offsets_retention_check_interval: Duration,
    /// Consumer-protocol (KIP-848) groups.
    pub consumer: super::consumer_groups::ConsumerGroupConfig,
}

impl Default for GroupConfig {
    fn default() -> GroupConfig {
        GroupConfig {
            min_session: Duration::from_secs(6),
            max_session: Duration::from_secs(1800),
            initial_rebalance_delay: Duration::from_secs(3),
            offsets_retention: Duration::from_secs(7 * 24 * 3600),
            offsets_retention_check_interval: Duration::from_secs(600),
            consumer: Default::default(),
        }
    }
}

/// A group as ListGroups shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listed {
    /// Group ID.
    pub group_id: String,
    /// Protocol type ("consumer"), empty for a group that only committed offsets.
    pub protocol_type: String,
    /// Kafka's name for its state.
    pub state: &'static str,
    /// "classic" or "consumer" (KIP-848).
    pub group_type: &'static str,
}

/// A group's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    /// No members (committed offsets may remain).
    Empty,
    /// Waiting for members to (re)join.
    PreparingRebalance,
    /// Joined; waiting for the leader's assignments.
    CompletingRebalance,
    /// Every member has its assignment.
    Stable,
}

impl State {
    /// Kafka's name for the state.
    pub fn name(self) -> &'static str {
        match self {
            State::Empty => "Empty",
            State::PreparingRebalance => "PreparingRebalance",
            State::CompletingRebalance => "CompletingRebalance",
            State::Stable => "Stable",
        }
    }
}

/// What a JoinGroup asks.
#[derive(Debug, Clone)]
pub struct Join {
    /// Group ID.
    pub group: String,
    /// Member ID, empty on the first join.
    pub member_id: String,
    /// Static member's instance ID.
    pub instance_id: Option<String>,
    /// The client's ID, the prefix of new member IDs.
    pub client_id: String,
    /// The client's address, as DescribeGroups shows it.
    pub client_host: String,
    /// Session timeout.
    pub session_timeout: Duration,
    /// Rebalance timeout.
    pub rebalance_timeout: Duration,
    /// Protocol type.
    pub protocol_type: String,
    /// Protocols and their metadata, preferred first.
    pub protocols: Vec<(String, Vec<u8>)>,
    /// Whether the client handles MEMBER_ID_REQUIRED (JoinGroup v4+).
    pub member_id_required: bool,
}

/// A JoinGroup's answer.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Joined {
    /// Error.
    pub error: Option<ErrorCode>,
    /// Generation.
    pub generation: i32,
    /// Protocol type.
    pub protocol_type: Option<String>,
    /// Protocol chosen.
    pub protocol: Option<String>,
    /// Leader's member ID.
    pub leader: String,
    /// This member's ID.
    pub member_id: String,
    /// Every member with its metadata, for the leader only.
    pub members: Vec<(String, Option<String>, Vec<u8>)>,
}

/// A SyncGroup's answer.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Synced {
    /// Error.
    pub error: Option<ErrorCode>,
    /// Protocol type.
    pub protocol_type: Option<String>,
    /// Protocol chosen.
    pub protocol: Option<String>,
    /// This member's assignment.
    pub assignment: Vec<u8>,
}

/// An answer now, or one to wait for.
#[derive(Debug)]
pub enum Pending<T> {
    /// The answer.
    Ready(T),
    /// The answer comes when the rebalance moves on.
    Wait(oneshot::Receiver<T>),
}

#[derive(Debug)]
struct Member {
    instance_id: Option<String>,
    client_id: String,
    client_host: String,
    session_timeout: Duration,
    rebalance_timeout: Duration,
    protocol_type: String,
    protocols: Vec<(String, Vec<u8>)>,
    assignment: Vec<u8>,
    last_heard: Instant,
    join_waiter: Option<oneshot::Sender<Joined>>,
    sync_waiter: Option<oneshot::Sender<Synced>>,
}

/// One group.
#[derive(Debug)]
struct Group {
    id: String,
    state: State,
    generation: i32,
    protocol_type: Option<String>,
    protocol: Option<String>,
    leader: Option<String>,
    members: BTreeMap<String, Member>,
    /// Member IDs handed out with MEMBER_ID_REQUIRED, and when they lapse.
    pending: HashMap<String, Instant>,
    /// Static members: instance ID to the member ID that holds it now.
    statics: HashMap<String, String>,
    /// When the current rebalance gives up on members that have not rejoined.
    rebalance_deadline: Option<Instant>,
    /// The first rebalance does not complete before this.
    not_before: Option<Instant>,
    /// When the group last became Empty, in milliseconds since the epoch (Kafka's
    /// current state timestamp): an Empty group's offsets expire from it.
    empty_since: Option<i64>,
}

impl Group {
    fn new(id: &str) -> Group {
        Group {
            id: id.to_owned(),
            state: State::Empty,
            generation: 0,
            protocol_type: None,
            protocol: None,
            leader: None,
            members: BTreeMap::new(),
            pending: HashMap::new(),
            statics: HashMap::new(),
            rebalance_deadline: None,
            not_before: None,
            empty_since: Some(super::now_ms()),
        }
    }

    /// What this group keeps across a restart.
    fn snapshot(&self) -> GroupSnapshot {
        GroupSnapshot {
            format: 1,
            protocol_type: self.protocol_type.clone(),
            generation: self.generation,
            protocol: self.protocol.clone(),
            leader: self.leader.clone(),
            members: self
                .members
                .iter()
                .map(|(mid, m)| MemberSnapshot {
                    member_id: mid.clone(),
                    instance_id: m.instance_id.clone(),
                    client_id: m.client_id.clone(),
                    client_host: m.client_host.clone(),
                    session_timeout_ms: m.session_timeout.as_millis() as i32,
                    rebalance_timeout_ms: m.rebalance_timeout.as_millis() as i32,
                    protocols: m
                        .protocols
                        .iter()
                        .map(|(name, md)| ProtocolSnapshot {
                            name: name.clone(),
                            metadata: Bytes(md.clone()),
                        })
                        .collect(),
                    assignment: Bytes(m.assignment.clone()),
                })
                .collect(),
        }
    }

    /// Adds the record of what this group keeps across a restart to `out`.
    fn keep(&self, out: &mut Records) {
        let snapshot = self.snapshot().encode_bytes();
        out.push(offsets::group_record(&self.id, Some(snapshot)));
    }

    /// Moves a static member from its old member ID to `new`, answering any request
    /// the old ID was waiting on with FENCED_INSTANCE_ID.
    fn replace_static(&mut self, old: &str, new: &str) {
        let Some(mut m) = self.members.remove(old) else {
            return;
        };
        if let Some(tx) = m.join_waiter.take() {
            let _ = tx.send(Joined {
                error: Some(ErrorCode::FENCED_INSTANCE_ID),
                generation: -1,
                member_id: old.to_owned(),
                ..Default::default()
            });
        }
        if let Some(tx) = m.sync_waiter.take() {
            let _ = tx.send(Synced {
                error: Some(ErrorCode::FENCED_INSTANCE_ID),
                ..Default::default()
            });
        }
        if self.leader.as_deref() == Some(old) {
            self.leader = Some(new.to_owned());
        }
        self.members.insert(new.to_owned(), m);
    }

    /// Protocols every member supports.
    fn candidates(&self) -> Vec<&str> {
        let mut members = self.members.values();
        let Some(first) = members.next() else {
            return Vec::new();
        };
        let rest: Vec<&Member> = members.collect();
        first
            .protocols
            .iter()
            .map(|(n, _)| n.as_str())
            .filter(|n| rest.iter().all(|m| m.protocols.iter().any(|(p, _)| p == n)))
            .collect()
    }

    /// The protocol most members rank first among the candidates (ties: the first
    /// candidate), as Kafka selects it.
    fn select_protocol(&self) -> Option<String> {
        let candidates = self.candidates();
        let mut votes: Vec<(usize, &str)> = candidates.iter().map(|c| (0, *c)).collect();
        for m in self.members.values() {
            let first = m
                .protocols
                .iter()
                .find(|(p, _)| candidates.contains(&p.as_str()));
            if let Some((name, _)) = first
                && let Some(v) = votes.iter_mut().find(|(_, c)| c == name)
            {
                v.0 += 1;
            }
        }
        let best = votes.iter().map(|(n, _)| *n).max()?;
        votes
            .iter()
            .find(|(n, _)| *n == best)
            .map(|(_, c)| (*c).to_owned())
    }

    fn prepare_rebalance(&mut self, now: Instant) {
        if self.state == State::CompletingRebalance {
            for m in self.members.values_mut() {
                if let Some(tx) = m.sync_waiter.take() {
                    let _ = tx.send(Synced {
                        error: Some(ErrorCode::REBALANCE_IN_PROGRESS),
                        ..Default::default()
                    });
                }
            }
        }
        let longest = self
            .members
            .values()
            .map(|m| m.rebalance_timeout)
            .max()
            .unwrap_or_default();
        self.rebalance_deadline = Some(now + longest);
        self.state = State::PreparingRebalance;
    }

    /// When the join phase under way may end: at the end of the initial delay (if
    /// every member has joined by then), else at the rebalance deadline.
    fn join_ends(&self, now: Instant) -> Option<Instant> {
        if self.state != State::PreparingRebalance {
            return None;
        }
        match (self.not_before, self.rebalance_deadline) {
            (Some(delay), Some(deadline)) if delay > now => Some(delay.min(deadline)),
            (Some(delay), None) if delay > now => Some(delay),
            (_, deadline) => deadline,
        }
    }

    fn joined_for(&self, member_id: &str) -> Joined {
        let protocol = self.protocol.clone();
        let leader = self.leader.clone().unwrap_or_default();
        let members = if member_id == leader {
            self.members
                .iter()
                .map(|(id, m)| {
                    let metadata = m
                        .protocols
                        .iter()
                        .find(|(p, _)| Some(p) == protocol.as_ref())
                        .map(|(_, md)| md.clone())
                        .unwrap_or_default();
                    (id.clone(), m.instance_id.clone(), metadata)
                })
                .collect()
        } else {
            Vec::new()
        };
        Joined {
            error: None,
            generation: self.generation,
            protocol_type: self.protocol_type.clone(),
            protocol,
            leader,
            member_id: member_id.to_owned(),
            members,
        }
    }

    /// Completes the join phase if every member has rejoined (after the initial delay),
    /// or if the rebalance deadline has passed, removing members that did not rejoin.
    fn maybe_complete_join(&mut self, now: Instant, out: &mut Records) {
        if self.state != State::PreparingRebalance {
            return;
        }
        let all_joined = self.members.values().all(|m| m.join_waiter.is_some());
        let delayed = self.not_before.is_some_and(|t| now < t);
        let timed_out = self.rebalance_deadline.is_some_and(|t| now >= t);
        if !(timed_out || (all_joined && !delayed)) {
            return;
        }
        let statics = &mut self.statics;
        self.members.retain(|_, m| {
            let keep = m.join_waiter.is_some();
            if !keep && let Some(instance) = &m.instance_id {
                statics.remove(instance);
            }
            keep
        });
        self.not_before = None;
        self.rebalance_deadline = None;
        self.generation += 1;
        if self.members.is_empty() {
            // As Kafka's ClassicGroup, an empty group keeps its protocol type: clients
            // tell a consumer group from a simple (assign-only) one by it.
            self.state = State::Empty;
            self.protocol = None;
            self.leader = None;
            self.empty_since = Some(super::now_ms());
            self.keep(out);
            return;
        }
        self.protocol = self.select_protocol();
        self.protocol_type = self
            .members
            .values()
            .next()
            .map(|m| m.protocol_type.clone());
        if !self
            .leader
            .as_ref()
            .is_some_and(|l| self.members.contains_key(l))
        {
            self.leader = self.members.keys().next().cloned();
        }
        self.state = State::CompletingRebalance;
        let ids: Vec<String> = self.members.keys().cloned().collect();
        for id in ids {
            let joined = self.joined_for(&id);
            if let Some(m) = self.members.get_mut(&id) {
                m.assignment.clear();
                m.last_heard = now;
                if let Some(tx) = m.join_waiter.take() {
                    let _ = tx.send(joined);
                }
            }
        }
    }

    fn remove_member(&mut self, id: &str, now: Instant, out: &mut Records) {
        let Some(m) = self.members.remove(id) else {
            return;
        };
        if let Some(instance) = &m.instance_id {
            self.statics.remove(instance);
        }
        match self.state {
            State::Stable | State::CompletingRebalance => self.prepare_rebalance(now),
            State::PreparingRebalance | State::Empty => {}
        }
        self.maybe_complete_join(now, out);
    }
}

/// Every group's membership: classic groups here, consumer-protocol groups in
/// [`Coordinator::consumer`]. A group ID with members belongs to one protocol at a time.
#[derive(Debug, Default)]
pub struct Coordinator {
    config: GroupConfig,
    groups: HashMap<String, Group>,
    next_member: u64,
    /// Consumer-protocol (KIP-848) groups.
    pub consumer: ConsumerGroups,
    /// What the operations since [`Coordinator::take_records`] imply for the internal
    /// partition.
    records: Records,
    /// Every deadline of every group, classic and consumer-protocol.
    timers: Timers,
}

/// Whether `member` (with its static `instance` ID, if any) is a member of `g`: a
/// static instance held by another member ID now is fenced.
fn identity(g: &Group, member: &str, instance: Option<&str>) -> Result<(), ErrorCode> {
    if let Some(holder) = instance.and_then(|i| g.statics.get(i))
        && holder != member
    {
        return Err(ErrorCode::FENCED_INSTANCE_ID);
    }
    if g.members.contains_key(member) {
        Ok(())
    } else {
        Err(ErrorCode::UNKNOWN_MEMBER_ID)
    }
}

/// The topics a classic consumer group's members subscribe to, read from their
/// metadata for the group's protocol; `None` if any member's cannot be read.
fn subscriptions(g: &Group) -> Option<Vec<String>> {
    let protocol = g.protocol.as_deref()?;
    let mut topics = Vec::new();
    for m in g.members.values() {
        let (_, metadata) = m.protocols.iter().find(|(p, _)| p == protocol)?;
        topics.extend(subscribed_topics(metadata)?);
    }
    topics.sort();
    topics.dedup();
    Some(topics)
}

/// What keeps a group's offsets from expiring.
enum Hold {
    /// Nothing: each expires `retention` after its commit.
    Commits,
    /// Offsets of these topics stay; the rest expire from their commit.
    Subscribed(Vec<String>),
    /// The group is Empty: all expire `retention` after this (else after their commit).
    EmptySince(Option<i64>),
    /// The group keeps every offset.
    Kept,
}

/// Sets the timers of a classic group's deadlines: each member's session, each member
/// ID handed out and not yet used, and the end of its join phase.
fn arm(timers: &mut Timers, g: &Group, now: Instant) {
    for (id, m) in &g.members {
        arm_session(timers, &g.id, id, m);
    }
    for (id, lapses) in &g.pending {
        timers.schedule(Timer::Pending(g.id.clone(), id.clone()), *lapses);
    }
    if let Some(at) = g.join_ends(now) {
        timers.schedule(Timer::Join(g.id.clone()), at);
    }
}

fn arm_session(timers: &mut Timers, group: &str, id: &str, m: &Member) {
    timers.schedule(
        Timer::Session(group.to_owned(), id.to_owned()),
        m.last_heard + m.session_timeout,
    );
}

fn ready_join(error: ErrorCode, member_id: &str) -> Pending<Joined> {
    Pending::Ready(Joined {
        error: Some(error),
        generation: -1,
        member_id: member_id.to_owned(),
        ..Default::default()
    })
}

impl Coordinator {
    /// A coordinator with `config`.
    pub fn new(config: GroupConfig) -> Coordinator {
        Coordinator {
            config,
            groups: HashMap::new(),
            next_member: 0,
            consumer: ConsumerGroups::new(config.consumer),
            records: Records::default(),
            timers: Timers::default(),
        }
    }

    /// The earliest deadline set, when [`Coordinator::expire`] has work to do.
    pub fn next_deadline(&self) -> Option<Instant> {
        self.timers.next()
    }

    /// Timers set. A heartbeat moves its member's timer rather than adding one; a
    /// timer outlives what it was for only until its deadline, where it finds nothing
    /// to do.
    pub fn timers(&self) -> usize {
        self.timers.len()
    }

    /// Whether an operation since the last call set a deadline earlier than the
    /// earliest one before it: whoever sleeps until [`Coordinator::next_deadline`]
    /// must look again.
    pub fn take_moved(&mut self) -> bool {
        self.timers.take_moved()
    }

    /// Acts on the deadlines due at `now`: removes members whose session has lapsed,
    /// forgets member IDs handed out and never used, ends join phases whose time has
    /// come, and expires consumer-protocol members. A timer finds the state as it is
    /// now: a member heard from since is given its new deadline.
    pub fn expire(&mut self, topics: &TopicMap, now: Instant) {
        for timer in self.timers.due(now) {
            match timer {
                Timer::Session(group, member) => self.expire_session(&group, &member, now),
                Timer::Pending(group, member) => {
                    if let Some(g) = self.groups.get_mut(&group)
                        && g.pending.get(&member).is_some_and(|lapses| *lapses <= now)
                    {
                        g.pending.remove(&member);
                    }
                }
                Timer::Join(group) => {
                    if let Some(g) = self.groups.get_mut(&group) {
                        g.maybe_complete_join(now, &mut self.records);
                        arm(&mut self.timers, g, now);
                    }
                }
                Timer::ConsumerSession(group, member) | Timer::Revocation(group, member) => {
                    self.consumer.expire(&group, &member, topics, now);
                    self.arm_consumer(&group, &member);
                }
            }
        }
    }

    fn expire_session(&mut self, group: &str, member: &str, now: Instant) {
        let Some(g) = self.groups.get_mut(group) else {
            return;
        };
        let Some(m) = g.members.get(member) else {
            return;
        };
        // A member waiting in a join phase is heard from when the phase ends, and its
        // session timer is set again then.
        if m.join_waiter.is_some() {
            return;
        }
        let deadline = m.last_heard + m.session_timeout;
        if now < deadline {
            arm_session(&mut self.timers, group, member, m);
            return;
        }
        eprintln!(
            "pagecast broker: group member {member} ({}) sent no heartbeat for {:?}; removing it",
            m.client_id, m.session_timeout
        );
        g.remove_member(member, now, &mut self.records);
        arm(&mut self.timers, g, now);
    }

    /// Sets a consumer-protocol member's session and revocation timers.
    fn arm_consumer(&mut self, group: &str, member: &str) {
        let Some((session, revocation)) = self.consumer.deadlines(group, member) else {
            return;
        };
        self.timers.schedule(
            Timer::ConsumerSession(group.to_owned(), member.to_owned()),
            session,
        );
        if let Some(at) = revocation {
            self.timers
                .schedule(Timer::Revocation(group.to_owned(), member.to_owned()), at);
        }
    }

    /// The records implied by the operations since the last call, classic and
    /// consumer-protocol groups alike, in the order they were made. The broker takes
    /// them under the same lock as the operation, and writes them before it answers.
    pub fn take_records(&mut self) -> Vec<Record> {
        let mut records = self.records.take();
        records.extend(self.consumer.take_records());
        records
    }

    /// Handles a ConsumerGroupHeartbeat (KIP-848). A group with classic members
    /// refuses it.
    pub fn consumer_heartbeat(&mut self, b: Beat, topics: &TopicMap, now: Instant) -> BeatAnswer {
        if self
            .groups
            .get(&b.group)
            .is_some_and(|g| !g.members.is_empty())
        {
            return BeatAnswer {
                error: Some(ErrorCode::INCONSISTENT_GROUP_PROTOCOL),
                member_id: b.member_id,
                epoch: b.epoch,
                ..Default::default()
            };
        }
        let id = self.new_member_id(&b.client_id);
        let group = b.group.clone();
        let answer = self.consumer.heartbeat(b, topics, || id, now);
        self.arm_consumer(&group, &answer.member_id);
        // A consumer group takes over an Empty classic group's ID, which goes, as
        // Kafka's coordinator deletes it on such a join.
        if answer.error.is_none()
            && self
                .groups
                .get(&group)
                .is_some_and(|g| g.members.is_empty())
        {
            self.groups.remove(&group);
            self.records.push(offsets::group_record(&group, None));
        }
        answer
    }

    /// Restores a consumer-protocol group kept before a restart, with its members'
    /// timers.
    pub fn restore_consumer(
        &mut self,
        group: &str,
        snap: super::consumer_groups::GroupSnapshot,
        topics: &TopicMap,
        now: Instant,
    ) {
        self.consumer.restore(group, snap, topics, now);
        for member in self.consumer.member_ids(group) {
            self.arm_consumer(group, &member);
        }
    }

    fn new_member_id(&mut self, client_id: &str) -> String {
        self.next_member += 1;
        let random = super::meta::random_uuid()
            .map(|u| u.to_string())
            .unwrap_or_else(|_| format!("{:032x}", self.next_member));
        format!("{client_id}-{random}")
    }

    /// A group's state and generation, if it exists.
    pub fn state(&self, group: &str) -> Option<(State, i32)> {
        self.groups.get(group).map(|g| (g.state, g.generation))
    }

    /// The members of a group.
    pub fn members(&self, group: &str) -> Vec<String> {
        self.groups
            .get(group)
            .map(|g| g.members.keys().cloned().collect())
            .unwrap_or_default()
    }

    /// Handles a JoinGroup.
    pub fn join(&mut self, j: Join, now: Instant) -> Pending<Joined> {
        let group = j.group.clone();
        let answer = self.join_member(j, now);
        if let Some(g) = self.groups.get(&group) {
            arm(&mut self.timers, g, now);
            // A classic group that takes an empty consumer-protocol group's ID replaces
            // it, as Kafka's coordinator deletes it on such a join.
            if !g.members.is_empty() || !g.pending.is_empty() {
                self.consumer.remove_if_empty(&group);
            }
        }
        answer
    }

    fn join_member(&mut self, j: Join, now: Instant) -> Pending<Joined> {
        if j.group.is_empty() {
            return ready_join(ErrorCode::INVALID_GROUP_ID, &j.member_id);
        }
        if j.session_timeout < self.config.min_session
            || j.session_timeout > self.config.max_session
        {
            return ready_join(ErrorCode::INVALID_SESSION_TIMEOUT, &j.member_id);
        }
        if j.protocol_type.is_empty()
            || j.protocols.is_empty()
            || self.consumer.has_members(&j.group)
        {
            return ready_join(ErrorCode::INCONSISTENT_GROUP_PROTOCOL, &j.member_id);
        }
        // Kafka creates a classic group only for a member without an ID: a join that
        // names a member of a group that does not exist is refused, and leaves nothing.
        if !j.member_id.is_empty() && !self.groups.contains_key(&j.group) {
            return ready_join(ErrorCode::UNKNOWN_MEMBER_ID, &j.member_id);
        }
        let new_id = j
            .member_id
            .is_empty()
            .then(|| self.new_member_id(&j.client_id));
        let initial_delay = self.config.initial_rebalance_delay;
        let group = self
            .groups
            .entry(j.group.clone())
            .or_insert_with(|| Group::new(&j.group));
        // The protocol must fit the group's members.
        if !group.members.is_empty() {
            let same_type = group
                .members
                .values()
                .all(|m| m.protocol_type == j.protocol_type);
            let candidates = group.candidates();
            let shared = j
                .protocols
                .iter()
                .any(|(p, _)| candidates.contains(&p.as_str()));
            let only_member = group.members.len() == 1 && group.members.contains_key(&j.member_id);
            if !only_member && (!same_type || !shared) {
                return ready_join(ErrorCode::INCONSISTENT_GROUP_PROTOCOL, &j.member_id);
            }
        }
        // A static member (KIP-345) that comes back under its instance ID takes over
        // its old member ID's place, assignment included, and fences the old ID.
        let held_by = j
            .instance_id
            .as_ref()
            .and_then(|i| group.statics.get(i).cloned());
        let returning_static = new_id.is_some() && held_by.is_some();
        let member_id = match (new_id, held_by) {
            (Some(id), Some(old)) => {
                group.replace_static(&old, &id);
                group.keep(&mut self.records);
                id
            }
            (None, Some(holder)) if holder != j.member_id => {
                return ready_join(ErrorCode::FENCED_INSTANCE_ID, &j.member_id);
            }
            (Some(id), None) if j.member_id_required && j.instance_id.is_none() => {
                group.pending.insert(id.clone(), now + j.session_timeout);
                return ready_join(ErrorCode::MEMBER_ID_REQUIRED, &id);
            }
            (Some(id), None) => id,
            (None, _) => {
                if group.pending.remove(&j.member_id).is_none()
                    && !group.members.contains_key(&j.member_id)
                {
                    return ready_join(ErrorCode::UNKNOWN_MEMBER_ID, &j.member_id);
                }
                j.member_id.clone()
            }
        };
        if let Some(instance) = &j.instance_id {
            group.statics.insert(instance.clone(), member_id.clone());
        }
        let (tx, rx) = oneshot::channel();
        match group.members.get_mut(&member_id) {
            Some(m) => {
                let unchanged = m.protocols == j.protocols;
                m.protocols = j.protocols;
                m.session_timeout = j.session_timeout;
                m.rebalance_timeout = j.rebalance_timeout;
                m.last_heard = now;
                match group.state {
                    State::CompletingRebalance if unchanged => {
                        return Pending::Ready(group.joined_for(&member_id));
                    }
                    // A follower with nothing new, or a static member back under its
                    // instance ID, keeps the generation (no rebalance). A leader that
                    // rejoins on its own wants to assign again.
                    State::Stable
                        if unchanged
                            && (returning_static
                                || group.leader.as_deref() != Some(member_id.as_str())) =>
                    {
                        return Pending::Ready(group.joined_for(&member_id));
                    }
                    _ => {}
                }
                m.join_waiter = Some(tx);
                if group.state != State::PreparingRebalance {
                    group.prepare_rebalance(now);
                }
            }
            None => {
                group.members.insert(
                    member_id.clone(),
                    Member {
                        instance_id: j.instance_id,
                        client_id: j.client_id,
                        client_host: j.client_host,
                        session_timeout: j.session_timeout,
                        rebalance_timeout: j.rebalance_timeout,
                        protocol_type: j.protocol_type,
                        protocols: j.protocols,
                        assignment: Vec::new(),
                        last_heard: now,
                        join_waiter: Some(tx),
                        sync_waiter: None,
                    },
                );
                match group.state {
                    State::Empty => {
                        group.prepare_rebalance(now);
                        group.not_before = Some(now + initial_delay);
                    }
                    State::Stable | State::CompletingRebalance => group.prepare_rebalance(now),
                    State::PreparingRebalance => {
                        // A newcomer may extend the deadline to its own rebalance timeout.
                        let own = now + j.rebalance_timeout;
                        group.rebalance_deadline = group.rebalance_deadline.max(Some(own));
                    }
                }
            }
        }
        group.maybe_complete_join(now, &mut self.records);
        Pending::Wait(rx)
    }

    fn member_check(
        &self,
        group: &str,
        generation: i32,
        member: &str,
        instance: Option<&str>,
    ) -> Result<&Group, ErrorCode> {
        let g = self.groups.get(group).ok_or(ErrorCode::UNKNOWN_MEMBER_ID)?;
        identity(g, member, instance)?;
        if generation != g.generation {
            return Err(ErrorCode::ILLEGAL_GENERATION);
        }
        Ok(g)
    }

    /// Handles a SyncGroup.
    pub fn sync(
        &mut self,
        group: &str,
        generation: i32,
        (member, instance): (&str, Option<&str>),
        protocol: (Option<&str>, Option<&str>),
        assignments: Vec<(String, Vec<u8>)>,
        now: Instant,
    ) -> Pending<Synced> {
        let fail = |e| {
            Pending::Ready(Synced {
                error: Some(e),
                ..Default::default()
            })
        };
        let g = match self.member_check(group, generation, member, instance) {
            Ok(g) => g,
            Err(e) => return fail(e),
        };
        let (ptype, pname) = protocol;
        if ptype.is_some_and(|t| Some(t) != g.protocol_type.as_deref())
            || pname.is_some_and(|n| Some(n) != g.protocol.as_deref())
        {
            return fail(ErrorCode::INCONSISTENT_GROUP_PROTOCOL);
        }
        let Some(g) = self.groups.get_mut(group) else {
            return fail(ErrorCode::UNKNOWN_MEMBER_ID);
        };
        let (ptype, pname) = (g.protocol_type.clone(), g.protocol.clone());
        let synced = |assignment: Vec<u8>| Synced {
            error: None,
            protocol_type: ptype.clone(),
            protocol: pname.clone(),
            assignment,
        };
        if let Some(m) = g.members.get_mut(member) {
            m.last_heard = now;
            arm_session(&mut self.timers, group, member, m);
        }
        match g.state {
            State::PreparingRebalance => fail(ErrorCode::REBALANCE_IN_PROGRESS),
            State::Stable => Pending::Ready(synced(
                g.members
                    .get(member)
                    .map(|m| m.assignment.clone())
                    .unwrap_or_default(),
            )),
            State::Empty => fail(ErrorCode::UNKNOWN_MEMBER_ID),
            State::CompletingRebalance => {
                let (tx, rx) = oneshot::channel();
                if let Some(m) = g.members.get_mut(member) {
                    m.sync_waiter = Some(tx);
                }
                if g.leader.as_deref() == Some(member) {
                    let mut given: HashMap<String, Vec<u8>> = assignments.into_iter().collect();
                    for (id, m) in g.members.iter_mut() {
                        m.assignment = given.remove(id).unwrap_or_default();
                        if let Some(tx) = m.sync_waiter.take() {
                            let _ = tx.send(synced(m.assignment.clone()));
                        }
                    }
                    g.state = State::Stable;
                    g.keep(&mut self.records);
                }
                Pending::Wait(rx)
            }
        }
    }

    /// Handles a Heartbeat.
    pub fn heartbeat(
        &mut self,
        group: &str,
        generation: i32,
        (member, instance): (&str, Option<&str>),
        now: Instant,
    ) -> ErrorCode {
        if let Err(e) = self.member_check(group, generation, member, instance) {
            return e;
        }
        let Some(g) = self.groups.get_mut(group) else {
            return ErrorCode::UNKNOWN_MEMBER_ID;
        };
        if let Some(m) = g.members.get_mut(member) {
            m.last_heard = now;
            arm_session(&mut self.timers, group, member, m);
        }
        match g.state {
            State::PreparingRebalance => ErrorCode::REBALANCE_IN_PROGRESS,
            _ => ErrorCode::NONE,
        }
    }

    /// Handles one member of a LeaveGroup.
    /// A static member may leave by its instance ID alone (an empty member ID).
    pub fn leave(&mut self, group: &str, member: (&str, Option<&str>), now: Instant) -> ErrorCode {
        let code = self.leave_member(group, member, now);
        if let Some(g) = self.groups.get(group) {
            arm(&mut self.timers, g, now);
        }
        code
    }

    fn leave_member(
        &mut self,
        group: &str,
        (member, instance): (&str, Option<&str>),
        now: Instant,
    ) -> ErrorCode {
        let Some(g) = self.groups.get_mut(group) else {
            return ErrorCode::UNKNOWN_MEMBER_ID;
        };
        if g.pending.remove(member).is_some() {
            return ErrorCode::NONE;
        }
        let member = match instance.and_then(|i| g.statics.get(i)) {
            Some(holder) if member.is_empty() => holder.clone(),
            _ => member.to_owned(),
        };
        if let Err(e) = identity(g, &member, instance) {
            return e;
        }
        g.remove_member(&member, now, &mut self.records);
        ErrorCode::NONE
    }

    /// Whether an OffsetCommit from this member and generation may store offsets, as
    /// Kafka judges it: commits outside a generation (-1) only for a group without
    /// members, and a member's only in the current generation and not while the
    /// members wait for the leader's assignment.
    pub fn check_commit(
        &mut self,
        group: &str,
        generation: i32,
        (member, instance): (&str, Option<&str>),
        now: Instant,
    ) -> Result<(), ErrorCode> {
        if let Some(answer) = self.consumer.check_commit(group, member, generation)
            && (self.consumer.has_members(group) || !self.groups.contains_key(group))
        {
            return answer;
        }
        let Some(g) = self.groups.get_mut(group) else {
            return if generation < 0 {
                Ok(())
            } else {
                Err(ErrorCode::ILLEGAL_GENERATION)
            };
        };
        if generation < 0 && member.is_empty() {
            return if g.members.is_empty() {
                Ok(())
            } else {
                Err(ErrorCode::UNKNOWN_MEMBER_ID)
            };
        }
        identity(g, member, instance)?;
        if let Some(m) = g.members.get_mut(member) {
            m.last_heard = now;
            arm_session(&mut self.timers, group, member, m);
        }
        if generation != g.generation {
            return Err(ErrorCode::ILLEGAL_GENERATION);
        }
        // As Kafka's ClassicGroup.validateOffsetCommit: a member of the current
        // generation may commit while the group prepares a rebalance (eager clients
        // commit in onPartitionsRevoked at exactly that moment); only the wait for the
        // leader's assignment refuses it.
        match g.state {
            State::CompletingRebalance => Err(ErrorCode::REBALANCE_IN_PROGRESS),
            _ => Ok(()),
        }
    }

    /// Topics a consumer group's members subscribe to, read from their metadata (the
    /// consumer protocol's subscription: version, then the topic names).
    pub fn subscribed_topics(&self, group: &str) -> Vec<String> {
        let Some(g) = self.groups.get(group) else {
            return Vec::new();
        };
        if g.protocol_type.as_deref() != Some("consumer") {
            return Vec::new();
        }
        let mut topics: Vec<String> = g
            .members
            .values()
            .flat_map(|m| m.protocols.iter().map(|(_, md)| md))
            .flat_map(|md| subscribed_topics(md).unwrap_or_default())
            .collect();
        topics.sort();
        topics.dedup();
        topics
    }

    /// Every group of either kind, sorted by ID, as ListGroups shows them.
    pub fn list(&self) -> Vec<Listed> {
        let mut out: Vec<Listed> = self
            .groups
            .iter()
            .map(|(id, g)| Listed {
                group_id: id.clone(),
                protocol_type: g.protocol_type.clone().unwrap_or_default(),
                state: g.state.name(),
                group_type: "classic",
            })
            .chain(
                self.consumer
                    .list()
                    .into_iter()
                    .filter(|(id, _)| !self.groups.contains_key(id))
                    .map(|(group_id, state)| Listed {
                        group_id,
                        protocol_type: "consumer".into(),
                        state,
                        group_type: "consumer",
                    }),
            )
            .collect();
        out.sort_by(|a, b| a.group_id.cmp(&b.group_id));
        out
    }

    /// A group as DescribeGroups shows it.
    pub fn describe(&self, group: &str) -> Option<Described> {
        let g = self.groups.get(group)?;
        let protocol = g.protocol.clone().unwrap_or_default();
        Some(Described {
            state: g.state.name(),
            protocol_type: g.protocol_type.clone().unwrap_or_default(),
            generation: g.generation,
            members: g
                .members
                .iter()
                .map(|(id, m)| DescribedMember {
                    member_id: id.clone(),
                    instance_id: m.instance_id.clone(),
                    client_id: m.client_id.clone(),
                    client_host: m.client_host.clone(),
                    metadata: m
                        .protocols
                        .iter()
                        .find(|(p, _)| *p == protocol)
                        .map(|(_, md)| md.clone())
                        .unwrap_or_default(),
                    assignment: m.assignment.clone(),
                })
                .collect(),
            protocol,
        })
    }

    /// Forgets a group without members (DeleteGroups), with the tombstones of its
    /// metadata. Unknown groups are GROUP_ID_NOT_FOUND, ones with members
    /// NON_EMPTY_GROUP.
    pub fn delete(&mut self, group: &str) -> Result<(), ErrorCode> {
        if let Some(answer) = self.consumer.delete(group) {
            return answer;
        }
        match self.groups.get(group) {
            None => Err(ErrorCode::GROUP_ID_NOT_FOUND),
            Some(g) if !g.members.is_empty() => Err(ErrorCode::NON_EMPTY_GROUP),
            Some(_) => {
                self.groups.remove(group);
                self.records.push(offsets::group_record(group, None));
                Ok(())
            }
        }
    }

    /// Expires committed offsets past `retention` (Kafka's `offsets.retention.minutes`)
    /// and deletes the Empty groups left without offsets, queuing the tombstones of
    /// both; returns how many offsets and groups went. As Kafka's coordinator judges
    /// it: an offset of a topic that a member of its group subscribes to stays; an
    /// Empty classic group's offsets expire `retention` after it became Empty; every
    /// other offset (a group assigning itself, a consumer-protocol group's topic no
    /// member reads, a commit outside any group) `retention` after it was committed.
    /// A classic group in a rebalance, or of a protocol other than the consumer's,
    /// keeps its offsets.
    pub fn expire_offsets(
        &mut self,
        committed: &mut CommittedOffsets,
        now_ms: i64,
        retention: Duration,
    ) -> (usize, usize) {
        let ids = self.retention_candidates(committed);
        self.expire_offsets_of(&ids, committed, now_ms, retention)
    }

    /// Every group ID that [`Coordinator::expire_offsets`] looks at: groups of either
    /// kind, and those with committed offsets.
    pub fn retention_candidates(&self, committed: &CommittedOffsets) -> Vec<String> {
        let mut ids: Vec<String> = committed.groups();
        ids.extend(self.groups.keys().cloned());
        ids.extend(self.consumer.list().into_iter().map(|(id, _)| id));
        ids.sort();
        ids.dedup();
        ids
    }

    /// [`Coordinator::expire_offsets`] for the groups `ids` only, so that a pass over
    /// many groups can release the coordinator between runs of them.
    pub fn expire_offsets_of(
        &mut self,
        ids: &[String],
        committed: &mut CommittedOffsets,
        now_ms: i64,
        retention: Duration,
    ) -> (usize, usize) {
        let retention_ms = i64::try_from(retention.as_millis()).unwrap_or(i64::MAX);
        let mut expired_offsets = 0;
        let mut deleted_groups = 0;
        for id in ids {
            let id = id.as_str();
            let hold = self.retention_hold(id);
            let expired: Vec<Key> = committed
                .group(id)
                .filter(|(key, c)| {
                    let since = match &hold {
                        Hold::Kept => return false,
                        Hold::Subscribed(topics) if topics.contains(&key.1) => return false,
                        Hold::Subscribed(_) | Hold::Commits => c.commit_ms,
                        Hold::EmptySince(since) => since.unwrap_or(c.commit_ms),
                    };
                    now_ms.saturating_sub(since) >= retention_ms
                })
                .map(|(key, _)| key.clone())
                .collect();
            for key in &expired {
                self.records.push(offsets::commit_record(key, None));
                committed.remove(key);
            }
            expired_offsets += expired.len();
            if committed.group(id).next().is_none() && self.remove_if_empty(id) {
                deleted_groups += 1;
            }
        }
        (expired_offsets, deleted_groups)
    }

    /// What keeps a group's offsets from expiring: the classic group's rules while it
    /// has members, else a consumer-protocol group's, else an Empty classic group's.
    fn retention_hold(&self, group: &str) -> Hold {
        let classic = self.groups.get(group);
        if classic.is_none_or(|g| g.members.is_empty())
            && let Some(topics) = self.consumer.subscribed(group)
        {
            return Hold::Subscribed(topics);
        }
        let Some(g) = classic else {
            return Hold::Commits;
        };
        match (g.state, g.protocol_type.as_deref()) {
            (_, None) => Hold::Commits,
            (State::Empty, Some(_)) => Hold::EmptySince(g.empty_since),
            // Subscriptions that cannot be read keep every offset, as in Kafka.
            (State::Stable, Some("consumer")) => match subscriptions(g) {
                Some(topics) => Hold::Subscribed(topics),
                None => Hold::Kept,
            },
            _ => Hold::Kept,
        }
    }

    /// Removes a group, with the tombstone of its metadata, if it is Empty and waits
    /// for no member ID it handed out.
    fn remove_if_empty(&mut self, group: &str) -> bool {
        if let Some(g) = self.groups.get(group) {
            if g.state != State::Empty || !g.pending.is_empty() {
                return false;
            }
            self.groups.remove(group);
            self.records.push(offsets::group_record(group, None));
            return true;
        }
        self.consumer.remove_if_empty(group)
    }

    /// Makes an Empty classic group without a protocol for offsets committed outside
    /// any group (a consumer that assigns itself partitions), unless a group of either
    /// kind holds the ID: Kafka creates one at such a commit, and on replaying one, so
    /// ListGroups and DescribeGroups show it and retention deletes it with its offsets.
    pub fn hold_commits(&mut self, group: &str) {
        if !self.groups.contains_key(group) && self.consumer.subscribed(group).is_none() {
            self.groups.insert(group.to_owned(), Group::new(group));
        }
    }

    /// Adds a record for the internal partition to what the current operation implies.
    pub fn record(&mut self, record: Record) {
        self.records.push(record);
    }

    /// Restores a group kept before a restart: Stable with its members, whose sessions
    /// start now, or Empty.
    /// `written_ms` is when its record was written: an Empty group has been Empty
    /// since then.
    pub fn restore(&mut self, group: &str, snap: GroupSnapshot, written_ms: i64, now: Instant) {
        let mut g = Group::new(group);
        g.generation = snap.generation;
        g.protocol_type = snap.protocol_type.clone();
        g.protocol = snap.protocol;
        g.leader = snap.leader;
        for m in snap.members {
            if let Some(i) = &m.instance_id {
                g.statics.insert(i.clone(), m.member_id.clone());
            }
            g.members.insert(
                m.member_id,
                Member {
                    instance_id: m.instance_id,
                    client_id: m.client_id,
                    client_host: m.client_host,
                    session_timeout: Duration::from_millis(m.session_timeout_ms.max(0) as u64),
                    rebalance_timeout: Duration::from_millis(m.rebalance_timeout_ms.max(0) as u64),
                    protocol_type: snap.protocol_type.clone().unwrap_or_default(),
                    protocols: m
                        .protocols
                        .into_iter()
                        .map(|p| (p.name, p.metadata.0))
                        .collect(),
                    assignment: m.assignment.0,
                    last_heard: now,
                    join_waiter: None,
                    sync_waiter: None,
                },
            );
        }
        g.state = if g.members.is_empty() {
            State::Empty
        } else {
            State::Stable
        };
        g.empty_since = g.members.is_empty().then_some(written_ms);
        arm(&mut self.timers, &g, now);
        self.groups.insert(group.to_owned(), g);
    }

    /// Answers every waiting JoinGroup and SyncGroup with `error` (the broker is
    /// stopping).
    pub fn abandon(&mut self, error: ErrorCode) {
        for g in self.groups.values_mut() {
            for m in g.members.values_mut() {
                if let Some(tx) = m.join_waiter.take() {
                    let _ = tx.send(Joined {
                        error: Some(error),
                        generation: -1,
                        ..Default::default()
                    });
                }
                if let Some(tx) = m.sync_waiter.take() {
                    let _ = tx.send(Synced {
                        error: Some(error),
                        ..Default::default()
                    });
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn join(member: &str, protocols: &[&str]) -> Join {
        Join {
            group: "g".into(),
            member_id: member.into(),
            instance_id: None,
            client_id: "c".into(),
            client_host: "/127.0.0.1".into(),
            session_timeout: Duration::from_secs(10),
            rebalance_timeout: Duration::from_secs(20),
            protocol_type: "consumer".into(),
            protocols: protocols
                .iter()
                .map(|p| ((*p).to_owned(), p.as_bytes().to_vec()))
                .collect(),
            member_id_required: true,
        }
    }

    fn coordinator() -> Coordinator {
        Coordinator::new(GroupConfig {
            initial_rebalance_delay: Duration::from_millis(100),
            ..Default::default()
        })
    }

    fn ready<T>(p: Pending<T>) -> T {
        match p {
            Pending::Ready(t) => t,
            Pending::Wait(mut rx) => rx.try_recv().expect("an answer by now"),
        }
    }

    fn waiting<T>(p: Pending<T>) -> oneshot::Receiver<T> {
        match p {
            Pending::Wait(rx) => rx,
            Pending::Ready(_) => panic!("answered without waiting"),
        }
    }

    /// Two members join, the leader assigns, both are Stable; a third joins and the
    /// first two must rejoin; one goes silent and is removed.
    #[test]
    fn a_group_rebalances_as_members_come_and_go() {
        let mut c = coordinator();
        let t0 = Instant::now();
        let a = ready(c.join(join("", &["range", "roundrobin"]), t0));
        assert_eq!(a.error, Some(ErrorCode::MEMBER_ID_REQUIRED));
        let b = ready(c.join(join("", &["roundrobin"]), t0));
        let mut wa = waiting(c.join(join(&a.member_id, &["range", "roundrobin"]), t0));
        let mut wb = waiting(c.join(join(&b.member_id, &["roundrobin"]), t0));
        // Every member has joined, but the first rebalance waits out the initial delay.
        c.expire(&TopicMap::new(), t0 + Duration::from_millis(50));
        assert!(wa.try_recv().is_err());
        c.expire(&TopicMap::new(), t0 + Duration::from_millis(150));
        let ja = wa.try_recv().unwrap();
        let jb = wb.try_recv().unwrap();
        assert_eq!((ja.generation, jb.generation), (1, 1));
        assert_eq!(
            ja.protocol.as_deref(),
            Some("roundrobin"),
            "the only protocol both support"
        );
        let (leader, follower) = if ja.leader == a.member_id {
            (ja, jb)
        } else {
            (jb, ja)
        };
        assert_eq!(leader.members.len(), 2);
        assert!(follower.members.is_empty());

        let t1 = t0 + Duration::from_secs(1);
        let mut wf = waiting(c.sync(
            "g",
            1,
            (&follower.member_id, None),
            (None, None),
            vec![],
            t1,
        ));
        assert!(wf.try_recv().is_err(), "the follower waits for the leader");
        let assignments = vec![
            (leader.member_id.clone(), b"L".to_vec()),
            (follower.member_id.clone(), b"F".to_vec()),
        ];
        let sl = ready(c.sync(
            "g",
            1,
            (&leader.member_id, None),
            (Some("consumer"), Some("roundrobin")),
            assignments,
            t1,
        ));
        assert_eq!(sl.assignment, b"L");
        assert_eq!(wf.try_recv().unwrap().assignment, b"F");
        assert_eq!(c.state("g"), Some((State::Stable, 1)));
        assert_eq!(
            c.heartbeat("g", 1, (&leader.member_id, None), t1),
            ErrorCode::NONE
        );
        assert_eq!(
            c.heartbeat("g", 0, (&leader.member_id, None), t1),
            ErrorCode::ILLEGAL_GENERATION
        );
        assert_eq!(
            c.check_commit("g", 1, (&leader.member_id, None), t1),
            Ok(())
        );
        assert_eq!(
            c.check_commit("g", -1, ("", None), t1),
            Err(ErrorCode::UNKNOWN_MEMBER_ID)
        );

        // A third member: the others learn of it by heartbeat and rejoin.
        let t2 = t1 + Duration::from_secs(1);
        let x = ready(c.join(join("", &["roundrobin"]), t2));
        let mut wx = waiting(c.join(join(&x.member_id, &["roundrobin"]), t2));
        assert_eq!(
            c.heartbeat("g", 1, (&leader.member_id, None), t2),
            ErrorCode::REBALANCE_IN_PROGRESS
        );
        assert_eq!(
            c.check_commit("g", 1, (&leader.member_id, None), t2),
            Ok(()),
            "a member of the current generation commits while the group prepares a rebalance"
        );
        let mut wl = waiting(c.join(
            join(&leader.member_id, &["range", "roundrobin"]).clone(),
            t2,
        ));
        let _ = c.join(join(&follower.member_id, &["roundrobin"]), t2);
        let jx = wx.try_recv().unwrap();
        assert_eq!(jx.generation, 2);
        assert_eq!(
            wl.try_recv().unwrap().members.len(),
            3,
            "the leader stays the leader"
        );
        assert_eq!(c.state("g").unwrap().0, State::CompletingRebalance);
        assert_eq!(
            c.check_commit("g", 2, (&leader.member_id, None), t2),
            Err(ErrorCode::REBALANCE_IN_PROGRESS),
            "no commit while the members wait for the leader's assignment"
        );

        // The follower goes silent: after its session timeout the others rebalance
        // without it.
        let t3 = t2 + Duration::from_secs(5);
        let assignments = vec![];
        let _ = c.sync(
            "g",
            2,
            (&leader.member_id, None),
            (None, None),
            assignments,
            t3,
        );
        let _ = c.sync("g", 2, (&x.member_id, None), (None, None), vec![], t3);
        assert_eq!(c.state("g").unwrap().0, State::Stable);
        let t4 = t2 + Duration::from_secs(11);
        assert_eq!(
            c.heartbeat(
                "g",
                2,
                (&leader.member_id, None),
                t2 + Duration::from_secs(9)
            ),
            ErrorCode::NONE
        );
        assert_eq!(
            c.heartbeat("g", 2, (&x.member_id, None), t2 + Duration::from_secs(9)),
            ErrorCode::NONE
        );
        c.expire(&TopicMap::new(), t4);
        assert_eq!(c.members("g").len(), 2, "the silent member is gone");
        assert_eq!(c.state("g").unwrap().0, State::PreparingRebalance);
        assert_eq!(
            c.heartbeat("g", 2, (&follower.member_id, None), t4),
            ErrorCode::UNKNOWN_MEMBER_ID
        );
    }

    #[test]
    fn members_that_do_not_rejoin_are_dropped_at_the_rebalance_timeout() {
        let mut c = coordinator();
        let t0 = Instant::now();
        let mut j = join("", &["range"]);
        j.member_id_required = false;
        let mut w1 = waiting(c.join(j.clone(), t0));
        c.expire(&TopicMap::new(), t0 + Duration::from_millis(200));
        let m1 = w1.try_recv().unwrap();
        let _ = c.sync("g", 1, (&m1.member_id, None), (None, None), vec![], t0);
        // A second member joins; the first never rejoins.
        let mut w2 = waiting(c.join(j, t0 + Duration::from_secs(1)));
        c.expire(&TopicMap::new(), t0 + Duration::from_secs(2));
        assert!(w2.try_recv().is_err());
        c.expire(&TopicMap::new(), t0 + Duration::from_secs(22));
        let m2 = w2.try_recv().unwrap();
        assert_eq!(m2.generation, 2);
        assert_eq!(m2.leader, m2.member_id, "the silent leader was dropped");
        assert_eq!(c.members("g"), [m2.member_id]);
    }

    /// A silent member is removed at its session's deadline, not a moment before or
    /// later; heartbeats move its one timer rather than adding timers.
    #[test]
    fn a_session_ends_at_its_deadline_and_heartbeats_move_its_timer() {
        let mut c = coordinator();
        let t0 = Instant::now();
        let mut j = join("", &["range"]);
        j.member_id_required = false;
        let mut w = waiting(c.join(j, t0));
        assert_eq!(
            c.next_deadline(),
            Some(t0 + Duration::from_millis(100)),
            "the initial delay"
        );
        c.expire(&TopicMap::new(), t0 + Duration::from_millis(100));
        let m = w.try_recv().unwrap();
        let _ = c.sync("g", 1, (&m.member_id, None), (None, None), vec![], t0);
        let mut last = t0;
        for i in 1..=100 {
            last = t0 + Duration::from_millis(10 * i);
            assert_eq!(
                c.heartbeat("g", 1, (&m.member_id, None), last),
                ErrorCode::NONE
            );
        }
        assert_eq!(c.timers(), 1, "one session timer, moved by each heartbeat");
        let deadline = last + Duration::from_secs(10);
        assert_eq!(c.next_deadline(), Some(deadline));
        c.expire(&TopicMap::new(), deadline - Duration::from_millis(1));
        assert_eq!(
            c.members("g"),
            std::slice::from_ref(&m.member_id),
            "not before its deadline"
        );
        c.expire(&TopicMap::new(), deadline);
        assert!(c.members("g").is_empty(), "removed at its deadline");
        assert_eq!(c.state("g").unwrap().0, State::Empty);
        assert_eq!(c.delete("g"), Ok(()));
        assert_eq!(c.next_deadline(), None, "nothing left to wait for");
    }

    /// Offsets expire as Kafka's `offsets.retention.minutes` has them: a Stable consumer
    /// group keeps those of the topics it subscribes to, an Empty group's expire from
    /// when it became Empty (not from their commit), a commit outside any group from
    /// its commit; an Empty group left without offsets is deleted, with tombstones.
    #[test]
    fn offsets_expire_with_their_group() {
        let hour = Duration::from_secs(3600);
        let mut c = Coordinator::new(GroupConfig {
            initial_rebalance_delay: Duration::ZERO,
            ..Default::default()
        });
        let t0 = Instant::now();
        let subscription = crate::inspect::subscription(&["t"]);
        let member = |c: &mut Coordinator, group: &str| {
            let mut j = join("", &[]);
            j.group = group.into();
            j.protocols = vec![("range".into(), subscription.clone())];
            j.member_id_required = false;
            let m = ready(c.join(j, t0));
            let _ = c.sync(
                group,
                m.generation,
                (&m.member_id, None),
                (None, None),
                vec![],
                t0,
            );
            m.member_id
        };
        member(&mut c, "live");
        let gone = member(&mut c, "empty");
        assert_eq!(c.leave("empty", (&gone, None), t0), ErrorCode::NONE);
        assert_eq!(c.state("empty").unwrap().0, State::Empty);
        let base = crate::broker::now_ms();
        let long_ago = base - 2 * 3_600_000;
        let mut committed = CommittedOffsets::default();
        for (group, topic) in [
            ("live", "t"),
            ("live", "u"),
            ("empty", "t"),
            ("simple", "t"),
        ] {
            let at = offsets::Committed {
                offset: 1,
                leader_epoch: -1,
                metadata: None,
                commit_ms: long_ago,
            };
            committed.set((group.into(), topic.into(), 0), at);
        }
        let _ = c.take_records();
        let left = |committed: &CommittedOffsets| -> Vec<String> {
            committed
                .iter()
                .map(|((g, t, _), _)| format!("{g}/{t}"))
                .collect()
        };

        assert_eq!(c.expire_offsets(&mut committed, base + 1000, hour), (2, 0));
        assert_eq!(
            left(&committed),
            ["empty/t", "live/t"],
            "Empty for a second only"
        );
        let tombstones: Vec<_> = c.take_records();
        assert_eq!(tombstones.len(), 2);
        assert!(tombstones.iter().all(|(_, v)| v.is_none()));

        assert_eq!(
            c.expire_offsets(&mut committed, base + 3_700_000, hour),
            (1, 1)
        );
        assert_eq!(
            left(&committed),
            ["live/t"],
            "a subscribed topic's offset stays"
        );
        assert_eq!(
            c.state("empty"),
            None,
            "the Empty group went with its offsets"
        );
        assert_eq!(c.state("live").unwrap().0, State::Stable);
        let records = c.take_records();
        assert!(records.contains(&offsets::group_record("empty", None)));
        assert!(records.contains(&offsets::commit_record(
            &("empty".into(), "t".into(), 0),
            None
        )));
    }

    /// A consumer-protocol group that takes over an Empty classic group's ID replaces
    /// it (a classic tombstone), and retention then goes by its members' subscriptions.
    #[test]
    fn a_consumer_group_replaces_an_empty_classic_one() {
        let mut c = coordinator();
        let t0 = Instant::now();
        let m = first_member(&mut c, t0);
        assert_eq!(c.leave("g", (&m.member_id, None), t0), ErrorCode::NONE);
        assert_eq!(c.state("g").unwrap().0, State::Empty);
        let _ = c.take_records();
        let topics: TopicMap = [("t".to_owned(), (crate::codec::Uuid([1; 16]), 1))].into();
        let beat = Beat {
            group: "g".into(),
            epoch: 0,
            subscribed: Some(vec!["t".into()]),
            client_id: "c".into(),
            ..Default::default()
        };
        assert_eq!(c.consumer_heartbeat(beat, &topics, t0).error, None);
        assert_eq!(c.state("g"), None, "the classic group is gone");
        let records = c.take_records();
        assert!(records.contains(&offsets::group_record("g", None)));
        assert!(
            !records.contains(&offsets::consumer_group_record("g", None)),
            "the consumer group is kept, not tombstoned"
        );
        let mut committed = CommittedOffsets::default();
        let at = offsets::Committed {
            offset: 1,
            leader_epoch: -1,
            metadata: None,
            commit_ms: 0,
        };
        committed.set(("g".into(), "t".into(), 0), at);
        let much_later = crate::broker::now_ms() + 10 * 3_600_000;
        assert_eq!(
            c.expire_offsets(&mut committed, much_later, Duration::from_secs(3600)),
            (0, 0),
            "a subscribed topic's offset stays with the consumer group"
        );
    }

    /// The other way: a classic member joining an empty consumer-protocol group's ID
    /// replaces it, so the two kinds never share an ID.
    #[test]
    fn a_classic_group_replaces_an_empty_consumer_one() {
        let mut c = coordinator();
        let t0 = Instant::now();
        let topics: TopicMap = [("t".to_owned(), (crate::codec::Uuid([1; 16]), 1))].into();
        let beat = |member: &str, epoch: i32| Beat {
            group: "g".into(),
            member_id: member.into(),
            epoch,
            subscribed: (epoch == 0).then(|| vec!["t".into()]),
            client_id: "c".into(),
            ..Default::default()
        };
        let joined = c.consumer_heartbeat(beat("", 0), &topics, t0);
        assert_eq!(joined.error, None);
        let left = c.consumer_heartbeat(beat(&joined.member_id, -1), &topics, t0);
        assert_eq!(left.error, None);
        assert!(c.consumer.subscribed("g").is_some(), "empty, not gone");
        let _ = c.take_records();
        let _ = c.join(join("", &["range"]), t0);
        assert!(
            c.consumer.subscribed("g").is_none(),
            "the consumer group is gone"
        );
        assert!(
            c.take_records()
                .contains(&offsets::consumer_group_record("g", None))
        );
    }

    #[test]
    fn bad_joins_are_refused() {
        let mut c = coordinator();
        let now = Instant::now();
        let mut j = join("", &["range"]);
        j.session_timeout = Duration::from_secs(1);
        assert_eq!(
            ready(c.join(j, now)).error,
            Some(ErrorCode::INVALID_SESSION_TIMEOUT)
        );
        assert_eq!(
            ready(c.join(join("nobody", &["range"]), now)).error,
            Some(ErrorCode::UNKNOWN_MEMBER_ID)
        );
        let mut j = join("", &["range"]);
        j.group.clear();
        assert_eq!(
            ready(c.join(j, now)).error,
            Some(ErrorCode::INVALID_GROUP_ID)
        );
        // A member with no protocol in common with the group.
        let a = ready(c.join(join("", &["range"]), now));
        let _w = c.join(join(&a.member_id, &["range"]), now);
        assert_eq!(
            ready(c.join(join("", &["sticky"]), now)).error,
            Some(ErrorCode::INCONSISTENT_GROUP_PROTOCOL)
        );
    }

    fn static_join(member: &str, instance: &str) -> Join {
        let mut j = join(member, &["range"]);
        j.instance_id = Some(instance.into());
        j
    }

    /// A static member that restarts within its session timeout takes its place back
    /// without a rebalance and keeps its assignment; the old member ID is fenced.
    #[test]
    fn a_static_member_returns_without_a_rebalance() {
        let mut c = coordinator();
        let t0 = Instant::now();
        let mut wa = waiting(c.join(static_join("", "a"), t0));
        let mut wb = waiting(c.join(static_join("", "b"), t0));
        c.expire(&TopicMap::new(), t0 + Duration::from_millis(200));
        let (ja, jb) = (wa.try_recv().unwrap(), wb.try_recv().unwrap());
        let leader = if ja.leader == ja.member_id { &ja } else { &jb };
        let assignments = vec![
            (ja.member_id.clone(), b"A".to_vec()),
            (jb.member_id.clone(), b"B".to_vec()),
        ];
        let _ = c.sync(
            "g",
            1,
            (&leader.member_id, None),
            (None, None),
            assignments,
            t0,
        );
        let _ = c.sync("g", 1, (&jb.member_id, Some("b")), (None, None), vec![], t0);
        assert_eq!(c.state("g"), Some((State::Stable, 1)));

        // b restarts: a new member ID under the same instance, same generation.
        let t1 = t0 + Duration::from_secs(3);
        let back = ready(c.join(static_join("", "b"), t1));
        assert_eq!(back.error, None);
        assert_eq!(back.generation, 1, "no rebalance");
        assert_ne!(back.member_id, jb.member_id);
        let synced = ready(c.sync(
            "g",
            1,
            (&back.member_id, Some("b")),
            (None, None),
            vec![],
            t1,
        ));
        assert_eq!(synced.assignment, b"B", "it keeps its partitions");
        assert_eq!(
            c.heartbeat("g", 1, (&ja.member_id, Some("a")), t1),
            ErrorCode::NONE
        );
        // The old incarnation is fenced.
        assert_eq!(
            c.heartbeat("g", 1, (&jb.member_id, Some("b")), t1),
            ErrorCode::FENCED_INSTANCE_ID
        );
        assert_eq!(
            c.check_commit("g", 1, (&jb.member_id, Some("b")), t1),
            Err(ErrorCode::FENCED_INSTANCE_ID)
        );
        let mut stale = static_join(&jb.member_id, "b");
        stale.member_id_required = false;
        assert_eq!(
            ready(c.join(stale, t1)).error,
            Some(ErrorCode::FENCED_INSTANCE_ID)
        );
        // Leaving by instance ID alone removes it, and the rest rebalance.
        assert_eq!(c.leave("g", ("", Some("b")), t1), ErrorCode::NONE);
        assert_eq!(c.state("g").unwrap().0, State::PreparingRebalance);
    }

    /// The classic groups' records among `records`: group ID and snapshot bytes.
    fn kept_groups(records: Vec<Record>) -> Vec<(String, Vec<u8>)> {
        offsets::entries(&records)
            .into_iter()
            .filter_map(|e| match e {
                offsets::Entry::Group(g, Some(bytes)) => Some((g, bytes)),
                _ => None,
            })
            .collect()
    }

    /// A group's first member, joined once the initial delay is over.
    fn first_member(c: &mut Coordinator, t0: Instant) -> Joined {
        let mut j = join("", &["range"]);
        j.member_id_required = false;
        let mut w = waiting(c.join(j, t0));
        c.expire(&TopicMap::new(), t0 + Duration::from_millis(100));
        w.try_recv().unwrap()
    }

    /// A Stable group kept before a restart comes back Stable: its members' heartbeats
    /// in the old generation are answered without a rebalance.
    #[test]
    fn a_group_comes_back_from_its_snapshot() {
        let mut c = coordinator();
        let t0 = Instant::now();
        let m = first_member(&mut c, t0);
        let _ = c.sync(
            "g",
            1,
            (&m.member_id, None),
            (None, None),
            vec![(m.member_id.clone(), b"P".to_vec())],
            t0,
        );
        let kept = kept_groups(c.take_records());
        assert_eq!(
            kept.len(),
            1,
            "one record for the group, the last of its changes"
        );
        assert!(c.take_records().is_empty(), "taken once");
        let (group, bytes) = kept.into_iter().next().unwrap();
        assert_eq!(group, "g");

        let mut restarted = coordinator();
        restarted.restore("g", GroupSnapshot::decode_bytes(&bytes).unwrap(), 0, t0);
        assert_eq!(restarted.state("g"), Some((State::Stable, 1)));
        assert_eq!(
            restarted.heartbeat("g", 1, (&m.member_id, None), t0),
            ErrorCode::NONE
        );
        let synced = ready(restarted.sync("g", 1, (&m.member_id, None), (None, None), vec![], t0));
        assert_eq!(synced.assignment, b"P");
        assert_eq!(
            restarted.describe("g").unwrap().members[0].client_host,
            "/127.0.0.1"
        );
        assert_eq!(restarted.delete("g"), Err(ErrorCode::NON_EMPTY_GROUP));
        assert_eq!(
            restarted.leave("g", (&m.member_id, None), t0),
            ErrorCode::NONE
        );
        restarted.expire(&TopicMap::new(), t0);
        assert_eq!(restarted.state("g"), Some((State::Empty, 2)));
        assert_eq!(restarted.delete("g"), Ok(()));
        assert_eq!(restarted.delete("g"), Err(ErrorCode::GROUP_ID_NOT_FOUND));
        assert!(GroupSnapshot::decode_bytes(b"junk").is_none());
    }
}
